"""``sdeprop info RESULT``: what a result file holds (provenance, counts, tallies)."""

from __future__ import annotations


def add_parser(subparsers):
    p = subparsers.add_parser("info", help="what a result file holds")
    p.add_argument("result", help="result file (HDF5)")
    p.add_argument("--config", action="store_true", help="also print the full configuration")
    p.add_argument(
        "--batches", action="store_true", help="also print the per-batch table (seed, host, timings)"
    )
    return p


def main(args):
    from ..io import load_result

    r = load_result(args.result)
    m = r.metadata
    print(
        f"{args.result}: sdeprop {m.get('sdeprop_version')}, git {m.get('git_commit')}, "
        f"created {m.get('created_utc')} on {m.get('host')} ({m.get('platform')})"
    )
    if m.get("merged_from"):
        print(f"merged from: {m['merged_from']}")
    print("dependencies: " + ", ".join(f"{k} {v}" for k, v in m.get("dependencies", {}).items()))
    log = m.get("batch_log", [])
    seeds = sorted({row["seed"] for row in log}) or [m.get("seed")]
    hosts = sorted({row["host"] for row in log})
    idx = [row["index"] for row in log]
    span = (
        f"{len(idx)} batches of {m.get('batch_size')} (indices {min(idx)}..{max(idx)})"
        if idx
        else "no batch table"
    )
    print(
        f"seed(s) {seeds}: {span}; each batch b of seed s draws from "
        f"SFC64(SeedSequence(s, spawn_key=(b,))); "
        f"hosts {hosts}{', scheduler ' + m['scheduler'] if m.get('scheduler') else ''}"
    )
    print("counts:  " + ", ".join(f"{k}={v}" for k, v in r.counts.items()))
    print("timings: " + ", ".join(f"{k}={v:.4g}" for k, v in r.timings.items()))
    for name, t in r.tallies.items():
        axes = ", ".join(f"{k}[{len(v) - 1}]" for k, v in t.edges.items())
        if t.kind == "observer":  # the observer energies are points, not bins
            axes = f"E_GeV[{len(t.energies_GeV)} points], E_s_GeV[{t.layout.n_source_bins}]"
            axes += f"; paths {t.paths.tolist()}"
        times = [float(v) for v in t.output_times_Myr]
        print(f"tally {name}: {t.kind}, axes {axes}, output times [Myr] {times}")
    if args.batches:
        print("batch  seed        particles  steps        cpu_s    compile_s  host  pid")
        for row in log:
            print(
                f"{row['index']:5d}  {row['seed']:10d}  {row['particles']:9d}  {row['steps']:11d}  "
                f"{row['cpu_s']:7.2f}  {row['compile_s']:9.2f}  {row['host']}  {row['pid']}"
            )
    if args.config:
        print(r.config_toml)
