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

import copy
import math
import tomllib
import types
from typing import Annotated, Union, get_args, get_origin

from ..config import Config, ConfigError, load_config, read_toml

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
    parser.add_argument("--particles", type=int, help="pseudo-particles (default: run.particles)")
    parser.add_argument("--workers", type=int, help="parallel workers (default: run.workers)")


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


# --------------------------------------------------------------------------- --set
def apply_settings(data: dict, settings) -> dict:
    """Apply each ``SECTION.KEY=VALUE`` of ``settings`` to the configuration table ``data`` (in place)."""
    for item in settings or ():
        key, raw = split_key_value(item, "--set", SET_FORM)
        parts = key.split(".")
        if any(not p.strip() for p in parts):
            raise ConfigError(f"--set '{item}': the key '{key}' has an empty part")
        node, cls = data, Config
        for part in parts[:-1]:
            info = cls.model_fields.get(part) if cls is not None else None
            if part not in node and info is not None:
                node[part] = _default_tag(info)  # a new [field] gets model = the default's, like no table
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set '{item}': '{part}' is not a table of the configuration")
            cls = _section_class(info, node) if info is not None else None
        node[parts[-1]] = toml_value(raw)
    return data


def config_with_settings(source, settings=()) -> Config:
    """The validated configuration from ``source`` (a TOML path or a table, left unchanged) with
    ``--set`` ``settings`` applied before validation.  An unknown key of a setting gets the keys
    allowed at its place."""
    data = copy.deepcopy(source) if isinstance(source, dict) else read_toml(source)
    apply_settings(data, settings)
    try:
        return load_config(data)
    except ConfigError as exc:
        hints = [h for h in (_unknown_key_hint(data, key) for key in setting_keys(settings)) if h]
        if not hints:
            raise
        raise ConfigError(f"{exc}; " + "; ".join(hints)) from None


def setting_keys(settings) -> list[str]:
    """The dotted keys of ``--set`` arguments (for verbs that accept only some sections)."""
    return [split_key_value(s, "--set", SET_FORM)[0] for s in settings or ()]


def _members(annotation) -> list:
    """The types a field annotation allows (unions and ``Annotated`` unpacked)."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _members(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        return [m for a in get_args(annotation) for m in _members(a)]
    return [annotation]


def _section_class(field_info, node):
    """The schema class of a configuration table for its data ``node`` (the discriminator ``model``
    or ``type`` picks one of a union; without it, the default's class); None if not a table."""
    from pydantic import BaseModel

    classes = [c for c in _members(field_info.annotation) if isinstance(c, type) and issubclass(c, BaseModel)]
    if len(classes) <= 1:
        return classes[0] if classes else None
    for tag in ("model", "type"):
        if isinstance(node, dict) and tag in node:
            return next(
                (c for c in classes if tag in c.model_fields and c.model_fields[tag].default == node[tag]),
                None,
            )
    default = field_info.get_default(call_default_factory=True)
    return type(default) if isinstance(default, BaseModel) else None


def _default_tag(field_info) -> dict:
    """A new table for a section that has several models: the default's ``model`` or ``type``."""
    from pydantic import BaseModel

    classes = [c for c in _members(field_info.annotation) if isinstance(c, type) and issubclass(c, BaseModel)]
    default = field_info.get_default(call_default_factory=True)
    if len(classes) > 1 and isinstance(default, BaseModel):
        return {tag: getattr(default, tag) for tag in ("model", "type") if tag in type(default).model_fields}
    return {}


def _unknown_key_hint(data: dict, key: str) -> str | None:
    """What is allowed where the dotted ``key`` is not a key of the schema; None if it is one."""
    cls, node, seen = Config, data, []
    for part in key.split("."):
        if part not in cls.model_fields:
            where = ".".join(seen) or "the top level"
            tags = [t for t in ("model", "type") if isinstance(node, dict) and t in node]
            tag = f" ({tags[0]} '{node[tags[0]]}')" if tags else ""
            hint = f"--set {key}: allowed in {where}{tag}: {', '.join(cls.model_fields)}"
            if "overrides" in cls.model_fields and seen:
                hint += (
                    f"; the model's own parameters are set with --set {'.'.join(seen)}.overrides.{part}=VALUE"
                )
            elif not seen:
                owners = [
                    f"{s}.{part}"
                    for s, f in Config.model_fields.items()
                    if (c := _section_class(f, data.get(s))) is not None and part in c.model_fields
                ]
                hint += f" (did you mean {' or '.join(owners)}?)" if owners else ""
            return hint
        seen.append(part)
        node = node.get(part) if isinstance(node, dict) else None
        cls = _section_class(cls.model_fields[part], node)
        if cls is None:
            return None
    return None
