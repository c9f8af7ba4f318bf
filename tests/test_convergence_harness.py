"""The pure functions of benchmarks/convergence.py: the Richardson fit, the bias → step_fraction
inversion and the log-log cost interpolation (no transport run)."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "convergence.py"
_spec = importlib.util.spec_from_file_location("convergence_harness", _PATH)
conv = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(conv)


def test_fit_recovers_an_exact_line_in_sf_squared():
    sf = np.array([0.2, 0.1, 0.05, 0.025])
    y = 5.4 + 12.0 * sf**2  # weak order 1: bias ∝ dt ∝ sf²
    fit = conv.richardson_fit(sf, y, np.full(4, 0.05))
    assert fit["a"] == pytest.approx(5.4, abs=1e-12)
    assert fit["b"] == pytest.approx(12.0, rel=1e-10)
    assert fit["chi2"] == pytest.approx(0.0, abs=1e-18)
    assert fit["dof"] == 2


def test_fit_errors_are_those_of_weighted_least_squares():
    # two points: the line goes through both; σ_a follows from the 2×2 normal equations
    sf = np.array([0.1, 0.05])
    s = np.array([0.05, 0.05])
    fit = conv.richardson_fit(sf, [5.615, 5.430], s)
    x1, x2 = sf**2
    assert fit["a"] == pytest.approx((5.430 * x1 - 5.615 * x2) / (x1 - x2))
    # a = (y2 x1 − y1 x2)/(x1 − x2): σ_a² = σ² (x1² + x2²)/(x1 − x2)²
    assert fit["a_err"] == pytest.approx(0.05 * math.hypot(x1, x2) / (x1 - x2))
    assert fit["b_err"] == pytest.approx(0.05 * math.sqrt(2) / (x1 - x2))
    assert fit["dof"] == 0
    assert conv.richardson_fit([0.1], [5.6], [0.05]) is None


def test_fit_chi2_of_scattered_points():
    sf = np.array([0.2, 0.1, 0.05])
    y = 1.0 + sf**2 + np.array([0.01, -0.02, 0.01])
    fit = conv.richardson_fit(sf, y, np.full(3, 0.01))
    x = sf**2
    model = fit["a"] + fit["b"] * x
    assert fit["chi2"] == pytest.approx(float(np.sum(((y - model) / 0.01) ** 2)))
    assert np.polyfit(x, y, 1) == pytest.approx([fit["b"], fit["a"]])


def test_step_fraction_for_bias_inverts_the_fitted_bias():
    fit = {"a": 5.4, "b": 20.0, "b_err": 5.0, "order": 1.0}
    for bias in (0.03, 0.01, 0.003):
        sf = conv.step_fraction_for_bias(fit, bias)
        assert abs(fit["b"]) * sf**2 == pytest.approx(bias * fit["a"])
        assert conv.step_fraction_for_bias(fit, bias, n_sigma=2.0) < sf
    # weak order 2: bias ∝ sf⁴
    sf2 = conv.step_fraction_for_bias({**fit, "order": 2.0}, 0.01)
    assert fit["b"] * sf2**4 == pytest.approx(0.01 * 5.4)
    assert conv.step_fraction_for_bias({**fit, "b": 0.0, "b_err": 0.0}, 0.01) == math.inf


def test_cost_interpolation_is_linear_in_log_log():
    sfs = [0.1, 0.05, 0.025]
    cpu = [3e-3, 13e-3, 54e-3]
    for s, c in zip(sfs, cpu):
        assert conv.interpolate_loglog(s, sfs, cpu) == pytest.approx(c)
    mid = conv.interpolate_loglog(math.sqrt(0.1 * 0.05), sfs, cpu)
    assert mid == pytest.approx(math.sqrt(3e-3 * 13e-3))
    # extrapolated with the slope of the end segment; a single point scales as sf⁻²
    slope = math.log(54 / 13) / math.log(0.025 / 0.05)
    assert conv.interpolate_loglog(0.0125, sfs, cpu) == pytest.approx(54e-3 * 0.5**slope)
    assert conv.interpolate_loglog(0.05, [0.1], [3e-3]) == pytest.approx(12e-3)
    assert math.isnan(conv.interpolate_loglog(math.inf, sfs, cpu))


def test_accuracy_table_and_map_comparison():
    fit = conv.richardson_fit(
        [0.2, 0.1, 0.05], [5.0 + 10 * 0.04, 5.0 + 10 * 0.01, 5.0 + 10 * 0.0025], [0.01] * 3
    )
    rows = conv.accuracy_table(fit, [0.2, 0.1, 0.05], [1e-3, 4e-3, 16e-3])
    assert [r["bias"] for r in rows] == list(conv.BIASES)
    assert rows[1]["step_fraction"] == pytest.approx(math.sqrt(0.01 * 5.0 / 10.0))
    assert not rows[1]["at_least"]
    # a slope consistent with zero asks for steps coarser than measured: capped, not extrapolated
    flat = conv.accuracy_table({**fit, "b": 1e-6, "b_err": 1e-6}, [0.2, 0.1], [1e-3, 4e-3])
    assert flat[0]["at_least"] and flat[0]["step_fraction"] == 0.2
    assert flat[0]["cpu_s_per_particle"] == pytest.approx(1e-3)
    coarse = np.ones((2, 2))
    fine = coarse.copy()
    fine[0, 1] = 1.5
    err = np.full((2, 2), 0.1)
    cmp = conv.compare_maps(coarse, err, fine, err, np.array([0.0, 1.0, 2.0]), np.array([-1.0, 0.0, 1.0]))
    top = cmp["largest"][0]
    assert top["R_kpc"] == [0.0, 1.0] and top["z_kpc"] == [0.0, 1.0] and top["region"] == "axis"
    assert top["pull"] == pytest.approx(0.5 / math.hypot(0.1, 0.1))
    assert top["relative_difference"] == pytest.approx(0.5)


def test_escape_time_budget_adds_up_to_the_mean_escape_time():
    """Uniform density in a cylinder R < 20, |z| < 4 kpc: each region's share is its volume fraction,
    and the regions add up to the mean escape time given."""
    from types import SimpleNamespace

    r_e = np.linspace(0.0, 20.0, 41)
    z_e = np.linspace(-4.0, 4.0, 65)
    vol = np.pi * np.outer(np.diff(r_e**2), np.diff(z_e))
    tally = SimpleNamespace(
        density=np.ones((40, 64, 1)),
        uncertainty=np.zeros((40, 64, 1)),
        edges={"R_kpc": r_e, "z_kpc": z_e},
        layout=SimpleNamespace(cell_volume_kpc3=lambda: vol),
    )
    time_, err = conv.escape_time_budget(tally, 6.0)
    assert time_.sum() == pytest.approx(6.0, rel=1e-12)
    assert np.all(err == 0.0)
    # R < 2 kpc, |z| < 0.25 kpc: (π 2² × 0.5) / (π 20² × 8) of the total
    assert time_[0, 0] == pytest.approx(6.0 * (4.0 * 0.5) / (400.0 * 8.0), rel=1e-12)
