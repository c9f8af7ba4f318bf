"""The numba kernels against plain-Python / NumPy twins."""

import json
import os
import subprocess
import sys

import numpy as np

import sdeprop
from sdeprop.config import load_config
from sdeprop.tallies import build_tally_layouts, cell_index, energy_cells, tally_tables


def test_tally_cell_index_matches_numpy_histogram():
    cfg = load_config(
        {
            "energy": {"min_GeV": 1.0, "max_GeV": 100.0},
            "losses": {"model": "quadratic"},
            "tally": [
                {
                    "name": "c",
                    "type": "cylindrical",
                    "R_bins": 5,
                    "z_bins": 3,
                    "energy_bins": 4,
                    "source_energy_bins": 2,
                },
                {
                    "name": "x",
                    "type": "cartesian",
                    "x_range_kpc": [-5, 5],
                    "y_range_kpc": [-4, 6],
                    "z_range_kpc": [-2, 2],
                    "bins": [4, 5, 3],
                    "energy_bins": 3,
                },
                {
                    "name": "s",
                    "type": "sphere",
                    "center_kpc": [1.0, 0.0, 0.0],
                    "radius_kpc": 3.0,
                    "energy_bins": 2,
                },
            ],
        }
    )
    layouts = build_tally_layouts(cfg)
    ti, tf, size = tally_tables(layouts)
    rng = np.random.default_rng(3)
    n = 4000
    pts = rng.uniform([-22, -22, -5], [22, 22, 5], size=(n, 3))
    e = np.exp(rng.uniform(np.log(0.5), np.log(200), n))
    e0 = np.exp(rng.uniform(np.log(0.5), np.log(200), n))
    got = np.zeros(size)
    ecells = np.zeros(len(layouts), dtype=np.int64)
    for (x, y, z), ei, e0i in zip(pts, e, e0):
        energy_cells(ti, tf, np.log(ei), np.log(e0i), ecells)
        for k in range(len(layouts)):
            c = cell_index(ti, tf, k, x, y, z, np.hypot(x, y), ecells[k], 0)
            if c >= 0:
                got[c] += 1
    for lay in layouts:
        block = got[lay.offset : lay.offset + lay.size].reshape(lay.shape)[0]
        e0_edges = (
            lay.source_energy_edges_GeV
            if lay.source_energy_edges_GeV is not None
            else np.array([0.0, np.inf])
        )
        if lay.kind == "cylindrical":
            sample = np.column_stack([np.hypot(pts[:, 0], pts[:, 1]), pts[:, 2], e, e0])
            bins = [lay.spatial_axes["R_kpc"], lay.spatial_axes["z_kpc"], lay.energy_edges_GeV, e0_edges]
        elif lay.kind == "cartesian":
            sample = np.column_stack([pts, e, e0])
            bins = list(lay.spatial_axes.values()) + [lay.energy_edges_GeV, e0_edges]
        else:
            inside = np.sum((pts - lay.sphere_center_kpc) ** 2, axis=1) < lay.sphere_radius_kpc**2
            sample = np.column_stack([e[inside], e0[inside]])
            bins = [lay.energy_edges_GeV, e0_edges]
        ref = np.histogramdd(sample, bins=bins)[0]
        np.testing.assert_array_equal(block, ref)


_SCRIPT = r"""
import json, sys, numpy as np, sdeprop
cfg = json.loads(sys.argv[1])
r = sdeprop.run(cfg, keep_state=True)
np.savez(sys.argv[2], s=r.tallies['map'].sum1, s2=r.tallies['map'].sum2, x=r.final_state['x'],
t=r.final_state['time'])
"""


def test_kernel_runs_as_plain_python_and_agrees(tmp_path):
    """The jitted kernel and the same code run by the Python interpreter (NUMBA_DISABLE_JIT=1) agree."""
    cfg = {
        "run": {"particles": 6, "batch_size": 3, "seed": 11, "progress": False},
        "energy": {"min_GeV": 10.0, "max_GeV": 100.0},
        "galaxy": {"halo_height_kpc": 0.5, "radius_max_kpc": 3.0},
        "field": {"model": "cerri_toy", "R0_kpc": 1.0},
        "losses": {"model": "quadratic", "b0_per_GeV_per_s": 1e-13},
        "source": {"type": "point", "position_kpc": [1.0, 0.5, 0.0]},
        "time": {"step_fraction": 0.3},
        "tally": [
            {
                "name": "map",
                "type": "cylindrical",
                "R_bins": 3,
                "z_bins": 2,
                "energy_bins": 2,
                "source_energy_bins": 2,
            }
        ],
    }
    jit = sdeprop.run(cfg, keep_state=True)
    out = tmp_path / "py.npz"
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    subprocess.run(
        [sys.executable, "-c", _SCRIPT, json.dumps(cfg), str(out)], check=True, env=env, timeout=600
    )
    py = np.load(out)
    # same arithmetic in both; only libm rounding of exp/log/sqrt may differ in the last bits
    np.testing.assert_allclose(py["x"], jit.final_state["x"], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(py["t"], jit.final_state["time"], rtol=1e-9)
    np.testing.assert_allclose(py["s"].ravel(), jit.tallies["map"].sum1.ravel(), rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(py["s2"].ravel(), jit.tallies["map"].sum2.ravel(), rtol=1e-9, atol=1e-15)
