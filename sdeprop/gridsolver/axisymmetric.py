"""Stationary 2D axisymmetric (R, z) finite-volume solver for ∇·(D∇ψ) + Q = 0.

Equation (docs/design.md §2, steady state, no losses), in cylindrical coordinates for an
axisymmetric ψ(R, z) and the (R, z) block of D = D⊥ I + (D∥ − D⊥) b̂b̂ᵀ (docs/physics.md §1.6):

    (1/R) ∂_R[R (D_RR ∂_Rψ + D_Rz ∂_zψ)] + ∂_z[D_Rz ∂_Rψ + D_zz ∂_zψ] + Q = 0,

ψ = 0 on R = R_max and on |z| = H (free escape), zero flux (regularity) at R = 0.

Discretisation (derived here; the conservative scheme with face-centred diagonal fluxes
and corner-centred cross fluxes follows the structure described for DRAGON's anisotropic
solver in Cerri et al. 2017, JCAP 10, 019, appendix A, which could not be read beyond the
abstract — see docs/physics.md §1.5 — and the "symmetric" corner stencil of Günter et al. 2005,
J. Comput. Phys. 209, 354):

* cell-centred grid, n_R × n_z cells of size h_R × h_z; R_i = (i + ½) h_R, z_j = −H + (j + ½) h_z;
* finite volume on the ring cell (volume ∝ R_i h_R h_z):
  div_ij = [R_{i+½} F_R(i+½, j) − R_{i−½} F_R(i−½, j)] / (R_i h_R) + [F_z(i, j+½) − F_z(i, j−½)] / h_z;
* diagonal parts on faces: F_R ⊃ D_RR(face) (ψ_{i+1,j} − ψ_ij)/h_R, F_z ⊃ D_zz(face) (ψ_{i,j+1} − ψ_ij)/h_z;
* cross parts on cell corners (vertices): the corner gradient is the four-cell average
  ∂_Rψ_c = (ψ_{i+1,j} + ψ_{i+1,j+1} − ψ_ij − ψ_{i,j+1})/(2h_R) (likewise ∂_zψ_c), the corner
  cross fluxes are q_R = D_Rz(c) ∂_zψ_c and q_z = D_Rz(c) ∂_Rψ_c, and a face takes the mean of
  its two corners (R-weighted on z-faces, so the discrete operator keeps the R-volume form);
* boundaries by ghost cells: odd reflection (ψ_ghost = −ψ) across R = R_max and |z| = H
  (ψ = 0 on the wall, also making the tangential corner derivative vanish there), zero
  area (R = 0) for the axis face; corners on the axis carry zero R-weight.

All parts are second order in h for smooth D and ψ (checked in
tests/test_gridsolver_axisymmetric.py: error ratio ≈ 4 per halving of h).

Transport terms beyond uniform diffusion (docs/transport.md, "The grid solvers"):

* D that varies in space: a :class:`StaggeredTensor` gives D on the faces and corners directly
  (:func:`staggered_tensor`: D⊥ f⊥ (I − b bᵀ) + D∥ f∥ b bᵀ, the factors of ``[diffusion] spatial`` from
  :func:`axisymmetric_factors`, harmonic means of f over the two half cells on a face — exact for a jump
  of D on the face, first order for one inside a cell; tests/test_gridsolver_transport.py);
* the wind u = sign(z)(v0 + dv/dz |z|) ẑ: :func:`advection_operator` (−∇·(uψ), first-order upwind fluxes
  through the z-faces, u = 0 on the plane, no advective flux through |z| = H where ψ = 0) and
  :func:`cell_wind_divergence` (the exact cell integral of ∇·u = dv/dz + 2 v0 δ(z), for the adiabatic loss).
Units: kpc, Myr; D in kpc²/Myr, Q in [ψ]/Myr.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from ..config import load_config
from ..io import read_field_grid
from ..models.diffusion import diffusion_at
from ..models.field import evaluate_field

__all__ = [
    "AxisymmetricGrid",
    "AxisymmetricSolution",
    "assemble_operator",
    "solve_axisymmetric",
    "tensor_from_field",
    "tensor_from_config",
    "StaggeredTensor",
    "staggered_tensor",
    "axisymmetric_factors",
    "advection_operator",
    "cell_wind_divergence",
]


@dataclass(frozen=True)
class StaggeredTensor:
    """(D_RR, D_Rz, D_zz) [kpc²/Myr] given where the scheme uses them: on the R-faces (n_R + 1, n_z), the
    z-faces (n_R, n_z + 1) and the corners (n_R + 1, n_z + 1) (``staggered_tensor`` builds one)."""

    faces_R: tuple
    faces_z: tuple
    corners: tuple


TensorInput = Callable | Sequence[np.ndarray] | StaggeredTensor


@dataclass(frozen=True)
class AxisymmetricGrid:
    """Cell-centred (R, z) grid: R ∈ [0, R_max_kpc] with n_R cells, z ∈ [−H_kpc, H_kpc] with n_z cells."""

    R_max_kpc: float
    H_kpc: float
    n_R: int
    n_z: int

    def __post_init__(self):
        for name in ("R_max_kpc", "H_kpc"):
            v = getattr(self, name)
            if not (np.isfinite(v) and v > 0):
                raise ValueError(f"AxisymmetricGrid: {name} must be finite and > 0, got {v!r}")
        for name in ("n_R", "n_z"):
            v = getattr(self, name)
            if int(v) != v or v < 2:
                raise ValueError(f"AxisymmetricGrid: {name} must be an integer ≥ 2, got {v!r}")

    @property
    def dR_kpc(self) -> float:
        return self.R_max_kpc / self.n_R

    @property
    def dz_kpc(self) -> float:
        return 2.0 * self.H_kpc / self.n_z

    @property
    def R_centres_kpc(self) -> np.ndarray:
        return (np.arange(self.n_R) + 0.5) * self.dR_kpc

    @property
    def z_centres_kpc(self) -> np.ndarray:
        return -self.H_kpc + (np.arange(self.n_z) + 0.5) * self.dz_kpc

    @property
    def R_nodes_kpc(self) -> np.ndarray:
        """Cell corners (vertices) in R, n_R + 1 values from 0 to R_max."""
        return np.arange(self.n_R + 1) * self.dR_kpc

    @property
    def z_nodes_kpc(self) -> np.ndarray:
        """Cell corners (vertices) in z, n_z + 1 values from −H to H."""
        return -self.H_kpc + np.arange(self.n_z + 1) * self.dz_kpc

    def centres_mesh(self):
        """(R, z) of the cell centres, each of shape (n_R, n_z)."""
        return np.meshgrid(self.R_centres_kpc, self.z_centres_kpc, indexing="ij")

    def nodes_mesh(self):
        """(R, z) of the vertices, each of shape (n_R + 1, n_z + 1)."""
        return np.meshgrid(self.R_nodes_kpc, self.z_nodes_kpc, indexing="ij")


@dataclass
class AxisymmetricSolution:
    """ψ at the cell centres (shape (n_R, n_z)), the grid and the relative residual ‖Aψ − b‖/‖b‖."""

    grid: AxisymmetricGrid
    psi: np.ndarray
    residual: float

    @property
    def R_kpc(self) -> np.ndarray:
        return self.grid.R_centres_kpc

    @property
    def z_kpc(self) -> np.ndarray:
        return self.grid.z_centres_kpc


# ----------------------------------------------------------------------------------------
# tensor sampling and validation


def _check_tensor(name, drr, drz, dzz):
    """Positive-(semi)definiteness of the 2×2 block: D_RR > 0, D_zz > 0, D_RR D_zz − D_Rz² ≥ 0."""
    for comp, a in (("D_RR", drr), ("D_Rz", drz), ("D_zz", dzz)):
        if not np.all(np.isfinite(a)):
            raise ValueError(f"diffusion tensor on {name}: {comp} has non-finite values")
    if np.any(drr <= 0) or np.any(dzz <= 0):
        raise ValueError(
            f"diffusion tensor on {name}: D_RR and D_zz must be > 0 [kpc²/Myr] "
            f"(min D_RR = {drr.min():.3g}, min D_zz = {dzz.min():.3g})"
        )
    det = drr * dzz - drz * drz
    if np.any(det < -1e-12 * drr * dzz):
        raise ValueError(
            f"diffusion tensor on {name}: not positive semi-definite "
            f"(D_RR D_zz − D_Rz² < 0 somewhere, min {det.min():.3g})"
        )


def _sample_tensor(grid: AxisymmetricGrid, tensor: TensorInput):
    """D components on R-faces (n_R+1, n_z), z-faces (n_R, n_z+1) and corners (n_R+1, n_z+1).

    ``tensor`` is either a callable f(R_kpc, z_kpc) -> (D_RR, D_Rz, D_zz) [kpc²/Myr] evaluated
    exactly at faces and corners, or three arrays of shape (n_R + 1, n_z + 1) on the vertices
    (grid.nodes_mesh()), averaged to the faces (second order), or a :class:`StaggeredTensor`."""
    Rn, zn = grid.R_nodes_kpc, grid.z_nodes_kpc
    Rc, zc = grid.R_centres_kpc, grid.z_centres_kpc
    if isinstance(tensor, StaggeredTensor):
        shapes = ((grid.n_R + 1, grid.n_z), (grid.n_R, grid.n_z + 1), (grid.n_R + 1, grid.n_z + 1))
        parts = []
        for nm, part, shape in zip(
            ("faces_R", "faces_z", "corners"), (tensor.faces_R, tensor.faces_z, tensor.corners), shapes
        ):
            comps = tuple(np.broadcast_to(np.asarray(a, dtype=float), shape) for a in part)
            if len(comps) != 3:
                raise ValueError(f"StaggeredTensor.{nm} must be (D_RR, D_Rz, D_zz)")
            parts.append(comps)
        faces_R, faces_z, corners = parts
    elif callable(tensor):

        def ev(R, z):
            RR, ZZ = np.meshgrid(R, z, indexing="ij")
            out = tensor(RR, ZZ)
            if len(out) != 3:
                raise ValueError("tensor callable must return (D_RR, D_Rz, D_zz)")
            return tuple(np.broadcast_to(np.asarray(o, dtype=float), RR.shape).copy() for o in out)

        faces_R = ev(Rn, zc)
        faces_z = ev(Rc, zn)
        corners = ev(Rn, zn)
    else:
        try:
            comps = [np.asarray(a, dtype=float) for a in tensor]
        except TypeError as exc:
            raise ValueError("tensor must be a callable or a sequence (D_RR, D_Rz, D_zz) of arrays") from exc
        if len(comps) != 3:
            raise ValueError("tensor must be (D_RR, D_Rz, D_zz)")
        shape = (grid.n_R + 1, grid.n_z + 1)
        for nm, a in zip(("D_RR", "D_Rz", "D_zz"), comps):
            if a.shape != shape:
                raise ValueError(
                    f"tensor array {nm} has shape {a.shape}; expected {shape} "
                    "(values on the cell vertices, grid.nodes_mesh())"
                )
        corners = tuple(comps)
        faces_R = tuple(0.5 * (a[:, :-1] + a[:, 1:]) for a in comps)
        faces_z = tuple(0.5 * (a[:-1, :] + a[1:, :]) for a in comps)
    # the axis face and axis corners carry zero area; skip them in the check
    _check_tensor("R-faces", *(a[1:] for a in faces_R))
    _check_tensor("z-faces", *faces_z)
    _check_tensor("corners", *(a[1:] for a in corners))
    return faces_R, faces_z, corners


# ----------------------------------------------------------------------------------------
# assembly


def _ghost(i, j, nR, nz):
    """Map (possibly ghost) cell indices to (flat index, sign): odd reflection across
    R = R_max and |z| = H (ψ = 0 there), even reflection across the axis (ψ even in R)."""
    i = np.asarray(i)
    j = np.asarray(j)
    sign = np.ones(np.broadcast(i, j).shape)
    ii = np.where(i < 0, -1 - i, i)
    sign = np.where(i >= nR, -sign, sign)
    ii = np.where(ii >= nR, 2 * nR - 1 - ii, ii)
    sign = np.where((j < 0) | (j >= nz), -sign, sign)
    jj = np.where(j < 0, -1 - j, j)
    jj = np.where(jj >= nz, 2 * nz - 1 - jj, jj)
    return ii * nz + jj, sign


def _stencil(n_rows, rows, terms, nR, nz):
    """Sparse (n_rows × nR·nz) matrix: row r gets Σ coef · ψ(i, j) over the (i, j, coef) terms,
    ghost cells folded in by _ghost."""
    r_all, c_all, v_all = [], [], []
    for i, j, coef in terms:
        idx, sgn = _ghost(i, j, nR, nz)
        r_all.append(np.broadcast_to(rows, idx.shape).ravel())
        c_all.append(idx.ravel())
        v_all.append((np.broadcast_to(coef, idx.shape) * sgn).ravel())
    return sp.csr_matrix(
        (np.concatenate(v_all), (np.concatenate(r_all), np.concatenate(c_all))), shape=(n_rows, nR * nz)
    )


def assemble_operator(grid: AxisymmetricGrid, tensor: TensorInput) -> sp.csr_matrix:
    """Sparse matrix L (N × N, N = n_R n_z, flat index i·n_z + j) with Lψ ≈ ∇·(D∇ψ) [1/Myr × ψ]
    at the cell centres, ψ = 0 on R = R_max and |z| = H, zero flux at R = 0.

    Conservative finite-volume scheme of the module docstring (face-centred diagonal fluxes,
    corner-centred cross fluxes; cf. Cerri et al. 2017 JCAP 10, 019 app. A; Günter et al.
    2005 JCP 209, 354). ``tensor``: callable f(R_kpc, z_kpc) -> (D_RR, D_Rz, D_zz) in kpc²/Myr,
    three vertex arrays of shape (n_R + 1, n_z + 1), or a :class:`StaggeredTensor` (face and corner
    values, e.g. with the spatial factors of D: :func:`staggered_tensor`)."""
    nR, nz = grid.n_R, grid.n_z
    hR, hz = grid.dR_kpc, grid.dz_kpc
    (fRR, fRz, _), (_, gRz, gzz), (cRR, cRz, czz) = _sample_tensor(grid, tensor)

    # corners (ic, jc), ic = 0..nR, jc = 0..nz: surrounding cells (ic-1|ic, jc-1|jc)
    IC, JC = np.meshgrid(np.arange(nR + 1), np.arange(nz + 1), indexing="ij")
    nC = IC.size
    crow = (IC * (nz + 1) + JC).ravel()
    ic, jc = IC.ravel(), JC.ravel()
    dR_c = _stencil(
        nC,
        crow,
        [(ic, jc - 1, 0.5 / hR), (ic, jc, 0.5 / hR), (ic - 1, jc - 1, -0.5 / hR), (ic - 1, jc, -0.5 / hR)],
        nR,
        nz,
    )
    dz_c = _stencil(
        nC,
        crow,
        [(ic - 1, jc, 0.5 / hz), (ic, jc, 0.5 / hz), (ic - 1, jc - 1, -0.5 / hz), (ic, jc - 1, -0.5 / hz)],
        nR,
        nz,
    )
    Rcorner = ic * hR
    qR = sp.diags(cRz.ravel()) @ dz_c  # corner cross flux, R component
    qzw = sp.diags(Rcorner * cRz.ravel()) @ dR_c  # R-weighted corner cross flux, z component

    # R-faces (if, j), if = 0..nR, j = 0..nz-1 (face at R = if·h_R)
    IF, J = np.meshgrid(np.arange(nR + 1), np.arange(nz), indexing="ij")
    nFR = IF.size
    frow = (IF * nz + J).ravel()
    iF, jF = IF.ravel(), J.ravel()
    gR = _stencil(nFR, frow, [(iF, jF, 1.0 / hR), (iF - 1, jF, -1.0 / hR)], nR, nz)
    # mean of the two corners (if, j) and (if, j+1)
    avgR = sp.csr_matrix(
        (
            np.full(2 * nFR, 0.5),
            (np.concatenate([frow, frow]), np.concatenate([iF * (nz + 1) + jF, iF * (nz + 1) + jF + 1])),
        ),
        shape=(nFR, nC),
    )
    Rface = iF * hR  # zero on the axis: no flux
    FRw = sp.diags(Rface) @ (sp.diags(fRR.ravel()) @ gR + avgR @ qR)

    # z-faces (i, jf), i = 0..nR-1, jf = 0..nz
    I, JF = np.meshgrid(np.arange(nR), np.arange(nz + 1), indexing="ij")
    nFz = I.size
    zrow = (I * (nz + 1) + JF).ravel()
    iZ, jZ = I.ravel(), JF.ravel()
    gz = _stencil(nFz, zrow, [(iZ, jZ, 1.0 / hz), (iZ, jZ - 1, -1.0 / hz)], nR, nz)
    avgZ = sp.csr_matrix(
        (
            np.full(2 * nFz, 0.5),
            (np.concatenate([zrow, zrow]), np.concatenate([iZ * (nz + 1) + jZ, (iZ + 1) * (nz + 1) + jZ])),
        ),
        shape=(nFz, nC),
    )
    Rc = (iZ + 0.5) * hR
    Fzw = sp.diags(Rc * gzz.ravel()) @ gz + avgZ @ qzw  # R-weighted z flux

    # divergence on cells: [R F_R]_{i-½}^{i+½}/(R_i h_R) + [R F_z]_{j-½}^{j+½}/(R_i h_z)
    Ic, Jc = np.meshgrid(np.arange(nR), np.arange(nz), indexing="ij")
    cell = (Ic * nz + Jc).ravel()
    ii, jj = Ic.ravel(), Jc.ravel()
    Ri = (ii + 0.5) * hR
    N = nR * nz
    divR = sp.csr_matrix(
        (
            np.concatenate([1.0 / (Ri * hR), -1.0 / (Ri * hR)]),
            (np.concatenate([cell, cell]), np.concatenate([(ii + 1) * nz + jj, ii * nz + jj])),
        ),
        shape=(N, nFR),
    )
    divz = sp.csr_matrix(
        (
            np.concatenate([1.0 / (Ri * hz), -1.0 / (Ri * hz)]),
            (np.concatenate([cell, cell]), np.concatenate([ii * (nz + 1) + jj + 1, ii * (nz + 1) + jj])),
        ),
        shape=(N, nFz),
    )
    L = divR @ FRw + divz @ Fzw
    L = sp.csr_matrix(L)
    L.eliminate_zeros()
    return L


def _source_on_cells(grid: AxisymmetricGrid, source) -> np.ndarray:
    if callable(source):
        R, z = grid.centres_mesh()
        q = np.broadcast_to(np.asarray(source(R, z), dtype=float), R.shape)
    else:
        q = np.asarray(source, dtype=float)
        if q.shape != (grid.n_R, grid.n_z):
            raise ValueError(
                f"source array has shape {q.shape}; expected {(grid.n_R, grid.n_z)} "
                "(values at the cell centres, grid.centres_mesh())"
            )
    if not np.all(np.isfinite(q)):
        raise ValueError("source has non-finite values")
    return q


def solve_axisymmetric(
    tensor: TensorInput, source, *, R_max_kpc: float, H_kpc: float, n_R: int, n_z: int, method: str = "splu"
) -> AxisymmetricSolution:
    """Solve ∇·(D∇ψ) + Q = 0 in (R, z) with ψ = 0 on R = R_max_kpc and |z| = H_kpc,
    regularity at R = 0 (module docstring for the scheme; docs/design.md §2, docs/physics.md §1.6).

    tensor: callable f(R_kpc, z_kpc) -> (D_RR, D_Rz, D_zz) [kpc²/Myr] (broadcasting arrays), or
            three arrays of shape (n_R + 1, n_z + 1) at the vertices.
    source: callable q(R_kpc, z_kpc) [ψ/Myr] or an array (n_R, n_z) at the cell centres.
    method: "splu" (SuperLU factorisation) or "spsolve".
    Returns ψ at the cell centres and the relative residual ‖Lψ + Q‖/‖Q‖."""
    grid = AxisymmetricGrid(float(R_max_kpc), float(H_kpc), n_R, n_z)
    q = _source_on_cells(grid, source).ravel()
    L = assemble_operator(grid, tensor)
    A = (-L).tocsc()
    if method == "splu":
        psi = spla.splu(A, permc_spec="COLAMD").solve(q)
    elif method == "spsolve":
        psi = spla.spsolve(A, q)
    else:
        raise ValueError(f"method must be 'splu' or 'spsolve', got {method!r}")
    nq = np.linalg.norm(q)
    res = np.linalg.norm(A @ psi - q) / nq if nq > 0 else float(np.linalg.norm(A @ psi))
    return AxisymmetricSolution(grid, psi.reshape(grid.n_R, grid.n_z), float(res))


# ----------------------------------------------------------------------------------------
# convenience: tensor from sdeprop's field and diffusion models


def tensor_from_field(
    B_R_uG, B_phi_uG, B_z_uG, D_par_kpc2_per_Myr, D_perp_kpc2_per_Myr, field_floor_uG: float
):
    """(D_RR, D_Rz, D_zz) from field components [μG] and D∥, D⊥ [kpc²/Myr] (scalars or arrays).

    b = B/sqrt(|B|² + B_f²) (the kernel's floor, config numerics.field_floor_uG) and
    D_ij = D⊥ δ_ij + (D∥ − D⊥) b_i b_j (docs/physics.md §1.6); B_φ enters only through |B|."""
    BR, Bp, Bz = (np.asarray(a, dtype=float) for a in (B_R_uG, B_phi_uG, B_z_uG))
    dpar, dperp = np.asarray(D_par_kpc2_per_Myr, float), np.asarray(D_perp_kpc2_per_Myr, float)
    if np.any(dpar <= 0) or np.any(dperp <= 0):
        raise ValueError("D_par and D_perp must be > 0 [kpc²/Myr]")
    norm = np.sqrt(BR * BR + Bp * Bp + Bz * Bz + field_floor_uG**2)
    bR, bz = BR / norm, Bz / norm
    dd = dpar - dperp
    return dperp + dd * bR * bR, dd * bR * bz, dperp + dd * bz * bz


#: where ``tensor_from_config`` samples the field for the vertices on the axis, in units of h_R
AXIS_SAMPLE_FRACTION = 1e-6


def tensor_from_config(cfg, species: str, kinetic_GeV: float, grid: AxisymmetricGrid, phi_rad: float = 0.0):
    """The tensor [kpc²/Myr] for ``solve_axisymmetric`` from sdeprop's configuration: B from
    ``sdeprop.models.field.evaluate_field(cfg.field, …)`` sampled on the vertices at azimuth phi_rad
    (default y = 0, x = R), projected on R̂ and ẑ; D∥, D⊥ from
    ``sdeprop.models.diffusion.diffusion_at(cfg.diffusion, species, kinetic_GeV)``; the field
    floor from cfg.numerics.field_floor_uG (as the SDE kernel; docs/physics.md §1.6).  The vertices on
    the axis take the field at R = AXIS_SAMPLE_FRACTION h_R (the limit R → 0⁺ along phi_rad).

    Uniform D (diffusion.spatial = 'uniform'): vertex arrays (D_RR, D_Rz, D_zz).  Otherwise a
    :class:`StaggeredTensor` with D∥ f∥ and D⊥ f⊥, the factors of ``[diffusion] spatial`` taken on
    the faces and corners (:func:`staggered_tensor`, :func:`axisymmetric_factors`)."""
    cfg = load_config(cfg)
    R, z = grid.nodes_mesh()
    c, s = np.cos(phi_rad), np.sin(phi_rad)
    # the axis vertices are sampled a hair off the axis, along phi_rad: the limit R → 0⁺ of B_R, B_φ, B_z,
    # which a field of constant cylindrical components (cylindrical_uniform) has although its Cartesian
    # form is undefined on the axis; for a field smooth there this moves them by O(1e-6 h_R |∇B|)
    Rs = np.where(R == 0.0, AXIS_SAMPLE_FRACTION * grid.dR_kpc, R)
    pts = np.column_stack([(Rs * c).ravel(), (Rs * s).ravel(), z.ravel()])
    B, _ = evaluate_field(cfg.field, pts, grid_file=read_field_grid(cfg.field))
    BR = B[:, 0] * c + B[:, 1] * s
    Bp = -B[:, 0] * s + B[:, 1] * c
    Bz = B[:, 2]
    dpar, dperp = diffusion_at(cfg.diffusion, species, kinetic_GeV)
    if cfg.diffusion.spatial != "uniform":
        from .terms import SpatialFactors

        factors = axisymmetric_factors(grid, SpatialFactors(cfg), kinetic_GeV, phi_rad)
        shape = R.shape
        return staggered_tensor(
            grid,
            BR.reshape(shape),
            Bp.reshape(shape),
            Bz.reshape(shape),
            float(dpar[0]),
            float(dperp[0]),
            cfg.numerics.field_floor_uG,
            factors,
        )
    out = tensor_from_field(BR, Bp, Bz, float(dpar[0]), float(dperp[0]), cfg.numerics.field_floor_uG)
    return tuple(a.reshape(R.shape) for a in out)


# ----------------------------------------------------------------------------------------
# D that varies in space, and the wind


def axisymmetric_factors(grid: AxisymmetricGrid, sample, kinetic_GeV: float, phi_rad: float = 0.0):
    """(f∥, f⊥) of D on the R-faces, the z-faces and the corners: a tuple of three pairs of arrays.

    ``sample(x, y, z, T)`` -> (f∥, f⊥, …) (``terms.SpatialFactors``), evaluated at azimuth phi_rad.  A face
    takes the harmonic mean of f at the centres of its two half cells (``terms.face_factors``: exact
    for a jump of D on the face, O(h²) from the point value where f is smooth); a corner the point value.
    On the axis face (zero area) the outer half cell is used twice."""
    from .terms import face_factors

    c, s = np.cos(phi_rad), np.sin(phi_rad)

    def at(R, z):
        return sample(R * c, R * s, z, kinetic_GeV)

    hR, hz = grid.dR_kpc, grid.dz_kpc
    RnR, zcR = np.meshgrid(grid.R_nodes_kpc, grid.z_centres_kpc, indexing="ij")
    fR = face_factors(at, (np.abs(RnR - 0.25 * hR), zcR), (RnR + 0.25 * hR, zcR))
    Rcz, znz = np.meshgrid(grid.R_centres_kpc, grid.z_nodes_kpc, indexing="ij")
    fz = face_factors(at, (Rcz, znz - 0.25 * hz), (Rcz, znz + 0.25 * hz))
    Rn, zn = grid.nodes_mesh()
    fc = at(Rn, zn)[:2]
    return fR, fz, fc


def staggered_tensor(grid: AxisymmetricGrid, BR, Bp, Bz, dpar, dperp, field_floor_uG: float, factors=None):
    """:class:`StaggeredTensor` of D = D⊥ f⊥ (I − b bᵀ) + D∥ f∥ b bᵀ from the field on the vertices [μG].

    b b ᵀ and I − b bᵀ are averaged from the vertices to the faces as the vertex-array input of
    :func:`assemble_operator` does (so f = 1 gives the same operator); ``factors`` ((f∥, f⊥) on R-faces,
    z-faces and corners, :func:`axisymmetric_factors`) multiply the two parts there (None: f = 1).
    dpar, dperp [kpc²/Myr] scalars."""
    BR, Bp, Bz = (np.asarray(a, dtype=float) for a in (BR, Bp, Bz))
    norm2 = BR * BR + Bp * Bp + Bz * Bz + field_floor_uG**2
    bb = (BR * BR / norm2, BR * Bz / norm2, Bz * Bz / norm2)
    perp = (1.0 - bb[0], -bb[1], 1.0 - bb[2])
    faces = {
        "R": (
            tuple(0.5 * (a[:, :-1] + a[:, 1:]) for a in bb),
            tuple(0.5 * (a[:, :-1] + a[:, 1:]) for a in perp),
        ),
        "z": (
            tuple(0.5 * (a[:-1, :] + a[1:, :]) for a in bb),
            tuple(0.5 * (a[:-1, :] + a[1:, :]) for a in perp),
        ),
        "c": (bb, perp),
    }
    if factors is None:
        factors = ((1.0, 1.0),) * 3
    out = []
    for key, (fpar, fperp) in zip(("R", "z", "c"), factors):
        par, per = faces[key]
        out.append(tuple(dpar * fpar * a + dperp * fperp * b for a, b in zip(par, per)))
    return StaggeredTensor(*out)


def _wind_face_speeds(grid: AxisymmetricGrid, v0_kpc_per_Myr: float, dvdz_per_Myr: float):
    from .terms import wind_face_speed

    return wind_face_speed(grid.z_nodes_kpc, v0_kpc_per_Myr, dvdz_per_Myr)


def advection_operator(grid: AxisymmetricGrid, v0_kpc_per_Myr: float, dvdz_per_Myr: float) -> sp.csr_matrix:
    """Sparse matrix W with Wψ ≈ −∇·(u ψ) [Myr⁻¹ × ψ] for the wind u = sign(z)(v0 + dv/dz |z|) ẑ.

    Finite volume with first-order upwind fluxes through the z-faces, F = u⁺ ψ_below + u⁻ ψ_above
    (u evaluated on the face, u = 0 on the plane); u_z is odd in z, so every face carries the flux
    away from the plane and a cell that holds the plane loses through both faces.  On the walls |z| = H
    the flux is u ψ with the boundary value ψ = 0, i.e. zero: the particles leave through the wall by
    the diffusive flux of :func:`assemble_operator`.  Σ V W ψ = 0 up to that: W conserves particles."""
    nR, nz, hz = grid.n_R, grid.n_z, grid.dz_kpc
    u = _wind_face_speeds(grid, v0_kpc_per_Myr, dvdz_per_Myr)  # (nz + 1,)
    rows, cols, vals = [], [], []
    # interior faces jf = 1..nz-1 between cells jf-1 (below) and jf (above)
    for jf in range(1, nz):
        uf = u[jf]
        src = jf - 1 if uf > 0 else jf
        if uf == 0.0:
            continue
        i = np.arange(nR)
        flux = abs(uf) / hz
        # the upwind cell loses flux, the downwind cell gains it
        dst = jf if uf > 0 else jf - 1
        rows += [i * nz + src, i * nz + dst]
        cols += [i * nz + src, i * nz + src]
        vals += [np.full(nR, -flux), np.full(nR, flux)]
    N = nR * nz
    if not rows:
        return sp.csr_matrix((N, N))
    return sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(N, N))


def cell_wind_divergence(grid: AxisymmetricGrid, v0_kpc_per_Myr: float, dvdz_per_Myr: float) -> np.ndarray:
    """∇·u [Myr⁻¹] per cell, flat (n_R n_z,): the finite-volume integral over the cell, (u_top − u_bottom)/h_z
    (``terms.wind_divergence``: dv/dz + 2 v0/h_z in a cell with the plane inside, v0/h_z in each of two
    cells that share it as a face)."""
    from .terms import wind_divergence

    d = wind_divergence(grid.z_nodes_kpc, v0_kpc_per_Myr, dvdz_per_Myr)
    return np.tile(d, grid.n_R)
