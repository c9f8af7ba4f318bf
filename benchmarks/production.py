"""Throughput of production runs and the cost of checkpointing.

    python benchmarks/production.py [--particles N]

Runs the quickstart configuration (protons, Cerri toy field, radial-profile source,
cylindrical map + sphere at the Sun) with
  * 1 and 2 local worker processes (joblib/loky) and a 2-worker Dask LocalCluster:
    particles per second (wall clock, workers already started and kernels compiled);
  * checkpointing on (output file: every batch saved, in-order prefix rewritten) against
    off (in memory only), 1 worker: the overhead in % of the run time.
Each figure is the best of three runs.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import sdeprop

ROOT = Path(__file__).resolve().parents[1]


def best_of(n, func):
    best = float("inf")
    for _ in range(n):
        t0 = time.perf_counter()
        func()
        best = min(best, time.perf_counter() - t0)
    return best


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--particles", type=int, default=40000)
    args = ap.parse_args()
    cfg = sdeprop.load_config(ROOT / "runs" / "quickstart.toml")
    base = cfg.model_dump(mode="json", exclude_none=True)
    base["run"].update(particles=args.particles, batch_size=2000, progress=False)
    n = args.particles
    sdeprop.run(base, particles=2000, workers=1)  # compile / load the kernel cache
    rows = []
    for w in (1, 2):
        sdeprop.run(base, particles=4000, workers=w)  # start the worker pool
        t = best_of(3, lambda: sdeprop.run(base, workers=w))
        rows.append((f"{w} local worker(s)", t))
    try:
        from distributed import LocalCluster

        with LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster:
            addr = cluster.scheduler_address
            sdeprop.run(base, particles=4000, scheduler=addr)
            t = best_of(3, lambda: sdeprop.run(base, scheduler=addr))
            rows.append(("Dask LocalCluster, 2 workers", t))
    except ImportError:
        rows.append(("Dask LocalCluster (distributed not installed)", float("nan")))
    print(f"quickstart configuration, {n} particles, batches of 2000")
    for name, t in rows:
        print(f"  {name:32s} {t:7.2f} s  {n / t:9.0f} particles/s")
    with tempfile.TemporaryDirectory() as tmp:
        counter = iter(range(100))
        t_off = best_of(3, lambda: sdeprop.run(base, workers=1))
        t_on = best_of(3, lambda: sdeprop.run(base, workers=1, output=Path(tmp) / f"r{next(counter)}.h5"))
    print(
        f"checkpointing: off {t_off:.2f} s, on (incl. writing the HDF5 output) {t_on:.2f} s, "
        f"overhead {100 * (t_on - t_off) / t_off:.1f} %"
    )


if __name__ == "__main__":
    main()
