"""The grid solver's answer in the cells of a cylindrical tally: (1/ΔE)∫ψ dE averaged over each
ring cell [kpc⁻³ GeV⁻¹], shape (n_R, n_z, n_E), from the 2D (R, z) solver without
(:func:`grid_density`) or with energy losses or a wind (:func:`grid_density_losses`), with
reacceleration (:func:`grid_density_coupled`), and from the 3D Cartesian solver
(:func:`grid_density_3d`).  D that varies in space and catastrophic losses enter every path (the
wind and reacceleration only the 2D ones).  The averaging is described in the package docstring
(sdeprop/crosscheck/__init__.py)."""

from __future__ import annotations

import math
import time

import numpy as np
import scipy.sparse.linalg as spla
from scipy.sparse import diags as scipy_diags

from ..gridsolver import axisymmetric, cartesian
from ..gridsolver.energy import (
    axisymmetric_loss_rate_from_config,
    control_widths,
    march_energies,
    solve_coupled,
)
from ..gridsolver.terms import (
    SpatialFactors,
    adiabatic_loss_rate,
    catastrophic_rates,
    has_catastrophic,
    has_wind,
    momentum_diffusion_K,
    wind_of,
)
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


def energy_floor_GeV(cfg, edges_E) -> float:
    """The engine's energy floor: losses.energy_floor_GeV, else min(lowest tally edge, energy.min_GeV/10)
    (engine.build_model; the low end of the catastrophic gas table)."""
    if cfg.losses.energy_floor_GeV is not None:
        return float(cfg.losses.energy_floor_GeV)
    return float(min(float(edges_E[0]), cfg.energy.min_GeV / 10.0))


class _Terms2D:
    """The 2D transport operator of a configuration at any energy: ∇·(D∇ψ) with D∥ f∥, D⊥ f⊥ on the faces
    (``axisymmetric.staggered_tensor``), plus the wind's −∇·(uψ) (``axisymmetric.advection_operator``);
    the removal rate ν and the adiabatic loss rate on the cells (``gridsolver.terms``)."""

    def __init__(self, cfg, P):
        self.cfg, self.P, grid = cfg, P, P.grid
        self.grid = grid
        self.species = cfg.species.name
        self.mass = P.injection.mass
        self.floor = cfg.numerics.field_floor_uG
        self.factors = SpatialFactors(cfg)
        self.wind = has_wind(cfg)
        v0, dvdz = wind_of(cfg)
        self.W = axisymmetric.advection_operator(grid, v0, dvdz) if self.wind else None
        self.div_u = axisymmetric.cell_wind_divergence(grid, v0, dvdz) if self.wind else None
        R, z = grid.centres_mesh()
        self.nu = (
            catastrophic_rates(cfg, R.ravel(), z.ravel(), energy_floor_GeV(cfg, P.eE))
            if has_catastrophic(cfg)
            else None
        )
        self.simple = self.factors.uniform and not self.wind and self.nu is None

    def tensor(self, e: float, dpa: float | None = None, dpe: float | None = None):
        if dpa is None:
            a, b = diffusion_at(self.cfg.diffusion, self.species, np.array([e]))
            dpa, dpe = float(a[0]), float(b[0])
        P = self.P
        if self.factors.uniform:
            return axisymmetric.tensor_from_field(P.BR, P.Bp, P.Bz, dpa, dpe, self.floor)
        f = axisymmetric.axisymmetric_factors(self.grid, self.factors, e)
        return axisymmetric.staggered_tensor(self.grid, P.BR, P.Bp, P.Bz, dpa, dpe, self.floor, f)

    def operator(self, e: float, dpa: float | None = None, dpe: float | None = None):
        L = axisymmetric.assemble_operator(self.grid, self.tensor(e, dpa, dpe))
        return L if self.W is None else (L + self.W).tocsr()

    def removal(self, e: float):
        return None if self.nu is None else self.nu(e)

    def adiabatic(self, e: float):
        return adiabatic_loss_rate(self.div_u, e, self.mass)

    def momentum_diffusion(self, e: float):
        """K [Myr⁻¹] on the cells: the local D∥ f∥ at the cell centres and the local index change Δδ."""
        R, z = self.grid.centres_mesh()
        fpar, _, ddelta = self.factors(R.ravel(), 0.0, z.ravel(), e)
        dpa = float(diffusion_at(self.cfg.diffusion, self.species, np.array([e]))[0][0])
        return momentum_diffusion_K(self.cfg, dpa * fpar, ddelta)


