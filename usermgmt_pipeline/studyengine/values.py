"""The expression value model of the Go engine (docs/study-engine.md §2.11).

Expressions return Go ``interface{}`` values whose dynamic type matters: ``string``, ``float64``,
``bool``, ``int64`` (only ``getMessageNextTime``) and raw JSON (``externalEventEval``). Python's ``bool``
is an ``int`` and ints and floats mix freely, so every type check here is exact and the Go ``int64`` kind
gets its own wrapper that no float check accepts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, TypeGuard

from usermgmt_pipeline.go_unmarshal import INT64_MAX, INT64_MIN


@dataclass(frozen=True)
class GoInt64:
    """A Go ``int64`` expression value; it fails every "is float64" check, like in Go."""

    value: int


# TypeGuard, not TypeIs: the checks are by exact type, so False must not narrow to "not a float" (a subclass fails too).
def is_float(value: object) -> TypeGuard[float]:
    return type(value) is float


def is_str(value: object) -> TypeGuard[str]:
    return type(value) is str


def is_bool(value: object) -> TypeGuard[bool]:
    return type(value) is bool


def go_trunc(value: float) -> int:
    """Go ``int64(f)``: truncation toward zero; NaN, ±Inf and out-of-range give amd64's INT64_MIN."""
    if math.isnan(value) or math.isinf(value):
        return INT64_MIN
    truncated = math.trunc(value)
    if truncated < INT64_MIN or truncated > INT64_MAX:
        return INT64_MIN
    return truncated


def go_type_name(value: Any) -> str:
    """The Go type name used in messages (``%T``); a nil value has none, which is what makes Go panic."""
    if value is None:
        return "<nil>"
    if is_str(value):
        return "string"
    if is_float(value):
        return "float64"
    if is_bool(value):
        return "bool"
    if isinstance(value, GoInt64):
        return "int64"
    if isinstance(value, dict):
        return "map[string]interface {}"
    if isinstance(value, list):
        return "[]interface {}"
    return type(value).__name__
