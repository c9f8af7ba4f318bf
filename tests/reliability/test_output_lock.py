"""Two writers on one output: the second is refused at once, naming the first; a dead holder
blocks nobody; no lock file outlives a run, whether it ends normally, by an error or by Ctrl-C.

The concurrent runs are real processes: a paced ``sdeprop run`` (tests/reliability/paced_run.py)
holds the output while this test process tries the same output through the ordinary command.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

import sdeprop
import sdeprop.locks as locks
from sdeprop.cli import main
from sdeprop.errors import ConfigError, OutputInUseError
from sdeprop.locks import lock_path, output_lock

from .conftest import BASE_TOML, ROOT, leftovers
from .paced_run import lock_holder, start_paced_run, wait_for


@pytest.fixture(scope="module")
def reference():
    return sdeprop.run(tomllib.loads(BASE_TOML))


def _same_as(path: Path, reference):
    result = sdeprop.load_result(path)
    assert result.counts == reference.counts
    for name, tally in reference.tallies.items():
        assert np.array_equal(result.tallies[name].sums, tally.sums), name


def _holding(proc, lock: Path):
    """Wait until ``proc`` holds ``lock`` and has written its record; returns the record."""
    wait_for(lambda: (lock_holder(lock) or {}).get("pid") == proc.pid, proc, what=f"{lock} to name the run")
    return lock_holder(lock)


def test_second_run_on_the_same_output_is_refused_naming_the_first(base_toml, tmp_path, capsys, reference):
    out = tmp_path / "out.h5"
    lock = lock_path(out)
    first = start_paced_run("run", base_toml, "-o", out, "-q", cwd=tmp_path, pause_s=0.2)
    try:
        holder = _holding(first, lock)
        assert holder["host"] == socket.gethostname() and "run" in holder["command"]
        capsys.readouterr()
        assert main(["run", str(base_toml), "-o", str(out), "-q"]) == 2
        err = capsys.readouterr().err
        assert err.startswith("sdeprop: error: ") and err.count("\n") == 1, err
        for word in (f"'{out}'", "in use", f"pid {first.pid}", holder["host"], holder["since_utc"], "wait"):
            assert word in err, (word, err)
        assert first.poll() is None  # it was running all along
        # reweight and merge onto the run's output are refused the same way
        other = tmp_path / "other.h5"
        sdeprop.run(tomllib.loads(BASE_TOML), output=other, particles=400)
        assert main(["reweight", str(other), "--spectrum", "power_law:index=2.5", "-o", str(out)]) == 2
        assert f"pid {first.pid}" in capsys.readouterr().err
        assert main(["merge", str(other), str(other), "-o", str(out)]) == 2
        assert f"pid {first.pid}" in capsys.readouterr().err
        _, err_first = first.communicate(timeout=120)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
    assert first.returncode == 0, err_first[-2000:]
    _same_as(out, reference)  # the first run finished correctly
    assert not lock.exists() and leftovers(tmp_path) == []
    assert not Path(str(out) + ".partial").exists()


def test_sigkilled_holder_does_not_block_the_next_run(base_toml, tmp_path, reference):
    out = tmp_path / "out.h5"
    lock = lock_path(out)
    first = start_paced_run("run", base_toml, "-o", out, "-q", cwd=tmp_path, pause_s=0.2)
    _holding(first, lock)
    os.killpg(first.pid, signal.SIGKILL)
    first.communicate()
    assert lock.exists()  # the file of the dead holder is still there, but nobody holds its lock
    assert main(["run", str(base_toml), "-o", str(out), "-q"]) == 0  # takes it over and resumes
    _same_as(out, reference)
    assert not lock.exists() and leftovers(tmp_path) == []


def test_ctrl_c_leaves_no_lock_file(base_toml, tmp_path):
    out = tmp_path / "out.h5"
    lock = lock_path(out)
    first = start_paced_run("run", base_toml, "-o", out, "-q", cwd=tmp_path, pause_s=0.2)
    _holding(first, lock)
    wait_for(lambda: (Path(str(out) + ".partial") / "prefix.npz").exists(), first, what="a saved batch")
    first.send_signal(signal.SIGINT)
    _, err = first.communicate(timeout=60)
    assert first.returncode == 130 and "interrupted after" in err and "Traceback" not in err, err
    assert not lock.exists() and not out.exists() and leftovers(tmp_path) == []


def test_error_inside_the_lock_leaves_no_lock_file(tmp_path, capsys):
    """A run refused after it took the lock (memory budget, checked once the model is built)."""
    cfg = tomllib.loads(BASE_TOML)
    cfg["run"]["memory_budget_GiB"] = 1e-9
    out = tmp_path / "out.h5"
    with pytest.raises(ConfigError, match="memory_budget_GiB"):
        sdeprop.run(cfg, output=out)
    assert sorted(os.listdir(tmp_path)) == []


def test_python_api_takes_the_same_lock(tmp_path):
    out = tmp_path / "out.h5"
    with output_lock(out):
        with pytest.raises(OutputInUseError, match=rf"pid {os.getpid()} on host"):
            sdeprop.run(tomllib.loads(BASE_TOML), output=out)
        cfg = tomllib.loads(BASE_TOML)
        cfg["run"]["output"] = str(out)
        with pytest.raises(OutputInUseError):  # the output named by run.output
            sdeprop.run(cfg, write=True)
    assert sorted(os.listdir(tmp_path)) == []
    sdeprop.run(tomllib.loads(BASE_TOML), output=out, particles=200)
    assert sorted(os.listdir(tmp_path)) == ["out.h5"]


_HOLDER = """
import sys, time
from sdeprop.locks import output_lock
with output_lock(sys.argv[1]):
    print("held", flush=True)
    time.sleep(120)
