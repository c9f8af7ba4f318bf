"""HDF5 round trip, atomic writes, and the command-line interface."""

import numpy as np
import pytest

import sdeprop
from sdeprop.cli import main


def test_hdf5_round_trip(tmp_path, small_config):
    out = tmp_path / "r.h5"
    res = sdeprop.run(small_config, output=out)
    assert out.exists() and not list(tmp_path.glob("*.tmp"))
    back = sdeprop.load_result(out)
    assert back.counts == res.counts
    assert back.metadata["seed"] == 7
    assert "[field]" in back.config_toml and back.config.field.model == "uniform"
    for name, t in res.tallies.items():
        b = back.tallies[name]
        np.testing.assert_array_equal(b.sum1, t.sum1)
        np.testing.assert_array_equal(b.density, t.density)
        np.testing.assert_array_equal(b.uncertainty, t.uncertainty)
        for axis, edges in t.edges.items():
            np.testing.assert_array_equal(b.edges[axis], edges)
    c = res.counts
    assert c["injected"] == 400
    assert c["escaped_z"] + c["escaped_R"] + c["alive_at_t_max"] + c["max_steps_reached"] == 400


def test_failed_write_leaves_nothing(tmp_path, small_config, monkeypatch):
    import sdeprop.io as io

    res = sdeprop.run(small_config)

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(io, "_write_batch_table", boom)  # fail in the middle of writing
    with pytest.raises(RuntimeError):
        io.write_result(res, tmp_path / "x.h5")
    assert list(tmp_path.iterdir()) == []


def test_cli_run_info_reweight_plot(tmp_path, small_config, capsys):
    from sdeprop.config import load_config

    cfg = tmp_path / "c.toml"
    cfg.write_text(load_config(small_config).to_toml())
    out = tmp_path / "o.h5"
    assert (
        main(["run", str(cfg), "-o", str(out), "--particles", "200", "--workers", "1", "--quiet", "--plot"])
        == 0
    )
    assert out.exists() and out.with_suffix(".png").exists()
    assert main(["info", str(out)]) == 0
    assert "injected=200" in capsys.readouterr().out
    rw = tmp_path / "rw.h5"
    csv = tmp_path / "sun.csv"
    assert (
        main(
            [
                "reweight",
                str(out),
                "--spectrum",
                "power_law:index=2.7,variable=kinetic_energy",
                "-o",
                str(rw),
                "--csv",
                str(csv),
            ]
        )
        == 0
    )
    import h5py

    res = sdeprop.load_result(out)
    expect = res.tallies["map"].reweight(sdeprop.spectra.PowerLaw(2.7, "kinetic_energy")).density
    with h5py.File(rw) as f:
        np.testing.assert_allclose(f["map/density"][()], expect, rtol=1e-12)
    assert csv.read_text().startswith("E_GeV")
    assert main(["plot", str(out), "-o", str(tmp_path / "p.png"), "--energy", "100"]) == 0
    assert (tmp_path / "p.png").stat().st_size > 1000


@pytest.mark.parametrize(
    "argv, words",
    [
        (["run", "missing.toml"], "does not exist"),
        (["info", "missing.h5"], "does not exist"),
    ],
)
def test_cli_errors_are_one_line(argv, words, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err and err.count("\n") == 1


def test_cli_bad_config_and_spectrum(tmp_path, capsys, small_config):
    bad = tmp_path / "bad.toml"
    bad.write_text("[diffusion]\nD0_cm2_per_s = -3e28\n")
    out = tmp_path / "never.h5"
    assert main(["run", str(bad), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "diffusion.D0_cm2_per_s = -3e+28" in err and "greater than 0" in err
    assert not out.exists()
    res = tmp_path / "r.h5"
    sdeprop.run(small_config, output=res)
    assert main(["reweight", str(res), "--spectrum", "power_law:index=abc"]) == 2
    assert "index = 'abc'" in capsys.readouterr().err
    assert main(["reweight", str(res), "--spectrum", "powerlaw"]) == 2
    assert "powerlaw" in capsys.readouterr().err


def test_cli_config_prints_defaults(capsys):
    assert main(["config"]) == 0
    text = capsys.readouterr().out
    import tomllib

    assert sdeprop.load_config(tomllib.loads(text)).field.model == "cerri_toy"


def test_plot_cartesian_and_local_spectrum_from_grid(tmp_path, small_config):
    """A cartesian tally gives a face-on map; without a sphere the local spectrum comes from the map cell at
    the Sun."""
    from sdeprop.plotting.result import plot_result

    cfg = dict(
        small_config,
        tally=[
            {
                "name": "box",
                "type": "cartesian",
                "x_range_kpc": [-12.0, -4.0],
                "y_range_kpc": [-4.0, 4.0],
                "z_range_kpc": [-1.0, 1.0],
                "bins": [4, 4, 2],
                "energy_bins": 3,
            }
        ],
    )
    res = sdeprop.run(cfg)
    e, n, dn = res.local_spectrum()
    t = res.tallies["box"]
    np.testing.assert_array_equal(n, t.density[1, 2, 1])  # x in [-10, -8), y in [0, 2), z in [0, 1)
    assert (tmp_path / "c.png") == plot_result(res, tmp_path / "c.png")
    assert (tmp_path / "c.png").stat().st_size > 1000
