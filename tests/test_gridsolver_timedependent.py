"""Tests of the time-dependent θ-scheme solver (sdeprop.gridsolver.timedependent).

Gaussian tests (these are not the Cerri et al. 2017 appendix B cases G1–G3, which are in
tests/test_cerri17_appendix_b.py), with D0∥ = 1e28 cm²/s, ε = D⊥/D∥ = 0.05, B0 = 10 μG and the kernel's
field floor 1e-3 μG:

* isotropic: 3D Cartesian, D = D0∥ I, Gaussian initial condition of width σ0;
* oblique: 3D Cartesian, uniform oblique field b ∝ (1, 0.5, 1), D = D⊥ I + (D∥ − D⊥) b bᵀ, so all
  three cross terms are nonzero;
* (R, z) vertical: 2D axisymmetric (R, z), uniform vertical field: D_RR = D⊥, D_zz = D∥, D_Rz = 0.

The exact solution of each is the Gaussian with covariance σ0² I + 2Dt (``gaussian_solution``;
docs/physics.md §8.1 convolved with the initial Gaussian). The walls (ψ = 0) are at least 3.7
standard deviations away at the last output time. Their effect on the peak-normalised error is
≈ 1e-3 or less (the isotropic case loses 1.3e-3 of its content through them by t = 6 Myr). The error
is the max |ψ_grid − ψ_exact| / max ψ_exact over the grid. The time step is dt ∝ h, so the O(dt²)
Crank–Nicolson error also falls as h².

Tolerances: second order means e(2h)/e(h) → 4. The h⁴ terms are still visible at h/σ0 = ½, so
we require a ratio > 3. A first-order error would give 2. Absolute bounds are ≈ 1.3× the
measured error, which is the leading h² estimate C h² with C taken from the finer pair of grids.
Measured values are quoted next to each assert.
"""

import numpy as np
import pytest
import scipy.sparse.linalg as spla

from sdeprop.gridsolver.axisymmetric import AxisymmetricGrid, assemble_operator, solve_axisymmetric
from sdeprop.gridsolver.cartesian import CartesianGrid, field_aligned_tensor
from sdeprop.gridsolver.cartesian import assemble_operator as assemble_cartesian
from sdeprop.gridsolver.timedependent import (
    cell_volumes,
    gaussian_solution,
    march,
    march_axisymmetric,
    march_cartesian,
)
from sdeprop.units import diffusion_cm2_per_s_to_kpc2_per_myr

D0_PAR = diffusion_cm2_per_s_to_kpc2_per_myr(1e28)  # 0.0331 kpc²/Myr
EPS = 0.05
B0, FLOOR = 10.0, 1e-3  # μG
SIGMA0 = 0.5  # kpc, initial Gaussian width


def _unit_field(direction):
    """b = B/sqrt(|B|² + B_f²) for a uniform field of strength B0 (docs/physics.md §1.6, kernel floor)."""
    B = B0 * np.asarray(direction, float) / np.linalg.norm(direction)
    return B / np.sqrt(B @ B + FLOOR**2)


def _tensor_3d(case):
    """Constant 3×3 tensor [kpc²/Myr] of the isotropic case or the oblique uniform field."""
    if case == "isotropic":
        return D0_PAR * np.eye(3)
    return field_aligned_tensor(_unit_field([1.0, 0.5, 1.0]), D0_PAR, EPS * D0_PAR)


def _gaussian0(*coords):
    return np.exp(-sum(c * c for c in coords) / (2 * SIGMA0**2))


def _g3d_errors(case, n, L=3.0, times=(2.0, 6.0), dt_per_h=4.0):
    """Peak-normalised max error of the isotropic or oblique case on an n³ node grid over [−L, L]³,
    dt = dt_per_h · h."""
    D = _tensor_3d(case)
    g = CartesianGrid(L, L, L, n, n, n)
    h = 2 * L / (n - 1)
    sol = march_cartesian(g, np.broadcast_to(D, g.shape + (3, 3)), _gaussian0, list(times), dt=dt_per_h * h)
    # "auto": SuperLU up to 60 000 unknowns (25³), CG + Jacobi above (49³)
    assert sol.method == ("splu" if (n - 2) ** 3 <= 60_000 else "cg") and sol.residual < 1e-8
    pts = np.stack(g.mesh_kpc(), -1)
    errs = []
    for k, t in enumerate(times):
        exact = gaussian_solution(pts, t, D, SIGMA0)
        errs.append(np.max(np.abs(sol.psi[k] - exact)) / np.max(exact))
    return np.array(errs), sol


