"""The crosscheck's outcome: :class:`CrosscheckReport` (the comparison in the tally's cells, its
summary and its Markdown report) and :func:`write_report` (report.md, summary.json,
crosscheck.npz and the figures of :mod:`sdeprop.plotting.crosscheck`)."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..checkpoint import write_bytes_atomically
from ..plotting.crosscheck import plot_crosscheck


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
    order: float = 2.0  # p in σ_grid
    order_measured: float = float("nan")
    grid_info: list = field(default_factory=list)  # 3D: solver diagnostics per resolution

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
        """The numbers of the comparison, as written to summary.json."""
        return {
            "tally": self.tally,
            "chi2": self.chi2,
            "dof": self.dof,
            "chi2_per_dof": self.chi2_per_dof,
            "p_value": self.p_value,
            "max_abs_pull": self.max_abs_pull,
            "cells_compared": int(self.used.sum()),
            "cells": int(self.used.size),
            "resolutions_kpc": list(self.resolutions_kpc),
            "timings_s": self.timings,
            "residuals": self.residuals,
            "counts": self.counts,
            "notes": self.notes,
            "solver": self.solver,
            "order": self.order,
            "order_measured": self.order_measured,
            "grid": self.grid_info,
        }

    def _row(self, i, j, k):
        p = self.pull[i, j, k]
        return (
            f"| {self.mc[i, j, k]:.4g} ± {self.mc_err[i, j, k]:.2g} "
            f"| {self.grid[i, j, k]:.4g} ± {self.grid_err[i, j, k]:.2g} "
            f"| {self.grid_coarse[i, j, k]:.4g} | {'—' if not np.isfinite(p) else f'{p:+.2f}'} |"
        )

    def _md_header(self) -> list:
        s = self.summary()
        n_R, n_z, n_E = self.mc.shape
        kind = (
            "2D axisymmetric (R, z)"
            if self.solver == "2d"
            else "3D Cartesian (x, y, z), ring averages over azimuth"
        )
        spacings = ", ".join(f"{h:g}" for h in self.resolutions_kpc)
        order = (
            f"p = {self.order:.2f} (apparent order {self.order_measured:.2f} from {spacings} kpc)"
            if len(self.resolutions_kpc) == 3
            else f"p = {self.order:g}"
        )
        return [
            "# sdeprop crosscheck: SDE Monte Carlo vs finite-difference grid",
            "",
            f"Tally `{self.tally}`: {n_R} R × {n_z} z × {n_E} E cells; grid resolutions {spacings} kpc "
            f"({kind} solver, σ_grid = |ψ_f − ψ_c|/((h_c/h_f)^p − 1), {order}).",
            "",
            f"**χ²/dof = {self.chi2:.2f}/{self.dof} = {self.chi2_per_dof:.3f}, p = {self.p_value:.3g}; "
            f"max |pull| = {self.max_abs_pull:.2f}** over the {s['cells_compared']} of {s['cells']} "
            "cells where the MC is well measured.",
            "",
            "Densities in kpc⁻³ GeV⁻¹ (average over the ring cell and the energy bin). "
            "pull = (grid − MC)/sqrt(σ_MC² + σ_grid²).",
            "",
        ]

    def _md_profiles(self, i0, j0) -> list:
        R, z = self.centres("R_kpc"), self.centres("z_kpc")
        eR, ez, eE = self.edges["R_kpc"], self.edges["z_kpc"], self.edges["E_GeV"]
        head = ["| {} | MC | grid (fine) | grid (coarse) | pull |", "|---|---|---|---|---|"]
        out = []
        for e in self.profile_energies_GeV:
            k = self.index_of("E_GeV", e)
            energy = f"E ∈ [{eE[k]:.3g}, {eE[k + 1]:.3g}] GeV"
            out += [
                f"## Profile along R at z ∈ [{ez[j0]:.2f}, {ez[j0 + 1]:.2f}] kpc, {energy}",
                "",
                head[0].format("R [kpc]"),
                head[1],
            ]
            out += [f"| {R[i]:.2f} " + self._row(i, j0, k) for i in range(len(R))]
            out += [
                "",
                f"## Profile along z at R ∈ [{eR[i0]:.2f}, {eR[i0 + 1]:.2f}] kpc, {energy}",
                "",
                head[0].format("z [kpc]"),
                head[1],
            ]
            out += [f"| {z[j]:+.2f} " + self._row(i0, j, k) for j in range(len(z))]
            out.append("")
        return out

    def _md_spectrum_and_pulls(self, i0, j0) -> list:
        R, z, E = self.centres("R_kpc"), self.centres("z_kpc"), self.centres("E_GeV")
        eE = self.edges["E_GeV"]
        out = [
            f"## Spectrum at R ≈ {R[i0]:.2f} kpc, z ≈ {z[j0]:+.2f} kpc",
            "",
            "| E [GeV] | MC | grid (fine) | grid (coarse) | pull |",
            "|---|---|---|---|---|",
        ]
        out += [f"| {E[k]:.4g} " + self._row(i0, j0, k) for k in range(len(E))]
        out += [
            "",
            "## Pulls by energy bin",
            "",
            "| E bin [GeV] | cells | χ² | max |pull| |",
            "|---|---|---|---|",
        ]
        for k in range(len(E)):
            pk = self.pull[..., k][self.used[..., k]]
            out.append(
                f"| {eE[k]:.3g}–{eE[k + 1]:.3g} | {pk.size} | {float(np.sum(pk**2)):.1f} | "
                f"{float(np.max(np.abs(pk))) if pk.size else float('nan'):.2f} |"
            )
        return out

    def _md_run(self) -> list:
        t, c = self.timings, self.counts
        hc, hf = self.resolutions_kpc[-2:]
        coarsest = (
            f" + {t['grid_coarsest_s']:.2f} s (h = {self.resolutions_kpc[0]} kpc)"
            if "grid_coarsest_s" in t
            else ""
        )
        out = [
            "",
            "## Run",
            "",
            f"- MC: {c.get('injected')} particles in {t['mc_s']:.1f} s; "
            f"escaped {c.get('escaped_z')} (|z| = H) + {c.get('escaped_R')} (R = R_max), "
            f"alive at t_max {c.get('alive_at_t_max')}.",
            f"- grid: {t['grid_coarse_s']:.2f} s (h = {hc} kpc) + {t['grid_fine_s']:.2f} s (h = {hf} kpc)"
            + coarsest
            + f", {self.residuals['n_solves']} solve(s) per resolution, "
            f"largest relative residual {max(self.residuals['coarse'], self.residuals['fine']):.1e}.",
        ]
        for g in self.grid_info:
            out.append(
                f"- 3D grid h = {g['resolution_kpc']:g} kpc: {'×'.join(map(str, g['nodes']))} nodes, "
                f"{g['unknowns']} unknowns, {g['iterations']} CG iterations, "
                f"residual {g['residual']:.1e}, assembly {g['assemble_s']:.2f} s, "
                f"CG {g['solve_s']:.2f} s, field and source {g['setup_s']:.2f} s, "
                f"memory ≈ {g['memory_estimate_GiB']:.2f} GiB."
            )
        return out

    def markdown(self, sun_R_kpc: float = 8.3) -> str:
        """report.md: the verdict, profiles along R (z ≈ 0) and z (R ≈ ``sun_R_kpc``) at each of
        ``profile_energies_GeV``, the spectrum at (sun_R_kpc, 0), pulls per energy bin, run facts."""
        j0, i0 = self.index_of("z_kpc", 0.0), self.index_of("R_kpc", sun_R_kpc)
        out = self._md_header() + self._md_profiles(i0, j0) + self._md_spectrum_and_pulls(i0, j0)
        out += self._md_run() + [f"- note: {n}" for n in self.notes]
        figures = [f"`{Path(f).name}`" for f in self.files if str(f).endswith(".png")]
        if self.files:
            out += ["", "Figures: " + ", ".join(figures)]
        return "\n".join(out) + "\n"

    def plot(self, output_dir, sun_R_kpc: float = 8.3) -> list:
        """Write the figures into ``output_dir`` (:func:`sdeprop.plotting.crosscheck.plot_crosscheck`)."""
        return plot_crosscheck(self, output_dir, sun_R_kpc)


def write_report(rep: CrosscheckReport, output_dir, sun_R_kpc: float = 8.3) -> list:
    """Write the figures, crosscheck.npz (the arrays and the tally edges), summary.json and
    report.md into ``output_dir`` (created if needed); the paths written are stored in
    ``rep.files`` and returned."""
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    rep.files = rep.plot(out, sun_R_kpc)
    arrays = io.BytesIO()
    np.savez(
        arrays,
        mc=rep.mc,
        mc_err=rep.mc_err,
        grid=rep.grid,
        grid_coarse=rep.grid_coarse,
        grid_err=rep.grid_err,
        pull=rep.pull,
        **{f"edges_{k}": v for k, v in rep.edges.items()},
    )
    write_bytes_atomically(out / "crosscheck.npz", arrays.getbuffer())
    write_bytes_atomically(out / "summary.json", json.dumps(rep.summary(), indent=2, default=float).encode())
    md = out / "report.md"
    rep.files += [out / "crosscheck.npz", out / "summary.json", md]
    write_bytes_atomically(md, rep.markdown(sun_R_kpc).encode())
    return rep.files
