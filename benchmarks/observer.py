"""Forward against backward (adjoint) estimator: CPU to a stated accuracy per energy at the Sun.

    python benchmarks/observer.py [--proton-particles 100000] [--proton-paths 20000]
        [--ball-paths 20000] [--electron-particles 60000] [--electron-paths 1000]
        [--cases protons electrons]

Both methods run in one process, one core (workers = 1, no progress bar), on the run files as they are:

* protons, runs/quickstart.toml: forward with its 0.5 kpc sphere tally 'sun' (16 energy bins; the
  'galaxy' cylindrical tally is dropped so that the forward run measures the sphere alone), against
  backward paths at the Sun (observer.radius_kpc = 0, a point) at the 16 geometric bin centres of the
  sphere tally; without losses one set of paths serves every energy (observer.shared_paths = 'on',
  which refuses to run where they could not be shared).
  A second backward run averages over a 0.5 kpc ball (observer.radius_kpc = 0.5), what the forward
  sphere measures in space (--ball-paths 0 skips it).  Target: 1 % per energy.
* electrons, runs/electrons_local.toml (UF23 + JF12 random field, galactic losses, observer-biased
  injection): forward with its 100 pc sphere 'sun' (22 bins, 10 GeV - 20 TeV; the 'map' cylindrical
  tally is dropped), against backward paths at the Sun (a point) at the 22 bin centres, each energy
  with paths of its own (observer.paths_per_energy).  Target: 3 % per energy.

CPU is result.timings['batch_cpu_s'] (transport, kernel compilation excluded).  The CPU to the target
is cpu × (σ_rel / target)², σ_rel the relative 1σ error per energy over the energies (bins) with
content: 'worst' takes the largest σ_rel (every energy reaches the target), 'median' the median.  For
the backward runs with paths per energy the paths are spread evenly over the energies (no allocation
toward the noisiest ones).  Speed-up = forward CPU to target / backward CPU to target.

The agreement table prints backward / forward density per energy with the combined 1σ.  The forward
value is an average over an energy bin (linear in E) and over the sphere, the backward one a point
value at the bin centre (or a ball average with --ball-paths): they differ by the bin-averaging of
the spectrum's curvature, estimated here from the local power-law slope of the backward spectrum, and
by the spatial average over the ball (the ball run measures it for protons).

Writes docs/figures/observer_benchmark.csv (the cost table) and
docs/figures/observer_benchmark_agreement.csv (the agreement per energy).  Kernel compilation (~70-120 s
the first time, numba's disk cache shortens later ones) and each run's cost pilot show in the wall
times printed per run, not in the transport CPU.

Measured with the defaults (one core): protons 710× (worst) / 562× (median) less CPU at 1 %, electrons
9960× / 2190× at 3 % (the forward electrons' worst bin is a heavy-tailed 45 % estimate, the median
17.6 %); 75 s wall with a warm numba cache, ~2.5 min cold.
"""

from __future__ import annotations

import argparse
import copy
import csv
import time
import tomllib
from pathlib import Path

import numpy as np

import sdeprop
from sdeprop.tallies import build_tally_layouts

ROOT = Path(__file__).resolve().parents[1]
FIGURES = ROOT / "docs" / "figures"


def load(name):
    with open(ROOT / "runs" / name, "rb") as f:
        return tomllib.load(f)


def forward_config(raw, tally, particles):
    """The run file with only the sphere tally ``tally``, one worker, no progress bar."""
    cfg = copy.deepcopy(raw)
    cfg["tally"] = [t for t in cfg["tally"] if t["name"] == tally]
    cfg["run"].update(particles=particles, workers=1, progress=False)
    return cfg


