"""The grid solver's answer in the cells of a cylindrical tally: (1/ΔE)∫ψ dE averaged over each
ring cell [kpc⁻³ GeV⁻¹], shape (n_R, n_z, n_E), from the 2D (R, z) solver without
(:func:`grid_density`) or with energy losses (:func:`grid_density_losses`) and from the 3D
Cartesian solver (:func:`grid_density_3d`).  The averaging is described in the package
docstring (sdeprop/crosscheck/__init__.py)."""

from __future__ import annotations

import math
import time

import numpy as np
import scipy.sparse.linalg as spla

from ..gridsolver import axisymmetric, cartesian
from ..gridsolver.energy import axisymmetric_loss_rate_from_config, march_energies
from ..models.diffusion import diffusion_at
from .problem import (
    axisymmetric_problem,
    cartesian_grid_for,
    cartesian_problem,
    energy_bin_quadrature,
    fine_energies,
    grid_memory_3d_GiB,
    injection_from_config,
    tally_cell_edges,
)


# ----------------------------------------------------------------------------- 2D (R, z)
def _overlap(edges_t, lo, h, n, ring):
    """(n_t × n) overlap of tally bins with grid cells [lo + i h, lo + (i+1) h]: ring areas
    (π(b² − a²)) along R, lengths along z."""
    g = lo + np.arange(n + 1) * h
    a = np.maximum(edges_t[:-1, None], g[None, :-1])
    b = np.minimum(edges_t[1:, None], g[None, 1:])
    b = np.maximum(a, b)
    return np.pi * (b * b - a * a) if ring else b - a


def _ring_average(psi_bins, grid, eR, ez, H):
    """Grid ψ per energy bin, shape (n_E, n_R grid, n_z grid) -> tally ring averages (n_R, n_z, n_E)."""
    nR, nz = grid.n_R, grid.n_z
    oR = _overlap(eR, 0.0, grid.dR_kpc, nR, ring=True)
    oz = _overlap(ez, -H, grid.dz_kpc, nz, ring=False)
    vol = np.outer(oR.sum(1), oz.sum(1))
    return np.einsum("ai,eij,bj->abe", oR, psi_bins, oz) / vol[..., None]


def grid_density(cfg, tally_edges, resolution_kpc: float, n_quad: int = 4):
    """The loss-free 2D grid answer in the tally's cells: (1/ΔE)∫ψ dE averaged over each ring
    [kpc⁻³ GeV⁻¹], shape (n_R, n_z, n_E) of the tally; also the largest relative residual, the
    number of linear solves and the grid."""
    P = axisymmetric_problem(cfg, tally_edges, resolution_kpc)
    grid = P.grid
    H, nR, nz = cfg.galaxy.halo_height_kpc, grid.n_R, grid.n_z
    E, wE, dpar, dperp = energy_bin_quadrature(cfg, P.injection, P.eE, n_quad)  # (n_E, n_quad)
    proportional = cfg.diffusion.delta_perp is None  # D⊥ = ε D∥ at every energy
    floor = cfg.numerics.field_floor_uG

    def solve(dpa, dpe):
        tensor = axisymmetric.tensor_from_field(P.BR, P.Bp, P.Bz, dpa, dpe, floor)
        A = (-axisymmetric.assemble_operator(grid, tensor)).tocsc()
        psi = spla.splu(A, permc_spec="COLAMD").solve(P.q)
        res = float(np.linalg.norm(A @ psi - P.q) / np.linalg.norm(P.q))
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
    psi_bins = np.einsum("eq,eqij->eij", wE, G)  # (n_E, n_R grid, n_z grid)
    return _ring_average(psi_bins, grid, P.eR, P.ez, H), residual, n_solves, grid


def grid_density_losses(cfg, tally_edges, resolution_kpc: float, per_decade: int = 48, scheme: str = "bdf2"):
    """With energy losses: ∇·(D∇ψ) + ∂_E(bψ) + Q = 0 marched from energy.max_GeV (ψ = 0) down to
    the lowest tally edge on :func:`fine_energies` (``gridsolver.energy.march_energies``), then
    (1/ΔE)∫ψ dE over each tally bin by the trapezoid on those nodes and the ring average.
    Returns (avg (n_R, n_z, n_E), largest relative residual, number of solves, grid)."""
    P = axisymmetric_problem(cfg, tally_edges, resolution_kpc)
    grid, inj, eE = P.grid, P.injection, P.eE
    H, nR, nz = cfg.galaxy.halo_height_kpc, grid.n_R, grid.n_z
    floor = cfg.numerics.field_floor_uG
    if eE[0] >= inj.emax:
        raise ValueError("the tally's energy range lies above energy.max_GeV: nothing to compare")
    E = fine_energies(eE, inj.emax, per_decade)
    inside = (E >= inj.emin) & (E <= inj.emax)
    # source rate per GeV at each node [GeV⁻¹ Myr⁻¹], shape (K,)
    s_E = np.where(inside, inj.spec.dq_dT(E, inj.mass, inj.charge), 0.0) * inj.rate / inj.total
    b = axisymmetric_loss_rate_from_config(cfg, grid, E)
    if b is None:
        raise ValueError("the loss model has no active process: run the loss-free crosscheck")

    def operator_at(e):
        dpa, dpe = diffusion_at(cfg.diffusion, cfg.species.name, np.array([e]))
        tensor = axisymmetric.tensor_from_field(P.BR, P.Bp, P.Bz, float(dpa[0]), float(dpe[0]), floor)
        return axisymmetric.assemble_operator(grid, tensor)

    sol = march_energies(operator_at, E, s_E[:, None] * P.q[None, :], b, scheme=scheme)
    psi = sol.psi.reshape(E.size, nR, nz)
    psi_bins = np.zeros((len(eE) - 1, nR, nz))
    for k in range(len(eE) - 1):
        m = (E >= eE[k] * (1 - 1e-12)) & (E <= eE[k + 1] * (1 + 1e-12))
        if m.sum() >= 2:  # above emax: ψ = 0
            psi_bins[k] = np.trapezoid(psi[m], E[m], axis=0) / (eE[k + 1] - eE[k])
    return _ring_average(psi_bins, grid, P.eR, P.ez, H), float(sol.residuals.max()), int(E.size - 1), grid


