"""The comparison: run the SDE engine and the grid solver at two or three resolutions, estimate
the grid's discretisation error (Richardson, with the measured order for three resolutions),
and score the Monte Carlo against the grid with pulls and χ² (:func:`crosscheck`)."""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
from scipy.stats import chi2 as chi2_law

from ..config import load_config
from ..engine import run
from ..gridsolver.terms import has_reacceleration, has_wind
from .grid import grid_density, grid_density_3d, grid_density_coupled, grid_density_losses
from .problem import (
    choose_solver,
    grid_memory_3d_GiB,
    refuse_unsupported,
    resolutions_for,
    with_compared_tally,
)
from .report import CrosscheckReport, write_report


# ----------------------------------------------------------------------------- grid side
def apparent_order(g1, g2, g3, ratio: float) -> float:
    """Observed order of convergence from three resolutions with one refinement ratio:
    log(‖g1 − g2‖/‖g2 − g3‖)/log(ratio) over all cells (NaN if the differences do not shrink)."""
    d1, d2 = float(np.linalg.norm(g1 - g2)), float(np.linalg.norm(g2 - g3))
    return math.log(d1 / d2) / math.log(ratio) if d1 > 0 and d2 > 0 else float("nan")


def _grid_note_3d(cfg, f: dict) -> str:
    """One line on the finest 3D solve (``f``: its diagnostics from :func:`grid_density_3d`)."""
    return (
        f"3D Cartesian solver (CG + Jacobi, ψ = 0 off the cylinder R < {cfg.galaxy.radius_max_kpc:g} kpc "
        "with the wall distance in the ghost couplings): "
        f"finest grid {'×'.join(map(str, f['nodes']))} nodes, "
        f"{f['unknowns']} unknowns, {f['iterations']} iterations, relative residual {f['residual']:.1e}, "
        f"assembly {f['assemble_s']:.1f} s + CG {f['solve_s']:.1f} s "
        f"(+ {f['setup_s']:.1f} s field and source), memory ≈ {f['memory_estimate_GiB']:.2f} GiB"
    )


