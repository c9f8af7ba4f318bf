"""Time-dependent diffusion ∂ψ/∂t = ∇·(D∇ψ) + Q(t) on the grids of ``axisymmetric`` and ``cartesian``.

Method of lines: space is discretised by the existing stationary
operators, ``axisymmetric.assemble_operator`` (2D (R, z) finite volume, ψ = 0 on the outer walls,
regular axis) or ``cartesian.assemble_operator`` (3D node grid, ψ = 0 on the box faces), giving
the linear system of ODEs dψ/dt = Aψ + Q(t). Time is discretised by the θ-scheme
(textbook form, e.g. Morton & Mayers, "Numerical Solution of PDEs", 2nd ed., §2.10):

    (I − θ h A) ψⁿ⁺¹ = (I + (1 − θ) h A) ψⁿ + h [(1 − θ) Qⁿ + θ Qⁿ⁺¹],

θ = ½ Crank–Nicolson (second order in h, A-stable but not L-stable: the stiffest modes are
multiplied by ≈ −1 each step, so a delta-like initial condition rings), θ = 1 backward Euler
(first order, L-stable). The Rannacher start-up (Rannacher 1984, Numer. Math. 43, 309; Luskin &
Rannacher 1982) replaces each of the first k steps by two backward-Euler half steps of h/2,
which damps the grid-scale modes of a rough initial condition and keeps second order for
t ≫ k h. For θ = ½ the half-step matrix I − (h/2) A is the Crank–Nicolson matrix, so it reuses
the same factorisation.

Each distinct step size h needs one matrix I − θ h A: it is factorised once with SuperLU
(``method="splu"``, the 2D default) or solved by a Krylov method warm-started from the previous
ψ: conjugate gradients with a Jacobi preconditioner on the symmetric form V (I − θ h A)
(``method="cg"``, requires V A symmetric, as for the 3D Cartesian operator), or BiCGSTAB with an
incomplete-LU preconditioner otherwise (``method="bicgstab"``). The anisotropic 2D operator is
not symmetric in any diagonal weighting (its corner cross-flux averages break it), hence SuperLU
there. V are the cell/node volumes (``cell_volumes``), also used to report the content Σ V ψ.

Output times are hit exactly: each interval between requested times is split into
n = ⌈Δt_out / dt⌉ equal steps (so h ≤ dt).

Units as the stationary solvers: kpc, Myr, D in kpc²/Myr, Q in [ψ]/Myr.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from .axisymmetric import AxisymmetricGrid
from .axisymmetric import assemble_operator as _assemble_axisymmetric
from .cartesian import CartesianGrid
from .cartesian import assemble_operator as _assemble_cartesian

__all__ = [
    "TimeDependentSolution",
    "cell_volumes",
    "march",
    "march_axisymmetric",
    "march_cartesian",
    "gaussian_solution",
]

SourceArg = None | np.ndarray | float | Callable[[float], np.ndarray]
_METHODS = ("auto", "splu", "cg", "bicgstab")
_SPLU_MAX_UNKNOWNS = 60_000


@dataclasses.dataclass
class TimeDependentSolution:
    """Snapshots ψ(t_k) and diagnostics of a θ-scheme march."""

    times: np.ndarray
    """Output times [Myr], as requested."""
    psi: np.ndarray
    """Snapshots, shape (n_out,) + state shape (``march``: the shape of psi0; the grid wrappers:
    (n_R, n_z) cell centres, or (nx, ny, nz) nodes with zero boundary values)."""
    content: np.ndarray
    """Σ V ψ at each output time (V from ``volumes``; unit volumes if none were given)."""
    residual: float
    """Relative residual ‖b − Mψ‖/‖b‖ of the last linear solve (0 if b = 0)."""
    n_steps: int
    """Number of linear solves (a Rannacher start-up step counts as two)."""
    n_matrices: int
    """Distinct matrices I − c A factorised / set up."""
    method: str
    theta: float
    rannacher_steps: int


# ---------------------------------------------------------------------------------- helpers
def cell_volumes(grid: AxisymmetricGrid | CartesianGrid) -> np.ndarray:
    """Volumes [kpc³] of the unknowns, flat, in the ordering of the grid's ``assemble_operator``:
    rings 2π R_i h_R h_z for ``AxisymmetricGrid`` (index i·n_z + j), h_x h_y h_z for each interior
    node of ``CartesianGrid`` (C order)."""
    if isinstance(grid, AxisymmetricGrid):
        R, _ = grid.centres_mesh()
        return (2.0 * np.pi * grid.dR_kpc * grid.dz_kpc * R).ravel()
    if isinstance(grid, CartesianGrid):
        hx, hy, hz = grid.spacing_kpc
        return np.full((grid.nx - 2) * (grid.ny - 2) * (grid.nz - 2), hx * hy * hz)
    raise ValueError(f"grid must be an AxisymmetricGrid or a CartesianGrid, got {type(grid).__name__}")


def gaussian_solution(points, t_Myr: float, D, sigma0_kpc: float, amplitude: float = 1.0) -> np.ndarray:
    """Exact solution of ∂ψ/∂t = ∇·(D∇ψ) in free space for a constant tensor D [kpc²/Myr] and the
    initial condition ψ(x, 0) = amplitude · exp(−|x|²/(2σ0²)).

    Convolving the initial Gaussian with the Green's function of docs/physics.md §8.1
    (covariance 2Dt) gives a Gaussian with covariance Σ = σ0² I + 2Dt:
    ψ = amplitude · σ0^d / sqrt(det Σ) · exp(−½ xᵀ Σ⁻¹ x), d = dimension of D.
    points: array (..., d) of positions [kpc]."""
    D = np.atleast_2d(np.asarray(D, dtype=float))
    d = D.shape[0]
    if D.shape != (d, d):
        raise ValueError(f"D must be a square matrix, got shape {D.shape}")
    x = np.asarray(points, dtype=float)
    if x.shape[-1] != d:
        raise ValueError(f"points must have a last axis of length {d}, got shape {x.shape}")
    if not (np.isfinite(sigma0_kpc) and sigma0_kpc > 0) or not (np.isfinite(t_Myr) and t_Myr >= 0):
        raise ValueError("sigma0_kpc must be > 0 and t_Myr ≥ 0")
    S = sigma0_kpc**2 * np.eye(d) + 2.0 * t_Myr * D
    Sinv = np.linalg.inv(S)
    q = np.einsum("...i,ij,...j->...", x, Sinv, x)
    return amplitude * sigma0_kpc**d / math.sqrt(np.linalg.det(S)) * np.exp(-0.5 * q)


def _check_times(t_out, t0):
    t = np.atleast_1d(np.asarray(t_out, dtype=float))
    if t.ndim != 1 or t.size == 0:
        raise ValueError("output times must be a non-empty 1-D sequence [Myr]")
    if not np.all(np.isfinite(t)):
        raise ValueError("output times must be finite")
    if t[0] < t0:
        raise ValueError(f"output times must be ≥ the start time t0 = {t0} Myr, got {t[0]}")
    if np.any(np.diff(t) <= 0):
        raise ValueError("output times must be strictly increasing")
    return t


class _Stepper:
    """Solves (I − c A) x = b for a fixed c with the chosen method."""

    def __init__(self, A, c, method, volumes, rtol):
        n = A.shape[0]
        self.M = (sp.identity(n, format="csr") - c * A).tocsr()
        self.method = method
        self.rtol = rtol
        if method == "splu":
            self.lu = spla.splu(self.M.tocsc(), permc_spec="COLAMD")
        elif method == "cg":
            self.Mw = (sp.diags(volumes) @ self.M).tocsr()
            self.w = volumes
            inv = 1.0 / self.Mw.diagonal()
            self.P = spla.LinearOperator(self.M.shape, matvec=lambda v: inv * v, dtype=float)
        else:  # bicgstab
            ilu = spla.spilu(self.M.tocsc(), drop_tol=1e-5, fill_factor=10)
            self.P = spla.LinearOperator(self.M.shape, matvec=ilu.solve, dtype=float)

    def solve(self, b, x0):
        if self.method == "splu":
            x = self.lu.solve(b)
        elif self.method == "cg":
            x, info = spla.cg(
                self.Mw,
                self.w * b,
                x0=x0,
                rtol=self.rtol,
                atol=0.0,
                maxiter=20 * int(np.sqrt(b.size)) + 200,
                M=self.P,
            )
        else:
            x, info = spla.bicgstab(
                self.M, b, x0=x0, rtol=self.rtol, atol=0.0, maxiter=20 * int(np.sqrt(b.size)) + 200, M=self.P
            )
        nb = np.linalg.norm(b)
        res = float(np.linalg.norm(b - self.M @ x) / nb) if nb > 0 else float(np.linalg.norm(self.M @ x))
        if self.method != "splu" and not res <= 100 * self.rtol:
            raise RuntimeError(
                f"{self.method} did not converge in a time step "
                f"(relative residual {res:.3e}, rtol {self.rtol:.1e})"
            )
        return x, res


# ---------------------------------------------------------------------------------- core march
def march(
    A,
    psi0,
    t_out,
    dt: float,
    *,
    volumes: np.ndarray | None = None,
    source: SourceArg = None,
    theta: float = 0.5,
    rannacher_steps: int = 0,
    method: str = "auto",
    rtol: float = 1e-10,
    t0: float = 0.0,
) -> TimeDependentSolution:
    """Integrate dψ/dt = Aψ + Q(t) from t0 to each output time with the θ-scheme (module docstring).

    A: square sparse matrix [1/Myr] from either grid's ``assemble_operator`` (ψ = 0 walls built in).
    psi0: initial state, any shape with A.shape[0] elements; snapshots keep that shape.
    t_out: strictly increasing output times ≥ t0 [Myr] (t = t0 returns psi0).
    dt: largest time step [Myr]; each output interval is split into equal steps ≤ dt.
    volumes: positive weights V (cell volumes, ``cell_volumes``) for the content Σ V ψ and the
             symmetric CG form; default ones.
    source: None, a constant array / scalar, or a callable q(t) returning an array of psi0's shape
            [ψ/Myr].
    theta: ½ (Crank–Nicolson) ≤ θ ≤ 1 (backward Euler).
    rannacher_steps: the first k steps are each replaced by two backward-Euler half steps.
    method: "splu", "cg" (needs V A symmetric), "bicgstab" (ILU), or "auto" (splu up to
            60 000 unknowns, else cg if V A is symmetric, else bicgstab).
    rtol: relative residual target of the Krylov solves."""
    if not sp.issparse(A) or A.ndim != 2 or A.shape[0] != A.shape[1]:
        raise ValueError("A must be a square scipy.sparse matrix (from assemble_operator)")
    A = sp.csr_matrix(A, dtype=float)
    n = A.shape[0]
    psi0 = np.asarray(psi0, dtype=float)
    if psi0.size != n:
        raise ValueError(f"psi0 has {psi0.size} elements (shape {psi0.shape}); the operator has {n} unknowns")
    if not np.all(np.isfinite(psi0)):
        raise ValueError("psi0 has non-finite values")
    shape = psi0.shape
    if not (isinstance(dt, (int, float, np.floating, np.integer)) and np.isfinite(dt) and dt > 0):
        raise ValueError(f"dt must be a finite number > 0 [Myr], got {dt!r}")
    if not (isinstance(theta, (int, float, np.floating)) and 0.5 <= theta <= 1.0):
        raise ValueError(f"theta must lie in [0.5, 1] (0.5 Crank–Nicolson, 1 backward Euler), got {theta!r}")
    if (
        not isinstance(rannacher_steps, (int, np.integer))
        or isinstance(rannacher_steps, bool)
        or rannacher_steps < 0
    ):
        raise ValueError(f"rannacher_steps must be an integer ≥ 0, got {rannacher_steps!r}")
    if not (np.isfinite(rtol) and 0 < rtol < 1):
        raise ValueError(f"rtol must be in (0, 1), got {rtol!r}")
    if not np.isfinite(t0):
        raise ValueError("t0 must be finite")
    times = _check_times(t_out, float(t0))
    if volumes is None:
        w = np.ones(n)
    else:
        w = np.asarray(volumes, dtype=float).ravel()
        if w.size != n:
            raise ValueError(f"volumes has {w.size} elements; the operator has {n} unknowns")
        if not np.all(np.isfinite(w)) or np.any(w <= 0):
            raise ValueError("volumes must be finite and > 0")
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
    symmetric = None
    if method in ("auto", "cg"):
        S = sp.diags(w) @ A
        symmetric = abs(S - S.T).max() <= 1e-10 * abs(S).max()
    if method == "auto":
        method = "splu" if n <= _SPLU_MAX_UNKNOWNS else ("cg" if symmetric else "bicgstab")
    if method == "cg" and not symmetric:
        raise ValueError(
            "method='cg' needs V·A symmetric (true for the Cartesian operator); use 'splu' or 'bicgstab'"
        )

    # source as a function of time returning a flat vector (None: no source)
    if source is None:
        qfun = None
    elif callable(source):

        def qfun(t):
            q = np.asarray(source(t), dtype=float)
            if q.size != n:
                raise ValueError(f"source(t) returned {q.size} values; expected {n} (shape {shape})")
            q = q.ravel()
            if not np.all(np.isfinite(q)):
                raise ValueError(f"source(t) has non-finite values at t = {t}")
            return q
    else:
        qc = np.asarray(source, dtype=float)
        if qc.ndim == 0:
            qc = np.full(n, float(qc))
        if qc.size != n:
            raise ValueError(f"source has {qc.size} values; expected {n} (shape {shape})")
        qc = qc.ravel()
        if not np.all(np.isfinite(qc)):
            raise ValueError("source has non-finite values")
        qfun = lambda t: qc  # noqa: E731

    steppers: dict = {}

    def stepper(c):
        key = float(f"{c:.12e}")
        if key not in steppers:
            steppers[key] = _Stepper(A, c, method, w, rtol)
        return steppers[key]

    psi = psi0.ravel().copy()
    t = float(t0)
    out = np.empty((times.size,) + shape)
    content = np.empty(times.size)
    residual = 0.0
    n_solves = 0
    steps_done = 0
    q_now = qfun(t) if qfun else None
    for k, t_target in enumerate(times):
        span = t_target - t
        nsub = int(math.ceil(span / dt - 1e-9)) if span > 0 else 0
        h = span / nsub if nsub else 0.0
        for s in range(nsub):
            t_next = t_target if s == nsub - 1 else t + h
            if steps_done < rannacher_steps:
                st = stepper(0.5 * h)
                for t_half in (t + 0.5 * h, t_next):
                    b = psi.copy()
                    if qfun:
                        b += 0.5 * h * qfun(t_half)
                    psi, residual = st.solve(b, psi)
                    n_solves += 1
                q_now = qfun(t_next) if qfun else None
            else:
                st = stepper(theta * h)
                b = psi + (1.0 - theta) * h * (A @ psi) if theta < 1.0 else psi.copy()
                if qfun:
                    q_next = qfun(t_next)
                    b += h * ((1.0 - theta) * q_now + theta * q_next)
                    q_now = q_next
                psi, residual = st.solve(b, psi)
                n_solves += 1
            steps_done += 1
            t = t_next
        out[k] = psi.reshape(shape)
        content[k] = float(w @ psi)
    return TimeDependentSolution(
        times=times,
        psi=out,
        content=content,
        residual=residual,
        n_steps=n_solves,
        n_matrices=len(steppers),
        method=method,
        theta=float(theta),
        rannacher_steps=int(rannacher_steps),
    )


# ---------------------------------------------------------------------------------- grid wrappers
def march_axisymmetric(
    grid: AxisymmetricGrid, tensor, psi0, t_out, dt: float, *, source=None, **kw
) -> TimeDependentSolution:
    """θ-scheme march on a 2D (R, z) grid with ``axisymmetric.assemble_operator(grid, tensor)``.

    psi0: array (n_R, n_z) at the cell centres or a callable f(R_kpc, z_kpc).
    source: None, an array (n_R, n_z), or a callable q(t_Myr, R_kpc, z_kpc) [ψ/Myr].
    Other keywords as ``march`` (volumes are the ring volumes). Snapshots have shape (n_R, n_z)."""
    if not isinstance(grid, AxisymmetricGrid):
        raise ValueError("grid must be an AxisymmetricGrid")
    R, z = grid.centres_mesh()
    p0 = np.asarray(psi0(R, z), dtype=float) if callable(psi0) else np.asarray(psi0, dtype=float)
    if p0.shape != R.shape:
        raise ValueError(f"psi0 has shape {p0.shape}; expected {R.shape} (cell centres)")
    src = source
    if callable(source):
        src = lambda t: np.broadcast_to(np.asarray(source(t, R, z), dtype=float), R.shape)  # noqa: E731
    elif source is not None and np.ndim(source) != 0 and np.shape(source) != R.shape:
        raise ValueError(f"source has shape {np.shape(source)}; expected {R.shape} (cell centres)")
    A = _assemble_axisymmetric(grid, tensor)
    kw.setdefault("volumes", cell_volumes(grid))
    return march(A, p0, t_out, dt, source=src, **kw)


def march_cartesian(
    grid: CartesianGrid, D, psi0, t_out, dt: float, *, source=None, A: sp.spmatrix | None = None, **kw
) -> TimeDependentSolution:
    """θ-scheme march on a 3D node grid with ``cartesian.assemble_operator(grid, D)``.

    psi0: array (nx, ny, nz) on all nodes (boundary values are ignored: ψ = 0 there) or a callable
    f(x, y, z). source: None, an array (nx, ny, nz), or a callable q(t_Myr, x, y, z) [ψ/Myr].
    A: an already assembled operator for this grid and D. Other keywords as ``march``.
    Snapshots have shape (nx, ny, nz) with zero boundary values."""
    if not isinstance(grid, CartesianGrid):
        raise ValueError("grid must be a CartesianGrid")
    mesh = grid.mesh_kpc()
    p0 = np.asarray(psi0(*mesh), dtype=float) if callable(psi0) else np.asarray(psi0, dtype=float)
    if p0.shape != grid.shape:
        raise ValueError(f"psi0 has shape {p0.shape}; expected the node grid {grid.shape}")
    inner = (slice(1, -1),) * 3
    inner_mesh = [m[inner] for m in mesh]
    src = source
    if callable(source):
        src = lambda t: np.broadcast_to(
            np.asarray(source(t, *inner_mesh), dtype=float),  # noqa: E731
            inner_mesh[0].shape,
        )
    elif source is not None and np.ndim(source) != 0:
        if np.shape(source) != grid.shape:
            raise ValueError(f"source has shape {np.shape(source)}; expected the node grid {grid.shape}")
        src = np.asarray(source, dtype=float)[inner]
    n_int = (grid.nx - 2) * (grid.ny - 2) * (grid.nz - 2)
    if A is None:
        A = _assemble_cartesian(grid, D)
    elif A.shape != (n_int, n_int):
        raise ValueError(f"operator shape {A.shape} does not match the grid {grid.shape}")
    kw.setdefault("volumes", cell_volumes(grid))
    sol = march(A, p0[inner], t_out, dt, source=src, **kw)
    full = np.zeros((sol.times.size,) + grid.shape)
    full[(slice(None),) + inner] = sol.psi
    sol.psi = full
    return sol
