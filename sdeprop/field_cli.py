"""``sdeprop field``: inspect a magnetic-field model — B at given points, face-on and edge-on maps."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _field_config(args):
    from .config import ConfigError, load_config

    overrides = {}
    for item in args.set or []:
        key, eq, val = item.partition("=")
        if not eq:
            raise ConfigError(f"--set '{item}' must be NAME=VALUE")
        try:
            overrides[key.strip()] = float(val)
        except ValueError:
            overrides[key.strip()] = val.strip()
    section = {"model": args.model}
    if args.variant is not None:
        section["variant"] = args.variant
    if overrides:
        section["overrides"] = overrides
    return load_config({"field": section}).field


def field_maps(field_cfg, path, extent_kpc=20.0, height_kpc=6.0, n=241, title=None):
    """PNG with |B| and field lines face-on (z = 0) and edge-on (y = 0)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    from .models.field import evaluate_field

    fig, axes = plt.subplots(1, 2, figsize=(13, 5.2), constrained_layout=True,
                             gridspec_kw={"width_ratios": [1, extent_kpc / (2 * height_kpc) * 0.5 + 0.5]})
    views = (("face-on, z = 0", "x", "y", (-extent_kpc, extent_kpc), (-extent_kpc, extent_kpc), (0, 1), 2),
             ("edge-on, y = 0", "x", "z", (-extent_kpc, extent_kpc), (-height_kpc, height_kpc), (0, 2), 1))
    for ax, (label, xl, yl, xr, yr, comps, fixed) in zip(axes, views):
        u = np.linspace(*xr, n)
        v = np.linspace(*yr, max(41, int(n * (yr[1] - yr[0]) / (xr[1] - xr[0]))))
        U, V = np.meshgrid(u, v)
        pts = np.zeros((U.size, 3))
        pts[:, comps[0]] = U.ravel()
        pts[:, comps[1]] = V.ravel()
        B, _ = evaluate_field(field_cfg, pts)
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
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def cmd_field(args):
    from .config import ConfigError
    from .models.field import clear_field_grid_cache, evaluate_field, field_grid_cache_dir

    if args.clear_cache:
        n, freed = clear_field_grid_cache()
        print(f"removed {n} cached field grid(s), {freed / 2**30:.3g} GiB, from {field_grid_cache_dir()}")
        if args.model is None:
            return
    if args.model is None:
        raise ConfigError("sdeprop field needs a MODEL (uniform, cerri_toy, jf12, jf12_solenoidal, uf23, pt11, cerri17)")
    cfg = _field_config(args)
    points = []
    for item in args.at or []:
        try:
            xyz = [float(c) for c in item.split(",")]
        except ValueError:
            xyz = []
        if len(xyz) != 3:
            raise ValueError(f"--at '{item}' must be x,y,z in kpc")
        points.append(xyz)
    if points:
        B, J = evaluate_field(cfg, points)
        print(f"{'x':>8} {'y':>8} {'z':>8} [kpc]   {'Bx':>10} {'By':>10} {'Bz':>10} {'|B|':>10} [μG]   div B [μG/kpc]")
        for p, b, j in zip(points, B, J):
            print(f"{p[0]:8.3f} {p[1]:8.3f} {p[2]:8.3f}         {b[0]:10.5f} {b[1]:10.5f} {b[2]:10.5f} "
                  f"{np.linalg.norm(b):10.5f}        {np.trace(j):.3e}")
    if args.plot or not points:
        name = args.model + (f"_{args.variant}" if args.variant else "")
        out = args.output or f"field_{name}.png"
        print(f"wrote {field_maps(cfg, out, args.extent, args.height, title=name)}")


def add_field_command(sub):
    f = sub.add_parser("field", help="inspect a magnetic-field model: B at points, face-on and edge-on maps")
    f.add_argument("model", nargs="?", help="uniform, cerri_toy, jf12, jf12_solenoidal, uf23, pt11, cerri17")
    f.add_argument("--variant", help="model variant (uf23: base, expX, spur, neCL, twistX, nebCor, cre10, synCG; pt11: ASS, BSS; jf12: jf12, planck)")
    f.add_argument("--set", action="append", metavar="NAME=VALUE", help="change a model parameter (repeatable)")
    f.add_argument("--at", action="append", metavar="x,y,z", help="print B at this point [kpc] (repeatable; write --at=-8.5,0,0 when x is negative)")
    f.add_argument("--plot", action="store_true", help="draw the maps (the default without --at)")
    f.add_argument("--extent", type=float, default=20.0, help="half-width of the maps [kpc]")
    f.add_argument("--height", type=float, default=6.0, help="half-height of the edge-on map [kpc]")
    f.add_argument("-o", "--output", help="PNG path (default field_MODEL.png)")
    f.add_argument("--clear-cache", action="store_true",
                   help="delete the precomputed field grids cached on disk (numerics.field_grid_spacing_kpc) and report the space freed")
    f.set_defaults(func=cmd_field)