def grid_density(cfg, tally_edges, resolution_kpc: float, n_quad: int = 4):
    """The loss-free 2D grid answer in the tally's cells: (1/ΔE)∫ψ dE averaged over each ring
    [kpc⁻³ GeV⁻¹], shape (n_R, n_z, n_E) of the tally; also the largest relative residual, the
    number of linear solves and the grid."""
    P = axisymmetric_problem(cfg, tally_edges, resolution_kpc)
    grid = P.grid
    H, nR, nz = cfg.galaxy.halo_height_kpc, grid.n_R, grid.n_z
    E, wE, dpar, dperp = energy_bin_quadrature(cfg, P.injection, P.eE, n_quad)  # (n_E, n_quad)
    T = _Terms2D(cfg, P)
    # D⊥ = ε D∥ at every energy and nothing but D(E): G_E ∝ 1/D∥(E)
    proportional = cfg.diffusion.delta_perp is None and T.simple

    def solve(dpa, dpe, e=None):
        A = -T.operator(e, dpa, dpe)
        nu = T.removal(e) if e is not None else None
        if nu is not None:
            A = A + scipy_diags(nu)
        A = A.tocsc()
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
            G[idx], r = solve(float(dpar[idx]), float(dperp[idx]), float(E[idx]))
            residual, n_solves = max(residual, r), n_solves + 1
    psi_bins = np.einsum("eq,eqij->eij", wE, G)  # (n_E, n_R grid, n_z grid)
    return _ring_average(psi_bins, grid, P.eR, P.ez, H), residual, n_solves, grid


def grid_density_losses(cfg, tally_edges, resolution_kpc: float, per_decade: int = 48, scheme: str = "bdf2"):
    """With energy losses or a wind: ∇·(D∇ψ) − ∇·(uψ) + ∂_E(bψ) − νψ + Q = 0 marched from
    energy.max_GeV (ψ = 0) down to the lowest tally edge on :func:`fine_energies`
    (``gridsolver.energy.march_energies``), b the continuous losses plus the adiabatic rate
    (p v/3) ∇·u of the wind, then (1/ΔE)∫ψ dE over each tally bin by the trapezoid on those nodes and
    the ring average.  Returns (avg (n_R, n_z, n_E), largest relative residual, number of solves, grid)."""
    P = axisymmetric_problem(cfg, tally_edges, resolution_kpc)
    grid, inj, eE = P.grid, P.injection, P.eE
    H, nR, nz = cfg.galaxy.halo_height_kpc, grid.n_R, grid.n_z
    if eE[0] >= inj.emax:
        raise ValueError("the tally's energy range lies above energy.max_GeV: nothing to compare")
    E = fine_energies(eE, inj.emax, per_decade)
    inside = (E >= inj.emin) & (E <= inj.emax)
    # source rate per GeV at each node [GeV⁻¹ Myr⁻¹], shape (K,)
    s_E = np.where(inside, inj.spec.dq_dT(E, inj.mass, inj.charge), 0.0) * inj.rate / inj.total
    T = _Terms2D(cfg, P)
    b = axisymmetric_loss_rate_from_config(cfg, grid, E)
    if T.wind:
        ad = np.array([T.adiabatic(e) for e in E])
        b = ad if b is None else b + ad
    if b is None:
        raise ValueError(
            "the loss model has no active process and there is no wind: run the loss-free crosscheck"
        )
    nu = None if T.nu is None else np.array([T.removal(e) for e in E])
    sol = march_energies(T.operator, E, s_E[:, None] * P.q[None, :], b, scheme=scheme, removal_rate_at=nu)
    psi = sol.psi.reshape(E.size, nR, nz)
    psi_bins = np.zeros((len(eE) - 1, nR, nz))
    for k in range(len(eE) - 1):
        m = (E >= eE[k] * (1 - 1e-12)) & (E <= eE[k + 1] * (1 + 1e-12))
        if m.sum() >= 2:  # above emax: ψ = 0
            psi_bins[k] = np.trapezoid(psi[m], E[m], axis=0) / (eE[k + 1] - eE[k])
    return _ring_average(psi_bins, grid, P.eR, P.ez, H), float(sol.residuals.max()), int(E.size - 1), grid


