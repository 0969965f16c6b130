"""Reports produced by rules, saved to ``<studyKey>_reports`` (docs/case-data.md §3.11, docs/study-engine.md §2.8)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bson import Int64

from usermgmt_pipeline.go_unmarshal import (
    json_int64,
    json_list,
    json_string,
    json_struct_fields,
)


@dataclass
class ReportData:
    key: str = ""
    value: str = ""
    dtype: str = ""

    def to_bson(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"key": self.key, "value": self.value}
        if self.dtype:
            doc["dtype"] = self.dtype
        return doc

    @classmethod
    def from_json(cls, value: Any, path: str) -> ReportData:
        if value is None:
            return cls()
        fields = json_struct_fields(value, ("key", "value", "dtype"), path)
        return cls(
            key=json_string(fields.get("key", ""), f"{path}.key"),
            value=json_string(fields.get("value", ""), f"{path}.value"),
            dtype=json_string(fields.get("dtype", ""), f"{path}.dtype"),
        )


@dataclass
class Report:
    """A report; ``data`` is ``None`` (BSON null) until data is added, ``[]`` once all is removed."""

    key: str = ""
    participant_id: str = ""
    response_id: str = ""
    timestamp: int = 0
    data: list[ReportData] | None = None

    def to_bson(self) -> dict[str, Any]:
        """The inserted document: no ``_id`` (generated), ``modifiedAt`` omitted (zero time)."""
        return {
            "key": self.key,
            "participantID": self.participant_id,
            "responseID": self.response_id,
            "timestamp": Int64(self.timestamp),
            "data": None if self.data is None else [item.to_bson() for item in self.data],
        }

    @classmethod
    def from_json(cls, value: Any, path: str) -> Report:
        """Decode the JSON form (``encoding/json`` rules) sent back by an external service."""
        if value is None:
            return cls()
        names = ("id", "key", "participantID", "responseID", "timestamp", "modifiedAt", "data")
        fields = json_struct_fields(value, names, path)
        return cls(
            key=json_string(fields.get("key", ""), f"{path}.key"),
            participant_id=json_string(fields.get("participantID", ""), f"{path}.participantID"),
            response_id=json_string(fields.get("responseID", ""), f"{path}.responseID"),
            timestamp=json_int64(fields["timestamp"], f"{path}.timestamp") if "timestamp" in fields else 0,
            data=(
                json_list(fields["data"], f"{path}.data", ReportData.from_json) if "data" in fields else None
            ),
        )
