"""``sdeprop fit RESULT --data TABLE``: fit the injection spectrum of a stored run to a measured
flux (:func:`sdeprop.fitting.fit_spectrum`); with several ``--data`` tables, ``--component``,
``--share``, ``--minos`` or ``--scan`` a joint fit of all the run's sources
(:func:`sdeprop.fitting.joint_fit`).  Writes the fit figure."""

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
        action="append",
        help="bundled table by short name (e.g. ams02_proton_physrep2021) or a CSV path; repeat for a joint "
        "fit, each as NAME[:PHI] with PHI the name of its force-field parameter (default phi_NAME)",
    )
    f.add_argument(
        "--component",
        action="append",
        metavar="SOURCE=FAMILY",
        help="joint fit: the spectral family of a source (primary or a [[components]] name); 'configured' "
        "keeps its spectrum and fits its rate (the default for components)",
    )
    f.add_argument("--share", action="append", metavar="P=Q", help="joint fit: parameter P equals Q")
    f.add_argument("--minos", metavar="all|P1,P2", help="joint fit: MINOS intervals of these parameters")
    f.add_argument(
        "--scan", action="append", metavar="P=LO:HI:N", help="joint fit: grid scan (one to three parameters)"
    )
    f.add_argument(
        "--tally", help="tally at the Sun (default: a sphere tally, else the cell holding the Sun)"
    )
    f.add_argument(
        "--spectrum",
        default="broken_power_law",
        choices=["power_law", "power_law_cutoff", "broken_power_law", "broken_power_law_cutoff"],
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


def _scan_axis(text):
    parts = text.split(":")
    if len(parts) != 3:
        raise ValueError(text)
    lo, hi, n = common.finite_number(parts[0]), common.finite_number(parts[1]), int(parts[2])
    if not (lo < hi and 2 <= n <= 200):
        raise ValueError(text)
    return [lo + (hi - lo) * i / (n - 1) for i in range(n)]


def _joint(args) -> bool:
    return len(args.data) > 1 or bool(args.component or args.share or args.minos or args.scan)


def main_joint(args):
    import numpy as np

    from ..fitting import JointFit
    from ..plotting.fitting import plot_joint_fit

    spectra = {k: str(v) for k, v in common.key_values(args.component, "--component", str).items()}
    spectra.setdefault("primary", args.spectrum)
    jf = JointFit(
        args.result,
        list(args.data),
        spectra=spectra,
        shared={k: str(v) for k, v in common.key_values(args.share, "--share", str, "P=Q").items()},
        fix=common.key_values(args.fix, "--fix", common.finite_number),
        free=args.free or (),
        bounds=common.key_values(args.bound, "--bound", _bound, "KEY=LO:HI"),
        start=common.key_values(args.start, "--start", common.finite_number),
        tally=args.tally,
        energy_range=_range(args.range) if args.range else None,
        model_error=not args.no_model_error,
    )
    if args.scan:
        grid = common.key_values(args.scan, "--scan", _scan_axis, "P=LO:HI:N")
        scan = jf.scan(grid)
        names = list(scan["axes"])
        print(
            f"grid scan over {', '.join(names)}: best node {scan['best']}, chi2 {np.nanmin(scan['chi2']):.2f}"
        )
        source = Path(args.result)
        out = source.with_name(source.stem + "_scan.npz")
        np.savez(out, chi2=scan["chi2"], **{k.replace(".", "__"): v for k, v in scan["axes"].items()})
        print(f"wrote {out}")
        return
    minos = "all" if args.minos == "all" else [p for p in (args.minos or "").split(",") if p]
    fit = jf.fit(minos=minos)
    print(fit.summary())
    source = Path(args.result)
    out = Path(args.output) if args.output else source.with_name(source.stem + "_fit.png")
    print(f"wrote {plot_joint_fit(fit, out)}")


def main(args):
    from ..fitting import fit_spectrum
    from ..plotting.fitting import plot_fit

    if _joint(args):
        return main_joint(args)
    fit = fit_spectrum(
        args.result,
        args.data[0],
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
