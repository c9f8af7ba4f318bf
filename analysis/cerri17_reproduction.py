"""Cerri, Gaggero, Vittino, Evoli & Grasso 2017 (JCAP 10, 019) end to end: the local proton index
α(R) in the Galactic plane for the toy field (ε_B scan, two halo heights) and for the realistic
cerri17 field (ε_D ∈ {0.1, 0.01} × δ⊥ ∈ {0.5, 0.7}), the Sun – Galactic-centre slope difference
and the proton density above 10 GeV against R; SDE (backward estimator at points) and the 2D grid
solver side by side.  docs/cerri17.md states the set-up, the choices and the results.

    python analysis/cerri17_reproduction.py --run          # SDE points (one run each, cached) + grid
    python analysis/cerri17_reproduction.py                 # only what is cached, the grid always
    python analysis/cerri17_reproduction.py --configs field_eD0.01_dperp0.7 --run

The SDE side: one backward run per (configuration, R) in runs/cerri17/ with observer.position_kpc
overridden to (R, 0, 0) (the Sun: (−8.3, 0, 0)); outputs in outputs/cerri17/NAME_R<R>.h5, re-used
when present.  The grid side: ``crosscheck.grid_density`` on rings 0.1 kpc wide centred on every
0.1 kpc (|z| < 0.1 kpc) and nine energy bins, each centred (in ln E) on one of the observer's
energies 10^(1 + k/4) GeV, at two resolutions; α is fitted on each, and σ_grid(α) is the Richardson
estimate |α_h − α_2h|/3 (the scheme is second order).  Figures: docs/figures/cerri17_*.png; the
table: docs/figures/cerri17_reproduction.csv.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import sdeprop  # noqa: E402
from sdeprop.crosscheck.grid import grid_density  # noqa: E402
from sdeprop.overrides import config_with_overrides  # noqa: E402
from sdeprop.slopes import spectral_index  # noqa: E402

RUNS = ROOT / "runs" / "cerri17"
OUT = ROOT / "outputs" / "cerri17"
FIG = ROOT / "docs" / "figures"

R_SUN = 8.3
R_GC = 0.5  # the Galactic-centre point [kpc]; docs/cerri17.md also gives R = 1 kpc from the grid
TOY = ["toy_eB0.2_H4", "toy_eB0.5_H4", "toy_eB1_H4", "toy_eB0.5_H2"]
FIELD = ["field_eD0.1_dperp0.5", "field_eD0.1_dperp0.7", "field_eD0.01_dperp0.5", "field_eD0.01_dperp0.7"]
POINTS = {
    **{n: [0.5, 2.0, 4.5, R_SUN, 15.0] for n in TOY},
    **{n: [0.1, R_GC, 1.0, 3.0, R_SUN, 12.0] for n in FIELD},
}
#: Sun – GC proton slope difference, Cerri et al. 2017 (JCAP 10, 019), realistic field with δ∥ = 0.3
#: (the published values as transcribed for this project; the paper's full text was not read here)
PAPER_DALPHA = {
    "field_eD0.1_dperp0.5": 0.24,
    "field_eD0.1_dperp0.7": 0.36,
    "field_eD0.01_dperp0.5": 0.27,
    "field_eD0.01_dperp0.7": 0.58,
}
#: observer energies (the run files): 10^(1 + k/4) GeV, k = 0..8; grid bins centred on them
E_POINTS = 10.0 ** (1.0 + np.arange(9) / 4.0)
E_EDGES = 10.0 ** (0.875 + np.arange(10) / 4.0)
WINDOWS = {"10-1000": (10.0, 1000.0), "10-100": (10.0, 100.0)}
R_EDGES = np.concatenate([[0.0], np.arange(0.05, 19.96, 0.1), [20.0]])
Z_EDGES = np.array([-0.1, 0.1])


def _grid_window(window):
    """The grid's bins wholly inside the window of observer energies: the bins centred on them."""
    lo, hi = window
    i0 = int(np.argmin(abs(E_POINTS - lo)))
    i1 = int(np.argmin(abs(E_POINTS - hi)))
    return (E_EDGES[i0], E_EDGES[i1 + 1])


