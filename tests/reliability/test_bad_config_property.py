"""Property test: every bad configuration ends cleanly, naming the key, before anything is written.

hypothesis starts from the quick base run of conftest.BASE_TOML (as a table), mutates one or more keys
to a value that is invalid by construction, writes the TOML file and runs ``sdeprop run CONFIG -o OUT``
in-process.  The mutations come from the schema itself (every key of every section the base selects,
with its type and its bounds) so a key added later is covered too:

* a wrong type: true/false, a quoted string (also a quoted number, ``"3e28"``), a list or a table
  for a number; a number or a string for true/false; a number for a string or a choice;
  a scalar for a list or a table; a non-integral float for an integer;
* a number outside its bounds, nan, inf or -inf;
* a list of the wrong length or with a bad element;
* an unknown choice of a discriminator (field.model, source.type, tally.type, losses.model ...);
* an unknown key at the top level, in a section, in a nested table or in a [[tally]];
* a missing required key (a tally's name or type, field.model, source.type); an empty tally list;
* a whole section replaced by a scalar or a list.

Several mutations in one configuration touch different top-level sections, so that each is an
error of its own key and must be named.  For every configuration the command must return 2,
print one line naming the mutated key (``section.key``, ``tally[0].key`` as the TOML file spells it),
with no traceback, and leave nothing in the output folder (no .h5, .partial, .tmp or .lock).
"""

from __future__ import annotations

import copy
import tempfile
import tomllib
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from sdeprop.cli import main
from sdeprop.config import Config, CylindricalTally, PointSource, UniformField, dump_toml, load_config

from .conftest import BASE_TOML

BASE = tomllib.loads(BASE_TOML)
#: the class the base selects for each section with several models or types
CHOSEN = {"field": UniformField, "source": PointSource, "tally": CylindricalTally}
NAN, INF = float("nan"), float("inf")


# ----------------------------------------------------------------------------- the schema's keys
def _unwrap(annotation):
    """(the type inside Annotated and ``X | None``, the constraints met on the way)."""
    metadata: list = []
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            args = get_args(annotation)
            annotation = args[0]
            for m in args[1:]:
                metadata += m.metadata if isinstance(m, FieldInfo) else [m]
        elif origin in (Union, types.UnionType):
            members = [a for a in get_args(annotation) if a is not type(None)]
            if len(members) != 1:
                return annotation, metadata
            annotation = members[0]
        else:
            return annotation, metadata


def _bounds(metadata) -> dict:
    out = {}
    for m in metadata:
        for attr in ("gt", "ge", "lt", "le", "min_length", "max_length"):
            if getattr(m, attr, None) is not None:
                out[attr] = getattr(m, attr)
    return out


@dataclass(frozen=True)
class Key:
    path: tuple  # ("run", "particles"), ("tally", 0, "R_bins"), ("losses", "isrf", "scale")
    kind: str
    bounds: tuple = ()  # sorted (name, value) pairs
    length: int | None = None  # fixed list length
    element: str | None = None  # kind of a list's elements

    @property
    def section(self) -> str:
        return self.path[0]

    @property
    def spelled(self) -> str:
        """The key as the error message spells it: run.particles, tally[0].R_bins."""
        text = ""
        for part in self.path:
            text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
        return text


def _kind(annotation) -> str:
    if get_origin(annotation) is Literal:
        return "choice"
    if annotation is bool:
        return "bool"
    if annotation is int:
        return "int"
    if annotation is float:
        return "float"
    if annotation is str:
        return "str"
    if get_origin(annotation) is dict:
        return "dict"
    if get_origin(annotation) in (Union, types.UnionType):
        return "number_or_list"
    return "other"


def _keys_of(cls, path) -> list[Key]:
    keys = []
    for name, info in cls.model_fields.items():
        annotation, metadata = _unwrap(info.annotation)
        metadata = list(info.metadata) + metadata
        here = (*path, name)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            keys.append(Key(here, "table"))
            keys += _keys_of(annotation, here)
        elif get_origin(annotation) is list:
            element, element_meta = _unwrap(get_args(annotation)[0])
            if isinstance(element, type) and issubclass(element, BaseModel):
                keys.append(Key(here, "tables"))
                continue
            b = _bounds(metadata)
            fixed = b.get("min_length") if b.get("min_length") == b.get("max_length") else None
            inner = _kind(element) if get_origin(element) is not list else "list"
            keys.append(Key(here, "list", tuple(sorted(_bounds(element_meta).items())), fixed, inner))
        else:
            keys.append(Key(here, _kind(annotation), tuple(sorted(_bounds(metadata).items()))))
    return keys


