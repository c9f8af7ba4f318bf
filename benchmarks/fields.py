"""Speed of the Galactic field models inside the kernel: steps per second per core, drift on.

    python benchmarks/fields.py [--particles N] [--spacing 0.1] [--plane-interface auto|off]

For each model, the same run (protons 1-10 TeV from a pulsar-like source, cylindrical
tally) with the model evaluated directly at every step and from the precomputed grid
(numerics.field_grid_spacing_kpc; the one-off sampling and the kernel compilation are
excluded).  Targets: UF23 base ≥ 2e6 steps/s/core directly, ≥ 5e6 from the grid.
"""

from __future__ import annotations

import argparse

import sdeprop

MODELS = [
    ("cerri_toy", {"model": "cerri_toy"}),
    ("jf12", {"model": "jf12"}),
    ("jf12_solenoidal", {"model": "jf12_solenoidal"}),
    ("pt11 ASS", {"model": "pt11", "variant": "ASS"}),
    ("cerri17", {"model": "cerri17"}),
] + [
    (f"uf23 {v}", {"model": "uf23", "variant": v})
    for v in ("base", "expX", "spur", "neCL", "twistX", "nebCor", "cre10", "synCG")
]


def config(field, particles, spacing, plane_interface="auto"):
    cfg = {
        "run": {"particles": particles, "batch_size": particles, "seed": 1, "progress": False},
        "energy": {"min_GeV": 1000.0, "max_GeV": 1.0e4},
        "galaxy": {"halo_height_kpc": 4.0, "radius_max_kpc": 20.0},
        "field": field,
        "source": {"type": "radial_profile"},
        "tally": [{"name": "map", "type": "cylindrical", "R_bins": 40, "z_bins": 32, "energy_bins": 4}],
    }
    # throughput only: cap each history at 20000 steps so every model runs a similar amount of
    # work (steps per history differ by 100x between models: benchmarks/steps.py)
    cfg["numerics"] = {"max_steps_per_particle": 20000, "plane_interface": plane_interface}
    if spacing:
        cfg["numerics"]["field_grid_spacing_kpc"] = spacing
    return cfg


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--particles", type=int, default=200)
    ap.add_argument("--spacing", type=float, default=0.1)
    ap.add_argument("--only", default="", help="run only models whose name contains this")
    ap.add_argument(
        "--plane-interface",
        default="auto",
        choices=("auto", "on", "off"),
        help="numerics.plane_interface (the cost of the near-plane step: compare auto with off)",
    )
    args = ap.parse_args()
    print(
        f"{'model':18s} {'direct steps/s/core':>20s} {'grid steps/s/core':>18s}  (grid spacing "
        f"{args.spacing} kpc)"
    )
    for name, field in MODELS:
        if args.only not in name:
            continue
        rates = []
        for spacing in (None, args.spacing):
            cfg = config(field, args.particles, spacing, args.plane_interface)
            sdeprop.run(cfg, particles=2)  # compile, sample the grid (cached)
            r = sdeprop.run(cfg)
            rates.append(r.timings["steps_per_s_per_core"])
        print(f"{name:18s} {rates[0]:20.3e} {rates[1]:18.3e}", flush=True)


if __name__ == "__main__":
    main()
