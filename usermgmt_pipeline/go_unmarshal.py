"""Go's unmarshalling rules, ``encoding/json`` and the mongo driver's BSON decoder, one function per field type.

Everything the job reads the way a Go service does goes through here: the study rules, external-service
replies and participant documents of the study engine, and the CASE documents of the data layer (users,
studies, email templates). Each must be accepted or rejected exactly as Go does: JSON keys match struct
fields case-insensitively (last key wins, ``null`` leaves the field alone, unknown keys are ignored, a type
mismatch is an error); BSON integer fields take int32/int64/integral double/bool, string fields take
string/ObjectId/null, and anything else is a decode error (docs/case-data.md §3.0). Hand-written because
neither the stdlib ``json`` nor ``bson`` knows Go's struct semantics. Below both ``case/`` and
``studyengine/``: it imports neither, so each layer raises and catches the one :class:`GoDecodeError`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from bson import Int64, ObjectId

from usermgmt_pipeline.errors import CaseDataError

T = TypeVar("T")

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


class GoDecodeError(CaseDataError):
    """A value Go would refuse to decode into its target field; the message names the field's path.

    Not a ``StudyEngineError``: the engine turns it into one where Go's engine would see the decoder's
    error (a survey response or counter read from the store, an external service's value), so a rule
    handles it exactly as Go's does.
    """

    @classmethod
    def mismatch(cls, path: str, expected: str, value: Any) -> GoDecodeError:
        """The data layer's path-first wording, e.g. ``timestamps.createdAt is str, expected an integer``."""
        return cls(f"{path} is {type(value).__name__}, expected {expected}")


# ---------------------------------------------------------------- JSON


class JSONObject:
    """A JSON object as its ordered (key, value) pairs, duplicates kept, like Go's decoder sees it."""

    __slots__ = ("pairs",)

    def __init__(self, pairs: list[tuple[str, Any]]) -> None:
        self.pairs = pairs


class JSONNumber:
    """A JSON number literal kept as text, so each Go target type can judge it (int64 rejects ``1.0``)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


def _decoder() -> json.JSONDecoder:
    return json.JSONDecoder(
        object_pairs_hook=JSONObject,
        parse_float=JSONNumber,
        parse_int=JSONNumber,
        parse_constant=_reject_constant,
    )


def _reject_constant(name: str) -> Any:
    raise ValueError(f"invalid character in JSON: {name}")


def parse_json_document(text: str) -> Any:
    """The whole text must be one JSON value (``json.Unmarshal``)."""
    return _decoder().decode(text)


def parse_first_json_value(text: str) -> Any:
    """The first JSON value of a stream; trailing bytes are ignored (``json.NewDecoder(r).Decode``)."""
    stripped = text.lstrip(" \t\r\n")
    value, _ = _decoder().raw_decode(stripped)
    return value


def json_to_interface(value: Any, path: str = "value") -> Any:
    """Go's ``interface{}`` view of decoded JSON: numbers become float64, objects dicts (last key wins)."""
    if isinstance(value, JSONNumber):
        return _json_float(value, path)
    if isinstance(value, JSONObject):
        return {key: json_to_interface(item, f"{path}.{key}") for key, item in value.pairs}
    if isinstance(value, list):
        return [json_to_interface(item, f"{path}[{index}]") for index, item in enumerate(value)]
    return value


def _fold(name: str) -> str:
    # Go folds with unicode.SimpleFold; the two non-ASCII letters folding onto ASCII ones matter.
    return name.replace("\u017f", "s").replace("\u212a", "k").lower()


def json_struct_fields(obj: Any, names: Iterable[str], path: str) -> dict[str, Any]:
    """Map a JSON object onto Go struct field names: exact or case-insensitive match, last non-null wins."""
    if not isinstance(obj, JSONObject):
        raise GoDecodeError(f"json: cannot unmarshal {_json_kind(obj)} into {path} (expected an object)")
    exact = {name: name for name in names}
    folded = {_fold(name): name for name in names}
    result: dict[str, Any] = {}
    for key, value in obj.pairs:
        field = exact.get(key) or folded.get(_fold(key))
        if field is not None and value is not None:
            result[field] = value
    return result


def _json_kind(value: Any) -> str:
    if isinstance(value, JSONNumber):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, list):
        return "array"
    if isinstance(value, JSONObject):
        return "object"
    return "null"


def json_string(value: Any, path: str) -> str:
    if isinstance(value, str):
        return value
    raise GoDecodeError(f"json: cannot unmarshal {_json_kind(value)} into {path} of type string")


def _json_float(value: Any, path: str) -> float:
    if not isinstance(value, JSONNumber):
        raise GoDecodeError(f"json: cannot unmarshal {_json_kind(value)} into {path} of type float64")
    result = float(value.text)
    if math.isinf(result):
        raise GoDecodeError(f"json: cannot unmarshal number {value.text} into {path} of type float64")
    return result


