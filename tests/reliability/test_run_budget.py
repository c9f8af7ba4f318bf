"""A run that cannot finish: the cost estimate at set-up and honest counts at the end.

With a diffusion coefficient 10⁸ times too small (D0 = 1e20 cm²/s) every step moves ~3e-5 kpc,
crossing a 2 kpc halo would take ~4e9 steps, and every particle runs into the step limit
(numerics.max_steps_per_particle, 1e7 by default).  Such a run is refused at set-up by the
cost pilot when its estimate exceeds run.max_cpu_hours; when it does run, its counts and its
warning say that the step limit stopped the particles, not t_max.
"""

from __future__ import annotations

import logging
import math
import os
import signal
import time
import tomllib

import numpy as np
import pytest

import sdeprop
from sdeprop import engine
from sdeprop.errors import ConfigError

from .conftest import BASE_TOML, assert_clean_failure, leftovers, sdeprop_cli, start_cli

TINY_D = "\n[diffusion]\nD0_cm2_per_s = 1e20\n"


@pytest.fixture(scope="module", autouse=True)
def compiled_kernel():
    """Compile the kernel (or load it) once, so that numba's disk cache is warm for the CLI runs
    whose set-up time is asserted."""
    cfg = _config()
    cfg["run"].update(particles=10, batch_size=10)
    sdeprop.run(cfg)


def _config(extra: str = "") -> dict:
    return tomllib.loads(BASE_TOML + extra)


def _nothing_written(folder, output):
    assert not output.exists()
    assert not (folder / (output.name + ".partial")).exists()
    assert leftovers(folder) == []


@pytest.mark.parametrize(
    "args",
    [
        # a production-size run at the default budget (10⁴ CPU hours)
        ("--particles", "1000000000", "--set", "run.batch_size=1000000"),
        # the quick base run at a small budget
        ("--set", "run.max_cpu_hours=0.01"),
        # the quick base run at the default budget: 0.4 CPU hours of particles all stopped by the
        # step limit, refused by the per-particle check
        (),
    ],
    ids=["default-budget", "small-budget", "default-budget-small-run"],
)
def test_tiny_diffusion_is_refused_at_setup(tmp_path, args):
    """D0 = 1e20: refused within seconds with the estimate, the key and the cause; nothing written."""
    cfg = tmp_path / "tiny_d.toml"
    cfg.write_text(BASE_TOML + TINY_D)
    out = tmp_path / "out.h5"
    t0 = time.perf_counter()
    proc = sdeprop_cli("run", cfg, "-q", "-o", out, *args, cwd=tmp_path, timeout=120)
    elapsed = time.perf_counter() - t0
    assert_clean_failure(
        proc,
        "run.max_cpu_hours",
        "CPU hours",
        "h wall on 1 worker",
        "steps per particle",
        "D0_cm2_per_s",
        rc=2,
    )
    assert "at least" in proc.stderr  # no pilot particle left the halo: the estimate is a lower bound
    assert elapsed < 30, elapsed  # CLI start-up, set-up and a ~1 s pilot
    _nothing_written(tmp_path, out)