def schema_keys() -> list[Key]:
    keys = []
    for section, info in Config.model_fields.items():
        if section == "tally":
            keys += _keys_of(CHOSEN["tally"], ("tally", 0))
            continue
        if section == "components":
            keys.append(Key(("components",), "tables"))
            continue
        cls = CHOSEN.get(section) or _unwrap(info.annotation)[0]
        keys += _keys_of(cls, (section,))
    return [k for k in keys if k.kind != "other" or k.path[-1] in ("model", "type")]


KEYS = schema_keys()


# ----------------------------------------------------------------------------- invalid values
def _beyond(bounds: dict, integer: bool) -> list:
    """Numbers just outside the bounds (ints for an integer key)."""
    out = []
    step = (lambda v: 1) if integer else (lambda v: 0.5 * max(1.0, abs(v)))
    if "gt" in bounds:
        out += [bounds["gt"], bounds["gt"] - step(bounds["gt"])]
    if "ge" in bounds:
        out.append(bounds["ge"] - step(bounds["ge"]))
    if "lt" in bounds:
        out += [bounds["lt"], bounds["lt"] + step(bounds["lt"])]
    if "le" in bounds:
        out.append(bounds["le"] + step(bounds["le"]))
    return [int(v) if integer else float(v) for v in out]


def bad_values(key: Key) -> list:
    """Values of ``key`` that are invalid whatever the other keys say."""
    b = dict(key.bounds)
    if key.kind == "float":
        return [True, False, "3e28", "abc", [1.0], {"a": 1.0}, NAN, INF, -INF, *_beyond(b, False)]
    if key.kind == "int":
        return [True, False, "100", "many", 1.5, 1e5 + 0.5, [1], {"a": 1}, NAN, INF, *_beyond(b, True)]
    if key.kind == "bool":
        return [1, 0, 1.0, "true", "no", [True], {"a": True}]
    if key.kind == "str":
        return [1, 2.5, True, ["x"], {"a": "x"}]
    if key.kind in ("choice", "other"):  # a choice or a discriminator (model, type)
        return ["no_such_choice", 1, 2.5, True]
    if key.kind == "dict":
        return [3, "x", [1.0], True]
    if key.kind == "number_or_list":
        return [True, "x", {"a": 1.0}, -1.0, [-1.0], NAN, ["x"]]
    if key.kind == "table":
        return [3, "x", [1], True]
    if key.kind == "tables":
        return [3, "x", [3], [{"no_such_key": 1}]]
    if key.kind == "list":
        n = key.length
        good = {"float": 1.0, "int": 2, "choice": None, "list": None}.get(key.element)
        values: list = [3.0, "x", True, {"a": 1}]
        if n is not None and good is not None:
            values += [[good] * (n - 1), [good] * (n + 1)]
        if key.element == "float":
            values += [[NAN] * (n or 1), [INF] + [1.0] * ((n or 1) - 1), [True] * (n or 1)]
            values += [[1.0] * ((n or 1) - 1) + ["x"]]
            values += [[v] + [1.0] * ((n or 1) - 1) for v in _beyond(dict(key.bounds), False)]
        elif key.element == "int":
            values += [[1.5] * (n or 1), [True] * (n or 1), ["2"] * (n or 1)]
            values += [[v] + [2] * ((n or 1) - 1) for v in _beyond(dict(key.bounds), True)]
        elif key.element == "choice":
            values += [["no_such_choice"], [1], [True]]
        elif key.element == "list":
            values += [[[1.0]], [["x", 1.0]], [1.0]]
        return values
    raise AssertionError(key)


