"""Tests of the 3D Cartesian finite-difference solver (sdeprop.gridsolver.cartesian).

Manufactured solutions: the source Q = −∇·(D∇ψ) is computed from the analytic flux
F_i = D_ij ∂_j ψ (ψ and ∇ψ analytic, D analytic) by a fourth-order central difference of F with
step 1e-3 kpc (truncation ~1e-12, far below the discretisation errors tested); sympy is not
installed in the dev venv.
"""

import numpy as np
import pytest

from sdeprop.gridsolver.cartesian import (
    CartesianGrid,
    assemble_operator,
    field_aligned_tensor,
    solve_stationary,
)

X, Y, H = 2.0, 1.5, 1.0


def psi_exact(x, y, z):
    return np.cos(np.pi * x / (2 * X)) * np.cos(np.pi * y / (2 * Y)) * np.cos(np.pi * z / (2 * H))


def grad_psi(x, y, z):
    kx, ky, kz = np.pi / (2 * X), np.pi / (2 * Y), np.pi / (2 * H)
    cx, sx = np.cos(kx * x), np.sin(kx * x)
    cy, sy = np.cos(ky * y), np.sin(ky * y)
    cz, sz = np.cos(kz * z), np.sin(kz * z)
    return np.stack([-kx * sx * cy * cz, -ky * cx * sy * cz, -kz * cx * cy * sz], -1)


def d_aniso(x, y, z):
    """Field-aligned tensor with b̂ ∝ (−y + 0.4 z, x + 0.5, 1): direction rotating in x–y and
    tilting with z; D∥ = 1 + 0.3 x + 0.2 sin z, D⊥ = 0.1 (kpc²/Myr), so ∂_i D_ij ≠ 0."""
    v = np.stack([-y + 0.4 * z, x + 0.5, np.ones_like(x)], -1)
    b = v / np.linalg.norm(v, axis=-1, keepdims=True)
    return field_aligned_tensor(b, 1.0 + 0.3 * x + 0.2 * np.sin(z), 0.1)


def source_for(Dfun, d=1e-3, conservative=True):
    """Q = −∂_i(D_ij ∂_j ψ) (or −D_ij ∂_i∂_j ψ when conservative=False, for the sensitivity check)."""

    def flux(x, y, z, D=None):
        return np.einsum("...ij,...j->...i", Dfun(x, y, z) if D is None else D, grad_psi(x, y, z))

    def Q(x, y, z):
        D0 = Dfun(x, y, z)
        div = 0.0
        for a in range(3):

            def F(s):
                p = [x, y, z]
                p[a] = p[a] + s * d
                return flux(*p, D=None if conservative else D0)[..., a]

            div = div + (8 * (F(1) - F(-1)) - (F(2) - F(-2))) / (12 * d)
        return -div

    return Q


def _max_err(n, Dfun, **kw):
    g = CartesianGrid(X, Y, H, n, n, n)
    sol = solve_stationary(g, Dfun, source_for(Dfun), **kw)
    assert sol.relative_residual < 1e-8
    return np.max(np.abs(sol.psi - psi_exact(*g.mesh_kpc()))), sol


def test_isotropic_constant_manufactured():
    D0 = 0.7
    g = CartesianGrid(X, Y, H, 25, 25, 25)
    Q = D0 * np.pi**2 * (1 / (4 * X**2) + 1 / (4 * Y**2) + 1 / (4 * H**2)) * psi_exact(*g.mesh_kpc())
    D = field_aligned_tensor(np.zeros(g.shape + (3,)), 0.0, D0)  # D0 I
    sol = solve_stationary(g, D, Q)
    err = np.max(np.abs(sol.psi - psi_exact(*g.mesh_kpc())))
    assert sol.relative_residual < 1e-9 and sol.iterations > 0
    assert err < 3e-3, err  # 2nd-order truncation: ~ (π h)²/(48 X²) × 3 terms ≈ 1.2e-3


def test_anisotropic_varying_field_manufactured():
    err, sol = _max_err(25, d_aniso)
    assert err < 5e-3, err
    # the test is sensitive to the ∂_i D_ij ∂_j ψ terms: the non-conservative source differs a lot
    g = sol.grid
    q_c = source_for(d_aniso)(*g.mesh_kpc())
    q_nc = source_for(d_aniso, conservative=False)(*g.mesh_kpc())
    assert np.max(np.abs(q_c - q_nc)) > 0.05 * np.max(np.abs(q_c))
    # and a solve with the wrong (non-conservative) source misses ψ by far more than err
    wrong = solve_stationary(g, d_aniso, q_nc)
    assert np.max(np.abs(wrong.psi - psi_exact(*g.mesh_kpc()))) > 10 * err


