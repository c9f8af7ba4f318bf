"""The worker pool of a parallel run ends with the run.

A 2-worker run is started in its own session and signalled once its workers are busy: on SIGTERM
the run shuts its pool down and exits with 143 and one line; on SIGKILL the workers notice that
their parent is gone and end themselves; a checkpoint that cannot be written (full disk) stops
the pool as well.  Either way no process of the session (workers, loky's
resource trackers) may remain.  A single-process run, whose parent is the user's shell, keeps
running when that shell goes (what ``nohup`` relies on).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import (
    BASE_TOML,
    ROOT,
    assert_clean_failure,
    file_size_limit,
    kill_session,
    session_processes,
    start_cli,
)

PARALLEL_TOML = (
    BASE_TOML.replace("particles = 2000", "particles = 2000000")
    .replace("batch_size = 200", "batch_size = 20000")
    .replace("workers = 1", "workers = 2")
)
"""100 batches of ~1 s: minutes of work, far more than the test waits."""

WORKER_MARK = "LokyProcess"


def _cmdline(pid) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def wait_until_workers_busy(proc, partial: Path, timeout=90.0) -> list[int]:
    """Wait until both workers exist and a first batch has come back (they are in the kernel)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        workers = [p for p in session_processes(proc.pid) if WORKER_MARK in _cmdline(p)]
        batch_back = (partial / "prefix.npz").exists() or any(partial.glob("batch_*.npz"))
        if len(workers) == 2 and batch_back:
            return workers
        time.sleep(0.1)
    pytest.fail(f"no batch came back from the workers within {timeout} s")


def wait_until_session_empty(session_id, timeout=15.0) -> list[str]:
    """Processes of the session still alive after ``timeout`` s (with their command lines)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not session_processes(session_id):
            return []
        time.sleep(0.1)
    return [f"{p}: {_cmdline(p)}" for p in session_processes(session_id)]


@pytest.fixture
def parallel_run(tmp_path):
    """A 2-worker run started in its own session, its workers busy; every process of the session is
    killed at teardown whatever happens."""
    (tmp_path / "par.toml").write_text(PARALLEL_TOML)
    proc = start_cli("run", "par.toml", "-o", "par.h5", cwd=tmp_path)
    try:
        workers = wait_until_workers_busy(proc, tmp_path / "par.h5.partial")
        yield proc, workers
    finally:
        for _ in range(100):
            kill_session(proc.pid)
            if not session_processes(proc.pid):
                break
            time.sleep(0.1)
        proc.kill()
        try:
            proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:  # a pipe still held open: nothing more to read
            pass


def test_sigterm_shuts_the_pool_down(parallel_run, tmp_path):
    proc, workers = parallel_run
    os.kill(proc.pid, signal.SIGTERM)
    proc.wait(timeout=30)
    assert wait_until_session_empty(proc.pid) == []
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 128 + signal.SIGTERM, stderr[-2000:]
    assert "Traceback" not in stderr, stderr[-3000:]
    assert "terminated (SIGTERM)" in stderr and "par.h5.partial" in stderr, stderr[-2000:]
    assert len(stderr.strip().splitlines()) == 1, stderr[-2000:]
    assert not (tmp_path / "par.h5").exists()
    assert sorted(p.name for p in tmp_path.rglob("*.tmp")) == []


def test_workers_end_when_the_run_is_killed(parallel_run, tmp_path):
    proc, workers = parallel_run
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert wait_until_session_empty(proc.pid) == []
    assert not (tmp_path / "par.h5").exists()


def test_failed_checkpoint_write_shuts_the_pool_down(tmp_path):
    """The disk is full while the workers run: one line naming the file, and the pool goes too."""
    (tmp_path / "par.toml").write_text(PARALLEL_TOML)
    proc = start_cli("run", "par.toml", "-o", "par.h5", cwd=tmp_path, preexec_fn=file_size_limit(4096))
    try:
        stdout, stderr = proc.communicate(timeout=120)
        assert wait_until_session_empty(proc.pid) == []
    finally:
        kill_session(proc.pid)
    done = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
    assert_clean_failure(done, "cannot write", "batch_", "file too large", "par.h5.partial", rc=2)
    assert len(stderr.strip().splitlines()) == 1, stderr[-2000:]
    assert sorted(p.name for p in tmp_path.rglob("*.tmp")) == []


def test_single_process_run_outlives_its_shell(base_toml, tmp_path):
    """``nohup``-like: the shell that started a one-worker run exits at once; the run goes on and
    writes its result."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = f"'{sys.executable}' -m sdeprop run '{base_toml}' -o out.h5 > log.txt 2>&1 &"
    shell = subprocess.Popen(["bash", "-c", command], cwd=tmp_path, env=env, start_new_session=True)
    try:
        assert shell.wait(timeout=10) == 0
        assert wait_until_session_empty(shell.pid, timeout=120) == []
        assert "wrote out.h5" in (tmp_path / "log.txt").read_text()
        assert (tmp_path / "out.h5").is_file()
    finally:
        kill_session(shell.pid)
