"""Turn a composed YAML document into the typed dictionaries the config models are built from.

This is the strict part of loading: unknown keys, duplicate keys, both spellings of one setting, and
values of the wrong YAML type are reported with their dotted path, following Go yaml.v2's typing rules
(docs/case-data.md §1.2) plus our duration fixes (bare numbers and negative values refused). Nothing is echoed from a
value in a type error, so secrets cannot leak through one. The walk is driven by the pydantic models'
fields, so a key added to a model is automatically accepted here.
"""

from __future__ import annotations

import json
import math
import re
import types
import typing
from dataclasses import dataclass, field
from typing import Any

import yaml
from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo

from usermgmt_pipeline.config.go_duration import GoDuration, parse_go_duration
from usermgmt_pipeline.config.rules import DURATION_HINT, FAILED, Loc
from usermgmt_pipeline.config.yaml_nodes import (
    Scalar,
    is_null,
    mapping_entries,
    node_label,
    resolve_plain,
    resolve_scalar,
)
from usermgmt_pipeline.errors import UsermgmtError

_SIMPLE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_MIN_INT64, _MAX_INT64 = -(1 << 63), (1 << 63) - 1
_STRING_KINDS = frozenset({"str", "int", "float", "bool", "timestamp"})
_QUOTED_HINT = " (a quoted value is a string in YAML; remove the quotes)"