json_float = _json_float


def json_int64(value: Any, path: str) -> int:
    if isinstance(value, JSONNumber) and value.text.lstrip("-").isdigit():
        result = int(value.text)
        if INT64_MIN <= result <= INT64_MAX:
            return result
    raise GoDecodeError(f"json: cannot unmarshal {_json_kind(value)} into {path} of type int64")


def json_bool(value: Any, path: str) -> bool:
    if isinstance(value, bool):
        return value
    raise GoDecodeError(f"json: cannot unmarshal {_json_kind(value)} into {path} of type bool")


def json_list(value: Any, path: str, item: Callable[[Any, str], T]) -> list[T]:
    if not isinstance(value, list):
        raise GoDecodeError(f"json: cannot unmarshal {_json_kind(value)} into {path} (expected an array)")
    return [item(element, f"{path}[{index}]") for index, element in enumerate(value)]


def json_map(value: Any, path: str, item: Callable[[Any, str], T], zero: T) -> dict[str, T]:
    if not isinstance(value, JSONObject):
        raise GoDecodeError(f"json: cannot unmarshal {_json_kind(value)} into {path} (expected an object)")
    result: dict[str, T] = {}
    for key, element in value.pairs:
        result[key] = zero if element is None else item(element, f"{path}.{key}")
    return result


def json_object_id(value: Any, path: str) -> ObjectId | None:
    """``primitive.ObjectID.UnmarshalJSON``: a 24-hex string (or ``{"$oid": ...}``); zero -> None."""
    if isinstance(value, JSONObject):
        fields = dict(value.pairs)
        value = fields.get("$oid")
    if isinstance(value, str):
        if value == "":
            return None
        if ObjectId.is_valid(value) and len(value) == 24:
            oid = ObjectId(value)
            return None if oid == ObjectId("0" * 24) else oid
    raise GoDecodeError(f"json: cannot unmarshal {_json_kind(value)} into {path} of type ObjectID")


# ---------------------------------------------------------------- BSON


def bson_string(doc: Mapping[str, Any], key: str, path: str) -> str:
    value = doc.get(key)
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, ObjectId):
        return str(value)
    raise GoDecodeError(f"cannot decode {path}: {type(value).__name__} into a string")


def bson_int(doc: Mapping[str, Any], key: str, path: str) -> int:
    return bson_int_value(doc.get(key), path)


def bson_int_value(value: Any, path: str) -> int:
    if value is None:
        return 0
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float) and value.is_integer() and INT64_MIN <= value <= INT64_MAX:
        return int(value)
    raise GoDecodeError(f"cannot decode {path}: {type(value).__name__} {value!r} into an int64")


def bson_float(doc: Mapping[str, Any], key: str, path: str) -> float:
    value = doc.get(key)
    if value is None:
        return 0.0
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    raise GoDecodeError(f"cannot decode {path}: {type(value).__name__} into a float64")


def bson_optional_bool(doc: Mapping[str, Any], key: str, path: str) -> bool | None:
    value = doc.get(key)
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    raise GoDecodeError(f"cannot decode {path}: {type(value).__name__} into a bool")


def bson_optional_string(doc: Mapping[str, Any], key: str, path: str) -> str | None:
    if doc.get(key) is None:
        return None
    return bson_string(doc, key, path)


def bson_object_id(doc: Mapping[str, Any], key: str, path: str) -> ObjectId | None:
    value = doc.get(key)
    if value is None:
        return None
    if isinstance(value, ObjectId):
        return value
    if isinstance(value, str) and ObjectId.is_valid(value):
        return ObjectId(value)
    raise GoDecodeError(f"cannot decode {path}: {type(value).__name__} into an ObjectID")


def bson_list(doc: Mapping[str, Any], key: str, path: str, item: Callable[[Any, str], T]) -> list[T] | None:
    value = doc.get(key)
    if value is None:
        return None
    if not isinstance(value, list):
        raise GoDecodeError(f"cannot decode {path}: {type(value).__name__} into an array")
    return [item(element, f"{path}[{index}]") for index, element in enumerate(value)]


def bson_document(value: Any, path: str) -> Mapping[str, Any]:
    if isinstance(value, Mapping):
        return value
    raise GoDecodeError(f"cannot decode {path}: {type(value).__name__} into a document")


def bson_map(
    doc: Mapping[str, Any], key: str, path: str, item: Callable[[Any, str], T]
) -> dict[str, T] | None:
    value = doc.get(key)
    if value is None:
        return None
    mapping = bson_document(value, path)
    return {name: item(element, f"{path}.{name}") for name, element in mapping.items()}


def bson_string_value(value: Any, path: str) -> str:
    return bson_string({"v": value}, "v", path)


def int64(value: int) -> Int64:
    return Int64(value)
