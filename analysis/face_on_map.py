"""Face-on map of a cartesian tally (e.g. the 'disc' tally of runs/uf23_protons.toml), with
the coherent field's lines at z = 0 drawn over it.

    python analysis/face_on_map.py outputs/uf23_protons.h5 --tally disc --energy 100 -o disc.png
"""

from __future__ import annotations

import argparse

import numpy as np


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("result")
    ap.add_argument("--tally", default="disc")
    ap.add_argument("--energy", type=float, default=100.0, help="kinetic energy [GeV]; the bin containing it")
    ap.add_argument("-o", "--output", default="face_on.png")
    args = ap.parse_args()

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    import sdeprop
    from sdeprop.io import read_field_grid
    from sdeprop.models.field import evaluate_field

    res = sdeprop.load_result(args.result)
    tally = res.tallies[args.tally]
    if tally.kind != "cartesian":
        raise SystemExit(f"tally '{args.tally}' is {tally.kind}, not cartesian")
    e_edges = tally.edges["E_GeV"]
    k = int(np.clip(np.searchsorted(e_edges, args.energy) - 1, 0, len(e_edges) - 2))
    xe, ye, ze = tally.edges["x_kpc"], tally.edges["y_kpc"], tally.edges["z_kpc"]
    dz = np.diff(ze)
    dens = (tally.density[..., k] * dz).sum(axis=2) / dz.sum()  # average over the z slab
    err = np.sqrt((tally.uncertainty[..., k] ** 2 * dz**2).sum(axis=2)) / dz.sum()

    # field lines of the run's coherent field in the mid-plane
    xs = np.linspace(xe[0], xe[-1], 121)
    ys = np.linspace(ye[0], ye[-1], 121)
    X, Y = np.meshgrid(xs, ys, indexing="xy")
    B, _ = evaluate_field(
        res.config.field,
        np.c_[X.ravel(), Y.ravel(), np.zeros(X.size)],
        grid_file=read_field_grid(res.config.field),
    )
    bx, by = B[:, 0].reshape(X.shape), B[:, 1].reshape(X.shape)

    fig, axes = plt.subplots(1, 2, figsize=(13, 5.4), constrained_layout=True)
    pos = dens[dens > 0]
    im = axes[0].pcolormesh(
        xe, ye, dens.T, norm=LogNorm(vmin=pos.min() if pos.size else 1e-30, vmax=dens.max()), cmap="viridis"
    )
    axes[0].streamplot(xs, ys, bx, by, color="white", linewidth=0.4, density=1.0, arrowsize=0.5)
    fig.colorbar(im, ax=axes[0], label="n [kpc⁻³ GeV⁻¹]")
    rel = np.where(dens > 0, err / np.where(dens > 0, dens, 1), np.nan)
    im2 = axes[1].pcolormesh(xe, ye, rel.T, vmin=0, vmax=0.5, cmap="magma")
    fig.colorbar(im2, ax=axes[1], label="relative 1σ error")
    sun = res.config.galaxy.sun_position_kpc
    for ax, title in zip(
        axes,
        (f"density, {e_edges[k]:.3g}–{e_edges[k + 1]:.3g} GeV, |z| < {ze[-1]:g} kpc", "statistical error"),
    ):
        ax.plot(sun[0], sun[1], "r*", ms=10)
        ax.set(xlabel="x [kpc]", ylabel="y [kpc]", title=title, aspect="equal")
    fig.suptitle(f"{res.config.run.name}: field {res.config.field.model}")
    fig.savefig(args.output, dpi=110)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