def integral_above(E, n, e_min=10.0):
    """∫_{e_min}^∞ n dE [kpc⁻³] of point values n(E) (ascending E, e_min = E[0]): a power law between
    neighbouring points, the last segment's power law beyond the last point."""
    E, n = np.asarray(E, float), np.asarray(n, float)
    assert abs(E[0] / e_min - 1) < 1e-6
    s = -np.log(n[1:] / n[:-1]) / np.log(E[1:] / E[:-1])
    r = E[1:] / E[:-1]
    seg = n[:-1] * E[:-1] / (1 - s) * (r ** (1 - s) - 1)
    tail = n[-1] * E[-1] / (s[-1] - 1)
    return float(seg.sum() + tail)


# ----------------------------------------------------------------------------- grid
def grid_answer(name: str, resolutions=(0.2, 0.1), overrides=None, tag: str = ""):
    """α(R) in both windows and n(>10 GeV, R) from the 2D grid at each resolution (cached in an npz)."""
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"grid_{name}{tag}_{'_'.join(f'{r:g}' for r in resolutions)}.npz"
    if path.exists():
        d = np.load(path)
        return {k: d[k] for k in d.files}
    cfg = config_with_overrides(RUNS / f"{name}.toml", overrides or {})
    edges = {"R_kpc": R_EDGES, "z_kpc": Z_EDGES, "E_GeV": E_EDGES}
    out = {"resolutions": np.array(resolutions, float), "R": 0.5 * (R_EDGES[1:] + R_EDGES[:-1])}
    t0 = time.perf_counter()
    for k, res in enumerate(resolutions):
        avg, residual, n_solves, _ = grid_density(cfg, edges, res)
        out[f"psi_{k}"] = avg[:, 0, :]
        for wname, w in WINDOWS.items():
            idx = spectral_index(avg, _grid_window(w), edges=edges, z_range=None, empty="nan")
            out[f"alpha_{wname}_{k}"] = idx.alpha[:, 0]
        # n(>10 GeV): the bin means stand for the values at their centres (bins 0.25 dex wide; the
        # ratio to the Sun is what is shown)
        with np.errstate(divide="ignore", invalid="ignore"):  # rings outside a smaller galaxy: NaN
            out[f"n10_{k}"] = np.array([integral_above(E_POINTS, row) for row in avg[:, 0, :]])
        out[f"residual_{k}"] = residual
    out["seconds"] = time.perf_counter() - t0
    np.savez(path, **out)
    return out


def grid_value(g, key, R):
    """The finest grid's value at radius R and its Richardson error |f − c|/3."""
    i = int(np.argmin(abs(g["R"] - R)))
    last = len(g["resolutions"]) - 1
    f, c = g[f"{key}_{last}"][i], g[f"{key}_{last - 1}"][i]
    ratio = g["resolutions"][last - 1] / g["resolutions"][last]
    return float(f), float(abs(f - c) / (ratio**2 - 1))


# ----------------------------------------------------------------------------- SDE points
def sde_path(name: str, R: float) -> Path:
    return OUT / f"{name}_R{R:g}.h5"


def run_point(name: str, R: float, paths: int | None = None):
    x = -R if abs(R - R_SUN) < 1e-9 else R
    ov = {"observer.position_kpc": [x, 0.0, 0.0], "run.name": f"{name}_R{R:g}"}
    if paths:
        ov["observer.paths_per_energy"] = paths
    cfg = config_with_overrides(RUNS / f"{name}.toml", ov)
    t0, c0 = time.perf_counter(), time.process_time()
    sdeprop.run(cfg, workers=1, output=str(sde_path(name, R)))
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(f"  ran {name} at R = {R:g} kpc: {wall:.1f} s wall, {cpu:.1f} s CPU", flush=True)
    return wall