def join_path(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    shown = key if _SIMPLE_KEY.fullmatch(key) else f"[{json.dumps(key, ensure_ascii=False)}]"
    if not path:
        return shown
    return f"{path}{shown}" if shown.startswith("[") else f"{path}.{shown}"


def yaml_key(name: str, info: FieldInfo) -> str:
    return info.alias or name


@dataclass
class DecodeContext:
    """Errors found so far and the display path of every location that was decoded."""

    errors: list[tuple[str, str]] = field(default_factory=list)
    display: dict[Loc, str] = field(default_factory=dict)

    def error(self, path: str, message: str) -> None:
        self.errors.append((path, message))

    def path_of(self, loc: Loc, fallback: str) -> str:
        return self.display.get(loc, fallback)


class _Failed(UsermgmtError):
    """A value could not be decoded; its error is already recorded."""


def _quoted_looks_like(scalar: Scalar, kinds: tuple[str, ...]) -> bool:
    return scalar.kind == "str" and resolve_plain(scalar.text)[0] in kinds


def _scalar(node: yaml.Node, path: str, ctx: DecodeContext, expected: str) -> Scalar:
    if not isinstance(node, yaml.ScalarNode):
        ctx.error(path, f"expected {expected}, got {node_label(node)}")
        raise _Failed
    return resolve_scalar(node)


def _decode_bool(node: yaml.Node, path: str, ctx: DecodeContext) -> bool:
    scalar = _scalar(node, path, ctx, "a boolean (true or false)")
    if scalar.kind == "bool":
        return bool(scalar.value)
    hint = _QUOTED_HINT if _quoted_looks_like(scalar, ("bool",)) else ""
    ctx.error(path, f"expected a boolean (true or false), got {scalar.label}{hint}")
    raise _Failed


def _decode_int(node: yaml.Node, path: str, ctx: DecodeContext) -> int:
    scalar = _scalar(node, path, ctx, "an integer")
    if scalar.kind == "int" or (scalar.kind == "float" and math.isfinite(scalar.value)):
        value = int(scalar.value)  # yaml.v2 truncates a float toward zero
        if _MIN_INT64 <= value <= _MAX_INT64:
            return value
        ctx.error(path, "integer out of range (it must fit in 64 bits)")
        raise _Failed
    hint = _QUOTED_HINT if _quoted_looks_like(scalar, ("int", "float")) else ""
    ctx.error(path, f"expected an integer, got {scalar.label}{hint}")
    raise _Failed


def _decode_float(node: yaml.Node, path: str, ctx: DecodeContext) -> float:
    scalar = _scalar(node, path, ctx, "a number")
    if scalar.kind in ("int", "float"):
        return float(scalar.value)
    hint = _QUOTED_HINT if _quoted_looks_like(scalar, ("int", "float")) else ""
    ctx.error(path, f"expected a number, got {scalar.label}{hint}")
    raise _Failed


def _decode_str(node: yaml.Node, path: str, ctx: DecodeContext) -> str:
    scalar = _scalar(node, path, ctx, "a string")
    if scalar.kind == "null":
        return ""
    if scalar.kind in _STRING_KINDS:
        return scalar.text  # yaml.v2 keeps the source text: `1.50` stays "1.50"
    ctx.error(path, f"expected a string, got {scalar.label}")
    raise _Failed


def _decode_secret(node: yaml.Node, path: str, ctx: DecodeContext) -> SecretStr:
    return SecretStr(_decode_str(node, path, ctx))


def _decode_duration(node: yaml.Node, path: str, ctx: DecodeContext) -> GoDuration:
    if not isinstance(node, yaml.ScalarNode):
        ctx.error(path, f"expected a Go duration string, got {node_label(node)}; {DURATION_HINT}")
        raise _Failed
    scalar = resolve_scalar(node)
    if scalar.kind == "null":
        return GoDuration(0)
    if scalar.kind in ("int", "float"):
        ctx.error(
            path,
            f"a bare number is not accepted as a duration (Go would read {scalar.text} as nanoseconds); "
            f"{DURATION_HINT}",
        )
        raise _Failed
    if scalar.kind not in ("str", "bool", "timestamp"):
        ctx.error(path, f"expected a Go duration string, got {scalar.label}; {DURATION_HINT}")
        raise _Failed
    try:
        duration = parse_go_duration(scalar.text)
    except ValueError as exc:
        ctx.error(path, f"{str(exc).removeprefix('time: ')}; {DURATION_HINT}")
        raise _Failed from None
    if duration < 0:
        ctx.error(
            path,
            f"negative duration {json.dumps(scalar.text, ensure_ascii=False)} is not allowed; {DURATION_HINT}",
        )
        raise _Failed
    return duration


_SCALAR_DECODERS: dict[Any, Any] = {
    bool: _decode_bool,
    int: _decode_int,
    float: _decode_float,
    str: _decode_str,
    SecretStr: _decode_secret,
    GoDuration: _decode_duration,
}


def _zero_value(annotation: Any, loc: Loc, path: str, ctx: DecodeContext) -> Any:
    """Go's zero value for a YAML null: "", 0, false, empty list/map, a struct of zero values."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return None
    if origin is list:
        return []
    if origin is dict:
        return {}
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return decode_model(annotation, None, loc, path, ctx)
    return {bool: False, int: 0, float: 0.0, str: "", SecretStr: SecretStr(""), GoDuration: GoDuration(0)}[
        annotation
    ]


def _decode(annotation: Any, node: yaml.Node, loc: Loc, path: str, ctx: DecodeContext) -> Any:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        if is_null(node):
            return None
        (inner,) = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        return _decode(inner, node, loc, path, ctx)
    if is_null(node):
        return _zero_value(annotation, loc, path, ctx)
    if origin is list:
        (item_type,) = typing.get_args(annotation)
        return _decode_list(item_type, node, loc, path, ctx)
    if origin is dict:
        return _decode_string_map(node, path, ctx)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return decode_model(annotation, node, loc, path, ctx)
    return _SCALAR_DECODERS[annotation](node, path, ctx)


def _decode_list(item_type: Any, node: yaml.Node, loc: Loc, path: str, ctx: DecodeContext) -> list[Any]:
    if not isinstance(node, yaml.SequenceNode):
        ctx.error(path, f"expected a list, got {node_label(node)}")
        raise _Failed
    items: list[Any] = []
    for index, item in enumerate(node.value):
        item_loc, item_path = (*loc, index), join_path(path, index)
        ctx.display[item_loc] = item_path
        try:
            items.append(_decode(item_type, item, item_loc, item_path, ctx))
        except _Failed:
            items.append(FAILED)  # keeps later indices (and their error paths) right
    return items


def _decode_string_map(node: yaml.Node, path: str, ctx: DecodeContext) -> dict[str, str]:
    if not isinstance(node, yaml.MappingNode):
        ctx.error(path, f"expected a mapping, got {node_label(node)}")
        raise _Failed
    result: dict[str, str] = {}
    failed = False

    def report(key: str | None, message: str) -> None:
        ctx.error(path if key is None else join_path(path, key), message)

    for entry in mapping_entries(node, report):
        try:
            result[entry.key] = _decode_str(entry.value, join_path(path, entry.key), ctx)
        except _Failed:
            failed = True
    if failed:
        raise _Failed
    return result


def _allowed_keys(model: type[BaseModel]) -> dict[str, str]:
    """YAML key -> field name, in declaration order with each alternative spelling after its field."""
    keys: dict[str, str] = {}
    for name, info in model.model_fields.items():
        keys[yaml_key(name, info)] = name
        for alternative, target in getattr(model, "yaml_alternative_keys", {}).items():
            if target == name:
                keys[alternative] = name
    return keys


def decode_model(
    model: type[BaseModel], node: yaml.Node | None, loc: Loc, path: str, ctx: DecodeContext
) -> dict[str, Any]:
    """A dict of field name -> decoded value; absent optional keys get their defaults."""
    if node is not None and not is_null(node) and not isinstance(node, yaml.MappingNode):
        what = "a mapping" if path else "a mapping of configuration keys at the top level"
        ctx.error(path or "(root)", f"expected {what}, got {node_label(node)}")
        raise _Failed
    allowed = _allowed_keys(model)
    values: dict[str, Any] = {}
    used_key: dict[str, str] = {}
    failed: set[str] = set()

    def report(key: str | None, message: str) -> None:
        ctx.error((path or "(root)") if key is None else join_path(path, key), message)

    entries = mapping_entries(node, report) if isinstance(node, yaml.MappingNode) else []
    for entry in entries:
        key_path = join_path(path, entry.key)
        name = allowed.get(entry.key)
        if name is None:
            ctx.error(key_path, f"unknown key; allowed keys: {', '.join(allowed)}")
            continue
        if name in used_key:
            ctx.error(
                path or "(root)",
                f'both "{used_key[name]}" and "{entry.key}" are given; they are two spellings of the same '
                "setting, keep only one",
            )
            failed.add(name)
            continue
        used_key[name] = entry.key
        field_loc = (*loc, name)
        ctx.display[field_loc] = key_path
        info = model.model_fields[name]
        if is_null(entry.value) and not info.is_required():
            values[name] = info.get_default(call_default_factory=True)  # null means "not given"
            continue
        try:
            values[name] = _decode(info.annotation, entry.value, field_loc, key_path, ctx)
        except _Failed:
            failed.add(name)

    for first, second in getattr(model, "yaml_exclusive_keys", ()):
        if first in used_key and second in used_key:
            ctx.error(
                path or "(root)",
                f'both "{first}" and "{second}" are given; they are two spellings of the same setting, '
                "keep only one",
            )
            failed.update((first, second))

    for name, info in model.model_fields.items():
        if name in failed:
            values.pop(name, None)
            continue
        if name in values:
            continue
        key_path = join_path(path, yaml_key(name, info))
        ctx.display[(*loc, name)] = key_path
        if info.is_required():
            ctx.error(key_path, "required key is missing")
        else:
            values[name] = info.get_default(call_default_factory=True)
    return values


def decode_document(model: type[BaseModel], root: yaml.Node, ctx: DecodeContext) -> dict[str, Any] | None:
    """Decode the whole document against `model`; None when the top level is not a mapping."""
    try:
        return decode_model(model, root, (), "", ctx)
    except _Failed:
        return None
