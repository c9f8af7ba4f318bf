"""Secondary positrons from a proton sea, end to end: a proton run's (R, z) tally → the e⁺ source q(x, E)
(``sdeprop secondaries``) → a ``[[components]]`` entry of a lepton run → the local positron spectrum by the
backward estimator, against a published reference model.

Reference: the interstellar secondary positron flux of Moskalenko & Strong 1998 (ApJ 493, 694; their
model without reacceleration, D ∝ R^0.6) in the fit of Baltz & Edsjö 1999 (PRD 59, 023511):
Φ ∝ E^0.7/(1 + 650 E^2.3 + 1500 E^4.2), a local slope of −3.5 at 10–100 GeV.  The set-up follows
theirs where it sets the shape: protons injected ∝ R^-2.15 with D = D0 β (R/4 GV)^0.6 (a local proton
slope near −2.75), H = 4 kpc, the same D for the positrons, galactic losses, the GALPROP gas.  Only the
shape is compared (the proton rate is arbitrary): the spectrum divided by the reference, normalised at
10 GeV, must stay within 30 % of 1 at 20, 40 and 100 GeV, plus 4σ of its Monte Carlo error (the
cross sections, gas and halo differ between the two models, so the shapes agree to tens of per cent,
not to the statistics; measured: 1.00, 1.08, 1.22 ± 0.04–0.05).
"""

from __future__ import annotations

import subprocess
import sys
import tomllib

import numpy as np
import pytest

import sdeprop
from sdeprop.emission.secondary_pairs import ms98_secondary_flux

GALAXY = {"halo_height_kpc": 4.0, "radius_max_kpc": 20.0, "sun_position_kpc": [-8.3, 0.0, 0.0]}
DIFFUSION = {"D0_cm2_per_s": 3.0e28, "reference_rigidity_GV": 4.0, "delta_par": 0.6, "epsilon": 1.0}
LEPTON_RANGE_GEV = (5.0, 2000.0)
OBSERVER_ENERGIES = [10.0, 20.0, 40.0, 100.0]
SHAPE_TOLERANCE = 0.30


@pytest.fixture(scope="module")
def secondary_table(tmp_path_factory):
    """(the [[components]] table printed by ``sdeprop secondaries``, the source file) of a proton sea."""
    d = tmp_path_factory.mktemp("secondaries")
    protons = {
        "run": {"seed": 5, "particles": 20000, "batch_size": 5000, "progress": False, "max_cpu_hours": 0},
        "species": {"name": "proton"},
        "energy": {"min_GeV": 1.0, "max_GeV": 1.0e5},
        "galaxy": GALAXY,
        "field": {"model": "uniform"},
        "diffusion": DIFFUSION,
        "source": {"type": "radial_profile"},
        "spectrum": {"type": "power_law", "index": 2.15, "variable": "rigidity"},
        "tally": [
            {
                "name": "sea",
                "type": "cylindrical",
                "R_bins": 20,
                "z_bins": 16,
                "energy_bins": 25,
                "energy_min_GeV": 1.0,
                "energy_max_GeV": 1.0e5,
                "source_energy_bins": 25,
            }
        ],
    }
    sdeprop.run(protons, workers=1, progress=False, output=d / "protons.h5")
    out = d / "secondary_positrons.h5"
    cmd = [sys.executable, "-m", "sdeprop", "secondaries", str(d / "protons.h5"), "--tally", "sea"]
    cmd += [
        "--energy-min",
        str(LEPTON_RANGE_GEV[0]),
        "--energy-max",
        str(LEPTON_RANGE_GEV[1]),
        "-o",
        str(out),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return tomllib.loads(done.stdout)["components"][0], out


def test_the_printed_component_reads_the_written_file(secondary_table):
    comp, path = secondary_table
    assert comp["name"] == "secondary_positrons" and comp["species"] == ["positron"]
    assert comp["source"] == {"type": "gridded", "file": str(path)}
    spec = comp["spectrum"]
    assert spec["type"] == "tabulated" and len(spec["nodes"]) == len(spec["values"]) == 25
    assert spec["nodes"][0] == pytest.approx(LEPTON_RANGE_GEV[0]) and spec["rate_per_Myr"] > 0
    # the production spectrum falls roughly like the protons (index ~2.7 between 10 and 100 GeV)
    e, q = np.array(spec["nodes"]), np.array(spec["values"])
    sel = (e > 10) & (e < 100)
    slope = np.polyfit(np.log(e[sel]), np.log(q[sel]), 1)[0]
    assert -3.0 < slope < -2.4, slope


def test_local_secondary_positrons_follow_the_reference_shape(secondary_table):
    comp, _ = secondary_table
    leptons = {
        "run": {"seed": 7, "batch_size": 1000, "progress": False, "max_cpu_hours": 0},
        "species": {"name": "electron"},
        "energy": {"min_GeV": LEPTON_RANGE_GEV[0], "max_GeV": LEPTON_RANGE_GEV[1]},
        "galaxy": GALAXY,
        "field": {"model": "uniform"},
        "diffusion": DIFFUSION,
        "losses": {"model": "galactic"},
        "source": {"type": "radial_profile"},
        "estimator": {"method": "backward"},
        "observer": {"energies_GeV": OBSERVER_ENERGIES, "paths_per_energy": 500},
        "components": [comp],
    }
    res = sdeprop.run(leptons, workers=1, progress=False)
    t = res.components["secondary_positrons"].tallies["observer"]
    n, dn = t.density, t.uncertainty
    assert np.all(dn < 0.05 * n), dn / n
    ratio = n / ms98_secondary_flux(t.energies_GeV, "positron")
    shape = ratio / ratio[0]
    error = shape * np.hypot(dn / n, dn[0] / n[0])
    assert np.all(np.abs(shape[1:] - 1.0) < SHAPE_TOLERANCE + 4 * error[1:]), shape
