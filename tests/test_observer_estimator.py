"""The backward estimator's configuration, files and tools (docs/observer.md): bad input is refused with
the key, the value and what is allowed; results survive the HDF5 file, a merge and `sdeprop fit`."""

from __future__ import annotations

import numpy as np
import pytest

import sdeprop
from sdeprop.cli import main
from sdeprop.config import load_config
from sdeprop.errors import ConfigError
from sdeprop.io import load_result, merge_results, write_result
from sdeprop.spectra import PowerLaw


def backward(**over) -> dict:
    """Quickstart-like protons (lossless: shared paths) at the Sun, small and fast."""
    cfg = {
        "run": {"seed": 5, "batch_size": 500, "progress": False, "workers": 1},
        "energy": {"min_GeV": 1.0, "max_GeV": 1.0e4},
        "field": {"model": "cerri_toy"},
        "source": {"type": "radial_profile"},
        "spectrum": {"type": "power_law", "index": 2.3},
        "estimator": {"method": "backward"},
        "observer": {"energies_GeV": [3.0, 30.0, 300.0], "paths_per_energy": 1000},
    }
    for key, value in over.items():
        cfg[key] = dict(cfg.get(key, {}), **value) if isinstance(value, dict) else value
    return cfg


@pytest.mark.parametrize(
    "over, words",
    [
        ({"observer": {"energies_GeV": None}}, "needs the observer energies"),
        ({"observer": {"energies_GeV": [3.0, 1.0e4]}}, "is not below energy.max_GeV = 10000"),
        ({"observer": {"energies_GeV": [3.0, 3.0]}}, "lists an energy twice"),
        ({"observer": {"position_kpc": [-8.3, 0.0, 4.5]}}, "reaches outside the halo"),
        ({"observer": {"radius_kpc": 4.0}}, "with radius_kpc = 4.0 reaches outside the halo"),
        ({"source": {"type": "point"}}, "which a point source does not have"),
        ({"advection": {"v0_km_s": 10.0}}, "does not yet take a wind"),
        ({"reacceleration": {"alfven_speed_km_s": 20.0}}, "does not yet take reacceleration"),
        ({"run": {"particles": 7}}, "disagrees with observer.paths_per_energy = 1000 (shared by all"),
        (
            {"losses": {"model": "quadratic"}, "observer": {"shared_paths": "on"}},
            "shared_paths = 'on' needs transport that scales with D(E), but losses.model = 'quadratic'",
        ),
        ({"observer": {"shared_paths": "sometimes"}}, "observer.shared_paths"),
    ],
)
def test_bad_backward_configurations_are_refused(over, words):
    with pytest.raises(ConfigError) as exc:
        load_config(backward(**over))
    assert words in str(exc.value)


def test_paths_per_energy_sets_the_particles():
    shared = load_config(backward())
    assert shared.run.particles == 1000  # each path serves all three energies
    own = load_config(backward(losses={"model": "quadratic"}))
    assert own.run.particles == 3000
    log_grid = {"energies_GeV": None, "energy_min_GeV": 2.0, "energy_max_GeV": 200.0, "energy_points": 3}
    grid = load_config(backward(observer=log_grid))
    assert np.allclose(grid.observer.energies(), [2.0, 20.0, 200.0])


@pytest.fixture(scope="module")
def shared_run(tmp_path_factory):
    path = tmp_path_factory.mktemp("obs") / "bw.h5"
    return sdeprop.run(backward(), output=path), path


def test_shared_paths_give_every_energy_the_same_relative_error(shared_run):
    res, _ = shared_run
    t = res.tallies["observer"]
    assert list(t.paths) == [1000] * 3
    rel = t.uncertainty / t.density
    assert np.allclose(rel, rel[0], rtol=1e-9) and rel[0] < 0.1
    # without losses n(E) = S(E) × ⟨∫ρ ds⟩ D(E_ref)/D(E): the spectrum reweights exactly
    steeper = t.reweight(PowerLaw(2.8), 1.0).density / t.density
    e = t.energies_GeV
    from sdeprop.spectra import _variable_and_jacobian  # noqa: F401  (the module's own conversion)

    ratio = steeper / steeper[0]
    p = np.sqrt(e * (e + 2 * 0.938272)) / np.sqrt(e[0] * (e[0] + 2 * 0.938272))
    assert np.allclose(ratio, p**-0.5, rtol=5e-3)


