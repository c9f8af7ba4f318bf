"""A real ``sdeprop run`` in a subprocess whose batches are paced, so a test can act while it runs.

The run is the ordinary command (``sdeprop.cli.main``) with one change made in the child before
it starts: the engine's batch executor pauses ``pause_s`` after each finished batch and may run
the batches in another order (``first_in_order`` batches in plan order, then the rest from the
last one down).  Out of order, finished batches wait in ``batch_NNNNNN.npz`` files for their
predecessors, which is how a run with parallel workers leaves them when it is killed.  The pause
gives a test a dependable window to kill the run, interrupt it, or start a second run against it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from .conftest import ROOT, interruptible

_CHILD = """
import sys, time
import sdeprop.engine as engine
from sdeprop.cli import main

pause_s, first_in_order = float(sys.argv[1]), int(sys.argv[2])
real_execute = engine._execute

def paced_execute(model, indices, *args, **kwargs):
    indices = list(indices)
    if first_in_order >= 0:
        indices = indices[:first_in_order] + indices[first_in_order:][::-1]
    for res in real_execute(model, indices, *args, **kwargs):
        yield res
        time.sleep(pause_s)

engine._execute = paced_execute
sys.exit(main(sys.argv[3:]))
"""


def start_paced_run(*args, cwd, pause_s=0.15, first_in_order=-1) -> subprocess.Popen:
    """``sdeprop ARGS`` (e.g. ``"run", cfg, "-o", out``) in its own session, paced as described above;
    ``first_in_order = -1`` keeps the plan order."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(pause_s), str(first_in_order), *map(str, args)],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=interruptible(),
    )


def wait_for(condition, proc: subprocess.Popen, timeout=120.0, what="the condition"):
    """Poll ``condition()`` every 5 ms until it holds; fail if ``proc`` ends first or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"the run ended (rc {proc.returncode}) before {what}: {err[-2000:]}")
        time.sleep(0.005)
    raise AssertionError(f"timed out waiting for {what}")


def lock_holder(lock: Path) -> dict | None:
    """The holder's record in a lock file (pid, host, since_utc, command), None while unwritten."""
    try:
        return json.loads(lock.read_text())
    except (OSError, ValueError):
        return None
