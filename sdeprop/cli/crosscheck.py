"""``sdeprop crosscheck CONFIG``: the SDE engine against the finite-difference grid solver on one
configuration (:func:`sdeprop.crosscheck.crosscheck`); writes a report folder."""

from __future__ import annotations

from . import args as common


def _resolutions(text):
    """COARSE,FINE or COARSE,MIDDLE,FINE grid spacings [kpc], decreasing and positive."""
    if text is None:
        return None
    try:
        vals = common.numbers(text, None, "--resolution")
    except ValueError:
        vals = []
    decreasing = all(a > b for a, b in zip(vals, vals[1:]))
    if len(vals) not in (2, 3) or not all(v > 0 for v in vals) or not decreasing:
        raise ValueError(
            f"--resolution '{text}' must be COARSE,FINE or COARSE,MIDDLE,FINE in kpc, "
            "decreasing and > 0, e.g. 0.2,0.1 or 0.8,0.4,0.2"
        )
    return tuple(vals)


def add_parser(subparsers):
    c = subparsers.add_parser(
        "crosscheck", help="run the SDE engine and the grid solver on one configuration and compare them"
    )
    c.add_argument(
        "config",
        help="run configuration (TOML): disk or radial_profile source; "
        "losses none, quadratic or galactic (2D path only)",
    )
    c.add_argument(
        "--solver",
        default="auto",
        help="grid solver: auto (axisymmetric field: 2D (R, z), otherwise 3D Cartesian), 2d or 3d",
    )
    common.add_run_size_options(c)
    common.add_set_option(c)
    c.add_argument(
        "--resolution",
        help="grid spacings [kpc], COARSE,FINE or COARSE,MIDDLE,FINE with one ratio (the apparent "
        "order is then measured); default 0.2,0.1 for 2D, 0.8,0.4,0.2 for 3D",
    )
    c.add_argument(
        "--energy",
        metavar="E1,E2,...",
        help="energies [GeV] of the profile tables/figures, comma-separated (default: middle bin)",
    )
    c.add_argument("--tally", help="cylindrical tally to compare (default: the first; one is added if none)")
    common.add_output_option(c, "report folder (default crosscheck_<run.name>)")
    return c


def main(args):
    from ..crosscheck import crosscheck

    cfg = common.config_with_settings(args.config, args.set)
    energies = common.numbers(args.energy, None, "--energy", "energies in GeV") if args.energy else None
    out = args.output or f"crosscheck_{cfg.run.name}"
    rep = crosscheck(
        cfg,
        particles=args.particles,
        resolutions=_resolutions(args.resolution),
        energies=energies,
        output_dir=out,
        tally=args.tally,
        workers=args.workers,
        solver=args.solver,
    )
    print(f"wrote {out}/report.md ({len(rep.files)} files; {rep.solver.upper()} grid solver)")
    print(
        f"  chi2/dof = {rep.chi2:.2f}/{rep.dof} = {rep.chi2_per_dof:.3f} (p = {rep.p_value:.3g}), "
        f"max |pull| = {rep.max_abs_pull:.2f}; MC {rep.timings['mc_s']:.1f} s, grid "
        f"{rep.timings['grid_coarse_s'] + rep.timings['grid_fine_s']:.2f} s"
    )
    for note in rep.notes:
        print(f"  note: {note}")
