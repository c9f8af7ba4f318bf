"""Figures of sky maps: Mollweide views of HEALPix maps, (l, b) images of plate-carrée maps, ratio maps,
and region spectra against measured diffuse spectra."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..checkpoint import atomic_output


def _save(fig, path) -> Path:
    import matplotlib.pyplot as plt

    path = Path(path)
    with atomic_output(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return path


def plot_sky(sky, path, energy_index: int = 0, title: str | None = None, log: bool = True) -> Path:
    """E² I at one energy [GeV cm⁻² s⁻¹ sr⁻¹]: Mollweide (HEALPix) or an (l, b) image, Galactic centre in
    the middle, l increasing to the left."""
    import healpy as hp
    import matplotlib.pyplot as plt

    e = float(sky.energies_GeV[energy_index])
    data = sky.intensity[energy_index] * e**2
    label = "E² I [GeV cm⁻² s⁻¹ sr⁻¹]"
    title = title or f"E = {e:.3g} GeV"
    return _draw(sky, data, path, title, label, log, plt, hp)


def plot_ratio(sky, other, path, energy_index: int = 0, title: str | None = None) -> Path:
    """The pixel ratio sky/other at one energy, linear colours around 1."""
    import healpy as hp
    import matplotlib.pyplot as plt

    ratio, _ = sky.ratio(other)
    e = float(sky.energies_GeV[energy_index])
    return _draw(
        sky, ratio[energy_index], path, title or f"ratio at E = {e:.3g} GeV", "ratio", False, plt, hp
    )


def _draw(sky, data, path, title, label, log, plt, hp) -> Path:
    finite = data[np.isfinite(data) & (data > 0)] if log else data[np.isfinite(data)]
    if finite.size == 0:
        vmin = vmax = None
    elif log:
        vmin, vmax = np.percentile(finite, 1), finite.max()
    else:
        vmin, vmax = np.percentile(finite, 1), np.percentile(finite, 99)
    if sky.kind == "healpix":
        fig = plt.figure(figsize=(9, 5.4))
        hp.mollview(
            np.where(np.isfinite(data), data, hp.UNSEEN), fig=fig.number, title=title, unit=label,
            norm="log" if log else None, min=vmin, max=vmax, cmap="inferno" if log else "coolwarm",
        )  # fmt: skip
        hp.graticule(dpar=30, dmer=60, alpha=0.4)
        return _save(fig, path)
    from matplotlib.colors import LogNorm

    fig, ax = plt.subplots(figsize=(11, 4.5), constrained_layout=True)
    l_edges = np.where(sky.l_edges_deg > 180, sky.l_edges_deg - 360, sky.l_edges_deg)
    img = np.asarray(data, float).T
    order = np.argsort(0.5 * (l_edges[1:] + l_edges[:-1]))
    extent = (l_edges.max(), l_edges.min(), sky.b_edges_deg[0], sky.b_edges_deg[-1])
    norm = LogNorm(vmin=vmin, vmax=vmax) if log and vmin else None
    m = ax.imshow(img[:, order[::-1]], origin="lower", extent=extent, aspect="auto", norm=norm,
                  cmap="inferno" if log else "coolwarm")  # fmt: skip
    ax.set_xlabel("l [deg]")
    ax.set_ylabel("b [deg]")
    ax.set_title(title)
    fig.colorbar(m, ax=ax, label=label)
    return _save(fig, path)


def plot_region_spectra(spectra: dict, path, measured: dict | None = None, title: str | None = None) -> Path:
    """E^2.7 I against E for region spectra (name → RegionSpectrum), with measured points
    (name → (E_GeV, I, σ_low, σ_high) in GeV⁻¹ cm⁻² s⁻¹ sr⁻¹) drawn in the same colour order."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 5.2), constrained_layout=True)
    for k, (name, sp) in enumerate(spectra.items()):
        e = sp.energies_GeV
        w = e**2.7
        ax.plot(e, w * sp.intensity, color=f"C{k}", label=f"{name} (model)")
        ax.fill_between(e, w * (sp.intensity - sp.uncertainty), w * (sp.intensity + sp.uncertainty),
                        color=f"C{k}", alpha=0.25, lw=0)  # fmt: skip
    for k, (name, (e, i, lo, hi)) in enumerate((measured or {}).items()):
        w = e**2.7
        ax.errorbar(e, w * i, yerr=(w * lo, w * hi), fmt="o", ms=4, color=f"C{k}", label=name)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("E [GeV]")
    ax.set_ylabel("E^2.7 I [GeV^1.7 cm⁻² s⁻¹ sr⁻¹]")
    ax.set_title(title or "region spectra")
    ax.legend(fontsize=8)
    return _save(fig, path)
