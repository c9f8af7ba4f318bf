"""``sdeprop crosscheck CONFIG``: SDE engine vs the finite-difference grid solver (sdeprop/crosscheck.py)."""

from __future__ import annotations

import math


def _resolutions(text):
    if text is None:
        return None
    try:
        vals = [float(v) for v in str(text).split(",")]
    except ValueError:
        vals = []
    if len(vals) not in (2, 3) or not all(math.isfinite(v) and v > 0 for v in vals) or any(a <= b for a, b in zip(vals, vals[1:])):
        raise ValueError(f"--resolution '{text}' must be COARSE,FINE or COARSE,MIDDLE,FINE in kpc, decreasing and > 0, "
                         "e.g. 0.2,0.1 or 0.8,0.4,0.2")
    return tuple(vals)


def _cmd_crosscheck(args):
    from .config import load_config
    from .crosscheck import crosscheck

    cfg = load_config(args.config)
    energies = [float(e) for e in args.energy.split(",")] if args.energy else None
    out = args.output or f"crosscheck_{cfg.run.name}"
    rep = crosscheck(cfg, particles=args.particles, resolutions=_resolutions(args.resolution), energies=energies,
                     output_dir=out, tally=args.tally, workers=args.workers, solver=args.solver)
    print(f"wrote {out}/report.md ({len(rep.files)} files; {rep.solver.upper()} grid solver)")
    print(f"  chi2/dof = {rep.chi2:.2f}/{rep.dof} = {rep.chi2_per_dof:.3f} (p = {rep.p_value:.3g}), "
          f"max |pull| = {rep.max_abs_pull:.2f}; MC {rep.timings['mc_s']:.1f} s, grid "
          f"{rep.timings['grid_coarse_s'] + rep.timings['grid_fine_s']:.2f} s")
    for note in rep.notes:
        print(f"  note: {note}")


def add_crosscheck_command(sub):
    c = sub.add_parser("crosscheck", help="run the SDE engine and the grid solver on one configuration and compare them")
    c.add_argument("config", help="run configuration (TOML): disk or radial_profile source; losses none, quadratic or galactic (2D path only)")
    c.add_argument("--solver", default="auto",
                   help="grid solver: auto (axisymmetric field: 2D (R, z), otherwise 3D Cartesian), 2d or 3d")
    c.add_argument("--particles", type=int, help="pseudo-particles of the MC run (default: run.particles)")
    c.add_argument("--workers", type=int, help="parallel workers of the MC run (default: run.workers)")
    c.add_argument("--resolution", help="grid spacings [kpc], COARSE,FINE or COARSE,MIDDLE,FINE with one ratio (the apparent "
                   "order is then measured); default 0.2,0.1 for 2D, 0.8,0.4,0.2 for 3D")
    c.add_argument("--energy", help="energies [GeV] of the profile tables/figures, comma-separated (default: middle bin)")
    c.add_argument("--tally", help="cylindrical tally to compare (default: the first; one is added if none)")
    c.add_argument("-o", "--output", help="report folder (default crosscheck_<run.name>)")
    c.set_defaults(func=_cmd_crosscheck)
