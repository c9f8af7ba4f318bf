"""Steps per history that the step control takes in each field model (docs/numerics.md).

    python benchmarks/steps.py [--particles 20] [--energy 1000]

Protons at E..10E GeV from the pulsar-like disc (radial_profile), ε = 0.1, H = 4 kpc, both
step rules and the floors.  The runtime of a run is steps per history / (steps/s/core).
"""

from __future__ import annotations

import argparse

import sdeprop

FIELDS = [
    ("cerri_toy", {"model": "cerri_toy"}),
    ("jf12", {"model": "jf12"}),
    ("pt11 ASS", {"model": "pt11"}),
    ("cerri17", {"model": "cerri17"}),
    ("uf23 base", {"model": "uf23", "variant": "base"}),
]
RULES = [
    ("field_gradient", {"step_control": "field_gradient"}),
    ("field_direction", {"step_control": "field_direction"}),
    ("+ floor 0.02 kpc", {"min_step_kpc": 0.02}),
    ("+ floor 1 λ∥", {"min_step_mean_free_paths": 1.0}),
]


def steps_per_history(field, time, particles, energy):
    cfg = {
        "run": {"particles": particles, "batch_size": particles, "seed": 1, "progress": False},
        "energy": {"min_GeV": energy, "max_GeV": 10 * energy},
        "galaxy": {"halo_height_kpc": 4.0, "radius_max_kpc": 20.0},
        "field": field,
        "diffusion": {"epsilon": 0.1},
        "source": {"type": "radial_profile"},
        "time": time,
        "numerics": {"max_steps_per_particle": 3_000_000},
        "tally": [{"name": "map", "type": "cylindrical", "R_bins": 10, "z_bins": 8, "energy_bins": 1}],
    }
    r = sdeprop.run(cfg)
    return r.counts["steps"] / particles, r.counts["max_steps_reached"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--particles", type=int, default=20)
    ap.add_argument("--energy", type=float, default=1000.0, help="lower energy E [GeV] of the E..10E range")
    args = ap.parse_args()
    print("| field | " + " | ".join(n for n, _ in RULES) + " |\n|---|" + "---|" * len(RULES))
    for name, field in FIELDS:
        cells = []
        for _, time in RULES:
            n, capped = steps_per_history(field, time, args.particles, args.energy)
            cells.append(f"{n:.2g}" + (f" ({capped} capped)" if capped else ""))
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
