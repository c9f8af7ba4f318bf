"""Damaged, foreign and half-written checkpoints: refused by name, never resumed from.

Two runs are killed with SIGKILL part-way (once the prefix and at least two out-of-order batch
files are on disk): the run under test and another run (other seed and field direction, same tally
shapes, so only the fingerprint tells its files apart).  Each test copies the killed run folder,
damages one file the way disks and people do (cut short, emptied, overwritten, a flipped bit, an
array changed or removed, a file copied in from the other run), and resumes with the ordinary
command.  The resume must end with one line naming the file and what is wrong and advising
``--restart``, exit status 2, the earlier output at the same path untouched and the checkpoint
files left as they were; ``--restart`` must then give the result of an uninterrupted run bit for
bit, and no temporary or lock file may remain.
"""

from __future__ import annotations

import json
import shutil
import signal
import tomllib
import zipfile
from pathlib import Path

import numpy as np
import pytest

import sdeprop
from sdeprop.checkpoint import content_sha256
from sdeprop.cli import main

from .conftest import BASE_TOML, assert_clean_failure, leftovers, sdeprop_cli
from .paced_run import start_paced_run, wait_for

OTHER_TOML = BASE_TOML.replace("seed = 7", "seed = 8").replace("[0.0, 0.3, 1.0]", "[0.2, 0.0, 1.0]")


def _batch_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("batch_*.npz"))


@pytest.fixture(scope="module")
def killed(tmp_path_factory):
    """Two runs killed part-way: {'this': folder, 'other': folder, 'config': path, 'reference': Result}."""
    root = tmp_path_factory.mktemp("killed")
    runs = {}
    for name, text in (("this", BASE_TOML), ("other", OTHER_TOML)):
        cfg = root / f"{name}.toml"
        cfg.write_text(text)
        out = root / f"{name}.h5"
        # batches 0-2 in order (folded into prefix.npz), then 9, 8, ... (waiting in batch files)
        proc = start_paced_run("run", cfg, "-o", out, "-q", cwd=root, pause_s=0.15, first_in_order=3)
        runs[name] = (proc, out, cfg)
    for proc, out, _ in runs.values():
        partial = Path(str(out) + ".partial")
        wait_for(
            lambda p=partial: (p / "prefix.npz").exists() and len(_batch_files(p)) >= 2,
            proc,
            what="the prefix and two batch files",
        )
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        assert proc.returncode == -signal.SIGKILL and not out.exists()
    folders = {name: Path(str(out) + ".partial") for name, (_, out, _) in runs.items()}
    for folder in folders.values():
        with np.load(folder / "prefix.npz") as f:
            assert int(f["n_prefix"]) == 3
        assert [p.name for p in _batch_files(folder)][-1] == "batch_000009.npz"
    reference = sdeprop.run(tomllib.loads(BASE_TOML))  # the uninterrupted run, in memory
    return {**folders, "config": runs["this"][2], "reference": reference}


@pytest.fixture
def resumable(tmp_path, killed):
    """A copy of the killed run's folder beside an earlier good output at the same path."""
    out = tmp_path / "out.h5"
    folder = Path(str(out) + ".partial")
    shutil.copytree(killed["this"], folder)
    sdeprop.io.write_result(killed["reference"], out)  # an earlier output at this path: must survive
    return out, folder


