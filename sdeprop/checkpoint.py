"""Batch bookkeeping: summing batches in a fixed order, durably, so runs can resume.

Batches may finish in any order (parallel workers, a Dask cluster).  ``BatchAccumulator``
folds them into the running totals strictly in batch order — finished batches that
arrive early wait until their predecessors are in — so the sums are bit-for-bit the same
whatever the number or kind of workers.  With a run folder it also makes every finished
batch durable: each batch is written to ``batch_NNNNNN.npz`` as soon as it arrives, and
the in-order prefix is folded into ``prefix.npz`` (temporary file, then rename).  A run
killed at any moment restarts from these files; no batch is lost or counted twice, and
the final sums are identical to those of an uninterrupted run.

Folder layout (``<output>.partial/``)::

    run.json          the run fingerprint (configuration text, batch plan, source) and its sha256
    prefix.npz        sums and counters of batches [0, n_prefix) of the plan, in order
    batch_NNNNNN.npz  finished batches beyond the prefix (waiting for a predecessor)

Nothing is resumed from a file that cannot be trusted.  Every .npz file carries the sha256 of the
run fingerprint (``fingerprint_sha256``: a file copied in from another run is recognised) and the
sha256 of its own arrays (``checksum_sha256``: names, dtypes, shapes and bytes; a flipped bit is
recognised); on resume every file is read back and checked (readable zip, every array present with
its dtype and shape, checksum, fingerprint, batch index), and so is run.json.  A file that fails
raises :class:`~sdeprop.errors.CheckpointError` naming the file and what is wrong, and advising
to start afresh (``sdeprop run ... --restart``, ``restart=True``) or to delete the folder.
"""

from __future__ import annotations

import errno
import glob
import hashlib
import io
import json
import os
import re
import secrets
import shutil
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from .errors import CheckpointError, ConfigError

_SCALARS = ("n_particles", "steps", "bridge_escapes", "cpu_s", "compile_s")
CHECKPOINT_FORMAT = "sdeprop-checkpoint-2"
_FINGERPRINT_KEY = "fingerprint_sha256"
_CHECKSUM_KEY = "checksum_sha256"
_BATCH_NAME = re.compile(r"batch_(\d{6,})\.npz")


class OutputWriteError(OSError):
    """A file could not be written (disk full, file-size limit, no permission...); the message names
    the file and the cause (and ``advice``: what to do).  The file's earlier content, if any, is
    untouched."""

    def __init__(self, path, cause: OSError, advice: str = ""):
        super().__init__(cause.errno, cause.strerror or str(cause), str(path))
        self.path = str(path)
        self.cause = cause
        self.advice = advice

    def __str__(self):
        return f"cannot write '{self.path}': {self.strerror}" + (f"; {self.advice}" if self.advice else "")


_TEMPORARY = re.compile(r"(?P<name>.+)\.(?P<pid>\d+)@(?P<host>[^/@]+)\.[0-9a-f]+\.tmp")


def _host_tag() -> str:
    """This host's name as it appears in temporary file names."""
    return socket.gethostname().replace("/", "_").replace("@", "_") or "localhost"


def temporary_beside(path: Path) -> str:
    """A new empty temporary file next to ``path`` (same file system, so os.replace is atomic), with
    the permissions an ordinary new file gets.  Its name, ``NAME.PID@HOST.RANDOM.tmp``, tells whose
    it is, so a later writer can remove it once that process is gone (:func:`remove_stale_temporaries`)."""
    host = _host_tag()
    while True:
        tmp = path.parent / f"{path.name}.{os.getpid()}@{host}.{secrets.token_hex(4)}.tmp"
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            continue
        return str(tmp)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def remove_stale_temporaries(path) -> list[str]:
    """Remove the temporary files of ``path`` (see :func:`temporary_beside`) left by a writer that was
    killed outright (SIGKILL, power loss): those of this host whose process no longer exists.  A live
    process's file and other hosts' files (a shared file system) are never touched.  Returns the
    paths removed."""
    path = Path(path)
    return _remove_stale(path.parent, glob.escape(path.name) + ".*.tmp", path.name)


