"""Sky-map cost: a full-sky HEALPix map from a cartesian tally, line of sight and emissivities timed apart.

The density is synthetic (a smooth proton distribution with an E^-2.8 spectrum on a 0.25 kpc grid,
160 × 160 × 32 cells, 40 energy bins) so that the benchmark needs no run; the emissivities are the
π⁰-decay matrices on the GALPROP gas, exactly as ``sdeprop skymap`` makes them.  Prints the wall time
of each stage and the peak resident memory.

    python benchmarks/skymap.py [--nside 128] [--energies 20] [--cell 0.25] [--oversampling 2]
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np

from sdeprop.emission import pion_decay_matrix
from sdeprop.models.gas3d import build_gas_model
from sdeprop.skymap.grid import Channel, TallyGrid, integrate
from sdeprop.skymap.pixels import healpix_rays


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nside", type=int, default=128)
    ap.add_argument("--energies", type=int, default=20)
    ap.add_argument("--cell", type=float, default=0.25, help="tally cell [kpc]")
    ap.add_argument("--oversampling", type=float, default=2.0)
    a = ap.parse_args()
    nx, nz = int(round(40 / a.cell)), int(round(8 / a.cell))
    grid = TallyGrid(
        "cartesian", (np.linspace(-20, 20, nx + 1), np.linspace(-20, 20, nx + 1), np.linspace(-4, 4, nz + 1))
    )
    edges = np.geomspace(10.0, 1e7, 41)
    e_gamma = np.geomspace(100.0, 1e5, a.energies)
    X, Y, Z = np.meshgrid(*[0.5 * (e[1:] + e[:-1]) for e in grid.edges], indexing="ij")
    shape = np.exp(-np.hypot(X, Y) / 5.0 - np.abs(Z) / 2.0).reshape(-1, 1)
    t0 = time.perf_counter()
    m = pion_decay_matrix(edges, e_gamma)
    centres = np.sqrt(edges[1:] * edges[:-1])
    density = shape * (centres / 10.0) ** -2.8  # kpc⁻³ GeV⁻¹ (arbitrary normalisation)
    q = m.apply(density)
    ch = Channel(q, 0.01 * q, "gas")
    t1 = time.perf_counter()
    rays = healpix_rays(a.nside)
    gas = build_gas_model("galprop")
    integrate(grid, [ch], [-8.5, 0.0, 0.0], healpix_rays(1, [0]), gas=gas)  # compile outside the timing
    t2 = time.perf_counter()
    I, S = integrate(grid, [ch], [-8.5, 0.0, 0.0], rays, gas=gas, oversampling=a.oversampling)
    t3 = time.perf_counter()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"grid {grid.shape} cells of {a.cell} kpc, {len(edges) - 1} particle bins, {a.energies} γ energies")
    print(f"emissivities (matrix build + apply): {t1 - t0:.1f} s")
    print(
        f"line of sight, nside {a.nside} ({rays.n_pixels} pixels, oversampling {a.oversampling}): "
        f"{t3 - t2:.1f} s"
    )
    print(f"peak resident memory: {peak:.2f} GiB; finite: {np.isfinite(I).all()}, min {I.min():.3g}")


if __name__ == "__main__":
    main()
