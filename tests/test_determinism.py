"""Reproducibility: results depend on the seed and the batch size only (docs/design.md §5, engine.py).

Every batch draws its positions, energies and random variates from its own stream
``SeedSequence(seed).spawn(n_batches)[b]`` and the tallies are summed in batch order, so
the same seed must give bit-for-bit identical sums (Σw, Σw²) and counts whether the
batches run in one process, on 2 or 3 joblib workers, or in any other order; a different
seed must give different numbers.
"""

from __future__ import annotations

import numpy as np
import pytest

import sdeprop
from sdeprop.engine import batch_plan, build_model, run_batch

N_PARTICLES = 2500
BATCH_SIZE = 500  # 5 batches: more than the workers, so joblib hands several batches to each

CONFIGS = {
    # loss-free protons, spatially varying field (drift on), residence-time estimator
    "proton_residence": {
        "run": {"seed": 2024, "batch_size": BATCH_SIZE, "progress": False},
        "energy": {"min_GeV": 1.0, "max_GeV": 100.0},
        "galaxy": {"halo_height_kpc": 2.0, "radius_max_kpc": 10.0},
        "field": {"model": "cerri_toy", "R0_kpc": 2.0, "epsilon_B": 1.0},
        "diffusion": {"D0_cm2_per_s": 3.0e28, "delta_par": 0.5, "epsilon": 0.1},
        "source": {"type": "disk", "radius_kpc": 8.0, "z_profile": "gaussian", "z_scale_kpc": 0.2},
        "time": {"step_fraction": 0.3, "dt_max_Myr": 100.0},
        "tally": [
            {"type": "cylindrical", "name": "map", "R_bins": 5, "z_bins": 4, "energy_bins": 4},
            {
                "type": "sphere",
                "name": "local",
                "center_kpc": [-5.0, 0.0, 0.0],
                "radius_kpc": 1.0,
                "energy_bins": 4,
            },
        ],
    },
    # electrons with losses (E0 axis kept), snapshot estimator with burst output times, oblique field
    "electron_snapshot": {
        "run": {"seed": 99, "batch_size": BATCH_SIZE, "progress": False},
        "species": {"name": "electron"},
        "energy": {"min_GeV": 10.0, "max_GeV": 1000.0},
        "galaxy": {"halo_height_kpc": 2.0, "radius_max_kpc": 10.0},
        "field": {"model": "uniform", "direction": [0.3, 0.0, 1.0]},
        "diffusion": {"D0_cm2_per_s": 3.0e28, "delta_par": 0.5, "epsilon": 0.1},
        "losses": {"model": "quadratic", "b0_per_GeV_per_s": 1.0e-16},
        "source": {"type": "point", "position_kpc": [-5.0, 0.0, 0.0]},
        "estimator": {"method": "snapshot", "output_times_Myr": [0.5, 2.0]},
        "tally": [
            {
                "type": "cartesian",
                "name": "box",
                "x_range_kpc": [-8.0, -2.0],
                "y_range_kpc": [-3.0, 3.0],
                "z_range_kpc": [-2.0, 2.0],
                "bins": [3, 3, 2],
                "energy_bins": 3,
                "source_energy_bins": 3,
            },
        ],
    },
}


def _assert_identical(a, b):
    assert a.counts == b.counts
    assert a.tallies.keys() == b.tallies.keys()
    for name in a.tallies:
        ta, tb = a.tallies[name], b.tallies[name]
        # bit-for-bit: array_equal, not allclose
        assert np.array_equal(ta.sum1, tb.sum1), name
        assert np.array_equal(ta.sum2, tb.sum2), name
        assert np.array_equal(ta.density, tb.density), name
        assert np.array_equal(ta.uncertainty, tb.uncertainty), name


@pytest.fixture(scope="module", params=sorted(CONFIGS))
def case(request):
    cfg = CONFIGS[request.param]
    serial = sdeprop.run(cfg, particles=N_PARTICLES, workers=1, progress=False)
    assert len(batch_plan(N_PARTICLES, BATCH_SIZE)) >= 4
    assert any(t.sum1.any() for t in serial.tallies.values())  # the runs score something
    return cfg, serial


@pytest.mark.parametrize("workers", [2, 3])
def test_same_seed_identical_for_any_worker_count(case, workers):
    """workers = 1, 2, 3 (joblib): identical sums, sums of squares, densities and counts."""
    cfg, serial = case
    parallel = sdeprop.run(cfg, particles=N_PARTICLES, workers=workers, progress=False)
    _assert_identical(serial, parallel)


def test_batches_do_not_depend_on_execution_order(case):
    """Batches run in reverse order in one process (each after different predecessors) and
    summed in batch order reproduce the serial run exactly."""
    cfg, serial = case
    model = build_model(cfg)
    sizes = batch_plan(N_PARTICLES, BATCH_SIZE)
    seeds = np.random.SeedSequence(cfg["run"]["seed"]).spawn(len(sizes))
    order = list(range(len(sizes)))[::-1]
    done = {b: run_batch(model, b, sizes[b], seeds[b]) for b in order}
    sum1 = np.zeros(model.tally_size)
    sum2 = np.zeros(model.tally_size)
    for b in range(len(sizes)):  # the engine sums in batch order
        sum1 += done[b].sum1
        sum2 += done[b].sum2
    for lay in model.layouts:
        sl = slice(lay.offset, lay.offset + lay.size)
        assert np.array_equal(sum1[sl].reshape(lay.shape), serial.tallies[lay.name].sum1), lay.name
        assert np.array_equal(sum2[sl].reshape(lay.shape), serial.tallies[lay.name].sum2), lay.name
    assert sum(int(done[b].steps) for b in done) == serial.counts["steps"]


def test_different_seed_gives_different_result(case):
    """Another seed gives other numbers in every tally."""
    cfg, serial = case
    other_cfg = {**cfg, "run": {**cfg["run"], "seed": cfg["run"]["seed"] + 1}}
    other = sdeprop.run(other_cfg, particles=N_PARTICLES, workers=1, progress=False)
    for name, tally in serial.tallies.items():
        assert not np.array_equal(tally.sum1, other.tallies[name].sum1), name
        assert not np.array_equal(tally.sum2, other.tallies[name].sum2), name
    assert other.counts["steps"] != serial.counts["steps"]