@pytest.mark.parametrize("case", ["isotropic", "oblique"])
def test_gaussian_3d_isotropic_and_oblique_second_order(case):
    # measured (2-core box), h = 0.25 → 0.125 kpc, t = 2 and 6 Myr:
    #   isotropic: 1.08e-2, 1.59e-2 → 2.52e-3, 3.84e-3 (ratios 4.29, 4.14)
    #   oblique: 1.22e-2, 2.37e-2 → 3.36e-3, 6.90e-3 (ratios 3.63, 3.44)
    # 33³ → 65³ over [−4, 4]³ to t = 15 Myr gives oblique ratios 3.50 / 3.17 (docs/gridsolver.md)
    e_coarse, _ = _g3d_errors(case, 25)
    e_fine, sol = _g3d_errors(case, 49)
    bound = {"isotropic": 5e-3, "oblique": 9e-3}[case]
    assert np.all(e_fine < bound), e_fine
    assert np.all(e_coarse / e_fine > 3.0), e_coarse / e_fine
    # content Σ V ψ is conserved up to the loss through the far walls: exact (2π)^{3/2} σ0³
    exact_content = (2 * np.pi) ** 1.5 * SIGMA0**3
    assert np.all(np.abs(sol.content / exact_content - 1) < 2e-3), sol.content / exact_content


def test_oblique_gaussian_needs_the_cross_terms():
    """Dropping the off-diagonal D_ij of the oblique case gives an error far above the discretisation
    error."""
    D = _tensor_3d("oblique")
    g = CartesianGrid(3.0, 3.0, 3.0, 25, 25, 25)
    Dn = np.broadcast_to(np.diag(np.diag(D)), g.shape + (3, 3))
    sol = march_cartesian(g, Dn, _gaussian0, [6.0], dt=1.0)
    exact = gaussian_solution(np.stack(g.mesh_kpc(), -1), 6.0, D, SIGMA0)
    err = np.max(np.abs(sol.psi[0] - exact)) / exact.max()
    # measured 0.193 without, 2.37e-2 with the cross terms (25³, t = 6 Myr)
    assert err > 5 * 2.37e-2, err


def _rz_vertical_errors(n, times=(10.0, 30.0), dt_per_h=8.0):
    """The vertical-field Gaussian on an (R, z) grid with R_max = 3, H = 6 kpc, n × 4n cells (h_R = h_z)."""
    Dpar, Dperp = D0_PAR, EPS * D0_PAR
    g = AxisymmetricGrid(3.0, 6.0, n, 4 * n)
    sol = march_axisymmetric(
        g, lambda R, z: (Dperp + 0 * R, 0 * R, Dpar + 0 * R), _gaussian0, list(times), dt=dt_per_h * g.dR_kpc
    )
    assert sol.method == "splu" and sol.residual < 1e-12
    R, z = g.centres_mesh()
    pts = np.stack([R, 0 * R, z], -1)
    D = np.diag([Dperp, Dperp, Dpar])
    errs = []
    for k, t in enumerate(times):
        exact = gaussian_solution(pts, t, D, SIGMA0)
        errs.append(np.max(np.abs(sol.psi[k] - exact)) / np.max(exact))
    return np.array(errs), sol


def test_rz_vertical_field_gaussian_second_order():
    # measured: h = 0.125, 0.0625 kpc: (3.23e-3, 5.53e-3) → (8.14e-4, 1.39e-3), ratios 3.97, 3.98;
    # h = 0.03125 gives (2.04e-4, 3.47e-4), ratios 3.99, 4.00 (docs/gridsolver.md)
    e1, _ = _rz_vertical_errors(24)
    e2, sol = _rz_vertical_errors(48)
    assert np.all(e2 < 1.8e-3), e2
    assert np.all(e1 / e2 > 3.5), e1 / e2
    exact_content = (2 * np.pi) ** 1.5 * SIGMA0**3
    assert np.all(np.abs(sol.content / exact_content - 1) < 2e-3), sol.content / exact_content


