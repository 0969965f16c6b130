"""Rule expressions (docs/study-engine.md §2.1) and the decoding of a ``studyRules`` document (docs/study-engine.md §2.2)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from usermgmt_pipeline.go_unmarshal import (
    GoDecodeError,
    JSONObject,
    bson_document,
    bson_float,
    bson_string,
    json_float,
    json_list,
    json_string,
    json_struct_fields,
    parse_json_document,
)
from usermgmt_pipeline.studyengine.errors import StudyEngineError


@dataclass
class ExpressionArg:
    """One argument: ``dtype`` "exp" / "num" / anything else (treated as "str")."""

    dtype: str = ""
    exp: Expression | None = None
    str_value: str = ""
    num: float = 0.0

    @property
    def is_expression(self) -> bool:
        return self.dtype == "exp"

    @property
    def is_number(self) -> bool:
        return self.dtype == "num"

    @property
    def is_string(self) -> bool:
        return self.dtype == "str"


@dataclass
class Expression:
    """An expression or action: a name, an optional ``returnType`` and its arguments."""

    name: str = ""
    return_type: str = ""
    data: list[ExpressionArg] = field(default_factory=list)


# ---------------------------------------------------------------- JSON (encoding/json semantics)


def _expression_from_json(value: Any, path: str) -> Expression:
    if value is None:
        return Expression()
    fields = json_struct_fields(value, ("name", "returnType", "data"), path)
    result = Expression()
    if "name" in fields:
        result.name = json_string(fields["name"], f"{path}.name")
    if "returnType" in fields:
        result.return_type = json_string(fields["returnType"], f"{path}.returnType")
    if "data" in fields:
        result.data = json_list(fields["data"], f"{path}.data", _arg_from_json)
    return result


def _arg_from_json(value: Any, path: str) -> ExpressionArg:
    if value is None:
        return ExpressionArg()
    fields = json_struct_fields(value, ("dtype", "exp", "str", "num"), path)
    result = ExpressionArg()
    if "dtype" in fields:
        result.dtype = json_string(fields["dtype"], f"{path}.dtype")
    if "exp" in fields:
        if not isinstance(fields["exp"], JSONObject):
            raise GoDecodeError(f"json: cannot unmarshal into {path}.exp (expected an object)")
        result.exp = _expression_from_json(fields["exp"], f"{path}.exp")
    if "str" in fields:
        result.str_value = json_string(fields["str"], f"{path}.str")
    if "num" in fields:
        result.num = json_float(fields["num"], f"{path}.num")
    return result


def parse_rules_json(text: str) -> list[Expression]:
    """Decode a ``serialisedRules`` string into ``[]Expression`` exactly as Go's ``json.Unmarshal``."""
    try:
        document = parse_json_document(text)
    except (json.JSONDecodeError, ValueError, RecursionError) as exc:
        if isinstance(exc, StudyEngineError):
            raise
        raise StudyEngineError(f"study rules: invalid JSON in serialisedRules: {exc}") from exc
    if document is None:
        return []
    try:
        return json_list(document, "rules", _expression_from_json)
    except GoDecodeError as exc:
        raise StudyEngineError(f"study rules: {exc}") from exc


# ---------------------------------------------------------------- BSON (legacy ``rules`` array)


def _bson_get(doc: Mapping[str, Any], name: str) -> Any:
    """The driver's struct codec looks a key up as given, then lower-cased."""
    for key, value in doc.items():
        if key == name or key.lower() == name:
            return value
    return None


def _expression_from_bson(value: Any, path: str) -> Expression:
    if value is None:
        return Expression()
    doc = bson_document(value, path)
    result = Expression(
        name=bson_string({"v": _bson_get(doc, "name")}, "v", f"{path}.name"),
        return_type=bson_string({"v": _bson_get(doc, "returnType")}, "v", f"{path}.returnType"),
    )
    data = _bson_get(doc, "data")
    if data is not None:
        if not isinstance(data, list):
            raise GoDecodeError(f"cannot decode {path}.data: not an array")
        result.data = [_arg_from_bson(item, f"{path}.data[{i}]") for i, item in enumerate(data)]
    return result


def _arg_from_bson(value: Any, path: str) -> ExpressionArg:
    if value is None:
        return ExpressionArg()
    doc = bson_document(value, path)
    exp = _bson_get(doc, "exp")
    return ExpressionArg(
        dtype=bson_string({"v": _bson_get(doc, "dtype")}, "v", f"{path}.dtype"),
        exp=None if exp is None else _expression_from_bson(exp, f"{path}.exp"),
        str_value=bson_string({"v": _bson_get(doc, "str")}, "v", f"{path}.str"),
        num=bson_float({"v": _bson_get(doc, "num")}, "v", f"{path}.num"),
    )


def parse_rules(doc: Mapping[str, Any]) -> list[Expression]:
    """The rules of a ``studyRules`` document: ``serialisedRules`` if non-empty, else ``rules``, else [].

    Raises :class:`StudyEngineError` for JSON Go would reject (syntax or type mismatch).
    """
    serialised = doc.get("serialisedRules")
    if serialised is not None and not isinstance(serialised, str):
        raise StudyEngineError("study rules: serialisedRules is not a string")
    if serialised:
        return parse_rules_json(serialised)
    legacy = doc.get("rules")
    if legacy is None:
        return []
    if not isinstance(legacy, list):
        raise StudyEngineError("study rules: rules is not an array")
    try:
        return [_expression_from_bson(item, f"rules[{i}]") for i, item in enumerate(legacy)]
    except GoDecodeError as exc:
        raise StudyEngineError(f"study rules: {exc}") from exc
