"""Stationary 3D Cartesian finite-difference solver for ∇·(D∇ψ) + Q = 0 with a full, spatially
varying diffusion tensor D_ij(x, y, z) and ψ = 0 on the outer faces of the box
x ∈ [−X, X], y ∈ [−Y, Y], z ∈ [−H, H].

Discretisation (the layout of Borisov & Kudryashov 2025, section II,
eqs. 2–12, as described in the issue: face-centred diagonal terms, a symmetric four-corner
stencil for the cross terms, conservative form). The paper's text could not be read here, so the
stencil below is the standard conservative second-order node scheme written out and checked in
this module (see ``assemble_operator``); for constant D it is the classical 19-point scheme whose
quadratic form is positive for any SPD tensor (cf. Günter et al. 2005, J. Comput. Phys. 209, 354,
for the corner-flux alternative):

* diagonal terms, flux on the faces i ± ½ with the arithmetic face mean of D_aa,
      ∂_a(D_aa ∂_a ψ) ≈ [D_aa,i+½ (ψ_{i+1} − ψ_i) − D_aa,i−½ (ψ_i − ψ_{i−1})] / h_a²;
* cross terms (a ≠ b), central differences of central-difference fluxes, i.e. the four corners
  (±a, ±b) of the a–b plane,
      ∂_a(D_ab ∂_b ψ) ≈ [D_ab,+a (ψ_{+a+b} − ψ_{+a−b}) − D_ab,−a (ψ_{−a+b} − ψ_{−a−b})] / (4 h_a h_b),
  and the same with a ↔ b. Because D_ab is differenced together with ψ, the ∂_a D_ab ∂_b ψ terms
  of the non-conservative form are contained; summed over (a, b) and (b, a) the stencil is
  symmetric (the weight of corner (+a, +b) seen from node n is (D_ab,n+a + D_ab,n+b)/(4 h_a h_b),
  the same as that of n seen from the corner).

The assembled matrix A (ψ ↦ ∇·(D∇ψ) on interior nodes) is therefore symmetric, and −A is positive
definite for an SPD tensor that varies smoothly on the grid scale; it is solved with conjugate
gradients on −A (Jacobi or algebraic-multigrid preconditioner) or with BiCGSTAB/GMRES + ILU, or a
direct sparse LU for small grids.

Curved Dirichlet walls (the galactic cylinder R < R_max inside the box): ``inside`` marks the
nodes that are unknowns; every other node is pinned to ψ = 0. Taken literally, that puts the wall
on the staircase of the first outside nodes, a first-order error. ``wall`` gives, for a node n and
a pinned neighbour c (axis or corner), the fraction θ of the segment n → c at which it leaves the
domain; c's value in n's row is then the ghost ψ_n (1 − 1/θ), ψ extrapolated linearly through
ψ = 0 on the true wall (the symmetric ghost-point rule of Gibou, Fedkiw, Cheng & Kang 2002,
J. Comput. Phys. 176, 205, applied to the corner couplings too). Only the diagonal changes, so A
stays symmetric. For the axis couplings (positive weights) this adds to the diagonal of −A; a
corner weight can be negative, and then it takes from it — bounded by clipping θ below
(``cylinder_dirichlet``: θ ≥ 0.01); CG has converged on every galactic case tried.

D that varies in space enters through the node tensor (D∥ f∥, D⊥ f⊥ at the nodes;
``diffusion_tensor_from_config`` for every ``[diffusion] spatial`` kind), catastrophic losses as −ν on
the diagonal of the assembled matrix (sdeprop/crosscheck/grid.py); the wind and reacceleration are
solved on the 2D grid only (docs/transport.md, "The grid solvers").

Units: lengths kpc, D kpc²/Myr, Q in (density)/Myr, so ψ is in the density unit of Q × Myr.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from ..config import load_config
from ..io import read_field_grid
from ..models.diffusion import diffusion_at
from ..models.field import evaluate_field

__all__ = [
    "CartesianGrid",
    "CartesianSolution",
    "field_aligned_tensor",
    "assemble_operator",
    "cylinder_dirichlet",
    "solve_stationary",
    "diffusion_tensor_from_config",
    "solve_from_config",
]

TensorInput = np.ndarray | Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
SourceInput = np.ndarray | Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray] | float


@dataclasses.dataclass(frozen=True)
class CartesianGrid:
    """Uniform node grid over [−X, X] × [−Y, Y] × [−H, H] [kpc]; n* counts nodes per axis
    including the two boundary nodes where ψ = 0 (so n* − 2 unknowns per axis)."""

    x_half_kpc: float
    y_half_kpc: float
    z_half_kpc: float
    nx: int
    ny: int
    nz: int

    def __post_init__(self):
        for name in ("x_half_kpc", "y_half_kpc", "z_half_kpc"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float, np.floating, np.integer)) and np.isfinite(v) and v > 0):
                raise ValueError(f"CartesianGrid.{name} must be a finite positive number, got {v!r}")
        for name in ("nx", "ny", "nz"):
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 3:
                raise ValueError(
                    f"CartesianGrid.{name} must be an integer ≥ 3 (nodes incl. both boundaries), got {v!r}"
                )

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.nx, self.ny, self.nz)

    @property
    def spacing_kpc(self) -> tuple[float, float, float]:
        return (
            2 * self.x_half_kpc / (self.nx - 1),
            2 * self.y_half_kpc / (self.ny - 1),
            2 * self.z_half_kpc / (self.nz - 1),
        )

    @property
    def axes_kpc(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return (
            np.linspace(-self.x_half_kpc, self.x_half_kpc, self.nx),
            np.linspace(-self.y_half_kpc, self.y_half_kpc, self.ny),
            np.linspace(-self.z_half_kpc, self.z_half_kpc, self.nz),
        )

    def mesh_kpc(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Node coordinates, each of shape (nx, ny, nz), 'ij' indexing."""
        return np.meshgrid(*self.axes_kpc, indexing="ij")