# ----------------------------------------------------------------------------- 3D Cartesian
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
        corners = ((0, 0, (1 - tx) * (1 - ty)), (1, 0, tx * (1 - ty)), (0, 1, (1 - tx) * ty), (1, 1, tx * ty))
        for di, dj, c in corners:
            W[a] += np.bincount((i + di) * grid.ny + (j + dj), weights=w * c, minlength=grid.nx * grid.ny)
    return W


def _cartesian_solver(P, Wxy, Wz, info: dict, rtol: float):
    """solve(D∥, D⊥) -> tally ring means (n_R, n_z) of G for one diffusion tensor; warm-started
    from the previous solve, diagnostics accumulated in ``info``."""
    grid = P.grid
    last = [None]
    unknown = np.zeros(grid.shape, dtype=bool)
    unknown[1:-1, 1:-1, 1:-1] = True
    unknown &= P.inside

    def solve(dpa, dpe):
        t1 = time.perf_counter()
        tensor = cartesian.field_aligned_tensor(P.bhat, dpa, dpe)
        A = cartesian.assemble_operator(grid, tensor, inside=P.inside, wall=P.wall)
        info["assemble_s"] += time.perf_counter() - t1
        x0 = None if last[0] is None else last[0][1] * (last[0][0] / dpa)  # G ∝ 1/D roughly: a warm start
        sol = cartesian.solve_stationary(grid, None, P.q, A=A, inside=P.inside, rtol=rtol, x0=x0)
        last[0] = (dpa, sol.psi[unknown])
        info["solve_s"] += sol.solve_s
        info["iterations"] = max(info["iterations"], sol.iterations)
        info["residual"] = max(info["residual"], sol.relative_residual)
        info["n_solves"] += 1
        return Wxy @ sol.psi.reshape(grid.nx * grid.ny, grid.nz) @ Wz.T  # (n_R, n_z) tally means

    return solve


def grid_density_3d(cfg, tally_edges, resolution_kpc: float, n_quad: int = 4, rtol: float = 1e-10):
    """Loss-free grid answer from the 3D Cartesian solver (gridsolver/cartesian.py) in the tally's
    cylindrical cells: (1/ΔE)∫ψ dE averaged over each ring cell (all azimuths), shape (n_R, n_z,
    n_E) [kpc⁻³ GeV⁻¹], and a dict of diagnostics (largest relative residual, solves, CG
    iterations, unknowns, times, memory estimate).  The galaxy is the cylinder R < R_max in the
    box: nodes outside are pinned to ψ = 0, the wall distance enters the axis couplings
    (``cartesian.cylinder_dirichlet``); the source is averaged over each node's dual cell; the
    tally average is that of the trilinear interpolant of the nodal ψ.  Returns (avg, info, grid)."""
    grid = cartesian_grid_for(cfg, resolution_kpc)
    need = grid_memory_3d_GiB(cfg, resolution_kpc)
    if need > cfg.run.memory_budget_GiB:
        raise ValueError(
            f"the 3D grid at {resolution_kpc} kpc has {grid.nx}×{grid.ny}×{grid.nz} nodes and "
            f"needs about {need:.2g} GiB, above run.memory_budget_GiB = "
            f"{cfg.run.memory_budget_GiB}: use a coarser resolution (or raise the budget)"
        )
    t0 = time.perf_counter()
    P = cartesian_problem(cfg, grid)
    eR, ez, eE = tally_cell_edges(tally_edges)
    E, wE, dpar, dperp = energy_bin_quadrature(cfg, injection_from_config(cfg), eE, n_quad)
    Wxy = _ring_weights_xy(grid, eR)
    Wz = _hat_weights(grid.axes_kpc[2], ez)
    info = {
        "nodes": [grid.nx, grid.ny, grid.nz],
        "spacing_kpc": [float(v) for v in grid.spacing_kpc],
        "unknowns": int(P.inside[1:-1, 1:-1, 1:-1].sum()),
        "memory_estimate_GiB": need,
        "setup_s": time.perf_counter() - t0,
        "assemble_s": 0.0,
        "solve_s": 0.0,
        "iterations": 0,
        "residual": 0.0,
        "n_solves": 0,
    }
    solve = _cartesian_solver(P, Wxy, Wz, info, rtol)

    avg = np.zeros((len(eR) - 1, len(ez) - 1, len(eE) - 1))
    if cfg.diffusion.delta_perp is None:  # D⊥ = ε D∥: one solve, G_E ∝ 1/D∥(E)
        ref = float(dpar.ravel()[dpar.size // 2])
        g_ref = solve(ref, ref * cfg.diffusion.epsilon)
        avg = np.einsum("eq,ab->abe", wE * ref / dpar, g_ref)
    else:
        for e, qi in np.ndindex(E.shape):
            if wE[e, qi] != 0.0:
                avg[..., e] += wE[e, qi] * solve(float(dpar[e, qi]), float(dperp[e, qi]))
    return avg, info, grid
