"""Cost of the energy losses inside the kernel: steps per second per core, losses off and on.

    python benchmarks/losses.py [--particles N] [--spacing 0.1]

Electrons 10 GeV – 10 TeV from a pulsar-like disc in the UF23 (base) field with the JF12
random-field amplitude for synchrotron, a 20 pc step floor, each history capped at 20,000
steps so that every configuration does the same amount of work.  Rows: losses off; b = b0 E²
(one multiplication); 'galactic' with all four e± processes (synchrotron from the local
B² + δB², and the tabulated inverse Compton (Fang et al. 2021 KN), bremsstrahlung and
Coulomb/ionisation); and a matched pair (b0 E² with b0 = 5e-17 against 'galactic' with every
table scaled to zero) whose difference is the evaluation cost alone.  The target is a loss
evaluation that costs less than ~30 %.
"""

from __future__ import annotations

import argparse

import sdeprop


def config(losses, particles, spacing):
    cfg = {
        "run": {"particles": particles, "batch_size": particles, "seed": 1, "progress": False},
        "species": {"name": "electron"},
        "energy": {"min_GeV": 10.0, "max_GeV": 1.0e4},
        "galaxy": {"halo_height_kpc": 4.0, "radius_max_kpc": 20.0},
        "field": {"model": "uf23", "variant": "base"},
        "turbulence": {"model": "jf12_random"},
        "losses": losses,
        "time": {"min_step_kpc": 0.02, "regimes": [{"energy_max_GeV": 1.0e4, "t_max_Myr": 1.0e4}]},
        "source": {"type": "disk", "radius_kpc": 15.0, "z_profile": "gaussian", "z_scale_kpc": 0.1},
        "tally": [
            {"name": "sun", "type": "sphere", "radius_kpc": 0.1, "energy_bins": 20, "source_energy_bins": 20}
        ],
        "numerics": {"max_steps_per_particle": 20000},
    }
    if spacing:
        cfg["numerics"]["field_grid_spacing_kpc"] = spacing
    return cfg


ROWS = [
    ("off", {"model": "none"}),
    ("quadratic b0 E²", {"model": "quadratic", "b0_per_GeV_per_s": 1e-16, "energy_floor_GeV": 1.0}),
    ("galactic, 4 processes", {"model": "galactic", "energy_floor_GeV": 1.0}),
    (
        "galactic, synchrotron only",
        {"model": "galactic", "energy_floor_GeV": 1.0, "processes": ["synchrotron"]},
    ),
    # matched pair: the same cooling and trajectories, so their difference is the cost of evaluating
    # the four processes (gas, ISRF and δB² scaled to zero cost as much as the real ones)
    ("quadratic b0 = 5e-17", {"model": "quadratic", "b0_per_GeV_per_s": 5e-17, "energy_floor_GeV": 1.0}),
    (
        "galactic, tables zeroed",
        {
            "model": "galactic",
            "energy_floor_GeV": 1.0,
            "isrf": {"scale": 0.0},
            "gas": {"scale_HI": 0.0, "scale_H2": 0.0, "scale_HII": 0.0},
        },
    ),
    (
        "galactic, no synchrotron",
        {
            "model": "galactic",
            "energy_floor_GeV": 1.0,
            "processes": ["inverse_compton", "bremsstrahlung", "coulomb_ionisation"],
        },
    ),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--particles", type=int, default=300)
    ap.add_argument("--spacing", type=float, default=0.1)
    args = ap.parse_args()
    print(
        f"{'losses':28s} {'direct field':>14s} {'grid field':>12s}   steps/s/core (grid spacing "
        f"{args.spacing} kpc)"
    )
    base = {}
    for name, losses in ROWS:
        rates = []
        for spacing in (None, args.spacing):
            cfg = config(losses, args.particles, spacing)
            if name == "galactic, tables zeroed":
                cfg["turbulence"]["scale"] = 0.0
            sdeprop.run(cfg, particles=2)  # compile, sample the grid (cached)
            r = sdeprop.run(cfg)
            rates.append(r.timings["steps_per_s_per_core"])
        base.setdefault("off", rates)
        rel = [f"{(b / a - 1) * 100:+.0f}%" for a, b in zip(rates, base["off"])]
        print(f"{name:28s} {rates[0]:14.3e} {rates[1]:12.3e}   overhead {rel[0]} / {rel[1]}", flush=True)


if __name__ == "__main__":
    main()