@dataclasses.dataclass
class CartesianSolution:
    """ψ on all nodes (boundary nodes are 0) and solver diagnostics."""

    grid: CartesianGrid
    psi: np.ndarray
    relative_residual: float
    """‖Q + Aψ‖₂ / ‖Q‖₂ over the interior nodes, recomputed after the solve."""
    iterations: int
    """Krylov iterations (0 for the direct solver)."""
    method: str
    preconditioner: str
    assemble_s: float
    solve_s: float


# ----------------------------------------------------------------------------- tensor helpers
def field_aligned_tensor(b: np.ndarray, D_par_kpc2_per_Myr, D_perp_kpc2_per_Myr) -> np.ndarray:
    """D_ij = D⊥ δ_ij + (D∥ − D⊥) b_i b_j (docs/design.md §2, docs/physics.md §1.6) for b of shape (..., 3);
    b need not be a unit vector (the field floor makes |b| < 1 where |B| → 0). D∥, D⊥ scalars or
    arrays broadcastable to b.shape[:-1]. Returns shape (..., 3, 3) [kpc²/Myr]."""
    b = np.asarray(b, dtype=float)
    if b.shape[-1:] != (3,):
        raise ValueError(f"b must have a last axis of length 3, got shape {b.shape}")
    dpar = np.asarray(D_par_kpc2_per_Myr, dtype=float)[..., None, None]
    dperp = np.asarray(D_perp_kpc2_per_Myr, dtype=float)[..., None, None]
    return dperp * np.eye(3) + (dpar - dperp) * b[..., :, None] * b[..., None, :]