@pytest.mark.parametrize("method", ["cg", "bicgstab", "direct"])
def test_second_order_convergence(method):
    e1, _ = _max_err(13, d_aniso, method=method)
    e2, _ = _max_err(25, d_aniso, method=method)
    assert e1 / e2 > 3.0, (e1, e2, e1 / e2)


def test_matrix_symmetric_negative_definite():
    g = CartesianGrid(X, Y, H, 9, 8, 7)
    A = assemble_operator(g, d_aniso)
    assert abs(A - A.T).max() <= 1e-12 * abs(A).max()
    ev = np.linalg.eigvalsh(A.toarray())
    assert ev.max() < 0
    # strongly anisotropic (ε = 0.01) uniform oblique field: still definite
    b = np.broadcast_to(np.array([1.0, 2.0, 1.5]) / np.sqrt(7.25), g.shape + (3,))
    A2 = assemble_operator(g, field_aligned_tensor(b, 1.0, 0.01))
    assert abs(A2 - A2.T).max() <= 1e-12 * abs(A2).max()
    assert np.linalg.eigvalsh(A2.toarray()).max() < 0
    # constants are annihilated away from the boundary (row sums 0 in the deep interior)
    full = np.ones(g.shape)
    full[[0, -1], :, :] = full[:, [0, -1], :] = full[:, :, [0, -1]] = 0.0
    r = (A @ full[1:-1, 1:-1, 1:-1].ravel()).reshape(7, 6, 5)
    assert np.max(np.abs(r[2:-2, 2:-2, 2:-2])) < 1e-12 * abs(A).max()


def test_bad_input():
    g = CartesianGrid(X, Y, H, 7, 7, 7)
    good = field_aligned_tensor(np.zeros(g.shape + (3,)), 0.0, 1.0)
    with pytest.raises(ValueError, match="shape"):
        solve_stationary(g, good[:-1], 1.0)
    with pytest.raises(ValueError, match="shape"):
        solve_stationary(g, good, np.ones((3, 3, 3)))
    bad = good.copy()
    bad[1, 1, 1, 0, 1] = 0.5
    with pytest.raises(ValueError, match="symmetric"):
        solve_stationary(g, bad, 1.0)
    bad = good.copy()
    bad[2, 2, 2, 2, 2] = -1.0
    with pytest.raises(ValueError, match="> 0"):
        solve_stationary(g, bad, 1.0)
    bad = good.copy()
    bad[0, 0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        solve_stationary(g, bad, 1.0)
    with pytest.raises(ValueError, match="method"):
        solve_stationary(g, good, 1.0, method="jacobi")
    with pytest.raises(ValueError, match="preconditioner"):
        solve_stationary(g, good, 1.0, preconditioner="multigrid")
    with pytest.raises(ValueError, match="nx"):
        CartesianGrid(X, Y, H, 2, 7, 7)
    with pytest.raises(ValueError, match="z_half_kpc"):
        CartesianGrid(X, Y, -1.0, 7, 7, 7)
    with pytest.raises(ValueError, match="last axis"):
        field_aligned_tensor(np.zeros((4, 2)), 1.0, 0.1)


def test_from_config_uniform_field():
    """Builder from sdeprop's models: uniform field along x gives D_xx = D⊥ + (D∥ − D⊥)|b|²
    (|b|² from the field floor), D_zz = D⊥, no cross terms; the solve is positive and z-symmetric."""
    from sdeprop.config import load_config
    from sdeprop.gridsolver.cartesian import diffusion_tensor_from_config, solve_from_config
    from sdeprop.models.diffusion import diffusion_at

    cfg = load_config({"field": {"model": "uniform", "direction": [1.0, 0.0, 0.0], "strength_uG": 3.0}})
    g = CartesianGrid(4.0, 4.0, 1.0, 9, 9, 11)
    D = diffusion_tensor_from_config(cfg, g, 10.0)
    dpar, dperp = diffusion_at(cfg.diffusion, cfg.species.name, 10.0)
    bf = cfg.numerics.field_floor_uG
    b2 = 9.0 / (9.0 + bf * bf)
    assert np.allclose(D[..., 0, 0], dperp[0] + (dpar[0] - dperp[0]) * b2)
    assert np.allclose(D[..., 2, 2], dperp[0]) and np.allclose(D[..., 0, 1], 0.0)
    assert np.all(D[..., 0, 0] > 5 * D[..., 2, 2])
    sol = solve_from_config(cfg, g, 10.0, lambda x, y, z: np.exp(-((z / 0.2) ** 2)))
    inner = sol.psi[1:-1, 1:-1, 1:-1]
    assert sol.relative_residual < 1e-9 and np.all(inner > 0)
    assert np.allclose(sol.psi, sol.psi[:, :, ::-1], rtol=1e-7, atol=1e-9 * inner.max())
    with pytest.raises(ValueError, match="kinetic_GeV"):
        diffusion_tensor_from_config(cfg, g, -1.0)
