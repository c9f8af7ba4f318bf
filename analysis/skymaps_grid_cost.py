"""What a coarser tally costs an inverse-Compton map: the same electron run scored into 0.25 kpc and
0.5 kpc cartesian tallies (runs/skymaps/electrons_grid_cost.toml), IC maps from each, compared with the
batch-group 1σ of their difference.

Writes docs/figures/skymap_grid_cost.csv: per energy and sky region, the mean intensity from both
tallies, their relative difference and its 1σ (from the 8 batch groups of the difference itself), and
the rms pixel difference against the rms pixel 1σ.

    python analysis/skymaps_grid_cost.py [--nside 64] [--outputs outputs]
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np

from sdeprop.io import load_result
from sdeprop.skymap.maps import group_scatter, make_skymap
from sdeprop.skymap.regions import Box

ROOT = Path(__file__).resolve().parent.parent
ENERGIES = np.array([10.0, 100.0, 1000.0])
REGIONS = {
    "inner plane |l|<30, |b|<5": Box(330.0, 30.0, -5.0, 5.0, "inner"),
    "outer plane 150<l<210, |b|<5": Box(150.0, 210.0, -5.0, 5.0, "outer"),
    "local sky |b|>30": None,
}


def maps_of(result, tally, nside):
    """The IC map from ``tally`` with the maps of its batch groups (make_skymap keeps them)."""
    return make_skymap(result, ENERGIES, ("ic",), nside=nside, tally=tally, uncertainty="groups")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nside", type=int, default=64)
    ap.add_argument("--outputs", default=str(ROOT / "outputs"))
    a = ap.parse_args()
    result = load_result(Path(a.outputs) / "electrons_grid_cost.h5")
    fine, coarse = maps_of(result, "fine", a.nside), maps_of(result, "coarse", a.nside)
    f = fine.group_fractions  # both tallies see the same batches, so the groups pair up
    fine_groups, coarse_groups = fine.group_intensity, coarse.group_intensity
    l, b = fine.pixel_lonlat()
    rows = []
    for name, box in REGIONS.items():
        mask = np.abs(b) > 30 if box is None else box.contains(l, b)
        for k, e in enumerate(ENERGIES):
            mf, mc = fine.intensity[k, mask].mean(), coarse.intensity[k, mask].mean()
            diff_groups = (coarse_groups[:, k, mask].mean(axis=1) - fine_groups[:, k, mask].mean(axis=1)) / mf
            sigma = float(group_scatter(diff_groups, f))
            rows.append([name, f"{e:g}", f"{mf:.4g}", f"{mc:.4g}", f"{mc / mf - 1:+.4f}", f"{sigma:.4f}"])
    for k, e in enumerate(ENERGIES):
        d = (coarse.intensity[k] - fine.intensity[k]) / fine.intensity[k]
        s = group_scatter((coarse_groups[:, k] - fine_groups[:, k]) / fine.intensity[k], f)
        rows.append(["all pixels: rms relative difference / rms 1σ", f"{e:g}", "", "",
                     f"{np.sqrt(np.mean(d**2)):.4f}", f"{np.sqrt(np.mean(s**2)):.4f}"])  # fmt: skip
    path = ROOT / "docs" / "figures" / "skymap_grid_cost.csv"
    with open(path, "w", newline="") as fh:
        fh.write(
            "# IC maps of one electron run from a 0.5 kpc (coarse) and a 0.25 kpc (fine) cartesian tally\n"
        )
        fh.write("# difference = coarse/fine - 1 of the region mean\n")
        fh.write("# sigma: from the 8 batch groups of the difference itself\n")
        fh.write("# python analysis/skymaps_grid_cost.py\n")
        w = csv.writer(fh)
        w.writerow(["region", "E_GeV", "fine", "coarse", "difference", "sigma"])
        w.writerows(rows)
    for row in rows:
        print(*row, sep="  ")
    print("wrote", path)


if __name__ == "__main__":
    main()
