"""Command-line interface: ``sdeprop run | merge | reweight | plot | info | config | fit | field | losses | crosscheck``.

Each command is a few lines over the library.  Bad input ends with one line on stderr
(``sdeprop: error: ...``) and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import numpy as np


def _cmd_run(args):
    from .config import load_config
    from .engine import run
    from .plotting.result import plot_result

    cfg = load_config(args.config)
    out = Path(args.output) if args.output else cfg.output_path
    result = run(cfg, particles=args.particles, workers=args.workers, progress=False if args.quiet else None, output=out,
                 batches=args.batches, scheduler=args.scheduler, restart=args.restart)
    c, tm = result.counts, result.timings
    print(f"wrote {out}")
    print(f"  injected {c['injected']}, escaped {c['escaped_z']} (|z|=H) + {c['escaped_R']} (R=Rmax), "
          f"alive at t_max {c['alive_at_t_max']}, below energy floor {c['below_energy_floor']}")
    print(f"  {c['steps']:.3e} steps in {tm['wall_s']:.1f} s wall on {tm['workers']} worker(s): "
          f"{tm['steps_per_s_per_core']:.3g} steps/s/core")
    if args.plot:
        png = plot_result(result, out.with_suffix(".png"))
        print(f"wrote {png}")


def _cmd_merge(args):
    from .io import merge_results

    merged = merge_results(args.results, args.output)
    print(f"wrote {args.output}: {merged.counts['injected']} particles from {len(args.results)} runs")


def _cmd_reweight(args):
    import h5py

    from .io import load_result
    from .spectra import parse_spectrum

    result = load_result(args.result)
    spectrum, rate = parse_spectrum(args.spectrum)
    names = [args.tally] if args.tally else list(result.tallies)
    out = Path(args.output) if args.output else Path(args.result).with_name(Path(args.result).stem + "_reweighted.h5")
    tmp = out.with_name(out.name + ".tmp")
    with h5py.File(tmp, "w") as f:
        f.attrs["source_result"] = str(args.result)
        f.attrs["spectrum"] = args.spectrum
        f.attrs["rate_per_Myr"] = rate
        for name in names:
            if name not in result.tallies:
                raise ValueError(f"no tally named '{name}' (available: {', '.join(result.tallies)})")
            d = result.tallies[name].reweight(spectrum, rate)
            g = f.create_group(name)
            g.create_dataset("density", data=d.density).attrs["unit"] = d.unit
            g.create_dataset("uncertainty", data=d.uncertainty)
            if d.burst_density is not None:
                g.create_dataset("burst_density", data=d.burst_density)
                g.create_dataset("burst_uncertainty", data=d.burst_uncertainty)
                g.create_dataset("output_times_Myr", data=d.output_times_Myr)
            for axis, edges in d.edges.items():
                g.create_dataset(f"axes/{axis}", data=edges)
    tmp.replace(out)
    print(f"wrote {out}")
    if args.csv:
        e, n, dn = result.local_spectrum(spectrum)
        np.savetxt(args.csv, np.column_stack([e, n * rate, dn * rate]), delimiter=",",
                   header="E_GeV,density_per_kpc3_per_GeV,uncertainty", comments="")
        print(f"wrote {args.csv}")


def _cmd_plot(args):
    from .io import load_result
    from .plotting.result import plot_result
    from .spectra import parse_spectrum

    result = load_result(args.result)
    spectrum = parse_spectrum(args.spectrum)[0] if args.spectrum else None
    out = args.output or str(Path(args.result).with_suffix(".png"))
    print(f"wrote {plot_result(result, out, energy_GeV=args.energy, spectrum=spectrum, tally=args.tally)}")


def _cmd_info(args):
    from .io import load_result

    r = load_result(args.result)
    m = r.metadata
    print(f"{args.result}: sdeprop {m.get('sdeprop_version')}, git {m.get('git_commit')}, created {m.get('created_utc')} "
          f"on {m.get('host')} ({m.get('platform')})")
    if m.get("merged_from"):
        print(f"merged from: {m['merged_from']}")
    print("dependencies: " + ", ".join(f"{k} {v}" for k, v in m.get("dependencies", {}).items()))
    log = m.get("batch_log", [])
    seeds = sorted({row["seed"] for row in log}) or [m.get("seed")]
    hosts = sorted({row["host"] for row in log})
    idx = [row["index"] for row in log]
    span = f"{len(idx)} batches of {m.get('batch_size')} (indices {min(idx)}..{max(idx)})" if idx else "no batch table"
    print(f"seed(s) {seeds}: {span}; each batch b of seed s draws from SFC64(SeedSequence(s, spawn_key=(b,))); "
          f"hosts {hosts}{', scheduler ' + m['scheduler'] if m.get('scheduler') else ''}")
    print("counts:  " + ", ".join(f"{k}={v}" for k, v in r.counts.items()))
    print("timings: " + ", ".join(f"{k}={v:.4g}" for k, v in r.timings.items()))
    for name, t in r.tallies.items():
        axes = ", ".join(f"{k}[{len(v) - 1}]" for k, v in t.edges.items())
        print(f"tally {name}: {t.kind}, axes {axes}, output times [Myr] {[float(v) for v in t.output_times_Myr]}")
    if args.batches:
        print("batch  seed        particles  steps        cpu_s    compile_s  host  pid")
        for row in log:
            print(f"{row['index']:5d}  {row['seed']:10d}  {row['particles']:9d}  {row['steps']:11d}  {row['cpu_s']:7.2f}  "
                  f"{row['compile_s']:9.2f}  {row['host']}  {row['pid']}")
    if args.config:
        print(r.config_toml)


def _cmd_config(args):
    from .config import Config, describe_schema_markdown

    print(describe_schema_markdown() if args.markdown else Config().to_toml(), end="")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sdeprop", description="SDE Monte Carlo transport of Galactic cosmic rays with anisotropic diffusion.")
    p.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("run", help="run a simulation from a TOML configuration")
    r.add_argument("config", help="run configuration (TOML)")
    r.add_argument("-o", "--output", help="HDF5 output path (default: run.output)")
    r.add_argument("--workers", type=int, help="parallel workers (default: run.workers)")
    r.add_argument("--particles", type=int, help="pseudo-particles (default: run.particles)")
    r.add_argument("--plot", action="store_true", help="also write a PNG next to the output")
    r.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    r.add_argument("--resume", action="store_true",
                   help="continue an interrupted run (also the default: finished batches are kept in OUTPUT.partial/)")
    r.add_argument("--restart", action="store_true", help="discard an interrupted run of this output and start afresh")
    r.add_argument("--batches", metavar="START:STOP", help="run only these batches of the plan (join the parts with 'sdeprop merge')")
    r.add_argument("--scheduler", metavar="tcp://HOST:PORT", help="run the batches on this Dask cluster (overrides [parallel] scheduler)")
    r.set_defaults(func=_cmd_run)

    m = sub.add_parser("merge", help="combine runs of one configuration (other seeds or other batches)")
    m.add_argument("results", nargs="+", help="result files (HDF5)")
    m.add_argument("-o", "--output", required=True, help="merged HDF5 file")
    m.set_defaults(func=_cmd_merge)

    w = sub.add_parser("reweight", help="apply an injection spectrum to a result without re-running")
    w.add_argument("result", help="result file (HDF5)")
    w.add_argument("--spectrum", required=True, help="TYPE[:key=value,...], e.g. power_law:index=2.4,variable=rigidity; "
                   "types power_law, power_law_cutoff, broken_power_law, log_uniform (keys as in [spectrum])")
    w.add_argument("--tally", help="only this tally")
    w.add_argument("-o", "--output", help="output HDF5 (default RESULT_reweighted.h5)")
    w.add_argument("--csv", help="also write the spectrum at the Sun as CSV")
    w.set_defaults(func=_cmd_reweight)

    pl = sub.add_parser("plot", help="density map and local spectrum as PNG")
    pl.add_argument("result")
    pl.add_argument("-o", "--output", help="PNG path (default RESULT.png)")
    pl.add_argument("--energy", type=float, help="energy of the map [GeV] (default 10)")
    pl.add_argument("--spectrum", help="reweight first (same form as in 'reweight')")
    pl.add_argument("--tally", help="tally for the map")
    pl.set_defaults(func=_cmd_plot)

    i = sub.add_parser("info", help="what a result file holds")
    i.add_argument("result")
    i.add_argument("--config", action="store_true", help="also print the full configuration")
    i.add_argument("--batches", action="store_true", help="also print the per-batch table (seed, host, timings)")
    i.set_defaults(func=_cmd_info)

    c = sub.add_parser("config", help="print the default configuration (TOML) or the key reference (--markdown)")
    c.add_argument("--markdown", action="store_true")
    c.set_defaults(func=_cmd_config)

    from .fit_cli import add_fit_command  # `sdeprop fit` (sdeprop/fit_cli.py, sdeprop/fitting.py)
    from .field_cli import add_field_command  # `sdeprop field` (sdeprop/field_cli.py)
    from .losses_cli import add_losses_command  # `sdeprop losses` (sdeprop/losses_cli.py, sdeprop/horizon.py)
    from .crosscheck_cli import add_crosscheck_command  # `sdeprop crosscheck` (sdeprop/crosscheck_cli.py, sdeprop/crosscheck.py)

    add_fit_command(sub)
    add_field_command(sub)
    add_losses_command(sub)
    add_crosscheck_command(sub)
    return p


def main(argv=None) -> int:
    from .config import ConfigError

    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="sdeprop: %(levelname)s: %(message)s")
    try:
        args.func(args)
    except (ConfigError, ValueError, FileNotFoundError, OSError, TypeError) as exc:
        print(f"sdeprop: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        print(f"sdeprop: {exc or 'interrupted; no output was written'}", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
