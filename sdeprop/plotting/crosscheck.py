"""Figures of a crosscheck (SDE vs grid, :class:`sdeprop.crosscheck.CrosscheckReport`): profiles
along R and z and the spectrum at the Sun, each over its pulls, and the histogram of the pulls."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..checkpoint import atomic_output


def _panel(report, ax, axp, x, sl, xlabel, logx=False):
    """MC ± 1σ and the two finest grids along one line of cells ``sl`` (top), the pulls (bottom)."""
    ax.errorbar(x, report.mc[sl], report.mc_err[sl], fmt="o", ms=3, label="SDE (MC ± 1σ)")
    ax.plot(x, report.grid[sl], "-", label=f"grid h = {report.resolutions_kpc[-1]} kpc")
    ax.plot(x, report.grid_coarse[sl], "--", label=f"grid h = {report.resolutions_kpc[-2]} kpc")
    ax.set_yscale("log")
    ax.set_ylabel("ψ [kpc⁻³ GeV⁻¹]")
    ax.legend(fontsize=7)
    axp.axhline(0, color="k", lw=0.5)
    for lvl in (-3, 3):
        axp.axhline(lvl, color="grey", lw=0.5, ls=":")
    axp.plot(x, report.pull[sl], "o", ms=3)
    axp.set_ylabel("pull")
    axp.set_xlabel(xlabel)
    if logx:
        ax.set_xscale("log")
        axp.set_xscale("log")


def _line_figure(plt, report, path, x, sl, xlabel, title, logx=False) -> Path:
    fig, (ax, axp) = plt.subplots(2, 1, sharex=True, figsize=(6, 5), gridspec_kw={"height_ratios": [3, 1]})
    _panel(report, ax, axp, x, sl, xlabel, logx)
    ax.set_title(title)
    fig.tight_layout()
    with atomic_output(path) as tmp:  # a failed write leaves no half-written figure
        fig.savefig(tmp, dpi=110, format=Path(path).suffix[1:] or "png")
    plt.close(fig)
    return path


def _pull_histogram(plt, report, path) -> Path:
    fig, ax = plt.subplots(figsize=(5, 3.5))
    pu = report.pull[report.used]
    ax.hist(pu, bins=np.linspace(-5, 5, 41), density=True, alpha=0.7, label=f"{pu.size} cells")
    xx = np.linspace(-5, 5, 200)
    ax.plot(xx, np.exp(-0.5 * xx**2) / math.sqrt(2 * math.pi), "k-", label="N(0, 1)")
    ax.set_xlabel("pull")
    ax.set_title(f"χ²/dof = {report.chi2_per_dof:.2f}, p = {report.p_value:.2g}")
    ax.legend(fontsize=7)
    fig.tight_layout()
    with atomic_output(path) as tmp:  # a failed write leaves no half-written figure
        fig.savefig(tmp, dpi=110, format=Path(path).suffix[1:] or "png")
    plt.close(fig)
    return path


def plot_crosscheck(report, output_dir, sun_R_kpc: float = 8.3) -> list:
    """Write the PNGs of ``report`` into ``output_dir`` (which must exist) and return their paths:
    for each of ``report.profile_energies_GeV`` the profiles along R (at z ≈ 0) and along z (at
    R ≈ ``sun_R_kpc``), ``profile_{R,z}_E<E>GeV.png``; the spectrum in the cell at (sun_R_kpc, 0),
    ``spectrum.png``; the pull histogram against N(0, 1), ``pulls.png``."""
    import matplotlib.pyplot as plt

    out = Path(output_dir)
    R, z, E = report.centres("R_kpc"), report.centres("z_kpc"), report.centres("E_GeV")
    j0, i0 = report.index_of("z_kpc", 0.0), report.index_of("R_kpc", sun_R_kpc)
    files = []
    for e in report.profile_energies_GeV:
        k = report.index_of("E_GeV", e)
        lines = (("R", R, (slice(None), j0, k), "R [kpc]"), ("z", z, (i0, slice(None), k), "z [kpc]"))
        for name, x, sl, lab in lines:
            files.append(
                _line_figure(
                    plt,
                    report,
                    out / f"profile_{name}_E{E[k]:.3g}GeV.png",
                    x,
                    sl,
                    lab,
                    f"profile along {name}, E ≈ {E[k]:.3g} GeV",
                )
            )
    files.append(
        _line_figure(
            plt,
            report,
            out / "spectrum.png",
            E,
            (i0, j0, slice(None)),
            "E [GeV]",
            f"spectrum at R ≈ {R[i0]:.2f} kpc, z ≈ {z[j0]:+.2f} kpc",
            logx=True,
        )
    )
    files.append(_pull_histogram(plt, report, out / "pulls.png"))
    return files
