"""``sdeprop secondaries PROTONS.h5 --tally T -o FILE.h5``: the secondary e± source of a proton run.

Computes q(x, E) on the tally's cells (``emission.secondary_source``), writes it as a gridded source file
with an energy axis and prints the ``[[components]]`` table that transports these leptons in a lepton
run (docs/emission.md, "Secondary e± from the proton sea")."""

from __future__ import annotations

import numpy as np

from . import args as common


def add_parser(subparsers):
    p = subparsers.add_parser(
        "secondaries", help="the secondary e± source of a proton run, as a gridded source and component"
    )
    p.add_argument("result", help="proton result file (HDF5) with a cylindrical or cartesian tally")
    p.add_argument("--tally", required=True, help="the proton tally (cylindrical or cartesian)")
    p.add_argument("--gas", default="galprop", help="gas model (models/gas3d.py; default galprop)")
    p.add_argument(
        "--species",
        choices=("positron", "electron", "both"),
        default="positron",
        help="positron or electron (split by the Moskalenko & Strong 1998 share) or both",
    )
    p.add_argument(
        "--positron-fraction", type=float, help="a fixed e⁺/(e⁺ + e⁻) instead of the energy-dependent one"
    )
    p.add_argument("--energy-min", type=float, required=True, help="lowest lepton energy [GeV]")
    p.add_argument("--energy-max", type=float, required=True, help="highest lepton energy [GeV]")
    p.add_argument("--points", type=int, default=25, help="lepton energies, log-spaced (default 25)")
    p.add_argument("--name", help="component name (default secondary_<species>s)")
    common.add_output_option(p, "output HDF5 of the gridded source (required)")
    return p


def main(args):
    from ..emission.secondary_source import component_table, secondary_source, write_secondary_source
    from ..io import load_result

    if not args.output:
        raise ValueError("-o/--output FILE.h5 is required (the gridded source the component reads)")
    if not 0 < args.energy_min < args.energy_max or args.points < 2:
        raise ValueError(
            f"--energy-min {args.energy_min}, --energy-max {args.energy_max}, --points {args.points}: need "
            "0 < min < max and at least 2 points"
        )
    result = load_result(args.result)
    energies = np.geomspace(args.energy_min, args.energy_max, args.points)
    src = secondary_source(
        result,
        args.tally,
        gas=args.gas,
        lepton_energies_GeV=energies,
        species=args.species,
        positron_fraction=args.positron_fraction,
    )
    path = write_secondary_source(args.output, src, attrs={"proton_result": str(args.result)})
    name = args.name or ("secondaries" if args.species == "both" else f"secondary_{args.species}s")
    print(f"# wrote {path}; add this table to the lepton run (its energy range must lie inside)")
    print(component_table(src, str(args.output), name, args.energy_min, args.energy_max))
