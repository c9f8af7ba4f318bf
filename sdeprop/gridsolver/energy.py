"""Energy dimension of the stationary grid solvers: ∇·(D(E)∇ψ) + ∂_E(b ψ) + Q = 0.

ψ(E, x) [kpc⁻³ GeV⁻¹] on a list of energies E_0 < E_1 < … < E_{K−1} [GeV], with any spatial
discretisation that gives, per energy, a sparse matrix L(E) with Lψ ≈ ∇·(D(E)∇ψ) [Myr⁻¹ × ψ]
(``sdeprop.gridsolver.axisymmetric.assemble_operator`` or ``…cartesian.assemble_operator``).
Units: Q in kpc⁻³ Myr⁻¹ GeV⁻¹, b = −dE/dt ≥ 0 in GeV Myr⁻¹ (a spatial array per energy: losses
may vary in space), D in kpc²/Myr.

* No losses (``loss_rate_at=None``): one independent elliptic solve per energy, −L_k ψ_k = Q_k.
* With losses: march from the highest energy down (particles only lose energy, so ψ at E
  depends on ψ above E only).  With u = bψ and the "time" t = −E the equation reads
  du/dt = Lψ + Q, an implicit-in-space stiff ODE.  The top energy E_{K−1} is the upper
  boundary: ψ there is ``psi_top`` (default 0 — put the top at or above the highest injected
  energy; for a source spectrum cut at E_max the exact steady solution vanishes at E_max).
  Steps h_k = E_{k+1} − E_k:

  - ``scheme="upwind"`` (backward Euler in −E; the upwind loss operator of Borisov &
    Kudryashov 2025, eqs. 13–15 — the paper was not read here, the scheme is derived above):
        (diag(b_k)/h_k − L_k) ψ_k = Q_k + b_{k+1} ψ_{k+1}/h_k,
    first order in h.  Unconditionally stable and positive (an M-matrix when −L is one).
  - ``scheme="bdf2"`` (second order; variable-step BDF2 in −E, the first step from the top
    by upwind):
        (diag(b_k)/(β h_k) − L_k) ψ_k = Q_k + (c₁ b_{k+1} ψ_{k+1} − c₂ b_{k+2} ψ_{k+2})/(β h_k),
    ω = h_k/h_{k+1}, β = (1+ω)/(1+2ω), c₁ = (1+ω)²/(1+2ω), c₂ = ω²/(1+2ω).  Same matrix
    structure and cost as upwind.  BDF2 is chosen over the trapezoid (Crank–Nicolson in E):
    a point-like source excites spatial modes with decay rate λ ≫ b/h, for which the
    trapezoid's amplification factor is ≈ −1 (the start from ψ_top = 0 then oscillates
    undamped through the whole spectrum), whereas BDF2 damps them (L-stable).  Zero-stable
    for ω < 1 + √2 (log-spaced energies marched downward have ω < 1).

  Both schemes conserve particles exactly: summing a row block with the cell volumes, the
  space operator only contributes the boundary leakage, so Σ_V b_k ψ_k = Σ_{j≥k} h_j Q_tot,j
  (upwind) − leakage — the discrete form of ∫ψ dV = (1/b) ∫_E Q dE′ (docs/physics.md §8.5).

* Catastrophic losses (``removal_rate_at``): +ν on the diagonal of every solve (the term −νψ).
* Reacceleration (:func:`solve_coupled`): momentum diffusion couples the energies both ways, so the
  march is replaced by one sparse block system for ψ(E_k, x) on a (log-spaced) list of energies,

      −L_k ψ_k + ν_k ψ_k − (b_{k+1} ψ_{k+1} − b_k ψ_k)/w_k + (J_{k+½} − J_{k−½})/w_k = Q_k,

  w_k the width of the control volume [E_{k−½}, E_{k+½}] (midpoints; half cells at the two ends,
  :func:`control_widths`), the loss drift upwinded as in the march, and the momentum-diffusion flux of
  ∂_p[p² D_pp ∂_p(N/p²)] for N = βψ per unit momentum (c = 1; ψ = N dp/dE) in the three-point form
      J_{k+½} = −p_{k+½}⁴ K_{k+½} (f_{k+1} − f_k)/(p_{k+1} − p_k),   f = N/p² = βψ/p²,
  p_{k+½} = sqrt(p_k p_{k+1}), K = D_pp/p² per cell at E_{k+½}.  J vanishes for f = const (the
  equilibrium of momentum diffusion), and summing the rows with w_k and the cell volumes telescopes
  the energy terms: Σ_k w_k Σ V ψ ν_k + leakage + b_0 Σ V ψ_0 = Σ_k w_k Σ V Q_k — particles are
  conserved exactly (measured 3e-15 in the leaky box).  Energy boundaries: zero flux in p at the bottom
  and at the top; the loss drift leaves through the bottom and nothing enters through the top.  Second
  order in Δ ln E for the momentum diffusion (leaky box and reaccelerated slab, tests/
  test_gridsolver_transport.py), first order for the upwinded loss drift.  Solved by splu up to 3·10⁴
  unknowns, otherwise by GMRES with the downward block sweep (one splu per energy block) as
  preconditioner.

Measured (tests/test_gridsolver_energy.py; Syrovatskii electrons, b = b0E², Gaussian source
σ = 0.25 kpc, 100–1000 GeV): against a fine-ΔE reference the upwind error halves per halving
of Δ ln E (3.5e-2, 1.8e-2, 8.8e-3 for 21/41/81 energies) and bdf2 falls ~4× (1.3e-2, 3.6e-3,
9e-4); against the analytic solution the space error falls ~4× per halving of h (0.13 at
0.2 kpc, 0.035 at 0.1 kpc, 0.009 at 0.05 kpc).  The bdf2 start step is upwind, so in the first
energy interval below the top the *relative* error is first order (the max-norm error over
the spectrum is second order).  Speed (2-core box, UF23 + galactic losses, 200×80 cells,
splu): ~0.14 s per energy step (0.13 s the factorisation + solve, 0.06 s the tensor +
assembly when not cached); the direct loss-rate evaluation on the cells ~4 s for 31 energies.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from ..config import load_config
from ..io import read_field_grid
from ..models.losses import LossModel
from ..units import MYR_S
from .axisymmetric import assemble_operator, tensor_from_config

__all__ = [
    "EnergySolution",
    "march_energies",
    "direct_solver",
    "krylov_solver",
    "default_solver",
    "axisymmetric_operator_from_config",
    "axisymmetric_loss_rate_from_config",
    "axisymmetric_cell_volumes_kpc3",
    "CoupledSolution",
    "solve_coupled",
    "control_widths",
]

ArrayOrCallable = Callable | np.ndarray | Sequence
Solver = Callable[[sp.spmatrix, np.ndarray], np.ndarray]
_SCHEMES = ("upwind", "bdf2")


@dataclass
class EnergySolution:
    """ψ [kpc⁻³ GeV⁻¹], shape (K, N) in the operator's unknown ordering (axisymmetric: flat index
    i·n_z + j, reshape to (K, n_R, n_z); Cartesian: interior nodes), on ``energies_GeV``.

    residuals: relative residual ‖Aψ_k − r_k‖/‖r_k‖ of each linear solve; step_s: wall time of
    each energy (assembly + solve); scheme: 'independent' (no losses), 'upwind' or 'bdf2'."""

    energies_GeV: np.ndarray
    psi: np.ndarray
    residuals: np.ndarray
    step_s: np.ndarray
    scheme: str
    meta: dict = field(default_factory=dict)


# ------------------------------------------------------------------------------- linear solvers
def direct_solver(A: sp.spmatrix, rhs: np.ndarray) -> np.ndarray:
    """Sparse LU (SuperLU, COLAMD ordering): the choice for 2D grids (n_R n_z ≲ 10⁵)."""
    return spla.splu(sp.csc_matrix(A), permc_spec="COLAMD").solve(rhs)


def krylov_solver(rtol: float = 1e-10, maxiter: int | None = None, method: str = "auto") -> Solver:
    """A ``solve(A, rhs)`` callable using a Jacobi-preconditioned Krylov method (3D grids).

    method: 'cg' (A symmetric positive definite: the Cartesian operator plus a diagonal loss
    term), 'bicgstab' (general, e.g. the axisymmetric operator, symmetric only in the
    R-weighted inner product), or 'auto' (cg if A is symmetric to 1e-12, else bicgstab).
    Raises RuntimeError if the relative residual ends above 10 rtol."""
    if not (np.isfinite(rtol) and 0 < rtol < 1):
        raise ValueError(f"rtol must be in (0, 1), got {rtol!r}")
    if method not in ("auto", "cg", "bicgstab"):
        raise ValueError(f"method must be 'auto', 'cg' or 'bicgstab', got {method!r}")

    def solve(A, rhs):
        A = sp.csr_matrix(A)
        m = method
        if m == "auto":
            asym = abs(A - A.T).max() if A.nnz else 0.0
            m = "cg" if asym <= 1e-12 * abs(A).max() else "bicgstab"
        d = A.diagonal()
        if np.any(d <= 0):
            raise ValueError("krylov_solver: the matrix needs a positive diagonal (Jacobi preconditioner)")
        P = sp.diags(1.0 / d)
        it = maxiter if maxiter is not None else 20 * A.shape[0]
        f = spla.cg if m == "cg" else spla.bicgstab
        x, info = f(A, rhs, rtol=rtol, atol=0.0, maxiter=it, M=P)
        nrm = np.linalg.norm(rhs)
        res = np.linalg.norm(A @ x - rhs) / nrm if nrm > 0 else np.linalg.norm(x)
        if info != 0 and not res <= 10 * rtol:
            raise RuntimeError(f"{m} did not converge (info={info}, relative residual {res:.3e})")
        return x

    return solve


def default_solver(n_unknowns: int) -> Solver:
    """splu up to 2·10⁵ unknowns (2D sizes), Jacobi-preconditioned cg/bicgstab above (3D)."""
    return direct_solver if n_unknowns <= 200_000 else krylov_solver()


# ------------------------------------------------------------------------------- input handling
def _energies(energies_GeV) -> np.ndarray:
    E = np.asarray(energies_GeV, dtype=float)
    if E.ndim != 1 or E.size < 1:
        raise ValueError("energies_GeV must be a 1-D array with at least one energy")
    if not np.all(np.isfinite(E)) or np.any(E <= 0):
        raise ValueError("energies_GeV must be finite and > 0")
    if E.size > 1 and np.any(np.diff(E) <= 0):
        raise ValueError("energies_GeV must be strictly increasing")
    return E


def _per_energy(name, spec, E, k, N, allow_scalar):
    """Value of ``spec`` at energy index k as a float array of length N."""
    if callable(spec):
        v = spec(float(E[k]))
    else:
        arr = np.asarray(spec, dtype=float)
        if arr.ndim == 0 and allow_scalar:
            v = arr
        elif arr.ndim >= 1 and arr.shape[0] == E.size:
            v = arr[k]
        else:
            raise ValueError(
                f"{name}: array of shape {arr.shape}; expected ({E.size}, {N}) "
                "(one row per energy) or a callable of E_GeV"
            )
    v = np.asarray(v, dtype=float)
    if v.ndim == 0 and allow_scalar:
        v = np.full(N, float(v))
    v = v.reshape(-1) if v.ndim > 1 and v.size == N else v
    if v.shape != (N,):
        raise ValueError(
            f"{name} at E = {E[k]:.6g} GeV has shape {v.shape}; expected ({N},) (the operator's unknowns)"
        )
    if not np.all(np.isfinite(v)):
        raise ValueError(f"{name} at E = {E[k]:.6g} GeV has non-finite values")
    return v


def _operator(operator_at, E, k):
    L = operator_at(float(E[k]))
    if not sp.issparse(L) and not isinstance(L, np.ndarray):
        raise ValueError("operator_at must return a (sparse) square matrix")
    if L.ndim != 2 or L.shape[0] != L.shape[1]:
        raise ValueError(f"operator_at returned shape {L.shape}; expected a square matrix")
    return sp.csr_matrix(L)


def _relres(A, x, r):
    nr = np.linalg.norm(r)
    return float(np.linalg.norm(A @ x - r) / nr) if nr > 0 else float(np.linalg.norm(A @ x))


# ------------------------------------------------------------------------------- the march
def march_energies(
    operator_at: Callable[[float], sp.spmatrix],
    energies_GeV,
    source_at: ArrayOrCallable,
    loss_rate_at: ArrayOrCallable | None = None,
    *,
    scheme: str = "upwind",
    solve: Solver | None = None,
    psi_top=None,
    removal_rate_at: ArrayOrCallable | None = None,
) -> EnergySolution:
    """Solve ∇·(D(E)∇ψ) + ∂_E(bψ) + Q = 0 for ψ(E, x) on ``energies_GeV`` (module docstring).

    operator_at(E_GeV) -> sparse L (N × N), Lψ ≈ ∇·(D(E)∇ψ) [Myr⁻¹ × ψ] with the spatial
        boundary conditions built in.
    energies_GeV: strictly increasing, K ≥ 1 (K ≥ 2 with losses; the top one is the boundary).
    source_at: callable(E_GeV) -> (N,) array, or an array (K, N)  [kpc⁻³ Myr⁻¹ GeV⁻¹].
    loss_rate_at: None (no losses: independent solves), or b ≥ 0 [GeV Myr⁻¹] as a
        callable(E_GeV) -> (N,) array or scalar, or an array (K, N).
    scheme: 'upwind' (first order in ΔE) or 'bdf2' (second order); losses only.
    solve(A, rhs) -> x: linear solver (default ``default_solver(N)``: splu for 2D sizes,
        Jacobi-preconditioned Krylov above 2·10⁵ unknowns).
    psi_top: ψ at the top energy with losses (array (N,) or scalar; default 0).
    removal_rate_at: catastrophic losses ν ≥ 0 [Myr⁻¹] (the term −νψ), like loss_rate_at (None: none).
    Returns an :class:`EnergySolution` (ψ of shape (K, N) [kpc⁻³ GeV⁻¹])."""
    E = _energies(energies_GeV)
    if not callable(operator_at):
        raise ValueError("operator_at must be a callable E_GeV -> sparse matrix")
    if scheme not in _SCHEMES:
        raise ValueError(f"scheme must be one of {_SCHEMES}, got {scheme!r}")
    K = E.size
    if loss_rate_at is not None and K < 2:
        raise ValueError("with losses at least two energies are needed (the top one is the boundary)")

    k0 = K - 1
    t0 = time.perf_counter()
    L = _operator(operator_at, E, k0)
    N = L.shape[0]
    solve = solve if solve is not None else default_solver(N)
    psi = np.zeros((K, N))
    res = np.zeros(K)
    step_s = np.zeros(K)

    def nu_at(k):
        if removal_rate_at is None:
            return 0.0
        nu = _per_energy("removal_rate_at", removal_rate_at, E, k, N, allow_scalar=True)
        if np.any(nu < 0):
            raise ValueError(f"removal_rate_at at E = {E[k]:.6g} GeV is negative somewhere (ν ≥ 0 [Myr⁻¹])")
        return nu

    if loss_rate_at is None:
        for k in range(K - 1, -1, -1):
            if k != k0:
                t0 = time.perf_counter()
                L = _operator(operator_at, E, k)
                if L.shape[0] != N:
                    raise ValueError(f"operator_at({E[k]:.6g}) has {L.shape[0]} unknowns, expected {N}")
            q = _per_energy("source_at", source_at, E, k, N, allow_scalar=True)
            A = (sp.diags(np.broadcast_to(nu_at(k), (N,))) - L).tocsr()
            psi[k] = solve(A, q)
            res[k] = _relres(A, psi[k], q)
            step_s[k] = time.perf_counter() - t0
        return EnergySolution(E, psi, res, step_s, "independent")

    def b_at(k):
        b = _per_energy("loss_rate_at", loss_rate_at, E, k, N, allow_scalar=True)
        if np.any(b < 0):
            raise ValueError(
                f"loss_rate_at at E = {E[k]:.6g} GeV is negative somewhere (b = −dE/dt ≥ 0 [GeV/Myr])"
            )
        return b

    # top: boundary value
    top = np.asarray(0.0 if psi_top is None else psi_top, dtype=float).reshape(-1)
    if top.size not in (1, N) or not np.all(np.isfinite(top)):
        raise ValueError(f"psi_top must be a scalar or an array of {N} finite values")
    psi[k0] = top
    b = {k0: b_at(k0)}
    # the source is validated at the top too (shape errors early), though only used below it
    _per_energy("source_at", source_at, E, k0, N, allow_scalar=True)
    step_s[k0] = time.perf_counter() - t0
    for k in range(K - 2, -1, -1):
        t0 = time.perf_counter()
        L = _operator(operator_at, E, k)
        if L.shape[0] != N:
            raise ValueError(f"operator_at({E[k]:.6g}) has {L.shape[0]} unknowns, expected {N}")
        b[k] = b_at(k)
        q = _per_energy("source_at", source_at, E, k, N, allow_scalar=True)
        h = E[k + 1] - E[k]
        if scheme == "upwind" or k == K - 2:
            diag = b[k] / h
            rhs = q + b[k + 1] * psi[k + 1] / h
        else:
            w = h / (E[k + 2] - E[k + 1])
            beta = (1 + w) / (1 + 2 * w)
            c1 = (1 + w) ** 2 / (1 + 2 * w)
            c2 = w * w / (1 + 2 * w)
            diag = b[k] / (beta * h)
            rhs = q + (c1 * b[k + 1] * psi[k + 1] - c2 * b[k + 2] * psi[k + 2]) / (beta * h)
        A = (sp.diags(diag + nu_at(k)) - L).tocsr()
        psi[k] = solve(A, rhs)
        res[k] = _relres(A, psi[k], rhs)
        b.pop(k + 2, None)
        step_s[k] = time.perf_counter() - t0
    return EnergySolution(E, psi, res, step_s, scheme)


# ------------------------------------------------------------------------------- sdeprop config helpers
def axisymmetric_cell_volumes_kpc3(grid) -> np.ndarray:
    """Ring-cell volumes 2π R_i h_R h_z = π (R_{i+1}² − R_i²) h_z [kpc³], flat (n_R n_z,), the weights
    under which the axisymmetric operator is conservative (∫ψ dV ≈ Σ V ψ)."""
    R = grid.R_centres_kpc
    V = 2.0 * np.pi * R * grid.dR_kpc * grid.dz_kpc
    return np.repeat(V, grid.n_z)


def axisymmetric_operator_from_config(
    cfg, grid, species: str | None = None, phi_rad: float = 0.0
) -> Callable[[float], sp.csr_matrix]:
    """operator_at(E_GeV) for :func:`march_energies` on an ``AxisymmetricGrid``: the tensor of
    ``tensor_from_config`` (field sampled at azimuth phi_rad, default y = 0) assembled by
    ``axisymmetric.assemble_operator``.  species: default cfg.species.name.  Matrices are cached
    per energy."""
    cfg = load_config(cfg)
    sp_name = species or cfg.species.name
    cache: dict = {}

    def operator_at(E_GeV: float):
        key = float(E_GeV)
        if key not in cache:
            cache[key] = assemble_operator(grid, tensor_from_config(cfg, sp_name, key, grid, phi_rad))
        return cache[key]

    return operator_at


def axisymmetric_loss_rate_from_config(cfg, grid, energies_GeV, phi_rad: float = 0.0) -> np.ndarray | None:
    """b [GeV Myr⁻¹] on the cell centres for :func:`march_energies`: array (K, n_R n_z), or None
    for losses.model = 'none' (or 'galactic' with no active process).

    'quadratic': b0 E² (uniform); 'galactic': ``LossModel.total_rate`` at each cell centre
    (x, y, z) = (R cos φ, R sin φ, z), φ = phi_rad (default y = 0), evaluated directly (no
    table) — a Python loop over cells, ~0.15 ms per cell for 30 energies on the 2-core test
    box (≈ 2.5 s for 200×80 cells).  Energies are kinetic, as everywhere in sdeprop."""
    cfg = load_config(cfg)
    E = _energies(energies_GeV)
    N = grid.n_R * grid.n_z
    model = cfg.losses.model
    if model == "none":
        return None
    if model == "quadratic":
        b = cfg.losses.b0_per_GeV_per_s * MYR_S * E * E
        return np.repeat(b[:, None], N, axis=1)
    lm = LossModel.from_config(cfg, field_grid=read_field_grid(cfg.field))
    if not lm.processes:
        return None
    R, z = grid.centres_mesh()
    c, s = np.cos(phi_rad), np.sin(phi_rad)
    out = np.empty((E.size, N))
    for n, (Ri, zi) in enumerate(zip(R.ravel(), z.ravel())):
        out[:, n] = lm.total_rate((Ri * c, Ri * s, zi), E)
    return out * MYR_S


# ------------------------------------------------------------------------------- coupled (E, x) solve
@dataclass
class CoupledSolution:
    """ψ [kpc⁻³ GeV⁻¹], shape (K, N), from :func:`solve_coupled`; residual ‖Aψ − Q‖/‖Q‖ of the whole
    block system, method 'splu' or 'gmres', wall times and, in meta, the Krylov iterations."""

    energies_GeV: np.ndarray
    psi: np.ndarray
    residual: float
    method: str
    assemble_s: float
    solve_s: float
    meta: dict = field(default_factory=dict)


def control_widths(energies_GeV) -> np.ndarray:
    """Widths [GeV] of the energy control volumes of :func:`solve_coupled`: [E_{k−½}, E_{k+½}] with the
    midpoints E_{k±½} = (E_k + E_{k±1})/2 and the end nodes' half cells, so Σ w_k = E_{K−1} − E_0."""
    E = _energies(energies_GeV)
    if E.size < 3:
        raise ValueError("the coupled solve needs at least three energies")
    w = np.empty(E.size)
    w[1:-1] = 0.5 * (E[2:] - E[:-2])
    w[0] = 0.5 * (E[1] - E[0])
    w[-1] = 0.5 * (E[-1] - E[-2])
    return w


