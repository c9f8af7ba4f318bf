"""What the verbs of ``sdeprop`` share: common options, the one KEY=VALUE parser, and ``--set``.

``--set SECTION.KEY=VALUE`` means the same in every verb that reads a configuration: the dotted
key of the configuration (as in the TOML file: ``run.particles``, ``field.B0_phi_uG``,
``field.overrides.r_X``), the value a TOML literal (``3``, ``2.5e4``, ``true``, ``"uf23"``,
``[1, 2, 3]``, ``{model = "uf23"}``; a bare word that is not a TOML literal is taken as a string,
so ``field.model=uf23`` needs no quotes).  The settings are applied to the configuration's table
in the order given and before validation, so a bad value gets the configuration's usual error
naming the key, and an unknown key an error that also lists the keys allowed there.
"""

from __future__ import annotations

import argparse
import math
import tomllib

from ..config import Config
from ..errors import ConfigError
from ..overrides import apply_overrides, config_with_overrides

SET_FORM = "KEY=VALUE with a dotted configuration key, e.g. run.particles=1000"
SET_HELP = (
    "change a configuration key before validation: the dotted key as in the TOML file, the value "
    "a TOML literal (repeatable), e.g. --set run.particles=20000 "
    "--set 'losses.processes=[\"synchrotron\"]'"
)


# --------------------------------------------------------------------------- common options
def add_set_option(parser, help_text: str = SET_HELP, metavar: str = "SECTION.KEY=VALUE") -> None:
    """``--set SECTION.KEY=VALUE`` (repeatable), collected in ``args.set``."""
    parser.add_argument("--set", action="append", metavar=metavar, help=help_text)


def add_run_size_options(parser) -> None:
    """``--particles`` and ``--workers`` of a Monte Carlo run (default: the configuration's)."""
    parser.add_argument(
        "--particles", type=whole_number, help="pseudo-particles, e.g. 20000 or 2e4 (default: run.particles)"
    )
    parser.add_argument("--workers", type=whole_number, help="parallel workers (default: run.workers)")


def add_output_option(parser, help_text: str) -> None:
    """``-o/--output``."""
    parser.add_argument("-o", "--output", help=help_text)


# --------------------------------------------------------------------------- KEY=VALUE
def split_key_value(text: str, option: str, form: str = "KEY=VALUE") -> tuple[str, str]:
    """(key, raw value) of one ``KEY=VALUE`` argument, both stripped; ValueError names ``option``."""
    key, eq, value = str(text).partition("=")
    key = key.strip()
    if not eq or not key:
        raise ValueError(f"{option} '{text}' must be {form}")
    return key, value.strip()


def key_values(items, option: str, parse_value=str, form: str = "KEY=VALUE") -> dict:
    """{key: parse_value(value)} from repeated and/or comma-separated ``KEY=VALUE`` arguments."""
    out = {}
    for item in items or ():
        for part in filter(None, (s.strip() for s in item.split(","))):
            key, raw = split_key_value(part, option, form)
            try:
                out[key] = parse_value(raw)
            except ValueError:
                raise ValueError(
                    f"{option} '{part}': cannot read the value {raw!r} (expected {form})"
                ) from None
    return out


def toml_value(text: str):
    """``text`` read as a TOML literal; a text that is none (a bare word) is returned as the string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def numbers(text, count: int | None, option: str, meaning: str = "") -> list[float]:
    """``count`` comma-separated finite numbers from ``text`` (count None: one or more)."""
    try:
        values = [float(c) for c in str(text).split(",")]
    except ValueError:
        values = []
    wrong_count = count is not None and len(values) != count
    if not values or wrong_count or not all(math.isfinite(v) for v in values):
        what = f"{count if count else 'one or more'} comma-separated number{'s' if count != 1 else ''}"
        raise ValueError(f"{option} '{text}' must be {what}{f' ({meaning})' if meaning else ''}")
    return values


def finite_number(text) -> float:
    """``text`` as a finite float; ValueError for anything else (nan, inf, a word)."""
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text!r} is not a finite number")
    return value


def finite_float(text) -> float:
    """argparse ``type``: a finite number (nan and inf are refused)."""
    try:
        return finite_number(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' must be a finite number") from None


def whole_number(text) -> int:
    """argparse ``type``: an integer, also written as a float with an integral value (2e4)."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value.is_integer()):
        raise argparse.ArgumentTypeError(f"'{text}' must be an integer (e.g. 20000 or 2e4)")
    return int(value)


def positive_float(text) -> float:
    """argparse ``type``: a finite number > 0."""
    value = finite_float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"'{text}' must be a finite number > 0")
    return value


# --------------------------------------------------------------------------- --set
def settings_as_pairs(settings) -> list[tuple[str, object]]:
    """``--set SECTION.KEY=VALUE`` arguments as (dotted key, TOML value) pairs, in order."""
    pairs = []
    for item in settings or ():
        key, raw = split_key_value(item, "--set", SET_FORM)
        if any(not p.strip() for p in key.split(".")):
            raise ConfigError(f"--set '{item}': the key '{key}' has an empty part")
        pairs.append((key, toml_value(raw)))
    return pairs


def apply_settings(data: dict, settings) -> dict:
    """Apply each ``SECTION.KEY=VALUE`` of ``settings`` to the configuration table ``data`` (in place)."""
    return apply_overrides(data, settings_as_pairs(settings))


def config_with_settings(source, settings=(), origin: str | None = None) -> Config:
    """The validated configuration from ``source`` (a TOML path or a table read from the file
    ``origin``) with ``--set`` ``settings`` applied before validation
    (:func:`sdeprop.overrides.config_with_overrides`)."""
    return config_with_overrides(
        source, settings_as_pairs(settings), spelled="--set ", origin=f"'{origin}'" if origin else None
    )


def setting_keys(settings) -> list[str]:
    """The dotted keys of ``--set`` arguments (for verbs that accept only some sections)."""
    return [split_key_value(s, "--set", SET_FORM)[0] for s in settings or ()]
