"""Euler–Maruyama against the field-line step (numerics.integrator; docs/numerics.md "Field-line step").

    python benchmarks/integrators.py ring [--particles 4000]
    python benchmarks/integrators.py speed [--particles 200]

ring: the toroidal ring oracle.  In a purely azimuthal field of constant strength (cerri_toy with
ε_B = 0 and R0 = 0.001 kpc, so B_φ is constant beyond a few pc) the parallel motion runs along
circles, so for particles started at (R0, 0, 0):  ⟨R²⟩ − R0² = 4 D⊥ t and ⟨z²⟩ = 2 D⊥ t exactly
(the generator ∇·(D∇f) of f = R² is 4 D⊥, of f = z² 2 D⊥).  D is constant (δ = 0, no β); the walls
are far and reflecting.  The columns are the measured/exact ratio of ⟨R²⟩ − R0² with its
standard error, for EM, the field-line step with RK4 and with the midpoint rule, and the CPU time
per particle.

crosscheck: `sdeprop crosscheck` of the Cerri toy field (the TOY set-up of tests/test_crosscheck.py:
protons 10–1000 GeV, H = 2 kpc, R_max = 10 kpc, disc source) at ε = 0.03 and 0.003 (D∥/D⊥ ≈ 33
and 330) and the default step, 2D grid at 0.2/0.1 kpc: χ²/dof, max |pull| and CPU per particle.

manufactured: the manufactured solution of tests/physics/test_manufactured.py (Cerri toy field,
ε = 0.1) at step_fraction 0.2, 0.1, 0.05 for both integrators: MC/analytic of the radial rings
(averaged over z) with their standard errors, χ² of the 64 cells.

escape: mean escape time of 10 TeV protons in JF12 (radial_profile source, H = 4 kpc, R_max = 20
kpc) for EM at step_fraction 0.1 and 0.05 and the field-line step at 0.1; EM's O(dt) bias is
removed by Richardson extrapolation of its two steps (bias ∝ step_fraction²).

speed: steps/s/core and CPU per particle of EM and the field-line step in the uniform field and in
JF12 (protons at 1–10 TeV from the pulsar-like disc, H = 4 kpc, as benchmarks/steps.py).
"""

from __future__ import annotations

import argparse
import dataclasses

import numpy as np

from sdeprop import engine
from sdeprop import kernel as K
from sdeprop.units import KPC2_PER_MYR_IN_CM2_PER_S

D_PAR_KPC2_PER_MYR = 0.1
R_START = 2.0
T_MAX_MYR = 20.0


def ring_config(epsilon, step_fraction, particles, seed=1, t_max=T_MAX_MYR, r_start=None):
    """The ring oracle's configuration (see the module docstring)."""
    return {
        "run": {
            "particles": particles,
            "batch_size": particles,
            "seed": seed,
            "progress": False,
            "max_cpu_hours": 0,
        },
        "energy": {"min_GeV": 100.0, "max_GeV": 200.0},
        "galaxy": {"halo_height_kpc": 30.0, "radius_max_kpc": 30.0, "boundary": "reflect"},
        "field": {"model": "cerri_toy", "R0_kpc": 0.001, "epsilon_B": 0.0},
        "diffusion": {
            "D0_cm2_per_s": D_PAR_KPC2_PER_MYR * KPC2_PER_MYR_IN_CM2_PER_S,
            "delta_par": 0.0,
            "epsilon": epsilon,
            "beta": False,
        },
        "source": {"type": "point", "position_kpc": [r_start or R_START, 0.0, 0.0]},
        "time": {
            "step_fraction": step_fraction,
            "dt_max_Myr": 100.0,
            "regimes": [{"energy_max_GeV": 200.0, "t_max_Myr": t_max}],
        },
        "tally": [{"name": "g", "type": "cylindrical", "R_bins": 2, "z_bins": 2, "energy_bins": 1}],
    }


def run_model(cfg, integrator, seed=1):
    """One batch of ``cfg`` with the kernel's integrator code ``integrator``: (final state, BatchResult)."""
    model = engine.build_model(cfg)
    model = dataclasses.replace(model, numerics=model.numerics._replace(integrator=integrator))
    n = cfg["run"]["particles"]
    res = engine.run_batch(model, 0, n, np.random.SeedSequence(seed), keep_state=True)
    return res.final_state, res


