"""Provenance: where and with what a result was made (recorded in every output file)."""

from __future__ import annotations

import datetime as _dt
import platform
import socket
import subprocess
from importlib import metadata
from pathlib import Path

DEPENDENCIES = (
    "numpy",
    "numba",
    "llvmlite",
    "scipy",
    "h5py",
    "joblib",
    "pydantic",
    "matplotlib",
    "tqdm",
    "dask",
    "distributed",
)


def git_commit() -> str:
    """Commit of the package's git checkout, or 'unknown' (e.g. for an installed wheel)."""
    try:
        here = Path(__file__).resolve().parent
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5
        )
        if out.returncode != 0:
            return "unknown"
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=here,
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
        return out.stdout.strip() + ("+modified" if dirty else "")
    except Exception:
        return "unknown"


def dependency_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in DEPENDENCIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def environment() -> dict:
    """Version, git commit, host, platform, time and dependency versions."""
    # inside the function: sdeprop/__init__.py defines __version__ and, through io and result, imports
    # this module, so at module level the package would still be initialising
    from . import __version__

    return {
        "sdeprop_version": __version__,
        "git_commit": git_commit(),
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "created_utc": _dt.datetime.now(_dt.UTC).isoformat(),
        "dependencies": dependency_versions(),
    }
