"""The figure of a local spectral index (:class:`sdeprop.slopes.SpectralIndex`): α against R with 1σ
bars (cylindrical, averaged over z), a map of α (per (R, z) cell, or (x, y) of a cartesian tally
averaged over z), or, for one cell (a sphere, the observer), the spectrum with the fitted line."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..checkpoint import atomic_output
from ..slopes import log_bin_mean


def _title(index) -> str:
    lo, hi = index.window_GeV
    z = index.z_range_kpc
    where = f", z = {z[0]:g}..{z[1]:g} kpc" if z is not None else ""
    return f"n ∝ E^-α over {lo:g}–{hi:g} GeV{where}"


def plot_spectral_index(index, path, sun_R_kpc: float | None = None) -> Path:
    """Write a PNG of ``index`` (from :func:`sdeprop.slopes.spectral_index`) and return its path.

    ``sun_R_kpc`` marks the Sun's radius on an α(R) plot.  Cells without a fit (NaN) are left out.
    A per-cell index of a cartesian tally (three axes) has no figure: average it over z first.
    """
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    axes = list(index.axes)
    if len(axes) > 2:
        raise ValueError("a per-cell index of a cartesian tally has no figure: average over z (z_range)")
    fig, ax = plt.subplots(figsize=(6.4, 4.4), constrained_layout=True)
    a, s = np.asarray(index.alpha), np.asarray(index.sigma)
    if len(axes) == 1:
        x = index.centres(axes[0])
        ok = np.isfinite(a)
        yerr = np.where(np.isfinite(s), s, 0.0)[ok]
        ax.errorbar(x[ok], a[ok], yerr=yerr, fmt="o", ms=4, capsize=2)
        ax.set(xlabel=f"{axes[0].removesuffix('_kpc')} [kpc]", ylabel="α", title=_title(index))
        if sun_R_kpc is not None and axes[0] == "R_kpc":
            ax.axvline(sun_R_kpc, color="grey", ls=":", lw=1)
            ax.text(sun_R_kpc, 1.0, " Sun", transform=ax.get_xaxis_transform(), va="top", fontsize=8)
    elif len(axes) == 2:
        e0, e1 = index.axes[axes[0]], index.axes[axes[1]]
        finite = a[np.isfinite(a)]
        if not finite.size:
            raise ValueError("no cell has a fit: nothing to draw")
        mesh = ax.pcolormesh(e0, e1, a.T, cmap="viridis", shading="flat")
        fig.colorbar(mesh, ax=ax, label="α")
        ax.set(
            xlabel=f"{axes[0].removesuffix('_kpc')} [kpc]",
            ylabel=f"{axes[1].removesuffix('_kpc')} [kpc]",
            title=_title(index),
        )
    else:
        e = np.asarray(index.energies_GeV)
        n = np.asarray(index.density)
        alpha = float(a)
        scale = e**alpha
        dn = index.uncertainty
        ax.errorbar(e, scale * n, yerr=None if dn is None else scale * dn, fmt="o", ms=4, capsize=2)
        amplitude = float(index.density_at_pivot) * float(index.pivot_GeV) ** alpha  # n = A E^-α
        if index.energy_edges_GeV is not None:  # the fitted bin means A ⟨E^-α⟩, as the data are
            eE = np.asarray(index.energy_edges_GeV)
            model = amplitude * np.exp(log_bin_mean(alpha, eE[:-1], eE[1:]))
            what = "bin means"
        else:
            model = amplitude * e**-alpha
            what = "points"
        ax.plot(e, scale * model, "-", color="C1", label=f"α = {alpha:.3f} ± {float(s):.3f} (fit to {what})")
        ax.set(
            xscale="log",
            xlabel="kinetic energy E [GeV]",
            ylabel=f"E^{alpha:.2f} n(E)",
            title=_title(index),
        )
        ax.xaxis.set_minor_formatter(NullFormatter())  # the log axis's minor labels overlap
        ax.legend(fontsize=8)
    path = Path(path)
    with atomic_output(path) as tmp:  # a failed write leaves no half-written figure
        fig.savefig(tmp, dpi=110, format=path.suffix[1:] or "png")
    plt.close(fig)
    return path