def grid_answer(
    cfg,
    edges,
    resolutions,
    *,
    solver: str = "2d",
    n_quad: int = 4,
    energy_points_per_decade: int | None = None,
):
    """The grid side of the comparison on the tally ``edges``: the finest-grid answer, the next
    coarser one, σ_grid and diagnostics, for solver '2d' or '3d' and two or three resolutions.

    σ_grid = |ψ_f − ψ_c|/((h_c/h_f)^p − 1) (plus, with losses, the energy error in quadrature),
    with p = 2 for two resolutions (nominal) and, for three, the apparent order measured by
    :func:`apparent_order`, clipped to [0.5, 2] (never more optimistic than the nominal order).
    Returns a dict: fine, coarse, err, order, order_measured, timings (per resolution), residuals,
    n_solves, info (3D: per-resolution solver diagnostics), notes."""
    res = resolutions_for(resolutions, solver)
    coupled = solver == "2d" and has_reacceleration(cfg)
    losses = (cfg.losses.model != "none" or has_wind(cfg)) and not coupled
    notes, out, times, infos, resid = [], [], [], [], []
    n_solves = 0
    if coupled:
        n = int(energy_points_per_decade if energy_points_per_decade is not None else 24)
        if n < 4:
            raise ValueError(f"energy_points_per_decade must be ≥ 4, got {energy_points_per_decade!r}")
    elif losses:
        if energy_points_per_decade is None:
            energy_points_per_decade = 48
        n = int(energy_points_per_decade)
        if n < 4:
            raise ValueError(f"energy_points_per_decade must be ≥ 4, got {energy_points_per_decade!r}")
    for h in res:
        t0 = time.perf_counter()
        if solver == "3d":
            g, info, _ = grid_density_3d(cfg, edges, h, n_quad)
            r, n_solves = info["residual"], info["n_solves"]
            infos.append({"resolution_kpc": h, **info})
        elif coupled:
            g, r, n_solves, _, info = grid_density_coupled(cfg, edges, h, n)
            cinfo = {"resolution_kpc": h, **info}
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
        notes.append(
            f"apparent order of the grid from {', '.join(f'{h:g}' for h in res)} kpc: "
            f"{measured:.2f}; σ_grid uses p = {order:.2f}"
        )
    err = np.abs(g_f - g_c) / (ratio**order - 1.0)
    if coupled:
        t0 = time.perf_counter()
        g_h, *_ = grid_density_coupled(cfg, edges, res[-1], n // 2)
        # the loss drift (continuous or adiabatic) is upwinded: first order in Δ ln E; else second
        p_E = 1.0 if (cfg.losses.model != "none" or has_wind(cfg)) else 2.0
        e_err = np.abs(g_f - g_h) / ((n / (n // 2)) ** p_E - 1.0)
        err = np.hypot(err, e_err)
        f = cinfo
        notes.append(
            f"reacceleration: one coupled (E, x) system ({f['method']}, {f['unknowns']} unknowns, "
            f"{f['energies']} energies {f['E_range_GeV'][0]:.3g}–{f['E_range_GeV'][1]:.3g} GeV, "
            f"{n} per decade, zero flux in p at both ends); σ_grid includes the energy error "
            f"|ψ_n − ψ_n/2|/(2^{p_E:g} − 1) in quadrature "
            f"(largest relative to ψ: {float(np.max(e_err / np.where(g_f > 0, g_f, np.inf))):.1e}; "
            f"{time.perf_counter() - t0:.2f} s)"
        )
    if losses:
        t0 = time.perf_counter()
        g_h, *_ = grid_density_losses(cfg, edges, res[-1], n // 2)
        e_err = np.abs(g_f - g_h) / ((n / (n // 2)) ** 2 - 1.0)
        err = np.hypot(err, e_err)
        notes.append(
            f"energy losses ({cfg.losses.model}"
            + (", adiabatic by the wind" if has_wind(cfg) else "")
            + f"): BDF2 march from {cfg.energy.max_GeV:g} GeV "
            f"(ψ = 0) down on {n} nodes per decade; σ_grid includes the energy error "
            "|ψ_n − ψ_n/2|/3 in quadrature "
            f"(largest relative to ψ: {float(np.max(e_err / np.where(g_f > 0, g_f, np.inf))):.1e}; "
            f"{time.perf_counter() - t0:.2f} s)"
        )
    if solver == "3d":
        notes.append(_grid_note_3d(cfg, infos[-1]))
    return {
        "fine": g_f,
        "coarse": g_c,
        "err": err,
        "order": order,
        "order_measured": measured,
        "resolutions": res,
        "timings": times,
        "residuals": resid,
        "n_solves": n_solves,
        "info": infos,
        "notes": notes,
    }


# ----------------------------------------------------------------------------- scoring
def pulls(mc, mc_err, grid, grid_err, max_relative_error: float):
    """(used, pull, χ², dof, p-value): pull = (grid − MC)/sqrt(σ_MC² + σ_grid²) over the cells
    where the MC is well measured (σ_MC/ψ_MC < ``max_relative_error``; NaN elsewhere), χ² the sum
    of their squares, dof their number, p the χ² law's survival function."""
    with np.errstate(divide="ignore", invalid="ignore"):
        used = (mc > 0) & (mc_err > 0) & (mc_err / mc < max_relative_error)
        pull = np.where(used, (grid - mc) / np.sqrt(mc_err**2 + grid_err**2), np.nan)
    dof = int(used.sum())
    chi2 = float(np.nansum(pull**2))
    p = float(chi2_law.sf(chi2, dof)) if dof else float("nan")
    return used, pull, chi2, dof, p


def _middle_energy(edges_E) -> tuple:
    """The geometric centre [GeV] of the middle energy bin, as a one-element tuple."""
    k = (len(edges_E) - 1) // 2
    return (float(np.sqrt(edges_E[k] * edges_E[k + 1])),)


# ----------------------------------------------------------------------------- driver
def crosscheck(
    config,
    *,
    particles=None,
    resolutions=None,
    energies=None,
    output_dir=None,
    tally=None,
    n_quad: int = 4,
    max_relative_error: float = 0.3,
    workers=None,
    write=True,
    energy_points_per_decade: int | None = None,
    solver: str = "auto",
) -> CrosscheckReport:
    """Run the SDE engine and the grid solver on ``config`` and compare them.

    config: path, dict or Config (disk/radial_profile source; losses 'none', 'quadratic' or
           'galactic', a wind and reacceleration on the 2D path; loss-free on the 3D path; D varying in
           space and catastrophic losses on both).
    solver: 'auto' (axisymmetric field → the 2D (R, z) solver, otherwise the 3D Cartesian one),
           '2d' (axisymmetric fields only) or '3d' (any field; e.g. to check the 3D path against the
           2D one on an axisymmetric field).
    energy_points_per_decade: with losses or a wind, nodes per decade of the energy march (BDF2; default
           48); with reacceleration, of the coupled (E, x) solve (default 24); the energy
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
    Returns a :class:`CrosscheckReport` (package docstring for the method)."""
    cfg = load_config(config)
    refuse_unsupported(cfg)
    path = choose_solver(cfg, solver)
    res = resolutions_for(resolutions, path)
    if path == "3d":
        need = grid_memory_3d_GiB(cfg, res[-1])
        if need > cfg.run.memory_budget_GiB:
            raise ValueError(
                f"the finest 3D grid ({res[-1]} kpc) needs about {need:.2g} GiB, above "
                f"run.memory_budget_GiB = {cfg.run.memory_budget_GiB}: use coarser resolutions "
                "(or raise the budget)"
            )
    cfg, tname = with_compared_tally(cfg, tally)
    notes = []
    if cfg.numerics.field_grid_spacing_kpc is not None:
        notes.append(
            "both codes use the field interpolated on the engine's "
            f"{cfg.numerics.field_grid_spacing_kpc} kpc grid "
            f"(Jacobian: {cfg.numerics.field_grid_jacobian})"
        )

    t0 = time.perf_counter()
    result = run(cfg, particles=particles, workers=workers, progress=False)
    t_mc = time.perf_counter() - t0
    tl = result.tallies[tname]
    edges = {k: np.asarray(v) for k, v in tl.edges.items()}
    mc, mc_err = np.asarray(tl.density), np.asarray(tl.uncertainty)

    G = grid_answer(
        cfg, edges, res, solver=path, n_quad=n_quad, energy_points_per_decade=energy_points_per_decade
    )
    notes += G["notes"]
    used, pull, chi2, dof, p = pulls(mc, mc_err, G["fine"], G["err"], max_relative_error)
    counts = {k: int(v) for k, v in result.counts.items()}
    alive = counts.get("alive_at_t_max", 0)
    if alive > 1e-3 * max(counts.get("injected", 1), 1):
        notes.append(
            f"{alive} histories were still alive at t_max: the MC steady state is truncated "
            "(raise time.regimes t_max)"
        )
    if energies is None:
        energies = _middle_energy(edges["E_GeV"])
    timings = {"mc_s": t_mc, "grid_coarse_s": G["timings"][-2], "grid_fine_s": G["timings"][-1]}
    if len(res) == 3:
        timings["grid_coarsest_s"] = G["timings"][0]
    rep = CrosscheckReport(
        tally=tname,
        edges=edges,
        mc=mc,
        mc_err=mc_err,
        grid=G["fine"],
        grid_coarse=G["coarse"],
        grid_err=G["err"],
        pull=pull,
        used=used,
        chi2=chi2,
        dof=dof,
        p_value=p,
        resolutions_kpc=tuple(res),
        timings=timings,
        residuals={"coarse": G["residuals"][-2], "fine": G["residuals"][-1], "n_solves": G["n_solves"]},
        counts=counts,
        notes=notes,
        profile_energies_GeV=tuple(float(x) for x in energies),
        solver=path,
        order=G["order"],
        order_measured=G["order_measured"],
        grid_info=G["info"],
    )
    if write:
        out = Path(output_dir) if output_dir is not None else Path(f"crosscheck_{cfg.run.name}")
        write_report(rep, out, sun_R_kpc=float(np.hypot(*cfg.galaxy.sun_position_kpc[:2])))
    return rep
