"""Writes that fail (a full disk, through a file-size limit) or are cut short by a signal.

Every output of the command (the run's HDF5 file and its checkpoints, merged and reweighted
files, figures, CSV) must fail with one line naming the file and the cause, leave no temporary
file, and leave an earlier good file at that path byte for byte as it was; an interrupted run
resumes to the result of an uninterrupted one.  A writer killed outright (SIGKILL) leaves its
temporary file behind, named so that the next write to the same path removes it.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from .conftest import (
    BASE_TOML,
    ROOT,
    assert_clean_failure,
    file_size_limit,
    leftovers,
    sdeprop_cli,
    start_cli,
)

BIG_TALLY_TOML = (
    BASE_TOML.replace("particles = 2000", "particles = 400")
    .replace("R_bins = 6", "R_bins = 100")
    .replace("z_bins = 4", "z_bins = 100")
    .replace("energy_bins = 4", "energy_bins = 40")
)
"""400 000 cells: with incompressible sums a merged file of ~22 MB, whose write takes a while."""


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """Two finished runs of the base configuration (seeds 7 and 8, mergeable), run without faults."""
    folder = tmp_path_factory.mktemp("results")
    (folder / "base.toml").write_text(BASE_TOML)
    for name, seed in (("ref", 7), ("other", 8)):
        proc = sdeprop_cli("run", "base.toml", "-o", f"{name}.h5", "--set", f"run.seed={seed}", cwd=folder)
        assert proc.returncode == 0, proc.stderr
    return {"ref": folder / "ref.h5", "other": folder / "other.h5"}


def tally_sums(path) -> dict:
    """Every tally's moments and the particle counts of a result file."""
    with h5py.File(path, "r") as f:
        out = {f"tally {name}": g["sums"][()] for name, g in f["tallies"].items()}
        out.update({f"count {k}": int(v) for k, v in f["counts"].attrs.items()})
    return out


def assert_same_result(path, reference):
    got, want = tally_sums(path), tally_sums(reference)
    assert got.keys() == want.keys()
    for key in want:
        assert np.array_equal(got[key], want[key]), key


def assert_one_line(proc):
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr[-2000:]


def earlier_output(path: Path, source=None) -> bytes:
    """Put an earlier good output at ``path`` (a copy of ``source``, or placeholder bytes)."""
    if source is not None:
        shutil.copy(source, path)
    else:
        path.write_bytes(b"an earlier good output\n")
    return path.read_bytes()


