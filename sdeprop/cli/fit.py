"""``sdeprop fit RESULT --data TABLE``: fit the injection spectrum of a stored run to a measured
flux (:func:`sdeprop.fitting.fit_spectrum`); writes the fit figure."""

from __future__ import annotations

from pathlib import Path

from . import args as common


def _bound(text):
    lo, sep, hi = text.partition(":")
    if not sep:
        raise ValueError(text)
    lo, hi = common.finite_number(lo), common.finite_number(hi)
    if not lo < hi:
        raise ValueError(text)
    return lo, hi


def _range(text):
    parts = [p for p in text.replace(":", ",").split(",") if p.strip()]
    if len(parts) != 2:
        raise ValueError(f"--range '{text}' must be LO,HI")
    try:
        lo, hi = common.finite_number(parts[0]), common.finite_number(parts[1])
    except ValueError:
        raise ValueError(f"--range '{text}' must be two finite numbers LO,HI") from None
    if not lo < hi:
        raise ValueError(f"--range '{text}' must be LO,HI with LO < HI")
    return lo, hi


def add_parser(subparsers):
    f = subparsers.add_parser(
        "fit",
        help="fit injection-spectrum parameters and source rate to a measured spectrum",
        description="Fit the injection spectrum (shape and source rate, optionally the force-field "
        "potential phi) of a stored run to a measured flux; see docs/fitting.md.",
    )
    f.add_argument("result", help="result file (HDF5)")
    f.add_argument(
        "--data",
        required=True,
        help="bundled table by short name (e.g. ams02_proton_physrep2021) or a CSV path",
    )
    f.add_argument(
        "--tally", help="tally at the Sun (default: a sphere tally, else the cell holding the Sun)"
    )
    f.add_argument(
        "--spectrum",
        default="broken_power_law",
        choices=["power_law", "power_law_cutoff", "broken_power_law"],
        help="spectral family (default broken_power_law)",
    )
    f.add_argument(
        "--variable",
        choices=["kinetic_energy", "momentum", "rigidity"],
        help="variable of the injection shape (default: the run's [spectrum].variable)",
    )
    g = f.add_mutually_exclusive_group()
    g.add_argument(
        "--phi",
        type=common.finite_float,
        help="fixed force-field potential phi [GV] (default 0: no modulation)",
    )
    g.add_argument("--fit-phi", action="store_true", help="fit phi [GV] (start 0.6)")
    f.add_argument(
        "--fix",
        action="append",
        metavar="KEY=VALUE",
        help="hold a parameter fixed (repeatable, or comma-separated)",
    )
    f.add_argument(
        "--free", action="append", metavar="KEY", help="free a parameter fixed by default (smoothness)"
    )
    f.add_argument("--bound", action="append", metavar="KEY=LO:HI", help="bounds of a parameter (repeatable)")
    f.add_argument(
        "--start", action="append", metavar="KEY=VALUE", help="start value of a parameter (repeatable)"
    )
    f.add_argument(
        "--range", metavar="LO,HI", help="fit only data between LO and HI (GV or GeV, the table's axis)"
    )
    f.add_argument(
        "--errors",
        choices=["total", "stat"],
        default="total",
        help="data errors: total = sqrt(stat^2 + sys^2) (default) or stat",
    )
    f.add_argument("--no-model-error", action="store_true", help="leave out the model's Monte Carlo error")
    common.add_output_option(f, "PNG path (default RESULT_fit.png)")
    return f


def main(args):
    from ..fitting import fit_spectrum
    from ..plotting.fitting import plot_fit

    fit = fit_spectrum(
        args.result,
        args.data,
        tally=args.tally,
        spectrum=args.spectrum,
        variable=args.variable,
        phi=args.phi,
        fit_phi=args.fit_phi,
        fix=common.key_values(args.fix, "--fix", common.finite_number),
        free=args.free or (),
        bounds=common.key_values(args.bound, "--bound", _bound, "KEY=LO:HI"),
        start=common.key_values(args.start, "--start", common.finite_number),
        energy_range=_range(args.range) if args.range else None,
        errors=args.errors,
        model_error=not args.no_model_error,
    )
    print(fit.summary())
    source = Path(args.result)
    out = Path(args.output) if args.output else source.with_name(source.stem + "_fit.png")
    print(f"wrote {plot_fit(fit, out)}")
