"""Figures from results: the (R, z) density map and the spectrum at the Sun."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..checkpoint import atomic_output


def plot_result(
    result, path, energy_GeV: float | None = None, spectrum=None, tally: str | None = None
) -> Path:
    """Write a PNG with the density map of a cylindrical/cartesian tally at one energy and the local spectrum.

    ``energy_GeV`` picks the energy bin of the map (default: the bin nearest 10 GeV);
    ``spectrum`` reweights (default: the configured spectrum).
    """
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    maps = [n for n, t in result.tallies.items() if t.kind in ("cylindrical", "cartesian")]
    name = tally or (maps[0] if maps else None)
    observer = next((t for t in result.tallies.values() if t.kind == "observer"), None)
    if observer is not None:  # a backward run: the spectrum at its observer alone
        fig, ax = plt.subplots(1, 1, figsize=(5.6, 4.2), constrained_layout=True)
        axes = [None, ax]
        name = None
    else:
        fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), constrained_layout=True)
    if name is not None:
        t = result.tallies[name]
        d = t.reweight(spectrum) if spectrum is not None else t
        e = t.centers("E_GeV")
        ie = int(np.argmin(np.abs(np.log(e / (energy_GeV or 10.0)))))
        dens = np.asarray(d.density)[..., ie]
        if t.kind == "cartesian":
            dens = dens.mean(axis=2)  # average over the z bins: a face-on map
            xe, ye, xl, yl = t.edges["x_kpc"], t.edges["y_kpc"], "x [kpc]", "y [kpc]"
        else:
            xe, ye, xl, yl = t.edges["R_kpc"], t.edges["z_kpc"], "R [kpc]", "z [kpc]"
        positive = dens[dens > 0]
        norm = (
            LogNorm(vmin=max(positive.min(), positive.max() * 1e-4), vmax=positive.max())
            if positive.size
            else None
        )
        mesh = axes[0].pcolormesh(
            xe, ye, np.where(dens > 0, dens, np.nan).T, norm=norm, cmap="viridis", shading="flat"
        )
        fig.colorbar(mesh, ax=axes[0], label=r"n [kpc$^{-3}$ GeV$^{-1}$]")
        axes[0].set(xlabel=xl, ylabel=yl, title=f"tally '{name}' at E = {e[ie]:.3g} GeV")
    elif axes[0] is not None:
        axes[0].set_axis_off()
    where = "the Sun"
    if observer is not None:
        pos = ", ".join(f"{c:.3g}" for c in observer.layout.position_kpc)
        ball = f", {observer.layout.radius_kpc:g} kpc ball" if observer.layout.radius_kpc else ""
        where = f"({pos}) kpc{ball}, backward"
    try:
        e, n, dn = result.local_spectrum(spectrum)
        ok = n > 0
        axes[1].errorbar(e[ok], (e**2.7 * n)[ok], yerr=(e**2.7 * dn)[ok], fmt="o", ms=3, capsize=2)
        axes[1].set(
            xscale="log",
            yscale="log",
            xlabel="kinetic energy E [GeV]",
            ylabel=r"E$^{2.7}$ n(E) [kpc$^{-3}$ GeV$^{1.7}$]",
            title=f"spectrum at {where}",
        )
    except ValueError as exc:
        axes[1].text(0.5, 0.5, str(exc), ha="center", va="center", transform=axes[1].transAxes)
        axes[1].set_axis_off()
    path = Path(path)
    with atomic_output(path) as tmp:  # a failed write leaves no half-written figure
        fig.savefig(tmp, dpi=110, format=Path(path).suffix[1:] or "png")
    plt.close(fig)
    return path