def test_step_limited_run_says_so(tmp_path):
    """A small D0 = 1e20 run: refused at a tiny budget; with the check off it runs, every particle is
    counted as stopped by the step limit, and the advice is about the step size, not t_max."""
    cfg = tmp_path / "tiny_d.toml"
    cfg.write_text(BASE_TOML + TINY_D + "\n[numerics]\nmax_steps_per_particle = 2000\n")
    out = tmp_path / "out.h5"
    small = ("--particles", "20", "--set", "run.batch_size=10")
    refused = sdeprop_cli(
        "run", cfg, "-q", "-o", out, *small, "--set", "run.max_cpu_hours=1e-9", cwd=tmp_path
    )
    assert_clean_failure(refused, "run.max_cpu_hours", "steps per particle", rc=2)
    _nothing_written(tmp_path, out)

    proc = sdeprop_cli("run", cfg, "-q", "-o", out, *small, "--set", "run.max_cpu_hours=0", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "alive at t_max 0, stopped by the step limit 20," in proc.stdout, proc.stdout
    assert "numerics.max_steps_per_particle" in proc.stderr, proc.stderr
    assert "D is tiny compared with the geometry" in proc.stderr
    assert "time.regimes t_max_Myr" not in proc.stderr and "still alive at t_max" not in proc.stderr
    result = sdeprop.load_result(out)
    assert result.counts["max_steps_reached"] == 20
    assert result.counts["alive_at_t_max"] == 0
    assert leftovers(tmp_path) == []


def test_budget_raised_lets_the_run_through(caplog):
    """An ordinary run is refused below the pilot's estimate and goes through once run.max_cpu_hours
    is above it."""
    cfg = _config()
    cfg["run"]["max_cpu_hours"] = 1e-9
    with pytest.raises(ConfigError, match="run.max_cpu_hours"):
        sdeprop.run(cfg)
    cfg["run"]["max_cpu_hours"] = 1.0
    with caplog.at_level(logging.INFO, logger="sdeprop.engine"):
        result = sdeprop.run(cfg)
    assert "cost estimate:" in caplog.text
    assert result.counts["injected"] == 2000 and result.counts["max_steps_reached"] == 0


def test_step_limited_run_is_refused_whatever_the_budget():
    """Particles that would all stop at the step limit are refused at any budget but 0 (which
    switches the checks off): the message names the step limit and the tiny D."""
    cfg = _config(TINY_D + "\n[numerics]\nmax_steps_per_particle = 2000\n")
    cfg["run"].update(particles=20, batch_size=10, max_cpu_hours=1e4)
    with pytest.raises(ConfigError, match="numerics.max_steps_per_particle") as err:
        sdeprop.run(cfg)
    assert "D is tiny compared with the geometry" in str(err.value)


def test_steps_shortened_by_losses_are_not_refused():
    """Electrons with D0 = 1e20 cool before they could cross the halo: the pilot sees them finish
    (below the energy floor), so the per-particle check lets the run go ahead."""
    cfg = _config(TINY_D + '\n[species]\nname = "electron"\n\n[losses]\nmodel = "quadratic"\n')
    cfg["run"].update(particles=20, batch_size=10)
    model = engine.build_model(sdeprop.load_config(cfg))
    est = engine.estimate_cost(model, [10, 10], workers=1, seed=7)
    assert est.pilot_finished - est.pilot_at_step_limit == engine.PILOT_PARTICLES, est.describe()
    engine._refuse_step_limited(model.config, est)  # does not raise
    result = sdeprop.run(cfg)  # nor does the whole set-up
    assert result.counts["below_energy_floor"] == 20


def test_t_max_limited_run_gets_the_t_max_advice(caplog):
    """A tiny t_max stops the particles inside the halo: the warning says t_max, not the step limit."""
    cfg = _config("\n[[time.regimes]]\nenergy_max_GeV = 1000.0\nt_max_Myr = 0.01\n")
    with caplog.at_level(logging.WARNING, logger="sdeprop.engine"):
        result = sdeprop.run(cfg)
    assert result.counts["alive_at_t_max"] > 0.5 * result.counts["injected"]
    assert result.counts["max_steps_reached"] == 0
    assert "raise time.regimes t_max_Myr" in caplog.text
    assert "max_steps_per_particle" not in caplog.text


def test_pilot_estimate_agrees_with_the_run():
    """The pilot's mean steps per particle against the run's mean.

    The pilot draws n = 32 particles from the run's source and energy distributions with its own
    stream, so its mean is an independent sample mean with standard error s/√n (s: the pilot's
    sample deviation); the run's mean over N = 2000 particles has s/√N.  The two agree within
    4 standard errors of the difference, s·√(1/n + 1/N) (a 6e-5 two-sided chance to fail if
    Gaussian; the seeds are fixed, so the test is deterministic).
    """
    for extra in ("", "\n[time]\nstep_fraction = 0.05\n"):  # ~110 and ~440 steps per particle
        cfg = sdeprop.load_config(_config(extra))
        model = engine.build_model(cfg)
        sizes = engine.batch_plan(cfg.run.particles, cfg.run.batch_size)
        est = engine.estimate_cost(model, sizes, workers=1, seed=cfg.run.seed)
        assert not est.lower_bound and est.pilot_finished == engine.PILOT_PARTICLES
        result = sdeprop.run(cfg)
        actual = result.counts["steps"] / result.counts["injected"]
        s = est.steps_per_particle_error * math.sqrt(engine.PILOT_PARTICLES)
        tolerance = 4 * s * math.sqrt(1 / engine.PILOT_PARTICLES + 1 / result.counts["injected"])
        assert abs(est.steps_per_particle - actual) < tolerance, (extra, est.describe(), actual, tolerance)
        assert est.particles == cfg.run.particles and est.batches == len(sizes)
        assert 0 < est.cpu_s_per_step < 1e-4


def test_results_are_bit_identical_with_and_without_the_pilot(caplog):
    """The pilot has its own stream and its own arrays: the run's tallies and counts do not change."""
    cfg = _config()
    cfg["run"]["max_cpu_hours"] = 0  # no check, no pilot
    without = sdeprop.run(cfg)
    cfg["run"]["max_cpu_hours"] = 1.0  # the check is on: the pilot runs
    with caplog.at_level(logging.INFO, logger="sdeprop.engine"):
        with_pilot = sdeprop.run(cfg)
    assert "cost estimate:" in caplog.text
    assert without.counts == with_pilot.counts
    for name in without.tallies:
        assert np.array_equal(without.tallies[name].sums, with_pilot.tallies[name].sums), name


def test_estimate_covers_the_batches_asked(caplog):
    """With a subset of the plan the estimate is for those batches only."""
    cfg = _config()
    cfg["run"]["max_cpu_hours"] = 1e-3
    with caplog.at_level(logging.INFO, logger="sdeprop.engine"):
        sdeprop.run(cfg, batches="2:5")
    assert "600 particles in 3 batch(es)" in caplog.text


def test_pilot_runs_locally_before_a_dask_scheduler_is_reached():
    """With a scheduler the pilot runs here: a refused run never contacts the (absent) cluster."""
    cfg = _config(TINY_D)
    cfg["run"]["max_cpu_hours"] = 0.01
    with pytest.raises(ConfigError, match="Dask cluster") as err:
        sdeprop.run(cfg, scheduler="tcp://127.0.0.1:9")
    assert "run.max_cpu_hours" in str(err.value)


@pytest.mark.parametrize("value", [-1, "lots", float("nan"), float("inf"), True])
def test_budget_key_is_validated(value):
    cfg = _config()
    cfg["run"]["max_cpu_hours"] = value
    with pytest.raises(ConfigError, match="max_cpu_hours"):
        sdeprop.load_config(cfg)


def test_ctrl_c_during_the_pilot_leaves_nothing(tmp_path):
    """SIGINT while the pilot runs (D0 = 1e20: it runs its full second): exit 130 with a message,
    no output, no checkpoint folder, no temporary file."""
    cfg = tmp_path / "tiny_d.toml"
    cfg.write_text(BASE_TOML + TINY_D)
    out = tmp_path / "out.h5"
    proc = start_cli("-v", "run", cfg, "-q", "-o", out, "--set", "run.max_cpu_hours=0.01", cwd=tmp_path)
    try:
        for line in proc.stderr:
            if "cost pilot:" in line:
                break
        time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, (proc.returncode, err[-2000:])
    assert "Traceback" not in err and "interrupted" in err, err[-2000:]
    _nothing_written(tmp_path, out)
