"""Bad input to the ``sdeprop`` command is refused (or warned about) clearly, before anything is written.

Three families, each with the real input a user could give:

* loose types: ``particles = true``, ``beta = "no"``, ``D0_cm2_per_s = "3e28"`` ... are refused naming
  the key, the value and what is allowed; an integral float (``particles = 2e3``) is an integer;
* input that is accepted but means nothing: an observer sphere outside the galaxy, a field direction
  whose squared length underflows or overflows (normalised robustly: the run equals the one with the
  plain direction), zero or non-finite vectors, a field grid that covers only part of the galaxy
  (a warning naming the file, the key and both extents), non-finite numbers on the command line;
* files that are not what they should be: a binary or missing configuration, a directory, a TOML
  syntax error, a ``[field]`` without ``model``, a result that is not HDF5 or not sdeprop's.

Every refusal: exit status 2, one line ``sdeprop: error: ...`` naming the key or the file, no
traceback, nothing in the output folder.  Most run the command in-process (``sdeprop.cli.main``);
a few run it in a subprocess to see the real stderr and exit status.
"""

from __future__ import annotations

import copy
import logging
import os
import tomllib

import h5py
import numpy as np
import pytest

import sdeprop
from sdeprop.cli import main
from sdeprop.config import dump_toml, load_config
from sdeprop.errors import ConfigError
from sdeprop.io import FORMAT

from .conftest import BASE_TOML, assert_clean_failure, leftovers, sdeprop_cli

BASE = tomllib.loads(BASE_TOML)


def _config(tmp_path, changes=(), name="bad.toml") -> str:
    """The base run with ``changes`` ((dotted key, TOML literal) pairs) written to ``tmp_path/name``."""
    data = copy.deepcopy(BASE)
    for key, literal in changes:
        *where, last = key.split(".")
        node = data
        for part in where:
            node = node[int(part)] if part.isdigit() else node.setdefault(part, {})
        node[last] = tomllib.loads(f"v = {literal}")["v"]
    path = tmp_path / name
    path.write_text(dump_toml(data))
    return str(path)