# ------------------------------------------------------------------------------------------
# time discretisation alone: compare with the exact solution of the semi-discrete ODE,
# ψ(t) = exp(A t) ψ0 (scipy expm_multiply), so the spatial error cancels.


def _tilted_bump_tensor(R, z):
    """Anisotropic tensor with D_Rz ≠ 0 (the tilted-bump field of tests/test_gridsolver_axisymmetric.py:
    B_z = B_inf + B0 exp(−R²/L_B²), B_R = B0 (R z/L_B²) exp(−R²/L_B²), B_inf = 1e-3 μG, L_B = 2 kpc)."""
    e = np.exp(-R * R / 4.0)
    Bz, BR = 1e-3 + B0 * e, B0 * (R * z / 4.0) * e
    norm = np.sqrt(BR * BR + Bz * Bz + FLOOR**2)
    bR, bz = BR / norm, Bz / norm
    dd = (1 - EPS) * D0_PAR
    return EPS * D0_PAR + dd * bR * bR, dd * bR * bz, EPS * D0_PAR + dd * bz * bz


@pytest.fixture(scope="module")
def aniso_2d():
    g = AxisymmetricGrid(10.0, 4.0, 30, 24)
    A = assemble_operator(g, _tilted_bump_tensor)
    R, z = g.centres_mesh()
    p0 = np.exp(-((R - 3) ** 2 + z**2) / (2 * 0.8**2))
    return g, A, p0


def test_time_order_crank_nicolson_and_backward_euler(aniso_2d):
    g, A, p0 = aniso_2d
    T = 40.0
    ref = spla.expm_multiply(A * T, p0.ravel()).reshape(p0.shape)

    def err(dt, theta):
        s = march(A, p0, [T], dt, theta=theta, volumes=cell_volumes(g))
        return np.max(np.abs(s.psi[0] - ref)) / np.max(np.abs(ref))

    cn = [err(dt, 0.5) for dt in (4.0, 2.0, 1.0)]
    be = [err(dt, 1.0) for dt in (4.0, 2.0, 1.0)]
    # measured CN 8.87e-4, 2.22e-4, 5.56e-5 (ratios 3.99, 4.00); BE 2.86e-2, 1.44e-2, 7.18e-3 (1.99, 2.00)
    assert cn[-1] < 8e-5 and be[-1] < 1e-2
    for a, b in zip(cn, cn[1:]):
        assert 3.6 < a / b < 4.4
    for a, b in zip(be, be[1:]):
        assert 1.8 < a / b < 2.2


def test_time_dependent_source_second_order(aniso_2d):
    """Manufactured in time: ψ = (1 + sin ωt) φ with Q(t) = ω cos ωt φ − (1 + sin ωt) A φ is the exact
    semi-discrete solution, so only the time error of the source weighting remains."""
    g, A, p0 = aniso_2d
    phi, w = p0.ravel(), 0.2
    src = lambda t: (w * np.cos(w * t) * phi - (1 + np.sin(w * t)) * (A @ phi)).reshape(p0.shape)
    times = [10.0, 30.0]

    def err(dt, theta):
        s = march(A, p0, times, dt, theta=theta, source=src)
        return max(np.max(np.abs(s.psi[k] - (1 + np.sin(w * t)) * p0)) for k, t in enumerate(times))

    cn = [err(dt, 0.5) for dt in (2.0, 1.0, 0.5)]
    be = [err(dt, 1.0) for dt in (2.0, 1.0)]
    # measured CN 8.86e-3, 2.20e-3, 5.50e-4 (ratios 4.02, 4.01); BE 0.238, 0.118 (2.01)
    assert cn[-1] < 8e-4
    assert cn[0] / cn[1] > 3.6 and cn[1] / cn[2] > 3.6
    assert 1.8 < be[0] / be[1] < 2.2