def backward_config(raw, energies, paths, per_energy, radius_kpc=0.0):
    """The run file as a backward run at the Sun at ``energies`` (no [[tally]]): ``paths`` shared by all
    energies, or ``paths`` per energy with ``per_energy``."""
    cfg = copy.deepcopy(raw)
    cfg.pop("tally", None)
    cfg["estimator"] = {"method": "backward"}
    cfg["observer"] = {"radius_kpc": radius_kpc, "energies_GeV": [float(e) for e in energies]}
    cfg["run"].update(workers=1, progress=False)
    if per_energy:
        cfg["observer"]["paths_per_energy"] = paths
        cfg["observer"]["shared_paths"] = "off"
        cfg["run"].pop("particles", None)
    else:
        cfg["observer"]["shared_paths"] = "on"  # refuse to run if the paths could not be shared
        cfg["run"]["particles"] = paths
    return cfg


def sphere_edges(cfg, tally):
    lay = next(lay for lay in build_tally_layouts(sdeprop.load_config(cfg)) if lay.name == tally)
    return lay.energy_edges_GeV


def run(label, cfg):
    t0 = time.perf_counter()
    r = sdeprop.run(cfg)
    wall = time.perf_counter() - t0
    t = r.timings
    print(
        f"  {label}: {r.counts['injected']} histories, transport CPU {t['batch_cpu_s']:.1f} s "
        f"(batch compile {t['compile_s']:.1f} s), wall {wall:.1f} s (cost pilot and compilation included)",
        flush=True,
    )
    return r


def rel_errors(density, sigma):
    """Relative 1σ of the energies (bins) with content: (worst, median)."""
    ok = density > 0
    rel = sigma[ok] / density[ok]
    return float(rel.max()), float(np.median(rel))


def bin_average_factor(edges, density_at_centres):
    """Bin average (linear in E) / value at the geometric centre for a spectrum that is locally a power law
    with the slope of ``density_at_centres`` (central differences in ln E, one-sided at the ends)."""
    c = np.sqrt(edges[1:] * edges[:-1])
    ok = density_at_centres > 0
    g = np.full(len(c), np.nan)
    if ok.sum() >= 2:
        g[ok] = -np.gradient(np.log(density_at_centres[ok]), np.log(c[ok]))
    lo, hi = edges[:-1] / c, edges[1:] / c
    with np.errstate(divide="ignore", invalid="ignore"):
        one = np.isclose(g, 1.0)
        integral = np.where(one, np.log(hi / lo), (hi ** (1 - g) - lo ** (1 - g)) / np.where(one, 1.0, 1 - g))
    return integral / (hi - lo)


