"""``reweight`` and ``merge`` never write over one of their inputs.

The output may name an input in many ways: the same path, another spelling of it (``./``,
``sub/..``), a symbolic link, a hard link.  Each is refused with one line (exit status 2) before
anything is written; the input keeps its bytes and still loads, and no temporary or lock file
remains.  The check is in the library (``io.write_reweighted``, ``io.write_local_spectrum_csv``,
``io.merge_results``), so Python callers get it too.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import pytest

import sdeprop
from sdeprop.cli import main
from sdeprop.errors import InputOverwriteError
from sdeprop.io import load_result, merge_results, write_reweighted
from sdeprop.spectra import parse_spectrum

from .conftest import BASE_TOML, assert_clean_failure, leftovers, sdeprop_cli

SPECTRUM = "power_law:index=2.5"


@pytest.fixture(scope="module")
def halves(tmp_path_factory):
    """Two result files of one configuration (batches 0-4 and 5-9), written once per module."""
    root = tmp_path_factory.mktemp("results")
    cfg = tomllib.loads(BASE_TOML)
    a, b = root / "a.h5", root / "b.h5"
    sdeprop.run(cfg, output=a, batches="0:5")
    sdeprop.run(cfg, output=b, batches="5:10")
    return a, b


@pytest.fixture
def work(tmp_path, halves):
    """Copies of the two results in tmp_path (cwd), with a sub-folder for other spellings."""
    for source in halves:
        (tmp_path / source.name).write_bytes(source.read_bytes())
    (tmp_path / "sub").mkdir()
    return tmp_path


def _names_for(folder: Path, name: str) -> dict[str, str]:
    """Ways to name ``folder/name`` (created on disk where they are links)."""
    target = folder / name
    (folder / f"sym_{name}").symlink_to(name)
    os.link(target, folder / f"hard_{name}")
    return {
        "same path": str(target),
        "relative": name,
        "dot": f"./{name}",
        "through a sub-folder": f"sub/../{name}",
        "symbolic link": f"sym_{name}",
        "hard link": f"hard_{name}",
    }


def _unchanged(folder: Path, before: dict[str, bytes]):
    for name, data in before.items():
        assert (folder / name).read_bytes() == data, name
        assert load_result(folder / name).counts["injected"] == 1000
    assert leftovers(folder) == []
    assert not list(folder.glob("*.lock"))


def test_reweight_onto_its_input_is_refused(work, capsys, monkeypatch):
    monkeypatch.chdir(work)
    before = {"a.h5": (work / "a.h5").read_bytes()}
    for how, output in _names_for(work, "a.h5").items():
        capsys.readouterr()
        assert main(["reweight", "a.h5", "--spectrum", SPECTRUM, "-o", output]) == 2, how
        err = capsys.readouterr().err
        assert err.startswith("sdeprop: error: ") and err.count("\n") == 1, (how, err)
        assert f"the output '{Path(output)}' is the result file 'a.h5'" in err, (how, err)
        assert "choose another output" in err
        _unchanged(work, before)
    # the spectrum at the Sun as CSV over the input, too
    assert main(["reweight", "a.h5", "--spectrum", SPECTRUM, "-o", "w.h5", "--csv", "hard_a.h5"]) == 2
    assert "is the result file 'a.h5' (the same file under another name)" in capsys.readouterr().err
    _unchanged(work, before)
    # the control: another output is written
    assert main(["reweight", "a.h5", "--spectrum", SPECTRUM, "-o", "w.h5", "--csv", "sun.csv"]) == 0
    assert (work / "w.h5").exists() and (work / "sun.csv").exists()
    _unchanged(work, before)


def test_merge_onto_an_input_is_refused(work, capsys, monkeypatch):
    monkeypatch.chdir(work)
    before = {name: (work / name).read_bytes() for name in ("a.h5", "b.h5")}
    names = {
        **_names_for(work, "a.h5"),
        **{f"{k} (second input)": v for k, v in _names_for(work, "b.h5").items()},
    }
    for how, output in names.items():
        capsys.readouterr()
        assert main(["merge", "a.h5", "b.h5", "-o", output]) == 2, how
        err = capsys.readouterr().err
        assert err.startswith("sdeprop: error: ") and err.count("\n") == 1, (how, err)
        assert f"the output '{Path(output)}' is the input file" in err, (how, err)
        _unchanged(work, before)
    assert main(["merge", "a.h5", "b.h5", "-o", "m.h5"]) == 0
    assert load_result(work / "m.h5").counts["injected"] == 2000
    _unchanged(work, before)


def test_python_api_refuses_too(work):
    a, b = work / "a.h5", work / "b.h5"
    before = {name: (work / name).read_bytes() for name in ("a.h5", "b.h5")}
    spectrum, rate = parse_spectrum(SPECTRUM)
    with pytest.raises(InputOverwriteError, match="is the result file"):
        write_reweighted(load_result(a), work / "sub" / ".." / "a.h5", spectrum, rate)
    with pytest.raises(InputOverwriteError, match="is the input file"):
        merge_results([a, b], b)
    _unchanged(work, before)


def test_refusal_in_a_command_line_process(work):
    """The real ``sdeprop`` process: exit status 2, one line, no traceback, the input intact."""
    before = {"a.h5": (work / "a.h5").read_bytes()}
    os.link(work / "a.h5", work / "hard.h5")
    proc = sdeprop_cli("reweight", "a.h5", "--spectrum", SPECTRUM, "-o", "hard.h5", cwd=work)
    assert_clean_failure(proc, "hard.h5", "is the result file", "choose another output", rc=2)
    proc = sdeprop_cli("merge", "a.h5", "b.h5", "-o", "a.h5", cwd=work)
    assert_clean_failure(proc, "is the input file 'a.h5'", rc=2)
    _unchanged(work, before)
