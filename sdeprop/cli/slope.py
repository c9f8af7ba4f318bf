"""``sdeprop slope RESULT --window LO,HI``: the local spectral index α(R) ± σ of a result.

Fits n ∝ E^-α over the window in every cell (``sdeprop.slopes.spectral_index``; docs/slopes.md) and
prints the table; ``--csv`` and ``--plot`` write it and its figure.  RESULT is a result file (HDF5) or
the crosscheck.npz of ``sdeprop crosscheck`` (its grid answer, σ_grid as the error)."""

from __future__ import annotations

from pathlib import Path

from . import args as common
from .reweight import SPECTRUM_HELP


def add_parser(subparsers):
    p = subparsers.add_parser("slope", help="local spectral index α(R) of a result over an energy window")
    p.add_argument("result", help="result file (HDF5), or a crosscheck.npz (the grid answer)")
    p.add_argument(
        "--window",
        default="10,1000",
        help="LO,HI [GeV]: the energy bins wholly inside are fitted (default 10,1000)",
    )
    p.add_argument("--tally", help="tally (default: the first cylindrical, else cartesian, observer, sphere)")
    z = p.add_mutually_exclusive_group()
    z.add_argument(
        "--z-range",
        help="LO,HI [kpc] (write --z-range=-0.2,0.2 when LO is negative) or H for -H,H: average the z "
        "bins whose centres lie inside (default: the z bin holding z = 0, or the two meeting there)",
    )
    z.add_argument("--per-cell", action="store_true", help="one α per (R, z) cell, no z average")
    p.add_argument("--spectrum", help="reweight first: " + SPECTRUM_HELP)
    p.add_argument(
        "--skip-empty",
        action="store_true",
        help="leave cells with an empty bin in the window without a fit (default: an error naming them)",
    )
    p.add_argument("--csv", help="write the table as CSV")
    p.add_argument("--plot", help="write the figure (α against R, or a map) as PNG")
    return p


def main(args):
    from ..plotting import plot_spectral_index
    from ..slopes import spectral_index
    from ..spectra import parse_spectrum

    window = common.numbers(args.window, 2, "--window", "LO,HI in GeV")
    if args.per_cell:
        z_range = None
    elif args.z_range:
        z_range = common.numbers(args.z_range, None, "--z-range", "LO,HI or H in kpc")
        if len(z_range) == 1:
            z_range = [-abs(z_range[0]), abs(z_range[0])]
        elif len(z_range) != 2:
            raise ValueError(f"--z-range '{args.z_range}' must be LO,HI or H (for -H,H) in kpc")
    else:
        z_range = "plane"
    source = args.result
    sun_R = None
    if Path(source).suffix != ".npz":
        from ..io import load_result

        source = load_result(source)
        x, y, _ = source.config.galaxy.sun_position_kpc
        sun_R = float((x * x + y * y) ** 0.5)
    elif args.spectrum or args.tally:
        raise ValueError("--spectrum and --tally apply to a result file, not to a crosscheck.npz")
    spectrum = parse_spectrum(args.spectrum)[0] if args.spectrum else None
    index = spectral_index(
        source,
        window,
        tally=args.tally,
        spectrum=spectrum,
        z_range=z_range,
        empty="nan" if args.skip_empty else "raise",
    )
    energies = ", ".join(f"{e:.4g}" for e in index.energies_GeV)
    print(f"# {index.source}")
    n = len(index.energies_GeV)
    print(f"# n ∝ E^-alpha over {window[0]:g}..{window[1]:g} GeV: {n} energies ({energies} GeV)")
    for note in index.notes:
        print(f"# {note}")
    print(index.table())
    if args.csv:
        print(f"wrote {index.write_csv(args.csv)}")
    if args.plot:
        print(f"wrote {plot_spectral_index(index, args.plot, sun_R_kpc=sun_R)}")
