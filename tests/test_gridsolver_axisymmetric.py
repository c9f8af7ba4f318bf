"""Tests of the 2D axisymmetric (R, z) grid solver (sdeprop.gridsolver.axisymmetric).

Manufactured solutions: ψ is chosen, Q = −∇·(D∇ψ) is computed analytically (ψ by hand,
the first derivatives of D by complex-step differentiation, exact to rounding), and the solver
must return ψ with an error that falls as h² (ratio ≈ 4 per halving).

Stationary manufactured cases (these are not the Cerri et al. 2017 appendix B cases P1–P3, which are
in tests/test_cerri17_appendix_b.py), with D0∥ = 1e28 cm²/s, ε = D⊥/D∥ = 0.05, B0 = 10 μG,
B_inf = 1 nG, L_B = 2 kpc and the kernel's field floor 1e-3 μG.  All of them use the same
manufactured ψ (``_psi_parts``):
* isotropic constant D = D0∥ (``test_isotropic_manufactured_second_order``);
* uniform vertical field, constant anisotropic D_RR = D⊥, D_zz = D∥
  (``test_uniform_vertical_field_manufactured_second_order``);
* vertical bump B_z = B_inf + B0 exp(−R²/L_B²), B_R = 0. With the floor b = B/sqrt(|B|² + B_f²),
  B_f = 1e-3 μG, b_z falls from 1 to 1/√2 where B_z → B_inf, so D_zz varies with R, from D∥ on the
  axis to ≈ 0.52 D∥ at R ≳ 7 kpc (``test_vertical_bump_manufactured_second_order``);
* tilted bump: the vertical bump plus B_R = B0 (R z/L_B²) exp(−R²/L_B²), so D_Rz ≠ 0
  (``test_tilted_bump_manufactured_second_order``).
Also tested: the Bessel mode of the docs/physics.md §8.3 cylinder.
"""

import numpy as np
import pytest
from scipy.special import j0, jn_zeros

from sdeprop.gridsolver.axisymmetric import (
    AxisymmetricGrid,
    assemble_operator,
    solve_axisymmetric,
    tensor_from_config,
    tensor_from_field,
)
from sdeprop.units import diffusion_cm2_per_s_to_kpc2_per_myr

R_MAX, H = 10.0, 4.0
D0_PAR = diffusion_cm2_per_s_to_kpc2_per_myr(1e28)  # 0.03314 kpc²/Myr
EPS = 0.05
B0, B_INF, L_B = 10.0, 1e-3, 2.0  # μG, μG, kpc
FLOOR = 1e-3  # μG


def _psi_parts(R, z, c=0.3):
    """ψ = cos(aR) g(z), g = cos(bz)(1 + c sin 2bz): ψ = 0 at R = R_max and |z| = H, ∂_Rψ = 0 at R = 0."""
    a, b = np.pi / (2 * R_MAX), np.pi / (2 * H)
    f, fp, fpp = np.cos(a * R), -a * np.sin(a * R), -a * a * np.cos(a * R)
    s = 1 + c * np.sin(2 * b * z)
    g = np.cos(b * z) * s
    gp = -b * np.sin(b * z) * s + np.cos(b * z) * 2 * b * c * np.cos(2 * b * z)
    gpp = (
        -b * b * np.cos(b * z) * s
        - 2 * b * np.sin(b * z) * 2 * b * c * np.cos(2 * b * z)
        - np.cos(b * z) * 4 * b * b * c * np.sin(2 * b * z)
    )
    return f * g, fp * g, f * gp, fpp * g, fp * gp, f * gpp


def _manufactured_source(tensor):
    """Q = −[(1/R)∂_R(R F_R) + ∂_z F_z], F = D∇ψ, with ∂D by complex step (exact for analytic D)."""

    def q(R, z):
        psi, pR, pz, pRR, pRz, pzz = _psi_parts(R, z)
        DRR, DRz, Dzz = (np.asarray(a, float) for a in tensor(R, z))
        h = 1e-30
        dR = [np.imag(a) / h for a in tensor(R + 1j * h, z + 0j)]
        dz = [np.imag(a) / h for a in tensor(R + 0j, z + 1j * h)]
        FR = DRR * pR + DRz * pz
        div = (
            FR / R + dR[0] * pR + DRR * pRR + dR[1] * pz + 2 * DRz * pRz + dz[1] * pR + dz[2] * pz + Dzz * pzz
        )
        return -div

    return q


