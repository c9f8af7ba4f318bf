"""Galactic field models wired into configurations, runs, sums, scales, precomputed grids and the CLI."""

import numpy as np
import pytest

import sdeprop
from sdeprop.cli import main
from sdeprop.config import ConfigError, load_config
from sdeprop.models.field import evaluate_field

MODELS = [
    {"model": "jf12"},
    {"model": "jf12", "variant": "planck"},
    {"model": "jf12_solenoidal"},
    {"model": "uf23", "variant": "base"},
    {"model": "uf23", "variant": "twistX"},
    {"model": "pt11", "variant": "BSS"},
    {"model": "cerri17"},
]


@pytest.mark.parametrize("field", MODELS, ids=lambda f: f["model"] + "-" + str(f.get("variant")))
def test_each_model_runs(field):
    """A short run in each model: finite tallies, every particle accounted for."""
    cfg = {
        "run": {"particles": 60, "batch_size": 30, "seed": 3, "progress": False},
        "energy": {"min_GeV": 100.0, "max_GeV": 1000.0},
        "field": field,
        "source": {"type": "point", "position_kpc": [-8.0, 1.0, 0.1]},
        "time": {"step_fraction": 0.3},
        "tally": [{"name": "map", "type": "cylindrical", "R_bins": 4, "z_bins": 4, "energy_bins": 2}],
    }
    res = sdeprop.run(cfg)
    c = res.counts
    assert c["escaped_z"] + c["escaped_R"] + c["alive_at_t_max"] + c["max_steps_reached"] == 60
    assert np.all(np.isfinite(res.tallies["map"].density)) and res.tallies["map"].sum1.sum() > 0


