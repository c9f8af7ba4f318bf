"""Joint fit of the proton spectrum at Earth: AMS-02 (Phys. Rep. 2021), DAMPE (2019), CALET (2019) and
CREAM-III (2017) at once, a smooth broken power law in momentum injected by the run of
runs/joint_protons.toml (backward estimator at the Sun), each experiment with its own force-field φ
(fixed at 0.6 GV: above 100 GeV modulation changes the flux by < 1 %).  Reports the break and the index
change with MINOS (profile-likelihood) errors, the Δχ² profile of the break, and a figure.

    sdeprop run runs/joint_protons.toml
    python analysis/joint_protons.py [RESULT] [--emin 600]

Writes docs/figures/joint_protons_fit.png, joint_protons_profile.png and joint_protons.csv.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np

from sdeprop.fitting import JointFit
from sdeprop.plotting.fitting import plot_joint_fit

TABLES = ["ams02_proton_physrep2021", "dampe_proton_2019", "calet_proton_2019", "cream3_proton_2017"]
FIGURES = Path(__file__).resolve().parents[1] / "docs" / "figures"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("result", nargs="?", default="outputs/joint_protons.h5")
    ap.add_argument("--emin", type=float, default=600.0, help="lowest kinetic energy fitted [GeV]")
    args = ap.parse_args()
    jf = JointFit(
        args.result,
        TABLES,
        spectrum="broken_power_law",
        fix={f"phi_{t}": 0.6 for t in TABLES},
        start={"primary.break_value": 1.5e4},
        bounds={"primary.break_value": (2.0e3, 2.0e5)},
        energy_range=(args.emin, 1.0e6),
    )
    fit = jf.fit(minos=["primary.index_low", "primary.index_high", "primary.break_value"])
    print(fit.summary())
    p, e = fit.parameters, fit.errors
    # the index change and its error from the covariance (both indices free)
    i_lo, i_hi = fit.free.index("primary.index_low"), fit.free.index("primary.index_high")
    var = fit.covariance[i_lo, i_lo] + fit.covariance[i_hi, i_hi] - 2 * fit.covariance[i_lo, i_hi]
    change = p["primary.index_high"] - p["primary.index_low"]
    print(
        f"index change {change:+.3f} ± {np.sqrt(var):.3f} at a break of {p['primary.break_value']:.3g} GeV/c"
    )
    FIGURES.mkdir(parents=True, exist_ok=True)
    plot_joint_fit(fit, FIGURES / "joint_protons_fit.png", weight_index=2.7)
    x, dchi2 = jf.profile("primary.break_value", size=25, bound=(3.0e3, 1.5e5))
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.6), constrained_layout=True)
    ax.plot(x, dchi2, "o-", ms=3)
    ax.axhline(1.0, color="k", lw=0.8, ls="--")
    ax.set(
        xscale="log",
        xlabel="break momentum [GeV/c]",
        ylabel="Δχ² (others re-minimised)",
        title="profile of the break",
    )
    fig.savefig(FIGURES / "joint_protons_profile.png", dpi=110)
    with open(FIGURES / "joint_protons.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["parameter", "value", "hesse_error", "minos_lower", "minos_upper"])
        for k in fit.free:
            lo, hi = fit.minos.get(k, (np.nan, np.nan))
            w.writerow([k, f"{p[k]:.6g}", f"{e[k]:.3g}", f"{lo:.3g}", f"{hi:.3g}"])
        w.writerow(["index_change", f"{change:.4f}", f"{np.sqrt(var):.3g}", "", ""])
        w.writerow(["chi2/ndf", f"{fit.chi2:.2f}/{fit.ndf}", "", "", ""])


if __name__ == "__main__":
    main()
