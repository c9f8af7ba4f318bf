"""Accuracy of the precomputed field grid against direct evaluation, per spacing.

    python benchmarks/grid_accuracy.py [--models uf23,jf12,cerri17] [--spacings 0.4,0.2,0.1]

At 20 000 random points (half in the disc |z| < 0.5 kpc, half in the halo |z| < 4 kpc,
uniform in R < 20 kpc), compares the trilinearly interpolated grid (numerics.
field_grid_spacing_kpc, analytic Jacobian at the nodes) with the model itself:

* |ΔB|/|B|: relative error of the field vector (median, 95th percentile);
* |Δb|: error of the direction b = B/|B| that sets the diffusion tensor;
* |Δv|/|v|: relative error of the drift v ∝ ∇·(b bᵀ) (median, 95th percentile over points
  where |v| is at least 1 % of its median, which excludes v ≈ 0 points).

Memory: 96 bytes per node (12 float64); 0.1 kpc over 40 × 40 × 8 kpc is 1.25 GB.
The throughput side of the trade-off is `python benchmarks/fields.py --spacing S`.
"""

from __future__ import annotations

import argparse

import numpy as np

from sdeprop.config import load_config
from sdeprop.models.field import evaluate_field

FIELDS = {
    "uf23": {"model": "uf23", "variant": "base"},
    "jf12": {"model": "jf12"},
    "jf12_solenoidal": {"model": "jf12_solenoidal"},
    "pt11": {"model": "pt11"},
    "cerri17": {"model": "cerri17"},
    "cerri_toy": {"model": "cerri_toy"},
}
BOX = (20.0, 20.0, 4.0)
FLOOR = 1e-3  # μG, numerics.field_floor_uG default


def points(n, rng):
    r = 20.0 * np.sqrt(rng.random(n))
    phi = 2 * np.pi * rng.random(n)
    z = np.where(np.arange(n) < n // 2, rng.uniform(-0.5, 0.5, n), rng.uniform(-4.0, 4.0, n))
    return np.c_[r * np.cos(phi), r * np.sin(phi), z]


def direction_and_drift(B, J):
    M = np.sqrt((B**2).sum(1) + FLOOR**2)
    b = B / M[:, None]
    g = np.einsum("nik,nk->ni", J, b)
    G = (J - b[:, None, :] * g[:, :, None]) / M[:, None, None]  # G_ij = ∂_i b_j
    v = b * np.einsum("nii->n", G)[:, None] + np.einsum("ni,nij->nj", b, G)
    return b, v


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="uf23,jf12,cerri17")
    ap.add_argument("--spacings", default="0.4,0.2,0.1")
    ap.add_argument("--points", type=int, default=20000)
    args = ap.parse_args()
    pts = points(args.points, np.random.default_rng(7))
    print(
        "| model | spacing [kpc] | grid [GB] | abs(ΔB)/abs(B) median / 95 % | abs(Δb) median / 95 % | "
        "abs(Δv)/abs(v) median / 95 % |"
    )
    print("|---|---|---|---|---|---|")
    for name in args.models.split(","):
        cfg = load_config({"field": FIELDS[name]}).field
        B0, J0 = evaluate_field(cfg, pts)
        b0, v0 = direction_and_drift(B0, J0)
        for s in (float(v) for v in args.spacings.split(",")):
            B1, J1 = evaluate_field(cfg, pts, grid_spacing_kpc=s, box_kpc=BOX)
            b1, v1 = direction_and_drift(B1, J1)
            nb = np.linalg.norm(B0, axis=1)
            ok = nb > 0.01 * np.median(nb)
            eB = np.linalg.norm(B1 - B0, axis=1)[ok] / nb[ok]
            eb = np.linalg.norm(b1 - b0, axis=1)
            nv = np.linalg.norm(v0, axis=1)
            okv = nv > 0.01 * np.median(nv)
            ev = np.linalg.norm(v1 - v0, axis=1)[okv] / nv[okv]
            gb = 96 * np.prod([int(np.ceil(2 * m / s)) + 1 for m in BOX]) / 1e9
            q = lambda a: f"{np.median(a):.2g} / {np.percentile(a, 95):.2g}"
            print(f"| {name} | {s} | {gb:.2f} | {q(eB)} | {q(eb)} | {q(ev)} |", flush=True)


if __name__ == "__main__":
    main()
