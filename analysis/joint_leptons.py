"""Joint fit of the local leptons: DAMPE e⁻ + e⁺ (Nature 2017) and the AMS-02 positron fraction (PRL 2019 =
Phys. Rep. 2021) at once, for the anisotropic (ε = 0.1) and the isotropic (ε = 1) runs of
runs/joint_leptons_aniso.toml and runs/joint_leptons_iso.toml (backward estimator at the Sun).

Sources and parameters (docs/fitting.md, "Leptons: DAMPE e⁻ + e⁺ and the AMS-02 positron fraction"):

* primary electrons: the power_law_cutoff family in kinetic energy, index Γ, cutoff E_c and rate free;
* every other component keeps its configured spectrum; its rate is free, except for a component whose
  name starts with "secondary" (e± from protons on gas), whose rate is fixed at the configured value
  because its normalisation follows from the proton flux and the gas, not from these data;
* one force-field potential per table (phi_dampe, phi_ams), fixed at 0.6 GV by default, or free within
  0.3-0.9 GV with --free-phi; only points above --emin (default 20 GeV) are fitted;
* --pwn-free index_high,break_value (a variant): the PWN component fitted as a broken power law with
  those shape parameters free and the others at their configured values.

    sdeprop run runs/joint_leptons_aniso.toml && sdeprop run runs/joint_leptons_iso.toml
    python analysis/joint_leptons.py [--aniso RESULT] [--iso RESULT] [--emin 20] [--free-phi]
        [--pwn-free NAMES] [--tag VARIANT]

Writes docs/figures/joint_leptons_aniso_fit.png, joint_leptons_iso_fit.png and joint_leptons.csv (with
--tag T: joint_leptons_T*.png and joint_leptons_T.csv, for variants).
"""

from __future__ import annotations

import argparse
import csv
import math
from pathlib import Path

import numpy as np

from sdeprop.fitting import JointFit
from sdeprop.fitting.model import as_result
from sdeprop.plotting.fitting import plot_joint_fit

FIGURES = Path(__file__).resolve().parents[1] / "docs" / "figures"
DAMPE, AMS = "dampe_electron_positron_2017", "ams02_positron_fraction"
TABLES = [f"{DAMPE}:phi_dampe", f"{AMS}:phi_ams"]
PHI_GV = 0.6  # fixed potential [GV]; --free-phi: bounded by PHI_BOUNDS
PHI_BOUNDS = (0.3, 0.9)
FIXED_RATE_PREFIX = "secondary"  # components whose rate follows from elsewhere (proton flux × gas)

# Borisov & Kudryashov 2025 (arXiv:2512.06972): Model A anisotropic, Model B isotropic diffusion, fitted to
# DAMPE/H.E.S.S. e⁻ + e⁺ and the AMS-02 positron fraction (values as quoted for this study)
REFERENCE = {
    "aniso": {"index": 2.169, "chi2": 27.18, "ndf": 37},
    "iso": {"index": 2.344, "chi2": 31.32, "ndf": None},
}
REFERENCE_PWN_SHARE = 0.09


def joint_fit(path, emin: float, free_phi: bool, pwn_free=()) -> JointFit:
    """The JointFit of one run: primary power_law_cutoff, components configured (secondaries' rates fixed);
    ``pwn_free``: shape parameters of the 'pwn' component released (a broken_power_law fit)."""
    result = as_result(path)
    spectra, fix, bounds = {}, {}, {"primary.cutoff": (50.0, 1.0e6)}
    for comp in result.config.components:
        spectra[comp.name] = "configured"
        if comp.name.startswith(FIXED_RATE_PREFIX):
            fix[f"{comp.name}.log10_rate_per_Myr"] = math.log10(comp.spectrum.rate_per_Myr)
        elif comp.name == "pwn" and pwn_free:
            spectra[comp.name] = "broken_power_law"
            for k in ("index_low", "index_high", "break_value", "smoothness"):
                if k not in pwn_free:
                    fix[f"pwn.{k}"] = getattr(comp.spectrum, k)
            bounds["pwn.break_value"] = (30.0, 5.0e3)
    if free_phi:
        bounds |= {"phi_dampe": PHI_BOUNDS, "phi_ams": PHI_BOUNDS}
    else:
        fix |= {"phi_dampe": PHI_GV, "phi_ams": PHI_GV}
    return JointFit(
        result,
        TABLES,
        spectrum="power_law_cutoff",
        spectra=spectra,
        fix=fix,
        bounds=bounds,
        start={"phi_dampe": PHI_GV, "phi_ams": PHI_GV},
        energy_range=(emin, 1.0e6),
    )