def _iso_tensor(R, z):
    one = np.ones(np.broadcast(R, z).shape)
    return D0_PAR * one, 0.0 * one, D0_PAR * one


def _vertical_tensor(R, z):
    """Uniform vertical field B = B0 ẑ (b_z = B0/sqrt(B0² + B_f²)), D⊥ = ε D∥ (docs/physics.md §1.6)."""
    one = np.ones(np.broadcast(R, z).shape)
    bz = B0 / np.sqrt(B0**2 + FLOOR**2)
    dpar, dperp = D0_PAR, EPS * D0_PAR
    return dperp * one, 0.0 * one, (dperp + (dpar - dperp) * bz * bz) * one


def _vertical_bump_tensor(R, z):
    """Vertical bump: B_z = B_inf + B0 exp(−R²/L_B²), B_R = 0,
    b = B/sqrt(|B|² + B_f²), D_ij = D⊥ δ_ij + (D∥ − D⊥) b_i b_j (docs/physics.md §1.6)."""
    Bz = B_INF + B0 * np.exp(-R * R / L_B**2)
    bz = Bz / np.sqrt(Bz * Bz + FLOOR**2)
    dpar, dperp = D0_PAR, EPS * D0_PAR
    return dperp + 0.0 * R, 0.0 * R, dperp + (dpar - dperp) * bz * bz


def _tilted_bump_tensor(R, z):
    """Tilted bump: B_z = B_inf + B0 exp(−R²/L_B²) plus B_R = B0 (R z/L_B²) exp(−R²/L_B²),
    b = B/sqrt(|B|² + B_f²), D⊥ = ε D∥, D_ij = D⊥ δ_ij + (D∥ − D⊥) b_i b_j."""
    e = np.exp(-R * R / L_B**2)
    Bz = B_INF + B0 * e
    BR = B0 * (R * z / L_B**2) * e
    norm = np.sqrt(BR * BR + Bz * Bz + FLOOR**2)
    bR, bz = BR / norm, Bz / norm
    dpar, dperp = D0_PAR, EPS * D0_PAR
    return dperp + (dpar - dperp) * bR * bR, (dpar - dperp) * bR * bz, dperp + (dpar - dperp) * bz * bz


def _error(tensor, n_R, n_z):
    sol = solve_axisymmetric(tensor, _manufactured_source(tensor), R_max_kpc=R_MAX, H_kpc=H, n_R=n_R, n_z=n_z)
    R, z = sol.grid.centres_mesh()
    exact = _psi_parts(R, z)[0]
    assert sol.residual < 1e-10
    return np.max(np.abs(sol.psi - exact)) / np.max(np.abs(exact))


def test_isotropic_manufactured_second_order():
    # measured: 3.37e-3 (h_R = 0.25, h_z = 0.4 kpc), 8.51e-4 (half), ratio 3.96
    e1, e2 = _error(_iso_tensor, 40, 20), _error(_iso_tensor, 80, 40)
    assert e1 < 5e-3 and e2 < 1.2e-3
    assert e1 / e2 > 3.0


def test_isotropic_cylinder_bessel_mode():
    """docs/physics.md §8.3 with q(r) = J0(ν1 r/R_h) δ(z): one Bessel mode,
    n = sinh[k(H − |z|)]/[2Dk cosh(kH)] J0(kr), k = ν1/R_h (q_1 = 1).
    The δ(z) source is spread over the two cells next to z = 0 (symmetric top hat, O(h²) far field)."""
    nu1 = jn_zeros(0, 1)[0]
    k = nu1 / R_MAX
    errs = []
    for n_R, n_z in ((50, 20), (100, 40)):
        grid = AxisymmetricGrid(R_MAX, H, n_R, n_z)
        R, z = grid.centres_mesh()
        q = np.zeros_like(R)
        mid = n_z // 2
        q[:, mid - 1 : mid + 1] = j0(k * R[:, mid - 1 : mid + 1]) / (2 * grid.dz_kpc)
        sol = solve_axisymmetric(_iso_tensor, q, R_max_kpc=R_MAX, H_kpc=H, n_R=n_R, n_z=n_z)
        exact = np.sinh(k * (H - np.abs(z))) / (2 * D0_PAR * k * np.cosh(k * H)) * j0(k * R)
        assert sol.residual < 1e-10
        errs.append(np.max(np.abs(sol.psi - exact)) / np.max(np.abs(exact)))
    # measured: 1.66e-4, 4.31e-5 (ratio 3.85); 200×80 gives 1.10e-5
    assert errs[1] < 6e-5
    assert errs[0] / errs[1] > 3.0