def _tensor_on_grid(grid: CartesianGrid, D: TensorInput) -> np.ndarray:
    """Validate / evaluate the tensor on all nodes; returns shape (nx, ny, nz, 3, 3)."""
    if callable(D):
        D = np.asarray(D(*grid.mesh_kpc()), dtype=float)
    else:
        D = np.asarray(D, dtype=float)
    want = grid.shape + (3, 3)
    if D.shape != want:
        raise ValueError(
            f"diffusion tensor must have shape {want} (nodes incl. boundary, then 3×3), got {D.shape}"
        )
    if not np.all(np.isfinite(D)):
        raise ValueError("diffusion tensor contains non-finite values")
    scale = np.max(np.abs(D))
    if scale == 0:
        raise ValueError("diffusion tensor is identically zero")
    if np.max(np.abs(D - np.swapaxes(D, -1, -2))) > 1e-10 * scale:
        raise ValueError("diffusion tensor must be symmetric (D_ij = D_ji) at every node")
    diag = np.diagonal(D, axis1=-2, axis2=-1)
    if np.any(diag <= 0):
        raise ValueError("diffusion tensor diagonal D_xx, D_yy, D_zz must be > 0 at every node")
    return D


def _source_on_grid(grid: CartesianGrid, Q: SourceInput) -> np.ndarray:
    if callable(Q):
        Q = np.asarray(Q(*grid.mesh_kpc()), dtype=float)
    else:
        Q = np.asarray(Q, dtype=float)
        if Q.ndim == 0:
            Q = np.full(grid.shape, float(Q))
    if Q.shape != grid.shape:
        raise ValueError(f"source Q must have the node-grid shape {grid.shape}, got {Q.shape}")
    if not np.all(np.isfinite(Q)):
        raise ValueError("source Q contains non-finite values")
    return Q


# ----------------------------------------------------------------------------- walls
def cylinder_dirichlet(grid: CartesianGrid, radius_kpc: float, theta_min: float = 1e-2):
    """The galactic cylinder x² + y² < radius² inside the box: (inside, wall) for
    ``assemble_operator``. inside: bool (nx, ny, nz), the nodes strictly inside. wall(x, y, z,
    dx, dy, dz): for nodes at (x, y, z) (arrays) and a step (dx, dy, dz) [kpc] to a pinned node,
    the fraction θ ∈ [theta_min, 1] of the step at which the segment leaves the cylinder (1 when
    the step has no x–y part: the z walls are the box faces)."""
    if not (np.isfinite(radius_kpc) and radius_kpc > 0):
        raise ValueError(f"radius_kpc must be finite and > 0, got {radius_kpc!r}")
    X, Y, _ = grid.mesh_kpc()
    inside = X * X + Y * Y < radius_kpc * radius_kpc
    a2 = float(radius_kpc) ** 2

    def wall(x, y, z, dx, dy, dz):
        dd = dx * dx + dy * dy
        if dd == 0.0:
            return np.ones(np.shape(x))
        pd = x * dx + y * dy
        disc = np.maximum(pd * pd - dd * (x * x + y * y - a2), 0.0)
        return np.clip((np.sqrt(disc) - pd) / dd, theta_min, 1.0)

    return inside, wall


# ----------------------------------------------------------------------------- assembly
def _unknowns(grid: CartesianGrid, inside: np.ndarray | None) -> np.ndarray:
    """Node → unknown index (−1: pinned to ψ = 0), C order over the interior nodes."""
    keep = np.zeros(grid.shape, dtype=bool)
    keep[1:-1, 1:-1, 1:-1] = True
    if inside is not None:
        inside = np.asarray(inside, dtype=bool)
        if inside.shape != grid.shape:
            raise ValueError(f"inside must have the node-grid shape {grid.shape}, got {inside.shape}")
        keep &= inside
    index = -np.ones(grid.shape, dtype=np.int64)
    index[keep] = np.arange(int(keep.sum()))
    return index


