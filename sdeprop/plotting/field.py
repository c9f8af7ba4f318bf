"""Figure of a magnetic-field model: |B| and field lines, face-on and edge-on."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..checkpoint import atomic_output


def plot_field_maps(
    field_cfg, path, extent_kpc: float = 20.0, height_kpc: float = 6.0, n: int = 241, title: str | None = None
) -> Path:
    """Write a PNG with |B| [μG] and the field lines face-on (z = 0) and edge-on (y = 0) of the
    [field] section ``field_cfg``: ``extent_kpc`` is the half-width of both maps, ``height_kpc`` the
    half-height of the edge-on one, ``n`` the points along x; returns the path."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    from ..io import read_field_grid
    from ..models.field import evaluate_field

    grid_file = read_field_grid(field_cfg)

    fig, axes = plt.subplots(
        1,
        2,
        figsize=(13, 5.2),
        constrained_layout=True,
        gridspec_kw={"width_ratios": [1, extent_kpc / (2 * height_kpc) * 0.5 + 0.5]},
    )
    views = (
        ("face-on, z = 0", "x", "y", (-extent_kpc, extent_kpc), (-extent_kpc, extent_kpc), (0, 1)),
        ("edge-on, y = 0", "x", "z", (-extent_kpc, extent_kpc), (-height_kpc, height_kpc), (0, 2)),
    )
    for ax, (label, xl, yl, xr, yr, comps) in zip(axes, views):
        u = np.linspace(*xr, n)
        v = np.linspace(*yr, max(41, int(n * (yr[1] - yr[0]) / (xr[1] - xr[0]))))
        U, V = np.meshgrid(u, v)
        pts = np.zeros((U.size, 3))
        pts[:, comps[0]] = U.ravel()
        pts[:, comps[1]] = V.ravel()
        B, _ = evaluate_field(field_cfg, pts, grid_file=grid_file)
        mag = np.linalg.norm(B, axis=1).reshape(U.shape)
        pos = mag[mag > 0]
        norm = LogNorm(vmin=max(pos.min(), pos.max() * 1e-3), vmax=pos.max()) if pos.size else None
        mesh = ax.pcolormesh(U, V, np.where(mag > 0, mag, np.nan), norm=norm, cmap="magma", shading="auto")
        bu = B[:, comps[0]].reshape(U.shape)
        bv = B[:, comps[1]].reshape(U.shape)
        if np.any(np.hypot(bu, bv) > 0):
            ax.streamplot(u, v, bu, bv, color="white", linewidth=0.5, density=1.2, arrowsize=0.6)
        ax.set(xlabel=f"{xl} [kpc]", ylabel=f"{yl} [kpc]", title=label, aspect="equal")
        fig.colorbar(mesh, ax=ax, label="|B| [μG]", shrink=0.8)
    if title:
        fig.suptitle(title)
    path = Path(path)
    with atomic_output(path) as tmp:  # a failed write leaves no half-written figure
        fig.savefig(tmp, dpi=110, format=Path(path).suffix[1:] or "png")
    plt.close(fig)
    return path