def ring_moments(state, dperp, t, r_start=R_START):
    """(⟨R²⟩ − R0²)/(4 D⊥ t) and ⟨z²⟩/(2 D⊥ t), each with its standard error."""
    r2 = state["x"] ** 2 + state["y"] ** 2 - r_start**2
    z2 = state["z"] ** 2
    n = r2.size
    a = 4.0 * dperp * t
    b = 2.0 * dperp * t
    return (r2.mean() / a, r2.std() / np.sqrt(n) / a, z2.mean() / b, z2.std() / np.sqrt(n) / b)


INTEGRATORS = [
    ("EM", K.INTEGRATOR_EM),
    ("FL-RK4", K.INTEGRATOR_FIELD_LINE),
    ("FL-RK2", K.INTEGRATOR_FIELD_LINE_RK2),
]


def ring_table(particles, epsilons=(0.1, 0.03, 0.01), fractions=(0.1, 0.3, 0.5)):
    print(
        "epsilon  step_fraction  integrator  (<R²>-R0²)/(4D⊥t)  <z²>/(2D⊥t)  steps/particle  CPU ms/particle"
    )
    for eps in epsilons:
        for f in fractions:
            for name, code in INTEGRATORS:
                cfg = ring_config(eps, f, particles)
                state, res = run_model(cfg, code)
                m = ring_moments(state, eps * D_PAR_KPC2_PER_MYR, T_MAX_MYR)
                print(
                    f"{eps:7.3f}  {f:13.2f}  {name:10s}  {m[0]:8.4f} ± {m[1]:.4f}    {m[2]:7.4f} ± {m[3]:.4f}"
                    f"  {res.steps / particles:14.0f}  {1e3 * res.transport_cpu_s / particles:10.3f}",
                    flush=True,
                )


def _disc_config(particles, energy_range_GeV, field, bins, step_fraction=None):
    """Protons from the pulsar-like disc in one batch, ε = 0.1, H = 4 kpc, R_max = 20 kpc, one
    (R, z) map of ``bins`` cells; the cost pilot off (these runs are timed)."""
    cfg = {
        "run": {
            "particles": particles,
            "batch_size": particles,
            "seed": 1,
            "progress": False,
            "max_cpu_hours": 0,
        },
        "energy": {"min_GeV": energy_range_GeV[0], "max_GeV": energy_range_GeV[1]},
        "galaxy": {"halo_height_kpc": 4.0, "radius_max_kpc": 20.0},
        "field": field,
        "diffusion": {"epsilon": 0.1},
        "source": {"type": "radial_profile"},
        "tally": [
            {"name": "map", "type": "cylindrical", "R_bins": bins[0], "z_bins": bins[1], "energy_bins": 1}
        ],
    }
    if step_fraction is not None:
        cfg["time"] = {"step_fraction": step_fraction}
    return cfg


def speed_table(particles):
    fields = [("uniform", {"model": "uniform", "direction": [1.0, 0.0, 0.3]}), ("jf12", {"model": "jf12"})]
    print("field    integrator  steps/particle  steps/s/core  CPU ms/particle")
    for label, field in fields:
        cfg = _disc_config(particles, (1000.0, 10000.0), field, bins=(10, 8))
        for name, code in INTEGRATORS:
            run_model(cfg, code)  # compile / load
            _, res = run_model(cfg, code, seed=2)
            print(
                f"{label:8s} {name:10s}  {res.steps / particles:14.0f}"
                f"  {res.steps / res.transport_cpu_s:12.3g}"
                f"  {1e3 * res.transport_cpu_s / particles:10.3f}",
                flush=True,
            )


