"""Reference documents that are generated or that list the package must not drift from the code
(docs/configuration.md itself is compared with the schema in tests/test_config.py)."""

import re
from pathlib import Path

import sdeprop
from sdeprop.config import discriminator_choices

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = Path(sdeprop.__file__).resolve().parent


def test_configuration_reference_lists_every_discriminator():
    """Every model/type/method/form key appears with all its choices (the tables below it are per choice)."""
    text = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    choices = discriminator_choices()
    for section, key in [
        ("field", "model"),
        ("losses", "model"),
        ("turbulence", "model"),
        ("spectrum", "type"),
        ("source", "type"),
        ("tally", "type"),
        ("estimator", "method"),
        ("diffusion", "form"),
    ]:
        assert (section, key) in choices, f"{section}.{key} is not a discriminator of the schema any more"
        row = next(line for line in text.splitlines() if line.startswith(f"| `{section}.{key}` |"))
        for value in choices[(section, key)]:
            assert f"`{value}`" in row


def test_readme_layout_names_every_package_entry():
    """The README's layout names every module and subpackage of sdeprop/ (private modules excepted)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    layout = readme.split("## Layout", 1)[1]
    entries = sorted(
        p.name
        for p in PACKAGE.iterdir()
        if (p.suffix == ".py" and not p.name.startswith("_")) or (p.is_dir() and p.name != "__pycache__")
    )
    missing = [e for e in entries if not re.search(rf"\b{re.escape(e.removesuffix('.py'))}(\.py|/)", layout)]
    assert not missing, f"README 'Layout' does not name: {missing}"


def _resolve(dotted: str):
    """The object a dotted name `sdeprop.a.b.c` stands for (modules imported as needed)."""
    import importlib

    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(dotted)


def test_api_reference_names_exist():
    """Every `sdeprop.…` name in docs/api.md exists, and run()'s signature there is the real one."""
    import inspect

    text = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    names = sorted(set(re.findall(r"`(sdeprop(?:\.\w+)+)", text)))
    assert len(names) > 20
    missing = []
    for name in names:
        try:
            _resolve(name)
        except (ImportError, AttributeError):
            missing.append(name)
    assert not missing, f"docs/api.md names what does not exist: {missing}"
    params = list(inspect.signature(sdeprop.run).parameters)
    row = next(line for line in text.splitlines() if line.startswith("| `run(config"))
    documented = re.findall(r"(\w+)(?:=[^,)]*)?[,)]", row.split("`")[1].removeprefix("run("))
    assert [p for p in documented if p != "*"] == params