def remove_stale_temporaries_in(folder) -> list[str]:
    """:func:`remove_stale_temporaries` for every file in ``folder`` (for folders shared between
    writers; a run's own checkpoint folder is cleared of every temporary, under its lock)."""
    return _remove_stale(Path(folder), "*.tmp", None)


def _remove_stale(folder: Path, pattern: str, name: str | None) -> list[str]:
    host = _host_tag()
    removed = []
    try:
        candidates = list(folder.glob(pattern))
    except OSError:
        return removed
    for tmp in candidates:
        m = _TEMPORARY.fullmatch(tmp.name)
        if m is None or (name is not None and m["name"] != name) or m["host"] != host:
            continue
        pid = int(m["pid"])
        if pid == os.getpid() or _process_alive(pid):
            continue
        try:
            tmp.unlink()
            removed.append(str(tmp))
        except FileNotFoundError:
            pass
    return removed


def _fsync_path(path, directory=False):
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_output(path) -> Iterator[str]:
    """Write a file atomically: yields a temporary path beside ``path`` (its folder created if
    needed) to write to, which is synced to disk and replaces ``path`` when the block ends
    normally.  When the block raises (a failed write, Ctrl-C, the SIGTERM the command turns into
    an exception) the temporary file is removed and ``path`` keeps its earlier content; an
    OSError becomes :class:`OutputWriteError`, naming ``path``.  Temporary files of ``path`` left
    by killed writers are removed first."""
    path = Path(path)
    tmp = None
    try:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):  # mkdir's own message names only that part
            cause = "a part of that path is a file, not a folder"
            raise NotADirectoryError(errno.ENOTDIR, cause) from None
        remove_stale_temporaries(path)
        tmp = temporary_beside(path)
        yield tmp
        _fsync_path(tmp)
        os.replace(tmp, path)
        tmp = None
        try:
            _fsync_path(path.parent, directory=True)  # make the rename itself durable
        except OSError:
            pass  # not every file system syncs directories; the data is on disk already
    except OSError as exc:
        if isinstance(exc, OutputWriteError):
            raise
        raise OutputWriteError(path, exc) from None
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.remove(tmp)


def write_bytes_atomically(path, data, chunk_bytes: int = 8 * 2**20) -> Path:
    """Write ``data`` (bytes or any buffer) to ``path`` atomically with plain file I/O, whose
    failures (disk full, file-size limit) raise a clean :class:`OutputWriteError`; returns the path."""
    path = Path(path)
    view = memoryview(data).cast("B")
    with atomic_output(path) as tmp, open(tmp, "wb", buffering=0) as f:
        for start in range(0, len(view), chunk_bytes):
            chunk = view[start : start + chunk_bytes]
            while chunk:  # an unbuffered write may take part of the chunk
                chunk = chunk[f.write(chunk) :]
    return path


def _atomic_savez(path: Path, **arrays):
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    write_bytes_atomically(path, buffer.getbuffer())