def coupled_energies(edges_E, lo: float, hi: float, injection_range, per_decade: int) -> np.ndarray:
    """Energy nodes [GeV] of the coupled solve: log-uniform, ⌈per_decade · log10(b/a)⌉ steps (at least 2)
    between consecutive knots — lo, hi, the tally edges and the injection range's ends inside [lo, hi] —
    so every tally edge is a node."""
    e = np.concatenate([np.asarray(edges_E, dtype=float), np.asarray(injection_range, dtype=float)])
    knots = np.unique(np.concatenate([[lo, hi], e[(e > lo) & (e < hi)]]))
    out = [knots[:1]]
    for a, b in zip(knots[:-1], knots[1:]):
        n = max(2, int(math.ceil(per_decade * math.log10(b / a) - 1e-9)))
        seg = np.exp(np.linspace(math.log(a), math.log(b), n + 1))[1:]
        seg[-1] = b
        out.append(seg)
    return np.concatenate(out)


def _bin_means(psi, E, eE):
    """(1/ΔE)∫ψ dE over each tally bin by the trapezoid on the nodes inside it (zero without nodes)."""
    out = np.zeros((len(eE) - 1,) + psi.shape[1:])
    for k in range(len(eE) - 1):
        m = (E >= eE[k] * (1 - 1e-12)) & (E <= eE[k + 1] * (1 + 1e-12))
        if m.sum() >= 2:
            out[k] = np.trapezoid(psi[m], E[m], axis=0) / (eE[k + 1] - eE[k])
    return out


def grid_density_coupled(
    cfg, tally_edges, resolution_kpc: float, per_decade: int = 24, margin: float = 10.0, method: str = "auto"
):
    """With reacceleration: the whole (E, x) system of ``gridsolver.energy.solve_coupled`` (spatial
    operator per energy, wind, catastrophic ν, continuous and adiabatic losses upwinded, momentum
    diffusion K = D_pp/p² from the local D∥ as a conservative flux in p) on :func:`coupled_energies` from
    E_lo to E_hi, E_lo = min(lowest tally edge, energy.min_GeV)/margin (or the engine's energy floor
    with losses, where the kernel stops particles) and E_hi = max(highest tally edge, energy.max_GeV) ×
    margin, zero flux in p at both ends.  The source is averaged over each node's control volume (the
    cut at energy.min/max_GeV is a node).  Returns (avg, relative residual, 1, grid, info)."""
    P = axisymmetric_problem(cfg, tally_edges, resolution_kpc)
    grid, inj, eE = P.grid, P.injection, P.eE
    H, nR, nz = cfg.galaxy.halo_height_kpc, grid.n_R, grid.n_z
    T = _Terms2D(cfg, P)
    lo = min(float(eE[0]), inj.emin) / margin
    if cfg.losses.model != "none":
        lo = max(lo, energy_floor_GeV(cfg, eE))
    hi = max(float(eE[-1]), inj.emax) * margin
    E = coupled_energies(eE, lo, hi, (inj.emin, inj.emax), per_decade)
    w = control_widths(E)
    mids = 0.5 * (E[1:] + E[:-1])
    a = np.clip(np.concatenate([[E[0]], mids]), inj.emin, inj.emax)
    b = np.clip(np.concatenate([mids, [E[-1]]]), inj.emin, inj.emax)
    s_E = inj.spec.integral(a, b, inj.mass, inj.charge) / w * inj.rate / inj.total
    loss = axisymmetric_loss_rate_from_config(cfg, grid, E)
    if T.wind:
        ad = np.array([T.adiabatic(e) for e in E])
        loss = ad if loss is None else loss + ad
    nu = None if T.nu is None else np.array([T.removal(e) for e in E])
    sol = solve_coupled(
        T.operator,
        E,
        s_E[:, None] * P.q[None, :],
        mass_GeV=inj.mass,
        loss_rate_at=loss,
        removal_rate_at=nu,
        momentum_diffusion_at=T.momentum_diffusion,
        method=method,
    )
    psi = sol.psi.reshape(E.size, nR, nz)
    info = {
        "energies": int(E.size),
        "E_range_GeV": [float(E[0]), float(E[-1])],
        "unknowns": int(sol.psi.size),
        "method": sol.method,
        "assemble_s": sol.assemble_s,
        "solve_s": sol.solve_s,
        **sol.meta,
    }
    avg = _ring_average(_bin_means(psi, E, eE), grid, P.eR, P.ez, H)
    return avg, float(sol.residual), 1, grid, info


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