def sde_point(name: str, R: float):
    """α ± σ in both windows (equal weights in ln n against ln E; χ² and dof of the fit weighted by the
    MC errors, ``spectral_index``) and n(>10 GeV) ± σ at one point from its backward run (None if not
    run)."""
    path = sde_path(name, R)
    if not path.exists():
        return None
    res = sdeprop.load_result(str(path))
    out = {"paths": int(res.tallies["observer"].paths.sum())}
    for wname, w in WINDOWS.items():
        idx = spectral_index(res, (w[0] * (1 - 1e-6), w[1] * (1 + 1e-6)))
        # the equal-weight fit, as on the grid: where the spectrum bends inside the window (χ² of the
        # weighted fit ≫ dof) a fit weighted by the MC errors would answer a different question
        x = np.log(idx.energies_GeV)
        xc = x - x.mean()
        y, sy = np.log(idx.density), idx.uncertainty / idx.density
        a = -float(np.sum(xc * y) / np.sum(xc * xc))
        s = float(np.sqrt(np.sum(xc * xc * sy * sy)) / np.sum(xc * xc))
        out[f"alpha_{wname}"] = (a, s, float(idx.chi2), int(idx.dof))
    E, n, dn = res.local_spectrum()
    rng = np.random.default_rng(1)
    draws = [integral_above(E, np.maximum(n + dn * rng.standard_normal(n.size), 1e-300)) for _ in range(400)]
    out["n10"] = (integral_above(E, n), float(np.std(draws)))
    out["cpu_s"] = float(res.timings.get("batch_cpu_s", np.nan)) - float(res.timings.get("compile_s", 0.0))
    out["steps_per_path"] = float(res.counts.get("steps", np.nan)) / max(out["paths"], 1)
    return out


# ----------------------------------------------------------------------------- grid variants
#: what the paper leaves open, or where the authors' code differs from sdeprop's defaults: the grid's
#: Sun – GC difference under each change (run files unchanged otherwise)
VARIANTS = {
    "dragoncello_x_field": {"field.overrides.r_X": 3.0, "field.overrides.x_geometry": 1},
    "dragon_pshirkov_strengths": {"field.overrides.B_D0": 2.0, "field.overrides.B_H0": 4.0},
    "dragoncello_box": {"galaxy.radius_max_kpc": 15.0, "galaxy.halo_height_kpc": 5.0},
    "halo_H2": {"galaxy.halo_height_kpc": 2.0},
    "source_z0_0.1": {"source.z0_kpc": 0.1},
    "no_x_field": {"field.overrides.x_scale": 0.0},
}
#: toy field: a source without the R^1.9 suppression at the axis (a = b = 0: uniform in R)
TOY_VARIANTS = {"uniform_source": {"source.a": 0.0, "source.b": 0.0}}


