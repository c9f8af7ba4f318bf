"""Secondary e± for the lepton joint fit (docs/fitting.md, "Leptons"): normalise the proton sea of
runs/proton_sea.toml to the measured local proton flux, make the e⁺ and e⁻ sources on its (R, z) map
(docs/emission.md, "Secondary e± from the proton sea") and write their ``[[components]]`` tables into a
lepton run file.

    sdeprop run runs/proton_sea.toml
    python analysis/lepton_secondaries.py --sea outputs/proton_sea.h5 --run runs/joint_leptons_aniso.toml
    sdeprop run runs/proton_sea.toml --set diffusion.epsilon=1.0 --set run.name=proton_sea_iso
    python analysis/lepton_secondaries.py --sea outputs/proton_sea_iso.h5 --run runs/joint_leptons_iso.toml

The sea's spectrum at the Sun (its 1 kpc sphere) is fitted to AMS-02 (2021) and DAMPE (2019) protons at
20 GeV - 100 TeV with a smooth broken power law in rigidity (φ = 0.6 GV fixed: above 20 GeV modulation
changes the flux by < 5 %), and the whole map is reweighted to that fit, so the secondaries carry the
normalisation that the measured protons give them.  The tables replace everything below the marker line
in the run file (appended if absent); the source files go to outputs/.
"""

from __future__ import annotations

import argparse
import tomllib
from pathlib import Path

import numpy as np

from sdeprop.emission.secondary_source import component_table, secondary_source, write_secondary_source
from sdeprop.fitting import JointFit
from sdeprop.fitting.model import make_spectrum
from sdeprop.io import load_result

MARKER = "# ---- secondary e± from the proton sea: written by analysis/lepton_secondaries.py ----"
TABLES = ["ams02_proton_physrep2021", "dampe_proton_2019"]
LEPTON_POINTS_PER_DECADE = 8


def fit_sea(sea):
    """(spectrum, rate per Myr, fit) of the sea normalised to the local proton data."""
    jf = JointFit(
        sea,
        TABLES,
        spectrum="broken_power_law",
        tally="sun",
        fix={f"phi_{t}": 0.6 for t in TABLES},
        start={"primary.break_value": 600.0, "primary.index_low": 2.3, "primary.index_high": 2.1},
        bounds={"primary.break_value": (100.0, 1.0e4)},
        energy_range=(20.0, 1.0e5),
    )
    fit = jf.fit()
    p = {k.split(".", 1)[1]: v for k, v in fit.parameters.items() if k.startswith("primary.")}
    variable = jf.sources[0].variable
    return make_spectrum("broken_power_law", p, variable), 10.0 ** p["log10_rate_per_Myr"], fit


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sea", default="outputs/proton_sea.h5", help="the proton sea result")
    ap.add_argument("--run", default="runs/joint_leptons_aniso.toml", help="lepton run file to complete")
    ap.add_argument("--tally", default="map", help="the sea's (R, z) tally")
    args = ap.parse_args()
    run_path = Path(args.run)
    text = run_path.read_text()
    head = text.split(MARKER)[0].rstrip() + "\n"
    cfg = tomllib.loads(head)
    emin, emax = cfg["energy"]["min_GeV"], cfg["energy"]["max_GeV"]
    sea = load_result(args.sea)
    spectrum, rate, fit = fit_sea(sea)
    print(fit.summary())
    points = int(np.ceil(LEPTON_POINTS_PER_DECADE * np.log10(emax / emin))) + 1
    energies = np.geomspace(emin, emax, points)
    tag = Path(args.sea).stem
    tables = []
    for species in ("positron", "electron"):
        src = secondary_source(
            sea,
            args.tally,
            lepton_energies_GeV=energies,
            proton_spectrum=spectrum,
            rate_per_Myr=rate,
            species=species,
        )
        out = Path("outputs") / f"secondary_{species}s_{tag}.h5"
        write_secondary_source(out, src, attrs={"proton_result": str(args.sea)})
        tables.append(component_table(src, str(out), f"secondary_{species}s", emin, emax))
        e10 = np.interp(np.log(10.0), np.log(energies), src.rate_per_GeV_Myr)
        print(f"wrote {out}: production at 10 GeV {e10:.4g} per GeV per Myr")
    block = (
        f"\n{MARKER}\n# from {args.sea} (its spectrum at the Sun fitted to {', '.join(TABLES)}:\n"
        f"# χ²/ndf = {fit.chi2:.1f}/{fit.ndf}); the fit keeps these rates fixed\n\n" + "\n".join(tables)
    )
    run_path.write_text(head + block)
    print(f"wrote the tables into {run_path}")


if __name__ == "__main__":
    main()
