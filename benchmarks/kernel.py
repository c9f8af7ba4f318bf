"""Kernel speed: pseudo-particle steps per second per core, and the gain from 2 workers.

    python benchmarks/kernel.py [--particles N] [--skip-parallel]

Steps/s/core is the number of Euler–Maruyama steps divided by the CPU time of the batches
(normal-variate generation, source sampling and tally scoring included).  The parallel
figure is the wall-clock speed-up of 2 joblib workers over 1 on the same run (best of 3).
Targets: ≥ 1e7 steps/s/core in a uniform field, ≥ 4e6 in the Cerri toy field
with the drift on, and ≥ 1.8× with 2 workers.
"""

from __future__ import annotations

import argparse
import time

import sdeprop


def case(field, drift=True, particles=20000, batch_size=5000, workers=1):
    return {
        "run": {
            "particles": particles,
            "batch_size": batch_size,
            "workers": workers,
            "seed": 1,
            "progress": False,
        },
        "energy": {"min_GeV": 10.0, "max_GeV": 1.0e4},
        "galaxy": {"halo_height_kpc": 4.0, "radius_max_kpc": 20.0},
        "field": field,
        "diffusion": {"D0_cm2_per_s": 3e28, "delta_par": 0.5, "epsilon": 0.1},
        "source": {"type": "radial_profile"},
        "numerics": {"drift": drift},
        "tally": [{"name": "galaxy", "type": "cylindrical", "R_bins": 40, "z_bins": 32, "energy_bins": 16}],
    }


FIELDS = {
    "uniform (tilted)": {"model": "uniform", "direction": [1.0, 0.0, 1.0]},
    "cerri_toy": {"model": "cerri_toy", "R0_kpc": 3.0, "epsilon_B": 0.5},
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--particles", type=int, default=20000)
    ap.add_argument("--skip-parallel", action="store_true")
    args = ap.parse_args()
    sdeprop.run(case(FIELDS["cerri_toy"], particles=200))  # compile / load the numba cache
    print(f"{'case':34s} {'steps':>10s} {'CPU s':>7s} {'steps/s/core':>13s}")
    for name, field in FIELDS.items():
        for drift in (True, False):
            r = sdeprop.run(case(field, drift, args.particles))
            t = r.timings
            print(
                f"{name + (' drift on' if drift else ' drift off'):34s} {r.counts['steps']:10.3e} "
                f"{t['batch_cpu_s']:7.2f} "
                f"{t['steps_per_s_per_core']:13.3e}"
            )
    if not args.skip_parallel:
        walls = {}
        for w in (1, 2):
            cfg = case(FIELDS["cerri_toy"], True, 2 * args.particles, batch_size=2500, workers=w)
            if w > 1:
                sdeprop.run(
                    dict(cfg, run=dict(cfg["run"], particles=2 * 2500))
                )  # start the worker pool, load caches
            best = float("inf")
            for _ in range(3):  # best of three: the machine may be busy with something else
                t0 = time.perf_counter()
                sdeprop.run(cfg)
                best = min(best, time.perf_counter() - t0)
            walls[w] = best
        print(
            f"cerri_toy, {2 * args.particles} particles: 1 worker {walls[1]:.2f} s, 2 workers "
            f"{walls[2]:.2f} s, "
            f"speed-up {walls[1] / walls[2]:.2f}x"
        )


if __name__ == "__main__":
    main()
