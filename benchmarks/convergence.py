"""Convergence of the SDE step in realistic fields: how the answer moves with step_fraction.

    python benchmarks/convergence.py [--cases jf12,toy] [--step-fractions 0.2,0.1,0.05]
        [--particles 2000] [--energy 10000] [--workers 2] [--set SECTION.KEY=VALUE ...]
        [--closed-box N] [--regions] [--output conv.json] [--plot conv.png]

For each case (a field model with its diffusion settings) and each step_fraction it measures
  * the mean escape time of protons injected at the Sun (a point source at sun_position, every
    particle followed until it leaves the halo: free escape at |z| = H, R = R_max), with its
    standard error, from the particles' final times (``sdeprop.run(..., keep_state=True)``);
  * the steady-state density at the Sun for the pulsar-like disc source (radial_profile): a sphere
    tally, residence-time estimator, with its standard error;
  * steps per particle and CPU seconds per particle (both runs together: ``result.counts``,
    ``result.timings``);
  * optionally (``--closed-box N``) the closed-galaxy conservation check
    (``sdeprop.validation.closed_box_check``) χ²/dof at that step_fraction;
  * optionally (``--regions``) a cylindrical (R, z) tally of the disc-source run, compared cell by
    cell between the coarsest and the finest step_fraction: the cells with the largest
    |difference|/σ say where the step error arises (plane, axis, disc–halo transition).
Reference value: Richardson extrapolation.  The time step scales as step_fraction², so a scheme of
weak order p has a bias ∝ step_fraction^(2p); the fit y = a + b·sf^(2p) (p = 1 by default,
``--order``) with weights 1/σ² gives the extrapolated a ± σ_a and the fit's χ².  From it, the
step_fraction for a relative bias of 3 %, 1 % and 0.3 % (|b| sf^(2p) = bias·|a|; also with |b|
raised by 2σ_b, a conservative value), and the CPU per particle there (log-log interpolation of
the measured CPU per particle in step_fraction, extrapolated from the end segments).

Physics defaults: protons at 10 TeV (a 0.1 % wide band), D∥ = 3e28 cm²/s (R/4 GV)^0.5, ε = 0.1,
H = 4 kpc, R_max = 20 kpc, the Sun at (−8.5, 0, 0) kpc, observer sphere of 1 kpc (``--sphere``).
The density at the Sun is the noisier observable: at 10 TeV a few thousand disc-source particles
give it to ±10–15 %, against ±1.5 % for the escape time.  Each step_fraction runs with its own
seed (``--seed``, +1, +2, ...), so the fit may treat the runs as independent (``--same-seed``:
one seed for all; correlated runs make the fit's χ² and errors too small).

Cases (``--cases``, comma separated): jf12, uf23 (base), pt11 (ASS), cerri17, toy (Cerri toy
field, R0 = 3 kpc), toy_eps0.03 / toy_eps0.01 / toy_eps0.003 / toy_eps0.001 (the toy field
with D⊥/D∥ down to 10⁻³), toy_R0_1 / toy_R0_2 (toy fields whose B_φ turns within 1 or 2 kpc of
the axis).  A case may
add its own overrides after colons: ``toy:diffusion.epsilon=0.02:field.R0_kpc=1.5`` or
``jf12:time.min_step_kpc=0.02``.  ``--set KEY=VALUE`` (a TOML literal) applies to every run of
every case, e.g. ``--set numerics.integrator=...`` to measure another integrator without any
change here; ``--label`` names it in the output.  Two integrators side by side in one table:
``--cases jf12,jf12:numerics.integrator=NAME``.

The default invocation (JF12 and the toy field, ε = 0.1, step fractions 0.2/0.1/0.05, 2000
particles per run) takes a few minutes on two cores.  Heavier studies:

    # the JF12 study of docs/numerics.md (~8 min on 2 cores shared with other work)
    python benchmarks/convergence.py --cases jf12 --step-fractions 0.1,0.05,0.025 --particles 3000 --regions
    # all realistic fields, with the closed-box check and the region map (hours)
    python benchmarks/convergence.py --cases jf12,uf23,pt11,cerri17 \\
        --step-fractions 0.2,0.1,0.05,0.025,0.0125 --particles 20000 --closed-box 60000 --regions \\
        --output conv.json --plot conv.png
    # anisotropy and field-line curvature in the toy field
    python benchmarks/convergence.py --cases toy,toy_eps0.01,toy_eps0.001,toy_R0_1,toy_R0_2 \\
        --step-fractions 0.2,0.1,0.05,0.025 --particles 10000

Steps per particle grow as sf⁻² (10 TeV protons in JF12: ~1.4e4 at 0.1, 6.5e4 at 0.05, 2.7e5 at
0.025, 1.1e6 at 0.0125 from the Sun; 2, 10 and 42 ms of CPU per particle at 0.1, 0.05 and 0.025,
averaged over the two runs).
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

STATUS_ESCAPED = (1, 2)  # kernel status codes: escaped through |z| = H, through R = R_max

CASES: dict[str, tuple[dict, dict]] = {
    # name: ([field] table, further dotted overrides)
    "jf12": ({"model": "jf12"}, {}),
    "uf23": ({"model": "uf23", "variant": "base"}, {}),
    "pt11": ({"model": "pt11", "variant": "ASS"}, {}),
    "cerri17": ({"model": "cerri17"}, {}),
    "toy": ({"model": "cerri_toy"}, {}),
    **{
        f"toy_eps{e:g}": ({"model": "cerri_toy"}, {"diffusion.epsilon": e})
        for e in (0.03, 0.01, 0.003, 0.001)
    },
    **{f"toy_R0_{r:g}": ({"model": "cerri_toy", "R0_kpc": float(r)}, {}) for r in (1, 2)},
}

BIASES = (0.03, 0.01, 0.003)


# --------------------------------------------------------------------------- pure functions
def richardson_fit(step_fractions, values, errors, order: float = 1.0) -> dict | None:
    """Weighted least-squares fit of values = a + b·sf^(2·order) (weights 1/σ²): a scheme of weak
    order p = ``order`` in dt ∝ sf² (Richardson extrapolation).  Returns a, b, their errors and
    covariance, χ² and the degrees of freedom; None for fewer than two points."""
    sf = np.asarray(step_fractions, float)
    y = np.asarray(values, float)
    s = np.asarray(errors, float)
    if sf.size < 2:
        return None
    x = sf ** (2.0 * order)
    w = 1.0 / s**2
    A = np.stack([np.ones_like(x), x], axis=1)
    cov = np.linalg.inv(A.T @ (A * w[:, None]))
    a, b = cov @ (A.T @ (w * y))
    chi2 = float(np.sum(w * (y - a - b * x) ** 2))
    return {
        "a": float(a),
        "a_err": float(math.sqrt(cov[0, 0])),
        "b": float(b),
        "b_err": float(math.sqrt(cov[1, 1])),
        "cov_ab": float(cov[0, 1]),
        "chi2": chi2,
        "dof": int(sf.size - 2),
        "order": float(order),
    }


def step_fraction_for_bias(fit: dict, bias: float, n_sigma: float = 0.0) -> float:
    """The step_fraction at which the fitted bias |b|·sf^(2p) is ``bias`` × |a| (p = fit["order"]);
    ``n_sigma`` > 0 raises |b| by that many σ_b (a conservative value).  inf if the slope is 0."""
    slope = abs(fit["b"]) + n_sigma * fit["b_err"]
    if slope <= 0.0:
        return math.inf
    return (bias * abs(fit["a"]) / slope) ** (1.0 / (2.0 * fit["order"]))


def interpolate_loglog(x, xs, ys, end_slope: float = -2.0) -> float:
    """y(x) from points (xs, ys) by piecewise-linear interpolation in log x, log y, extrapolated from
    the end segments; a single point is extended with the slope ``end_slope`` (cost ∝ sf⁻²)."""
    if not math.isfinite(x) or x <= 0:
        return math.nan
    order = np.argsort(xs)
    lx = np.log(np.asarray(xs, float)[order])
    ly = np.log(np.asarray(ys, float)[order])
    t = math.log(x)
    if lx.size == 1:
        return float(math.exp(ly[0] + end_slope * (t - lx[0])))
    i = int(np.clip(np.searchsorted(lx, t) - 1, 0, lx.size - 2))
    slope = (ly[i + 1] - ly[i]) / (lx[i + 1] - lx[i])
    return float(math.exp(ly[i] + slope * (t - lx[i])))


def accuracy_table(fit: dict | None, sfs, cpu_per_particle, biases=BIASES) -> list[dict]:
    """For each relative bias: the step_fraction (central and 2σ-conservative) and the CPU per
    particle interpolated there.  A step_fraction above the coarsest one measured is not
    extrapolated: it is reported as that coarsest value (``"at_least": True``) with its CPU."""
    rows = []
    top = max(sfs) if len(sfs) else math.inf
    for bias in biases:
        if fit is None:
            rows.append({"bias": bias})
            continue
        sf = min(step_fraction_for_bias(fit, bias), top)
        sf_c = min(step_fraction_for_bias(fit, bias, n_sigma=2.0), top)
        rows.append(
            {
                "bias": bias,
                "at_least": sf >= top,
                "at_least_2sigma": sf_c >= top,
                "step_fraction": sf,
                "cpu_s_per_particle": interpolate_loglog(sf, sfs, cpu_per_particle),
                "step_fraction_2sigma": sf_c,
                "cpu_s_per_particle_2sigma": interpolate_loglog(sf_c, sfs, cpu_per_particle),
            }
        )
    return rows


def region_label(r_lo, r_hi, z_lo, z_hi) -> str:
    """Where a cylindrical cell lies: near the axis, in the plane, at the disc–halo transition, halo."""
    zmin = 0.0 if z_lo < 0 < z_hi else min(abs(z_lo), abs(z_hi))
    if r_lo < 2.0:
        return "axis"
    if zmin < 0.5:
        return "plane"
    if zmin < 1.5:
        return "disc-halo"
    return "halo"


def compare_maps(coarse, coarse_err, fine, fine_err, r_edges, z_edges, top: int = 8) -> dict:
    """Cell-by-cell difference fine − coarse of two (R, z) density maps in units of its σ: χ² per
    cell over cells with content, and the ``top`` cells with the largest |difference|/σ."""
    sig = np.sqrt(coarse_err**2 + fine_err**2)
    ok = sig > 0
    pull = np.zeros_like(fine)
    pull[ok] = (fine[ok] - coarse[ok]) / sig[ok]
    cells = []
    for flat in np.argsort(-np.abs(pull), axis=None)[:top]:
        i, j = np.unravel_index(flat, pull.shape)
        if not ok[i, j]:
            continue
        cells.append(
            {
                "R_kpc": [float(r_edges[i]), float(r_edges[i + 1])],
                "z_kpc": [float(z_edges[j]), float(z_edges[j + 1])],
                "region": region_label(r_edges[i], r_edges[i + 1], z_edges[j], z_edges[j + 1]),
                "pull": float(pull[i, j]),
                "relative_difference": float((fine[i, j] - coarse[i, j]) / coarse[i, j])
                if coarse[i, j] > 0
                else math.nan,
            }
        )
    by_region = {}
    for i in range(pull.shape[0]):
        for j in range(pull.shape[1]):
            if ok[i, j]:
                lab = region_label(r_edges[i], r_edges[i + 1], z_edges[j], z_edges[j + 1])
                c2, n = by_region.get(lab, (0.0, 0))
                by_region[lab] = (c2 + float(pull[i, j] ** 2), n + 1)
    return {
        "chi2": float(np.sum(pull[ok] ** 2)),
        "cells": int(ok.sum()),
        "chi2_by_region": {k: {"chi2": v[0], "cells": v[1]} for k, v in by_region.items()},
        "largest": cells,
    }


#: region bands of the escape-time budget: R edges and |z| edges [kpc]
BUDGET_R_KPC = (0.0, 2.0, 5.0, 12.0, math.inf)
BUDGET_Z_KPC = (0.0, 0.25, 0.75, 1.5, math.inf)


def escape_time_budget(tally, mean_escape_time_Myr: float) -> tuple[np.ndarray, np.ndarray]:
    """The mean escape time split over (R band, |z| band) regions (``BUDGET_R_KPC`` ×
    ``BUDGET_Z_KPC``) from a cylindrical residence-time tally of the Sun-injected histories:
    density × cell volume ∝ time spent in the cell, normalised so that the regions add up to the
    measured mean escape time.  Returns (time [Myr], standard error [Myr]) per region; the errors
    add the cells' errors in quadrature (cells of one history are correlated, so a region's error
    is somewhat underestimated; compare differences of several σ only)."""
    dens = np.asarray(tally.density)[..., 0]
    err = np.asarray(tally.uncertainty)[..., 0]
    r_e = np.asarray(tally.edges["R_kpc"])
    z_e = np.asarray(tally.edges["z_kpc"])
    vol = tally.layout.cell_volume_kpc3()
    mass = dens * vol
    scale = mean_escape_time_Myr / mass.sum()
    r_mid = 0.5 * (r_e[1:] + r_e[:-1])
    az_mid = np.abs(0.5 * (z_e[1:] + z_e[:-1]))
    ir = np.searchsorted(BUDGET_R_KPC, r_mid, side="right") - 1
    iz = np.searchsorted(BUDGET_Z_KPC, az_mid, side="right") - 1
    time_ = np.zeros((len(BUDGET_R_KPC) - 1, len(BUDGET_Z_KPC) - 1))
    var = np.zeros_like(time_)
    np.add.at(time_, (ir[:, None], iz[None, :]), mass * scale)
    np.add.at(var, (ir[:, None], iz[None, :]), (err * vol * scale) ** 2)
    return time_, np.sqrt(var)


def compare_budgets(coarse, fine) -> dict:
    """Where the escape time of the coarsest run differs from the finest: per region the times,
    their difference coarse − fine [Myr] and its pull."""
    (tc, ec), (tf, ef) = coarse, fine
    rows = []
    for i in range(tc.shape[0]):
        for j in range(tc.shape[1]):
            sig = math.hypot(ec[i, j], ef[i, j])
            rows.append(
                {
                    "R_kpc": [BUDGET_R_KPC[i], BUDGET_R_KPC[i + 1]],
                    "abs_z_kpc": [BUDGET_Z_KPC[j], BUDGET_Z_KPC[j + 1]],
                    "coarse_Myr": float(tc[i, j]),
                    "fine_Myr": float(tf[i, j]),
                    "difference_Myr": float(tc[i, j] - tf[i, j]),
                    "pull": float((tc[i, j] - tf[i, j]) / sig) if sig > 0 else 0.0,
                }
            )
    return {"total_difference_Myr": float(tc.sum() - tf.sum()), "regions": rows}


# --------------------------------------------------------------------------- configurations
def parse_case(spec: str) -> tuple[str, dict, dict]:
    """(label, [field] table, dotted overrides) of a case: a name of CASES, optionally followed by
    ``:KEY=VALUE`` overrides (TOML literals)."""
    from sdeprop.cli.args import toml_value

    name, *extra = spec.split(":")
    if name not in CASES:
        raise SystemExit(f"unknown case '{name}'; known: {', '.join(CASES)}")
    field, over = copy.deepcopy(CASES[name])
    for item in extra:
        key, eq, raw = item.partition("=")
        if not eq:
            raise SystemExit(f"case '{spec}': '{item}' must be KEY=VALUE")
        over[key.strip()] = toml_value(raw.strip())
    return spec, field, over


def default_t_max_Myr(args, epsilon: float) -> float:
    """A generous cap on the history length: 100 perpendicular escape times H²/(2 D⊥) at the energy
    (D∥ = D0 (R/4 GV)^0.5 with R ≈ p c/e), so that every particle leaves the halo before it."""
    from sdeprop.units import KPC2_PER_MYR_IN_CM2_PER_S

    m = 0.938272
    rig = math.sqrt(args.energy**2 + 2 * args.energy * m)
    d_par = 3e28 * (rig / 4.0) ** 0.5 / KPC2_PER_MYR_IN_CM2_PER_S
    return 100.0 * args.halo**2 / (2.0 * max(epsilon, 1e-4) * d_par)


def run_config(args, field: dict, case_over: dict, sf: float, kind: str) -> dict:
    """The configuration table of one run: ``kind`` "escape" (point source at the Sun, no tally of
    interest) or "density" (disc source, observer sphere, optional (R, z) map)."""
    from sdeprop.cli.args import settings_as_pairs
    from sdeprop.overrides import apply_overrides

    e_hi = args.energy * 1.001
    sun = [-args.sun_distance, 0.0, 0.0]
    tallies = [
        {"name": "sun", "type": "sphere", "center_kpc": sun, "radius_kpc": args.sphere, "energy_bins": 1}
    ]
    if kind == "density" and args.regions:
        tallies.append({"name": "map", "type": "cylindrical", "R_bins": 10, "z_bins": 16, "energy_bins": 1})
    if kind == "escape" and args.regions:
        # residence time of the Sun-injected histories by cell: the escape time's budget by region
        tallies.append(
            {"name": "budget", "type": "cylindrical", "R_bins": 40, "z_bins": 64, "energy_bins": 1}
        )
    n_batches = 4 * args.workers
    cfg = {
        "run": {
            "particles": args.particles,
            "batch_size": max(1, math.ceil(args.particles / n_batches)),
            "seed": args.seed,
            "workers": args.workers,
            "progress": False,
            "max_cpu_hours": 0.0,
        },
        "species": {"name": "proton"},
        "energy": {"min_GeV": args.energy, "max_GeV": e_hi},
        "galaxy": {"halo_height_kpc": args.halo, "radius_max_kpc": args.rmax, "sun_position_kpc": sun},
        "field": copy.deepcopy(field),
        "diffusion": {
            "D0_cm2_per_s": 3e28,
            "reference_rigidity_GV": 4.0,
            "delta_par": 0.5,
            "epsilon": args.epsilon,
        },
        "source": {"type": "point", "position_kpc": sun}
        if kind == "escape"
        else {
            "type": "radial_profile",
            "observer_fraction": args.observer_fraction,
            "observer_radius_kpc": args.observer_radius,
        },
        "spectrum": {"type": "log_uniform"},
        "time": {"step_fraction": sf},
        "tally": tallies,
    }
    apply_overrides(cfg, case_over)
    apply_overrides(cfg, settings_as_pairs(args.set))
    t_max = args.t_max or default_t_max_Myr(args, float(cfg["diffusion"]["epsilon"]))
    cfg["time"]["regimes"] = [{"energy_max_GeV": e_hi, "t_max_Myr": t_max}]
    return cfg


# --------------------------------------------------------------------------- measurements
def warm_up(args, field: dict, case_over: dict, sf: float) -> None:
    """Short runs of both kinds in every worker, so that no measured batch pays for loading the
    compiled kernels or the field model."""
    import sdeprop

    for kind in ("escape", "density"):
        cfg = run_config(args, field, case_over, sf, kind)
        cfg["run"].update(particles=4 * args.workers, batch_size=1)
        sdeprop.run(cfg)


def measure(args, field: dict, case_over: dict, sf: float) -> dict:
    """Escape time and density at the Sun (and the (R, z) map) at one step_fraction."""
    import sdeprop

    esc = sdeprop.run(run_config(args, field, case_over, sf, "escape"), keep_state=True)
    fs = esc.final_state
    t = np.asarray(fs["time"], float)
    escaped = np.isin(fs["status"], STATUS_ESCAPED)
    den = sdeprop.run(run_config(args, field, case_over, sf, "density"))
    sun = den.tallies["sun"]
    n = esc.counts["injected"] + den.counts["injected"]
    row = {
        "step_fraction": sf,
        "particles": args.particles,
        "escape_time_Myr": float(t.mean()),
        "escape_time_err_Myr": float(t.std(ddof=1) / math.sqrt(t.size)),
        "not_escaped": int((~escaped).sum()),
        "density_sun": float(np.ravel(sun.density)[0]),
        "density_sun_err": float(np.ravel(sun.uncertainty)[0]),
        "density_not_escaped": int(
            den.counts["injected"] - den.counts["escaped_z"] - den.counts["escaped_R"]
        ),
        "steps_per_particle_escape": esc.counts["steps"] / esc.counts["injected"],
        "steps_per_particle_density": den.counts["steps"] / den.counts["injected"],
        "steps_per_particle": (esc.counts["steps"] + den.counts["steps"]) / n,
        "cpu_s_per_particle": (esc.timings["batch_cpu_s"] + den.timings["batch_cpu_s"]) / n,
        "wall_s": esc.timings["wall_s"] + den.timings["wall_s"],
    }
    if args.regions:
        row["_budget"] = escape_time_budget(esc.tallies["budget"], float(t.mean()))
        tal = den.tallies["map"]
        row["_map"] = (
            np.asarray(tal.density)[..., 0],
            np.asarray(tal.uncertainty)[..., 0],
            tal.edges["R_kpc"],
            tal.edges["z_kpc"],
        )
    if args.closed_box:
        from sdeprop.cli.args import settings_as_pairs
        from sdeprop.overrides import apply_overrides
        from sdeprop.validation import closed_box_check

        over = {**case_over, **dict(settings_as_pairs(args.set))}
        field_cb = apply_overrides(
            {"field": copy.deepcopy(field)}, {k: v for k, v in over.items() if k.startswith("field.")}
        )
        sect = {"time": {}, "numerics": {}}
        for k, v in over.items():
            head, _, rest = k.partition(".")
            if head in sect and "." not in rest:
                sect[head][rest] = v
        eps = float(over.get("diffusion.epsilon", args.epsilon))
        chk = closed_box_check(
            field_cb["field"],
            args.closed_box,
            epsilon=eps,
            seed=args.seed,
            time={**sect["time"], "step_fraction": sf},
            numerics=sect["numerics"],
        )
        row["closed_box_chi2"] = chk.chi2
        row["closed_box_dof"] = chk.ndf
        row["closed_box_p"] = chk.p_value
    return row


def analyse(rows: list[dict], order: float) -> dict:
    """Richardson fits of both observables, the finest run and the accuracy → step_fraction table."""
    sfs = [r["step_fraction"] for r in rows]
    cpu = [r["cpu_s_per_particle"] for r in rows]
    finest = min(rows, key=lambda r: r["step_fraction"])
    out = {}
    for key, unit in (("escape_time", "_Myr"), ("density_sun", "")):
        vals = [r[key + unit] for r in rows]
        errs = [r[key + "_err" + unit] for r in rows]
        fit = richardson_fit(sfs, vals, errs, order)
        out[key] = {
            "fit": fit,
            "finest": {
                "step_fraction": finest["step_fraction"],
                "value": finest[key + unit],
                "err": finest[key + "_err" + unit],
            },
            "accuracy": accuracy_table(fit, sfs, cpu),
        }
    return out


# --------------------------------------------------------------------------- output
def _pm(v, e, digits=4):
    return f"{v:.{digits}g} ± {e:.2g}"


def markdown(study: dict) -> str:
    lines = [f"command: `{study['command']}`", ""]
    for case in study["cases"]:
        rows = case["runs"]
        norm = (
            case["analysis"]["density_sun"]["finest"]["value"] or 1.0
        )  # densities relative to the finest run
        has_cb = any("closed_box_chi2" in r for r in rows)
        lines += [
            f"### {case['case']}" + (f" ({study['label']})" if study.get("label") else ""),
            "",
            "| step_fraction | steps/particle (escape, disc) | CPU ms/particle | escape time [Myr] | "
            "density at Sun / finest run |" + (" closed box χ²/dof |" if has_cb else ""),
            "|---|---|---|---|---|" + ("---|" if has_cb else ""),
        ]
        for r in rows:
            flag = f" ({r['not_escaped']} not escaped)" if r["not_escaped"] else ""
            cb = f" {r['closed_box_chi2'] / r['closed_box_dof']:.2f} |" if has_cb else ""
            lines.append(
                f"| {r['step_fraction']:g} | {r['steps_per_particle_escape']:.3g}, "
                f"{r['steps_per_particle_density']:.3g} | {1e3 * r['cpu_s_per_particle']:.3g} | "
                f"{r['escape_time_Myr']:.4g} ± {r['escape_time_err_Myr']:.2g}{flag} | "
                f"{r['density_sun'] / norm:.4f} ± {r['density_sun_err'] / norm:.4f} |{cb}"
            )
        lines.append("")
        lines.append(
            "| observable | extrapolated (a ± σ) | slope b ± σ | χ²/dof | finest run | "
            + " | ".join(f"sf for {100 * b:g} % (2σ) → CPU ms" for b in BIASES)
            + " |"
        )
        lines.append("|---|---|---|---|---|" + "---|" * len(BIASES))
        for key, name in (
            ("escape_time", "escape time [Myr]"),
            ("density_sun", "density at Sun / finest run"),
        ):
            an = case["analysis"][key]
            fit = an["fit"]
            scale = norm if key == "density_sun" else 1.0
            fin = an["finest"]
            if fit is None:
                lines.append(f"| {name} | — | — | — | {_pm(fin['value'] / scale, fin['err'] / scale)} |")
                continue
            acc = []
            for row in an["accuracy"]:
                ge, ge_c = ("≥" if row["at_least"] else ""), ("≥" if row["at_least_2sigma"] else "")
                acc.append(
                    f"{ge}{row['step_fraction']:.3g} ({ge_c}{row['step_fraction_2sigma']:.3g}) → "
                    f"{1e3 * row['cpu_s_per_particle']:.3g} ({1e3 * row['cpu_s_per_particle_2sigma']:.3g})"
                )
            lines.append(
                f"| {name} | {_pm(fit['a'] / scale, fit['a_err'] / scale)} | "
                f"{_pm(fit['b'] / scale, fit['b_err'] / scale, 3)} | "
                f"{fit['chi2']:.2f}/{fit['dof']} | {_pm(fin['value'] / scale, fin['err'] / scale)} | "
                + " | ".join(acc)
                + " |"
            )
        if case.get("regions"):
            reg = case["regions"]
            lines += [
                "",
                f"(R, z) map, finest − coarsest: χ² = {reg['chi2']:.1f} over {reg['cells']} cells; "
                "by region: "
                + ", ".join(f"{k} {v['chi2']:.1f}/{v['cells']}" for k, v in reg["chi2_by_region"].items()),
                "",
                "| R [kpc] | z [kpc] | region | (fine − coarse)/σ | relative difference |",
                "|---|---|---|---|---|",
            ]
            for c in reg["largest"]:
                lines.append(
                    f"| {c['R_kpc'][0]:g}–{c['R_kpc'][1]:g} | {c['z_kpc'][0]:g}–{c['z_kpc'][1]:g} | "
                    f"{c['region']} | {c['pull']:+.2f} | {100 * c['relative_difference']:+.1f} % |"
                )
        if case.get("escape_budget"):
            bud = case["escape_budget"]
            lines += [
                "",
                "Escape time by region, coarsest − finest run "
                f"(total {bud['total_difference_Myr']:+.3f} Myr):",
                "",
                "| R [kpc] | abs(z) [kpc] | coarsest [Myr] | finest [Myr] | difference [Myr] | pull |",
                "|---|---|---|---|---|---|",
            ]
            for c in bud["regions"]:
                lines.append(
                    f"| {c['R_kpc'][0]:g}–{c['R_kpc'][1]:g} | {c['abs_z_kpc'][0]:g}–{c['abs_z_kpc'][1]:g} | "
                    f"{c['coarse_Myr']:.3f} | {c['fine_Myr']:.3f} | {c['difference_Myr']:+.3f} | "
                    f"{c['pull']:+.1f} |"
                )
        lines.append("")
    return "\n".join(lines)


def plot(study: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cases = study["cases"]
    fig, axes = plt.subplots(len(cases), 2, figsize=(9, 3.2 * len(cases)), squeeze=False)
    for row_axes, case in zip(axes, cases):
        for ax, (key, unit, title) in zip(
            row_axes,
            (("escape_time", "_Myr", "mean escape time [Myr]"), ("density_sun", "", "density at Sun")),
        ):
            runs = case["runs"]
            p = 2.0 * study["order"]
            x = np.array([r["step_fraction"] ** p for r in runs])
            y = np.array([r[key + unit] for r in runs])
            e = np.array([r[key + "_err" + unit] for r in runs])
            ax.errorbar(x, y, e, fmt="o", capsize=3)
            fit = case["analysis"][key]["fit"]
            if fit is not None:
                xx = np.linspace(0, x.max() * 1.05, 50)
                ax.plot(xx, fit["a"] + fit["b"] * xx, "-", lw=1)
                ax.errorbar([0], [fit["a"]], [fit["a_err"]], fmt="s", capsize=3)
            ax.set_xlabel(f"step_fraction^{p:g}")
            ax.set_title(f"{case['case']}: {title}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", default="jf12,toy", help="comma-separated cases (see the module docstring)")
    ap.add_argument("--step-fractions", default="0.2,0.1,0.05", help="comma-separated step_fraction values")
    ap.add_argument("--particles", type=int, default=2000, help="particles per run (each sf: two runs)")
    ap.add_argument("--energy", type=float, default=1.0e4, help="proton kinetic energy [GeV]")
    ap.add_argument("--epsilon", type=float, default=0.1, help="D⊥/D∥ (a case may override it)")
    ap.add_argument("--halo", type=float, default=4.0, help="halo half-height H [kpc]")
    ap.add_argument("--rmax", type=float, default=20.0, help="R_max [kpc]")
    ap.add_argument("--sun-distance", type=float, default=8.5, help="the Sun at (−d, 0, 0) [kpc]")
    ap.add_argument("--sphere", type=float, default=1.0, help="observer sphere radius [kpc]")
    ap.add_argument(
        "--observer-fraction",
        type=float,
        default=0.0,
        help="disc source: fraction of particles started near the Sun (weighted; source.observer_fraction)",
    )
    ap.add_argument("--observer-radius", type=float, default=3.0, help="radius of that region [kpc]")
    ap.add_argument("--t-max", type=float, default=None, help="history cap [Myr] (default: 100 escape times)")
    ap.add_argument("--order", type=float, default=1.0, help="assumed weak order p in dt (bias ∝ sf^(2p))")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1, help="seed of the first step_fraction (then +1, +2, ...)")
    ap.add_argument(
        "--same-seed",
        action="store_true",
        help="one seed for all step_fractions (correlated runs: the fit's χ² and errors are then too small)",
    )
    ap.add_argument("--set", action="append", metavar="SECTION.KEY=VALUE", help="override for every run")
    ap.add_argument("--label", default="", help="name of this variant (e.g. the integrator) in the output")
    ap.add_argument(
        "--closed-box", type=int, default=0, metavar="N", help="closed-box check with N particles"
    )
    ap.add_argument("--regions", action="store_true", help="(R, z) map: where coarse and fine steps differ")
    ap.add_argument("--output", help="JSON file with every number")
    ap.add_argument("--plot", help="PNG figure: each observable against sf^(2p) with the fit")
    args = ap.parse_args(argv)
    sfs = sorted((float(s) for s in args.step_fractions.split(",")), reverse=True)
    cases = [parse_case(s.strip()) for s in args.cases.split(",") if s.strip()]
    study = {
        "command": "python benchmarks/convergence.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "label": args.label,
        "order": args.order,
        "settings": vars(args),
        "cases": [],
    }
    from sdeprop.errors import ConfigError

    try:
        run_study(args, sfs, cases, study)
    except ConfigError as exc:
        raise SystemExit(f"convergence.py: {exc}") from None
    print(markdown(study))
    if args.output:
        Path(args.output).write_text(json.dumps(study, indent=1, default=float))
    if args.plot:
        plot(study, args.plot)


def run_study(args, sfs, cases, study) -> None:
    """Measure every case at every step_fraction; appends to ``study["cases"]``."""
    t0 = time.perf_counter()
    for label, field, over in cases:
        rows = []
        warm_up(args, field, over, sfs[0])
        for i, sf in enumerate(sfs):
            # independent seeds per step_fraction: the fit weighs the runs as independent
            run_args = argparse.Namespace(**{**vars(args), "seed": args.seed + (0 if args.same_seed else i)})
            r = measure(run_args, field, over, sf)
            rows.append(r)
            print(
                f"# {label} sf={sf:g}: escape {r['escape_time_Myr']:.4g} ± "
                f"{r['escape_time_err_Myr']:.2g} Myr, {r['steps_per_particle']:.3g} steps/particle, "
                f"{time.perf_counter() - t0:.0f} s",
                file=sys.stderr,
                flush=True,
            )
        case = {
            "case": label,
            "field": field,
            "overrides": over,
            "runs": rows,
            "analysis": analyse(rows, args.order),
        }
        if args.regions and len(rows) >= 2:
            c, f = rows[0]["_map"], rows[-1]["_map"]
            case["regions"] = compare_maps(c[0], c[1], f[0], f[1], c[2], c[3])
            case["escape_budget"] = compare_budgets(rows[0]["_budget"], rows[-1]["_budget"])
        for r in rows:
            r.pop("_map", None)
            r.pop("_budget", None)
        study["cases"].append(case)


if __name__ == "__main__":
    main()
