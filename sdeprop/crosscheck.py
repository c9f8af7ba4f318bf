"""``sdeprop crosscheck``: the SDE engine against the finite-difference grid solver on one configuration.

Both codes solve the same stationary problem (DESIGN.md §2; loss-free here, losses below):

    ∇·(D∇ψ) + Q = 0,   ψ = 0 on |z| = H and R = R_max,   Q(x, E) = rate · p(x) · S(E)/∫S dE,

with p the normalised spatial source density [kpc⁻³] (``models.sources``), S the injection
spectrum dQ/dT (``spectra.spectrum_from_config``) normalised over [energy.min_GeV,
energy.max_GeV] exactly as the engine's reweighting does (spectra.py), and D = D⊥ I + (D∥ − D⊥) b̂b̂ᵀ
with the kernel's field floor.  The SDE adds the Itô drift ∇·D, so it samples the same
divergence-form operator; the grid solver (gridsolver/axisymmetric.py) discretises it directly.

What is compared.  The MC density of a cylindrical tally cell (ring R_a..R_b, z_a..z_b, energy
bin E_a..E_b) is the volume average of ψ over the ring and the average over the energy bin,
(1/ΔE) ∫ ψ dE.  The grid side reproduces exactly that:

* energy: ψ(x, E) = rate S(E)/∫S · G_E(x) with ∇·(D_E ∇G_E) + p = 0, integrated over each bin
  by Gauss–Legendre in ln E (``n_quad`` nodes; the integrand is smooth, so 4 nodes are exact
  to ≪ 1e-4 for power laws).  When D⊥ ∝ D∥ (diffusion.delta_perp unset) the tensor is D∥(E)
  times a fixed tensor and G_E = G_ref D∥(E_ref)/D∥(E): one factorisation per resolution;
  otherwise one solve per node.
* space: the source is averaged over each grid cell (sub-cell Gauss–Legendre), so a thin disk is
  not lost between cell centres; the grid ψ (piecewise constant per grid cell) is averaged over
  each tally ring with the exact ring-overlap volumes.
* discretisation error: two resolutions h_c > h_f; σ_grid = |ψ_f − ψ_c|/((h_c/h_f)^p − 1) with
  p = 2, or the measured order when three resolutions are given (below) (Richardson; the scheme is second order for smooth D and source — where the field or the
  source has a jump the order drops and σ_grid is optimistic).  The grid value compared is ψ_f.
* pulls (ψ_f − ψ_MC)/sqrt(σ_MC² + σ_grid²) over the cells where the MC is well measured
  (σ_MC/ψ_MC < ``max_relative_error``; cells hit by a handful of histories have a badly estimated,
  heavy-tailed error), χ² = Σ pull², dof = number of such cells, p-value from the χ² law.

Caveat on χ²: energy bins are independent (loss-free: each history lives in one bin), but cells
of one energy bin share histories, so their MC errors are positively correlated and the χ²
tail is heavier than the nominal law; the p-value is then somewhat optimistic about false
alarms (too small) — a low p warrants a look, not a verdict.

Energy losses (losses.model 'quadratic' or 'galactic').  Then ψ(E) is coupled across energies:
:func:`grid_density_losses` marches ∇·(D∇ψ) + ∂_E(bψ) + Q = 0 with ``gridsolver.energy.
march_energies`` (BDF2) from energy.max_GeV (ψ = 0; the source is cut there) down to the lowest
tally edge on :func:`fine_energies` (``energy_points_per_decade`` log-uniform nodes per decade,
every tally edge a node), Q_k = rate S(E_k)/∫S · (cell source), b on the cell centres
(``axisymmetric_loss_rate_from_config``), and (1/ΔE)∫ψ dE per tally bin by the trapezoid on the
bin's nodes.  σ_grid adds in quadrature the energy error |ψ_n − ψ_{n/2}|/3 (BDF2 is second order
in Δ ln E: measured on the electron test case, the bin averages at 24/48/96 nodes per decade are
off from 192 by ≤ 1.7/0.43/0.09 σ_MC).  With losses the energy bins share histories too.

Non-axisymmetric fields: the 3D Cartesian path (``solver`` 'auto' picks it when
:func:`field_is_axisymmetric` says no; '3d' forces it, e.g. to check it against the 2D path).
:func:`grid_density_3d` solves on the box [−R_max, R_max]² × [−H, H] (gridsolver/cartesian.py,
CG + Jacobi), z = 0 midway between two node layers.  The galaxy is the cylinder R < R_max: nodes
outside are pinned to ψ = 0, and every coupling of an inside node to a pinned one (axis and
corner) uses the ghost value that vanishes on the true wall (``cartesian.cylinder_dirichlet``).
A bare staircase wall would be first order; with the ghosts the wall error converges at about
second order in the r.m.s. (manufactured cylinder solution with a tilted, rotating field: ratios
3.5 per halving; the worst node 2.5).  The source is averaged over each node's dual cell; the
tally ring average (over azimuth too) is that of the trilinear interpolant, exact in z and by a
fine polar quadrature in (x, y).  Loss-free only (losses would need one 3D solve per energy node:
refused).  Default resolutions 0.8, 0.4, 0.2 kpc: with three resolutions σ_grid uses the
apparent order p = log(‖ψ₁ − ψ₂‖/‖ψ₂ − ψ₃‖)/log 2, clipped to [0.5, 2], not the nominal 2 — where
the field direction jumps (UF23's toroidal halo at z = 0; JF12's X-field kinks) or changes
faster than the grid resolves (UF23's spiral arms) the order drops (measured 0.74 for UF23's
disc + halo) and a p = 2 Richardson estimate would be optimistic.  Grids whose estimated
memory (``BYTES_PER_NODE_3D`` per node) exceeds run.memory_budget_GiB are refused.

Limits (refused with a message): energy losses on the 3D path, point or thin-disk sources (no
grid density), reflecting boundaries, drift switched off, [[components]].
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["CrosscheckReport", "apparent_order", "cartesian_grid_for", "choose_solver", "crosscheck", "field_is_axisymmetric",
           "fine_energies", "grid_answer", "grid_density", "grid_density_3d", "grid_density_losses"]

DEFAULT_TALLY = {"name": "crosscheck", "type": "cylindrical", "R_bins": 10, "z_bins": 8, "energy_bins": 6}


# ----------------------------------------------------------------------------- checks
def field_is_axisymmetric(cfg, n_points: int = 64, n_phi: int = 6, rtol: float = 1e-9) -> tuple[bool, float]:
    """Whether the configured field's (B_R, B_φ, B_z) is independent of azimuth, tested at
    ``n_points`` (R, z) points of the halo × ``n_phi`` azimuths; returns (verdict, largest
    relative deviation)."""
    from .models.field import evaluate_field

    H, Rmax = cfg.galaxy.halo_height_kpc, cfg.galaxy.radius_max_kpc
    rng = np.random.default_rng(1)
    R = rng.uniform(0.05, 0.98, n_points) * Rmax
    z = rng.uniform(-0.98, 0.98, n_points) * H
    phis = np.linspace(0.0, 2 * np.pi, n_phi, endpoint=False) + 0.3
    comps = []
    for phi in phis:
        c, s = math.cos(phi), math.sin(phi)
        B, _ = evaluate_field(cfg.field, np.column_stack([R * c, R * s, z]))
        comps.append(np.column_stack([B[:, 0] * c + B[:, 1] * s, -B[:, 0] * s + B[:, 1] * c, B[:, 2]]))
    comps = np.array(comps)
    scale = max(float(np.abs(comps).max()), cfg.numerics.field_floor_uG)
    dev = float(np.abs(comps - comps[0]).max()) / scale
    return dev <= rtol, dev


def _refuse_unsupported(cfg):
    if getattr(cfg, "components", None):
        raise ValueError("crosscheck does not support [[components]]; check each source on its own")
    if cfg.galaxy.boundary != "escape":
        raise ValueError("crosscheck needs galaxy.boundary = 'escape' (the grid solver has ψ = 0 on the outer boundary)")
    if not cfg.numerics.drift:
        raise ValueError("crosscheck needs numerics.drift = true: without the Itô drift the SDE solves another equation")
    if cfg.source.type == "point":
        raise ValueError("crosscheck needs a distributed source (disk or radial_profile): a point source has no grid density")
    if cfg.source.type == "disk" and cfg.source.z_profile == "thin":
        raise ValueError("crosscheck needs a source with a density: source.z_profile = 'thin' has none (use gaussian or exponential)")


def _with_tally(cfg, tally):
    """The configuration and the name of the cylindrical tally to compare (the first one, or
    ``tally`` by name, or an added coarse one when there is none)."""
    from .config import load_config

    cyl = [t for t in cfg.tally if t.type == "cylindrical"]
    if tally is not None:
        named = [t for t in cfg.tally if t.name == tally]
        if not named:
            raise ValueError(f"no tally named '{tally}' (available: {', '.join(t.name for t in cfg.tally)})")
        if named[0].type != "cylindrical":
            raise ValueError(f"tally '{tally}' is {named[0].type}; crosscheck compares a cylindrical tally")
        return cfg, tally
    if cyl:
        return cfg, cyl[0].name
    data = cfg.model_dump()
    data["tally"] = list(data["tally"]) + [dict(DEFAULT_TALLY)]
    return load_config(data), DEFAULT_TALLY["name"]


# ----------------------------------------------------------------------------- grid side
def _cell_source(grid, source, n_sub=6):
    """Source density averaged over each grid ring cell [kpc⁻³], shape (n_R, n_z):
    ∫∫ p R dR dz / (R_i h_R h_z) with n_sub² Gauss–Legendre points per cell."""
    xg, wg = np.polynomial.legendre.leggauss(n_sub)
    hR, hz = grid.dR_kpc, grid.dz_kpc
    Rs = (grid.R_centres_kpc[:, None] + 0.5 * hR * xg[None, :]).ravel()       # (n_R n_sub)
    zs = (grid.z_centres_kpc[:, None] + 0.5 * hz * xg[None, :]).ravel()
    RR, ZZ = np.meshgrid(Rs, zs, indexing="ij")
    p = source.pdf(RR, np.zeros_like(RR), ZZ) * RR
    w = np.outer(np.tile(wg, grid.n_R), np.tile(wg, grid.n_z)) * 0.25          # weights of ∫ over a cell / (h_R h_z)
    s = (p * w).reshape(grid.n_R, n_sub, grid.n_z, n_sub).sum(axis=(1, 3))
    return s / grid.R_centres_kpc[:, None]


def _overlap(edges_t, lo, h, n, ring):
    """(n_t × n) overlap of tally bins with grid cells [lo + i h, lo + (i+1) h]: ring areas
    (π(b² − a²)) along R, lengths along z."""
    g = lo + np.arange(n + 1) * h
    a = np.maximum(edges_t[:-1, None], g[None, :-1])
    b = np.minimum(edges_t[1:, None], g[None, 1:])
    b = np.maximum(a, b)
    return np.pi * (b * b - a * a) if ring else b - a


def _vertex_field(cfg, grid):
    from .models.field import evaluate_field

    R, z = grid.nodes_mesh()
    spacing = cfg.numerics.field_grid_spacing_kpc        # the engine's precomputed field, if it uses one
    box = (cfg.galaxy.radius_max_kpc, cfg.galaxy.radius_max_kpc, cfg.galaxy.halo_height_kpc)
    B, _ = evaluate_field(cfg.field, np.column_stack([R.ravel(), np.zeros(R.size), z.ravel()]),
                          grid_spacing_kpc=spacing, box_kpc=box if spacing is not None else None,
                          grid_jacobian=cfg.numerics.field_grid_jacobian)
    return B[:, 0].reshape(R.shape), B[:, 1].reshape(R.shape), B[:, 2].reshape(R.shape)


@dataclass
class _GridProblem:
    """What both grid paths share: the grid, the cell-averaged source density, the field on the
    cell corners, the injection spectrum with its normalisation, and the tally edges."""

    grid: object
    q: np.ndarray          # unbiased source density per cell [kpc⁻³], flat
    BR: np.ndarray
    Bp: np.ndarray
    Bz: np.ndarray
    spec: object
    mass: float
    charge: float
    emin: float
    emax: float
    total: float           # ∫ S dE over the injection range
    rate: float            # particles/Myr
    eR: np.ndarray
    ez: np.ndarray
    eE: np.ndarray


def _grid_problem(cfg, tally_edges, resolution_kpc) -> _GridProblem:
    from .gridsolver.axisymmetric import AxisymmetricGrid
    from .models.diffusion import SPECIES
    from .models.sources import build_source
    from .spectra import spectrum_from_config

    H, Rmax = cfg.galaxy.halo_height_kpc, cfg.galaxy.radius_max_kpc
    grid = AxisymmetricGrid(Rmax, H, max(2, int(round(Rmax / resolution_kpc))), max(2, int(round(2 * H / resolution_kpc))))
    src = build_source(cfg)
    src = getattr(src, "base", src)               # observer-biased: the unbiased density
    BR, Bp, Bz = _vertex_field(cfg, grid)
    mass, charge = SPECIES[cfg.species.name]
    spec = spectrum_from_config(cfg.spectrum)
    emin, emax = cfg.energy.min_GeV, cfg.energy.max_GeV
    eR, ez, eE = (np.asarray(tally_edges[k], dtype=float) for k in ("R_kpc", "z_kpc", "E_GeV"))
    return _GridProblem(grid, _cell_source(grid, src).ravel(), BR, Bp, Bz, spec, mass, charge, emin, emax,
                        float(spec.integral(emin, emax, mass, charge)[0]), cfg.spectrum.rate_per_Myr, eR, ez, eE)


def grid_density(cfg, tally_edges, resolution_kpc: float, n_quad: int = 4):
    """The grid solver's answer in the tally's cells: (1/ΔE)∫ψ dE averaged over each ring
    [kpc⁻³ GeV⁻¹], shape (n_R, n_z, n_E) of the tally; also the largest relative residual and
    the number of linear solves.  (Module docstring for the averaging.)"""
    import scipy.sparse.linalg as spla

    from .gridsolver.axisymmetric import assemble_operator, tensor_from_field
    from .models.diffusion import diffusion_at

    P = _grid_problem(cfg, tally_edges, resolution_kpc)
    grid, q, BR, Bp, Bz, spec = P.grid, P.q, P.BR, P.Bp, P.Bz, P.spec
    mass, charge, emin, emax, total, rate, eR, ez, eE = P.mass, P.charge, P.emin, P.emax, P.total, P.rate, P.eR, P.ez, P.eE
    H, nR, nz = cfg.galaxy.halo_height_kpc, grid.n_R, grid.n_z
    xq, wq = np.polynomial.legendre.leggauss(n_quad)
    lo, hi = np.log(eE[:-1]), np.log(eE[1:])
    lnE = 0.5 * (lo + hi)[:, None] + 0.5 * (hi - lo)[:, None] * xq[None, :]
    E = np.exp(lnE)                                               # (n_E, n_quad)
    inside = (E >= emin) & (E <= emax)
    # weight of G_E at each node in (1/ΔE) ∫ rate S/total G dE, dE = E d ln E
    wE = (0.5 * (hi - lo))[:, None] * wq[None, :] * E * np.where(inside, spec.dq_dT(E, mass, charge), 0.0) * rate / total
    wE /= np.diff(eE)[:, None]
    dpar, dperp = diffusion_at(cfg.diffusion, cfg.species.name, E.ravel())
    dpar, dperp = dpar.reshape(E.shape), dperp.reshape(E.shape)
    proportional = cfg.diffusion.delta_perp is None               # D⊥ = ε D∥ at every energy
    floor = cfg.numerics.field_floor_uG

    def solve(dpa, dpe):
        L = assemble_operator(grid, tensor_from_field(BR, Bp, Bz, dpa, dpe, floor))
        A = (-L).tocsc()
        psi = spla.splu(A, permc_spec="COLAMD").solve(q)
        res = float(np.linalg.norm(A @ psi - q) / np.linalg.norm(q))
        return psi.reshape(nR, nz), res

    G = np.zeros(E.shape + (nR, nz))
    residual, n_solves = 0.0, 0
    if proportional:
        ref = float(dpar.ravel()[len(dpar.ravel()) // 2])
        g_ref, residual = solve(ref, ref * cfg.diffusion.epsilon)
        n_solves = 1
        G = (ref / dpar)[..., None, None] * g_ref[None, None]
    else:
        for idx in np.ndindex(E.shape):
            if wE[idx] == 0.0:
                continue
            G[idx], r = solve(float(dpar[idx]), float(dperp[idx]))
            residual, n_solves = max(residual, r), n_solves + 1
    psi_bins = np.einsum("eq,eqij->eij", wE, G)                  # (n_E, n_R grid, n_z grid)
    return _ring_average(psi_bins, grid, eR, ez, H), residual, n_solves, grid


def _ring_average(psi_bins, grid, eR, ez, H):
    """Grid ψ per energy bin, shape (n_E, n_R grid, n_z grid) -> tally ring averages (n_R, n_z, n_E)."""
    nR, nz = grid.n_R, grid.n_z
    oR = _overlap(eR, 0.0, grid.dR_kpc, nR, ring=True)
    oz = _overlap(ez, -H, grid.dz_kpc, nz, ring=False)
    vol = np.outer(oR.sum(1), oz.sum(1))
    return np.einsum("ai,eij,bj->abe", oR, psi_bins, oz) / vol[..., None]


def fine_energies(edges_E, emax, per_decade: int) -> np.ndarray:
    """Energy nodes of the march [GeV]: the tally edges up to ``emax`` plus ``emax`` (the top,
    ψ = 0), each interval cut log-uniformly into ⌈per_decade · log10(b/a)⌉ steps (at least 2),
    so every tally edge is a node and the trapezoid over a bin uses only its own nodes."""
    e = np.asarray(edges_E, dtype=float)
    knots = np.unique(np.concatenate([e[e < emax], [emax]]))
    out = [knots[:1]]
    for a, b in zip(knots[:-1], knots[1:]):
        n = max(2, int(math.ceil(per_decade * math.log10(b / a) - 1e-9)))
        seg = np.exp(np.linspace(math.log(a), math.log(b), n + 1))[1:]
        seg[-1] = b                                               # the knots exactly
        out.append(seg)
    return np.concatenate(out)


def grid_density_losses(cfg, tally_edges, resolution_kpc: float, per_decade: int = 48, scheme: str = "bdf2"):
    """With energy losses: ∇·(D∇ψ) + ∂_E(bψ) + Q = 0 marched from energy.max_GeV (ψ = 0) down to
    the lowest tally edge on :func:`fine_energies` (``gridsolver.energy.march_energies``), then
    (1/ΔE)∫ψ dE over each tally bin by the trapezoid on those nodes and the ring average.
    Returns (avg (n_R, n_z, n_E), largest relative residual, number of solves, grid)."""
    from .gridsolver.axisymmetric import assemble_operator, tensor_from_field
    from .gridsolver.energy import axisymmetric_loss_rate_from_config, march_energies
    from .models.diffusion import diffusion_at

    P = _grid_problem(cfg, tally_edges, resolution_kpc)
    grid, q, BR, Bp, Bz, spec = P.grid, P.q, P.BR, P.Bp, P.Bz, P.spec
    mass, charge, emin, emax, total, rate, eR, ez, eE = P.mass, P.charge, P.emin, P.emax, P.total, P.rate, P.eR, P.ez, P.eE
    H, nR, nz = cfg.galaxy.halo_height_kpc, grid.n_R, grid.n_z
    floor = cfg.numerics.field_floor_uG
    if eE[0] >= emax:
        raise ValueError("the tally's energy range lies above energy.max_GeV: nothing to compare")
    E = fine_energies(eE, emax, per_decade)
    inside = (E >= emin) & (E <= emax)
    s_E = np.where(inside, spec.dq_dT(E, mass, charge), 0.0) * rate / total          # (K,) GeV⁻¹ Myr⁻¹
    b = axisymmetric_loss_rate_from_config(cfg, grid, E)
    if b is None:
        raise ValueError("the loss model has no active process: run the loss-free crosscheck")

    def operator_at(e):
        dpa, dpe = diffusion_at(cfg.diffusion, cfg.species.name, np.array([e]))
        return assemble_operator(grid, tensor_from_field(BR, Bp, Bz, float(dpa[0]), float(dpe[0]), floor))

    sol = march_energies(operator_at, E, s_E[:, None] * q[None, :], b, scheme=scheme)
    psi = sol.psi.reshape(E.size, nR, nz)
    psi_bins = np.zeros((len(eE) - 1, nR, nz))
    for k in range(len(eE) - 1):
        m = (E >= eE[k] * (1 - 1e-12)) & (E <= eE[k + 1] * (1 + 1e-12))
        if m.sum() >= 2:                                          # above emax: ψ = 0
            psi_bins[k] = np.trapezoid(psi[m], E[m], axis=0) / (eE[k + 1] - eE[k])
    return _ring_average(psi_bins, grid, eR, ez, H), float(sol.residuals.max()), int(E.size - 1), grid



# ----------------------------------------------------------------------------- 3D Cartesian grid side
#: bytes per node budgeted for one 3D solve (tensor, field, assembly lists, CSR, CG vectors): the
#: tracemalloc peak was 0.88–0.96 kB per node at 101×101×22 and 201×201×42 nodes (Cerri toy); 1600
#: leaves room for what tracemalloc does not see.  Grids above run.memory_budget_GiB are refused
#: before anything is allocated
BYTES_PER_NODE_3D = 1600


def cartesian_grid_for(cfg, resolution_kpc: float):
    """The box [−R_max, R_max]² × [−H, H] with spacing ≈ ``resolution_kpc``: a node on the axis,
    an odd number of intervals in z so that the plane z = 0 lies midway between two node layers
    (the tensor of UF23- or X-type fields jumps there; no node samples the jump itself)."""
    from .gridsolver.cartesian import CartesianGrid

    H, Rmax = cfg.galaxy.halo_height_kpc, cfg.galaxy.radius_max_kpc
    m = max(2, int(round(Rmax / resolution_kpc)))
    mz = max(3, int(math.ceil(2 * H / resolution_kpc - 1e-9)))
    mz += 1 - mz % 2
    return CartesianGrid(Rmax, Rmax, H, 2 * m + 1, 2 * m + 1, mz + 1)


def grid_memory_3d_GiB(cfg, resolution_kpc: float) -> float:
    g = cartesian_grid_for(cfg, resolution_kpc)
    return BYTES_PER_NODE_3D * g.nx * g.ny * g.nz / 2**30


def _node_field_3d(cfg, grid):
    """B [μG] on the nodes (nx, ny, nz, 3), from the model or the engine's precomputed grid."""
    from .models.field import build_field, sample_on_grid

    spacing = cfg.numerics.field_grid_spacing_kpc
    box = (cfg.galaxy.radius_max_kpc, cfg.galaxy.radius_max_kpc, cfg.galaxy.halo_height_kpc)
    kind, params, fgrid = build_field(cfg.field, spacing, box if spacing is not None else None, cfg.numerics.field_grid_jacobian)
    xs, ys, zs = grid.axes_kpc
    B = np.empty(grid.shape + (3,))
    step = max(1, 200_000 // (grid.ny * grid.nz))
    for i0 in range(0, grid.nx, step):
        B[i0:i0 + step] = sample_on_grid(kind, params, fgrid, xs[i0:i0 + step], ys, zs)[..., :3]
    return B


def _node_source_3d(grid, source, n_sub=4):
    """Source density averaged over each node's dual cell [x ± h/2] × … [kpc⁻³] (n_sub³
    Gauss–Legendre points; the cell is clipped to the box), shape (nx, ny, nz)."""
    xg, wg = np.polynomial.legendre.leggauss(n_sub)
    axes, subs = grid.axes_kpc, []
    for c, h in zip(axes, grid.spacing_kpc):
        lo = np.maximum(c - 0.5 * h, c[0])
        hi = np.minimum(c + 0.5 * h, c[-1])
        pts = 0.5 * (lo + hi)[:, None] + 0.5 * (hi - lo)[:, None] * xg[None, :]
        subs.append((pts, 0.5 * wg[None, :] * np.ones_like(pts)))          # weights of the cell mean
    (px, wx), (py, wy), (pz, wz) = subs
    X, Y = np.meshgrid(px.ravel(), py.ravel(), indexing="ij")
    wxy = np.outer(wx.ravel(), wy.ravel())
    out = np.empty(grid.shape)
    for k in range(grid.nz):
        acc = np.zeros_like(X)
        for zz, ww in zip(pz[k], wz[k]):
            acc += ww * source.pdf(X, Y, np.full_like(X, zz))
        out[:, :, k] = (acc * wxy).reshape(grid.nx, n_sub, grid.ny, n_sub).sum(axis=(1, 3))
    return out


def _hat_weights(nodes, edges):
    """(n_bins × n_nodes) weights of the mean over each bin of the piecewise-linear interpolant
    of nodal values (uniform nodes): exact."""
    h = nodes[1] - nodes[0]
    a, b = np.asarray(edges[:-1])[:, None], np.asarray(edges[1:])[:, None]
    z = nodes[None, :]

    def part(lo, hi, rising):
        u1 = np.clip((np.maximum(a, lo) - lo) / h, 0, 1)
        u2 = np.clip((np.minimum(b, hi) - lo) / h, 0, 1)
        u2 = np.maximum(u1, u2)
        return h * (0.5 * (u2**2 - u1**2) if rising else (u2 - u1) - 0.5 * (u2**2 - u1**2))

    w = part(z - h, z, True) + part(z, z + h, False)
    return w / (b - a)


def _ring_weights_xy(grid, eR):
    """(n_R × nx·ny) weights of the mean over each tally ring (annulus, all azimuths) of the
    bilinear interpolant of nodal values: polar quadrature, 2 Gauss–Legendre points per R
    sub-interval of ≤ h/4 and a uniform azimuth grid of ≤ h/4 spacing (the interpolant is only
    continuous, so this converges as (h/4)²·ψ'' — far below the scheme's error)."""
    xs, ys, _ = grid.axes_kpc
    hx, hy, _ = grid.spacing_kpc
    h = min(hx, hy)
    xg, wg = np.polynomial.legendre.leggauss(2)
    W = np.zeros((len(eR) - 1, grid.nx * grid.ny))
    for a in range(len(eR) - 1):
        Ra, Rb = float(eR[a]), float(eR[a + 1])
        nr = max(1, int(math.ceil((Rb - Ra) / (0.25 * h))))
        e = np.linspace(Ra, Rb, nr + 1)
        R = (0.5 * (e[:-1] + e[1:])[:, None] + 0.5 * np.diff(e)[:, None] * xg[None, :]).ravel()
        wR = (0.5 * np.diff(e)[:, None] * wg[None, :]).ravel() * R
        nphi = max(8, int(math.ceil(2 * np.pi * Rb / (0.25 * h))))
        phi = (np.arange(nphi) + 0.5) * 2 * np.pi / nphi
        x = (R[:, None] * np.cos(phi)[None, :]).ravel()
        y = (R[:, None] * np.sin(phi)[None, :]).ravel()
        w = np.repeat(wR * (2 * np.pi / nphi), nphi) / (np.pi * (Rb * Rb - Ra * Ra))
        fx = np.clip((x - xs[0]) / hx, 0, grid.nx - 1 - 1e-12)
        fy = np.clip((y - ys[0]) / hy, 0, grid.ny - 1 - 1e-12)
        i, j = fx.astype(int), fy.astype(int)
        tx, ty = fx - i, fy - j
        for di, dj, c in ((0, 0, (1 - tx) * (1 - ty)), (1, 0, tx * (1 - ty)), (0, 1, (1 - tx) * ty), (1, 1, tx * ty)):
            W[a] += np.bincount((i + di) * grid.ny + (j + dj), weights=w * c, minlength=grid.nx * grid.ny)
    return W


def grid_density_3d(cfg, tally_edges, resolution_kpc: float, n_quad: int = 4, rtol: float = 1e-10):
    """Loss-free grid answer from the 3D Cartesian solver (gridsolver/cartesian.py) in the tally's
    cylindrical cells: (1/ΔE)∫ψ dE averaged over each ring cell (all azimuths), shape (n_R, n_z,
    n_E) [kpc⁻³ GeV⁻¹], and a dict of diagnostics (largest relative residual, solves, CG
    iterations, unknowns, times, memory estimate).  The galaxy is the cylinder R < R_max in the
    box: nodes outside are pinned to ψ = 0, the wall distance enters the axis couplings
    (``cartesian.cylinder_dirichlet``); the source is averaged over each node's dual cell; the
    tally average is that of the trilinear interpolant of the nodal ψ."""
    from .gridsolver.cartesian import assemble_operator, cylinder_dirichlet, field_aligned_tensor, solve_stationary
    from .models.diffusion import SPECIES, diffusion_at
    from .models.sources import build_source
    from .spectra import spectrum_from_config

    grid = cartesian_grid_for(cfg, resolution_kpc)
    need = grid_memory_3d_GiB(cfg, resolution_kpc)
    if need > cfg.run.memory_budget_GiB:
        raise ValueError(f"the 3D grid at {resolution_kpc} kpc has {grid.nx}×{grid.ny}×{grid.nz} nodes and needs about "
                         f"{need:.2g} GiB, above run.memory_budget_GiB = {cfg.run.memory_budget_GiB}: use a coarser "
                         "resolution (or raise the budget)")
    t0 = time.perf_counter()
    src = build_source(cfg)
    src = getattr(src, "base", src)
    q = _node_source_3d(grid, src)
    B = _node_field_3d(cfg, grid)
    floor = cfg.numerics.field_floor_uG
    bhat = B / np.sqrt(np.sum(B * B, axis=-1) + floor * floor)[..., None]
    del B
    inside, wall = cylinder_dirichlet(grid, cfg.galaxy.radius_max_kpc)
    mass, charge = SPECIES[cfg.species.name]
    spec = spectrum_from_config(cfg.spectrum)
    emin, emax = cfg.energy.min_GeV, cfg.energy.max_GeV
    total = float(spec.integral(emin, emax, mass, charge)[0])
    rate = cfg.spectrum.rate_per_Myr
    eR, ez, eE = (np.asarray(tally_edges[k], dtype=float) for k in ("R_kpc", "z_kpc", "E_GeV"))
    xq, wq = np.polynomial.legendre.leggauss(n_quad)
    lo, hi = np.log(eE[:-1]), np.log(eE[1:])
    E = np.exp(0.5 * (lo + hi)[:, None] + 0.5 * (hi - lo)[:, None] * xq[None, :])
    inside_E = (E >= emin) & (E <= emax)
    wE = (0.5 * (hi - lo))[:, None] * wq[None, :] * E * np.where(inside_E, spec.dq_dT(E, mass, charge), 0.0) * rate / total
    wE /= np.diff(eE)[:, None]
    dpar, dperp = diffusion_at(cfg.diffusion, cfg.species.name, E.ravel())
    dpar, dperp = dpar.reshape(E.shape), dperp.reshape(E.shape)
    Wxy = _ring_weights_xy(grid, eR)
    Wz = _hat_weights(grid.axes_kpc[2], ez)
    setup_s = time.perf_counter() - t0
    info = {"nodes": [grid.nx, grid.ny, grid.nz], "spacing_kpc": [float(v) for v in grid.spacing_kpc],
            "unknowns": int(inside[1:-1, 1:-1, 1:-1].sum()), "memory_estimate_GiB": need, "setup_s": setup_s,
            "assemble_s": 0.0, "solve_s": 0.0, "iterations": 0, "residual": 0.0, "n_solves": 0}
    last = [None]
    unknown = np.zeros(grid.shape, dtype=bool)
    unknown[1:-1, 1:-1, 1:-1] = True
    unknown &= inside

    def solve(dpa, dpe):
        t1 = time.perf_counter()
        A = assemble_operator(grid, field_aligned_tensor(bhat, dpa, dpe), inside=inside, wall=wall)
        info["assemble_s"] += time.perf_counter() - t1
        x0 = None if last[0] is None else last[0][1] * (last[0][0] / dpa)      # G ∝ 1/D roughly: a warm start
        sol = solve_stationary(grid, None, q, A=A, inside=inside, rtol=rtol, x0=x0)
        last[0] = (dpa, sol.psi[unknown])
        info["solve_s"] += sol.solve_s
        info["iterations"] = max(info["iterations"], sol.iterations)
        info["residual"] = max(info["residual"], sol.relative_residual)
        info["n_solves"] += 1
        return Wxy @ sol.psi.reshape(grid.nx * grid.ny, grid.nz) @ Wz.T                 # (n_R, n_z) tally means

    avg = np.zeros((len(eR) - 1, len(ez) - 1, len(eE) - 1))
    if cfg.diffusion.delta_perp is None:                       # D⊥ = ε D∥: one solve, G_E ∝ 1/D∥(E)
        ref = float(dpar.ravel()[dpar.size // 2])
        g_ref = solve(ref, ref * cfg.diffusion.epsilon)
        avg = np.einsum("eq,ab->abe", wE * ref / dpar, g_ref)
    else:
        for e, qi in np.ndindex(E.shape):
            if wE[e, qi] != 0.0:
                avg[..., e] += wE[e, qi] * solve(float(dpar[e, qi]), float(dperp[e, qi]))
    return avg, info, grid


# ----------------------------------------------------------------------------- report
@dataclass
class CrosscheckReport:
    """SDE vs grid in the cells of one cylindrical tally; arrays have shape (n_R, n_z, n_E).

    ``pull`` is NaN where a cell is not compared (``used`` false)."""

    tally: str
    edges: dict
    mc: np.ndarray
    mc_err: np.ndarray
    grid: np.ndarray
    grid_coarse: np.ndarray
    grid_err: np.ndarray
    pull: np.ndarray
    used: np.ndarray
    chi2: float
    dof: int
    p_value: float
    resolutions_kpc: tuple
    timings: dict
    residuals: dict
    counts: dict
    notes: list = field(default_factory=list)
    files: list = field(default_factory=list)
    profile_energies_GeV: tuple = ()
    solver: str = "2d"
    order: float = 2.0                 # p in σ_grid
    order_measured: float = float("nan")
    grid_info: list = field(default_factory=list)   # 3D: solver diagnostics per resolution

    @property
    def max_abs_pull(self) -> float:
        return float(np.nanmax(np.abs(self.pull))) if self.dof else float("nan")

    @property
    def chi2_per_dof(self) -> float:
        return self.chi2 / self.dof if self.dof else float("nan")

    def centres(self, axis):
        e = np.asarray(self.edges[axis])
        return np.sqrt(e[1:] * e[:-1]) if axis.startswith("E") else 0.5 * (e[1:] + e[:-1])

    def index_of(self, axis, value):
        e = np.asarray(self.edges[axis])
        return int(np.clip(np.searchsorted(e, value, side="right") - 1, 0, len(e) - 2))

    def summary(self) -> dict:
        return {"tally": self.tally, "chi2": self.chi2, "dof": self.dof, "chi2_per_dof": self.chi2_per_dof,
                "p_value": self.p_value, "max_abs_pull": self.max_abs_pull, "cells_compared": int(self.used.sum()),
                "cells": int(self.used.size), "resolutions_kpc": list(self.resolutions_kpc), "timings_s": self.timings,
                "residuals": self.residuals, "counts": self.counts, "notes": self.notes, "solver": self.solver,
                "order": self.order, "order_measured": self.order_measured, "grid": self.grid_info}

    def _row(self, i, j, k):
        p = self.pull[i, j, k]
        return (f"| {self.mc[i, j, k]:.4g} ± {self.mc_err[i, j, k]:.2g} | {self.grid[i, j, k]:.4g} ± {self.grid_err[i, j, k]:.2g} "
                f"| {self.grid_coarse[i, j, k]:.4g} | {'—' if not np.isfinite(p) else f'{p:+.2f}'} |")

    def markdown(self, sun_R_kpc: float = 8.3) -> str:
        R, z, E = self.centres("R_kpc"), self.centres("z_kpc"), self.centres("E_GeV")
        j0, i0 = self.index_of("z_kpc", 0.0), self.index_of("R_kpc", sun_R_kpc)
        hc, hf = self.resolutions_kpc[-2:]
        s = self.summary()
        kind = "2D axisymmetric (R, z)" if self.solver == "2d" else "3D Cartesian (x, y, z), ring averages over azimuth"
        order = (f"p = {self.order:.2f} (apparent order {self.order_measured:.2f} from "
                 f"{', '.join(f'{h:g}' for h in self.resolutions_kpc)} kpc)" if len(self.resolutions_kpc) == 3 else f"p = {self.order:g}")
        out = ["# sdeprop crosscheck: SDE Monte Carlo vs finite-difference grid", "",
               f"Tally `{self.tally}`: {len(R)} R × {len(z)} z × {len(E)} E cells; grid resolutions "
               f"{', '.join(f'{h:g}' for h in self.resolutions_kpc)} kpc ({kind} solver, σ_grid = |ψ_f − ψ_c|/((h_c/h_f)^p − 1), "
               f"{order}).", "",
               f"**χ²/dof = {self.chi2:.2f}/{self.dof} = {self.chi2_per_dof:.3f}, p = {self.p_value:.3g}; "
               f"max |pull| = {self.max_abs_pull:.2f}** over the {s['cells_compared']} of {s['cells']} cells where the MC is well measured.", "",
               "Densities in kpc⁻³ GeV⁻¹ (average over the ring cell and the energy bin). "
               "pull = (grid − MC)/sqrt(σ_MC² + σ_grid²).", ""]
        for e in self.profile_energies_GeV:
            k = self.index_of("E_GeV", e)
            out += [f"## Profile along R at z ∈ [{self.edges['z_kpc'][j0]:.2f}, {self.edges['z_kpc'][j0 + 1]:.2f}] kpc, "
                    f"E ∈ [{self.edges['E_GeV'][k]:.3g}, {self.edges['E_GeV'][k + 1]:.3g}] GeV", "",
                    "| R [kpc] | MC | grid (fine) | grid (coarse) | pull |", "|---|---|---|---|---|"]
            out += [f"| {R[i]:.2f} " + self._row(i, j0, k) for i in range(len(R))]
            out += ["", f"## Profile along z at R ∈ [{self.edges['R_kpc'][i0]:.2f}, {self.edges['R_kpc'][i0 + 1]:.2f}] kpc, "
                    f"E ∈ [{self.edges['E_GeV'][k]:.3g}, {self.edges['E_GeV'][k + 1]:.3g}] GeV", "",
                    "| z [kpc] | MC | grid (fine) | grid (coarse) | pull |", "|---|---|---|---|---|"]
            out += [f"| {z[j]:+.2f} " + self._row(i0, j, k) for j in range(len(z))]
            out.append("")
        out += [f"## Spectrum at R ≈ {R[i0]:.2f} kpc, z ≈ {z[j0]:+.2f} kpc", "",
                "| E [GeV] | MC | grid (fine) | grid (coarse) | pull |", "|---|---|---|---|---|"]
        out += [f"| {E[k]:.4g} " + self._row(i0, j0, k) for k in range(len(E))]
        out += ["", "## Pulls by energy bin", "", "| E bin [GeV] | cells | χ² | max |pull| |", "|---|---|---|---|"]
        for k in range(len(E)):
            pk = self.pull[..., k][self.used[..., k]]
            out.append(f"| {self.edges['E_GeV'][k]:.3g}–{self.edges['E_GeV'][k + 1]:.3g} | {pk.size} | {float(np.sum(pk**2)):.1f} | "
                       f"{float(np.max(np.abs(pk))) if pk.size else float('nan'):.2f} |")
        t, c = self.timings, self.counts
        out += ["", "## Run", "",
                f"- MC: {c.get('injected')} particles in {t['mc_s']:.1f} s; escaped {c.get('escaped_z')} (|z| = H) + "
                f"{c.get('escaped_R')} (R = R_max), alive at t_max {c.get('alive_at_t_max')}.",
                f"- grid: {t['grid_coarse_s']:.2f} s (h = {hc} kpc) + {t['grid_fine_s']:.2f} s (h = {hf} kpc)"
                + (f" + {t['grid_coarsest_s']:.2f} s (h = {self.resolutions_kpc[0]} kpc)" if "grid_coarsest_s" in t else "")
                + f", {self.residuals['n_solves']} solve(s) per resolution, largest relative residual "
                f"{max(self.residuals['coarse'], self.residuals['fine']):.1e}."]
        for g in self.grid_info:
            out.append(f"- 3D grid h = {g['resolution_kpc']:g} kpc: {'×'.join(map(str, g['nodes']))} nodes, {g['unknowns']} unknowns, "
                       f"{g['iterations']} CG iterations, residual {g['residual']:.1e}, assembly {g['assemble_s']:.2f} s, "
                       f"CG {g['solve_s']:.2f} s, field and source {g['setup_s']:.2f} s, memory ≈ {g['memory_estimate_GiB']:.2f} GiB.")
        out += [f"- note: {n}" for n in self.notes]
        if self.files:
            out += ["", "Figures: " + ", ".join(f"`{Path(f).name}`" for f in self.files if str(f).endswith(".png"))]
        return "\n".join(out) + "\n"

    def plot(self, output_dir, sun_R_kpc: float = 8.3) -> list:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        out = Path(output_dir)
        R, z, E = self.centres("R_kpc"), self.centres("z_kpc"), self.centres("E_GeV")
        j0, i0 = self.index_of("z_kpc", 0.0), self.index_of("R_kpc", sun_R_kpc)
        files = []

        def panel(ax, axp, x, sl, xlabel, logx=False):
            ax.errorbar(x, self.mc[sl], self.mc_err[sl], fmt="o", ms=3, label="SDE (MC ± 1σ)")
            ax.plot(x, self.grid[sl], "-", label=f"grid h = {self.resolutions_kpc[-1]} kpc")
            ax.plot(x, self.grid_coarse[sl], "--", label=f"grid h = {self.resolutions_kpc[-2]} kpc")
            ax.set_yscale("log")
            ax.set_ylabel("ψ [kpc⁻³ GeV⁻¹]")
            ax.legend(fontsize=7)
            axp.axhline(0, color="k", lw=0.5)
            for lvl in (-3, 3):
                axp.axhline(lvl, color="grey", lw=0.5, ls=":")
            axp.plot(x, self.pull[sl], "o", ms=3)
            axp.set_ylabel("pull")
            axp.set_xlabel(xlabel)
            if logx:
                ax.set_xscale("log")
                axp.set_xscale("log")

        for e in self.profile_energies_GeV:
            k = self.index_of("E_GeV", e)
            for name, x, sl, lab in (("R", R, (slice(None), j0, k), "R [kpc]"), ("z", z, (i0, slice(None), k), "z [kpc]")):
                fig, (ax, axp) = plt.subplots(2, 1, sharex=True, figsize=(6, 5), gridspec_kw={"height_ratios": [3, 1]})
                panel(ax, axp, x, sl, lab)
                ax.set_title(f"profile along {name}, E ≈ {E[k]:.3g} GeV")
                f = out / f"profile_{name}_E{E[k]:.3g}GeV.png"
                fig.tight_layout()
                fig.savefig(f, dpi=110)
                plt.close(fig)
                files.append(f)
        fig, (ax, axp) = plt.subplots(2, 1, sharex=True, figsize=(6, 5), gridspec_kw={"height_ratios": [3, 1]})
        panel(ax, axp, E, (i0, j0, slice(None)), "E [GeV]", logx=True)
        ax.set_title(f"spectrum at R ≈ {R[i0]:.2f} kpc, z ≈ {z[j0]:+.2f} kpc")
        f = out / "spectrum.png"
        fig.tight_layout()
        fig.savefig(f, dpi=110)
        plt.close(fig)
        files.append(f)
        fig, ax = plt.subplots(figsize=(5, 3.5))
        pu = self.pull[self.used]
        ax.hist(pu, bins=np.linspace(-5, 5, 41), density=True, alpha=0.7, label=f"{pu.size} cells")
        xx = np.linspace(-5, 5, 200)
        ax.plot(xx, np.exp(-0.5 * xx**2) / math.sqrt(2 * math.pi), "k-", label="N(0, 1)")
        ax.set_xlabel("pull")
        ax.set_title(f"χ²/dof = {self.chi2_per_dof:.2f}, p = {self.p_value:.2g}")
        ax.legend(fontsize=7)
        f = out / "pulls.png"
        fig.tight_layout()
        fig.savefig(f, dpi=110)
        plt.close(fig)
        files.append(f)
        return files


# ----------------------------------------------------------------------------- driver
SOLVERS = ("auto", "2d", "3d")
DEFAULT_RESOLUTIONS = {"2d": (0.2, 0.1), "3d": (0.8, 0.4, 0.2)}


def choose_solver(cfg, solver: str = "auto") -> str:
    """'2d' or '3d' for ``solver`` = 'auto' (axisymmetric field → 2D, otherwise 3D), '2d' or '3d';
    refuses what the chosen path cannot do."""
    if solver not in SOLVERS:
        raise ValueError(f"solver must be one of {SOLVERS}, got {solver!r}")
    ok, dev = field_is_axisymmetric(cfg)
    if solver == "2d" and not ok:
        raise ValueError(f"the field '{cfg.field.model}' is not axisymmetric (B_R, B_φ, B_z vary with azimuth by {dev:.2g} "
                         "of max|B|): the 2D (R, z) solver cannot represent it; use solver '3d' (or 'auto')")
    path = solver if solver != "auto" else ("2d" if ok else "3d")
    if path == "3d" and cfg.losses.model != "none":
        raise ValueError(f"energy losses ({cfg.losses.model}) with the 3D grid solver are not supported: the energy march "
                         "needs one 3D Krylov solve per energy node (~100 for two decades at 48 per decade, several s each) "
                         "and the loss rate on every node; run the loss-free case, or an axisymmetric field on the 2D path"
                         + ("" if ok else f" (the field '{cfg.field.model}' is not axisymmetric)"))
    return path


def _resolutions_of(resolutions, path):
    res = DEFAULT_RESOLUTIONS[path] if resolutions is None else tuple(float(r) for r in resolutions)
    if len(res) not in (2, 3) or not all(math.isfinite(r) and r > 0 for r in res) or any(a <= b for a, b in zip(res, res[1:])):
        raise ValueError(f"resolutions must be (coarse, fine) or (coarse, middle, fine) grid spacings in kpc, decreasing "
                         f"and > 0, got {resolutions!r}")
    if len(res) == 3 and abs(math.log((res[0] / res[1]) / (res[1] / res[2]))) > 0.01:
        raise ValueError(f"three resolutions must have one refinement ratio (h1/h2 = h2/h3), got {res!r}")
    return res


def apparent_order(g1, g2, g3, ratio: float) -> float:
    """Observed order of convergence from three resolutions with one refinement ratio:
    log(‖g1 − g2‖/‖g2 − g3‖)/log(ratio) over all cells (NaN if the differences do not shrink)."""
    d1, d2 = float(np.linalg.norm(g1 - g2)), float(np.linalg.norm(g2 - g3))
    return math.log(d1 / d2) / math.log(ratio) if d1 > 0 and d2 > 0 else float("nan")


def grid_answer(cfg, edges, resolutions, *, solver: str = "2d", n_quad: int = 4, energy_points_per_decade: int = 48):
    """The grid side of the comparison on the tally ``edges``: the finest-grid answer, the next
    coarser one, σ_grid and diagnostics, for solver '2d' or '3d' and two or three resolutions.

    σ_grid = |ψ_f − ψ_c|/((h_c/h_f)^p − 1) (plus, with losses, the energy error in quadrature),
    with p = 2 for two resolutions (nominal) and, for three, the apparent order measured by
    :func:`apparent_order`, clipped to [0.5, 2] (never more optimistic than the nominal order).
    Returns a dict: fine, coarse, err, order, order_measured, timings (per resolution), residuals,
    n_solves, info (3D: per-resolution solver diagnostics), notes."""
    res = _resolutions_of(resolutions, solver)
    losses = cfg.losses.model != "none"
    notes, out, times, infos, resid = [], [], [], [], []
    n_solves = 0
    if losses:
        n = int(energy_points_per_decade)
        if n < 4:
            raise ValueError(f"energy_points_per_decade must be ≥ 4, got {energy_points_per_decade!r}")
    for h in res:
        t0 = time.perf_counter()
        if solver == "3d":
            g, info, _ = grid_density_3d(cfg, edges, h, n_quad)
            r, n_solves = info["residual"], info["n_solves"]
            infos.append({"resolution_kpc": h, **info})
        elif losses:
            g, r, n_solves, _ = grid_density_losses(cfg, edges, h, n)
        else:
            g, r, n_solves, _ = grid_density(cfg, edges, h, n_quad)
        times.append(time.perf_counter() - t0)
        out.append(g)
        resid.append(r)
    g_f, g_c = out[-1], out[-2]
    ratio = res[-2] / res[-1]
    measured = apparent_order(*out, ratio) if len(out) == 3 else float("nan")
    order = float(np.clip(measured, 0.5, 2.0)) if np.isfinite(measured) else 2.0
    if len(out) == 3:
        notes.append(f"apparent order of the grid from {', '.join(f'{h:g}' for h in res)} kpc: {measured:.2f}; "
                     f"σ_grid uses p = {order:.2f}")
    err = np.abs(g_f - g_c) / (ratio**order - 1.0)
    if losses:
        t0 = time.perf_counter()
        g_h, *_ = grid_density_losses(cfg, edges, res[-1], n // 2)
        e_err = np.abs(g_f - g_h) / ((n / (n // 2)) ** 2 - 1.0)
        err = np.hypot(err, e_err)
        notes.append(f"energy losses ({cfg.losses.model}): BDF2 march from {cfg.energy.max_GeV:g} GeV (ψ = 0) down on "
                     f"{n} nodes per decade; σ_grid includes the energy error |ψ_n − ψ_n/2|/3 in quadrature "
                     f"(largest relative to ψ: {float(np.max(e_err / np.where(g_f > 0, g_f, np.inf))):.1e}; "
                     f"{time.perf_counter() - t0:.2f} s)")
    if solver == "3d":
        f = infos[-1]
        notes.append(f"3D Cartesian solver (CG + Jacobi, ψ = 0 off the cylinder R < {cfg.galaxy.radius_max_kpc:g} kpc with "
                     f"the wall distance in the ghost couplings): finest grid {'×'.join(map(str, f['nodes']))} nodes, "
                     f"{f['unknowns']} unknowns, {f['iterations']} iterations, relative residual {f['residual']:.1e}, "
                     f"assembly {f['assemble_s']:.1f} s + CG {f['solve_s']:.1f} s (+ {f['setup_s']:.1f} s field and source), "
                     f"memory ≈ {f['memory_estimate_GiB']:.2f} GiB")
    return {"fine": g_f, "coarse": g_c, "err": err, "order": order, "order_measured": measured, "resolutions": res,
            "timings": times, "residuals": resid, "n_solves": n_solves, "info": infos, "notes": notes}


def crosscheck(config, *, particles=None, resolutions=None, energies=None, output_dir=None, tally=None,
               n_quad: int = 4, max_relative_error: float = 0.3, workers=None, write=True,
               energy_points_per_decade: int = 48, solver: str = "auto") -> CrosscheckReport:
    """Run the SDE engine and the grid solver on ``config`` and compare them.

    config: path, dict or Config (disk/radial_profile source; losses 'none', 'quadratic' or
           'galactic' on the 2D path, loss-free on the 3D path).
    solver: 'auto' (axisymmetric field → the 2D (R, z) solver, otherwise the 3D Cartesian one),
           '2d' (axisymmetric fields only) or '3d' (any field; e.g. to check the 3D path against the
           2D one on an axisymmetric field).
    energy_points_per_decade: with losses, nodes per decade of the energy march (BDF2); the energy
           error is estimated against half as many and added to σ_grid in quadrature.
    particles, workers: override run.particles, run.workers for the MC.
    resolutions: (coarse, fine) or (coarse, middle, fine) grid spacings [kpc], decreasing, one
           ratio; default (0.2, 0.1) in 2D, (0.8, 0.4, 0.2) in 3D.  σ_grid from the two finest, with
           the apparent order when three are given (:func:`grid_answer`).
    energies: energies [GeV] whose energy bins get profile tables and figures (default: the middle bin).
    tally: name of the cylindrical tally to compare (default: the first; a coarse one, 10 R × 8 z × 6 E,
           is added when the configuration has none).
    max_relative_error: cells with σ_MC/ψ_MC above this (or no MC content) are not compared.
    output_dir: where report.md, summary.json and the PNGs go (default ``crosscheck_<run.name>``);
           write=False writes nothing.
    Returns a :class:`CrosscheckReport` (module docstring for the method)."""
    from scipy.stats import chi2 as chi2_law

    from .config import load_config
    from .engine import run

    cfg = load_config(config)
    _refuse_unsupported(cfg)
    path = choose_solver(cfg, solver)
    res = _resolutions_of(resolutions, path)
    if path == "3d":
        need = grid_memory_3d_GiB(cfg, res[-1])
        if need > cfg.run.memory_budget_GiB:
            raise ValueError(f"the finest 3D grid ({res[-1]} kpc) needs about {need:.2g} GiB, above run.memory_budget_GiB = "
                             f"{cfg.run.memory_budget_GiB}: use coarser resolutions (or raise the budget)")
    cfg, tname = _with_tally(cfg, tally)
    notes = []
    if cfg.numerics.field_grid_spacing_kpc is not None:
        notes.append(f"both codes use the field interpolated on the engine's {cfg.numerics.field_grid_spacing_kpc} kpc grid "
                     f"(Jacobian: {cfg.numerics.field_grid_jacobian})")

    t0 = time.perf_counter()
    result = run(cfg, particles=particles, workers=workers, progress=False)
    t_mc = time.perf_counter() - t0
    tl = result.tallies[tname]
    edges = {k: np.asarray(v) for k, v in tl.edges.items()}
    mc, mc_err = np.asarray(tl.density), np.asarray(tl.uncertainty)

    G = grid_answer(cfg, edges, res, solver=path, n_quad=n_quad, energy_points_per_decade=energy_points_per_decade)
    g_f, g_c, g_err = G["fine"], G["coarse"], G["err"]
    notes += G["notes"]

    with np.errstate(divide="ignore", invalid="ignore"):
        used = (mc > 0) & (mc_err > 0) & (mc_err / mc < max_relative_error)
        pull = np.where(used, (g_f - mc) / np.sqrt(mc_err**2 + g_err**2), np.nan)
    dof = int(used.sum())
    chi2 = float(np.nansum(pull**2))
    p = float(chi2_law.sf(chi2, dof)) if dof else float("nan")
    counts = {k: int(v) for k, v in result.counts.items()}
    alive = counts.get("alive_at_t_max", 0)
    if alive > 1e-3 * max(counts.get("injected", 1), 1):
        notes.append(f"{alive} histories were still alive at t_max: the MC steady state is truncated (raise time.regimes t_max)")
    if energies is None:
        e = edges["E_GeV"]
        k = (len(e) - 1) // 2
        energies = (float(np.sqrt(e[k] * e[k + 1])),)
    timings = {"mc_s": t_mc, "grid_coarse_s": G["timings"][-2], "grid_fine_s": G["timings"][-1]}
    if len(res) == 3:
        timings["grid_coarsest_s"] = G["timings"][0]
    rep = CrosscheckReport(
        tally=tname, edges=edges, mc=mc, mc_err=mc_err, grid=g_f, grid_coarse=g_c, grid_err=g_err, pull=pull, used=used,
        chi2=chi2, dof=dof, p_value=p, resolutions_kpc=tuple(res), timings=timings,
        residuals={"coarse": G["residuals"][-2], "fine": G["residuals"][-1], "n_solves": G["n_solves"]}, counts=counts,
        notes=notes, profile_energies_GeV=tuple(float(x) for x in energies), solver=path, order=G["order"],
        order_measured=G["order_measured"], grid_info=G["info"])
    if write:
        out = Path(output_dir) if output_dir is not None else Path(f"crosscheck_{cfg.run.name}")
        out.mkdir(parents=True, exist_ok=True)
        sun_R = float(np.hypot(*cfg.galaxy.sun_position_kpc[:2]))
        rep.files = rep.plot(out, sun_R)
        np.savez(out / "crosscheck.npz", mc=mc, mc_err=mc_err, grid=g_f, grid_coarse=g_c, grid_err=g_err, pull=pull,
                 **{f"edges_{k}": v for k, v in edges.items()})
        (out / "summary.json").write_text(json.dumps(rep.summary(), indent=2, default=float))
        md = out / "report.md"
        rep.files += [out / "crosscheck.npz", out / "summary.json", md]
        md.write_text(rep.markdown(sun_R))
    return rep
