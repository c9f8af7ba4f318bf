"""``--set SECTION.KEY=VALUE``: one meaning (a dotted configuration key, a TOML value) in every verb."""

import numpy as np
import pytest

import sdeprop
from sdeprop.cli import main
from sdeprop.cli.args import apply_settings, key_values, toml_value
from sdeprop.config import dump_toml


def test_values_are_toml_literals():
    assert toml_value("3") == 3 and toml_value("2.5e4") == 2.5e4 and toml_value("true") is True
    assert toml_value('"uf23"') == "uf23" and toml_value("uf23") == "uf23"  # a bare word is a string
    assert toml_value("[1, 2.5]") == [1, 2.5] and toml_value('{model = "uf23"}') == {"model": "uf23"}
    data = apply_settings({"run": {"seed": 1}}, ["run.particles=50", "field.B0_phi_uG=5", "galaxy={}"])
    assert data == {
        "run": {"seed": 1, "particles": 50},
        "field": {"model": "cerri_toy", "B0_phi_uG": 5},
        "galaxy": {},
    }
    assert key_values(["a=1,b=2", "c=3"], "--fix", float) == {"a": 1.0, "b": 2.0, "c": 3.0}


def test_run_set(tmp_path, small_config, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text(dump_toml(small_config))
    out = tmp_path / "o.h5"
    assert (
        main(
            ["run", str(cfg), "-o", str(out), "--quiet", "--set", "run.particles=200", "--set", "run.seed=11"]
        )
        == 0
    )
    res = sdeprop.load_result(out)
    assert res.counts["injected"] == 200 and res.metadata["seed"] == 11
    assert res.config.run.particles == 200
    capsys.readouterr()


@pytest.mark.parametrize(
    "setting, words",
    [
        ("run.particlez=200", ["unknown key 'run.particlez'", "allowed in run:", "particles"]),
        ("run.particles=-5", ["run.particles = -5", "greater than or equal to 1"]),
        ("particles=5", ["unknown key 'particles'", "did you mean run.particles?"]),
        ("run.particles", ["--set 'run.particles' must be KEY=VALUE"]),
    ],
)
def test_run_set_rejects_bad_keys_naming_them(tmp_path, small_config, capsys, setting, words):
    cfg = tmp_path / "c.toml"
    cfg.write_text(dump_toml(small_config))
    out = tmp_path / "never.h5"
    assert main(["run", str(cfg), "-o", str(out), "--set", setting]) == 2
    err = capsys.readouterr().err
    assert err.startswith("sdeprop: error:") and err.count("\n") == 1 and "Traceback" not in err
    for word in words:
        assert word in err
    assert not out.exists()


def test_field_set_model_parameter(capsys):
    """cerri_toy: B_φ = B0φ (1 − exp(−R/R0)), B_z = ε_B B0φ exp(−R/R0); B0_phi_uG = 5 instead of 3."""
    assert main(["field", "cerri_toy", "--set", "field.B0_phi_uG=5", "--at=-8.3,0,0"]) == 0
    row = capsys.readouterr().out.splitlines()[1].split()
    bx, by, bz, babs = (float(v) for v in row[3:7])
    decay = np.exp(-8.3 / 3.0)
    assert abs(by) == pytest.approx(5.0 * (1.0 - decay), abs=1e-5)
    assert bz == pytest.approx(0.5 * 5.0 * decay, abs=1e-5) and bx == pytest.approx(0.0, abs=1e-5)
    assert babs == pytest.approx(np.hypot(by, bz), abs=2e-5)


@pytest.mark.parametrize(
    "argv, words",
    [
        (
            ["cerri_toy", "--set", "field.B0_phi=5"],
            ["unknown key 'field.B0_phi'", "cerri_toy", "B0_phi_uG, R0_kpc"],
        ),
        (["cerri_toy", "--set", "B0_phi_uG=5"], ["[field]", "did you mean --set field.B0_phi_uG"]),
        (["cerri17", "--set", "field.r_X=3"], ["unknown key 'field.r_X'", "--set field.overrides.r_X=VALUE"]),
        (["cerri17", "--set", "field.overrides.r_Y=3"], ["unknown Cerri17 parameter 'r_Y'", "r_X"]),
        (["cerri_toy", "--set", "field.B0_phi_uG=-5"], ["field.B0_phi_uG = -5", "greater than 0"]),
    ],
)
def test_field_set_errors_name_the_key_and_what_is_allowed(argv, words, capsys):
    assert main(["field", *argv, "--at=-8.3,0,0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("sdeprop: error:") and err.count("\n") == 1 and "Traceback" not in err
    for word in words:
        assert word in err


def test_losses_set_creates_a_section_with_its_default_model(tmp_path, capsys):
    """No [field] in the losses command's default configuration: field.B0_phi_uG sets the default model's
    key."""
    assert (
        main(
            [
                "losses",
                "--set",
                "field.B0_phi_uG=5",
                "--energies",
                "10,100",
                "--points",
                "4",
                "-o",
                str(tmp_path / "l.png"),
            ]
        )
        == 0
    )
    assert "field 'cerri_toy': B = (0, -4.69, 0.157) μG" in capsys.readouterr().out


def test_overrides_from_python():
    """The library call behind --set: dotted keys with Python values; unknown keys list what is allowed."""
    from sdeprop.config import ConfigError
    from sdeprop.overrides import config_with_overrides

    source = {"run": {"seed": 3}}
    cfg = config_with_overrides(source, {"run.particles": 300, "field.model": "uf23"})
    assert (cfg.run.particles, cfg.run.seed, cfg.field.model) == (300, 3, "uf23")
    assert source == {"run": {"seed": 3}}  # the source table is left unchanged
    with pytest.raises(ConfigError, match="run.particlez: allowed in run: .*particles"):
        config_with_overrides({}, {"run.particlez": 3})
