"""Gridded sources with an energy axis and tabulated spectra: files, refusals, and where they are not
allowed (docs/sources.md §3.1).  The physics of such a source is checked in
tests/physics/test_energy_dependent_source.py."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

import sdeprop
from sdeprop.config import load_config
from sdeprop.crosscheck import crosscheck
from sdeprop.errors import ConfigError
from sdeprop.io import load_source_grid, write_source_grid
from sdeprop.models.sources import EnergyGridSource, grid_source
from sdeprop.spectra import Tabulated, spectrum_from_config

R = np.linspace(0.0, 10.0, 11)
Z = np.linspace(-1.0, 1.0, 5)
ENERGIES = [10.0, 100.0, 1000.0]


def _values():
    ring = np.exp(-0.5 * ((R[:, None] - np.array([3.0, 6.0, 8.0])) / 1.0) ** 2)  # (n_R, n_E)
    return ring[:, None, :] * np.exp(-np.abs(Z))[None, :, None]


@pytest.fixture
def grid_file(tmp_path):
    path = tmp_path / "grid.h5"
    write_source_grid(path, "cylindrical", [R, Z], _values(), energies_GeV=ENERGIES, attrs={"note": "test"})
    return path


def test_file_round_trip_keeps_the_energy_axis(grid_file):
    grid = load_source_grid(grid_file)
    np.testing.assert_array_equal(grid["energies_GeV"], ENERGIES)
    assert grid["values"].shape == (11, 5, 3)
    with h5py.File(grid_file) as f:
        assert f.attrs["note"] == "test" and f["E_GeV"].attrs["unit"].startswith("GeV")
    src = grid_source(grid["geometry"], grid["axes"], grid["values"], grid["energies_GeV"])
    assert isinstance(src, EnergyGridSource) and src.axisymmetric
    # the density peaks where that energy's ring lies
    peak = [R[np.argmax(src.pdf(-R, 0.0 * R, 0.0 * R, e))] for e in ENERGIES]
    assert peak == [3.0, 6.0, 8.0]
    # a plain grid file has no energy axis
    write_source_grid(grid_file.with_name("plain.h5"), "cylindrical", [R, Z], _values()[..., 0])
    assert load_source_grid(grid_file.with_name("plain.h5"))["energies_GeV"] is None


def test_refusals(tmp_path):
    with pytest.raises(ValueError, match="last axis must have the 2 nodes"):
        grid_source("cylindrical", [R, Z], _values(), [10.0, 100.0])
    zero = _values()
    zero[..., 1] = 0.0
    with pytest.raises(ValueError, match=r"at E_GeV\[1\] = 100: the tabulated density is zero"):
        grid_source("cylindrical", [R, Z], zero, ENERGIES)
    with pytest.raises(ValueError, match="increasing kinetic energies"):
        grid_source("cylindrical", [R, Z], _values(), [10.0, 5.0, 1000.0])
    with pytest.raises(ValueError, match="need an HDF5 file"):
        write_source_grid(tmp_path / "g.fits", "cylindrical", [R, Z], _values(), energies_GeV=ENERGIES)
    src = grid_source("cylindrical", [R, Z], _values(), ENERGIES)
    with pytest.raises(ValueError, match="sample_positions_at"):
        src.sample_positions(np.random.default_rng(0), 3)


def _config(path, **over):
    cfg = {
        "run": {"particles": 200, "batch_size": 100, "seed": 1, "progress": False, "max_cpu_hours": 0},
        "energy": {"min_GeV": 10.0, "max_GeV": 1000.0},
        "galaxy": {"halo_height_kpc": 2.0, "radius_max_kpc": 12.0},
        "field": {"model": "uniform"},
        "diffusion": {"epsilon": 1.0},
        "source": {"type": "gridded", "file": str(path)},
        "spectrum": {"type": "tabulated", "nodes": ENERGIES, "values": [1.0, 1e-2, 1e-4]},
        "tally": [{"name": "map", "type": "cylindrical", "R_bins": 4, "z_bins": 2, "energy_bins": 2}],
    }
    cfg.update(over)
    return cfg


def test_forward_run_places_particles_by_their_energy(grid_file):
    """The engine's source draws 10 GeV particles from the ring at R = 3 kpc and 1 TeV ones from the ring at
    8 kpc: the sample mean of R at each energy equals the density's mean ∫ R p dV (midpoint quadrature of
    the pdf) within 4 standard errors, and a forward run with the source ends with finite densities."""
    cfg = _config(grid_file)
    model = sdeprop.engine.build_model(cfg)
    rng = np.random.default_rng(4)
    n = 2000
    Rq = np.linspace(0.0, 10.0, 1001)[:-1] + 0.005
    Zq = np.linspace(-1.0, 1.0, 401)[:-1] + 0.0025
    RR, ZZ = np.meshgrid(Rq, Zq, indexing="ij")
    for energy in (10.0, 1000.0):
        x, y, _ = model.source.sample_positions_at(rng, np.full(n, energy))
        r = np.hypot(x, y)
        weight = model.source.pdf(-RR, 0.0 * RR, ZZ, energy) * RR  # ∝ probability per (R, z) cell
        mean = np.sum(weight * RR) / np.sum(weight)
        sd = np.sqrt(np.sum(weight * (RR - mean) ** 2) / np.sum(weight))
        assert abs(r.mean() - mean) < 4 * sd / np.sqrt(n), (energy, r.mean(), mean)
    res = sdeprop.run(cfg, workers=1, progress=False)
    assert np.all(np.isfinite(res.tallies["map"].density))


def test_tabulated_spectrum_configuration(grid_file):
    cfg = load_config(_config(grid_file))
    spec = spectrum_from_config(cfg.spectrum)
    assert isinstance(spec, Tabulated)
    assert spec.dq_dx(np.array([np.sqrt(10.0 * 100.0)]))[0] == pytest.approx(0.1)  # log-log between nodes
    bad = [
        ({"type": "tabulated", "nodes": [1.0, 2.0]}, "needs nodes"),
        ({"type": "tabulated", "nodes": [1.0, 2.0], "values": [1.0]}, "same length"),
        ({"type": "tabulated", "nodes": [2.0, 1.0], "values": [1.0, 1.0]}, "increase strictly"),
        ({"type": "tabulated", "nodes": [1.0, 2.0], "values": [0.0, 0.0]}, "all zero"),
        ({"type": "power_law", "nodes": [1.0, 2.0]}, "apply to type = 'tabulated' only"),
        ({"type": "tabulated", "nodes": [1.0, 2.0], "values": [1.0, -1.0]}, "greater than or equal to 0"),
    ]
    for spectrum, message in bad:
        with pytest.raises(ConfigError, match=message):
            load_config(_config(grid_file, spectrum=spectrum))


def test_where_an_energy_dependent_source_is_refused(grid_file):
    backward = _config(
        grid_file,
        estimator={"method": "backward"},
        observer={"position_kpc": [-8.0, 0.0, 0.0], "energies_GeV": [20.0, 200.0], "shared_paths": "on"},
    )
    backward["run"]["particles"] = 2
    with pytest.raises(ConfigError, match="each observer energy needs its own paths"):
        sdeprop.engine.build_model(backward)
    backward["observer"]["shared_paths"] = "auto"
    assert not sdeprop.engine.build_model(backward).numerics.shared_paths
    with pytest.raises(ValueError, match="depends on the energy"):
        crosscheck(_config(grid_file), write=False)
