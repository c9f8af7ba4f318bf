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

The same on the manufactured solution (tests/physics/test_manufactured.py: the Cerri toy field with
R0 = 2 kpc, ε = 0.1, a source built so that n = (1 − R²/R_max²) cos(πz/2H)/Q_tot exactly).  The
observable is the z-integrated density of the innermost ring (R < 1 kpc, where the field lines curve
most) over that of the rings at 2–4 kpc, divided by its analytic value, minus 1.  dt_max_Myr = 100,
so that the step rule alone sets dt and dt ∝ step_fraction² (steps per particle at 0.4/0.3/0.2/0.1:
22/40/90/368).  Measured with Euler–Maruyama (10⁵ particles, 1σ ≈ 0.01–0.018): +0.61, +0.40, +0.19,
+0.042, i.e. order 1.09 between 0.2 and 0.1, 1.03 between 0.3 and 0.15 (2 × 10⁵ at 0.15: +0.102 ±
0.008).  The test runs 0.3 and 0.15 (dt ratio 4) and asserts the order to be 1 within 4 standard
errors, and the Richardson-extrapolated value (4 b(0.15) − b(0.3))/3 to be 0 within 4 standard
errors: the scheme converges to the manufactured answer.  The field-line step is unbiased there at
0.3 already (+0.017 ± 0.010 measured).  The standard errors come from the scatter of 40 independent
batches (the two rings are correlated through the histories that visit both).
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
from test_manufactured import R_MAX, H, ManufacturedSource, expected_density, make_config

import sdeprop
from sdeprop.engine import build_model, run_batches

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


def assert_weak_order_one(b1, e1, b2, e2, coarse, fine):
    """Biases b1 ± e1 at step_fraction ``coarse`` and b2 ± e2 at ``fine`` (dt ∝ step_fraction²): both
    resolved at K_SIGMA, and the order p = ln(b1/b2) / ln(dt1/dt2) equal to 1 within K_SIGMA of its
    standard error (propagated from e1, e2), which must be below 0.3 to tell 1 from ½ or 2."""
    assert b1 > K_SIGMA * e1 and b2 > K_SIGMA * e2, (b1, e1, b2, e2)
    log_dt_ratio = 2.0 * math.log(coarse / fine)
    order = math.log(b1 / b2) / log_dt_ratio
    order_se = math.hypot(e1 / b1, e2 / b2) / log_dt_ratio
    assert order_se < 0.3, (order, order_se)
    assert abs(order - 1.0) < K_SIGMA * order_se, (order, order_se, b1, b2)


def test_euler_maruyama_has_weak_order_one_on_the_ring():
    b1, e1 = _bias("euler_maruyama", COARSE, 60_000, seed=21)
    b2, e2 = _bias("euler_maruyama", FINE, 300_000, seed=22)
    assert_weak_order_one(b1, e1, b2, e2, COARSE, FINE)


def test_field_line_step_has_no_bias_at_the_same_steps():
    for sf, seed in ((COARSE, 23), (FINE, 24)):
        b, e = _bias("field_line", sf, 20_000, seed=seed)
        assert abs(b) < K_SIGMA * e, (sf, b, e)


# ----------------------------------------------------------------------------- manufactured solution
MFG_BATCHES = 40
MFG_COARSE, MFG_FINE = 0.3, 0.15


def _manufactured_contrast_bias(integrator, step_fraction, particles, seed):
    """(bias, standard error) of n(R < 1)/n(2 < R < 4) against its analytic value.

    The density of ring i is its residence time over its volume; the analytic cell averages are
    those of tests/physics/test_manufactured.py.  The error is the scatter of the per-batch ratio.
    """
    cfg = make_config(seed, batch_size=particles // MFG_BATCHES)
    cfg["time"]["step_fraction"] = step_fraction
    cfg["time"]["dt_max_Myr"] = 100.0
    cfg["numerics"]["integrator"] = integrator
    # 1 kpc rings over the whole height: ring 0 is R < 1 kpc, rings 2 and 3 are 2–4 kpc
    cfg["tally"] = [
        {"type": "cylindrical", "name": "rings", "R_bins": int(R_MAX), "z_bins": 1, "energy_bins": 1}
    ]
    model = build_model(cfg, ManufacturedSource())
    layout = model.layouts[0]
    rows = []
    for batch in run_batches(model, particles, particles // MFG_BATCHES, seed):
        cells = batch.sum1[layout.offset : layout.offset + layout.size].reshape(layout.shape)
        rows.append(cells[0, :, 0, 0, 0])
    R_edges = np.linspace(0.0, R_MAX, int(R_MAX) + 1)
    z_edges = np.array([-H, H])
    volume_weight = R_edges[1:] ** 2 - R_edges[:-1] ** 2  # ∝ ring volume
    relative = np.array(rows) / (expected_density(R_edges, z_edges)[:, 0] * volume_weight)

    def contrast(r):
        return r[..., 0] / (0.5 * (r[..., 2] + r[..., 3])) - 1.0

    per_batch = contrast(relative)
    return float(contrast(relative.sum(axis=0))), float(per_batch.std(ddof=1) / math.sqrt(MFG_BATCHES))


def test_euler_maruyama_has_weak_order_one_on_the_manufactured_solution():
    b1, e1 = _manufactured_contrast_bias("euler_maruyama", MFG_COARSE, 100_000, seed=31)
    b2, e2 = _manufactured_contrast_bias("euler_maruyama", MFG_FINE, 200_000, seed=32)
    assert_weak_order_one(b1, e1, b2, e2, MFG_COARSE, MFG_FINE)
    # Richardson extrapolation to dt → 0 for order 1, q = dt ratio: the manufactured answer itself
    q = (MFG_COARSE / MFG_FINE) ** 2
    extrapolated = (q * b2 - b1) / (q - 1.0)
    extrapolated_se = math.hypot(q * e2, e1) / (q - 1.0)
    assert abs(extrapolated) < K_SIGMA * extrapolated_se, (extrapolated, extrapolated_se)


def test_field_line_step_is_unbiased_on_the_manufactured_solution():
    b, e = _manufactured_contrast_bias("field_line", MFG_COARSE, 100_000, seed=33)
    assert abs(b) < K_SIGMA * e, (b, e)