def pwn_share(jf: JointFit, fit) -> tuple[np.ndarray, np.ndarray, float]:
    """(E, share per DAMPE bin, share of the number flux integrated over the fitted DAMPE bins) of the
    free-rate components (the PWN) in the modulated e⁻ + e⁺ flux: the model is linear in the rates, so
    the primary-only flux is the model with those rates lowered by 30 decades."""
    p = dict(fit.parameters)
    k = [t.data.name for t in jf.terms].index(DAMPE)
    full = jf.model(p)[0][k]
    for s in jf.sources:
        if s.name != "primary" and not s.name.startswith(FIXED_RATE_PREFIX):
            p[f"{s.name}.log10_rate_per_Myr"] -= 30.0
    prim = jf.model(p)[0][k]
    ds, idx = jf.terms[k].data, jf.points[k]
    width = ds.x_hi[idx] - ds.x_lo[idx]
    share = 1.0 - prim / full
    return ds.x[idx], share, float(np.sum(share * full * width) / np.sum(full * width))


def run_one(label: str, path, args, writer):
    print(f"\n=== {label}: {path}")
    pwn_free = tuple(k for k in args.pwn_free.split(",") if k)
    jf = joint_fit(path, args.emin, args.free_phi, pwn_free)
    fit = jf.fit(minos=["primary.index", "primary.cutoff"])
    print(fit.summary())
    p, e = fit.parameters, fit.errors
    E, share, share_int = pwn_share(jf, fit)
    print("PWN share of e- + e+ at " + ", ".join(f"{x:.0f} GeV {s:.3f}" for x, s in zip(E[::6], share[::6])))
    print(f"PWN share of the e- + e+ number flux over the fitted DAMPE bins: {share_int:.3f}")
    tag = f"_{args.tag}" if args.tag else ""
    FIGURES.mkdir(parents=True, exist_ok=True)
    plot_joint_fit(fit, FIGURES / f"joint_leptons{tag}_{label}_fit.png", weight_index=3.0)
    ref = REFERENCE[label]
    for k in fit.parameters:
        lo, hi = fit.minos.get(k, (np.nan, np.nan))
        free = k in fit.free
        writer.writerow(
            [
                label,
                k,
                f"{p[k]:.6g}",
                f"{e[k]:.3g}" if free else "fixed",
                f"{lo:.3g}",
                f"{hi:.3g}",
                f"{ref['index']}" if k == "primary.index" else "",
            ]
        )
    writer.writerow([label, "chi2", f"{fit.chi2:.2f}", "", "", "", f"{ref['chi2']}"])
    writer.writerow([label, "ndf", f"{fit.ndf}", "", "", "", "" if ref["ndf"] is None else f"{ref['ndf']}"])
    for t in fit.tables:
        writer.writerow(
            [label, f"chi2_{t['name']}", f"{t['chi2']:.2f} ({len(t['value'])} points)", "", "", "", ""]
        )
        r = t["model_error"] / t["error"]  # the model's Monte Carlo error against the data's
        print(f"  {t['name']}: MC error / data error median {np.median(r):.2f}, max {r.max():.2f}")
        writer.writerow(
            [label, f"mc_over_data_error_{t['name']}", f"median {np.median(r):.2f} max {r.max():.2f}"]
            + [""] * 4
        )
    writer.writerow(
        [label, "pwn_share_dampe_integrated", f"{share_int:.4f}", "", "", "", f"{REFERENCE_PWN_SHARE}"]
    )
    writer.writerow([label, "valid_minimum", str(fit.valid), "", "", "", ""])
    return fit


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--aniso", default="outputs/joint_leptons_aniso.h5")
    ap.add_argument("--iso", default="outputs/joint_leptons_iso.h5")
    ap.add_argument("--emin", type=float, default=20.0, help="lowest kinetic energy fitted [GeV]")
    ap.add_argument("--free-phi", action="store_true", help=f"φ of each table free within {PHI_BOUNDS} GV")
    ap.add_argument("--pwn-free", default="", help="comma-separated PWN shape parameters to free")
    ap.add_argument("--tag", default="", help="suffix of the output names (variants)")
    args = ap.parse_args()
    tag = f"_{args.tag}" if args.tag else ""
    FIGURES.mkdir(parents=True, exist_ok=True)
    with open(FIGURES / f"joint_leptons{tag}.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["run", "parameter", "value", "hesse_error", "minos_lower", "minos_upper", "reference"])
        fits = {
            label: run_one(label, path, args, w) for label, path in (("aniso", args.aniso), ("iso", args.iso))
        }
        g_a, g_i = (fits[k].parameters["primary.index"] for k in ("aniso", "iso"))
        err = math.hypot(fits["aniso"].errors["primary.index"], fits["iso"].errors["primary.index"])
        ref = REFERENCE["iso"]["index"] - REFERENCE["aniso"]["index"]
        w.writerow(["iso-aniso", "delta_index", f"{g_i - g_a:.4f}", f"{err:.3g}", "", "", f"{ref:.3f}"])
    print(f"\nΔΓ = Γ_iso − Γ_aniso: {g_i - g_a:+.3f} ± {err:.3f} (HESSE, independent runs); ref. {ref:+.3f}")


if __name__ == "__main__":
    main()
