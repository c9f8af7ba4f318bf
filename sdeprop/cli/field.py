"""``sdeprop field MODEL``: inspect a magnetic-field model — B at given points, face-on and edge-on maps."""

from __future__ import annotations

import numpy as np

from . import args as common

MODELS = "uniform, cerri_toy, cylindrical_uniform, jf12, jf12_solenoidal, uf23, pt11, cerri17"

SET_HELP = (
    "change a key of the [field] table, value as TOML (repeatable): cerri_toy, cylindrical_uniform and "
    "uniform take their keys directly (--set field.B0_phi_uG=5, --set field.strength_uG=2); jf12, "
    "jf12_solenoidal, uf23, pt11 and cerri17 take the names of their parameter tables under "
    "overrides (--set field.overrides.r_X=3); --set field.scale=2 scales any model"
)


def add_parser(subparsers):
    f = subparsers.add_parser(
        "field", help="inspect a magnetic-field model: B at points, face-on and edge-on maps"
    )
    f.add_argument("model", nargs="?", help=MODELS)
    f.add_argument(
        "--variant",
        help="model variant (uf23: base, expX, spur, neCL, twistX, nebCor, cre10, "
        "synCG; pt11: ASS, BSS; jf12: jf12, planck)",
    )
    common.add_set_option(f, SET_HELP, metavar="field.KEY=VALUE")
    f.add_argument(
        "--at",
        action="append",
        metavar="x,y,z",
        help="print B at this point [kpc] (repeatable; write --at=-8.5,0,0 when x is negative)",
    )
    f.add_argument("--plot", action="store_true", help="draw the maps (the default without --at)")
    f.add_argument("--extent", type=common.positive_float, default=20.0, help="half-width of the maps [kpc]")
    f.add_argument(
        "--height", type=common.positive_float, default=6.0, help="half-height of the edge-on map [kpc]"
    )
    common.add_output_option(f, "PNG path (default field_MODEL.png)")
    f.add_argument(
        "--clear-cache",
        action="store_true",
        help="delete the precomputed field grids cached on disk (numerics.field_grid_spacing_kpc) "
        "and report the space freed",
    )
    return f


def _field_config(args):
    """The validated [field] section: MODEL, --variant, then the --set settings."""
    from ..errors import ConfigError

    for key in common.setting_keys(args.set):
        if key != "field" and not key.startswith("field."):
            guess = f" (did you mean --set field.{key}=...?)" if "." not in key else ""
            raise ConfigError(
                f"--set {key}: 'sdeprop field' reads only the [field] table; "
                f"give its keys as --set field.KEY=VALUE{guess}"
            )
    section = {"model": args.model}
    if args.variant is not None:
        section["variant"] = args.variant
    return common.config_with_settings({"field": section}, args.set).field


def main(args):
    from ..errors import ConfigError
    from ..io import read_field_grid
    from ..models.field import (
        clear_field_grid_cache,
        evaluate_field,
        field_grid_cache_dir,
    )
    from ..plotting import plot_field_maps

    if args.clear_cache:
        n, freed = clear_field_grid_cache()
        print(f"removed {n} cached field grid(s), {freed / 2**30:.3g} GiB, from {field_grid_cache_dir()}")
        if args.model is None:
            return
    if args.model is None:
        raise ConfigError(f"sdeprop field needs a MODEL ({MODELS})")
    cfg = _field_config(args)
    points = [common.numbers(item, 3, "--at", "x,y,z in kpc") for item in args.at or []]
    if points:
        B, J = evaluate_field(cfg, points, grid_file=read_field_grid(cfg))
        print(
            f"{'x':>8} {'y':>8} {'z':>8} [kpc]   {'Bx':>10} {'By':>10} {'Bz':>10} {'|B|':>10} [μG]   "
            "div B [μG/kpc]"
        )
        for p, b, j in zip(points, B, J):
            print(
                f"{p[0]:8.3f} {p[1]:8.3f} {p[2]:8.3f}         {b[0]:10.5f} {b[1]:10.5f} {b[2]:10.5f} "
                f"{np.linalg.norm(b):10.5f}        {np.trace(j):.3e}"
            )
    if args.plot or not points:
        name = args.model + (f"_{args.variant}" if args.variant else "")
        out = args.output or f"field_{name}.png"
        print(f"wrote {plot_field_maps(cfg, out, args.extent, args.height, title=name)}")