def test_uniform_vertical_field_manufactured_second_order():
    # measured: 3.81e-3, 9.60e-4, 2.40e-4 (ratios 3.97, 3.99); bound 1.3 × the finest
    errs = [_error(_vertical_tensor, n, n // 2) for n in (40, 80, 160)]
    assert errs[-1] < 3.2e-4
    assert errs[0] / errs[1] > 3.0 and errs[1] / errs[2] > 3.0


def test_vertical_bump_manufactured_second_order():
    R = np.linspace(0.0, R_MAX, 41)
    Dzz = _vertical_bump_tensor(R, 0 * R)[2]
    # the floor makes D_zz vary: D∥ on the axis, ≈ (ε + (1 − ε)/2) D∥ far out
    assert abs(Dzz[0] / D0_PAR - 1) < 1e-6 and abs(Dzz[-1] / D0_PAR - (EPS + (1 - EPS) / 2)) < 1e-3
    # measured: 3.81e-3, 9.60e-4, 2.40e-4 (ratios 3.97, 3.99); bound 1.3 × the finest
    errs = [_error(_vertical_bump_tensor, n, n // 2) for n in (40, 80, 160)]
    assert errs[-1] < 3.2e-4
    assert errs[0] / errs[1] > 3.0 and errs[1] / errs[2] > 3.0
    # the R-dependence of D_zz matters: solving with the constant vertical tensor against this source
    # misses ψ by 0.17 (measured, 80 × 40), ≫ the 9.6e-4 discretisation error
    sol = solve_axisymmetric(
        _vertical_tensor,
        _manufactured_source(_vertical_bump_tensor),
        R_max_kpc=R_MAX,
        H_kpc=H,
        n_R=80,
        n_z=40,
    )
    exact = _psi_parts(*sol.grid.centres_mesh())[0]
    assert np.max(np.abs(sol.psi - exact)) > 0.05 * np.max(np.abs(exact))


def test_tilted_bump_manufactured_second_order():
    """The vertical bump plus a radial component (D_Rz up to 0.4 D∥)."""
    # the tensor really is anisotropic and tilted here
    R, z = np.meshgrid(np.linspace(0.1, 10, 30), np.linspace(-4, 4, 20), indexing="ij")
    DRR, DRz, Dzz = _tilted_bump_tensor(R, z)
    assert np.max(np.abs(DRz)) > 0.3 * D0_PAR and DRR.min() < 0.1 * D0_PAR
    # measured: 6.78e-3, 1.75e-3, 4.46e-4 (ratios 3.87, 3.93); 320×160 gives 1.13e-4 (3.97)
    errs = [_error(_tilted_bump_tensor, n, n // 2) for n in (40, 80, 160)]
    assert errs[-1] < 6e-4
    assert errs[0] / errs[1] > 3.0 and errs[1] / errs[2] > 3.0
    # the cross terms matter: dropping D_Rz gives an O(1) error (measured 0.71) at any h
    nocross = lambda R, z: (_tilted_bump_tensor(R, z)[0], 0.0 * R, _tilted_bump_tensor(R, z)[2])
    sol = solve_axisymmetric(
        nocross, _manufactured_source(_tilted_bump_tensor), R_max_kpc=R_MAX, H_kpc=H, n_R=80, n_z=40
    )
    exact = _psi_parts(*sol.grid.centres_mesh())[0]
    assert np.max(np.abs(sol.psi - exact)) > 0.3 * np.max(np.abs(exact))


def test_vertex_array_input_matches_callable():
    grid = AxisymmetricGrid(R_MAX, H, 40, 16)
    Rn, zn = grid.nodes_mesh()
    arrays = _tilted_bump_tensor(Rn, zn)
    src = _manufactured_source(_tilted_bump_tensor)
    a = solve_axisymmetric(arrays, src, R_max_kpc=R_MAX, H_kpc=H, n_R=40, n_z=16)
    b = solve_axisymmetric(_tilted_bump_tensor, src, R_max_kpc=R_MAX, H_kpc=H, n_R=40, n_z=16)
    assert np.max(np.abs(a.psi - b.psi)) < 0.05 * np.max(np.abs(b.psi))


def test_operator_conservative_and_constant_free():
    """Σ_cells V_i (Lψ)_i equals the boundary flux only: for ψ vanishing near the walls it is 0."""
    grid = AxisymmetricGrid(R_MAX, H, 40, 16)
    L = assemble_operator(grid, _tilted_bump_tensor)
    R, z = grid.centres_mesh()
    psi = np.exp(-((R - 4) ** 2 + z**2) / 0.5)
    vol = R.ravel()
    total = vol @ (L @ psi.ravel())
    scale = vol @ np.abs(L @ psi.ravel())
    assert abs(total) < 1e-10 * scale


def test_bad_input_raises():
    src = lambda R, z: np.ones_like(R)
    with pytest.raises(ValueError, match="R_max"):
        solve_axisymmetric(_iso_tensor, src, R_max_kpc=0.0, H_kpc=H, n_R=10, n_z=10)
    with pytest.raises(ValueError, match="H_kpc"):
        solve_axisymmetric(_iso_tensor, src, R_max_kpc=R_MAX, H_kpc=-1.0, n_R=10, n_z=10)
    with pytest.raises(ValueError, match="n_R"):
        solve_axisymmetric(_iso_tensor, src, R_max_kpc=R_MAX, H_kpc=H, n_R=1, n_z=10)
    with pytest.raises(ValueError, match="> 0"):
        solve_axisymmetric(
            lambda R, z: (-_iso_tensor(R, z)[0], 0 * R, _iso_tensor(R, z)[2]),
            src,
            R_max_kpc=R_MAX,
            H_kpc=H,
            n_R=10,
            n_z=10,
        )
    with pytest.raises(ValueError, match="semi-definite"):
        solve_axisymmetric(
            lambda R, z: (D0_PAR + 0 * R, 2 * D0_PAR + 0 * R, D0_PAR + 0 * R),
            src,
            R_max_kpc=R_MAX,
            H_kpc=H,
            n_R=10,
            n_z=10,
        )
    with pytest.raises(ValueError, match="shape"):
        solve_axisymmetric((np.ones((10, 10)),) * 3, src, R_max_kpc=R_MAX, H_kpc=H, n_R=10, n_z=10)
    with pytest.raises(ValueError, match="shape"):
        solve_axisymmetric(_iso_tensor, np.ones((3, 3)), R_max_kpc=R_MAX, H_kpc=H, n_R=10, n_z=10)
    with pytest.raises(ValueError, match="D_par"):
        tensor_from_field(1.0, 0.0, 1.0, 0.0, 0.01, FLOOR)


def test_tensor_from_config_uniform_field():
    """The convenience builder reproduces the analytic tensor of a uniform tilted field."""
    cfg = {
        "energy": {"min_GeV": 10.0, "max_GeV": 1000.0},
        "field": {"model": "uniform", "direction": [0.6, 0.0, 0.8]},
        "source": {"type": "point", "position_kpc": [-8.3, 0.0, 0.0]},
    }
    grid = AxisymmetricGrid(R_MAX, H, 6, 4)
    DRR, DRz, Dzz = tensor_from_config(cfg, "proton", 10.0, grid)
    assert DRR.shape == (7, 5)
    from sdeprop.config import load_config
    from sdeprop.models.diffusion import diffusion_at

    c = load_config(cfg)
    dpar, dperp = (float(a[0]) for a in diffusion_at(c.diffusion, "proton", 10.0))
    # at y = 0, R̂ = x̂: b_R = 0.6 b, b_z = 0.8 b (|B| ≫ floor for the default strength)
    np.testing.assert_allclose(DRz, (dpar - dperp) * 0.48, rtol=1e-5)
    np.testing.assert_allclose(DRR, dperp + (dpar - dperp) * 0.36, rtol=1e-5)
    np.testing.assert_allclose(Dzz, dperp + (dpar - dperp) * 0.64, rtol=1e-5)