"""


def test_lock_held_by_another_process_refuses_merge_and_reweight(tmp_path, capsys):
    """A process holding the output's lock; merge and reweight onto it are refused, the earlier
    file at that path is untouched; once the holder is killed they go through."""
    a, b, out = tmp_path / "a.h5", tmp_path / "b.h5", tmp_path / "out.h5"
    cfg = tomllib.loads(BASE_TOML)
    sdeprop.run(cfg, output=a, batches="0:1")
    sdeprop.run(cfg, output=b, batches="1:2")
    out.write_bytes(a.read_bytes())  # an earlier good output at this path
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(out)],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        capsys.readouterr()
        assert main(["merge", str(a), str(b), "-o", str(out)]) == 2
        assert main(["reweight", str(a), "--spectrum", "power_law:index=2.5", "-o", str(out)]) == 2
        assert (
            main(
                [
                    "reweight",
                    str(a),
                    "--spectrum",
                    "power_law:index=2.5",
                    "-o",
                    str(a) + ".x",
                    "--csv",
                    str(out),
                ]
            )
            == 2
        )
        err = capsys.readouterr().err
        assert err.count(f"in use by another sdeprop process (pid {holder.pid}") == 3, err
        assert out.read_bytes() == a.read_bytes()
    finally:
        os.killpg(holder.pid, signal.SIGKILL)
        holder.communicate()
    assert main(["merge", str(a), str(b), "-o", str(out)]) == 0
    assert sdeprop.load_result(out).counts["injected"] == 400
    assert not lock_path(out).exists() and leftovers(tmp_path) == []


def test_lock_file_replaced_between_open_and_flock_is_retried(tmp_path, monkeypatch):
    """The race the inode check is for: the previous holder unlinks the file we opened and a new
    file appears at the path before our flock; the lock must end up on the file the path names."""
    out = tmp_path / "out.h5"
    lock = lock_path(out)
    real_flock = locks.fcntl.flock
    calls = []

    def racing_flock(fd, op):
        calls.append(fd)
        if len(calls) == 1:
            os.unlink(lock)  # the old holder leaves ...
            lock.write_text("")  # ... and a third process creates a new lock file
        return real_flock(fd, op)

    monkeypatch.setattr(locks.fcntl, "flock", racing_flock)
    with output_lock(out):
        monkeypatch.setattr(locks.fcntl, "flock", real_flock)
        assert len(calls) == 2  # the first attempt locked an unlinked file and started over
        with pytest.raises(OutputInUseError):  # the lock is on the file the path names
            with output_lock(out):
                pass
    assert not lock.exists()


def test_stale_or_garbled_lock_file_is_taken_over(tmp_path):
    out = tmp_path / "out.h5"
    lock_path(out).write_bytes(b"\x00garbage from a crashed holder")
    with output_lock(out) as held:
        assert lock_holder(held)["pid"] == os.getpid()
    assert not lock_path(out).exists()


def test_lock_file_that_cannot_be_created_is_a_clean_error(tmp_path, capsys, base_toml):
    """A folder squats on the lock file's name: one line naming the lock file, nothing written."""
    out = tmp_path / "out.h5"
    lock_path(out).mkdir()
    assert main(["run", str(base_toml), "-o", str(out), "-q"]) == 2
    err = capsys.readouterr().err
    assert f"cannot create the lock file '{lock_path(out)}' for the output '{out}'" in err, err
    assert sorted(os.listdir(tmp_path)) == ["base.toml", "out.h5.lock"]