# ----------------------------------------------------------------------------- mutations
@dataclass(frozen=True)
class Mutation:
    path: tuple
    value: Any = None
    delete: bool = False
    names: str = ""  # what the message must contain
    alone: bool = False  # an error the schema finds only when all else is valid

    @property
    def section(self) -> str:
        return self.path[0]


def _apply(data: dict, m: Mutation) -> None:
    node = data
    for part in m.path[:-1]:
        if isinstance(part, int):
            node = node[part]
        else:
            if not isinstance(node.get(part), (dict, list)):
                node[part] = {}
            node = node[part]
    if m.delete:
        del node[m.path[-1]]
    else:
        node[m.path[-1]] = m.value


def _value_mutation(key: Key):
    return st.sampled_from(bad_values(key)).map(lambda v: Mutation(key.path, v, names=key.spelled))


value_mutations = st.sampled_from(KEYS).flatmap(_value_mutation)

UNKNOWN_KEY_PLACES = [
    (),
    ("run",),
    ("galaxy",),
    ("field",),
    ("source",),
    ("diffusion",),
    ("losses",),
    ("losses", "isrf"),
    ("time",),
    ("numerics",),
    ("tally", 0),
]
unknown_keys = st.sampled_from(UNKNOWN_KEY_PLACES).map(
    lambda where: Mutation(
        (*where, "no_such_key") if where else ("no_such_key",),
        1.0,
        names=Key((*where, "no_such_key") if where else ("no_such_key",), "x").spelled,
    )
)
missing_keys = st.sampled_from(
    [("tally", 0, "name"), ("tally", 0, "type"), ("field", "model"), ("source", "type")]
).map(lambda path: Mutation(path, delete=True, names=Key(path, "x").spelled))
whole_sections = st.tuples(
    st.sampled_from(["run", "energy", "galaxy", "field", "source", "diffusion", "numerics", "time"]),
    st.sampled_from([3, "x", [1.0], True]),
).map(lambda sv: Mutation((sv[0],), sv[1], names=sv[0]))
empty_tallies = st.just(Mutation(("tally",), [], names="tally", alone=True))

one_mutation = st.one_of(value_mutations, value_mutations, unknown_keys, missing_keys, whole_sections)
configurations = st.one_of(
    st.lists(one_mutation, min_size=1, max_size=3, unique_by=lambda m: m.section),
    empty_tallies.map(lambda m: [m]),
)


def test_the_base_is_valid():
    """The mutations are what makes each configuration bad: the base itself loads."""
    load_config(copy.deepcopy(BASE))
    assert len(KEYS) > 80  # the catalogue reaches every section's keys


@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,  # the same examples every run; nothing written to .hypothesis/
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(mutations=configurations)
def test_every_bad_configuration_ends_cleanly_naming_the_key(mutations, capsys):
    data = copy.deepcopy(BASE)
    for m in mutations:
        _apply(data, m)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        config = tmp / "bad.toml"
        config.write_text(dump_toml(data))
        out = tmp / "out"
        capsys.readouterr()
        rc = main(["run", str(config), "-o", str(out / "result.h5"), "--quiet"])
        err = capsys.readouterr().err
        assert rc == 2, (mutations, err)
        assert "Traceback" not in err, err
        assert err.startswith("sdeprop: error:") and err.count("\n") == 1, err
        assert str(config) in err or "bad.toml" in err, err  # the message names the file
        for m in mutations:
            assert m.names in err, (m, err)
        left = sorted(p.name for p in out.rglob("*")) if out.exists() else []
        assert left == [], left


def test_every_bad_value_of_every_key_is_refused_naming_it():
    """Every candidate value of the catalogue, alone, is refused with a message naming its key: the
    exhaustive sweep behind the random combinations (and a guard on the generator itself)."""
    accepted, unnamed = [], []
    for key in KEYS:
        for value in bad_values(key):
            data = copy.deepcopy(BASE)
            _apply(data, Mutation(key.path, value))
            try:
                load_config(tomllib.loads(dump_toml(data)))
            except ValueError as exc:
                if key.spelled not in str(exc):
                    unnamed.append((key.spelled, value, str(exc)))
                continue
            accepted.append((key.spelled, value))
    assert not accepted, accepted
    assert not unnamed, unnamed
