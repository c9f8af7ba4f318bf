"""Which tool for which job: the finite-difference grid solver against the SDE engine.

    python benchmarks/which_tool.py [--particles 20000] [--only solves,sun2d,sun3d]

1. ``solves``: the cost of one stationary solve, each in a fresh process (wall time of the
   solve, and the process's peak resident memory above that of a process that only imported
   the modules):
     * 2D (R, z) at 0.1 kpc over R ≤ 20, |z| ≤ 4 kpc (200 × 80 cells), Cerri et al. 2017 field:
       assembly, SuperLU factorisation, one back-substitution (a further energy costs only the
       back-substitution when D⊥ ∝ D∥, otherwise a factorisation);
     * 3D at 64³ and 128 × 128 × 32 nodes over the same galaxy, UF23 base field: assembly and
       CG + Jacobi to a relative residual of 1e-8.
2. ``sun2d``: precision at the Sun for protons 10 GeV – 10 TeV in the Cerri17 field
   (runs/cerri17_protons.toml) through ``sdeprop crosscheck``: the density in the ring
   7.8 < R < 8.8 kpc, |z| < 0.5 kpc, six energy bins.  Grid: 0.2 and 0.1 kpc, error by
   Richardson.  SDE: a pilot run; the time to reach a relative error e scales as (σ/ψ / e)².
   Also the SDE alone in the run's 1 kpc sphere at the Sun (what a non-axisymmetric problem needs).
3. ``sun3d``: the same for UF23 base through the 3D path of crosscheck (needs ``solver="3d"``).

Timings are wall clock on this machine with ``run.workers`` = 2; the SDE kernels are compiled
before timing.  The table in docs/gridsolver.md ("Which tool for which job") comes from here.
"""

from __future__ import annotations

import argparse
import copy
import multiprocessing as mp
import resource
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SUN_RING = {
    "name": "sun_ring",
    "type": "cylindrical",
    "R_min_kpc": 7.8,
    "R_max_kpc": 8.8,
    "R_bins": 1,
    "z_min_kpc": -0.5,
    "z_max_kpc": 0.5,
    "z_bins": 1,
    "energy_bins": 6,
}


def _peak_rss_MiB() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: kB


def _child(task, queue):
    import sdeprop.gridsolver.axisymmetric as ax
    import sdeprop.gridsolver.cartesian as ca
    from sdeprop.config import load_config

    base = _peak_rss_MiB()
    out = {"base_MiB": base}
    if task == "import":
        queue.put(out)
        return
    if task == "2d":
        cfg = load_config(
            {"field": {"model": "cerri17"}, "galaxy": {"halo_height_kpc": 4.0, "radius_max_kpc": 20.0}}
        )
        grid = ax.AxisymmetricGrid(20.0, 4.0, 200, 80)
        t0 = time.perf_counter()
        tensor = ax.tensor_from_config(cfg, "proton", 100.0, grid)
        t1 = time.perf_counter()
        sol = ax.solve_axisymmetric(
            tensor,
            lambda R, z: np.exp(-np.abs(z) / 0.2) * (R < 15.0),
            R_max_kpc=20.0,
            H_kpc=4.0,
            n_R=200,
            n_z=80,
        )
        t2 = time.perf_counter()
        out.update(tensor_s=t1 - t0, solve_s=t2 - t1, residual=sol.residual, unknowns=200 * 80)
    else:
        n = (64, 64, 64) if task == "3d64" else (128, 128, 32)
        cfg = load_config(
            {
                "field": {"model": "uf23", "variant": "base"},
                "galaxy": {"halo_height_kpc": 4.0, "radius_max_kpc": 20.0},
            }
        )
        grid = ca.CartesianGrid(20.0, 20.0, 4.0, *n)
        t0 = time.perf_counter()
        D = ca.diffusion_tensor_from_config(cfg, grid, 100.0)
        t1 = time.perf_counter()
        sol = ca.solve_stationary(
            grid, D, lambda x, y, z: np.exp(-np.abs(z) / 0.2) * (x * x + y * y < 225.0), rtol=1e-8
        )
        t2 = time.perf_counter()
        out.update(
            tensor_s=t1 - t0,
            solve_s=t2 - t1,
            residual=sol.relative_residual,
            iterations=sol.iterations,
            unknowns=int(np.prod([k - 2 for k in n])),
        )
    out["peak_MiB"] = _peak_rss_MiB()
    queue.put(out)


