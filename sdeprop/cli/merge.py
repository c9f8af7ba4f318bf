"""``sdeprop merge A.h5 B.h5 ... -o ALL.h5``: combine runs of one configuration."""

from __future__ import annotations


def add_parser(subparsers):
    p = subparsers.add_parser(
        "merge", help="combine runs of one configuration (other seeds or other batches)"
    )
    p.add_argument("results", nargs="+", help="result files (HDF5)")
    p.add_argument("-o", "--output", required=True, help="merged HDF5 file")
    return p


def main(args):
    from ..io import merge_results

    merged = merge_results(args.results, args.output)
    print(f"wrote {args.output}: {merged.counts['injected']} particles from {len(args.results)} runs")
