"""``sdeprop plot RESULT``: density map and spectrum at the Sun as PNG."""

from __future__ import annotations

from pathlib import Path

from . import args as common


def add_parser(subparsers):
    p = subparsers.add_parser("plot", help="density map and local spectrum as PNG")
    p.add_argument("result", help="result file (HDF5)")
    common.add_output_option(p, "PNG path (default RESULT.png)")
    p.add_argument("--energy", type=common.positive_float, help="energy of the map [GeV] (default 10)")
    p.add_argument("--spectrum", help="reweight first (same form as in 'reweight')")
    p.add_argument("--tally", help="tally for the map")
    return p


def main(args):
    from ..io import load_result
    from ..plotting import plot_result
    from ..spectra import parse_spectrum

    result = load_result(args.result)
    spectrum = parse_spectrum(args.spectrum)[0] if args.spectrum else None
    out = args.output or str(Path(args.result).with_suffix(".png"))
    print(f"wrote {plot_result(result, out, energy_GeV=args.energy, spectrum=spectrum, tally=args.tally)}")
