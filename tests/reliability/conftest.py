"""Shared pieces of the fault tests: a quick base run, the CLI in a subprocess, leftover checks.

Every fault here is real: processes are killed with signals, writes fail through a file-size
limit (``RLIMIT_FSIZE``, the way a full disk looks to a program), checkpoints are truncated,
bit-flipped or swapped between runs.  Each test asserts the clean outcome: a one-line error
and a non-zero exit, or the correct result, with no earlier good output damaged and no
temporary file left behind.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

BASE_TOML = """\
[run]
particles = 2000
batch_size = 200
seed = 7
progress = false
workers = 1

[energy]
min_GeV = 10.0
max_GeV = 1000.0

[galaxy]
halo_height_kpc = 2.0
radius_max_kpc = 15.0

[field]
model = "uniform"
direction = [0.0, 0.3, 1.0]

[source]
type = "point"
position_kpc = [-8.3, 0.0, 0.0]

[[tally]]
name = "map"
type = "cylindrical"
R_bins = 6
z_bins = 4
energy_bins = 4
"""


@pytest.fixture
def base_toml(tmp_path) -> Path:
    """A quick run configuration (2000 particles in 10 batches, ~0.1 s of transport) in tmp_path."""
    path = tmp_path / "base.toml"
    path.write_text(BASE_TOML)
    return path


def file_size_limit(max_bytes: int):
    """A ``preexec_fn`` that caps the size of any file the child writes (a full disk, in effect)."""

    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, max_bytes))

    return limit


def sdeprop_cli(*args, cwd, timeout=120, preexec_fn=None, env=None, **popen) -> subprocess.CompletedProcess:
    """``python -m sdeprop ARGS`` in a fresh process (stdout and stderr captured as text)."""
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "sdeprop", *map(str, args)],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=preexec_fn,
        **popen,
    )


def interruptible(then=None):
    """A ``preexec_fn`` that gives the child the default SIGINT disposition (then runs ``then``).

    A shell that starts a job in the background sets SIGINT to "ignore", children inherit that, and
    Python then leaves it ignored: a test that interrupts its child would see the run go on.  With
    this the tests that send SIGINT do not depend on how the test session itself was launched."""

    def reset():
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        if then is not None:
            then()

    return reset


def start_cli(*args, cwd, env=None, preexec_fn=None, **popen) -> subprocess.Popen:
    """``python -m sdeprop ARGS`` started in the background, in its own session (its pid is the
    session id), interruptible by SIGINT; ``popen``: more Popen arguments; ``preexec_fn`` (e.g.
    ``file_size_limit(...)``) runs in the child too."""
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.Popen(
        [sys.executable, "-m", "sdeprop", *map(str, args)],
        cwd=cwd,
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=interruptible(preexec_fn),
        **popen,
    )


def leftovers(folder) -> list[str]:
    """Temporary files left anywhere under ``folder`` (none may remain after any outcome)."""
    return sorted(str(p.relative_to(folder)) for p in Path(folder).rglob("*.tmp"))


def assert_clean_failure(proc: subprocess.CompletedProcess, *words, rc=None):
    """A fault ended cleanly: non-zero exit (not a signal), no traceback, the message names ``words``."""
    assert proc.returncode > 0, (proc.returncode, proc.stderr[-2000:])
    if rc is not None:
        assert proc.returncode == rc, (proc.returncode, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    for word in words:
        assert word.lower() in proc.stderr.lower(), (word, proc.stderr[-2000:])


def session_processes(session_id: int) -> list[int]:
    """Pids of the live processes whose session id is ``session_id`` (read from /proc; a process
    started with ``start_cli`` leads its own session, so this lists it and everything it started
    that did not leave the session: pool workers, resource trackers).  Zombies are not counted."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "
        state, session = fields[0], int(fields[3])
        if session == session_id and state != "Z":
            pids.append(int(entry.name))
    return sorted(pids)


def kill_session(session_id: int):
    """SIGKILL every process of the session (test teardown: a failing test never leaks processes)."""
    for pid in session_processes(session_id):
        try:
            os.kill(pid, 9)
        except (ProcessLookupError, PermissionError):
            pass
