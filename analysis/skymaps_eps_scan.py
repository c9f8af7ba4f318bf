"""Hadronic γ-ray skies of the UF23 ε scan: maps at 1 TeV, ratio maps, region spectra against LHAASO.

Reads outputs/uf23_eps1.h5, uf23_eps01.h5, uf23_eps001.h5 (runs/skymaps/uf23_eps*.toml: protons in
the UF23 base field, D⊥ = ε D∥ with ε = 0.1, 0.01, 0.001) and writes to docs/figures/:

* skymap_uf23_eps<tag>_1TeV.png  the π⁰-decay sky at 1 TeV (GALPROP gas, nuclear enhancement);
* skymap_uf23_ratio_<tag>_1TeV.png  ε/0.1 ratio maps;
* skymap_uf23_regions.png  E^2.7 I of the LHAASO inner and outer strips for each ε, with the
  LHAASO-KM2A 2023 points;
* skymap_uf23_eps_scan.csv  region means at 1 TeV and 100 TeV with their errors, and the ratios;
* skymap_uf23_replicas.csv  where replicas of the ε = 0.1 run exist (outputs/uf23_eps1_seed*.h5, made
  with  sdeprop run runs/skymaps/uf23_eps1.toml --set run.seed=... --set run.name=uf23_eps1_seedN),
  the region means' 1σ from the replicas' scatter beside the per-cell bound.

Normalisation: each run's maps are scaled so that its proton density at the Sun (the tally cells
within 1 kpc of it) matches the DAMPE 2019 proton flux between 1 and 10 TeV (n = 4π J/(βc)), the
usual practice; the runs' own rate_per_Myr drops out.  The ε-ratio maps therefore compare skies that
agree at the Sun.

    python analysis/skymaps_eps_scan.py [--nside 64] [--outputs outputs]
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from sdeprop.fitting import load_data  # noqa: E402
from sdeprop.io import load_result  # noqa: E402
from sdeprop.plotting.skymap import plot_ratio, plot_sky  # noqa: E402
from sdeprop.skymap.data import load_diffuse_spectrum  # noqa: E402
from sdeprop.skymap.maps import make_skymap  # noqa: E402
from sdeprop.skymap.regions import NAMED_REGIONS  # noqa: E402
from sdeprop.units import KPC_CM, SPEED_OF_LIGHT_CM_PER_S  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
FIG = ROOT / "docs" / "figures"
RUNS = {"0.1": "uf23_eps1", "0.01": "uf23_eps01", "0.001": "uf23_eps001"}
REGIONS = ("lhaaso_inner", "lhaaso_outer", "tibet_inner", "tibet_outer")
ENERGIES = np.geomspace(1e3, 1e6, 13)  # 1 TeV … 1 PeV, the range the 1 TeV–10 PeV protons cover


M_PER_KPC = KPC_CM / 100.0
C_M_PER_S = SPEED_OF_LIGHT_CM_PER_S / 100.0


def local_scale(result, tally="galaxy3d", radius_kpc=1.0) -> float:
    """Factor that brings the run's proton density at the Sun (cells within ``radius_kpc``), 1–10 TeV, to
    DAMPE 2019: the mean over those energy bins of n_DAMPE/n_run, with n_DAMPE = 4π J/c (β = 1)."""
    t = result.tallies[tally]
    sun = np.asarray(result.config.galaxy.sun_position_kpc)
    centres = np.meshgrid(*[t.centers(a) for a in ("x_kpc", "y_kpc", "z_kpc")], indexing="ij")
    near = np.sqrt(sum((c - s) ** 2 for c, s in zip(centres, sun))) < radius_kpc
    e = t.centers("E_GeV")
    model = t.density[near].mean(axis=0)  # kpc⁻³ GeV⁻¹
    dampe = load_data("dampe_proton_2019")
    flux = np.exp(np.interp(np.log(e), np.log(dampe.x), np.log(dampe.value)))  # m⁻² s⁻¹ sr⁻¹ GeV⁻¹
    measured = 4 * np.pi * flux / C_M_PER_S * M_PER_KPC**3  # kpc⁻³ GeV⁻¹
    band = (e > 1e3) & (e < 1e4)
    return float(np.mean(measured[band] / model[band]))


def replica_check(outputs: Path, nside: int) -> None:
    """Region means of the ε = 0.1 replicas: 1σ of one run from their scatter against its per-cell bound."""
    from sdeprop.skymap.maps import combine_replicas

    paths = [outputs / "uf23_eps1.h5"] + sorted(outputs.glob("uf23_eps1_seed*.h5"))
    if len(paths) < 3:
        return
    skies = [make_skymap(load_result(p), ENERGIES, ("pp",), nside=nside) for p in paths]
    combined = combine_replicas(skies)
    k = len(skies)
    path = FIG / "skymap_uf23_replicas.csv"
    with open(path, "w", newline="") as f:
        f.write(
            f"# {k} runs of runs/skymaps/uf23_eps1.toml with other seeds; relative 1σ of ONE run's region\n"
        )
        f.write(
            "# mean: from the replicas' scatter (sample std) and the per-cell upper bound (mean over runs)\n"
        )
        w = csv.writer(f)
        w.writerow(["region", "E_GeV", "replica_sigma_rel", "bound_rel", "ratio"])
        for region in REGIONS:
            means = np.array([s.region_spectrum(NAMED_REGIONS[region]).intensity for s in skies])
            bounds = np.array([s.region_spectrum(NAMED_REGIONS[region]).uncertainty for s in skies])
            mean = combined.region_spectrum(NAMED_REGIONS[region]).intensity
            scatter = means.std(axis=0, ddof=1) / mean
            bound = bounds.mean(axis=0) / mean
            for j in (0, 8):
                e = ENERGIES[j]
                w.writerow(
                    [
                        region,
                        f"{e:.4g}",
                        f"{scatter[j]:.4f}",
                        f"{bound[j]:.4f}",
                        f"{scatter[j] / bound[j]:.3f}",
                    ]
                )
                print(f"{region} {e:.3g} GeV: replica σ {scatter[j]:.3%}, bound {bound[j]:.3%}")
    print("wrote", path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nside", type=int, default=64)
    ap.add_argument("--outputs", default=str(ROOT / "outputs"))
    a = ap.parse_args()
    FIG.mkdir(parents=True, exist_ok=True)
    skies = {}
    for eps, name in RUNS.items():
        path = Path(a.outputs) / f"{name}.h5"
        if not path.is_file():
            print(f"missing {path}: run  sdeprop run runs/skymaps/{name}.toml")
            continue
        t0 = time.perf_counter()
        result = load_result(path)
        sky = make_skymap(result, ENERGIES, ("pp",), nside=a.nside)
        scale = local_scale(result)
        sky.intensity, sky.uncertainty = sky.intensity * scale, sky.uncertainty * scale
        skies[eps] = sky
        took = time.perf_counter() - t0
        print(f"ε = {eps}: {result.counts['injected']} protons, map in {took:.1f} s, ×{scale:.3g} (DAMPE)")
        print(
            "wrote", plot_sky(skies[eps], FIG / f"skymap_{name}_1TeV.png", 0, f"π⁰-decay γ, 1 TeV, ε = {eps}")
        )
    if "0.1" in skies:
        for eps in ("0.01", "0.001"):
            if eps in skies:
                tag = RUNS[eps].removeprefix("uf23_")
                title = f"ratio ε = {eps} / ε = 0.1 at 1 TeV"
                print(
                    "wrote",
                    plot_ratio(skies[eps], skies["0.1"], FIG / f"skymap_uf23_ratio_{tag}_1TeV.png", 0, title),
                )
    rows = []
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8), constrained_layout=True, sharey=True)
    for ax, region, data in zip(axes, ("lhaaso_inner", "lhaaso_outer"), ("inner", "outer")):
        meas = load_diffuse_spectrum(f"lhaaso_diffuse_{data}_2023")
        w = meas.energies_GeV**2.7
        err = (w * meas.error_lo, w * meas.error_hi)
        ax.errorbar(
            meas.energies_GeV, w * meas.intensity, yerr=err, fmt="ko", ms=4, label="LHAASO-KM2A 2023 (masked)"
        )
        for k, (eps, sky) in enumerate(skies.items()):
            sp = sky.region_spectrum(NAMED_REGIONS[region])
            w = sp.energies_GeV**2.7
            ax.plot(sp.energies_GeV, w * sp.intensity, color=f"C{k}", label=f"ε = {eps} (protons only)")
            lo, hi = w * (sp.intensity - sp.uncertainty), w * (sp.intensity + sp.uncertainty)
            ax.fill_between(sp.energies_GeV, lo, hi, color=f"C{k}", alpha=0.25, lw=0)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("E [GeV]")
        ax.set_title(NAMED_REGIONS[region].describe())
    axes[0].set_ylabel("E^2.7 I [GeV^1.7 cm⁻² s⁻¹ sr⁻¹]")
    axes[0].legend(fontsize=8)
    path = FIG / "skymap_uf23_regions.png"
    fig.savefig(path, dpi=110)
    print("wrote", path)
    for eps, sky in skies.items():
        for region in REGIONS:
            sp = sky.region_spectrum(NAMED_REGIONS[region])
            for k in (0, 8):  # 1 TeV and 100 TeV
                ref = skies["0.1"].region_spectrum(NAMED_REGIONS[region]) if "0.1" in skies else sp
                e, i, u = sp.energies_GeV[k], sp.intensity[k], sp.uncertainty[k]
                rows.append([eps, region, f"{e:.4g}", f"{i:.4g}", f"{u:.2g}", f"{i / ref.intensity[k]:.3f}"])
    replica_check(Path(a.outputs), a.nside)
    path = FIG / "skymap_uf23_eps_scan.csv"
    with open(path, "w", newline="") as f:
        f.write("# region means of the π⁰-decay intensity [GeV^-1 cm^-2 s^-1 sr^-1]\n")
        f.write("# error: upper-bound 1 sigma\n")
        f.write("# ratio: to the same region at epsilon = 0.1.  python analysis/skymaps_eps_scan.py\n")
        w = csv.writer(f)
        w.writerow(["epsilon", "region", "E_GeV", "intensity", "uncertainty", "ratio_to_eps0.1"])
        w.writerows(rows)
    print("wrote", path)
    for row in rows:
        print(*row)


if __name__ == "__main__":
    main()
