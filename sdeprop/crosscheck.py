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
  p = 2 (Richardson; the scheme is second order for smooth D and source — where the field or the
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

Limits (refused with a message): non-
axisymmetric fields (the 3D Cartesian solver is not wired here), point or thin-disk sources (no
grid density), reflecting boundaries, drift switched off, [[components]].
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["CrosscheckReport", "crosscheck", "field_is_axisymmetric", "fine_energies", "grid_density", "grid_density_losses"]

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
    ok, dev = field_is_axisymmetric(cfg)
    if not ok:
        raise ValueError(f"the field '{cfg.field.model}' is not axisymmetric (B_R, B_φ, B_z vary with azimuth by {dev:.2g} "
                         "of max|B|); crosscheck runs the 2D (R, z) grid solver only — the 3D Cartesian comparison is not wired yet")


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
                "residuals": self.residuals, "counts": self.counts, "notes": self.notes}

    def _row(self, i, j, k):
        p = self.pull[i, j, k]
        return (f"| {self.mc[i, j, k]:.4g} ± {self.mc_err[i, j, k]:.2g} | {self.grid[i, j, k]:.4g} ± {self.grid_err[i, j, k]:.2g} "
                f"| {self.grid_coarse[i, j, k]:.4g} | {'—' if not np.isfinite(p) else f'{p:+.2f}'} |")

    def markdown(self, sun_R_kpc: float = 8.3) -> str:
        R, z, E = self.centres("R_kpc"), self.centres("z_kpc"), self.centres("E_GeV")
        j0, i0 = self.index_of("z_kpc", 0.0), self.index_of("R_kpc", sun_R_kpc)
        hc, hf = self.resolutions_kpc
        s = self.summary()
        out = ["# sdeprop crosscheck: SDE Monte Carlo vs finite-difference grid", "",
               f"Tally `{self.tally}`: {len(R)} R × {len(z)} z × {len(E)} E cells; grid resolutions {hc} and {hf} kpc "
               "(2D axisymmetric solver, σ_grid = |ψ_f − ψ_c|/((h_c/h_f)² − 1)).", "",
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
                f"- grid: {t['grid_coarse_s']:.2f} s (h = {hc} kpc) + {t['grid_fine_s']:.2f} s (h = {hf} kpc), "
                f"{self.residuals['n_solves']} solve(s) per resolution, largest relative residual "
                f"{max(self.residuals['coarse'], self.residuals['fine']):.1e}."]
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
            ax.plot(x, self.grid[sl], "-", label=f"grid h = {self.resolutions_kpc[1]} kpc")
            ax.plot(x, self.grid_coarse[sl], "--", label=f"grid h = {self.resolutions_kpc[0]} kpc")
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
def crosscheck(config, *, particles=None, resolutions=(0.2, 0.1), energies=None, output_dir=None, tally=None,
               n_quad: int = 4, max_relative_error: float = 0.3, workers=None, write=True,
               energy_points_per_decade: int = 48) -> CrosscheckReport:
    """Run the SDE engine and the 2D axisymmetric grid solver on ``config`` and compare them.

    config: path, dict or Config (axisymmetric field, disk/radial_profile source; losses 'none',
           'quadratic' or 'galactic').
    energy_points_per_decade: with losses, nodes per decade of the energy march (BDF2); the energy
           error is estimated against half as many and added to σ_grid in quadrature.
    particles, workers: override run.particles, run.workers for the MC.
    resolutions: (coarse, fine) grid spacings [kpc], coarse > fine (σ_grid from their difference).
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
    hc, hf = (float(r) for r in resolutions)
    if not (hc > hf > 0):
        raise ValueError(f"resolutions must be (coarse, fine) with coarse > fine > 0 [kpc], got {resolutions!r}")
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

    losses = cfg.losses.model != "none"
    t0 = time.perf_counter()
    if losses:
        n = int(energy_points_per_decade)
        if n < 4:
            raise ValueError(f"energy_points_per_decade must be ≥ 4, got {energy_points_per_decade!r}")
        g_c, res_c, n_solves, _ = grid_density_losses(cfg, edges, hc, n)
        t1 = time.perf_counter()
        g_f, res_f, _, _ = grid_density_losses(cfg, edges, hf, n)
        t2 = time.perf_counter()
        # energy discretisation (BDF2, second order in Δ ln E): Richardson against half the nodes, on the fine grid
        g_h, *_ = grid_density_losses(cfg, edges, hf, n // 2)
        t3 = time.perf_counter()
        e_err = np.abs(g_f - g_h) / ((n / (n // 2)) ** 2 - 1.0)
        notes.append(f"energy losses ({cfg.losses.model}): BDF2 march from {cfg.energy.max_GeV:g} GeV (ψ = 0) down on "
                     f"{n} nodes per decade; σ_grid includes the energy error |ψ_n − ψ_n/2|/3 in quadrature "
                     f"(largest relative to ψ: {float(np.max(e_err / np.where(g_f > 0, g_f, np.inf))):.1e}; {t3 - t2:.2f} s)")
    else:
        g_c, res_c, n_solves, _ = grid_density(cfg, edges, hc, n_quad)
        t1 = time.perf_counter()
        g_f, res_f, _, _ = grid_density(cfg, edges, hf, n_quad)
        t2 = time.perf_counter()
        e_err = 0.0
    g_err = np.hypot(np.abs(g_f - g_c) / ((hc / hf) ** 2 - 1.0), e_err)

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
    rep = CrosscheckReport(
        tally=tname, edges=edges, mc=mc, mc_err=mc_err, grid=g_f, grid_coarse=g_c, grid_err=g_err, pull=pull, used=used,
        chi2=chi2, dof=dof, p_value=p, resolutions_kpc=(hc, hf),
        timings={"mc_s": t_mc, "grid_coarse_s": t1 - t0, "grid_fine_s": t2 - t1},
        residuals={"coarse": res_c, "fine": res_f, "n_solves": n_solves}, counts=counts, notes=notes,
        profile_energies_GeV=tuple(float(x) for x in energies))
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
