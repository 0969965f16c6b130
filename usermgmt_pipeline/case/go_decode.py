"""The Go mongo driver's decoding rules for the scalar fields the job reads (reference/01 §3.0).

Go accepts int32/int64/integral double/bool for integer fields and string/ObjectId/symbol/null for string
fields; anything else is a decode error. Mirroring this keeps our notion of "undecodable user" the same
as the original's, so we skip exactly the users Go could not process.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bson import ObjectId


class GoDecodeError(ValueError):
    def __init__(self, path: str, expected: str, value: Any) -> None:
        super().__init__(f"{path} is {type(value).__name__}, expected {expected}")
        self.path = path


def go_int(doc: Mapping[str, Any], key: str, path: str) -> int:
    value = doc.get(key)
    if value is None:
        return 0
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise GoDecodeError(path, "an integer", value)


def go_string(doc: Mapping[str, Any], key: str, path: str) -> str:
    value = doc.get(key)
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, ObjectId):
        return str(value)
    raise GoDecodeError(path, "a string", value)


def go_bool(doc: Mapping[str, Any], key: str, path: str) -> bool:
    value = doc.get(key)
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    raise GoDecodeError(path, "a boolean", value)
