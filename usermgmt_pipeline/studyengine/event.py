"""The study event and the survey response it may carry (docs/study-engine.md §2.3, §2.7)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bson import ObjectId

from usermgmt_pipeline.go_unmarshal import (
    bson_document,
    bson_int,
    bson_int_value,
    bson_list,
    bson_map,
    bson_object_id,
    bson_string,
    bson_string_value,
)
from usermgmt_pipeline.studyengine.goformat import GoJSONObject
from usermgmt_pipeline.studyengine.participant import ZERO_OBJECT_ID_HEX, Participant

EVENT_TYPES = ("ENTER", "SUBMIT", "TIMER", "CUSTOM", "MERGE", "LEAVE")


@dataclass
class ResponseItem:
    key: str = ""
    value: str = ""
    dtype: str = ""
    items: list[ResponseItem] | None = None

    @classmethod
    def from_bson(cls, value: Any, path: str) -> ResponseItem:
        if value is None:
            return cls()
        doc = bson_document(value, path)
        return cls(
            key=bson_string(doc, "key", f"{path}.key"),
            value=bson_string(doc, "value", f"{path}.value"),
            dtype=bson_string(doc, "dtype", f"{path}.dtype"),
            items=bson_list(doc, "items", f"{path}.items", ResponseItem.from_bson),
        )

    def to_json(self) -> GoJSONObject:
        items: list[tuple[str, Any]] = [("key", self.key)]
        if self.value:
            items.append(("value", self.value))
        if self.dtype:
            items.append(("dtype", self.dtype))
        if self.items:
            items.append(("items", [item.to_json() for item in self.items]))
        return GoJSONObject(items)


@dataclass
class ResponseMeta:
    position: int = 0
    locale_code: str = ""
    rendered: list[int] | None = None
    displayed: list[int] | None = None
    responded: list[int] | None = None

    @classmethod
    def from_bson(cls, value: Any, path: str) -> ResponseMeta:
        if value is None:
            return cls()
        doc = bson_document(value, path)
        return cls(
            position=bson_int(doc, "position", f"{path}.position"),
            locale_code=bson_string(doc, "localeCode", f"{path}.localeCode"),
            rendered=bson_list(doc, "rendered", f"{path}.rendered", bson_int_value),
            displayed=bson_list(doc, "displayed", f"{path}.displayed", bson_int_value),
            responded=bson_list(doc, "responded", f"{path}.responded", bson_int_value),
        )

    def to_json(self) -> GoJSONObject:
        return GoJSONObject(
            [
                ("position", self.position),
                ("localeCode", self.locale_code),
                ("rendered", self.rendered),
                ("displayed", self.displayed),
                ("responded", self.responded),
            ]
        )


@dataclass
class SurveyItemResponse:
    key: str = ""
    meta: ResponseMeta = field(default_factory=ResponseMeta)
    items: list[SurveyItemResponse] | None = None
    response: ResponseItem | None = None
    confidential_mode: str = ""
    map_to_key: str = ""

    @classmethod
    def from_bson(cls, value: Any, path: str) -> SurveyItemResponse:
        if value is None:
            return cls()
        doc = bson_document(value, path)
        response = doc.get("response")
        return cls(
            key=bson_string(doc, "key", f"{path}.key"),
            meta=ResponseMeta.from_bson(doc.get("meta"), f"{path}.meta"),
            items=bson_list(doc, "items", f"{path}.items", SurveyItemResponse.from_bson),
            response=None if response is None else ResponseItem.from_bson(response, f"{path}.response"),
            confidential_mode=bson_string(doc, "confidentialMode", f"{path}.confidentialMode"),
            map_to_key=bson_string(doc, "mapToKey", f"{path}.mapToKey"),
        )

    def to_json(self) -> GoJSONObject:
        items: list[tuple[str, Any]] = [("key", self.key), ("meta", self.meta.to_json())]
        if self.items:
            items.append(("items", [item.to_json() for item in self.items]))
        if self.response is not None:
            items.append(("response", self.response.to_json()))
        if self.confidential_mode:
            items.append(("confidentialMode", self.confidential_mode))
        if self.map_to_key:
            items.append(("mapToKey", self.map_to_key))
        return GoJSONObject(items)


@dataclass
class SurveyResponse:
    id: ObjectId | None = None
    key: str = ""
    participant_id: str = ""
    version_id: str = ""
    opened_at: int = 0
    submitted_at: int = 0
    arrived_at: int = 0
    responses: list[SurveyItemResponse] | None = None
    context: dict[str, str] | None = None

    @classmethod
    def from_bson(cls, doc: Mapping[str, Any]) -> SurveyResponse:
        return cls(
            id=bson_object_id(doc, "_id", "_id"),
            key=bson_string(doc, "key", "key"),
            participant_id=bson_string(doc, "participantID", "participantID"),
            version_id=bson_string(doc, "versionID", "versionID"),
            opened_at=bson_int(doc, "openedAt", "openedAt"),
            submitted_at=bson_int(doc, "submittedAt", "submittedAt"),
            arrived_at=bson_int(doc, "arrivedAt", "arrivedAt"),
            responses=bson_list(doc, "responses", "responses", SurveyItemResponse.from_bson),
            context=bson_map(doc, "context", "context", bson_string_value),
        )

    def to_json(self) -> GoJSONObject:
        return GoJSONObject(
            [
                ("id", str(self.id) if self.id is not None else ZERO_OBJECT_ID_HEX),
                ("key", self.key),
                ("participantId", self.participant_id),
                ("versionId", self.version_id),
                ("openedAt", self.opened_at),
                ("submittedAt", self.submitted_at),
                ("arrivedAt", self.arrived_at),
                ("responses", None if self.responses is None else [r.to_json() for r in self.responses]),
                ("context", self.context),
            ]
        )


@dataclass
class StudyEvent:
    """What happened. The user-management job only sends ``LEAVE`` with the confidential ID set."""

    instance_id: str = ""
    study_key: str = ""
    type: str = "LEAVE"
    response: SurveyResponse = field(default_factory=SurveyResponse)
    payload: dict[str, Any] | None = None
    event_key: str = ""
    merge_with_participant: Participant = field(default_factory=Participant)
    participant_id_for_confidential_responses: str = ""