def assemble_operator(
    grid: CartesianGrid,
    D: TensorInput,
    *,
    inside: np.ndarray | None = None,
    wall: np.ndarray | None = None,
) -> sp.csr_matrix:
    """Sparse matrix A (unknown nodes, C order over (i, j, k)) of ψ ↦ ∇·(D∇ψ) with ψ = 0 on the
    boundary: face-centred diagonal terms and the symmetric four-corner cross stencil (module
    docstring; layout of Borisov & Kudryashov 2025 sec. II). Second order for smooth D.
    D: array (nx, ny, nz, 3, 3) [kpc²/Myr] on all nodes, or a callable D(x, y, z) of node meshes.
    inside: optional bool (nx, ny, nz); nodes where it is false are pinned to ψ = 0 (default: all
    interior nodes are unknowns). wall: optional callable wall(x, y, z, dx, dy, dz) -> θ ∈ (0, 1],
    the fraction of the step from a node to a pinned neighbour at which ψ = 0 really holds; every
    coupling to a pinned node (axis and corner) then uses the ghost value ψ_n (1 − 1/θ) instead of
    0 (module docstring; ``cylinder_dirichlet`` makes both)."""
    Dn = _tensor_on_grid(grid, D)
    Nx, Ny, Nz = grid.shape
    h = grid.spacing_kpc
    index = _unknowns(grid, inside)
    n_int = int(index.max()) + 1
    if n_int <= 0:
        raise ValueError("no unknown node: the Dirichlet mask excludes every interior node")
    if wall is not None and not callable(wall):
        raise ValueError("wall must be a callable wall(x, y, z, dx, dy, dz) -> fraction in (0, 1]")
    row = index[1:-1, 1:-1, 1:-1]
    live = row >= 0
    nodes = [c[1:-1, 1:-1, 1:-1] for c in grid.mesh_kpc()] if wall is not None else None

    def sh(F, off):
        """View of node array F shifted by off = (dx, dy, dz) relative to the interior nodes."""
        dx, dy, dz = off
        return F[1 + dx : Nx - 1 + dx, 1 + dy : Ny - 1 + dy, 1 + dz : Nz - 1 + dz]

    def unit(a, s=1):
        e = [0, 0, 0]
        e[a] = s
        return e

    rows, cols, vals = [], [], []

    centre = np.zeros(row.shape)

    def add(off, coef):
        col = sh(index, off)
        keep = (col >= 0) & live
        coef = np.broadcast_to(coef, row.shape)
        rows.append(row[keep])
        cols.append(col[keep])
        vals.append(coef[keep])
        if wall is not None and any(off):  # pinned neighbour: ghost ψ_n (1 − 1/θ), i.e. ψ = 0 at θ·step
            pinned = (col < 0) & live
            if pinned.any():
                step = [o * hh for o, hh in zip(off, h)]
                theta = wall(nodes[0][pinned], nodes[1][pinned], nodes[2][pinned], *step)
                centre[pinned] += coef[pinned] * (1.0 - 1.0 / theta)

    for a in range(3):
        Daa = Dn[..., a, a]
        c0 = sh(Daa, (0, 0, 0))
        for sign in (+1, -1):
            d = 0.5 * (c0 + sh(Daa, unit(a, sign))) / h[a] ** 2
            add(unit(a, sign), d)
            centre -= d

    for a, b in ((0, 1), (0, 2), (1, 2)):
        Dab = Dn[..., a, b]
        w = 1.0 / (4.0 * h[a] * h[b])
        pa, ma, pb, mb = (
            sh(Dab, unit(a, +1)),
            sh(Dab, unit(a, -1)),
            sh(Dab, unit(b, +1)),
            sh(Dab, unit(b, -1)),
        )
        for sa, sb, coef in (
            (+1, +1, (pa + pb) * w),
            (+1, -1, -(pa + mb) * w),
            (-1, +1, -(ma + pb) * w),
            (-1, -1, (ma + mb) * w),
        ):
            off = [0, 0, 0]
            off[a], off[b] = sa, sb
            add(tuple(off), coef)
    add((0, 0, 0), centre)

    A = sp.coo_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n_int, n_int)
    ).tocsr()
    A.sum_duplicates()
    return A