# ----------------------------------------------------------------------------- ways to damage a file
def _cut_short(path: Path, other: Path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _empty(path: Path, other: Path):
    path.write_bytes(b"")


def _not_a_zip(path: Path, other: Path):
    path.write_text("this is not a checkpoint\n")


def _member_data_offset(path: Path, member: str) -> int:
    """Where the bytes of ``member`` start in the zip file (after its local header)."""
    with zipfile.ZipFile(path) as z:
        header = z.getinfo(member).header_offset
    data = path.read_bytes()
    name_len = int.from_bytes(data[header + 26 : header + 28], "little")
    extra_len = int.from_bytes(data[header + 28 : header + 30], "little")
    return header + 30 + name_len + extra_len


def _flip_bit(path: Path, other: Path):
    """One bit flipped in the middle of the stored sums (the zip's CRC of that member sees it)."""
    with zipfile.ZipFile(path) as z:
        size = z.getinfo("sums.npy").file_size
    data = bytearray(path.read_bytes())
    data[_member_data_offset(path, "sums.npy") + size // 2] ^= 0x10
    path.write_bytes(bytes(data))


def _from_other_run(path: Path, other: Path):
    shutil.copyfile(other / path.name, path)


def _rewrite(path: Path, change):
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    change(arrays)
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def _value_changed(path: Path, other: Path):
    """A valid archive whose sums were edited (the zip's own CRC is right, the sha256 is stale)."""

    def change(arrays):
        arrays["sums"] = arrays["sums"] * 1.17

    _rewrite(path, change)


def _array_missing(path: Path, other: Path):
    _rewrite(path, lambda arrays: arrays.pop("status_counts"))


def _array_misshaped(path: Path, other: Path):
    def change(arrays):
        arrays["sums"] = arrays["sums"][:-1]

    _rewrite(path, change)


def _misshaped_with_checksum(path: Path, other: Path):
    """Wrong shape with a checksum that matches it (what a writer with another tally layout makes)."""

    def change(arrays):
        arrays.pop("checksum_sha256")
        arrays["sums"] = np.zeros((3, 5))
        arrays["checksum_sha256"] = np.asarray(content_sha256(arrays))

    _rewrite(path, change)


def _without_checksums(path: Path, other: Path):
    """A file in the layout of sdeprop before checksums (no fingerprint, no checksum)."""

    def change(arrays):
        arrays.pop("checksum_sha256")
        arrays.pop("fingerprint_sha256")

    _rewrite(path, change)


NPZ_FAULTS = {
    "cut_short": (_cut_short, "cannot be read"),
    "empty": (_empty, "cannot be read"),
    "not_a_zip": (_not_a_zip, "cannot be read"),
    "flipped_bit": (_flip_bit, "cannot be read"),  # the zip's CRC of the member catches it first
    "value_changed": (_value_changed, "does not match its sha256"),
    "from_other_run": (_from_other_run, "belongs to another run"),
    "array_missing": (_array_missing, "lacks the arrays status_counts"),
    "array_misshaped": (_array_misshaped, "'sums' is float64 of shape (95, 5), expected shape (96, 5)"),
    "misshaped_with_checksum": (_misshaped_with_checksum, "wrong shape"),
    "without_checksums": (_without_checksums, "lacks the arrays fingerprint_sha256, checksum_sha256"),
}


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _resume_is_refused(out: Path, folder: Path, config: Path, capsys, *words):
    """Resuming ends with one clean line naming ``words``; nothing on disk changed."""
    before_output, before_folder = out.read_bytes(), _snapshot(folder)
    capsys.readouterr()
    assert main(["run", str(config), "-o", str(out), "-q"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("sdeprop: error: ") and err.count("\n") == 1, err
    for word in ("--restart", *words):
        assert word in err, (word, err)
    assert out.read_bytes() == before_output  # the earlier output is untouched
    assert _snapshot(folder) == before_folder  # the checkpoint is left for inspection
    assert leftovers(out.parent) == [] and not Path(str(out) + ".lock").exists()
    return err


def _restart_gives_reference(out: Path, folder: Path, config: Path, reference):
    assert main(["run", str(config), "-o", str(out), "-q", "--restart"]) == 0
    result = sdeprop.load_result(out)
    assert result.counts == reference.counts
    for name, tally in reference.tallies.items():
        assert np.array_equal(result.tallies[name].sums, tally.sums), name
    assert not folder.exists() and leftovers(out.parent) == []
    assert not Path(str(out) + ".lock").exists()


# ----------------------------------------------------------------------------- the tests
def test_killed_run_resumes_bit_identical(resumable, killed):
    """The control: the killed folder, untouched, resumes to the uninterrupted result."""
    out, folder = resumable
    assert main(["run", str(killed["config"]), "-o", str(out), "-q"]) == 0
    result = sdeprop.load_result(out)
    for name, tally in killed["reference"].tallies.items():
        assert np.array_equal(result.tallies[name].sums, tally.sums), name
    assert not folder.exists() and leftovers(out.parent) == []


@pytest.mark.parametrize("fault", sorted(NPZ_FAULTS))
@pytest.mark.parametrize("which", ["prefix.npz", "batch_000009.npz"])
def test_damaged_npz_is_refused_then_restart_works(resumable, killed, capsys, which, fault):
    out, folder = resumable
    damage, words = NPZ_FAULTS[fault]
    damage(folder / which, killed["other"])
    err = _resume_is_refused(out, folder, killed["config"], capsys, str(folder / which), words)
    assert "Traceback" not in err
    _restart_gives_reference(out, folder, killed["config"], killed["reference"])


def test_batch_file_copied_in_from_other_run_is_refused(resumable, killed, capsys):
    """A finished batch of the other run added where this run has none (as if this run had been
    killed one batch earlier) is not taken."""
    out, folder = resumable
    source = _batch_files(killed["other"])[0]
    (folder / source.name).unlink(missing_ok=True)
    shutil.copyfile(source, folder / source.name)
    _resume_is_refused(out, folder, killed["config"], capsys, source.name, "belongs to another run")
    _restart_gives_reference(out, folder, killed["config"], killed["reference"])


def test_batch_file_under_another_index_is_refused(resumable, killed, capsys):
    out, folder = resumable
    last = _batch_files(folder)[-1]
    renamed = folder / "batch_000005.npz"
    last.rename(renamed)
    _resume_is_refused(out, folder, killed["config"], capsys, str(renamed), "holds batch 9, not the batch 5")
    _restart_gives_reference(out, folder, killed["config"], killed["reference"])


def _garble(path: Path, other: Path):
    path.write_bytes(b"\x00\xff{\x89PNG garbage")


def _flip_config_character(path: Path, other: Path):
    text = path.read_text()
    where = text.index("halo_height_kpc = 2.0")
    path.write_text(text[:where] + text[where:].replace("2.0", "3.0", 1))


def _old_layout(path: Path, other: Path):
    record = json.loads(path.read_text())
    path.write_text(json.dumps({"fingerprint": record["fingerprint"]}))


RUN_JSON_FAULTS = {
    "cut_short": (_cut_short, "not valid JSON"),
    "empty": (_empty, "not valid JSON"),
    "garbled": (_garble, "cannot be read"),
    "flipped_character": (_flip_config_character, "does not match its sha256"),
    "without_checksum": (_old_layout, "lacks the run fingerprint"),
}


@pytest.mark.parametrize("fault", sorted(RUN_JSON_FAULTS))
def test_damaged_run_json_is_refused_then_restart_works(resumable, killed, capsys, fault):
    out, folder = resumable
    damage, words = RUN_JSON_FAULTS[fault]
    damage(folder / "run.json", killed["other"])
    _resume_is_refused(out, folder, killed["config"], capsys, str(folder / "run.json"), words)
    _restart_gives_reference(out, folder, killed["config"], killed["reference"])


def test_run_json_from_other_run_is_refused(resumable, killed, capsys):
    """run.json swapped in: the folder now claims the other configuration; named as such."""
    out, folder = resumable
    shutil.copyfile(killed["other"] / "run.json", folder / "run.json")
    _resume_is_refused(
        out, folder, killed["config"], capsys, "different configuration", "seed = 8' now 'seed = 7'"
    )
    _restart_gives_reference(out, folder, killed["config"], killed["reference"])


def test_missing_run_json_is_refused(resumable, killed, capsys):
    out, folder = resumable
    (folder / "run.json").unlink()
    _resume_is_refused(out, folder, killed["config"], capsys, str(folder), "no run.json")
    _restart_gives_reference(out, folder, killed["config"], killed["reference"])


def test_left_over_temporary_file_is_discarded_on_resume(resumable, killed):
    """A write cut short by the kill leaves prefix.npz.XXXX.tmp: never read, removed on resume."""
    out, folder = resumable
    (folder / "prefix.npz.abc123.tmp").write_bytes((folder / "prefix.npz").read_bytes()[:100])
    assert main(["run", str(killed["config"]), "-o", str(out), "-q"]) == 0
    result = sdeprop.load_result(out)
    for name, tally in killed["reference"].tallies.items():
        assert np.array_equal(result.tallies[name].sums, tally.sums), name
    assert not folder.exists() and leftovers(out.parent) == []


@pytest.mark.parametrize("which", ["prefix.npz", "batch_000009.npz", "run.json"])
def test_refusal_from_the_command_line_process(resumable, killed, which):
    """The same refusal in a real ``sdeprop`` process: exit status 2, one line, no traceback."""
    out, folder = resumable
    (folder / which).write_bytes((folder / which).read_bytes()[:40])
    before = out.read_bytes()
    proc = sdeprop_cli("run", killed["config"], "-o", out, "-q", cwd=out.parent)
    assert_clean_failure(proc, str(folder / which), "--restart", rc=2)
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert out.read_bytes() == before and leftovers(out.parent) == []
    assert not Path(str(out) + ".lock").exists()


def test_zip_member_replaced_keeps_crc_valid(resumable, killed, capsys):
    """Bytes of the sums member changed and the zip's CRC fixed up: only the sha256 can tell."""
    out, folder = resumable
    path = folder / "prefix.npz"
    with zipfile.ZipFile(path) as z:
        members = {name: z.read(name) for name in z.namelist()}
    sums = bytearray(members["sums.npy"])
    sums[-1] ^= 0x01  # the last bit of the last float: a flip no size or shape check sees
    members["sums.npy"] = bytes(sums)
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    _resume_is_refused(out, folder, killed["config"], capsys, str(path), "does not match its sha256")
    _restart_gives_reference(out, folder, killed["config"], killed["reference"])


def test_flip_in_zip_metadata_that_no_reader_uses_is_harmless(resumable, killed):
    """A flipped bit in the modification time of a member's local header changes no array: every
    array still passes its sha256, and the resume gives the uninterrupted result."""
    out, folder = resumable
    path = folder / "prefix.npz"
    with zipfile.ZipFile(path) as z:
        header = z.getinfo("sums.npy").header_offset
    data = bytearray(path.read_bytes())
    data[header + 10] ^= 0x01  # last-modification time field of the local file header
    path.write_bytes(bytes(data))
    assert main(["run", str(killed["config"]), "-o", str(out), "-q"]) == 0
    result = sdeprop.load_result(out)
    for name, tally in killed["reference"].tallies.items():
        assert np.array_equal(result.tallies[name].sums, tally.sums), name
    assert not folder.exists() and leftovers(out.parent) == []