def fingerprint_sha256(fingerprint: dict) -> str:
    """sha256 (hex) of a run fingerprint, from its canonical JSON text (sorted keys)."""
    text = json.dumps(fingerprint, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()


def content_sha256(arrays: dict) -> str:
    """sha256 (hex) of named arrays: each name, dtype, shape and bytes, in name order."""
    digest = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(np.asarray(arrays[name]))
        digest.update(f"{name}\0{a.dtype.str}\0{a.shape}\0".encode())
        digest.update(a.reshape(-1).view(np.uint8))
    return digest.hexdigest()


def _savez_checked(path: Path, fingerprint_hash: str, **arrays):
    """Write arrays with the run's fingerprint hash and a checksum of the whole content."""
    arrays = {name: np.asarray(a) for name, a in arrays.items()}
    arrays[_FINGERPRINT_KEY] = np.asarray(fingerprint_hash)
    arrays[_CHECKSUM_KEY] = np.asarray(content_sha256(arrays))
    _atomic_savez(path, **arrays)


class BatchAccumulator:
    """Totals of the batches of a plan, folded in plan order (optionally backed by a run folder).

    Parameters
    ----------
    plan : list of int
        The batch indices of this run, in the order their sums are added.
    tally_size, n_status : int
        Shapes of the per-batch arrays.
    folder : path or None
        Run folder for checkpoints; None keeps everything in memory.
    fingerprint : dict
        Identifies the run (configuration text, batch plan, source); a folder holding another
        fingerprint is refused, and so is any checkpoint file that fails its checks
        (:class:`~sdeprop.errors.CheckpointError`).
    """

    def __init__(self, plan, tally_size, n_status, folder=None, fingerprint=None, groups=()):
        # groups: (offset, size, G) of each tally that keeps batch groups; its rows' Σc and Σcv are also
        # summed per group of batches (batch index modulo G)
        self.groups = [(int(o), int(n), int(g)) for o, n, g in groups]
        self.group_sums = [np.zeros((g, n, 2)) for _, n, g in self.groups]
        self.plan = list(plan)
        self.position = {b: k for k, b in enumerate(self.plan)}
        self.tally_size = int(tally_size)
        self.n_status = int(n_status)
        self.sums = np.zeros((tally_size, 5))
        self.status_counts = np.zeros(n_status, dtype=np.int64)
        self.scalars = dict.fromkeys(_SCALARS, 0.0)
        self.batch_log: list[dict] = []
        self.n_prefix = 0
        self.pending: dict[int, object] = {}
        self.fingerprint = fingerprint or {}
        self.fingerprint_hash = fingerprint_sha256(self.fingerprint)
        self.folder = Path(folder) if folder is not None else None
        if self.folder is not None:
            self._open()

    # ---------------------------------------------------------------- run folder
    def _open(self):
        meta = self.folder / "run.json"
        if self.folder.is_dir():
            # a write cut short by a kill: never a valid file.  Every one goes, not only those of dead
            # processes (remove_stale_temporaries): the run holds the output lock, so no one else
            # writes in its folder
            for tmp in self.folder.glob("*.tmp"):
                tmp.unlink()
        if meta.exists():
            self._check_run_json(meta)
            self._load()
            return
        stray = sorted(p.name for p in self.folder.glob("*.npz")) if self.folder.is_dir() else []
        if stray:
            raise self._refusal(
                self.folder,
                f"holds checkpoint files ({', '.join(stray[:3])}{', ...' if len(stray) > 3 else ''}) "
                "but no run.json to say which run they belong to",
                what="checkpoint folder",
            )
        self.folder.mkdir(parents=True, exist_ok=True)
        record = {
            "format": CHECKPOINT_FORMAT,
            _FINGERPRINT_KEY: self.fingerprint_hash,
            "fingerprint": self.fingerprint,
        }
        write_bytes_atomically(meta, json.dumps(record, indent=1).encode())

    def _refusal(self, path, problem, what="checkpoint file") -> CheckpointError:
        return CheckpointError(
            f"{what} '{path}' {problem}; the run cannot resume from it: start it afresh with "
            f"'sdeprop run ... --restart' (restart=True in Python) or delete the folder '{self.folder}'"
        )

    def _check_run_json(self, meta: Path):
        try:
            old = json.loads(meta.read_text())
        except (OSError, UnicodeDecodeError) as exc:
            raise self._refusal(meta, f"cannot be read ({_reason(exc)})") from None
        except ValueError as exc:
            raise self._refusal(meta, f"is not valid JSON, garbled or cut short ({_reason(exc)})") from None
        if (
            not isinstance(old, dict)
            or not isinstance(old.get(_FINGERPRINT_KEY), str)
            or "fingerprint" not in old
        ):
            raise self._refusal(
                meta, "lacks the run fingerprint and its sha256 (damaged, or written by an older sdeprop)"
            )
        stored = old["fingerprint"]
        if not isinstance(stored, dict) or fingerprint_sha256(stored) != old[_FINGERPRINT_KEY]:
            raise self._refusal(meta, "is damaged: its run fingerprint does not match its sha256")
        if old[_FINGERPRINT_KEY] != self.fingerprint_hash:
            raise ConfigError(
                f"a partial run with a different configuration exists in '{self.folder}' "
                f"({_describe_difference(stored, self.fingerprint)}); "
                "run with the configuration it was started with, or delete that folder (or use "
                "--restart) to start afresh"
            )

    def _read_checked(self, path: Path, expected: dict) -> dict:
        """The arrays of a checkpoint file, after every check (else CheckpointError naming the file).

        ``expected`` maps each array name to (dtype kinds, shape)."""
        try:
            with np.load(path, allow_pickle=False) as f:
                arrays = {name: f[name] for name in f.files}
        except Exception as exc:  # empty, cut short, not a zip, a damaged member (CRC), a pickle
            raise self._refusal(path, f"cannot be read as a checkpoint ({_reason(exc)})") from None
        missing = [k for k in (*expected, _FINGERPRINT_KEY, _CHECKSUM_KEY) if k not in arrays]
        if missing:
            raise self._refusal(
                path, f"lacks the arrays {', '.join(missing)} (damaged, or written by an older sdeprop)"
            )
        misshaped = [
            f"'{name}' is {arrays[name].dtype} of shape {arrays[name].shape}, expected shape {shape}"
            for name, (kinds, shape) in expected.items()
            if arrays[name].dtype.kind not in kinds or arrays[name].shape != shape
        ]
        stored_sum = str(arrays.pop(_CHECKSUM_KEY))
        if content_sha256(arrays) != stored_sum:
            raise self._refusal(
                path,
                "is damaged: its content does not match its sha256 checksum"
                + (f" ({'; '.join(misshaped)})" if misshaped else ""),
            )
        if str(arrays[_FINGERPRINT_KEY]) != self.fingerprint_hash:
            raise self._refusal(
                path,
                "belongs to another run: its run fingerprint (configuration, batch plan, source) is not "
                f"the one in '{self.folder / 'run.json'}' (copied in from another run's folder?)",
            )
        if misshaped:
            raise self._refusal(path, f"has arrays of the wrong shape: {'; '.join(misshaped)}")
        return arrays

    def _load(self):
        prefix = self.folder / "prefix.npz"
        if prefix.exists():
            f = self._read_checked(prefix, self._prefix_layout())
            n_prefix = int(f["n_prefix"])
            try:
                batch_log = json.loads(str(f["batch_log"]))
            except ValueError:
                batch_log = None
            if not 0 <= n_prefix <= len(self.plan):
                raise self._refusal(prefix, f"counts {n_prefix} batches, but the plan has {len(self.plan)}")
            if (
                not isinstance(batch_log, list)
                or not all(isinstance(row, dict) for row in batch_log)
                or [row.get("index") for row in batch_log] != self.plan[:n_prefix]
            ):
                raise self._refusal(
                    prefix, f"has a batch log that does not list the first {n_prefix} batches"
                )
            self.sums = f["sums"].copy()
            self.group_sums = [f[f"group_sums_{k}"].copy() for k in range(len(self.groups))]
            self.status_counts = f["status_counts"].copy()
            self.n_prefix = n_prefix
            self.scalars = {k: float(f[k]) for k in _SCALARS}
            self.batch_log = batch_log
        for path in sorted(self.folder.glob("batch_*.npz")):
            match = _BATCH_NAME.fullmatch(path.name)
            if match is None:
                raise self._refusal(path, "has a name this run never writes (expected batch_NNNNNN.npz)")
            b = int(match.group(1))
            k = self.position.get(b)
            if k is None:
                raise self._refusal(path, f"holds batch {b}, which is not in this run's plan")
            batch = _StoredBatch(self._read_checked(path, self._batch_layout()))
            if batch.index != b:
                raise self._refusal(path, f"holds batch {batch.index}, not the batch {b} its name says")
            if k < self.n_prefix:  # folded already (killed before the file was removed)
                path.unlink()
                continue
            self.pending[b] = batch
        self._fold()

    def _prefix_layout(self) -> dict:
        return {
            "sums": ("f", (self.tally_size, 5)),
            "status_counts": ("iu", (self.n_status,)),
            "n_prefix": ("iu", ()),
            "batch_log": ("U", ()),
            **{k: ("f", ()) for k in _SCALARS},
            **{f"group_sums_{k}": ("f", (g, n, 2)) for k, (_, n, g) in enumerate(self.groups)},
        }

    def _batch_layout(self) -> dict:
        return {
            "index": ("iu", ()),
            "sums": ("f", (self.tally_size, 5)),
            "status_counts": ("iu", (self.n_status,)),
            "host": ("U", ()),
            "pid": ("iu", ()),
            **{k: ("f", ()) for k in _SCALARS},
        }

    @property
    def done(self) -> set[int]:
        """Batch indices already summed or waiting to be."""
        return set(self.plan[: self.n_prefix]) | set(self.pending)

    @property
    def complete(self) -> bool:
        return self.n_prefix == len(self.plan)

    # ---------------------------------------------------------------- adding
    def add(self, res):
        """Take a finished batch (engine.BatchResult): persist it, then fold what is in order."""
        if res.index in self.done:
            raise RuntimeError(f"batch {res.index} was delivered twice")
        if self.folder is not None:
            _savez_checked(
                self.folder / f"batch_{res.index:06d}.npz", self.fingerprint_hash, **_batch_arrays(res)
            )
        self.pending[res.index] = res
        self._fold()

    def _fold(self):
        folded = []
        while self.n_prefix < len(self.plan) and self.plan[self.n_prefix] in self.pending:
            b = self.plan[self.n_prefix]
            res = self.pending.pop(b)
            self.sums += res.sums
            for (offset, size, n_groups), acc in zip(self.groups, self.group_sums):
                acc[b % n_groups] += res.sums[offset : offset + size, :2]
            self.status_counts += res.status_counts
            for k in _SCALARS:
                self.scalars[k] += float(getattr(res, k))
            self.batch_log.append(
                {
                    "index": int(b),
                    "particles": int(res.n_particles),
                    "steps": int(res.steps),
                    "cpu_s": float(res.cpu_s),
                    "compile_s": float(res.compile_s),
                    "host": getattr(res, "host", ""),
                    "pid": int(getattr(res, "pid", 0)),
                }
            )
            self.n_prefix += 1
            folded.append(b)
        if folded and self.folder is not None:
            _savez_checked(
                self.folder / "prefix.npz",
                self.fingerprint_hash,
                sums=self.sums,
                status_counts=self.status_counts,
                n_prefix=np.int64(self.n_prefix),
                batch_log=json.dumps(self.batch_log),
                **{k: np.float64(v) for k, v in self.scalars.items()},
                **{f"group_sums_{k}": acc for k, acc in enumerate(self.group_sums)},
            )
            for b in folded:
                p = self.folder / f"batch_{b:06d}.npz"
                if p.exists():
                    p.unlink()

    def remove_folder(self):
        """Delete the run folder (after the final output is safely written)."""
        if self.folder is not None and self.folder.exists():
            shutil.rmtree(self.folder)


def _batch_arrays(res) -> dict:
    out = {
        "index": np.int64(res.index),
        "sums": res.sums,
        "status_counts": res.status_counts,
        "host": np.str_(getattr(res, "host", "")),
        "pid": np.int64(getattr(res, "pid", 0)),
    }
    out.update({k: np.float64(getattr(res, k)) for k in _SCALARS})
    return out


class _StoredBatch:
    """A finished batch read back from its (checked) arrays (same attributes as engine.BatchResult)."""

    def __init__(self, f):
        self.index = int(f["index"])
        self.sums = f["sums"].copy()
        self.status_counts = f["status_counts"].copy()
        self.host = str(f["host"])
        self.pid = int(f["pid"])
        for k in _SCALARS:
            setattr(self, k, float(f[k]))


def _reason(exc: BaseException) -> str:
    """An exception as one line: its class and message."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _describe_difference(old: dict, new: dict) -> str:
    """Which parts of two fingerprints differ (first differing configuration line, if any)."""
    parts = []
    for key in sorted(set(old) | set(new)):
        if old.get(key) != new.get(key):
            if key == "config" and isinstance(old.get(key), str) and isinstance(new.get(key), str):
                a, b = old[key].splitlines(), new[key].splitlines()
                section = ""
                for la, lb in zip(a + [""] * (len(b) - len(a)), b + [""] * (len(a) - len(b))):
                    if la.startswith("["):
                        section = la
                    if la != lb:
                        parts.append(f"{section} '{la}' now '{lb}'".strip())
                        break
            else:
                parts.append(f"{key}: {old.get(key)!r} now {new.get(key)!r}")
    return "; ".join(parts) or "unknown difference"