def test_observer_results_survive_the_file_and_a_merge(shared_run, tmp_path):
    res, path = shared_run
    back = load_result(path)
    t0, t1 = res.tallies["observer"], back.tallies["observer"]
    assert t1.kind == "observer" and np.array_equal(t1.energies_GeV, t0.energies_GeV)
    assert np.array_equal(t1.density, t0.density) and np.array_equal(t1.uncertainty, t0.uncertainty)
    other = sdeprop.run(backward(run={"seed": 6}), output=tmp_path / "b2.h5")
    merged = merge_results([path, tmp_path / "b2.h5"])
    tm = merged.tallies["observer"]
    assert list(tm.paths) == [2000] * 3
    both = (t0.density + other.tallies["observer"].density) / 2
    assert np.allclose(tm.density, both, rtol=1e-12)
    e, n, dn = back.local_spectrum()
    assert np.array_equal(e, t0.energies_GeV) and np.array_equal(n, t0.density)
    write_result(merged, tmp_path / "m.h5")
    assert load_result(tmp_path / "m.h5").tallies["observer"].paths.sum() == 6000


def test_cli_runs_and_fits_a_backward_result(tmp_path, capsys):
    cfg = backward(observer={"energies_GeV": [20.0, 50.0, 100.0, 200.0, 500.0, 1000.0]})
    out = tmp_path / "bw.h5"
    sdeprop.run(cfg, output=out)
    assert main(["fit", str(out), "--data", "ams02_proton_physrep2021", "--spectrum", "power_law"]) == 0
    text = capsys.readouterr().out
    assert "observer" in text


def test_fit_covariance_of_shared_paths_is_fully_correlated(shared_run):
    """One set of paths serves every energy, so the model's Monte Carlo covariance between data bins is
    the outer product of the (equal) relative errors: rank one, correlation 1."""
    from sdeprop.fitting.model import predict_flux

    res, _ = shared_run
    params = {"index": 2.3, "log10_rate_per_Myr": 0.0, "phi_GV": 0.5}
    lo = np.array([10.0, 30.0, 100.0])
    model, cov = predict_flux(res, params, lo, lo * 1.2, spectrum="power_law")
    corr = cov / np.sqrt(np.outer(np.diag(cov), np.diag(cov)))
    assert np.allclose(corr, 1.0, atol=1e-9)
    rel = res.tallies["observer"].uncertainty[0] / res.tallies["observer"].density[0]
    assert np.allclose(np.sqrt(np.diag(cov)) / model, rel, rtol=1e-6)


def test_coarse_source_energy_bins_are_reported(caplog):
    res = sdeprop.run(backward(losses={"model": "quadratic"}, observer={"source_energy_bins_per_decade": 1}))
    with caplog.at_level("WARNING"):
        res.tallies["observer"].reweight(PowerLaw(4.0), 1.0)
    assert "raise observer.source_energy_bins_per_decade" in caplog.text


def test_components_run_backward_too():
    """[[components]] are transported backward like the primary, each with its own source density; the
    species sum adds them."""
    cfg = backward(observer={"paths_per_energy": 300})
    cfg["components"] = [
        {"name": "pwn", "species": ["proton"], "source": {"type": "disk", "radius_kpc": 15.0}}
    ]
    res = sdeprop.run(cfg)
    comp = res.components["pwn"].tallies["observer"]
    assert list(comp.paths) == [300] * 3
    total = res.species_density("observer", "proton")
    assert np.allclose(total.density, res.tallies["observer"].density + comp.density)