def crosscheck_table(particles, epsilons=(0.03, 0.003)):
    from sdeprop.crosscheck import crosscheck

    print("epsilon  integrator      chi2/dof   p        max|pull|  steps/particle  MC ms/particle")
    for eps in epsilons:
        for name in ("euler_maruyama", "field_line"):
            cfg = {
                "run": {
                    "particles": particles,
                    "batch_size": 1000,
                    "seed": 3,
                    "progress": False,
                    "name": "cc_toy",
                    "workers": 1,
                    "max_cpu_hours": 0,
                },
                "energy": {"min_GeV": 10.0, "max_GeV": 1000.0},
                "galaxy": {"halo_height_kpc": 2.0, "radius_max_kpc": 10.0},
                "field": {"model": "cerri_toy"},
                "diffusion": {"epsilon": eps},
                "source": {"type": "disk", "radius_kpc": 8.0, "z_profile": "gaussian", "z_scale_kpc": 0.2},
                "spectrum": {"type": "power_law", "index": 2.2},
                "numerics": {"integrator": name},
                "tally": [{"name": "map", "type": "cylindrical", "R_bins": 5, "z_bins": 4, "energy_bins": 3}],
            }
            rep = crosscheck(cfg, resolutions=(0.2, 0.1), write=False)
            used = rep.pull[rep.used]
            cpu = rep.timings.get("mc_s", float("nan"))
            print(
                f"{eps:7.3f}  {name:14s}  {rep.chi2 / rep.dof:8.2f}  {rep.p_value:8.2g}"
                f"  {abs(used).max():8.2f}  {rep.counts.get('steps', 0) / particles:14.0f}"
                f"  {1e3 * cpu / particles:10.3f}",
                flush=True,
            )


def manufactured_table(particles, fractions=(0.2, 0.1, 0.05), seed=20240611, integrators=None):
    import sys
    from pathlib import Path

    import sdeprop

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "physics"))
    import test_manufactured as M

    print(
        "integrator      step_fraction  chi2/64  MC/analytic per R ring (inner to outer; ±σ)  CPU ms/particle"
    )
    for f in fractions:
        for name in integrators or ("euler_maruyama", "field_line"):
            cfg = M.make_config(seed=seed)
            cfg["time"]["step_fraction"] = f
            cfg["numerics"]["integrator"] = name
            cfg["run"]["max_cpu_hours"] = 0
            res = sdeprop.run(
                cfg, source=M.ManufacturedSource(), particles=particles, workers=1, progress=False
            )
            n, exp, sig, pull = M.compare(res)
            ring = n.sum(axis=1) / exp.sum(axis=1)
            ring_se = np.sqrt((sig**2).sum(axis=1)) / exp.sum(axis=1)
            cpu = res.timings["batch_cpu_s"]
            rings = " ".join(f"{r:.3f}±{e:.3f}" for r, e in zip(ring, ring_se))
            print(
                f"{name:14s}  {f:13.2f}  {(pull**2).sum() / pull.size:7.2f}  {rings}"
                f"  {1e3 * cpu / particles:8.3f}",
                flush=True,
            )


def escape_table(particles):
    print("integrator      step_fraction  mean escape time [Myr]  steps/particle  CPU ms/particle")
    out = {}
    for name, code, f in (
        ("EM", K.INTEGRATOR_EM, 0.1),
        ("FL-RK4", K.INTEGRATOR_FIELD_LINE, 0.1),
        ("EM", K.INTEGRATOR_EM, 0.05),
    ):
        cfg = _disc_config(particles, (10000.0, 10001.0), {"model": "jf12"}, bins=(2, 2), step_fraction=f)
        st, res = run_model(cfg, code, seed=11)
        t = st["time"]
        out[(name, f)] = (t.mean(), t.std() / np.sqrt(t.size))
        print(
            f"{name:14s}  {f:13.2f}  {t.mean():10.2f} ± {t.std() / np.sqrt(t.size):.2f}"
            f"  {res.steps / particles:14.0f}  {1e3 * res.transport_cpu_s / particles:10.3f}",
            flush=True,
        )
    (a, sa), (b, sb) = out[("EM", 0.1)], out[("EM", 0.05)]
    ext = b - (a - b) / 3.0
    print(f"EM extrapolated to step 0: {ext:.2f} ± {np.hypot(4 * sb, sa) / 3:.2f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=["ring", "crosscheck", "manufactured", "escape", "speed"])
    ap.add_argument("--particles", type=int, default=None)
    ap.add_argument("--seed", type=int, default=20240611, help="manufactured: the run's seed")
    a = ap.parse_args()
    if a.what == "ring":
        ring_table(a.particles or 20000)
    elif a.what == "manufactured":
        manufactured_table(a.particles or 100_000, seed=a.seed)
    elif a.what == "escape":
        escape_table(a.particles or 10_000)
    elif a.what == "crosscheck":
        crosscheck_table(a.particles or 20000)
    else:
        speed_table(a.particles or 200)


if __name__ == "__main__":
    main()