def variants(resolutions=(0.2, 0.1)):
    rows = []
    for name in FIELD:
        for tag, ov in {"default": {}, **VARIANTS}.items():
            g = grid_answer(name, resolutions, ov, "" if tag == "default" else f"_{tag}")
            for wname in WINDOWS:
                a1, _ = grid_value(g, f"alpha_{wname}", R_SUN)
                vals = [a1 - grid_value(g, f"alpha_{wname}", r)[0] for r in (0.1, 0.5, 1.0)]
                rows.append([name, tag, wname, a1, *vals, PAPER_DALPHA[name]])
    for name in TOY:
        for tag, ov in {"default": {}, **TOY_VARIANTS}.items():
            g = grid_answer(name, resolutions, ov, "" if tag == "default" else f"_{tag}")
            for wname in WINDOWS:
                a = [grid_value(g, f"alpha_{wname}", r)[0] for r in (0.1, 0.5, R_SUN, 15.0)]
                rows.append([name, tag, wname, *a, np.nan])
    FIG.mkdir(parents=True, exist_ok=True)
    with open(FIG / "cerri17_variants.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["# field rows: run, variant, window, alpha_sun, dalpha(GC at 0.1, 0.5, 1 kpc), paper"])
        w.writerow(["# toy rows: run, variant, window, alpha at R = 0.1, 0.5, 8.3, 15 kpc"])
        for r in rows:
            w.writerow([f"{v:.4f}" if isinstance(v, float) else v for v in r])
    for r in rows:
        print(" | ".join(f"{v:.3f}" if isinstance(v, float) else str(v) for v in r))


# ----------------------------------------------------------------------------- output
def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", action="store_true", help="run the SDE points that are not cached")
    ap.add_argument("--configs", default=",".join(TOY + FIELD), help="comma-separated run names")
    ap.add_argument("--paths", type=int, default=None, help="override observer.paths_per_energy")
    ap.add_argument("--resolutions", default="0.2,0.1", help="grid spacings [kpc], coarse to fine")
    ap.add_argument("--no-figures", action="store_true")
    ap.add_argument("--variants", action="store_true", help="only the grid's sensitivity table")
    args = ap.parse_args(argv)
    names = [n for n in args.configs.split(",") if n]
    res = tuple(float(v) for v in args.resolutions.split(","))
    if args.variants:
        variants(res)
        return

    grids, sde, costs = {}, {}, {}
    for name in names:
        grids[name] = grid_answer(name, res)
        print(f"{name}: grid {float(grids[name]['seconds']):.1f} s", flush=True)
        for R in POINTS[name]:
            if args.run and not sde_path(name, R).exists():
                costs[(name, R)] = run_point(name, R, args.paths)
            sde[(name, R)] = sde_point(name, R)

    rows = []
    for name in names:
        g = grids[name]
        for R in POINTS[name]:
            p = sde[(name, R)]
            for wname in WINDOWS:
                a_g, e_g = grid_value(g, f"alpha_{wname}", R)
                a = p[f"alpha_{wname}"] if p else (np.nan, np.nan, np.nan, 0)
                rows.append([name, "alpha", wname, R, a[0], a[1], a_g, e_g, "", f"chi2={a[2]:.1f}/{a[3]}"])
            n_g, en_g = grid_value(g, "n10", R)
            n_s = p["n10"] if p else (np.nan, np.nan)
            cost = ""
            if p:
                cost = f"{p['cpu_s']:.0f} s CPU, {p['steps_per_path']:.0f} steps/path, {p['paths']} paths"
            rows.append([name, "n_above_10GeV_kpc-3", "", R, n_s[0], n_s[1], n_g, en_g, "", cost])
        if name in PAPER_DALPHA:
            for rgc in (0.1, R_GC):
                for wname in WINDOWS:
                    ps, pg = sde[(name, R_SUN)], sde.get((name, rgc))
                    if ps and pg:
                        d = ps[f"alpha_{wname}"][0] - pg[f"alpha_{wname}"][0]
                        ed = float(np.hypot(ps[f"alpha_{wname}"][1], pg[f"alpha_{wname}"][1]))
                    else:
                        d = ed = np.nan
                    a1, e1 = grid_value(g, f"alpha_{wname}", R_SUN)
                    a0, e0 = grid_value(g, f"alpha_{wname}", rgc)
                    a1g, _ = grid_value(g, f"alpha_{wname}", 1.0)
                    rows.append(
                        [
                            name,
                            "dalpha_sun_minus_gc",
                            wname,
                            rgc,
                            d,
                            ed,
                            a1 - a0,
                            float(np.hypot(e1, e0)),
                            PAPER_DALPHA[name],
                            f"grid with GC at 1 kpc: {a1 - a1g:.3f}",
                        ]
                    )
    FIG.mkdir(parents=True, exist_ok=True)
    with open(FIG / "cerri17_reproduction.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(
            ["run", "quantity", "window_GeV", "R_kpc", "sde", "sde_err", "grid", "grid_err", "paper", "note"]
        )
        for r in rows:
            w.writerow([f"{v:.5g}" if isinstance(v, float) else v for v in r])
    for r in rows:
        print(" | ".join(f"{v:.4g}" if isinstance(v, float) else str(v) for v in r))
    for k, v in costs.items():
        print(f"cost {k[0]} R = {k[1]:g}: {v:.1f} s")
    if not args.no_figures:
        figures(names, grids, sde)


def figures(names, grids, sde):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def alpha_panel(ax, group, wname, title):
        for i, name in enumerate(group):
            if name not in grids:
                continue
            g, c = grids[name], f"C{i}"
            last = len(g["resolutions"]) - 1
            ax.plot(g["R"], g[f"alpha_{wname}_{last}"], color=c, label=f"{name} (grid)")
            for R in POINTS[name]:
                p = sde.get((name, R))
                if p:
                    a, s = p[f"alpha_{wname}"][:2]
                    ax.errorbar([R], [a], yerr=[s], fmt="o", color=c, ms=4, capsize=2)
        ax.axvline(R_SUN, color="0.6", lw=0.8, ls=":")
        ax.set_xlabel("R [kpc] (z = 0)")
        ax.set_ylabel(f"proton index α, {wname} GeV")
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=7)

    toy = [n for n in TOY if n in grids]
    if toy:
        fig, ax = plt.subplots(figsize=(6.4, 4.2))
        alpha_panel(ax, toy, "10-1000", "Cerri toy field, R0 = 3.5 kpc, ε_D = 0.01: lines grid, points SDE")
        for y, lab in ((2.5, "α_inj + δ∥"), (2.9, "α_inj + δ⊥")):
            ax.axhline(y, color="k", lw=0.6, ls="--")
            ax.text(19.8, y + 0.01, lab, ha="right", fontsize=7)
        ax.set_xlim(0, 20)
        fig.tight_layout()
        fig.savefig(FIG / "cerri17_toy_alpha.png", dpi=120)
        plt.close(fig)
    field = [n for n in FIELD if n in grids]
    if field:
        fig, axs = plt.subplots(1, 2, figsize=(11, 4.2))
        for ax, wname in zip(axs, WINDOWS):
            alpha_panel(ax, field, wname, f"cerri17 field, δ∥ = 0.3, window {wname} GeV")
            ax.set_xlim(0, 16)
        fig.tight_layout()
        fig.savefig(FIG / "cerri17_field_alpha.png", dpi=120)
        plt.close(fig)
        fig, ax = plt.subplots(figsize=(6.4, 4.2))
        for i, name in enumerate(field):
            g, c = grids[name], f"C{i}"
            last = len(g["resolutions"]) - 1
            n = g[f"n10_{last}"]
            isun = int(np.argmin(abs(g["R"] - R_SUN)))
            ax.plot(g["R"], n / n[isun], color=c, label=f"{name} (grid)")
            ps = sde.get((name, R_SUN))
            for R in POINTS[name]:
                p = sde.get((name, R))
                if p and ps:
                    v, s = (
                        p["n10"][0] / ps["n10"][0],
                        p["n10"][0]
                        / ps["n10"][0]
                        * np.hypot(p["n10"][1] / p["n10"][0], ps["n10"][1] / ps["n10"][0]),
                    )
                    ax.errorbar([R], [v], yerr=[s], fmt="o", color=c, ms=4, capsize=2)
        ax.axvline(R_SUN, color="0.6", lw=0.8, ls=":")
        ax.set_xlim(0, 16)
        ax.set_xlabel("R [kpc] (z = 0)")
        ax.set_ylabel("n(>10 GeV) / n(>10 GeV) at the Sun")
        ax.set_title("cerri17 field: proton density above 10 GeV, lines grid, points SDE", fontsize=9)
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(FIG / "cerri17_field_density.png", dpi=120)
        plt.close(fig)


if __name__ == "__main__":
    main()