class Table:
    def __init__(self):
        self.rows, self.agree = [], []

    def add(self, case, method, n, result, tally, target, forward=None):
        d = result.tallies[tally]
        worst, median = rel_errors(np.ravel(d.density), np.ravel(d.uncertainty))
        cpu = result.timings["batch_cpu_s"]
        row = {
            "case": case,
            "method": method,
            "particles_or_paths": n,
            "cpu_s": cpu,
            "worst_rel_error": worst,
            "median_rel_error": median,
            "cpu_s_to_target_worst": cpu * (worst / target) ** 2,
            "cpu_s_to_target_median": cpu * (median / target) ** 2,
            "target": target,
            "speedup_worst": "",
            "speedup_median": "",
        }
        if forward is not None:
            row["speedup_worst"] = forward["cpu_s_to_target_worst"] / row["cpu_s_to_target_worst"]
            row["speedup_median"] = forward["cpu_s_to_target_median"] / row["cpu_s_to_target_median"]
        self.rows.append(row)
        return row

    def agreement(self, case, edges, fwd, bwd, ball=None):
        """backward / forward per energy with the combined 1σ, and the expected bin-averaging factor."""
        f, sf = np.ravel(fwd.density), np.ravel(fwd.uncertainty)
        b, sb = bwd.density, bwd.uncertainty
        centres = np.sqrt(edges[1:] * edges[:-1])
        expect = 1.0 / bin_average_factor(edges, b)  # point at the centre / bin average
        print(f"\n{case}: backward (point at the bin centre) / forward (bin and sphere average)")
        head = (
            f"{'E [GeV]':>9s} {'fwd σ/n':>8s} {'bwd σ/n':>8s} {'bwd/fwd':>8s} {'±1σ':>7s} {'pull':>6s} "
            f"{'bin-avg':>8s}"
        )
        if ball is not None:
            head += f" {'ball/fwd':>9s} {'±1σ':>7s} {'pt/ball':>8s} {'±1σ':>7s}"
        print(
            head
            + "   (bin-avg: point / bin average from the local slope alone; pull: (bwd/fwd − bin-avg)/1σ)"
        )
        for k, e in enumerate(centres):
            ratio = b[k] / f[k] if f[k] > 0 else np.nan
            s = ratio * np.hypot(sf[k] / f[k], sb[k] / b[k]) if f[k] > 0 and b[k] > 0 else np.nan
            line = (
                f"{e:9.4g} {sf[k] / f[k]:8.2%} {sb[k] / b[k]:8.2%} {ratio:8.4f} {s:7.4f} "
                f"{(ratio - expect[k]) / s:+6.2f} {expect[k]:8.4f}"
            )
            rec = {
                "case": case,
                "energy_GeV": e,
                "forward_density": f[k],
                "forward_sigma": sf[k],
                "backward_density": b[k],
                "backward_sigma": sb[k],
                "backward_over_forward": ratio,
                "ratio_sigma": s,
                "bin_average_expected_ratio": expect[k],
                "ball_density": "",
                "ball_sigma": "",
            }
            if ball is not None:
                a, sa = ball.density[k], ball.uncertainty[k]
                rb = a / f[k]
                srb = rb * np.hypot(sf[k] / f[k], sa / a)
                rp = b[k] / a
                srp = rp * np.hypot(sb[k] / b[k], sa / a)
                line += f" {rb:9.4f} {srb:7.4f} {rp:8.4f} {srp:7.4f}"
                rec.update(ball_density=a, ball_sigma=sa)
            print(line)
            self.agree.append(rec)
        ratio = b / f
        sigma = ratio * np.hypot(sf / f, sb / b)
        pull = (ratio - expect) / sigma
        w = 1.0 / sigma**2
        mean, err = np.sum(w * ratio) / np.sum(w), 1.0 / np.sqrt(np.sum(w))
        print(
            f"bwd/fwd weighted mean {mean:.4f} ± {err:.4f}; expected from bin averaging alone "
            f"{np.sum(w * expect) / np.sum(w):.4f}; χ² of (bwd/fwd − bin-avg) = {np.sum(pull**2):.1f} for "
            f"{len(pull)} energies"
        )
        if ball is not None:
            a, sa = ball.density, ball.uncertainty
            rb = a / f
            wb = 1.0 / (rb * np.hypot(sf / f, sa / a)) ** 2
            pb = (rb - expect) * np.sqrt(wb)
            print(
                f"ball/fwd weighted mean {np.sum(wb * rb) / np.sum(wb):.4f} ± {1 / np.sqrt(np.sum(wb)):.4f} "
                f"(both averages over the 0.5 kpc ball); χ² of (ball/fwd − bin-avg) = {np.sum(pb**2):.1f}; "
                f"point/ball {np.mean(b / a):.4f} (the spatial average over the ball)"
            )

    def print(self):
        print(
            f"\n{'case':9s} {'method':24s} {'N':>8s} {'CPU s':>8s} {'worst':>7s} {'median':>7s} "
            f"{'CPU→tgt worst':>14s} {'CPU→tgt med':>12s} {'target':>6s} {'×worst':>8s} {'×median':>8s}"
        )
        for r in self.rows:
            sp = (
                f"{r['speedup_worst']:8.1f} {r['speedup_median']:8.1f}"
                if r["speedup_worst"] != ""
                else f"{'':8s} {'':8s}"
            )
            print(
                f"{r['case']:9s} {r['method']:24s} {r['particles_or_paths']:8d} {r['cpu_s']:8.1f} "
                f"{r['worst_rel_error']:7.2%} {r['median_rel_error']:7.2%} "
                f"{r['cpu_s_to_target_worst']:14.4g} {r['cpu_s_to_target_median']:12.4g} "
                f"{r['target']:6.0%} {sp}"
            )

    def write(self, path, agreement_path):
        path.parent.mkdir(parents=True, exist_ok=True)
        for rows, p in ((self.rows, path), (self.agree, agreement_path)):
            if not rows:
                continue
            with open(p, "w", newline="") as f:
                w = csv.DictWriter(f, fieldnames=list(rows[0]))
                w.writeheader()
                for r in rows:
                    w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})
        print(f"\nwrote {path} and {agreement_path}")


