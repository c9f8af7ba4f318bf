"""A tensor that jumps across the plane z = 0: the kernel's interface rule (kernel._plane_step).

Set-up: two half-spaces with uniform fields of different directions, b⁺ for z ≥ 0 and b⁻ for
z < 0 ([field] model = "uniform" with south_direction), D = D⊥ I + (D∥ − D⊥) b bᵀ on each side,
particles injected at the origin, positions recorded at T (no wall within reach).

Oracle (exact for ∂ψ/∂t = ∇·(D∇ψ) with ψ and the flux n·D∇ψ continuous at z = 0): integrating
by parts, d⟨x_j⟩/dt = ∫ψ ∂_i D_ij = [D_jz] ψ_z(0, t), with [D_jz] = D_jz⁺ − D_jz⁻ and ψ_z(0, t) the
(continuous) marginal density at the plane.  In s = z/√D_zz± the vertical motion is skew
Brownian motion with P(north) = α = √D_zz⁺/(√D_zz⁺ + √D_zz⁻) (Lejay 2006, Probab. Surveys 3, 413),
whence ψ_z(0, t) = 2/(√D_zz⁺ + √D_zz⁻) · (4πt)^(−1/2) and

    ⟨x_j⟩(T) = [D_jz] · 2 √(T/π) / (√D_zz⁺ + √D_zz⁻),      P(z_T > 0) = α.

Without the interface rule the Euler steps have zero-mean increments in x and y (⟨x⟩ = 0) and
P(north) = 1/2 for a start on the plane, both far outside the errors below.
Tolerance: 4 standard errors of the sample mean (sample standard deviation/√N), binomial for α.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from sdeprop.config import load_config
from sdeprop.engine import build_model, run_batch
from sdeprop.units import KPC2_PER_MYR_IN_CM2_PER_S

D_PAR = 1.0  # kpc²/Myr
EPS = 0.1
T = 1.0  # Myr
N = 40_000
NORTH = np.array([1.0, 0.0, 1.0])
SOUTH = np.array([-1.0, 2.0, 4.0])


def _config(plane_interface="auto"):
    return {
        "run": {"particles": N, "progress": False},
        "energy": {"min_GeV": 100.0, "max_GeV": 100.01},
        "galaxy": {"halo_height_kpc": 20.0, "radius_max_kpc": 30.0},
        "field": {
            "model": "uniform",
            "direction": NORTH.tolist(),
            "south_direction": SOUTH.tolist(),
            "south_strength_uG": 2.0,
        },
        "source": {"type": "point", "position_kpc": [0.0, 0.0, 0.0]},
        "diffusion": {
            "D0_cm2_per_s": D_PAR * KPC2_PER_MYR_IN_CM2_PER_S,
            "delta_par": 0.0,
            "epsilon": EPS,
            "beta": False,
        },
        "time": {"dt_max_Myr": 0.01, "regimes": [{"energy_max_GeV": 100.01, "t_max_Myr": T}]},
        "numerics": {"plane_interface": plane_interface},
        "tally": [{"name": "map", "type": "cylindrical", "R_bins": 2, "z_bins": 2, "energy_bins": 1}],
    }


def _tensor(direction):
    b = np.asarray(direction) / np.linalg.norm(direction)
    return EPS * D_PAR * np.eye(3) + (1.0 - EPS) * D_PAR * np.outer(b, b)


def _final_positions(plane_interface):
    model = build_model(_config(plane_interface))
    out = run_batch(model, 0, N, np.random.SeedSequence(2024), keep_state=True).final_state
    assert np.all(out["time"] == pytest.approx(T))  # every particle reached T inside the box
    return np.column_stack([out["x"], out["y"], out["z"]])


def _expected():
    dp, dm = _tensor(NORTH), _tensor(SOUTH)
    sp, sm = math.sqrt(dp[2, 2]), math.sqrt(dm[2, 2])
    mean = (dp[:, 2] - dm[:, 2]) * 2.0 * math.sqrt(T / math.pi) / (sp + sm)
    return mean, sp / (sp + sm)


def test_the_interface_rule_is_switched_on_for_two_half_spaces():

    assert build_model(_config()).numerics.plane_mode == 1
    assert build_model(_config("off")).numerics.plane_mode == 0
    same = _config()
    same["field"] = {"model": "uniform", "direction": NORTH.tolist()}
    assert build_model(same).numerics.plane_mode == 0


def test_first_moments_and_side_probability_match_the_interface_solution():
    pos = _final_positions("auto")
    mean, alpha = _expected()
    se = pos.std(axis=0, ddof=1) / math.sqrt(N)
    assert np.all(np.abs(pos.mean(axis=0) - mean) < 4.0 * se), (pos.mean(axis=0), mean, se)
    north = np.mean(pos[:, 2] > 0.0)
    assert abs(north - alpha) < 4.0 * math.sqrt(alpha * (1 - alpha) / N), (north, alpha)


def test_plain_euler_steps_miss_the_interface():
    pos = _final_positions("off")
    mean, alpha = _expected()
    se = pos.std(axis=0, ddof=1) / math.sqrt(N)
    # the x and y drifts of the interface are missing, and the sides are not weighted by α
    assert np.all(np.abs(pos[:, :2].mean(axis=0) - mean[:2]) > 10.0 * se[:2])
    assert abs(np.mean(pos[:, 2] > 0.0) - alpha) > 10.0 * math.sqrt(alpha * (1 - alpha) / N)


@pytest.mark.parametrize(
    "field, expected",
    [
        ({"model": "cerri_toy"}, "PLANE_SMOOTH"),
        ({"model": "pt11"}, "PLANE_SMOOTH"),  # no B_z: D_xz = D_yz = 0, D_zz = D⊥ on both sides
        (
            {"model": "uniform", "direction": [1.0, 0.0, 1.0], "south_direction": [0.0, 1.0, 1.0]},
            "PLANE_JUMP",
        ),
        (
            {"model": "cerri17", "overrides": {"disk_scale": 0.0, "halo_scale": 0.0}},
            "PLANE_JUMP",
        ),  # B_R ∝ sgn z
        # UF23's poloidal halo: B_R ∝ sgn z |z|^0.43, continuous with a cusp
        (
            {"model": "uf23", "variant": "base", "overrides": {"disk_scale": 0.0, "toroidal_scale": 0.0}},
            "PLANE_CUSP",
        ),
    ],
)
def test_plane_structure_is_classified(field, expected):
    from sdeprop.models import field as F

    kind, params, grid = F.build_field(load_config({"field": field}).field)
    assert F.plane_structure(kind, params, grid, 1e-3, 20.0, spacing_kpc=0.2) == getattr(F, expected)