def test_rannacher_startup_damps_crank_nicolson_ringing():
    """A single hot cell with h λ_max ≈ 80: CN alone rings (stiff modes × ≈ −1 per step), two
    Rannacher start-up steps remove the ringing; reference exp(A t) ψ0."""
    g = AxisymmetricGrid(4.0, 4.0, 32, 32)
    A = assemble_operator(g, lambda R, z: (D0_PAR + 0 * R, 0 * R, D0_PAR + 0 * R))
    d0 = np.zeros((32, 32))
    d0[12, 16] = 1.0
    T, dt = 15.0, 5.0
    ref = spla.expm_multiply(A * T, d0.ravel()).reshape(d0.shape)
    res = {}
    for k in (0, 2):
        s = march(A, d0, [T], dt, rannacher_steps=k, volumes=cell_volumes(g))
        res[k] = (s.psi[0].min() / s.psi[0].max(), np.max(np.abs(s.psi[0] - ref)) / ref.max(), s)
    # measured: plain CN min/max = −3.18, error 89 × peak; with 2 start-up steps 7e-6 and 5.4e-2
    assert res[0][0] < -1.0 and res[0][1] > 10.0
    assert res[2][0] > -1e-4 and res[2][1] < 0.1
    s = res[2][2]
    assert s.n_steps == 5 and s.n_matrices == 1  # 2 × 2 half steps + 1 CN step, one LU
    # backward Euler is positive too, but first order: much larger error (measured 0.44)
    be = march(A, d0, [T], dt, theta=1.0)
    assert np.max(np.abs(be.psi[0] - ref)) / ref.max() > 3 * res[2][1]


def test_long_time_limit_is_the_stationary_solution(aniso_2d):
    """With a constant source the march tends to the solve_axisymmetric solution; the slowest mode
    decays as exp(λ1 t) (λ1 = largest eigenvalue of A, −1.48e-3 /Myr here)."""
    g, A, _ = aniso_2d
    R, z = g.centres_mesh()
    Q = np.exp(-((R - 3) ** 2 + z**2) / 0.5)
    st = solve_axisymmetric(_tilted_bump_tensor, Q, R_max_kpc=10.0, H_kpc=4.0, n_R=30, n_z=24)
    lam1 = np.max(np.linalg.eigvals(A.toarray()).real)
    assert lam1 < 0
    T = 20.0 / abs(lam1)
    s = march_axisymmetric(
        g, _tilted_bump_tensor, np.zeros_like(R), [T], dt=20.0, source=Q, rannacher_steps=2
    )
    diff = np.max(np.abs(s.psi[0] - st.psi)) / st.psi.max()
    assert diff < 20 * np.exp(-20.0), diff  # measured 1.0e-9 (e^{−20} = 2.1e-9)
    assert s.residual < 1e-12


def test_solver_paths_agree():
    """splu, cg (3D, symmetric) and bicgstab give the same march to the Krylov tolerance."""
    g = CartesianGrid(2.0, 2.0, 2.0, 13, 13, 13)
    D = np.broadcast_to(_tensor_3d("oblique"), g.shape + (3, 3))
    A = assemble_cartesian(g, D)
    runs = {
        m: march_cartesian(g, D, _gaussian0, [3.0, 6.0], dt=1.0, A=A, method=m, rtol=1e-12)
        for m in ("splu", "cg", "bicgstab")
    }
    for m in ("cg", "bicgstab"):
        assert np.max(np.abs(runs[m].psi - runs["splu"].psi)) < 1e-9 * runs["splu"].psi.max()
        assert runs[m].residual < 1e-10
    assert np.all(runs["cg"].psi[:, 0] == 0) and np.all(runs["cg"].psi[:, :, :, -1] == 0)
    # the 2D anisotropic operator is not symmetric in the volume weighting: cg is refused
    g2 = AxisymmetricGrid(10.0, 4.0, 10, 8)
    with pytest.raises(ValueError, match="symmetric"):
        march(
            assemble_operator(g2, _tilted_bump_tensor),
            np.ones(80),
            [1.0],
            0.5,
            method="cg",
            volumes=cell_volumes(g2),
        )