# ------------------------------------------------------------------------- full disk
def test_run_final_write_fails_cleanly_and_resumes(results, base_toml, tmp_path):
    """The HDF5 file does not fit (the checkpoints do): one line naming the file and where the batches
    are; the same command resumes once there is room, to the uninterrupted run's result."""
    out = tmp_path / "out.h5"
    before = earlier_output(out, results["other"])
    proc = sdeprop_cli("run", base_toml, "-o", "out.h5", cwd=tmp_path, preexec_fn=file_size_limit(20_000))
    assert_clean_failure(proc, "cannot write 'out.h5'", "file too large", "out.h5.partial", "resumes", rc=2)
    assert_one_line(proc)
    assert out.read_bytes() == before
    assert leftovers(tmp_path) == []
    assert (tmp_path / "out.h5.partial" / "prefix.npz").is_file()

    proc = sdeprop_cli("-v", "run", base_toml, "-o", "out.h5", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "10 of 10 batches already done" in proc.stderr
    assert_same_result(out, results["ref"])
    assert not (tmp_path / "out.h5.partial").exists()
    assert leftovers(tmp_path) == []


def test_run_checkpoint_write_fails_cleanly_and_resumes(results, base_toml, tmp_path):
    """Not even a batch file fits: the run stops at the first checkpoint, naming it."""
    out = tmp_path / "out.h5"
    before = earlier_output(out, results["other"])
    proc = sdeprop_cli("run", base_toml, "-o", "out.h5", cwd=tmp_path, preexec_fn=file_size_limit(4096))
    assert_clean_failure(proc, "cannot write", "batch_000000.npz", "file too large", "resumes", rc=2)
    assert_one_line(proc)
    assert out.read_bytes() == before
    assert leftovers(tmp_path) == []

    proc = sdeprop_cli("run", base_toml, "-o", "out.h5", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert_same_result(out, results["ref"])
    assert leftovers(tmp_path) == []


def test_merge_write_fails_cleanly(results, tmp_path):
    out = tmp_path / "all.h5"
    before = earlier_output(out, results["ref"])
    args = ("merge", results["ref"], results["other"], "-o", "all.h5")
    proc = sdeprop_cli(*args, cwd=tmp_path, preexec_fn=file_size_limit(20_000))
    assert_clean_failure(proc, "cannot write 'all.h5'", "file too large", rc=2)
    assert_one_line(proc)
    assert out.read_bytes() == before
    assert leftovers(tmp_path) == []
    proc = sdeprop_cli(*args, cwd=tmp_path)  # once there is room
    assert proc.returncode == 0, proc.stderr
    assert tally_sums(out)["count injected"] == 4000


def test_reweight_write_fails_cleanly(results, tmp_path):
    out = tmp_path / "rw.h5"
    before = earlier_output(out)
    args = ("reweight", results["ref"], "--spectrum", "power_law:index=2.4", "-o", "rw.h5")
    proc = sdeprop_cli(*args, cwd=tmp_path, preexec_fn=file_size_limit(8000))
    assert_clean_failure(proc, "cannot write 'rw.h5'", "file too large", rc=2)
    assert_one_line(proc)
    assert out.read_bytes() == before
    assert leftovers(tmp_path) == []


def test_reweight_unknown_tally_opens_no_file(results, tmp_path):
    proc = sdeprop_cli(
        "reweight", results["ref"], "--spectrum", "power_law:index=2.4", "--tally", "nope", "-o", "x.h5",
        cwd=tmp_path,
    )  # fmt: skip
    assert_clean_failure(proc, "nope", "available: map", rc=2)
    assert sorted(os.listdir(tmp_path)) == []


def test_figure_write_fails_cleanly(results, tmp_path):
    out = tmp_path / "fig.png"
    before = earlier_output(out)
    proc = sdeprop_cli(
        "plot", results["ref"], "-o", "fig.png", cwd=tmp_path, preexec_fn=file_size_limit(5000)
    )
    assert_clean_failure(proc, "cannot write 'fig.png'", "file too large", rc=2)
    assert_one_line(proc)
    assert out.read_bytes() == before
    assert leftovers(tmp_path) == []


def test_csv_write_fails_cleanly(results, tmp_path):
    """The spectrum at the Sun as CSV (``reweight --csv``): the library raises OutputWriteError."""
    out = tmp_path / "sun.csv"
    before = earlier_output(out)
    script = (
        "import sys\n"
        "from sdeprop.io import load_result, write_local_spectrum_csv\n"
        "from sdeprop.checkpoint import OutputWriteError\n"
        "try:\n"
        f"    write_local_spectrum_csv(load_result({str(results['ref'])!r}), 'sun.csv')\n"
        "except OutputWriteError as exc:\n"
        "    print(exc, file=sys.stderr)\n"
        "    sys.exit(3)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=file_size_limit(100),
    )
    assert_clean_failure(proc, "cannot write 'sun.csv'", "file too large", rc=3)
    assert out.read_bytes() == before
    assert leftovers(tmp_path) == []


# ------------------------------------------------------------------------- signals during the final write
@pytest.fixture(scope="module")
def big_parts(tmp_path_factory):
    """Two parts of one run with a 400 000-cell tally, their moments overwritten with random numbers
    (a real run's tallies are as incompressible), so that merging them writes a ~22 MB file."""
    folder = tmp_path_factory.mktemp("big")
    (folder / "big.toml").write_text(BIG_TALLY_TOML)
    rng = np.random.default_rng(5)
    parts = []
    for k in range(2):
        name = f"part{k}.h5"
        proc = sdeprop_cli("run", "big.toml", "-o", name, "--batches", f"{k}:{k + 1}", cwd=folder)
        assert proc.returncode == 0, proc.stderr
        with h5py.File(folder / name, "r+") as f:
            sums = f["tallies/map/sums"]
            sums[...] = rng.random(sums.shape)
        parts.append(folder / name)
    return parts


def _stopped(pid) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] in "tT"


def stop_while_writing(proc, out: Path) -> Path | None:
    """Poll for ``out``'s temporary file and SIGSTOP the writer while it exists; returns that file,
    or None when the write finished before it could be caught (the writer is then left running)."""
    while proc.poll() is None:
        tmps = list(out.parent.glob(out.name + ".*.tmp"))
        if tmps:
            os.kill(proc.pid, signal.SIGSTOP)
            while not _stopped(proc.pid) and proc.poll() is None:
                time.sleep(0.0002)
            if tmps[0].exists():  # stopped before os.replace: the write is under way
                return tmps[0]
            os.kill(proc.pid, signal.SIGCONT)
            return None
        time.sleep(0.0005)
    return None


def merge_and_stop(parts, out: Path, attempts=3):
    """Start ``sdeprop merge`` of ``parts`` into ``out`` and stop it during its write to disk."""
    for _ in range(attempts):
        proc = start_cli("merge", *parts, "-o", out.name, cwd=out.parent)
        try:
            tmp = stop_while_writing(proc, out)
        except BaseException:
            proc.kill()
            raise
        if tmp is not None:
            return proc, tmp
        proc.communicate(timeout=120)
    pytest.fail(f"the write of {out} was never caught under way in {attempts} attempts")


def test_sigterm_during_final_write_leaves_no_temporary(big_parts, results, tmp_path):
    out = tmp_path / "all.h5"
    before = earlier_output(out, results["ref"])
    proc, tmp = merge_and_stop(big_parts, out)
    try:
        os.kill(proc.pid, signal.SIGTERM)
        os.kill(proc.pid, signal.SIGCONT)
        _, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM, stderr[-2000:]
    assert "Traceback" not in stderr and "terminated (SIGTERM)" in stderr, stderr[-2000:]
    assert len(stderr.strip().splitlines()) == 1, stderr[-2000:]
    assert out.read_bytes() == before
    assert leftovers(tmp_path) == []


def test_sigkill_during_final_write_leaves_a_stale_temporary_the_next_write_removes(
    big_parts, results, tmp_path
):
    out = tmp_path / "all.h5"
    before = earlier_output(out, results["ref"])
    proc, tmp = merge_and_stop(big_parts, out)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert out.read_bytes() == before
    assert (
        tmp.exists() and f".{proc.pid}@" in tmp.name
    )  # a killed writer cannot clean up; its name says whose
    host = socket.gethostname().replace("/", "_").replace("@", "_")
    live = tmp_path / f"all.h5.{os.getpid()}@{host}.0123abcd.tmp"  # a live writer's file: never touched
    live.write_bytes(b"being written")

    done = sdeprop_cli("merge", *big_parts, "-o", out.name, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert not tmp.exists()
    assert live.read_bytes() == b"being written"
    live.unlink()
    assert leftovers(tmp_path) == []
    merged = tally_sums(out)["tally map"]
    assert np.array_equal(merged, sum(tally_sums(p)["tally map"] for p in big_parts))


def test_only_temporaries_of_ended_writers_are_removed(tmp_path):
    """A run folder resumed after a kill: temporaries of this host's ended processes go; those of a
    live process, of another host and files not named like temporaries stay."""
    from sdeprop.checkpoint import remove_stale_temporaries, remove_stale_temporaries_in

    host = socket.gethostname().replace("/", "_").replace("@", "_")
    ended = subprocess.Popen(["true"])
    ended.wait()
    alive = subprocess.Popen(["sleep", "30"])
    try:
        stale = tmp_path / f"prefix.npz.{ended.pid}@{host}.00aa11bb.tmp"
        kept = [
            tmp_path / f"prefix.npz.{alive.pid}@{host}.22cc33dd.tmp",
            tmp_path / f"prefix.npz.{ended.pid}@other-host.example.44ee55ff.tmp",
            tmp_path / "notes.tmp",
        ]
        for p in [stale, *kept]:
            p.write_bytes(b"x")
        assert remove_stale_temporaries(tmp_path / "batch_000001.npz") == []  # another file's
        assert remove_stale_temporaries_in(tmp_path) == [str(stale)]
        assert all(p.exists() for p in kept) and not stale.exists()
    finally:
        alive.kill()
        alive.wait()


def test_a_full_disk_under_numbas_cache_is_a_warning(tmp_path):
    """numba raises the OSError of a failed cache save out of the compilation, which ended a run
    before it had written anything of its own.  The package makes it a warning: the function was
    compiled in memory and runs; only the cache is missing."""
    (tmp_path / "tiny_kernel.py").write_text(
        "from numba import njit\n\n\n@njit(cache=True)\ndef add_one(x):\n    return x + 1\n"
    )
    script = "import logging, sdeprop, tiny_kernel; logging.basicConfig(); print(tiny_kernel.add_one(41))"
    proc = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": f"{ROOT}:{tmp_path}", "NUMBA_CACHE_DIR": str(tmp_path / "cache")},
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=file_size_limit(64),  # room for no cache file at all
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "42"
    assert "could not save compiled code to numba's cache" in proc.stderr, proc.stderr[-2000:]
    assert "File too large" in proc.stderr and "Traceback" not in proc.stderr
