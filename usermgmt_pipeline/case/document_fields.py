"""The scalar fields of CASE documents (users, studies), decoded as the Go mongo driver decodes them.

Go accepts int32/int64/integral double/bool for integer fields, string/ObjectId/null for string fields and
booleans or numbers for bool fields; anything else is a decode error (docs/case-data.md §3.0). Mirroring this
keeps our notion of "undecodable user" the same as the original's, so we skip exactly the users Go could not
process. The rules live once, in `go_unmarshal`; this module words their `GoDecodeError` path first, as the
data layer reports a skipped document.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from usermgmt_pipeline import go_unmarshal
from usermgmt_pipeline.go_unmarshal import GoDecodeError

__all__ = ["GoDecodeError", "go_bool", "go_int", "go_string"]


def go_int(doc: Mapping[str, Any], key: str, path: str) -> int:
    try:
        return go_unmarshal.bson_int(doc, key, path)
    except GoDecodeError:
        raise GoDecodeError.mismatch(path, "an integer", doc.get(key)) from None


def go_string(doc: Mapping[str, Any], key: str, path: str) -> str:
    try:
        return go_unmarshal.bson_string(doc, key, path)
    except GoDecodeError:
        raise GoDecodeError.mismatch(path, "a string", doc.get(key)) from None


def go_bool(doc: Mapping[str, Any], key: str, path: str) -> bool:
    try:
        return bool(go_unmarshal.bson_optional_bool(doc, key, path))
    except GoDecodeError:
        raise GoDecodeError.mismatch(path, "a boolean", doc.get(key)) from None
