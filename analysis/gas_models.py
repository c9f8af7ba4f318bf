"""Face-on and edge-on maps of the spiral-arm gas model (docs/gas.md), with the four arm centres.

    PYTHONPATH=. python analysis/gas_models.py [--base nakanishi_sofue] [--contrast 3] \\
        [-o docs/figures/gas_spiral.png]
"""

from __future__ import annotations

import argparse

import numpy as np


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", default="nakanishi_sofue", choices=["nakanishi_sofue", "galprop"])
    ap.add_argument("--contrast", type=float, default=3.0, help="arm/interarm contrast of HI and H2")
    ap.add_argument("--r-sun", type=float, default=8.5, help="the Sun's distance from the GC [kpc]")
    ap.add_argument("-o", "--output", default="docs/figures/gas_spiral.png")
    args = ap.parse_args()

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    from sdeprop.models import gas3d

    model = gas3d.build_gas_model("spiral_arms", base=args.base, arm_contrast=args.contrast)
    L, n = 16.0, 401
    x = np.linspace(-L, L, n)
    X, Y = np.meshgrid(x, x, indexing="xy")
    face = model.hydrogen_nuclei(np.column_stack([X.ravel(), Y.ravel(), np.zeros(X.size)])).reshape(X.shape)
    z = np.linspace(-1.0, 1.0, 201)
    XZ, ZZ = np.meshgrid(x, z, indexing="xy")
    edge_points = np.column_stack([XZ.ravel(), np.zeros(XZ.size), ZZ.ravel()])
    edge = model.hydrogen_nuclei(edge_points).reshape(XZ.shape)

    fig, (ax1, ax2) = plt.subplots(
        2, 1, figsize=(7.0, 9.6), gridspec_kw={"height_ratios": [3.2, 1.0]}, constrained_layout=True
    )
    norm = LogNorm(vmin=1e-2, vmax=max(face.max(), 1.0))
    im = ax1.pcolormesh(X, Y, np.maximum(face, 1e-3), norm=norm, cmap="cividis", shading="auto")
    rot = gas3d.STEIMAN_CAMERON_FRAME_ROTATION
    R = np.linspace(3.0, L * 1.4, 600)
    for (name, a, alpha, _), color in zip(gas3d.STEIMAN_CAMERON_ARMS, ["C1", "C2", "C3", "C0"]):
        phi = np.log(R / a) / alpha + rot  # gas3d.arm_centre_azimuth, vectorised
        ax1.plot(R * np.cos(phi), R * np.sin(phi), color=color, lw=1.0, ls="--", label=name)
    ax1.plot([-args.r_sun], [0.0], marker="*", color="w", mec="k", ms=13, ls="none", label="Sun")
    ax1.plot([0.0], [0.0], marker="+", color="w", ms=10, ls="none")
    ax1.set(xlim=(-L, L), ylim=(-L, L), xlabel="x [kpc]", ylabel="y [kpc]", aspect="equal")
    ax1.set_title(f"spiral_arms (base {args.base}, contrast {args.contrast:g}): n_H at z = 0", fontsize=10)
    ax1.legend(loc="lower right", fontsize=8, framealpha=0.8)
    fig.colorbar(im, ax=ax1, label=r"$n_\mathrm{HI} + 2n_\mathrm{H_2} + n_\mathrm{HII}$ [cm$^{-3}$]")
    im2 = ax2.pcolormesh(XZ, ZZ, np.maximum(edge, 1e-3), norm=norm, cmap="cividis", shading="auto")
    ax2.set(xlabel="x [kpc] (y = 0)", ylabel="z [kpc]")
    ax2.set_title("edge-on slice through the Sun and the Galactic Centre", fontsize=10)
    fig.colorbar(im2, ax=ax2, label=r"[cm$^{-3}$]")
    fig.savefig(args.output, dpi=110)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
