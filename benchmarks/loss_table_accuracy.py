"""Accuracy of the kernel's loss tables against direct evaluation of every process.

    python benchmarks/loss_table_accuracy.py

Random points in the halo (|z| drawn N(0, 0.3 kpc), R < 20 kpc) and energies log-uniform in
1.1 GeV – 20 TeV; UF23 field with the JF12 random amplitude.  Rows: the separable table of the
gas and radiation processes (IC with Fang KN on a spatially varying ISRF, bremsstrahlung,
Coulomb/ionisation), the proton table (ionisation/Coulomb, pion production), the δB_rms²
table of synchrotron at the default 0.2 kpc and at 0.1 kpc, and all four e± processes together.
"""

from __future__ import annotations

import numpy as np

from sdeprop.config import load_config
from sdeprop.models.losses import LossModel, kernel_loss_rate


def points(n, seed):
    rng = np.random.default_rng(seed)
    p = np.column_stack([rng.uniform(-19, 19, n), rng.uniform(-19, 19, n), rng.normal(0, 0.3, n)])
    p = p[(np.hypot(p[:, 0], p[:, 1]) < 19.9) & (np.abs(p[:, 2]) < 3.9)]
    return p, np.exp(rng.uniform(np.log(1.1), np.log(2e4), len(p)))


def compare(name, cfg, pts, e, floor):
    model = LossModel.from_config(load_config(cfg))
    direct = np.array([model.total_rate(p, [x])[0] for p, x in zip(pts, e)])
    table = kernel_loss_rate(load_config(cfg), pts, e, energy_floor_GeV=floor)
    rel = np.abs(table / direct - 1)
    print(
        f"{name:46s} {np.median(rel):10.2e} {np.percentile(rel, 95):10.2e} {rel.max():10.2e} "
        f"{table.mean() / direct.mean() - 1:+10.2e}"
    )


def main():
    base = {
        "species": {"name": "electron"},
        "energy": {"min_GeV": 10.0, "max_GeV": 2e4},
        "galaxy": {"halo_height_kpc": 4.0, "radius_max_kpc": 20.0},
        "field": {"model": "uf23"},
        "turbulence": {"model": "jf12_random"},
    }
    pts, e = points(4000, 1)
    print(
        f"{'table':46s} {'median':>10s} {'95 %':>10s} {'max':>10s} {'mean bias':>10s}  (|table/direct − 1|)"
    )
    compare(
        "e±: IC + brems + Coulomb/ion. (varying ISRF)",
        {
            **base,
            "losses": {
                "model": "galactic",
                "processes": ["inverse_compton", "bremsstrahlung", "coulomb_ionisation"],
                "isrf": {"scale_lengths_kpc": 5.0, "scale_heights_kpc": [1.0, 1.0, 2.0, 2.0, 2.0]},
            },
        },
        pts,
        e,
        1.0,
    )
    compare(
        "p: ionisation/Coulomb + pion",
        {
            "species": {"name": "proton"},
            "energy": {"min_GeV": 0.1, "max_GeV": 2e4},
            "losses": {"model": "galactic"},
        },
        pts,
        e,
        1.0,
    )
    for spacing in (0.2, 0.1):
        compare(
            f"e±: synchrotron, δB² table at {spacing} kpc",
            {
                **base,
                "losses": {
                    "model": "galactic",
                    "processes": ["synchrotron"],
                    "table_turbulence_spacing_kpc": spacing,
                },
            },
            pts,
            e,
            1.0,
        )
    compare("e±: all four (defaults)", {**base, "losses": {"model": "galactic"}}, pts, e, 1.0)


if __name__ == "__main__":
    main()