def test_output_times_hit_exactly_and_t0_snapshot():
    g = AxisymmetricGrid(4.0, 4.0, 8, 8)
    A = assemble_operator(g, lambda R, z: (D0_PAR + 0 * R, 0 * R, D0_PAR + 0 * R))
    p0 = np.ones((8, 8))
    s = march(A, p0, [0.0, 1.0, 3.5], dt=1.0)
    assert np.array_equal(s.psi[0], p0)
    assert s.n_steps == 1 + 3  # 1 step to t = 1, ⌈2.5⌉ = 3 steps of 5/6 Myr to t = 3.5
    # the first output is reached by one full step, exactly as a run that stops there
    assert np.array_equal(march(A, p0, [1.0], dt=1.0).psi[0], s.psi[1])
    # and the 5/6-Myr steps afterwards match a run of 3 steps from that state
    rest = march(A, s.psi[1], [2.5], dt=1.0)
    assert np.max(np.abs(rest.psi[0] - s.psi[2])) <= 1e-12 * p0.max()


def test_bad_input_raises():
    g = AxisymmetricGrid(4.0, 4.0, 6, 6)
    A = assemble_operator(g, lambda R, z: (D0_PAR + 0 * R, 0 * R, D0_PAR + 0 * R))
    p0 = np.ones(36)
    with pytest.raises(ValueError, match="dt"):
        march(A, p0, [1.0], -0.1)
    with pytest.raises(ValueError, match="dt"):
        march(A, p0, [1.0], np.nan)
    with pytest.raises(ValueError, match="increasing"):
        march(A, p0, [2.0, 1.0], 0.1)
    with pytest.raises(ValueError, match="increasing"):
        march(A, p0, [1.0, 1.0], 0.1)
    with pytest.raises(ValueError, match="t0"):
        march(A, p0, [1.0], 0.1, t0=2.0)
    with pytest.raises(ValueError, match="non-empty"):
        march(A, p0, [], 0.1)
    with pytest.raises(ValueError, match="elements"):
        march(A, np.ones(35), [1.0], 0.1)
    with pytest.raises(ValueError, match="square"):
        march(A[:5], p0, [1.0], 0.1)
    with pytest.raises(ValueError, match="square"):
        march(A.toarray(), p0, [1.0], 0.1)
    with pytest.raises(ValueError, match="theta"):
        march(A, p0, [1.0], 0.1, theta=0.3)
    with pytest.raises(ValueError, match="rannacher"):
        march(A, p0, [1.0], 0.1, rannacher_steps=-1)
    with pytest.raises(ValueError, match="volumes"):
        march(A, p0, [1.0], 0.1, volumes=np.ones(5))
    with pytest.raises(ValueError, match="volumes"):
        march(A, p0, [1.0], 0.1, volumes=-np.ones(36))
    with pytest.raises(ValueError, match="source"):
        march(A, p0, [1.0], 0.1, source=np.ones(7))
    with pytest.raises(ValueError, match="source"):
        march(A, p0, [1.0], 0.1, source=lambda t: np.ones(7))
    with pytest.raises(ValueError, match="method"):
        march(A, p0, [1.0], 0.1, method="jacobi")
    with pytest.raises(ValueError, match="non-finite"):
        march(A, np.full(36, np.nan), [1.0], 0.1)
    with pytest.raises(ValueError, match="psi0"):
        march_axisymmetric(
            g, lambda R, z: (D0_PAR + 0 * R, 0 * R, D0_PAR + 0 * R), np.ones((5, 6)), [1.0], 0.1
        )
    gc = CartesianGrid(1.0, 1.0, 1.0, 5, 5, 5)
    Dc = np.broadcast_to(np.eye(3) * D0_PAR, gc.shape + (3, 3))
    with pytest.raises(ValueError, match="psi0"):
        march_cartesian(gc, Dc, np.ones((3, 3, 3)), [1.0], 0.1)
    with pytest.raises(ValueError, match="source"):
        march_cartesian(gc, Dc, np.ones(gc.shape), [1.0], 0.1, source=np.ones((3, 3, 3)))
    with pytest.raises(ValueError, match="grid"):
        cell_volumes("grid")
    with pytest.raises(ValueError, match="sigma0"):
        gaussian_solution(np.zeros((2, 3)), 1.0, np.eye(3), -1.0)
