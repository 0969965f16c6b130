"""The Go mongo driver's decoding rules for the scalar fields the job reads (docs/case-data.md §3.0).

Go accepts int32/int64/integral double/bool for integer fields, string/ObjectId/null for string fields and
booleans or numbers for bool fields; anything else is a decode error. Mirroring this keeps our notion of
"undecodable user" the same as the original's, so we skip exactly the users Go could not process. The
rules themselves live once, in the study engine's `godecode` (which needs them for participant documents);
this module only gives them the path-first error the data layer reports.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from usermgmt_pipeline.errors import CaseDataError
from usermgmt_pipeline.studyengine import godecode


class GoDecodeError(CaseDataError):
    def __init__(self, path: str, expected: str, value: Any) -> None:
        super().__init__(f"{path} is {type(value).__name__}, expected {expected}")
        self.path = path


def go_int(doc: Mapping[str, Any], key: str, path: str) -> int:
    try:
        return godecode.bson_int(doc, key, path)
    except godecode.GoDecodeError:
        raise GoDecodeError(path, "an integer", doc.get(key)) from None


def go_string(doc: Mapping[str, Any], key: str, path: str) -> str:
    try:
        return godecode.bson_string(doc, key, path)
    except godecode.GoDecodeError:
        raise GoDecodeError(path, "a string", doc.get(key)) from None


def go_bool(doc: Mapping[str, Any], key: str, path: str) -> bool:
    try:
        return bool(godecode.bson_optional_bool(doc, key, path))
    except godecode.GoDecodeError:
        raise GoDecodeError(path, "a boolean", doc.get(key)) from None