def test_sum_and_scale():
    """A sum evaluates to the scaled sum of its components (fields and Jacobians)."""
    pts = np.array([[-8.5, 0.0, 0.1], [3.0, -4.0, 1.5], [0.5, 0.2, -2.0]])
    a = load_config({"field": {"model": "pt11"}}).field
    b = load_config({"field": {"model": "cerri17"}}).field
    s = load_config(
        {
            "field": {
                "model": "sum",
                "components": [{"model": "pt11", "scale": 0.5}, {"model": "cerri17", "scale": 2.0}],
            }
        }
    ).field
    Ba, Ja = evaluate_field(a, pts)
    Bb, Jb = evaluate_field(b, pts)
    Bs, Js = evaluate_field(s, pts)
    np.testing.assert_allclose(Bs, 0.5 * Ba + 2.0 * Bb, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(Js, 0.5 * Ja + 2.0 * Jb, rtol=1e-13, atol=1e-15)
    c = load_config({"field": {"model": "cerri17", "scale": -3.0}}).field
    Bc, Jc = evaluate_field(c, pts)
    np.testing.assert_allclose(Bc, -3.0 * Bb, rtol=1e-14)
    np.testing.assert_allclose(Jc, -3.0 * Jb, rtol=1e-14)


def test_field_grid_over_budget_is_refused(tmp_path):
    """A 0.01 kpc grid over a 20 kpc halo would need ~1e4 GiB: refused before anything is computed."""
    with pytest.raises(
        ConfigError, match=r"numerics.field_grid_spacing_kpc = 0.01 gives a .* GiB field grid"
    ):
        sdeprop.run({"numerics": {"field_grid_spacing_kpc": 0.01}}, output=tmp_path / "x.h5")
    assert list(tmp_path.iterdir()) == []


def test_bad_field_configuration():
    with pytest.raises(ConfigError, match="unknown UF23 variant 'foo'"):
        load_config({"field": {"model": "uf23", "variant": "foo"}})
    with pytest.raises(ConfigError, match="field model 'pt11'"):
        load_config({"field": {"model": "pt11", "overrides": {"no_such_parameter": 1.0}}})
    with pytest.raises(ConfigError, match="numerics.field_grid_spacing_kpc"):
        load_config({"numerics": {"field_grid_spacing_kpc": 0.0}})


def test_precomputed_grid_matches_direct_evaluation(tmp_path, monkeypatch):
    """Trilinear interpolation of B and J on a 0.1 kpc grid of the Cerri toy field: relative error below 1e-3.

    Bound: the interpolation error is ≤ h²/8 max|∂²B| per axis; with h = 0.1 kpc and the field's scale
    R0 = 3 kpc, |∂²B| ~ |B|/R0² away from the axis, so ~3·(0.01/8)/9 ≈ 4e-4 of |B|.
    """
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    cfg = load_config({"field": {"model": "cerri_toy"}}).field
    rng = np.random.default_rng(2)
    r = rng.uniform(2.0, 9.0, 200)
    phi = rng.uniform(0, 2 * np.pi, 200)
    pts = np.column_stack([r * np.cos(phi), r * np.sin(phi), rng.uniform(-1.5, 1.5, 200)])
    B, J = evaluate_field(cfg, pts)
    Bg, Jg = evaluate_field(cfg, pts, grid_spacing_kpc=0.1, box_kpc=(10.0, 10.0, 2.0))
    err = np.linalg.norm(Bg - B, axis=1) / np.linalg.norm(B, axis=1)
    assert err.max() < 1e-3, err.max()
    cached = list((tmp_path / "sdeprop-fieldgrids").glob("*.npy"))
    assert len(cached) == 1
    # a second build loads the cached grid (and gives the same numbers)
    Bg2, _ = evaluate_field(cfg, pts, grid_spacing_kpc=0.1, box_kpc=(10.0, 10.0, 2.0))
    np.testing.assert_array_equal(Bg2, Bg)


def test_run_with_precomputed_grid_agrees_with_direct(tmp_path, monkeypatch):
    """Short runs, direct vs precomputed-grid field: tallies agree within statistics."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    base = {
        "run": {"particles": 3000, "batch_size": 1000, "seed": 8, "progress": False},
        "energy": {"min_GeV": 10.0, "max_GeV": 100.0},
        "galaxy": {"halo_height_kpc": 2.0, "radius_max_kpc": 10.0},
        "field": {"model": "cerri_toy"},
        "source": {"type": "disk", "radius_kpc": 8.0},
        "tally": [{"name": "map", "type": "cylindrical", "R_bins": 4, "z_bins": 4, "energy_bins": 1}],
    }
    direct = sdeprop.run(base).tallies["map"]
    grid = sdeprop.run(
        {**base, "run": {**base["run"], "seed": 9}, "numerics": {"field_grid_spacing_kpc": 0.1}}
    ).tallies["map"]
    pull = (grid.density - direct.density) / np.hypot(grid.uncertainty, direct.uncertainty)
    assert np.all(np.abs(pull) < 4.0), pull  # 16 cells at 4σ: false-alarm rate 1e-3


def test_field_cli(tmp_path, capsys):
    assert main(["field", "cerri17", "--at", "8.3,0,0", "--set", "field.overrides.r_X=3.0"]) == 0
    out = capsys.readouterr().out
    assert (
        "0.18974" in out and "4.02311" in out and "0.21827" in out
    )  # docs/physics.md §1.5 regression values
    png = tmp_path / "m.png"
    assert (
        main(
            [
                "field",
                "uf23",
                "--variant",
                "expX",
                "--plot",
                "-o",
                str(png),
                "--extent",
                "10",
                "--height",
                "3",
            ]
        )
        == 0
    )
    assert png.stat().st_size > 5000
    assert main(["field", "uf23", "--variant", "nope", "--at", "1,1,1"]) == 2


def test_precomputed_uf23_grid_error_bound_and_second_order():
    """UF23 base on a precomputed grid (analytic Jacobian at the nodes) against the model, at
    2000 points in the disc and lower halo near the Sun (|x + 8| < 1.5, |y| < 1.5, |z| < 1 kpc),
    where UF23 has structure on the grid scale (field reversals): the median relative error of
    B is below 1 % at the recommended 0.1 kpc spacing (measured 0.65 %; 0.15 % over the whole
    halo, benchmarks/grid_accuracy.py) and falls by more than 3 from 0.2 to 0.1 kpc (measured
    4.2: trilinear interpolation is second order; first order would give 2)."""
    cfg = load_config({"field": {"model": "uf23", "variant": "base"}}).field
    rng = np.random.default_rng(4)
    pts = np.c_[rng.uniform(-9.5, -6.5, 2000), rng.uniform(-1.5, 1.5, 2000), rng.uniform(-1, 1, 2000)]
    B0, _ = evaluate_field(cfg, pts)
    nb = np.linalg.norm(B0, axis=1)
    ok = nb > 0.01 * np.median(nb)
    errors = []
    for spacing in (0.2, 0.1):
        B1, _ = evaluate_field(cfg, pts, grid_spacing_kpc=spacing, box_kpc=(10.0, 10.0, 1.2))
        errors.append(np.median(np.linalg.norm(B1 - B0, axis=1)[ok] / nb[ok]))
    assert errors[1] < 0.01, errors
    assert errors[0] / errors[1] > 3.0, errors


def test_finite_difference_grid_jacobian():
    """numerics.field_grid_jacobian = "finite_difference": on a smooth field it agrees with the
    analytic Jacobian to the O(h²) difference error; across JF12's X-field kink at z = 0
    (B_r ∝ sgn z) it carries the jump, spread over one spacing, which the analytic Jacobian
    (derivative inside each half-space) does not."""
    pts = np.array([[-6.3, 1.1, 0.37], [2.2, -3.4, -1.1], [0.7, 0.4, 2.3]])
    toy = load_config({"field": {"model": "cerri_toy"}}).field
    _, J0 = evaluate_field(toy, pts)
    _, J1 = evaluate_field(
        toy, pts, grid_spacing_kpc=0.05, box_kpc=(7.0, 7.0, 2.5), grid_jacobian="finite_difference"
    )
    np.testing.assert_allclose(J1, J0, atol=2e-3 * np.abs(J0).max())
    jf12 = load_config({"field": {"model": "jf12"}}).field
    p = np.array([[-3.0, 0.0, 0.0]])  # inner X-field region, on the mid-plane node
    B, Ja = evaluate_field(jf12, p)
    _, Jfd = evaluate_field(
        jf12, p, grid_spacing_kpc=0.1, box_kpc=(4.0, 4.0, 1.0), grid_jacobian="finite_difference"
    )
    Bp, _ = evaluate_field(jf12, p + [0, 0, 0.1])
    Bm, _ = evaluate_field(jf12, p - [0, 0, 0.1])
    # central difference of B_x across the kink, one node on each side
    np.testing.assert_allclose(Jfd[0, 2, 0], (Bp[0, 0] - Bm[0, 0]) / 0.2, rtol=1e-9)
    assert abs(Jfd[0, 2, 0]) > 10 * abs(Ja[0, 2, 0])


def test_field_grid_cache_clear(tmp_path, monkeypatch, capsys):
    """Precomputed grids are cached under $XDG_CACHE_HOME/sdeprop-fieldgrids; `sdeprop field
    --clear-cache` removes them and says how much space it freed; without a MODEL and without
    --clear-cache the command asks for a model."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    cfg = load_config({"field": {"model": "cerri17"}}).field
    evaluate_field(cfg, [[1.0, 1.0, 0.1]], grid_spacing_kpc=0.5, box_kpc=(2.0, 2.0, 1.0))
    folder = tmp_path / "sdeprop-fieldgrids"
    assert len(list(folder.glob("*.npy"))) == 1
    assert main(["field", "--clear-cache"]) == 0
    assert "removed 1 cached field grid(s)" in capsys.readouterr().out
    assert list(folder.glob("*.npy")) == []
    assert main(["field"]) == 2
    assert "needs a MODEL" in capsys.readouterr().err