def _cli(argv, capsys) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of ``sdeprop ARGV`` run in-process (argparse errors included)."""
    capsys.readouterr()
    try:
        rc = main([str(a) for a in argv])
    except SystemExit as exc:  # argparse: usage and 'error: argument ...', status 2
        rc = exc.code
    out, err = capsys.readouterr()
    return rc, out, err


def _assert_refused(rc, err, *words):
    assert rc == 2, (rc, err)
    assert "Traceback" not in err, err
    assert err.startswith("sdeprop: error:") and err.count("\n") == 1, err
    for word in words:
        assert word in err, (word, err)


def _run_refused(tmp_path, capsys, config, *words):
    """``sdeprop run CONFIG -o OUT`` is refused naming ``words``, and nothing is written."""
    out = tmp_path / "out"
    rc, _, err = _cli(["run", config, "-o", out / "result.h5", "--quiet"], capsys)
    _assert_refused(rc, err, *words)
    assert not out.exists() or not any(out.iterdir()), list(out.rglob("*"))
    return err


# ============================================================================ (7) loose types
@pytest.mark.parametrize(
    "key, literal, words",
    [
        ("run.particles", "true", ["run.particles = true", "an integer", "not true/false"]),
        ("run.particles", "1.5", ["run.particles = 1.5", "an integer", "1.5 is not whole"]),
        ("run.particles", '"2000"', ["run.particles = '2000'", "not a string", "without quotes"]),
        ("run.seed", "false", ["run.seed = false", "an integer"]),
        ("run.progress", "1", ["run.progress = 1", "true or false", "not a number"]),
        ("run.name", "3", ["run.name = 3", "a string"]),
        ("diffusion.beta", '"no"', ["diffusion.beta = 'no'", "true or false", "not a string"]),
        ("diffusion.beta", '"true"', ["diffusion.beta = 'true'", "write true without quotes"]),
        ("numerics.drift", "0", ["numerics.drift = 0", "true or false"]),
        ("diffusion.D0_cm2_per_s", '"3e28"', ["diffusion.D0_cm2_per_s = '3e28'", "a number", "3e28 without"]),
        ("diffusion.epsilon", "true", ["diffusion.epsilon = true", "a number", "not true/false"]),
        ("energy.min_GeV", "false", ["energy.min_GeV = false", "a number"]),
        ("galaxy.sun_position_kpc", "[true, 0, 0]", ["galaxy.sun_position_kpc[0] = true", "a number"]),
        ("tally.0.R_bins", "6.5", ["tally[0].R_bins = 6.5", "an integer"]),
        ("tally.0.R_bins", "true", ["tally[0].R_bins = true", "an integer"]),
        ("field.strength_uG", "nan", ["field.strength_uG = nan", "finite"]),
        ("field.scale", "inf", ["field.scale = inf", "finite"]),
        ("species.name", "1", ["species.name = 1", "'proton'"]),
        ("source.type", "3", ["source.type = 3", "'point'"]),
    ],
)
def test_loose_types_are_refused_naming_key_value_and_what_is_allowed(tmp_path, capsys, key, literal, words):
    config = _config(tmp_path, [(key, literal)])
    _run_refused(tmp_path, capsys, config, "bad.toml", *words)


def test_an_integral_float_is_an_integer(tmp_path, capsys):
    """particles = 2e3 (how a physicist writes it) runs 2000 particles; so does --particles 2e3."""
    config = _config(tmp_path, [("run.particles", "2e3"), ("run.batch_size", "1e3")])
    cfg = load_config(config)
    assert (cfg.run.particles, cfg.run.batch_size) == (2000, 1000)
    assert isinstance(cfg.run.particles, int)
    out = tmp_path / "r.h5"
    rc, _, err = _cli(["run", config, "-o", out, "--quiet", "--particles", "1e3"], capsys)
    assert rc == 0, err
    assert sdeprop.load_result(out).counts["injected"] == 1000


def test_loose_type_in_a_subprocess(tmp_path):
    """The real command: `particles = true` in the file, exit status 2, nothing written."""
    config = _config(tmp_path, [("run.particles", "true")])
    out = tmp_path / "out"
    proc = sdeprop_cli("run", config, "-o", out / "r.h5", cwd=tmp_path)
    assert_clean_failure(proc, "bad.toml", "run.particles = true", "integer", rc=2)
    assert not out.exists() and leftovers(tmp_path) == []


# ============================================================================ (8) meaningless input
@pytest.mark.parametrize(
    "changes, words",
    [
        ([("tally.0.type", '"sphere"'), ("tally.0.center_kpc", "[30.0, 0.0, 0.0]")], ["center_kpc"]),
        ([("tally.0.type", '"sphere"'), ("tally.0.center_kpc", "[-8.3, 0.0, 2.5]")], ["center_kpc"]),
        (
            [("tally.0.type", '"sphere"'), ("galaxy.sun_position_kpc", "[-8.3, 0.0, 3.0]")],
            ["galaxy.sun_position_kpc", "sphere tally 'map'"],
        ),
        ([("tally.0.type", '"sphere"'), ("galaxy.sun_position_kpc", "[-16.0, 0.0, 0.0]")], ["sun_position"]),
    ],
)
def test_an_observer_sphere_outside_the_galaxy_is_refused(tmp_path, capsys, changes, words):
    data = copy.deepcopy(BASE)
    data["tally"] = [{"name": "map", "type": "sphere", "energy_bins": 4}]
    path = tmp_path / "bad.toml"
    path.write_text(dump_toml(data))
    base = tomllib.loads(path.read_text())
    for key, literal in changes:
        if key == "tally.0.type":
            continue
        *where, last = key.split(".")
        node = base
        for part in where:
            node = node[int(part)] if part.isdigit() else node[part]
        node[last] = tomllib.loads(f"v = {literal}")["v"]
    path.write_text(dump_toml(base))
    _run_refused(
        tmp_path,
        capsys,
        str(path),
        "outside the galaxy",
        "galaxy.radius_max_kpc = 15.0",
        "halo_height_kpc",
        *words,
    )


def test_an_observer_sphere_inside_the_galaxy_is_accepted():
    data = copy.deepcopy(BASE)
    data["tally"] = [{"name": "sun", "type": "sphere", "center_kpc": [-8.3, 0.0, 1.9]}]
    assert load_config(data).tally[0].center_kpc == [-8.3, 0.0, 1.9]


def _uniform_run(direction):
    data = copy.deepcopy(BASE)
    data["field"] = {"model": "uniform", "direction": direction}
    return sdeprop.run(data, progress=False)


@pytest.mark.parametrize(
    "extreme, plain",
    [
        ([1e-300, 0.0, 0.0], [1.0, 0.0, 0.0]),  # |d|² underflows: every particle would be stuck
        ([1e300, 1e300, 0.0], [1.0, 1.0, 0.0]),  # |d|² overflows: the field would vanish
        ([0.0, -5e-320, 5e-320], [0.0, -1.0, 1.0]),  # subnormal components
    ],
)
def test_extreme_field_directions_mean_what_they_say(extreme, plain):
    a, b = _uniform_run(extreme), _uniform_run(plain)
    assert a.counts == b.counts
    np.testing.assert_array_equal(a.tallies["map"].sums, b.tallies["map"].sums)
    assert np.all(np.isfinite(a.tallies["map"].sums)) and a.tallies["map"].sums[..., 0].sum() > 0


@pytest.mark.parametrize(
    "key, literal, words",
    [
        ("field.direction", "[0.0, 0.0, 0.0]", ["field.direction", "non-zero"]),
        ("field.direction", "[nan, 0.0, 0.0]", ["field.direction[0] = nan", "finite"]),
        ("field.direction", "[1e300, -inf, 0.0]", ["field.direction[1] = -inf", "finite"]),
        ("field.south_direction", "[0.0, 0.0, 0.0]", ["field.south_direction", "non-zero"]),
        ("field.south_direction", "[0.0, inf, 1.0]", ["field.south_direction[1] = inf"]),
        ("galaxy.sun_position_kpc", "[nan, 0.0, 0.0]", ["galaxy.sun_position_kpc[0] = nan", "finite"]),
        ("source.position_kpc", "[inf, 0.0, 0.0]", ["source.position_kpc[0] = inf", "finite"]),
        ("source.position_kpc", "[1e300, 1e300, 0.0]", ["source.position_kpc", "outside the halo"]),
        ("tally.0.z_min_kpc", "-1e308", ["z_min_kpc", "tally 'map'"]),
    ],
)
def test_zero_non_finite_and_overflowing_vectors_are_refused(tmp_path, capsys, key, literal, words):
    changes = [(key, literal)]
    if key == "tally.0.z_min_kpc":
        changes.append(("tally.0.z_max_kpc", "1e308"))  # the width overflows
    _run_refused(tmp_path, capsys, _config(tmp_path, changes), *words)


@pytest.mark.parametrize(
    "tally, words",
    [
        ({"type": "sphere", "center_kpc": [float("nan"), 0.0, 0.0]}, ["tally[0].center_kpc[0] = nan"]),
        ({"type": "cartesian", "x_range_kpc": [-1e308, 1e308]}, ["x_range_kpc", "finite width"]),
        ({"type": "cartesian", "y_range_kpc": [0.0, float("inf")]}, ["tally[0].y_range_kpc[1] = inf"]),
    ],
)
def test_tally_vectors_must_be_finite(tmp_path, capsys, tally, words):
    data = copy.deepcopy(BASE)
    data["tally"] = [{"name": "t", "energy_bins": 4, **tally}]
    path = tmp_path / "bad.toml"
    path.write_text(dump_toml(data))
    _run_refused(tmp_path, capsys, str(path), *words)


def test_observer_bias_centre_must_be_finite(tmp_path, capsys):
    data = copy.deepcopy(BASE)
    data["source"] = {"type": "disk", "radius_kpc": 10.0, "observer_fraction": 0.5}
    data["source"]["observer_center_kpc"] = [-8.3, float("nan"), 0.0]
    path = tmp_path / "bad.toml"
    path.write_text(dump_toml(data))
    _run_refused(tmp_path, capsys, str(path), "source.observer_center_kpc[1] = nan", "finite")


def _grid_file(path, half_xy, half_z, n_xy=11, n_z=5):
    x = np.linspace(-half_xy, half_xy, n_xy)
    z = np.linspace(-half_z, half_z, n_z)
    shape = (n_xy, n_xy, n_z)
    np.savez(path, x=x, y=x, z=z, Bx=np.zeros(shape), By=np.full(shape, 2.0), Bz=np.full(shape, 0.5))
    return str(path)


def test_a_field_grid_covering_part_of_the_galaxy_is_warned_about(tmp_path, caplog):
    """Outside the grid the field is zero: the warning names the file, the key, both extents and that."""
    data = copy.deepcopy(BASE)
    data["field"] = {"model": "grid", "file": _grid_file(tmp_path / "part.npz", 5.0, 1.0)}
    with caplog.at_level(logging.WARNING, logger="sdeprop"):
        load_config(data)
    text = " ".join(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    for word in (
        "field.file",
        "part.npz",
        "x ∈ [-5, 5], y ∈ [-5, 5], z ∈ [-1, 1] kpc",
        "galaxy.radius_max_kpc = 15",
        "galaxy.halo_height_kpc = 2",
        "x, y ∈ [-15, 15], z ∈ [-2, 2] kpc",
        "outside the grid the field is zero",
    ):
        assert word in text, (word, text)
    # the same grid as a component of a sum: its key is the component's
    caplog.clear()
    data["field"] = {
        "model": "sum",
        "components": [{"model": "cerri_toy"}, {"model": "grid", "file": str(tmp_path / "part.npz")}],
    }
    data["galaxy"]["halo_height_kpc"] = 3.0
    with caplog.at_level(logging.WARNING, logger="sdeprop"):
        load_config(data)
    assert "field.components[1].file" in caplog.text


def test_a_field_grid_covering_the_galaxy_gets_no_warning(tmp_path, caplog):
    data = copy.deepcopy(BASE)
    data["field"] = {"model": "grid", "file": _grid_file(tmp_path / "all.npz", 15.0, 2.0, 31, 9)}
    with caplog.at_level(logging.WARNING, logger="sdeprop"):
        load_config(data)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_a_partial_field_grid_run_warns_on_stderr(tmp_path):
    """The real command: the run goes ahead (rc 0) and stderr carries the warning."""
    data = copy.deepcopy(BASE)
    data["field"] = {"model": "grid", "file": _grid_file(tmp_path / "part.npz", 5.0, 1.0)}
    (tmp_path / "grid.toml").write_text(dump_toml(data))
    proc = sdeprop_cli("run", "grid.toml", "-o", "r.h5", "--quiet", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "WARNING" in proc.stderr and "part.npz" in proc.stderr and "field.file" in proc.stderr
    assert proc.stderr.count("only part of the galaxy") == 1  # once, not once per validation
    assert "Traceback" not in proc.stderr and leftovers(tmp_path) == []


@pytest.mark.parametrize(
    "argv, words",
    [
        (["field", "cerri_toy", "--at", "nan,0,0"], ["--at 'nan,0,0'", "3 comma-separated numbers"]),
        (["field", "cerri_toy", "--at=inf,0,0"], ["--at 'inf,0,0'"]),
        (["field", "cerri_toy", "--at", "1,2"], ["--at '1,2'"]),
        (["field", "cerri_toy", "--at", "a,b,c"], ["--at 'a,b,c'"]),
        (["field", "cerri_toy", "--extent", "nan"], ["--extent", "'nan' must be a finite number"]),
        (["field", "cerri_toy", "--height", "-1"], ["--height", "> 0"]),
        (["losses", "--at=nan,0,0"], ["--at 'nan,0,0'"]),
        (["losses", "--energy-range", "nan,10"], ["--energy-range 'nan,10'"]),
        (["losses", "--energies", "1,inf"], ["--energies '1,inf'"]),
        (["losses", "--horizon", "--source-energy", "nan"], ["--source-energy", "'nan'"]),
        (["losses", "--points", "1"], ["--points 1"]),
        (["plot", "r.h5", "--energy", "nan"], ["--energy", "finite"]),
        (["fit", "r.h5", "--data", "x", "--phi", "nan"], ["--phi", "finite"]),
        (["fit", "r.h5", "--data", "x", "--fix", "index=nan"], ["--fix 'index=nan'"]),
        (["fit", "r.h5", "--data", "x", "--start", "index=inf"], ["--start 'index=inf'"]),
        (["fit", "r.h5", "--data", "x", "--bound", "index=1:inf"], ["--bound 'index=1:inf'"]),
        (["fit", "r.h5", "--data", "x", "--range", "nan,10"], ["--range 'nan,10'", "finite"]),
        (["run", "CONFIG", "--particles", "nan"], ["--particles", "'nan'", "integer"]),
        (["run", "CONFIG", "--particles", "1.5"], ["--particles", "'1.5'", "integer"]),
        (["run", "CONFIG", "--workers", "inf"], ["--workers", "'inf'"]),
        (["run", "CONFIG", "--particles", "0"], ["run.particles = 0", "greater than or equal to 1"]),
        (["crosscheck", "CONFIG", "--resolution", "nan,0.1"], ["--resolution 'nan,0.1'"]),
        (["crosscheck", "CONFIG", "--energy", "inf"], ["--energy 'inf'"]),
    ],
)
def test_command_line_numbers_must_be_finite(tmp_path, capsys, argv, words):
    config = _config(tmp_path, name="base.toml")
    argv = [config if a == "CONFIG" else a for a in argv]
    if argv[0] in ("run", "crosscheck", "fit", "plot"):
        argv += ["-o", tmp_path / "out" / ("o.h5" if argv[0] == "run" else "o")]
    rc, out, err = _cli(argv, capsys)
    assert rc == 2, (rc, out, err)
    assert "Traceback" not in err and "nan" not in out.lower(), (out, err)
    for word in words:
        assert word in err, (word, err)
    assert not (tmp_path / "out").exists()


# ============================================================================ (10) files
def _bad_file(tmp_path, kind) -> str:
    path = tmp_path / {"directory": "conf.d", "missing": "missing.toml"}.get(kind, f"{kind}.toml")
    if kind == "binary":
        path.write_bytes(b"\x89HDF\r\n\x1a\n\x00\x00\xff\xfe" * 8)
    elif kind == "nul":
        path.write_bytes(b"[run]\nparticles = 10\x00\n")
    elif kind == "directory":
        path.mkdir()
    elif kind == "syntax":
        path.write_text("[run\nparticles = 10\n")
    elif kind == "no_model":
        path.write_text("[field]\ndirection = [0.0, 0.0, 1.0]\n")
    elif kind == "field_scalar":
        path.write_text('field = "uniform"\n')
    return str(path)


@pytest.mark.parametrize(
    "kind, words",
    [
        ("binary", ["binary.toml", "is not a text (TOML) file"]),
        ("nul", ["nul.toml", "binary file"]),
        ("directory", ["conf.d", "is a directory"]),
        ("missing", ["missing.toml", "does not exist"]),
        ("syntax", ["syntax.toml", "is not valid TOML", "line 1"]),
        ("no_model", ["no_model.toml", "missing required key 'field.model'", "'uniform'", "'cerri_toy'"]),
        ("field_scalar", ["field_scalar.toml", "field = 'uniform'", "must be a table"]),
    ],
)
def test_a_bad_configuration_file_is_named(tmp_path, capsys, kind, words):
    path = _bad_file(tmp_path, kind)
    _run_refused(tmp_path, capsys, path, *words)
    for verb in (["losses", path], ["crosscheck", path, "-o", tmp_path / "out" / "c"]):
        rc, _, err = _cli(verb, capsys)
        _assert_refused(rc, err, *words)


def _not_results(tmp_path):
    (tmp_path / "notes.txt").write_text("a note, not a result\n")
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["x"] = np.arange(3)
    (tmp_path / "results.d").mkdir()
    with h5py.File(tmp_path / "marked.h5", "w") as f:  # sdeprop's format mark, nothing else
        f.attrs["format"] = FORMAT
    with h5py.File(tmp_path / "cut.h5", "w") as f:
        f.attrs["format"] = FORMAT
        f["sums"] = np.arange(4096.0)
    os.truncate(tmp_path / "cut.h5", os.path.getsize(tmp_path / "cut.h5") // 2)
    return {
        "notes.txt": "'{}' is not an sdeprop result (not an HDF5 file)",
        "other.h5": "'{}' is not an sdeprop result (an HDF5 file without the sdeprop format mark",
        "marked.h5": "'{}' is not a readable sdeprop result",
        "cut.h5": "'{}' is not a readable sdeprop result",
        "results.d": "'{}' is a directory",
        "gone.h5": "'{}' does not exist",
    }


@pytest.mark.parametrize("name", ["notes.txt", "other.h5", "marked.h5", "cut.h5", "results.d", "gone.h5"])
@pytest.mark.parametrize("verb", ["info", "plot", "reweight", "merge", "fit"])
def test_a_file_that_is_not_a_result_is_named(tmp_path, capsys, verb, name):
    expected = _not_results(tmp_path)[name].format(tmp_path / name)
    path = tmp_path / name
    argv = {
        "info": ["info", path],
        "plot": ["plot", path, "-o", tmp_path / "p.png"],
        "reweight": ["reweight", path, "--spectrum", "power_law", "-o", tmp_path / "rw.h5"],
        "merge": ["merge", path, path, "-o", tmp_path / "m.h5"],
        "fit": ["fit", path, "--data", "ams02_proton_physrep2021", "-o", tmp_path / "f.png"],
    }[verb]
    rc, _, err = _cli(argv, capsys)
    _assert_refused(rc, err, expected)
    assert not any((tmp_path / f).exists() for f in ("p.png", "rw.h5", "m.h5", "f.png"))


def test_file_errors_in_a_subprocess(tmp_path):
    """The real command on a text file and on a binary configuration: rc 2, the file named."""
    _not_results(tmp_path)
    proc = sdeprop_cli("info", "notes.txt", cwd=tmp_path)
    assert_clean_failure(proc, "'notes.txt' is not an sdeprop result (not an HDF5 file)", rc=2)
    path = _bad_file(tmp_path, "binary")
    proc = sdeprop_cli("run", path, "-o", tmp_path / "out" / "r.h5", cwd=tmp_path)
    assert_clean_failure(proc, "binary.toml", "not a text (TOML) file", rc=2)
    assert not (tmp_path / "out").exists() and leftovers(tmp_path) == []


# ============================================================================ options given wrongly
@pytest.mark.parametrize(
    "text, words",
    [
        ("power_law:index=2,index=3", ["'index' is given twice"]),
        ("power_law:index=nan", ["index", "nan"]),
        ("power_law:index", ["'index' must be key=value"]),
        ("power_law:slope=2", ["slope"]),
    ],
)
def test_spectrum_options_are_strict(text, words):
    """A spectrum written on the command line: a repeated, non-finite, malformed or unknown option is
    refused naming it (not silently the last value, a NaN density or an ignored key)."""
    from sdeprop.spectra import parse_spectrum

    with pytest.raises(ConfigError) as err:
        parse_spectrum(text)
    for word in words:
        assert word in str(err.value), (word, str(err.value))


@pytest.mark.parametrize("spec", ["5:2", "3:3", "-1:4", "0:99", "a:b"])
def test_batch_ranges_are_checked(tmp_path, capsys, spec):
    """--batches START:STOP outside the plan or empty: refused naming the option and the plan size."""
    config = _config(tmp_path, name="base.toml")
    rc, out, err = _cli(["run", config, "-o", tmp_path / "out" / "o.h5", f"--batches={spec}"], capsys)
    assert rc == 2 and "Traceback" not in err, (rc, err)
    assert f"batches '{spec}'" in err and "START:STOP" in err, err
    assert not (tmp_path / "out").exists()


def test_a_reader_that_goes_away_is_not_an_error(tmp_path):
    """``sdeprop config | true``: the reader is gone before the first line is written (as with
    ``| head`` on a long listing); the command stops quietly with the SIGPIPE status instead of
    printing an error about its own output."""
    import subprocess
    import sys

    from .conftest import ROOT

    shell = f"{sys.executable} -m sdeprop config | true"
    proc = subprocess.run(
        ["bash", "-o", "pipefail", "-c", shell],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.stderr == "", proc.stderr
    assert proc.returncode == 141, proc.returncode
