"""Energy marching of the grid solver (sdeprop.gridsolver.energy).

Oracle: the Syrovatskii steady solution for electrons with b = b0E², D = D0(E/E_ref)^δ
(docs/physics.md §8.5, sdeprop.analytic).  The source is a smooth Gaussian
Q(E) exp(−r²/σ²)/(πσ²)^{3/2} instead of a point, so the oracle is the point-source solution
with the kernel's λ² replaced by λ² + σ² (a Gaussian convolved with a Gaussian), evaluated
pointwise at the cell centres; the grid solution then converges at the scheme's order
instead of being limited by the point-source singularity.  Box |z|, R ≤ 3.6 kpc against
√(λ²_max + σ²) ≈ 0.78 kpc: the ψ = 0 walls cost e^{−21}.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from sdeprop import analytic as an
from sdeprop.gridsolver.axisymmetric import (
    AxisymmetricGrid,
    assemble_operator,
    solve_axisymmetric,
    tensor_from_config,
)
from sdeprop.gridsolver.energy import (
    axisymmetric_cell_volumes_kpc3,
    axisymmetric_loss_rate_from_config,
    axisymmetric_operator_from_config,
    direct_solver,
    krylov_solver,
    march_energies,
)

D0, E_REF, DELTA, B0 = 0.1, 100.0, 0.5, 1e-2  # kpc²/Myr, GeV, -, GeV⁻¹ Myr⁻¹
E_MIN, E_MAX, SIGMA = 100.0, 1000.0, 0.25  # GeV, GeV, kpc
BOX = 3.6  # kpc (R_max and H)


def q_spec(E):
    return (np.asarray(E, dtype=float) / 100.0) ** -2.0


def setup(h, K):
    g = AxisymmetricGrid(BOX, BOX, int(round(BOX / h)), int(round(2 * BOX / h)))
    R, z = g.centres_mesh()
    shape = (np.exp(-(R**2 + z**2) / SIGMA**2) / (np.pi * SIGMA**2) ** 1.5).ravel()
    L1 = assemble_operator(g, lambda R, z: (1.0, 0.0, 1.0))
    E = np.geomspace(E_MIN, E_MAX, K)
    return g, shape, L1, E


def run(h, K, scheme, **kw):
    g, shape, L1, E = setup(h, K)
    sol = march_energies(
        lambda e: D0 * (e / E_REF) ** DELTA * L1,
        E,
        lambda e: q_spec(e) * shape,
        lambda e: B0 * e * e,
        scheme=scheme,
        **kw,
    )
    return g, shape, sol


def oracle(g, E):
    R, z = g.centres_mesh()
    r = np.hypot(R, z).ravel()
    return an.syrovatskii_steady_region_average(
        lambda v: an.gaussian_kernel_per_kpc3(r[:, None], v + SIGMA**2),
        np.full(r.size, SIGMA),
        np.full(r.size, E),
        q_spec,
        E_MAX,
        D0,
        E_REF,
        DELTA,
        B0,
    )


def rel_err(a, b):
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def test_energy_order_upwind_first_bdf2_second():
    """At fixed space grid, against a fine-ΔE bdf2 reference: upwind error halves per halving
    of Δ ln E (first order), bdf2 error drops ~4× (second order)."""
    _, _, ref = run(0.2, 321, "bdf2")
    errs = {}
    for scheme in ("upwind", "bdf2"):
        errs[scheme] = []
        for K in (21, 41, 81):
            _, _, sol = run(0.2, K, scheme)
            # compare at the shared energies E = 100, 158, 251, 398, 631 GeV (every (K-1)/5 th)
            idx = np.arange(0, K - 1, (K - 1) // 5)
            ridx = np.arange(0, 321 - 1, 320 // 5)
            errs[scheme].append(max(rel_err(sol.psi[i], ref.psi[j]) for i, j in zip(idx, ridx)))
            assert np.all(sol.residuals < 1e-10)
    up, b2 = np.array(errs["upwind"]), np.array(errs["bdf2"])
    # measured: upwind 3.5e-2, 1.8e-2, 8.8e-3; bdf2 1.3e-2, 3.6e-3, 9e-4
    assert np.all(1.7 < up[:-1] / up[1:]) and np.all(up[:-1] / up[1:] < 2.4), up
    assert np.all(3.3 < b2[:-1] / b2[1:]) and np.all(b2[:-1] / b2[1:] < 5.0), b2
    assert b2[-1] < 0.3 * up[-1]


def test_syrovatskii_space_convergence_and_agreement():
    """bdf2 with 41 energies (energy error ~1e-3) on h = 0.2 and 0.1 kpc: the error against the
    Syrovatskii solution falls ~4× (second order in space), and the h = 0.1 error stays below
    1.5 × the second-order prediction err(0.2)/4 (measured 0.13 → 0.035)."""
    errs = []
    for h in (0.2, 0.1):
        g, _, sol = run(h, 41, "bdf2")
        e = 0.0
        for k in (0, 10, 20, 30):  # 100, 178, 316, 562 GeV
            e = max(e, rel_err(sol.psi[k], oracle(g, sol.energies_GeV[k])))
        errs.append(e)
        assert np.all(sol.psi >= -1e-12 * sol.psi.max())
        np.testing.assert_array_equal(sol.psi[-1], 0.0)
    assert 3.2 < errs[0] / errs[1] < 4.8, errs
    assert errs[1] < 1.5 * errs[0] / 4.0, errs
    assert errs[1] < 0.05


def test_volume_integral_conservation():
    """Σ V ψ_k against (1/b(E)) ∫_E^{E_max} Q_tot dE′ (docs/physics.md §8.5; leakage through the walls
    ~e^{−21}) within the energy quadrature error, and, for upwind, exactly the discrete continuity
    b_k N_k = b_{k+1} N_{k+1} + h_k (Q_tot,k − leak_k), leak_k = −Σ V L_k ψ_k the wall outflow."""
    for scheme, tol in (("upwind", 0.08), ("bdf2", 0.01)):
        g, shape, L1, E = setup(0.2, 41)
        sol = run(0.2, 41, scheme)[2]
        V = axisymmetric_cell_volumes_kpc3(g)
        Ntot = sol.psi @ V
        qtot = q_spec(E) * (V @ shape)
        exact = an.uniform_source_density(E[:-1], q_spec, E_MAX, lambda e: B0 * e * e) * (V @ shape)
        err = rel_err(Ntot[:-1], exact)
        assert err < tol, err  # measured 5.9e-2 (upwind, first order in Δ ln E = 0.058), 6.6e-3 (bdf2)
        if scheme == "upwind":
            leak = np.array([-(V @ (D0 * (e / E_REF) ** DELTA * (L1 @ p))) for e, p in zip(E, sol.psi)])
            assert np.all(np.abs(leak) < 1e-6 * qtot)  # measured ≤ 1.6e-7 (at 100 GeV)
            lhs = B0 * E[:-1] ** 2 * Ntot[:-1]
            rhs = B0 * E[1:] ** 2 * Ntot[1:] + np.diff(E) * (qtot[:-1] - leak[:-1])
            np.testing.assert_allclose(lhs, rhs, rtol=1e-10)


def test_loss_free_equals_independent_solves():
    g = AxisymmetricGrid(4.0, 2.0, 16, 12)
    R, z = g.centres_mesh()
    Q2d = np.exp(-((R - 1.0) ** 2 + z**2))
    E = np.array([1.0, 10.0, 100.0])
    cfg = {
        "energy": {"min_GeV": 1.0, "max_GeV": 100.0},
        "field": {"model": "uniform", "direction": [0.6, 0.0, 0.8]},
        "source": {"type": "point", "position_kpc": [-8.3, 0.0, 0.0]},
    }
    op = axisymmetric_operator_from_config(cfg, g, "proton")
    sol = march_energies(op, E, lambda e: Q2d.ravel() * e**-2.0)
    assert sol.scheme == "independent"
    for k, e in enumerate(E):
        tens = tensor_from_config(cfg, "proton", e, g)
        ref = solve_axisymmetric(tens, Q2d * e**-2.0, R_max_kpc=4.0, H_kpc=2.0, n_R=16, n_z=12)
        np.testing.assert_allclose(sol.psi[k].reshape(16, 12), ref.psi, rtol=1e-10, atol=0)
    # array input for the source and a Krylov solver give the same answer
    sol2 = march_energies(
        op,
        E,
        np.array([Q2d.ravel() * e**-2.0 for e in E]),
        solve=krylov_solver(rtol=1e-12, method="bicgstab"),
    )
    np.testing.assert_allclose(sol2.psi, sol.psi, rtol=1e-8, atol=1e-10 * np.abs(sol.psi).max())


def test_loss_rate_from_config():
    g = AxisymmetricGrid(10.0, 2.0, 4, 3)
    E = np.array([10.0, 100.0])
    assert axisymmetric_loss_rate_from_config({"species": {"name": "electron"}}, g, E) is None
    from sdeprop.units import MYR_S

    b = axisymmetric_loss_rate_from_config(
        {"species": {"name": "electron"}, "losses": {"model": "quadratic", "b0_per_GeV_per_s": 2e-16}}, g, E
    )
    np.testing.assert_allclose(b, np.repeat((2e-16 * MYR_S * E**2)[:, None], 12, axis=1), rtol=1e-14)
    cfg = {
        "species": {"name": "electron"},
        "energy": {"min_GeV": 10.0, "max_GeV": 1000.0},
        "losses": {"model": "galactic", "magnetic_field_uG": 5.0},
    }
    b = axisymmetric_loss_rate_from_config(cfg, g, E)
    from sdeprop.config import load_config
    from sdeprop.models.losses import LossModel

    lm = LossModel.from_config(load_config(cfg))
    R, z = g.centres_mesh()
    n = 1 * 3 + 2  # cell (i=1, j=2)
    np.testing.assert_allclose(b[:, n], lm.total_rate((R[1, 2], 0.0, z[1, 2]), E) * MYR_S, rtol=1e-12)
    assert np.all(b > 0) and b.shape == (2, 12)


def test_bad_input():
    L = sp.identity(4, format="csr") * -1.0
    op = lambda e: L  # noqa: E731
    q = lambda e: np.ones(4)  # noqa: E731
    with pytest.raises(ValueError, match="increasing"):
        march_energies(op, [1.0, 1.0, 2.0], q, lambda e: np.ones(4))
    with pytest.raises(ValueError, match="increasing"):
        march_energies(op, [2.0, 1.0], q)
    with pytest.raises(ValueError, match="> 0"):
        march_energies(op, [0.0, 1.0], q)
    with pytest.raises(ValueError, match="negative"):
        march_energies(op, [1.0, 2.0], q, lambda e: -np.ones(4))
    with pytest.raises(ValueError, match="shape"):
        march_energies(op, [1.0, 2.0], lambda e: np.ones(5), lambda e: np.ones(4))
    with pytest.raises(ValueError, match="shape"):
        march_energies(op, [1.0, 2.0], q, lambda e: np.ones(3))
    with pytest.raises(ValueError, match="shape"):
        march_energies(op, [1.0, 2.0], np.ones((3, 4)))
    with pytest.raises(ValueError, match="scheme"):
        march_energies(op, [1.0, 2.0], q, 1.0, scheme="trapezoid")
    with pytest.raises(ValueError, match="two energies"):
        march_energies(op, [1.0], q, 1.0)
    with pytest.raises(ValueError, match="psi_top"):
        march_energies(op, [1.0, 2.0], q, 1.0, psi_top=np.ones(3))
    with pytest.raises(ValueError, match="non-finite"):
        march_energies(op, [1.0, 2.0], lambda e: np.full(4, np.nan))
    # a scalar b and ψ_top are accepted; direct_solver is the default for small N
    sol = march_energies(op, [1.0, 2.0], q, 1.0, solve=direct_solver)
    np.testing.assert_allclose(sol.psi[0], 1.0 / (1.0 + 1.0))


def test_cartesian_grid_with_krylov_solver():
    """The march on the 3D Cartesian operator (interior nodes): cg + Jacobi (the matrix
    diag(b/h) − L is symmetric there) equals the direct solve, and the particle count follows
    the discrete continuity within the wall leakage."""
    from sdeprop.gridsolver.cartesian import CartesianGrid
    from sdeprop.gridsolver.cartesian import assemble_operator as assemble_3d

    g = CartesianGrid(3.0, 3.0, 3.0, 17, 17, 17)
    L1 = assemble_3d(g, np.broadcast_to(np.eye(3), g.shape + (3, 3)).copy())
    x, y, z = (a[1:-1, 1:-1, 1:-1].ravel() for a in g.mesh_kpc())
    shape = np.exp(-(x**2 + y**2 + z**2) / 0.25)
    E = np.geomspace(E_MIN, E_MAX, 9)
    args = (lambda e: D0 * (e / E_REF) ** DELTA * L1, E, lambda e: q_spec(e) * shape, lambda e: B0 * e * e)
    sol_cg = march_energies(*args, scheme="bdf2", solve=krylov_solver(rtol=1e-12, method="cg"))
    sol_lu = march_energies(*args, scheme="bdf2", solve=direct_solver)
    np.testing.assert_allclose(sol_cg.psi, sol_lu.psi, rtol=0, atol=1e-9 * sol_lu.psi.max())
    sol = march_energies(*args, scheme="upwind")
    hx = g.spacing_kpc[0]
    N = sol.psi.sum(axis=1) * hx**3
    lhs = B0 * E[:-1] ** 2 * N[:-1]
    rhs = B0 * E[1:] ** 2 * N[1:] + np.diff(E) * q_spec(E[:-1]) * shape.sum() * hx**3
    np.testing.assert_allclose(lhs, rhs, rtol=5e-4)  # wall leakage at 3 kpc: measured 1.2e-4 at 100 GeV
