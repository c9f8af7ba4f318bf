"""``sdeprop reweight RESULT --spectrum ...``: a result's densities for another injection spectrum."""

from __future__ import annotations

from pathlib import Path

from . import args as common

SPECTRUM_HELP = (
    "TYPE[:key=value,...], e.g. power_law:index=2.4,variable=rigidity; types power_law, "
    "power_law_cutoff, broken_power_law, log_uniform (keys as in [spectrum])"
)


def add_parser(subparsers):
    p = subparsers.add_parser("reweight", help="apply an injection spectrum to a result without re-running")
    p.add_argument("result", help="result file (HDF5)")
    p.add_argument("--spectrum", required=True, help=SPECTRUM_HELP)
    p.add_argument("--tally", help="only this tally")
    common.add_output_option(p, "output HDF5 (default RESULT_reweighted.h5)")
    p.add_argument("--csv", help="also write the spectrum at the Sun as CSV")
    return p


def main(args):
    from ..io import load_result, write_local_spectrum_csv, write_reweighted
    from ..spectra import parse_spectrum

    result = load_result(args.result)
    spectrum, rate = parse_spectrum(args.spectrum)
    source = Path(args.result)
    out = Path(args.output) if args.output else source.with_name(source.stem + "_reweighted.h5")
    write_reweighted(
        result,
        out,
        spectrum,
        rate,
        tally_names=[args.tally] if args.tally else None,
        attrs={"source_result": str(args.result), "spectrum": args.spectrum},
    )
    print(f"wrote {out}")
    if args.csv:
        print(f"wrote {write_local_spectrum_csv(result, args.csv, spectrum, rate)}")