def _cartesian_solver(cfg, P, Wxy, Wz, info: dict, rtol: float, edges_E=None):
    """solve(D∥, D⊥, E) -> tally ring means (n_R, n_z) of G for one diffusion tensor (with the spatial
    factors f∥, f⊥ of ``[diffusion] spatial`` on the nodes and the catastrophic rate ν as −ν on the
    diagonal, both at kinetic energy E [GeV]); warm-started from the previous solve, diagnostics
    accumulated in ``info``."""
    grid = P.grid
    last = [None]
    unknown = np.zeros(grid.shape, dtype=bool)
    unknown[1:-1, 1:-1, 1:-1] = True
    unknown &= P.inside
    factors = SpatialFactors(cfg)
    X, Y, Z = grid.mesh_kpc()
    R = np.hypot(X, Y)
    nu_at = (
        catastrophic_rates(
            cfg,
            R[unknown],
            Z[unknown],
            energy_floor_GeV(cfg, edges_E if edges_E is not None else [cfg.energy.min_GeV]),
        )
        if has_catastrophic(cfg)
        else None
    )

    def solve(dpa, dpe, e=None):
        t1 = time.perf_counter()
        if factors.uniform:
            tensor = cartesian.field_aligned_tensor(P.bhat, dpa, dpe)
        else:
            fpar, fperp, _ = factors(X, Y, Z, e)
            tensor = cartesian.field_aligned_tensor(P.bhat, dpa * fpar, dpe * fperp)
        A = cartesian.assemble_operator(grid, tensor, inside=P.inside, wall=P.wall)
        if nu_at is not None:
            A = (A - scipy_diags(nu_at(e))).tocsr()
        info["assemble_s"] += time.perf_counter() - t1
        x0 = None if last[0] is None else last[0][1] * (last[0][0] / dpa)  # G ∝ 1/D roughly: a warm start
        sol = cartesian.solve_stationary(grid, None, P.q, A=A, inside=P.inside, rtol=rtol, x0=x0)
        last[0] = (dpa, sol.psi[unknown])
        info["solve_s"] += sol.solve_s
        info["iterations"] = max(info["iterations"], sol.iterations)
        info["residual"] = max(info["residual"], sol.relative_residual)
        info["n_solves"] += 1
        return Wxy @ sol.psi.reshape(grid.nx * grid.ny, grid.nz) @ Wz.T  # (n_R, n_z) tally means

    return solve, factors.uniform and nu_at is None


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
    solve, simple = _cartesian_solver(cfg, P, Wxy, Wz, info, rtol, eE)

    avg = np.zeros((len(eR) - 1, len(ez) - 1, len(eE) - 1))
    if cfg.diffusion.delta_perp is None and simple:  # D⊥ = ε D∥ and nothing else: one solve, G_E ∝ 1/D∥(E)
        ref = float(dpar.ravel()[dpar.size // 2])
        g_ref = solve(ref, ref * cfg.diffusion.epsilon)
        avg = np.einsum("eq,ab->abe", wE * ref / dpar, g_ref)
    else:
        for e, qi in np.ndindex(E.shape):
            if wE[e, qi] != 0.0:
                avg[..., e] += wE[e, qi] * solve(float(dpar[e, qi]), float(dperp[e, qi]), float(E[e, qi]))
    return avg, info, grid
