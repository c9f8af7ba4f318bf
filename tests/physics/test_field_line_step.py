"""The field-line step (numerics.integrator = "field_line"; docs/numerics.md "Field-line step").

Oracle: the toroidal ring.  In a purely azimuthal field of constant strength the field lines are
circles about the z axis, and for D = D⊥ I + (D∥ − D⊥) φ̂φ̂ the generator ∇·(D∇f) of f = R² is
4 D⊥ and of f = z² is 2 D⊥ (φ̂·∇R² = 0), so particles started at R0 in the plane have exactly

    ⟨R²⟩ − R0² = 4 D⊥ t,   ⟨z²⟩ = 2 D⊥ t                          (docs/design.md §2)

at any D∥.  Euler–Maruyama displaces the parallel part along the chord b(x0), which leaves the
circle by ~s²/(2R) per step: its ⟨R²⟩ is too large by a factor growing with (D∥/D⊥) × step.  The
field-line step moves along the circle itself, so only its Runge–Kutta error (bounded per step to
1 % of 4 D⊥ dt) and the statistics remain.

Set-up (benchmarks/integrators.py ring_config): cerri_toy with ε_B = 0 and R0_field = 0.001 kpc
(B_φ = B0φ (1 − e^{−R/R0}) is B0φ to double precision beyond 0.04 kpc), D∥ = 0.1 kpc²/Myr
constant, ε = 0.03 (D∥/D⊥ ≈ 33), start (2, 0, 0) kpc, t = 20 Myr, reflecting walls at 30 kpc
(never reached), step_fraction 0.5 (a few steps of sqrt(2 D∥ dt) ≈ 1 kpc on a circle of radius
2 kpc).  The tolerances are k standard errors of the sample means (from N), k = 4.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

import sdeprop
from sdeprop import engine
from sdeprop import kernel as K

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from integrators import D_PAR_KPC2_PER_MYR, ring_config, ring_moments  # noqa: E402

EPS = 0.03
STEP_FRACTION = 0.5
T_MYR = 20.0
R0 = 2.0
K_SIGMA = 4.0


def _ring(integrator, particles, seed):
    cfg = ring_config(EPS, STEP_FRACTION, particles, seed=seed, t_max=T_MYR, r_start=R0)
    cfg["numerics"] = {"integrator": integrator}
    res = sdeprop.run(cfg, keep_state=True)
    if integrator == "field_line":
        assert res.counts["alive_at_t_max"] == particles
    return ring_moments(res.final_state, EPS * D_PAR_KPC2_PER_MYR, T_MYR, R0)


def test_ring_oracle_field_line_step_is_exact():
    r2, r2_se, z2, z2_se = _ring("field_line", 40_000, seed=3)
    assert abs(r2 - 1.0) < K_SIGMA * r2_se, (r2, r2_se)
    assert abs(z2 - 1.0) < K_SIGMA * z2_se, (z2, z2_se)


def test_ring_oracle_euler_maruyama_fails_at_this_step():
    """The chord's leak: ⟨R²⟩ − R0² is ~1.75 × 4 D⊥ t here (benchmarks/integrators.py ring)."""
    r2, r2_se, _, _ = _ring("euler_maruyama", 8_000, seed=4)
    assert r2 - 1.0 > K_SIGMA * r2_se, (r2, r2_se)


SMALL = {
    "run": {"particles": 200, "batch_size": 100, "seed": 7, "progress": False, "max_cpu_hours": 0},
    "energy": {"min_GeV": 1000.0, "max_GeV": 10000.0},
    "galaxy": {"halo_height_kpc": 3.0, "radius_max_kpc": 12.0},
    "diffusion": {"epsilon": 0.1},
    "source": {"type": "radial_profile"},
    "tally": [{"name": "g", "type": "cylindrical", "R_bins": 6, "z_bins": 4, "energy_bins": 2}],
}


def _with(**sections):
    cfg = {k: (dict(v) if isinstance(v, dict) else v) for k, v in SMALL.items()}
    for k, v in sections.items():
        cfg[k] = {**cfg.get(k, {}), **v}
    return cfg


def test_euler_maruyama_is_the_default_and_unchanged():
    cfg = _with(field={"model": "cerri_toy"})
    assert engine.build_model(cfg).numerics.integrator == K.INTEGRATOR_EM
    a = sdeprop.run(cfg, keep_state=True)
    b = sdeprop.run(
        _with(field={"model": "cerri_toy"}, numerics={"integrator": "euler_maruyama"}), keep_state=True
    )
    assert np.array_equal(a.final_state["x"], b.final_state["x"])
    assert np.array_equal(a.tallies["g"].sum1, b.tallies["g"].sum1)
    fl = engine.build_model(_with(field={"model": "cerri_toy"}, numerics={"integrator": "field_line"}))
    assert fl.numerics.integrator == K.INTEGRATOR_FIELD_LINE


def _per_history(result, reflecting):
    state = result.final_state
    return state["x"] ** 2 + state["y"] ** 2 if reflecting else state["time"]


@pytest.mark.parametrize(
    "sections",
    [
        # JF12: the X-field's direction jumps at z = 0 (near-plane step), free escape with the bridge
        {"field": {"model": "jf12"}},
        # reflecting walls, snapshot estimator with burst outputs
        {
            "field": {"model": "cerri_toy"},
            "galaxy": {"boundary": "reflect"},
            "time": {"regimes": [{"energy_max_GeV": 1e4, "t_max_Myr": 30.0}]},
            "estimator": {"method": "snapshot", "output_times_Myr": [1.0, 5.0]},
        },
        # energy losses
        {
            "field": {"model": "cerri_toy"},
            "species": {"name": "electron"},
            "losses": {"model": "quadratic"},
            "energy": {"min_GeV": 10.0, "max_GeV": 1000.0},
        },
    ],
    ids=["jf12-escape-plane", "reflect-snapshot", "losses"],
)
def test_field_line_step_runs_every_path(sections):
    cfg = _with(numerics={"integrator": "field_line"}, **sections)
    res = sdeprop.run(cfg, keep_state=True)
    st = res.final_state
    assert all(np.isfinite(st[c]).all() for c in ("x", "y", "z", "energy", "time"))
    assert np.isfinite(res.tallies["g"].sum1).all() and res.tallies["g"].sum1.sum() > 0
    assert res.counts["max_steps_reached"] == 0
    em = sdeprop.run(_with(**sections), keep_state=True)
    # the same physics: a per-history mean of the two integrators agrees within K_SIGMA standard
    # errors of the difference of two independent means -- the time each history ends, or, under
    # reflecting walls where every history ends at t_max, its squared distance from the axis then
    a, b = (_per_history(r, reflecting="galaxy" in sections) for r in (res, em))
    se = math.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))
    assert abs(a.mean() - b.mean()) < K_SIGMA * se, (a.mean(), b.mean(), se)
    if "galaxy" not in sections:
        assert res.counts["escaped_z"] + res.counts["escaped_R"] > 0
    assert math.isfinite(res.counts["steps"])