def _block_gauss_seidel(A, K, N):
    """Preconditioner for GMRES: the block upper triangle of A in energy (the loss direction), inverted by a
    sweep from the top energy down with one splu factorisation per diagonal block (the downward march)."""
    A = sp.csr_matrix(A)
    lus, ups = [], []
    for k in range(K):
        s = slice(k * N, (k + 1) * N)
        lus.append(spla.splu(sp.csc_matrix(A[s, s]), permc_spec="COLAMD"))
        ups.append(sp.csr_matrix(A[s, (k + 1) * N : (k + 2) * N]) if k < K - 1 else None)

    def apply(r):
        x = np.empty_like(r)
        for k in range(K - 1, -1, -1):
            rk = r[k * N : (k + 1) * N]
            if k < K - 1:
                rk = rk - ups[k] @ x[(k + 1) * N : (k + 2) * N]
            x[k * N : (k + 1) * N] = lus[k].solve(rk)
        return x

    return spla.LinearOperator(A.shape, matvec=apply, dtype=float)


def solve_coupled(
    operator_at: Callable[[float], sp.spmatrix],
    energies_GeV,
    source_at: ArrayOrCallable,
    *,
    mass_GeV: float,
    loss_rate_at: ArrayOrCallable | None = None,
    removal_rate_at: ArrayOrCallable | None = None,
    momentum_diffusion_at: Callable[[float], np.ndarray] | None = None,
    method: str = "auto",
    rtol: float = 1e-10,
) -> CoupledSolution:
    """Solve the stationary (E, x) system with reacceleration as one sparse block system (module docstring).

        ∇·(D∇ψ) + [spatial terms in operator_at] + ∂_E(bψ) − νψ + ∂_E[p² D_pp ∂_p(N/p²)] + Q = 0,

    ψ per unit kinetic energy, N = β ψ per unit momentum (c = 1), D_pp = p² K.
    operator_at(E) -> L_k (N × N): the spatial operator at E (diffusion, advection).
    energies_GeV: K ≥ 3 strictly increasing nodes (log-spaced in practice).
    source_at: Q at the nodes (K, N) or callable(E) -> (N,) [kpc⁻³ Myr⁻¹ GeV⁻¹]: the mean of Q over each
        node's control volume (:func:`control_widths`).
    mass_GeV: rest mass (p and β of the nodes).
    loss_rate_at: b = −dE/dt ≥ 0 [GeV/Myr] (continuous and adiabatic), (K, N) or callable; None: none.
    removal_rate_at: ν ≥ 0 [Myr⁻¹], (K, N) or callable; None: none.
    momentum_diffusion_at(E) -> K = D_pp/p² [Myr⁻¹] (N,), called at the midpoints between nodes
        (p_{k+½} = sqrt(p_k p_{k+1})); None: no reacceleration.
    method: 'splu' (direct), 'gmres' (preconditioned by the downward block sweep, :func:`_block_gauss_seidel`)
        or 'auto' (splu up to 3·10⁴ unknowns: measured on the 2-core box, splu took 30 s for 97 000
        unknowns (1000 cells × 97 energies) where gmres took 19 s for 388 000).
    Both ends are zero-flux for the momentum diffusion; the loss flux leaves through the bottom
    (upwind) and nothing enters through the top."""
    E = _energies(energies_GeV)
    w = control_widths(E)
    K = E.size
    if method not in ("auto", "splu", "gmres"):
        raise ValueError(f"method must be 'auto', 'splu' or 'gmres', got {method!r}")
    t0 = time.perf_counter()
    Ls = [_operator(operator_at, E, k) for k in range(K)]
    N = Ls[0].shape[0]
    if any(L.shape[0] != N for L in Ls):
        raise ValueError("operator_at returned matrices of different sizes")
    A = sp.block_diag([-L for L in Ls], format="csr")
    diag = np.zeros(K * N)
    rows, cols, vals = [], [], []
    n = np.arange(N)
    if removal_rate_at is not None:
        for k in range(K):
            nu = _per_energy("removal_rate_at", removal_rate_at, E, k, N, allow_scalar=True)
            if np.any(nu < 0):
                raise ValueError("removal_rate_at must be ≥ 0 [Myr⁻¹]")
            diag[k * N : (k + 1) * N] += nu
    if loss_rate_at is not None:
        b = np.array(
            [_per_energy("loss_rate_at", loss_rate_at, E, k, N, allow_scalar=True) for k in range(K)]
        )
        if np.any(b < 0):
            raise ValueError("loss_rate_at must be ≥ 0 (b = −dE/dt [GeV/Myr])")
        for k in range(K):
            diag[k * N : (k + 1) * N] += b[k] / w[k]
            if k < K - 1:
                rows.append(k * N + n)
                cols.append((k + 1) * N + n)
                vals.append(-b[k + 1] / w[k])
    if momentum_diffusion_at is not None:
        p, beta = np.sqrt(E * (E + 2.0 * mass_GeV)), None
        beta = p / (E + mass_GeV)
        g = beta / p**2  # f = N/p² = g ψ
        for k in range(K - 1):
            pm = math.sqrt(p[k] * p[k + 1])
            Em = math.sqrt(pm * pm + mass_GeV * mass_GeV) - mass_GeV
            kk = np.asarray(momentum_diffusion_at(Em), dtype=float).reshape(-1)
            if kk.shape != (N,) or np.any(kk < 0) or not np.all(np.isfinite(kk)):
                raise ValueError("momentum_diffusion_at must return N finite values ≥ 0 [Myr⁻¹]")
            c = pm**4 * kk / (p[k + 1] - p[k])  # J_{k+½} = −c (f_{k+1} − f_k)
            diag[k * N : (k + 1) * N] += c * g[k] / w[k]
            diag[(k + 1) * N : (k + 2) * N] += c * g[k + 1] / w[k + 1]
            rows += [k * N + n, (k + 1) * N + n]
            cols += [(k + 1) * N + n, k * N + n]
            vals += [-c * g[k + 1] / w[k], -c * g[k] / w[k + 1]]
    A = A + sp.diags(diag)
    if rows:
        A = A + sp.csr_matrix(
            (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=A.shape
        )
    A = sp.csr_matrix(A)
    q = np.concatenate([_per_energy("source_at", source_at, E, k, N, allow_scalar=True) for k in range(K)])
    t1 = time.perf_counter()
    m = method if method != "auto" else ("splu" if K * N <= 30_000 else "gmres")
    meta = {}
    if m == "splu":
        x = spla.splu(sp.csc_matrix(A), permc_spec="COLAMD").solve(q)
    else:
        P = _block_gauss_seidel(A, K, N)
        count = [0]

        def cb(_):
            count[0] += 1

        x, info = spla.gmres(
            A, q, M=P, rtol=rtol, atol=0.0, restart=50, maxiter=20, callback=cb, callback_type="pr_norm"
        )
        meta["iterations"] = count[0]
        if info != 0:
            meta["gmres_info"] = int(info)
    t2 = time.perf_counter()
    res = _relres(A, x, q)
    if m == "gmres" and not res <= 10 * rtol:
        raise RuntimeError(f"gmres did not converge (relative residual {res:.3e})")
    return CoupledSolution(E, x.reshape(K, N), res, m, t1 - t0, t2 - t1, meta)