def in_fresh_process(task) -> dict:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(task, queue))
    proc.start()
    out = queue.get()
    proc.join()
    return out


def solves():
    base = in_fresh_process("import")["base_MiB"]
    print(
        "| solve | unknowns | field + tensor s | solve s | iterations | residual | peak memory above "
        "imports |"
    )
    print("|---|---|---|---|---|---|---|")
    for task, name in (
        ("2d", "2D (R, z), 0.1 kpc, 200 × 80, Cerri17"),
        ("3d64", "3D 64³, UF23 base"),
        ("3d128", "3D 128 × 128 × 32, UF23 base"),
    ):
        r = in_fresh_process(task)
        print(
            f"| {name} | {r['unknowns']} | {r['tensor_s']:.2f} | {r['solve_s']:.2f} | "
            f"{r.get('iterations', '—')} | "
            f"{r['residual']:.1e} | {r['peak_MiB'] - base:.0f} MiB |",
            flush=True,
        )


def _sun_config(field_cfg, particles):
    from sdeprop.config import read_toml

    cfg = read_toml(ROOT / "runs" / "cerri17_protons.toml")
    cfg["field"] = field_cfg
    cfg["tally"] = [t for t in cfg["tally"] if t["name"] == "sun"] + [SUN_RING]
    cfg["run"].update(particles=particles, batch_size=max(1000, particles // 20), progress=False)
    return cfg


def sun(field_cfg, particles, solver=None, resolutions=(0.2, 0.1)):
    import sdeprop
    from sdeprop.crosscheck import crosscheck

    cfg = _sun_config(field_cfg, particles)
    sdeprop.run(cfg, particles=200)  # compile the kernels in this process
    kw = {} if solver is None else {"solver": solver}
    rep = crosscheck(copy.deepcopy(cfg), tally=SUN_RING["name"], resolutions=resolutions, write=False, **kw)
    mc, smc = rep.mc.ravel(), rep.mc_err.ravel()
    grid, sgrid = rep.grid.ravel(), rep.grid_err.ravel()
    t_mc = rep.timings["mc_s"]
    t_grid = rep.timings["grid_fine_s"] + rep.timings["grid_coarse_s"]
    print(
        f"{field_cfg}: MC {particles} particles {t_mc:.1f} s; grid {t_grid:.1f} s at h = {resolutions} kpc; "
        f"chi2/dof {rep.chi2:.1f}/{rep.dof}"
    )
    print("| E bin | grid/MC | σ_MC/ψ | σ_grid/ψ | SDE time to 5 % | to 1 % | to σ_grid |")
    print("|---|---|---|---|---|---|---|")
    for k in range(mc.size):
        rel = smc[k] / mc[k]
        relg = sgrid[k] / grid[k]
        to = lambda e: t_mc * (rel / e) ** 2  # noqa: E731
        print(
            f"| {k} | {grid[k] / mc[k]:.3f} | {rel:.3f} | {relg:.1e} | {to(0.05):.0f} s | {to(0.01):.0f} s | "
            f"{to(max(relg, 1e-6)):.3g} s |",
            flush=True,
        )
    # the SDE alone in the 1 kpc sphere at the Sun (the run's own tally)
    t0 = time.perf_counter()
    res = sdeprop.run(cfg)
    t_run = time.perf_counter() - t0
    t = res.tallies["sun"]
    rel = (np.asarray(t.uncertainty) / np.asarray(t.density)).ravel()
    print(
        f"1 kpc sphere at the Sun, SDE alone: {particles} particles in {t_run:.1f} s; σ/ψ per bin "
        + ", ".join(f"{v:.3f}" for v in rel)
        + f"; time to 5 % in the worst bin {t_run * (rel.max() / 0.05) ** 2:.0f} s"
    )


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--particles", type=int, default=20000)
    ap.add_argument("--only", default="solves,sun2d,sun3d")
    args = ap.parse_args()
    parts = args.only.split(",")
    if "solves" in parts:
        solves()
    if "sun2d" in parts:
        sun({"model": "cerri17"}, args.particles)
    if "sun3d" in parts:
        sun({"model": "uf23", "variant": "base"}, args.particles, solver="3d", resolutions=(0.4, 0.2))


if __name__ == "__main__":
    main()
