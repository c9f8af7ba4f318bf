"""[[components]]: extra sources with their own species, spatial distribution and spectrum
(e.g. a pulsar-wind-nebula-like e± pair component next to primary electrons)."""

from __future__ import annotations

import numpy as np
import pytest

import sdeprop
from sdeprop.config import ConfigError, component_config, load_config
from sdeprop.io import load_result, merge_results
from sdeprop.spectra import PowerLaw


def config():
    return {
        "run": {"particles": 600, "batch_size": 300, "seed": 11, "progress": False},
        "species": {"name": "electron"},
        "energy": {"min_GeV": 10.0, "max_GeV": 1000.0},
        "galaxy": {"halo_height_kpc": 4.0, "radius_max_kpc": 20.0},
        "field": {"model": "uniform"},
        "losses": {"model": "quadratic"},
        "source": {"type": "disk", "radius_kpc": 15.0},
        "spectrum": {"type": "power_law", "index": 2.5, "variable": "kinetic_energy", "rate_per_Myr": 100.0},
        "tally": [
            {"name": "sun", "type": "sphere", "radius_kpc": 2.0, "energy_bins": 4, "source_energy_bins": 6}
        ],
        "components": [
            {
                "name": "pwn",
                "species": ["electron", "positron"],
                "particles": 400,
                "source": {"type": "radial_profile"},
                "spectrum": {
                    "type": "power_law",
                    "index": 1.8,
                    "variable": "kinetic_energy",
                    "rate_per_Myr": 10.0,
                },
            }
        ],
    }


def test_component_config_and_validation():
    cfg = load_config(config())
    c = component_config(cfg, cfg.components[0])
    assert c.species.name == "electron" and c.source.type == "radial_profile" and c.run.particles == 400
    assert c.spectrum.index == 1.8 and c.run.seed != cfg.run.seed and not c.components
    bad = config()
    bad["components"][0]["species"] = ["proton", "electron"]
    with pytest.raises(ConfigError, match="transported differently"):
        load_config(bad)
    bad = config()
    bad["components"].append(dict(bad["components"][0]))
    with pytest.raises(ConfigError, match="unique"):
        load_config(bad)
    bad = config()
    bad["components"][0]["source"] = {"type": "point", "position_kpc": [0, 0, 9.0]}
    with pytest.raises(ConfigError, match="component 'pwn'.*outside the halo"):
        load_config(bad)


def test_pair_component_shares_its_rate_and_is_stored(tmp_path):
    res = sdeprop.run(config(), output=tmp_path / "r.h5")
    assert set(res.components) == {"pwn"} and res.components["pwn"].counts["injected"] == 400
    primary = res.tallies["sun"].density
    pwn = res.components["pwn"].tallies["sun"]
    e_minus = res.species_density("sun", "electron")
    e_plus = res.species_density("sun", "positron")
    np.testing.assert_allclose(e_plus.density, 0.5 * pwn.density)
    np.testing.assert_allclose(e_minus.density, primary + 0.5 * pwn.density)
    np.testing.assert_allclose(e_plus.uncertainty, 0.5 * pwn.uncertainty)
    # another spectrum for the component, by reweighting
    other = res.species_density("sun", "positron", spectra={"pwn": PowerLaw(2.0, "kinetic_energy")})
    np.testing.assert_allclose(
        other.density, 0.5 * pwn.reweight(PowerLaw(2.0, "kinetic_energy"), 10.0).density
    )
    with pytest.raises(ValueError, match="no source of this run injects 'proton'"):
        res.species_density("sun", "proton")
    back = load_result(tmp_path / "r.h5")
    np.testing.assert_allclose(back.species_density("sun", "electron").density, e_minus.density)
    assert back.config.components[0].name == "pwn"
    with pytest.raises(ConfigError, match="components"):
        merge_results([tmp_path / "r.h5", tmp_path / "r.h5"])
