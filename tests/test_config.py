"""Configuration schema: defaults, round trip, and the documented errors for bad input."""

import copy

import pytest

import sdeprop
from sdeprop.config import Config, ConfigError, load_config


def test_defaults_validate_and_round_trip(tmp_path):
    cfg = Config()
    text = cfg.to_toml()
    p = tmp_path / "c.toml"
    p.write_text(text)
    again = load_config(p)
    assert again.model_dump() == cfg.model_dump()


def test_quickstart_loads():
    from conftest import ROOT

    cfg = load_config(f"{ROOT}/runs/quickstart.toml")
    assert cfg.field.model == "cerri_toy"
    assert cfg.source.type == "radial_profile"


@pytest.mark.parametrize(
    "patch, words",
    [
        ({"diffusion": {"D0_cm2_per_s": -1.0}}, ["diffusion.D0_cm2_per_s", "-1.0", "greater than 0"]),
        ({"diffusion": {"D0_cm2_per_s": 0.0}}, ["diffusion.D0_cm2_per_s", "greater than 0"]),
        ({"galaxy": {"halo_height_kpc": 0.0}}, ["galaxy.halo_height_kpc", "greater than 0"]),
        ({"galaxy": {"halo_height_kpc": -4.0}}, ["galaxy.halo_height_kpc"]),
        ({"energy": {"min_GeV": -1.0}}, ["energy.min_GeV", "greater than 0"]),
        (
            {"energy": {"min_GeV": 100.0, "max_GeV": 10.0}},
            ["energy.min_GeV = 100.0 must be below energy.max_GeV = 10.0"],
        ),
        ({"energy": {"min_GeV": 10.0, "max_GeV": 10.0}}, ["must be below"]),
        ({"galaxy": {"halo_heigth_kpc": 4.0}}, ["unknown key 'galaxy.halo_heigth_kpc'"]),
        ({"foo": 1}, ["unknown key 'foo'"]),
        ({"run": {"particles": "many"}}, ["run.particles", "'many'", "integer"]),
        ({"diffusion": {"epsilon": 2.0}}, ["diffusion.epsilon", "less than or equal to 1"]),
        ({"diffusion": {"D0_cm2_per_s": float("nan")}}, ["diffusion.D0_cm2_per_s", "finite"]),
        ({"field": {"model": "jf99"}}, ["field", "'jf99'", "uniform", "cerri_toy", "grid"]),
        ({"field": {"model": "uniform", "direction": [0.0, 0.0, 0.0]}}, ["field.direction", "non-zero"]),
        (
            {"field": {"model": "uniform", "south_direction": [0.0, 0.0, 0.0]}},
            ["field.south_direction", "non-zero"],
        ),
        ({"field": {"model": "uniform", "south_strength_uG": -1.0}}, ["field.south_strength_uG"]),
        ({"numerics": {"plane_interface": "sometimes"}}, ["numerics.plane_interface", "auto"]),
        (
            {"source": {"type": "point", "position_kpc": [0.0, 0.0, 5.0]}},
            ["source.position_kpc", "outside the halo", "halo_height_kpc"],
        ),
        (
            {"source": {"type": "point", "position_kpc": [25.0, 0.0, 0.0]}},
            ["outside the halo", "radius_max_kpc"],
        ),
        (
            {"source": {"type": "disk", "radius_kpc": 30.0}},
            ["source.radius_kpc = 30.0 exceeds galaxy.radius_max_kpc"],
        ),
        (
            {"source": {"type": "radial_profile", "z0_kpc": 5.0}},
            ["source.z0_kpc", "below galaxy.halo_height_kpc"],
        ),
        (
            {"tally": [{"name": "a", "type": "sphere"}, {"name": "a", "type": "sphere"}]},
            ["tally names", "unique"],
        ),
        ({"tally": [{"name": "a", "type": "cube"}]}, ["tally", "'cube'", "cylindrical"]),
        (
            {"time": {"regimes": [{"energy_max_GeV": 10.0}]}},
            ["time.regimes[-1].energy_max_GeV = 10.0 must reach energy.max_GeV"],
        ),
        (
            {"estimator": {"method": "residence_time", "output_times_Myr": [1.0]}},
            ["output_times_Myr", "snapshot"],
        ),
    ],
)
def test_bad_input_names_key_and_range(patch, words):
    with pytest.raises(ConfigError) as err:
        load_config(copy.deepcopy(patch))
    msg = str(err.value)
    for w in words:
        assert w in msg, f"{w!r} not in {msg!r}"


def test_missing_file_and_bad_toml(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml")
    p = tmp_path / "bad.toml"
    p.write_text("[run\nseed = 1")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(p)


def test_bad_input_fails_before_any_output(tmp_path):
    out = tmp_path / "o.h5"
    with pytest.raises(ConfigError):
        sdeprop.run({"diffusion": {"D0_cm2_per_s": -1.0}}, output=out)
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_schema_doc_lists_every_key():
    from sdeprop.config import _SECTIONS, describe_schema_markdown

    doc = describe_schema_markdown()
    for _, model in _SECTIONS:
        for key in model.model_fields:
            if key not in ("model", "type"):
                assert f"`{key}`" in doc


def test_configuration_reference_is_current():
    """docs/configuration.md is generated from the schema; regenerate with
    `sdeprop config --markdown > docs/configuration.md`."""
    from conftest import ROOT

    from sdeprop.config import describe_schema_markdown

    with open(f"{ROOT}/docs/configuration.md") as f:
        assert f.read().strip() == describe_schema_markdown().strip()
