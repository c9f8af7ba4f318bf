"""Tallies that apply the configured spectrum while scoring (``source_energy = "fold"``).

Oracle: folding applies, history by history, exactly the in-bin weight a_j + b_j v that the reweighting
applies afterwards to a tally that keeps its E0 axis, and each history has one source energy; so the
folded density and its per-history uncertainty equal the kept tally's reweighted ones to round-off,
while the folded tally stores source_energy_bins times fewer numbers.
"""

from __future__ import annotations

import numpy as np
import pytest

from sdeprop.engine import run
from sdeprop.errors import ConfigError
from sdeprop.io import load_result, write_result
from sdeprop.spectra import PowerLaw

CONFIG = {
    "run": {"particles": 300, "batch_size": 150, "seed": 3, "progress": False, "workers": 1},
    "species": {"name": "electron"},
    "energy": {"min_GeV": 10.0, "max_GeV": 1.0e4},
    "galaxy": {"halo_height_kpc": 2.0, "radius_max_kpc": 12.0},
    "field": {"model": "uniform", "direction": [0.0, 1.0, 0.3]},
    "losses": {"model": "galactic", "energy_floor_GeV": 5.0},
    "source": {"type": "radial_profile", "a": 1.9, "b": 5.0, "R_sun_kpc": 8.3, "z0_kpc": 0.2},
    "spectrum": {"type": "power_law", "index": 2.4, "variable": "kinetic_energy", "rate_per_Myr": 3.0},
    "tally": [
        {"name": "keep", "type": "cylindrical", "R_bins": 6, "z_bins": 4, "energy_min_GeV": 5.0,
         "energy_bins": 12, "source_energy_bins": 15},
        {"name": "fold", "type": "cylindrical", "R_bins": 6, "z_bins": 4, "energy_min_GeV": 5.0,
         "energy_bins": 12, "source_energy_bins": 15, "source_energy": "fold"},
    ],
}  # fmt: skip


@pytest.fixture(scope="module")
def result():
    return run(CONFIG)


def test_folded_tally_equals_the_kept_one_reweighted(result):
    keep, fold = result.tallies["keep"], result.tallies["fold"]
    assert fold.sums.shape[-2] == 1 and keep.sums.shape[-2] == 15  # the E0 axis is gone
    assert fold.sums.size * 15 == keep.sums.size
    assert np.count_nonzero(keep.density) > 50
    np.testing.assert_allclose(fold.density, keep.density, rtol=1e-10, atol=1e-14 * keep.density.max())
    np.testing.assert_allclose(
        fold.uncertainty, keep.uncertainty, rtol=1e-8, atol=1e-14 * keep.uncertainty.max()
    )


def test_folded_tally_keeps_the_rate_but_refuses_another_spectrum(result):
    fold = result.tallies["fold"]
    np.testing.assert_allclose(fold.reweight(fold.spectrum, 6.0).density, 2 * fold.density, rtol=1e-12)
    with pytest.raises(ConfigError, match="source_energy = 'keep'"):
        fold.reweight(PowerLaw(index=3.0, variable="kinetic_energy"))


def test_folded_tally_survives_the_file(result, tmp_path):
    back = load_result(write_result(result, tmp_path / "r.h5"))
    np.testing.assert_array_equal(back.tallies["fold"].density, result.tallies["fold"].density)
    assert back.tallies["fold"].folded and not back.tallies["keep"].folded
