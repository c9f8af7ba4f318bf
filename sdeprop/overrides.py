"""Dotted-key overrides of a configuration, applied to its table before validation.

``{"run.particles": 20000, "field.overrides.r_X": 3.0}`` changes keys exactly as the TOML file
spells them.  A table that an override creates for a section with several models (``[field]``,
``[source]``, ...) starts from the default model, as if the file had no such table.  An unknown key
gets the configuration's usual error plus the keys allowed at its place.  The command line's
``--set SECTION.KEY=VALUE`` is this, with the value parsed as a TOML literal.
"""

from __future__ import annotations

import copy
import types
from collections.abc import Iterable, Mapping
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel

from .config import Config, load_config, read_toml
from .errors import ConfigError


def _pairs(overrides) -> Iterable[tuple[str, Any]]:
    return overrides.items() if isinstance(overrides, Mapping) else (overrides or ())


def apply_overrides(data: dict, overrides) -> dict:
    """Apply ``overrides`` ({dotted key: value}, or (key, value) pairs applied in order) to the
    configuration table ``data`` in place; returns it."""
    for key, value in _pairs(overrides):
        parts = key.split(".")
        if any(not p.strip() for p in parts):
            raise ConfigError(f"the key '{key}' has an empty part")
        node, cls = data, Config
        for part in parts[:-1]:
            info = cls.model_fields.get(part) if cls is not None else None
            if part not in node and info is not None:
                node[part] = _default_tag(info)  # a new [field] gets model = the default's, like no table
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"'{key}': '{part}' is not a table of the configuration")
            cls = _section_class(info, node) if info is not None else None
        node[parts[-1]] = value
    return data


def config_with_overrides(source, overrides, spelled: str = "", origin: str | None = None) -> Config:
    """The validated configuration from ``source`` (a TOML path or a table, left unchanged) with
    ``overrides`` applied before validation.  ``spelled`` is how the caller's users write an override
    (the command line passes ``"--set "``), used in the hint for an unknown key; ``origin`` names the
    file a table was read from, in error messages (a path ``source`` is named by itself)."""
    data = copy.deepcopy(source) if isinstance(source, dict) else read_toml(source)
    pairs = list(_pairs(overrides))
    apply_overrides(data, pairs)
    if not isinstance(source, dict):
        origin = f"'{source}'"
    if origin and pairs:
        origin += f" with {spelled.strip() or 'the'} overrides"
    try:
        return load_config(data, origin=origin)
    except ConfigError as exc:
        hints = [h for h in (unknown_key_hint(data, key, spelled) for key, _ in pairs) if h]
        if not hints:
            raise
        raise ConfigError(f"{exc}; " + "; ".join(hints)) from None


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
    classes = [c for c in _members(field_info.annotation) if isinstance(c, type) and issubclass(c, BaseModel)]
    default = field_info.get_default(call_default_factory=True)
    if len(classes) > 1 and isinstance(default, BaseModel):
        return {tag: getattr(default, tag) for tag in ("model", "type") if tag in type(default).model_fields}
    return {}


def unknown_key_hint(data: dict, key: str, spelled: str = "") -> str | None:
    """What is allowed where the dotted ``key`` is not a key of the schema; None if it is one."""
    cls, node, seen = Config, data, []
    for part in key.split("."):
        if part not in cls.model_fields:
            where = ".".join(seen) or "the top level"
            tags = [t for t in ("model", "type") if isinstance(node, dict) and t in node]
            tag = f" ({tags[0]} '{node[tags[0]]}')" if tags else ""
            hint = f"{spelled}{key}: allowed in {where}{tag}: {', '.join(cls.model_fields)}"
            if "overrides" in cls.model_fields and seen:
                own = f"{spelled}{'.'.join(seen)}.overrides.{part}=VALUE"
                hint += f"; the model's own parameters are set with {own}"
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
