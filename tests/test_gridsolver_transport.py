"""The grid solvers' transport terms beyond uniform diffusion against one-dimensional analytic answers
(docs/transport.md, "The grid solvers").

The slabs are the ones of tests/physics/test_transport_terms.py, on the axisymmetric grid: a halo so
wide (R_max = 400 kpc, four 100-kpc rings) that near the axis the problem is one-dimensional in z, a
source uniform in R and thin in z (all of it in the cell that holds the plane; n_z odd), ψ = 0 at
|z| = H = 3.75 kpc.  Per unit source column, for z > 0,

    −D(z) N' + u(z) N = ½ (the flux each way carries half the source),   N(H) = 0,

and the cell-centre values of the innermost ring are compared with N at the centres.  Tolerances are
set from the measured errors (each test states them) with a margin of about 1.5; the orders are
asserted from the ratio of errors on two or three grids.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from sdeprop.config import load_config
from sdeprop.gridsolver import axisymmetric as ax
from sdeprop.gridsolver.energy import control_widths, march_energies, solve_coupled
from sdeprop.gridsolver.terms import SpatialFactors, adiabatic_loss_rate, wind_divergence
from sdeprop.models.diffusion import diffusion_at
from sdeprop.units import speed_km_s_to_kpc_per_myr

H = 3.75
XI = 0.75
E = 100.0
R_MAX = 400.0
M_P = 0.93827209
BASE = {"D0_cm2_per_s": 3.0e28, "reference_rigidity_GV": 4.0, "delta_par": 0.3, "epsilon": 1.0}
FLAT = {"D0_cm2_per_s": 3.0e28, "delta_par": 0.0, "epsilon": 1.0, "beta": False}


def slab_cfg(diffusion, **sections):
    return load_config(
        {
            "species": {"name": "proton"},
            "galaxy": {"halo_height_kpc": H, "radius_max_kpc": R_MAX},
            "field": {"model": "uniform", "direction": [1.0, 0.0, 0.0]},
            "diffusion": diffusion,
            **sections,
        }
    )


def d_of(cfg):
    return float(diffusion_at(cfg.diffusion, "proton", [E])[0][0])


def slab_solve(cfg, n_z, extra=None):
    """Innermost ring's ψ at the cell centres, per unit source column, and the grid; ``extra(grid)`` adds
    a sparse operator (advection, −ν) to the diffusion operator."""
    grid = ax.AxisymmetricGrid(R_MAX, H, 4, n_z)
    L = ax.assemble_operator(grid, ax.tensor_from_config(cfg, "proton", E, grid))
    if extra is not None:
        L = L + extra(grid)
    q = np.zeros((grid.n_R, n_z))
    q[:, n_z // 2] = 1.0 / grid.dz_kpc
    psi = spla.spsolve((-L).tocsc(), q.ravel()).reshape(grid.n_R, n_z)
    return psi[0], grid


def max_rel(cfg, n_z, oracle, extra=None):
    psi, grid = slab_solve(cfg, n_z, extra)
    return float(np.max(np.abs(psi / oracle(np.abs(grid.z_centres_kpc)) - 1.0)))


# ----------------------------------------------------------------------------------------------- D(z)
def two_zone():
    cfg = slab_cfg(
        {
            **BASE,
            "spatial": "two_halo",
            "two_halo": {"inner_half_thickness_kpc": XI, "delta_change": 0.39, "sharp": True},
        }
    )
    d1 = d_of(cfg)
    d2 = d1 * (math.sqrt(E * (E + 2 * M_P)) / 4.0) ** 0.39

    def oracle(z):
        return np.where(z >= XI, (H - z) / (2 * d2), (H - XI) / (2 * d2) + (XI - z) / (2 * d1))

    return cfg, oracle, d2 / d1


def test_two_zone_slab_exact_when_the_jump_is_on_a_face_first_order_otherwise():
    """N piecewise linear, D N' continuous at ξL (D jumps ×3.52).  With ξL on a face (n_z a multiple of
    5 here) the harmonic face mean is the exact flux of two half cells in series, and the scheme
    reproduces N at the centres to round-off (measured 3e-13).  With ξL inside a cell the error is
    first order: measured 2.9e-2, 1.5e-2, 7.7e-3 for n_z = 21, 41, 81 (ratios 1.91, 1.95)."""
    cfg, oracle, ratio = two_zone()
    assert ratio == pytest.approx(3.52, rel=0.01)
    assert max_rel(cfg, 15, oracle) < 1e-10
    assert max_rel(cfg, 45, oracle) < 1e-10
    e = [max_rel(cfg, n, oracle) for n in (21, 41, 81)]
    assert e[0] < 0.045
    for a, b in zip(e, e[1:]):
        assert 1.7 < a / b < 2.3, e


def test_spatial_factors_on_faces_match_the_kernel():
    """The staggered tensor carries D∥ f∥ with f from the kernel's spatial_factors (smooth two-halo, n = 5):
    z-face values are the harmonic means of f at the half-cell centres, within O(h²) of f on the face."""
    cfg = slab_cfg(
        {**BASE, "spatial": "two_halo", "two_halo": {"inner_half_thickness_kpc": XI, "delta_change": 0.39}}
    )
    grid = ax.AxisymmetricGrid(R_MAX, H, 4, 301)
    t = ax.tensor_from_config(cfg, "proton", E, grid)
    f_par, _, _ = SpatialFactors(cfg)(0.0 * grid.z_nodes_kpc, 0.0, grid.z_nodes_kpc, E)
    np.testing.assert_allclose(t.faces_z[2][0] / d_of(cfg), f_par, rtol=2e-3)
    # a uniform configuration gives the vertex arrays, unchanged
    flat = slab_cfg(BASE)
    assert isinstance(ax.tensor_from_config(flat, "proton", E, grid), tuple)


# ----------------------------------------------------------------------------------------------- wind
def wind_setup(v0_km_s=30.0):
    cfg = slab_cfg(FLAT)
    d = d_of(cfg)
    u = speed_km_s_to_kpc_per_myr(v0_km_s)

    def oracle(z):
        return (1.0 - np.exp(-u * (H - z) / d)) / (2.0 * u)

    return cfg, oracle, u


def test_wind_slab_upwind_is_first_order():
    """D N'' − u N' = 0 with u = v0 sign z: N = (1 − exp(−v0 (H − z)/D))/(2 v0).  First-order upwind
    fluxes: measured max relative errors 1.21e-2, 6.5e-3, 3.4e-3 (1.8e-3 at 601) for n_z = 75, 151, 301
    (ratios 1.86, 1.89, 1.93: first order)."""
    cfg, oracle, u = wind_setup()
    assert u * H / d_of(cfg) > 0.5

    def extra(grid):
        return ax.advection_operator(grid, u, 0.0)

    e = [max_rel(cfg, n, oracle, extra) for n in (75, 151, 301)]
    assert e[0] < 0.018, e
    for a, b in zip(e, e[1:]):
        assert 1.7 < a / b < 2.2, e


def test_wind_divergence_is_the_exact_cell_integral():
    """(u_top − u_bottom)/h: 2 v0/h + dv/dz in the cell that holds the plane (n_z odd), v0/h + dv/dz in the
    two cells that share it as a face (n_z even), dv/dz elsewhere; Σ h ∇·u = u(H) − u(−H) either way."""
    v0, g = 0.03, 0.01
    for nz in (15, 16):
        grid = ax.AxisymmetricGrid(10.0, H, 2, nz)
        d = ax.cell_wind_divergence(grid, v0, g)[:nz]
        h = grid.dz_kpc
        plane = np.abs(grid.z_centres_kpc) < h * (0.5 + 1e-9) if nz % 2 else np.abs(grid.z_centres_kpc) < h
        jump = 2 * v0 / h if nz % 2 else v0 / h
        np.testing.assert_allclose(d[plane], g + jump, rtol=1e-12)
        np.testing.assert_allclose(d[~plane], g, rtol=1e-9)
        assert np.sum(d * h) == pytest.approx(2 * (v0 + g * H), rel=1e-12)
    # and the advection operator conserves particles: the ring volumes annihilate its columns
    grid = ax.AxisymmetricGrid(10.0, H, 3, 15)
    W = ax.advection_operator(grid, v0, g)
    vol = np.repeat(grid.R_centres_kpc, grid.n_z)
    assert np.max(np.abs(vol @ W)) < 1e-14
    # the adiabatic rate (p v/3) ∇·u
    p = math.sqrt(E * (E + 2 * M_P))
    assert adiabatic_loss_rate(3.0, E, M_P) == pytest.approx(p * p / (E + M_P))
    assert wind_divergence([-1.0, 1.0], 0.5, 0.0)[0] == pytest.approx(0.5)


# ----------------------------------------------------------------------------------------------- decay
def test_decay_slab_second_order():
    """D N'' = ν N: N = sinh(k(H − z))/(2 D k cosh kH), k H = √2 (ν = 2D/H²), −ν as a diagonal term
    (march_energies removal_rate_at, one energy).  Measured max relative errors 1.77e-3, 4.3e-4, 1.09e-4
    (2.8e-5 at 201) for n_z = 25, 51, 101 (ratios 4.15, 3.92: second order)."""
    cfg = slab_cfg(FLAT)
    d = d_of(cfg)
    nu = 2.0 * d / H**2
    k = math.sqrt(nu / d)

    def oracle(z):
        return np.sinh(k * (H - z)) / (2.0 * d * k * math.cosh(k * H))

    e = []
    for nz in (25, 51, 101):
        grid = ax.AxisymmetricGrid(R_MAX, H, 4, nz)
        L = ax.assemble_operator(grid, ax.tensor_from_config(cfg, "proton", E, grid))
        q = np.zeros((grid.n_R, nz))
        q[:, nz // 2] = 1.0 / grid.dz_kpc
        sol = march_energies(lambda _e, L=L: L, [E], q.ravel()[None, :], removal_rate_at=nu)
        psi = sol.psi[0].reshape(grid.n_R, nz)[0]
        e.append(float(np.max(np.abs(psi / oracle(np.abs(grid.z_centres_kpc)) - 1))))
    assert e[0] < 2.7e-3, e
    for a, b in zip(e, e[1:]):
        assert 3.5 < a / b < 4.5, e


# ------------------------------------------------------------------------------------- reacceleration
def leaky_box_oracle(x, K, tau):
    """Steady density per unit ln p of a leaky box (escape time τ) fed at rate 1 at p0, with constant
    K = D_pp/p²: the time integral ∫ exp(−t/τ) G(x, t) dt of the Green's function of
    dy = 3K dt + √(2K) dW (G normal in x = ln(p/p0) with mean 3Kt and variance 2Kt), i.e.
    n(x) = exp(3x/2 − a|x|)/(2 a K), a = sqrt(9 + 4/(Kτ))/2 (the Laplace transform of the drifting Gaussian;
    ∫ n dx = τ)."""
    a = 0.5 * math.sqrt(9.0 + 4.0 / (K * tau))
    return np.exp(1.5 * x - a * np.abs(x)) / (2.0 * a * K)


def leaky_box(per_decade, K=0.05, tau=1.0, E0=100.0, mass=M_P):
    lo, hi = math.log10(E0) - 2.0, math.log10(E0) + 3.5
    n_lo, n_hi = int(round(2.0 * per_decade)), int(round(3.5 * per_decade))
    E = np.concatenate(
        [np.logspace(lo, math.log10(E0), n_lo + 1), np.logspace(math.log10(E0), hi, n_hi + 1)[1:]]
    )
    k0 = n_lo
    w = control_widths(E)
    q = np.zeros((E.size, 1))
    q[k0, 0] = 1.0 / w[k0]  # δ(E − E0) at a node
    sol = solve_coupled(
        lambda _e: sp.csr_matrix([[-1.0 / tau]]),
        E,
        q,
        mass_GeV=mass,
        momentum_diffusion_at=lambda _e: np.array([K]),
    )
    p = np.sqrt(E * (E + 2 * mass))
    beta = p / (E + mass)
    n = sol.psi[:, 0] * p * beta  # per unit ln p: N p, N = β ψ
    x = np.log(p / p[k0])
    return x, n, sol, w


def test_momentum_diffusion_leaky_box_second_order_and_conservative():
    """Constant K (Kτ = 0.05) with a mono-energetic source at 100 GeV, protons: the steady spectrum per
    unit ln p is exp(3x/2 − a|x|)/(2aK) (leaky_box_oracle).  The three-point flux form in p (zero flux at
    both ends, 1 GeV to 3e5 GeV, where n is below 1e-10 of its peak) converges at second order in Δ ln E:
    measured max relative errors over |x| < 2.5: 8.7e-2, 2.2e-2, 5.6e-3 (1.4e-3 at 160) for 20, 40, 80
    nodes per decade (ratios 3.90, 3.94, 4.00).  Σ w_k ψ_k/τ = 1 to round-off (measured 3e-15): the
    operator conserves particles."""
    K, tau = 0.05, 1.0
    e = []
    for nd in (20, 40, 80):
        x, n, sol, w = leaky_box(nd, K, tau)
        m = np.abs(x) < 2.5
        e.append(float(np.max(np.abs(n[m] / leaky_box_oracle(x[m], K, tau) - 1))))
        assert np.sum(w * sol.psi[:, 0]) / tau == pytest.approx(1.0, rel=1e-10)
        assert sol.residual < 1e-10
    assert e[0] < 0.13, e
    for a, b in zip(e, e[1:]):
        assert 3.6 < a / b < 4.4, e


def reaccelerated_slab(n_z, per_decade):
    """Column spectrum per unit ln p of the diffusive slab (thin source at 100 GeV, D const, K const):
    (x, n_grid, n_exact).  The slab's survival probability is S(t) = Σ_j c_j exp(−t/τ_j), c_j =
    4(−1)^j/((2j + 1)π), τ_j = 4H²/((2j + 1)² π² D) (the Fourier series of the absorbed random walk), and
    with K independent of x and p the momentum spread is independent of the path, so
    n(x) = Σ_j c_j leaky_box_oracle(x, K, τ_j) (each term the time integral of exp(−t/τ_j) G)."""
    cfg = slab_cfg(FLAT)
    d = d_of(cfg)
    Kc = 0.2 * d / H**2
    tau0 = 4 * H**2 / (math.pi**2 * d)
    grid = ax.AxisymmetricGrid(R_MAX, H, 4, n_z)
    L = ax.assemble_operator(grid, ax.tensor_from_config(cfg, "proton", E, grid))
    n_lo, n_hi = 2 * per_decade, int(3.5 * per_decade)
    Es = np.concatenate([np.logspace(0, 2, n_lo + 1), np.logspace(2, 5.5, n_hi + 1)[1:]])
    w = control_widths(Es)
    q = np.zeros((Es.size, grid.n_R * n_z))
    qc = np.zeros((grid.n_R, n_z))
    qc[:, n_z // 2] = 1.0 / grid.dz_kpc
    q[n_lo] = qc.ravel() / w[n_lo]
    sol = solve_coupled(
        lambda _e: L, Es, q, mass_GeV=M_P, momentum_diffusion_at=lambda _e: np.full(grid.n_R * n_z, Kc)
    )
    col = sol.psi.reshape(Es.size, grid.n_R, n_z)[:, 0, :].sum(axis=1) * grid.dz_kpc
    p = np.sqrt(Es * (Es + 2 * M_P))
    x = np.log(p / p[n_lo])
    exact = sum(
        4 * (-1) ** j / ((2 * j + 1) * math.pi) * leaky_box_oracle(x, Kc, tau0 / (2 * j + 1) ** 2)
        for j in range(200)
    )
    return x, col * p * p / (Es + M_P), exact


def test_reaccelerated_slab_couples_space_and_momentum_at_second_order():
    """Diffusive slab with momentum diffusion (K τ_0 = 0.081): the coupled (E, x) block system against
    Σ_j c_j leaky_box_oracle (reaccelerated_slab).  Measured max relative errors over |x| < 2.5: 4.3e-2,
    1.1e-2, 2.8e-3 for (n_z, per decade) = (25, 20), (51, 40), (101, 80) (ratios 3.88, 3.92)."""
    e = []
    for nz, nd in ((25, 20), (51, 40)):
        x, n, exact = reaccelerated_slab(nz, nd)
        m = np.abs(x) < 2.5
        e.append(float(np.max(np.abs(n[m] / exact[m] - 1))))
    assert e[0] < 0.065, e
    assert 3.5 < e[0] / e[1] < 4.4, e


def measured_errors() -> dict:
    """The error sequences behind the orders above (docs/transport.md, "The grid solvers")."""
    cfg, oracle, _ = two_zone()
    out = {
        "two-zone slab, ξL inside cells, n_z = 21, 41, 81, 161": [
            max_rel(cfg, n, oracle) for n in (21, 41, 81, 161)
        ]
    }
    out["two-zone slab, ξL on a face, n_z = 15, 45"] = [max_rel(cfg, n, oracle) for n in (15, 45)]
    cfg, oracle, u = wind_setup()
    out["wind slab, n_z = 75, 151, 301, 601"] = [
        max_rel(cfg, n, oracle, lambda g: ax.advection_operator(g, u, 0.0)) for n in (75, 151, 301, 601)
    ]
    cfg = slab_cfg(FLAT)
    d = d_of(cfg)
    nu = 2.0 * d / H**2
    k = math.sqrt(nu / d)

    def decay(z):
        return np.sinh(k * (H - z)) / (2.0 * d * k * math.cosh(k * H))

    out["decay slab, n_z = 25, 51, 101, 201"] = [
        max_rel(cfg, n, decay, lambda g: -nu * sp.identity(g.n_R * g.n_z)) for n in (25, 51, 101, 201)
    ]
    errs = []
    for nd in (20, 40, 80, 160):
        x, n, _, _ = leaky_box(nd)
        m = np.abs(x) < 2.5
        errs.append(float(np.max(np.abs(n[m] / leaky_box_oracle(x[m], 0.05, 1.0) - 1))))
    out["leaky box with momentum diffusion, 20, 40, 80, 160 per decade"] = errs
    errs = []
    for nz, nd in ((25, 20), (51, 40), (101, 80)):
        x, n, exact = reaccelerated_slab(nz, nd)
        m = np.abs(x) < 2.5
        errs.append(float(np.max(np.abs(n[m] / exact[m] - 1))))
    out["reaccelerated slab, (n_z, per decade) = (25, 20), (51, 40), (101, 80)"] = errs
    return out


if __name__ == "__main__":
    for label, e in measured_errors().items():
        ratios = [a / b for a, b in zip(e, e[1:])]
        orders = [math.log2(r) for r in ratios] if "ξL on a face" not in label else []
        errors = ", ".join(f"{v:.3g}" for v in e)
        print(f"{label}: errors {errors}; orders {', '.join(f'{o:.2f}' for o in orders)}")