# ----------------------------------------------------------------------------- solve
_METHODS = ("cg", "bicgstab", "gmres", "direct")
_PRECONDITIONERS = ("jacobi", "ilu", "amg", "none")


def _preconditioner(M: sp.csr_matrix, name: str):
    if name == "none":
        return None
    if name == "jacobi":
        inv = 1.0 / M.diagonal()
        return spla.LinearOperator(M.shape, matvec=lambda v: inv * v, dtype=float)
    if name == "ilu":
        ilu = spla.spilu(M.tocsc(), drop_tol=1e-4, fill_factor=10)
        return spla.LinearOperator(M.shape, matvec=ilu.solve, dtype=float)
    if name == "amg":
        try:
            import pyamg  # optional
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ValueError("preconditioner='amg' needs pyamg, which is not installed") from exc
        return pyamg.smoothed_aggregation_solver(M.tocsr(), symmetry="symmetric").aspreconditioner(cycle="V")
    raise ValueError(f"unknown preconditioner {name!r}")


def solve_stationary(
    grid: CartesianGrid,
    D: TensorInput,
    Q: SourceInput,
    *,
    method: str = "cg",
    preconditioner: str | None = None,
    rtol: float = 1e-10,
    maxiter: int | None = None,
    A: sp.spmatrix | None = None,
    inside: np.ndarray | None = None,
    wall: np.ndarray | None = None,
    x0: np.ndarray | None = None,
) -> CartesianSolution:
    """Solve ∇·(D∇ψ) + Q = 0 in the box with ψ = 0 on its faces (scheme: ``assemble_operator``).

    D: tensor on nodes (nx, ny, nz, 3, 3) [kpc²/Myr] or callable D(x, y, z); Q: node array,
    callable Q(x, y, z) or scalar [density/Myr] (only interior values are used).
    method: 'cg' (on the SPD matrix −A; default preconditioner 'jacobi'), 'bicgstab' or 'gmres'
    (default 'ilu'), or 'direct' (sparse LU; small grids only). preconditioner: 'jacobi', 'ilu',
    'amg' (pyamg, if installed) or 'none'. rtol: relative residual target of the Krylov solve.
    Measured (2-core box, cerri_toy/UF23, ε = 0.1, rtol 1e-8): cg + jacobi solves 64³ nodes in
    ~1.3–1.5 s (290–390 iterations) and 128×128×32 in ~3.8 s; bicgstab + spilu needs fewer
    iterations but its factorisation takes 90–170 s and twice the memory there, so use cg.
    A: an already assembled operator for the same grid, D, inside and wall (skips assembly).
    inside, wall: Dirichlet mask and wall distances (``assemble_operator``); ψ = 0 off the mask.
    x0: initial guess for the Krylov solvers, on the unknowns (default 0)."""
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
    if preconditioner is None:
        preconditioner = {"cg": "jacobi", "direct": "none"}.get(method, "ilu")
    if preconditioner not in _PRECONDITIONERS:
        raise ValueError(f"preconditioner must be one of {_PRECONDITIONERS}, got {preconditioner!r}")
    if not (np.isfinite(rtol) and 0 < rtol < 1):
        raise ValueError(f"rtol must be in (0, 1), got {rtol!r}")
    Qn = _source_on_grid(grid, Q)
    t0 = time.perf_counter()
    index = _unknowns(grid, inside)
    unknown = index >= 0
    if A is None:
        A = assemble_operator(grid, D, inside=inside, wall=wall)
    elif A.shape != (int(unknown.sum()),) * 2:
        raise ValueError(f"operator shape {A.shape} does not match the grid {grid.shape} and its mask")
    t1 = time.perf_counter()
    M = (-A).tocsr()
    rhs = Qn[unknown]
    iters = 0
    if method == "direct":
        x = spla.spsolve(M.tocsc(), rhs)
        info = 0
    else:
        P = _preconditioner(M, preconditioner)
        count = [0]

        def cb(_):
            count[0] += 1

        maxit = maxiter if maxiter is not None else 20 * int(sum(grid.shape))
        if method == "cg":
            x, info = spla.cg(M, rhs, x0=x0, rtol=rtol, atol=0.0, maxiter=maxit, M=P, callback=cb)
        elif method == "bicgstab":
            x, info = spla.bicgstab(M, rhs, x0=x0, rtol=rtol, atol=0.0, maxiter=maxit, M=P, callback=cb)
        else:
            x, info = spla.gmres(
                M,
                rhs,
                x0=x0,
                rtol=rtol,
                atol=0.0,
                restart=50,
                maxiter=maxit,
                M=P,
                callback=cb,
                callback_type="pr_norm",
            )
        iters = count[0]
    t2 = time.perf_counter()
    nrm = np.linalg.norm(rhs)
    res = float(np.linalg.norm(rhs - M @ x) / nrm) if nrm > 0 else float(np.linalg.norm(M @ x))
    if info != 0 and not res <= 10 * rtol:
        raise RuntimeError(
            f"{method} did not converge (info={info}, relative residual {res:.3e} after {iters} iterations)"
        )
    psi = np.zeros(grid.shape)
    psi[unknown] = x
    return CartesianSolution(
        grid=grid,
        psi=psi,
        relative_residual=res,
        iterations=iters,
        method=method,
        preconditioner=preconditioner,
        assemble_s=t1 - t0,
        solve_s=t2 - t1,
    )


