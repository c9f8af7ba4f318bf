"""Weak order of the two integrators, measured on the toroidal ring (an exact answer in a curved field).

Oracle (tests/physics/test_field_line_step.py, docs/design.md §2): in a purely azimuthal field of
constant strength, particles started at R0 have (⟨R²⟩ − R0²)/(4 D⊥ t) = 1 exactly, at any D∥.

Euler–Maruyama is a scheme of weak order 1: its bias of a smooth observable is c·dt + O(dt²).  The
step is dt ∝ step_fraction² here (the curvature rule, sqrt(2 D∥ dt) ≤ step_fraction × R_c), so the
bias of the ring observable must scale as step_fraction², i.e. the ratio of the biases at two step
fractions is (sf₁/sf₂)².  The measured order p = ln(b₁/b₂) / ln(dt₁/dt₂) is asserted to be 1 within
4 standard errors (propagated from the sample means), and its standard error to be below 0.3, so the
test can tell order 1 from order ½ or 2.  The field-line step moves along the circles, so its bias is
zero at the same steps (within 4 standard errors).

Set-up (benchmarks/integrators.py ring_config): ε = 0.03, t = 20 Myr, R0 = 2 kpc; step fractions
0.4 and 0.25 (dt ratio 2.56), where Euler–Maruyama's bias is about +0.55 and +0.2 (measured at
0.5/0.4/0.35/0.3/0.2 with 20 000 particles: 0.84/0.55/0.39/0.22/0.10, ±0.05–0.09, i.e. 3.4/3.4/3.2/
2.4/2.5 × step_fraction²); 60 000 and 300 000 particles put the order's standard error near 0.11.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import sdeprop

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from integrators import D_PAR_KPC2_PER_MYR, ring_config, ring_moments  # noqa: E402

EPS = 0.03
T_MYR = 20.0
R0 = 2.0
K_SIGMA = 4.0
COARSE, FINE = 0.4, 0.25


def _bias(integrator, step_fraction, particles, seed):
    cfg = ring_config(EPS, step_fraction, particles, seed=seed, t_max=T_MYR, r_start=R0)
    cfg["numerics"] = {"integrator": integrator}
    res = sdeprop.run(cfg, keep_state=True)
    r2, r2_se, _, _ = ring_moments(res.final_state, EPS * D_PAR_KPC2_PER_MYR, T_MYR, R0)
    return r2 - 1.0, r2_se


def test_euler_maruyama_has_weak_order_one_on_the_ring():
    b1, e1 = _bias("euler_maruyama", COARSE, 60_000, seed=21)
    b2, e2 = _bias("euler_maruyama", FINE, 300_000, seed=22)
    assert b1 > K_SIGMA * e1 and b2 > K_SIGMA * e2, (b1, e1, b2, e2)
    log_dt_ratio = 2.0 * math.log(COARSE / FINE)
    order = math.log(b1 / b2) / log_dt_ratio
    order_se = math.hypot(e1 / b1, e2 / b2) / log_dt_ratio
    assert order_se < 0.3, (order, order_se)
    assert abs(order - 1.0) < K_SIGMA * order_se, (order, order_se, b1, b2)


def test_field_line_step_has_no_bias_at_the_same_steps():
    for sf, seed in ((COARSE, 23), (FINE, 24)):
        b, e = _bias("field_line", sf, 20_000, seed=seed)
        assert abs(b) < K_SIGMA * e, (sf, b, e)
