"""Importance sampling of the source toward an observer (source.observer_fraction).

Set-up: electrons 0.1–1 TeV with b = 1e-15 E² GeV/s (loss horizon ~1 kpc), a pulsar-like disc,
60 % of the particles started within 2 kpc of the Sun.

Oracle: the weighted estimator is unbiased for the unbiased source, so a biased run and an
ordinary run (independent seeds) must agree cell by cell within 4 combined standard errors
(6.3e-5 false-alarm rate per cell, ≤ 40 cells); and the biased run must have a much smaller
error in a small sphere at the observer.  Also: the weights average to one (E[w] = ∫ f = 1
under the mixture density), within 4 standard errors.
"""

from __future__ import annotations

import numpy as np
import pytest

import sdeprop
from sdeprop.config import ConfigError, load_config
from sdeprop.models.sources import build_source


def config(seed, fraction):
    return {
        "run": {"particles": 6000, "batch_size": 3000, "seed": seed, "progress": False},
        "species": {"name": "electron"},
        "energy": {"min_GeV": 100.0, "max_GeV": 1000.0},
        "losses": {"model": "quadratic", "b0_per_GeV_per_s": 1e-15, "energy_floor_GeV": 30.0},
        "galaxy": {"halo_height_kpc": 4.0, "radius_max_kpc": 20.0},
        "field": {"model": "uniform", "direction": [0.0, 1.0, 0.3]},
        "diffusion": {"D0_cm2_per_s": 3e28, "epsilon": 0.3},
        "time": {"step_fraction": 0.3, "dt_max_Myr": 30.0, "loss_fraction": 0.1},
        "source": {"type": "radial_profile", "observer_fraction": fraction, "observer_radius_kpc": 2.0},
        "tally": [
            {
                "name": "map",
                "type": "cylindrical",
                "R_bins": 5,
                "z_bins": 4,
                "energy_bins": 2,
                "z_min_kpc": -2.0,
                "z_max_kpc": 2.0,
                "energy_min_GeV": 30.0,
            },
            {"name": "sun", "type": "sphere", "radius_kpc": 0.3, "energy_bins": 2, "energy_min_GeV": 30.0},
        ],
    }


def test_weights_average_to_one():
    cfg = load_config(config(1, 0.5))
    src = build_source(cfg)
    x, y, z, w = src.sample_weighted(np.random.default_rng(4), 200000)
    assert abs(w.mean() - 1) < 4 * w.std() / np.sqrt(len(w))
    d = np.sqrt((x + 8.3) ** 2 + y**2 + z**2)
    assert 0.45 < np.mean(d < 2.0) < 0.6  # half the particles start near the observer


def test_biased_run_is_unbiased_and_sharper_at_the_observer():
    plain = sdeprop.run(config(101, 0.0))
    biased = sdeprop.run(config(202, 0.6))
    for name in ("map", "sun"):
        a, b = plain.tallies[name], biased.tallies[name]
        sigma = np.hypot(a.uncertainty, b.uncertainty)
        both_empty = (a.density == 0) & (b.density == 0)
        assert np.all(sigma[~both_empty] > 0)
        pull = (a.density - b.density)[~both_empty] / sigma[~both_empty]
        assert np.all(np.abs(pull) < 4.0), (name, pull)
    ea = plain.tallies["sun"].uncertainty / plain.tallies["sun"].density
    eb = biased.tallies["sun"].uncertainty / biased.tallies["sun"].density
    print("relative error at the observer, plain vs biased:", ea, eb)
    assert np.all(eb < 0.5 * ea)


def test_bad_bias_settings():
    bad = config(1, 0.5)
    bad["source"] = {"type": "disk", "z_profile": "thin", "observer_fraction": 0.5}
    with pytest.raises(ConfigError, match="thin"):
        load_config(bad)
    bad = config(1, 1.0)
    with pytest.raises(ConfigError, match="observer_fraction"):
        load_config(bad)
    bad = config(1, 0.5)
    bad["source"]["observer_center_kpc"] = [0.0, 0.0, 5.0]
    with pytest.raises(ConfigError, match="outside the halo"):
        load_config(bad)