# ----------------------------------------------------------------------------- sdeprop models
def diffusion_tensor_from_config(
    cfg, grid: CartesianGrid, kinetic_GeV: float, species: str | None = None
) -> np.ndarray:
    """D on the grid's nodes [kpc²/Myr] from sdeprop's models, as the SDE kernel builds it:
    B from ``models.field.evaluate_field(cfg.field, ·)`` [μG], b = B/sqrt(|B|² + B_f²) with
    B_f = cfg.numerics.field_floor_uG (config.py NumericsSection), D∥, D⊥ from
    ``models.diffusion.diffusion_at(cfg.diffusion, species, E)``; D = D⊥ I + (D∥ − D⊥) b bᵀ
    (docs/physics.md §1.6), times the factors f∥, f⊥ of ``[diffusion] spatial`` at the nodes
    (``gridsolver.terms.SpatialFactors``). species defaults to cfg.species.name."""
    cfg = load_config(cfg)
    if not (np.isfinite(kinetic_GeV) and kinetic_GeV > 0):
        raise ValueError(f"kinetic_GeV must be finite and > 0, got {kinetic_GeV!r}")
    species = species or cfg.species.name
    pts = np.stack([c.ravel() for c in grid.mesh_kpc()], axis=1)
    B, _ = evaluate_field(cfg.field, pts, grid_file=read_field_grid(cfg.field))
    bf = cfg.numerics.field_floor_uG
    b = B / np.sqrt(np.sum(B * B, axis=1) + bf * bf)[:, None]
    dpar, dperp = diffusion_at(cfg.diffusion, species, kinetic_GeV)
    fpar = fperp = 1.0
    if cfg.diffusion.spatial != "uniform":
        from .terms import SpatialFactors

        fpar, fperp, _ = SpatialFactors(cfg)(pts[:, 0], pts[:, 1], pts[:, 2], kinetic_GeV)
    return field_aligned_tensor(b, dpar[0] * fpar, dperp[0] * fperp).reshape(grid.shape + (3, 3))


def solve_from_config(
    cfg, grid: CartesianGrid, kinetic_GeV: float, Q: SourceInput, species: str | None = None, **solver_kw
) -> CartesianSolution:
    """Loss-free stationary solve at one kinetic energy [GeV] with the tensor of
    ``diffusion_tensor_from_config`` and the caller's source Q (``solve_stationary``)."""
    D = diffusion_tensor_from_config(cfg, grid, kinetic_GeV, species)
    return solve_stationary(grid, D, Q, **solver_kw)
