"""Exclusive locks on output paths, so that two processes never write the same output at once.

``output_lock(path)`` takes an exclusive, non-blocking ``flock`` on ``<path>.lock`` for the time
of a ``with`` block and writes the holder's pid, host, start time and command line into it.  A
second process asking for the same output is refused at once (:class:`OutputInUseError` naming the
holder).  The kernel drops an ``flock`` when its process ends, however it ends (SIGKILL included),
so a dead run never blocks a later one: a lock file left behind by a killed process is simply
taken over.  The holder removes the file when the block ends (normally, by an exception or by
Ctrl-C), while it still holds the lock.

Why the inode check: process A may open the lock file just before its holder B unlinks it and
exits; A's ``flock`` then succeeds on a file that no longer has a name, while a third process C
creates and locks a new ``<path>.lock``.  After locking, A therefore checks that the path still
names the file it locked, and starts over if it does not.
"""

from __future__ import annotations

import fcntl
import json
import os
import shlex
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from .errors import OutputInUseError

LOCK_SUFFIX = ".lock"
_HOLDER_WAIT_S = 0.5  # how long a refused process waits for the holder's details to appear
_MAX_ATTEMPTS = 100  # lock file replaced under us this often in a row: give up (never seen in practice)


def lock_path(output) -> Path:
    """The lock file of an output path: ``<output>.lock`` beside it."""
    return Path(str(output) + LOCK_SUFFIX)


@contextmanager
def output_lock(output) -> Iterator[Path]:
    """Hold the exclusive lock on ``output`` for the ``with`` block; yields the lock file's path.

    Creates the output's folder if needed, and removes the folders it created when they are still
    empty at the end (a run refused after taking the lock leaves nothing behind).  Raises
    :class:`OutputInUseError` at once when another process (or another ``output_lock`` of this
    process) holds it, and OSError naming the lock file when it cannot be created (e.g. a read-only
    folder)."""
    path = lock_path(output)
    created = [p for p in (path.parent, *path.parent.parents) if not p.exists()]
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = _acquire(path, output)
        try:
            _write_holder(fd)
            yield path
        finally:
            _release(fd, path)
    finally:
        for folder in created:  # deepest first
            try:
                folder.rmdir()
            except OSError:  # not empty (the output is there) or already gone
                break


def _acquire(path: Path, output) -> int:
    for _ in range(_MAX_ATTEMPTS):
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        except OSError as exc:
            raise OSError(
                exc.errno, f"cannot create the lock file '{path}' for the output '{output}': {exc.strerror}"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise OutputInUseError(
                f"the output '{output}' is in use by another sdeprop process ({holder}); wait for it to "
                f"finish or choose another output path (its lock file is '{path}')"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        if _names_same_file(path, fd):
            return fd
        os.close(fd)  # the file was unlinked (and maybe replaced) between open and flock: start over
    raise OSError(f"could not lock '{path}': the lock file kept being replaced by other processes")


def _names_same_file(path: Path, fd: int) -> bool:
    try:
        on_disk = os.stat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (on_disk.st_dev, on_disk.st_ino) == (held.st_dev, held.st_ino)


def _write_holder(fd: int):
    command = getattr(sys, "orig_argv", None) or sys.argv
    holder = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "since_utc": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "command": shlex.join(str(a) for a in command),
    }
    data = (json.dumps(holder) + "\n").encode()
    os.ftruncate(fd, 0)
    os.pwrite(fd, data, 0)


def _read_holder(fd: int) -> str:
    """The holder's details as words; it writes them just after locking, so wait for them briefly."""
    deadline = time.monotonic() + _HOLDER_WAIT_S
    while True:
        try:
            holder = json.loads(os.pread(fd, 65536, 0).decode())
            pid, host, since = (_one_line(holder[k]) for k in ("pid", "host", "since_utc"))
            command = _one_line(holder.get("command", ""))
            if len(command) > 200:
                command = command[:197] + "..."
            return f"pid {pid} on host {host}, since {since}" + (f", command: {command}" if command else "")
        except (ValueError, KeyError, TypeError, AttributeError, OSError):
            if time.monotonic() > deadline:
                return "its pid and host are not recorded in the lock file"
            time.sleep(0.02)


def _one_line(value) -> str:
    """A recorded value as one line of text (a command may hold newlines, e.g. ``python -c``)."""
    return " ".join(str(value).split())


def _release(fd: int, path: Path):
    """Remove the lock file while still holding the lock, then drop the lock."""
    try:
        if _names_same_file(path, fd):
            os.unlink(path)
    except OSError:
        pass  # removed by hand already: nothing to clean up
    finally:
        os.close(fd)
