"""Every verb of ``sdeprop`` has a module in sdeprop/cli/ and a working ``--help``."""

import os
import subprocess
import sys

import pytest

import sdeprop.cli
from sdeprop.cli import main

CLI_DIR = os.path.dirname(sdeprop.cli.__file__)
SHARED = {"__init__", "args"}  # modules of sdeprop/cli/ that are not verbs


def _verb_modules():
    return {name[:-3] for name in os.listdir(CLI_DIR) if name.endswith(".py")} - SHARED


def _help(argv, capsys):
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 0
    return capsys.readouterr().out


def test_the_verbs_are_the_modules_of_the_cli_package(capsys):
    assert set(sdeprop.cli.VERBS) == _verb_modules()
    parser = sdeprop.cli.build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert set(sub.choices) == _verb_modules()
    text = _help(["--help"], capsys)
    for verb in _verb_modules():
        assert f"    {verb} " in text  # listed with its one-line help


@pytest.mark.parametrize("verb", sorted(_verb_modules()))
def test_each_verb_has_help(verb, capsys):
    text = _help([verb, "--help"], capsys)
    assert text.startswith(f"usage: sdeprop {verb}")


def test_python_dash_m_sdeprop_help():
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(CLI_DIR)))
    out = subprocess.run(
        [sys.executable, "-m", "sdeprop", "--help"], capture_output=True, text=True, env=env, timeout=300
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("usage: sdeprop") and "crosscheck" in out.stdout
