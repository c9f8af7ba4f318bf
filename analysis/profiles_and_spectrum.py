"""Radial and vertical profiles and the local spectrum from an sdeprop result.

    python analysis/profiles_and_spectrum.py outputs/quickstart.h5 [--energy 10] [--out DIR]

Writes DIR/<stem>_profiles.png and DIR/<stem>_tables.csv: n(R) at z = 0 and n(z) at
R_sun for the energy bin nearest --energy (GeV), from the first cylindrical tally, and the
spectrum at the Sun (Result.local_spectrum), each with its 1σ statistical error.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import sdeprop  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("result")
    ap.add_argument("--energy", type=float, default=10.0, help="energy of the profiles [GeV]")
    ap.add_argument("--out", default=None, help="output folder (default: next to the result)")
    args = ap.parse_args()
    res = sdeprop.load_result(args.result)
    out = Path(args.out) if args.out else Path(args.result).parent
    out.mkdir(parents=True, exist_ok=True)
    stem = Path(args.result).stem
    cyl = next(t for t in res.tallies.values() if t.kind == "cylindrical")
    e = cyl.centers("E_GeV")
    ie = int(np.argmin(np.abs(np.log(e / args.energy))))
    r_c, z_c = cyl.centers("R_kpc"), cyl.centers("z_kpc")
    iz0 = int(np.argmin(np.abs(z_c)))
    sun = np.asarray(res.config.galaxy.sun_position_kpc)
    ir = int(np.searchsorted(cyl.edges["R_kpc"], np.hypot(sun[0], sun[1]), side="right") - 1)
    n, dn = cyl.density[..., ie], cyl.uncertainty[..., ie]
    es, ns, dns = res.local_spectrum()

    fig, ax = plt.subplots(1, 3, figsize=(14, 4), constrained_layout=True)
    ax[0].errorbar(r_c, n[:, iz0], dn[:, iz0], fmt="o", ms=3)
    ax[0].set(
        xlabel="R [kpc]",
        ylabel=r"n [kpc$^{-3}$ GeV$^{-1}$]",
        yscale="log",
        title=f"z = {z_c[iz0]:.2f} kpc, E = {e[ie]:.3g} GeV",
    )
    ax[1].errorbar(z_c, n[ir], dn[ir], fmt="o", ms=3)
    ax[1].set(xlabel="z [kpc]", yscale="log", title=f"R = {r_c[ir]:.2f} kpc")
    ok = ns > 0
    ax[2].errorbar(es[ok], (es**2.7 * ns)[ok], (es**2.7 * dns)[ok], fmt="o", ms=3)
    ax[2].set(xscale="log", yscale="log", xlabel="E [GeV]", ylabel=r"E$^{2.7}$ n", title="at the Sun")
    fig.savefig(out / f"{stem}_profiles.png", dpi=110)
    with open(out / f"{stem}_tables.csv", "w") as f:
        f.write(f"# {args.result}: energy bin {e[ie]:.4g} GeV; densities in kpc^-3 GeV^-1\n")
        f.write("quantity,coordinate,density,uncertainty\n")
        for x, a, b in zip(r_c, n[:, iz0], dn[:, iz0]):
            f.write(f"n(R)@z={z_c[iz0]:.3g},{x:.4g},{a:.6e},{b:.3e}\n")
        for x, a, b in zip(z_c, n[ir], dn[ir]):
            f.write(f"n(z)@R={r_c[ir]:.3g},{x:.4g},{a:.6e},{b:.3e}\n")
        for x, a, b in zip(es, ns, dns):
            f.write(f"n(E)@sun,{x:.4g},{a:.6e},{b:.3e}\n")
    print(f"wrote {out / f'{stem}_profiles.png'} and {out / f'{stem}_tables.csv'}")


if __name__ == "__main__":
    main()
