"""The two-halo model against a conventional one: the local proton spectrum hardens above ~1 TeV, and
primary electrons harden above ~10 GeV (docs/transport.md, "The two-halo model").

    sdeprop run runs/two_halo_protons.toml
    sdeprop run runs/conventional_protons.toml
    sdeprop run runs/two_halo_electrons.toml          (optional, with conventional_electrons.toml)
    python analysis/two_halo.py [--outputs outputs] [--out docs/figures]

For each result: the spectrum in the solar-ring tally ("sun_ring"), its local index
α(E) = −d ln n/d ln E from weighted straight-line fits over sliding windows of ``--window`` bins, with
the errors of the fit (bins are independent histories-averaged estimates; their Monte Carlo errors are
taken as uncorrelated between energy bins, which the per-history moments of one particle spanning
several bins make slightly optimistic), and the index change between a low and a high window.  For the
protons the one-dimensional estimate of the two-halo model, the column at the plane of an infinite slab,

    N0 ∝ ρ^−ν ∫_0^L dz/D(z, ρ),   ρ = R/R0

(→ ξ ρ^(−ν−δ0) + (1 − ξ) ρ^(−ν−δ0−Δ), ξ = ξL/L, for a sharp transition)
is drawn for its shape (normalised to the simulation at 100 GeV): it neglects reacceleration and the
radial structure of the galaxy and its sources, and tends to index ν + δ0 at high energy.
Writes <out>/two_halo.png and <out>/two_halo.csv, and prints the table of index changes.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from scipy import integrate  # noqa: E402

import sdeprop  # noqa: E402
from sdeprop.slopes import fit_power_law  # noqa: E402
from sdeprop.spectra import spectrum_from_config  # noqa: E402
from sdeprop.units import PROTON_MASS_GEV  # noqa: E402

RUNS = ("two_halo_protons", "conventional_protons", "two_halo_electrons", "conventional_electrons")
#: (low, high) energy windows [GeV] of the index change, per species
WINDOWS = {"proton": ((10.0, 200.0), (2.0e3, 5.0e4)), "electron": ((8.0, 40.0), (50.0, 500.0))}


def ring_spectrum(res, tally="sun_ring"):
    """(E [GeV], n, σ_n) in the tally's single (R, z) cell, for the run's own injection spectrum."""
    t = res.tallies[tally]
    d = t.reweight(spectrum_from_config(res.config.spectrum))
    return t.centers("E_GeV"), d.density[0, 0, :], d.uncertainty[0, 0, :]


def slope(e, n, dn, lo, hi):
    """Weighted least-squares slope of ln n against ln E over lo ≤ E ≤ hi: (α = −slope, σ_α)."""
    m = (e >= lo) & (e <= hi) & (n > 0) & (dn > 0)
    if m.sum() < 2:
        return math.nan, math.nan
    alpha, sigma = fit_power_law(e[m], n[m], dn[m])[:2]
    return float(alpha), float(sigma)


def local_index(e, n, dn, window):
    """α(E) from fits over ``window`` adjacent bins: (centres, α, σ_α)."""
    out = []
    for i in range(len(e) - window + 1):
        a, s = slope(e[i : i + window], n[i : i + window], dn[i : i + window], 0.0, math.inf)
        out.append((math.exp(np.mean(np.log(e[i : i + window]))), a, s))
    return np.array(out).T if out else np.zeros((3, 0))


def one_dimensional_estimate(cfg, e):
    """The slab column at the plane, ρ^−ν ∫_0^L dz/D(z, ρ) with the configured δ(z) (smooth or sharp), per
    unit kinetic energy (arbitrary normalisation).  For the sharp model it is the two-halo estimate
    ξ ρ^(−ν−δ0) + (1 − ξ) ρ^(−ν−δ0−Δ) times L/D0; tests/physics/test_transport_terms.py checks that the
    kernel reproduces it in a slab."""
    dc, th = cfg.diffusion, cfg.diffusion.two_halo
    m = PROTON_MASS_GEV
    p = np.sqrt(e * (e + 2 * m))
    rho = p / dc.reference_rigidity_GV
    h, big = th.inner_half_thickness_kpc, cfg.galaxy.halo_height_kpc
    n = math.inf if th.sharp else th.transition_index

    def column(r):
        def inverse_d(z):
            u = 1.0 if z >= h else (0.0 if math.isinf(n) else (z / h) ** n)
            return r ** (-(dc.delta_par + th.delta_change * u))

        return integrate.quad(inverse_d, 0.0, big, points=[h], limit=200)[0]

    col = np.array([column(r) for r in rho])
    return col * rho ** (-cfg.spectrum.index) * (e + m) / p  # per unit rigidity → per unit E: dR/dE = E_tot/p


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--outputs", default="outputs", help="folder with the runs' HDF5 results")
    ap.add_argument("--out", default="docs/figures", help="folder for the figure and the table")
    ap.add_argument("--window", type=int, default=4, help="bins per local-index fit")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    found = {name: Path(args.outputs) / f"{name}.h5" for name in RUNS}
    found = {k: v for k, v in found.items() if v.exists()}
    if not found:
        raise SystemExit(f"no results in {args.outputs}: run the configurations in runs/ first")
    fig, ax = plt.subplots(1, 2, figsize=(12, 4.5), constrained_layout=True)
    rows = ["run,species,low_window_GeV,alpha_low,err_low,high_window_GeV,alpha_high,err_high,change,err"]
    print(f"{'run':24s} {'α low':>14s} {'α high':>14s} {'Δα':>14s}")
    for name, path in found.items():
        res = sdeprop.load_result(path)
        species = res.config.species.name
        e, n, dn = ring_spectrum(res)
        power = 2.7 if species == "proton" else 3.0
        ok = n > 0
        line = ax[0].errorbar(e[ok], (e**power * n)[ok], (e**power * dn)[ok], fmt="o-", ms=3, label=name)
        if name == "two_halo_protons":
            # normalised at the bin nearest 100 GeV (the lowest bins feel the injection's lower edge)
            est = one_dimensional_estimate(res.config, e)
            k = int(np.argmin(np.abs(np.log(e / 100.0))))
            ax[0].plot(
                e, e**power * est * n[k] / est[k], ":", color=line[0].get_color(), label="1D estimate (shape)"
            )
        xc, a, s = local_index(e, n, dn, args.window)
        ax[1].errorbar(xc, a, s, fmt="o-", ms=3, label=name)
        (l0, l1), (h0, h1) = WINDOWS[species]
        al, sl = slope(e, n, dn, l0, l1)
        ah, sh = slope(e, n, dn, h0, h1)
        change, err = al - ah, math.hypot(sl, sh)
        print(f"{name:24s} {al:7.3f} ± {sl:5.3f} {ah:7.3f} ± {sh:5.3f} {change:7.3f} ± {err:5.3f}")
        rows.append(
            f"{name},{species},{l0}-{l1},{al:.4f},{sl:.4f},{h0}-{h1},{ah:.4f},{sh:.4f},{change:.4f},{err:.4f}"
        )
    ax[0].set(
        xscale="log",
        yscale="log",
        xlabel="E [GeV]",
        ylabel=r"E$^{2.7}$ n (protons), E$^3$ n (e$^-$)",
        title="solar ring, 7.3 < R < 9.3 kpc, |z| < 0.3 kpc",
    )
    ax[1].set(xscale="log", xlabel="E [GeV]", ylabel=r"local index $\alpha = -d\ln n/d\ln E$")
    for a in ax:
        a.legend(fontsize=8)
    fig.savefig(out / "two_halo.png", dpi=110)
    (out / "two_halo.csv").write_text("\n".join(rows) + "\n")
    print(f"wrote {out / 'two_halo.png'} and {out / 'two_halo.csv'}")


if __name__ == "__main__":
    main()