def protons(a, table):
    raw = load("quickstart.toml")
    fcfg = forward_config(raw, "sun", a.proton_particles)
    edges = sphere_edges(fcfg, "sun")
    centres = np.sqrt(edges[1:] * edges[:-1])
    print(f"protons (runs/quickstart.toml), target {a.proton_target:.0%} per energy", flush=True)
    fwd = run("forward, 0.5 kpc sphere 'sun' alone", fcfg)
    frow = table.add("protons", "forward sphere 0.5 kpc", a.proton_particles, fwd, "sun", a.proton_target)
    bwd = run("backward, point, shared paths", backward_config(raw, centres, a.proton_paths, False))
    table.add("protons", "backward point", a.proton_paths, bwd, "observer", a.proton_target, frow)
    ball = None
    if a.ball_paths:
        ball = run(
            "backward, 0.5 kpc ball, shared paths", backward_config(raw, centres, a.ball_paths, False, 0.5)
        )
        table.add("protons", "backward ball 0.5 kpc", a.ball_paths, ball, "observer", a.proton_target, frow)
        ball = ball.tallies["observer"]
    table.agreement("protons", edges, fwd.tallies["sun"], bwd.tallies["observer"], ball)


def electrons(a, table):
    raw = load("electrons_local.toml")
    fcfg = forward_config(raw, "sun", a.electron_particles)
    edges = sphere_edges(fcfg, "sun")
    centres = np.sqrt(edges[1:] * edges[:-1])
    print(f"\nelectrons (runs/electrons_local.toml), target {a.electron_target:.0%} per energy", flush=True)
    fwd = run("forward, 100 pc sphere 'sun' alone", fcfg)
    frow = table.add(
        "electrons", "forward sphere 0.1 kpc", a.electron_particles, fwd, "sun", a.electron_target
    )
    bcfg = backward_config(raw, centres, a.electron_paths, True)
    bwd = run(f"backward, point, {a.electron_paths} paths per energy", bcfg)
    n = int(bwd.tallies["observer"].paths.sum())
    table.add("electrons", "backward point", n, bwd, "observer", a.electron_target, frow)
    table.agreement("electrons", edges, fwd.tallies["sun"], bwd.tallies["observer"])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--proton-particles", type=int, default=100_000, help="forward protons")
    ap.add_argument("--proton-paths", type=int, default=20_000, help="backward protons: shared paths")
    ap.add_argument(
        "--ball-paths", type=int, default=20_000, help="backward protons in a 0.5 kpc ball (0: skip)"
    )
    ap.add_argument("--electron-particles", type=int, default=60_000, help="forward electrons")
    ap.add_argument("--electron-paths", type=int, default=1000, help="backward electrons: paths per energy")
    ap.add_argument("--proton-target", type=float, default=0.01)
    ap.add_argument("--electron-target", type=float, default=0.03)
    ap.add_argument("--cases", nargs="+", choices=["protons", "electrons"], default=["protons", "electrons"])
    ap.add_argument("--csv", type=Path, default=FIGURES / "observer_benchmark.csv")
    a = ap.parse_args()
    t0, c0 = time.perf_counter(), time.process_time()
    table = Table()
    if "protons" in a.cases:
        protons(a, table)
    if "electrons" in a.cases:
        electrons(a, table)
    table.print()
    print(
        "CPU→tgt: batch_cpu_s × (σ_rel/target)², σ_rel the worst (largest) or the median relative 1σ over "
        "the energies with content; ×: forward CPU→tgt / backward CPU→tgt"
    )
    table.write(a.csv, a.csv.with_name(a.csv.stem + "_agreement.csv"))
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(f"benchmark total: wall {wall:.0f} s, process CPU {cpu:.0f} s (compilation included)")


if __name__ == "__main__":
    main()
