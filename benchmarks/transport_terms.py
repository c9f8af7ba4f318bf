"""What the transport terms beyond uniform diffusion cost: per step, and per particle.

    python benchmarks/transport_terms.py [--particles N] [--repeat K]

Protons of 100 GeV–1 TeV in the JF12 field (ε = 0.1, the default step), one configuration per term:
uniform D (the reference), the smooth two-halo model (n = 5), the same with a sharp transition, the
turbulence model (quasi-linear, JF12 random field), reacceleration (v_A = 30 km/s), a wind
(v0 = 30 km/s, dv/dz = 10 km/s/kpc) and inelastic catastrophic losses.  For each: CPU seconds per
million steps (the kernel's speed, normal-variate generation and scoring included), its overhead
against uniform D, the steps per particle (how the step control reacts to the term) and the CPU per
particle.  CPU times are the batches' process time (``Result.timings``), the best of ``--repeat`` runs,
on one core.  The per-step overhead is what the term costs the kernel; the steps per particle are
what it costs the physics: the two-halo bound resolves the 0.25 kpc layer in which ln D rises by
~1.3 (docs/transport.md, "The drift and the step").
"""

from __future__ import annotations

import argparse

import sdeprop

BASE = {
    "species": {"name": "proton"},
    "energy": {"min_GeV": 100.0, "max_GeV": 1000.0},
    "galaxy": {"halo_height_kpc": 4.0, "radius_max_kpc": 20.0},
    "field": {"model": "jf12", "variant": "jf12"},
    "diffusion": {"D0_cm2_per_s": 3e28, "delta_par": 0.5, "epsilon": 0.1},
    "source": {"type": "radial_profile"},
    "tally": [{"name": "galaxy", "type": "cylindrical", "R_bins": 20, "z_bins": 16, "energy_bins": 8}],
}
TWO_HALO = {"inner_half_thickness_kpc": 0.8, "delta_change": 0.39, "transition_index": 5.0}
CASES = {
    "uniform D": {},
    "two_halo (n = 5)": {"diffusion": {"spatial": "two_halo", "two_halo": TWO_HALO}},
    "two_halo (sharp)": {"diffusion": {"spatial": "two_halo", "two_halo": {**TWO_HALO, "sharp": True}}},
    "turbulence (quasi_linear)": {
        "diffusion": {"spatial": "turbulence"},
        "turbulence": {"model": "jf12_random"},
    },
    "reacceleration 30 km/s": {"reacceleration": {"alfven_speed_km_s": 30.0}},
    "wind 30 km/s + 10 km/s/kpc": {"advection": {"v0_km_s": 30.0, "dvdz_km_s_per_kpc": 10.0}},
    "catastrophic (inelastic)": {"catastrophic": {"inelastic": True}},
}


def config(extra: dict, particles: int) -> dict:
    cfg = {k: (dict(v) if isinstance(v, dict) else v) for k, v in BASE.items()}
    for key, value in extra.items():
        cfg[key] = {**cfg.get(key, {}), **value} if isinstance(value, dict) else value
    cfg["run"] = {"particles": particles, "batch_size": particles, "workers": 1, "seed": 3, "progress": False}
    return cfg


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--particles", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    for extra in CASES.values():  # compile / load the numba cache for every variant
        sdeprop.run(config(extra, 20))
    print(
        f"{'term':28s} {'CPU s/1e6 steps':>16s} {'per step':>9s} {'steps/particle':>15s} "
        f"{'CPU ms/particle':>16s}"
    )
    ref = None
    for name, extra in CASES.items():
        best = None
        for _ in range(args.repeat):
            r = sdeprop.run(config(extra, args.particles))
            cpu = r.timings["batch_cpu_s"]
            if best is None or cpu < best[0]:
                best = (cpu, r.counts["steps"])
        cpu, steps = best
        per_step = cpu / steps * 1e6
        ref = per_step if ref is None else ref
        print(
            f"{name:28s} {per_step:16.3f} {per_step / ref - 1:+9.0%} {steps / args.particles:15.0f} "
            f"{cpu / args.particles * 1e3:16.2f}"
        )


if __name__ == "__main__":
    main()
