"""The closed-galaxy conservation check (sdeprop.validation.closed_box_check) for several
fields, step floors and with/without the drift: the table in docs/numerics.md.

    python analysis/closed_box.py [--particles 60000] [--only uf23]

A uniform density in a closed galaxy must stay uniform; χ²/ndf ≈ 1 (p not tiny) means the
drift, the step control and the walls conserve it in that field.
"""

from __future__ import annotations

import argparse
import time

from sdeprop.validation import closed_box_check

CASES = [
    ("uf23 base, floor 0.02 kpc", {"model": "uf23", "variant": "base"}, {"time": {"min_step_kpc": 0.02}}),
    (
        "uf23 base, floor 0.02 kpc, no drift",
        {"model": "uf23", "variant": "base"},
        {"time": {"min_step_kpc": 0.02}, "drift": False},
    ),
    ("uf23 base, floor 0.05 kpc", {"model": "uf23", "variant": "base"}, {"time": {"min_step_kpc": 0.05}}),
    ("uf23 base, no floor", {"model": "uf23", "variant": "base"}, {}),
    (
        "uf23 base, floor 0.02 kpc, plane interface off",
        {"model": "uf23", "variant": "base"},
        {"time": {"min_step_kpc": 0.02}, "numerics": {"plane_interface": "off"}},
    ),
    ("jf12", {"model": "jf12"}, {}),
    ("jf12, plane interface off", {"model": "jf12"}, {"numerics": {"plane_interface": "off"}}),
    ("jf12, no drift", {"model": "jf12"}, {"drift": False}),
    ("jf12 without X-field", {"model": "jf12", "overrides": {"x": 0.0}}, {}),
    (
        "jf12 on 0.1 kpc grid, finite-difference J",
        {"model": "jf12"},
        {"numerics": {"field_grid_spacing_kpc": 0.1, "field_grid_jacobian": "finite_difference"}},
    ),
    ("jf12_solenoidal", {"model": "jf12_solenoidal"}, {}),
    ("pt11 ASS, floor 0.02 kpc", {"model": "pt11", "variant": "ASS"}, {"time": {"min_step_kpc": 0.02}}),
    ("cerri17", {"model": "cerri17"}, {}),
    ("cerri17 X-field alone", {"model": "cerri17", "overrides": {"disk_scale": 0.0, "halo_scale": 0.0}}, {}),
    (
        "cerri17 X-field alone, plane interface off",
        {"model": "cerri17", "overrides": {"disk_scale": 0.0, "halo_scale": 0.0}},
        {"numerics": {"plane_interface": "off"}},
    ),
    ("cerri_toy", {"model": "cerri_toy"}, {}),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--particles", type=int, default=60_000)
    ap.add_argument(
        "--only", default="", help="run only cases whose name contains one of these (comma-separated)"
    )
    ap.add_argument("--seed", type=int, default=11)
    args = ap.parse_args()
    print("| field | χ²/ndf | p | cell ratio min–max | steps/history | cpu s |\n|---|---|---|---|---|---|")
    for name, field, opts in CASES:
        if not any(part in name for part in args.only.split(",")):
            continue
        t0 = time.process_time()
        c = closed_box_check(field, args.particles, seed=args.seed, **opts)
        print(
            f"| {name} | {c.chi2 / c.ndf:.2f} | {c.p_value:.2g} | {c.ratio.min():.2f}–{c.ratio.max():.2f} | "
            f"{c.steps_per_history:.3g} | {time.process_time() - t0:.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
