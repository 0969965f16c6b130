"""The participant state document ``<studyKey>_participants`` (docs/case-data.md §3.8, docs/study-engine.md §2.6).

``from_bson`` decodes like the Go driver (unknown fields dropped, null -> zero value, integer fields
from int32/int64/integral double/bool); ``to_bson`` writes exactly what Go's ``SaveParticipantState``
writes (struct field order, Int64 for every int64 field, null for nil maps/lists, omitempty only on
``_id``, ``hashedAccountID`` and ``isMainProfile``). ``to_json`` is the external-service payload form.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bson import Int64, ObjectId

from usermgmt_pipeline.go_unmarshal import (
    bson_document,
    bson_int,
    bson_int_value,
    bson_list,
    bson_map,
    bson_object_id,
    bson_optional_bool,
    bson_optional_string,
    bson_string,
    bson_string_value,
    json_bool,
    json_int64,
    json_list,
    json_map,
    json_object_id,
    json_string,
    json_struct_fields,
)
from usermgmt_pipeline.studyengine.goformat import GoJSONObject

ZERO_OBJECT_ID_HEX = "0" * 24


@dataclass
class AssignedSurvey:
    study_key: str = ""
    survey_key: str = ""
    valid_from: int = 0
    valid_until: int = 0
    category: str = ""
    profile_id: str = ""

    @classmethod
    def from_bson(cls, value: Any, path: str) -> AssignedSurvey:
        if value is None:
            return cls()
        doc = bson_document(value, path)
        return cls(
            study_key=bson_string(doc, "studyKey", f"{path}.studyKey"),
            survey_key=bson_string(doc, "surveyKey", f"{path}.surveyKey"),
            valid_from=bson_int(doc, "validFrom", f"{path}.validFrom"),
            valid_until=bson_int(doc, "validUntil", f"{path}.validUntil"),
            category=bson_string(doc, "category", f"{path}.category"),
            profile_id=bson_string(doc, "profileID", f"{path}.profileID"),
        )

    @classmethod
    def from_json(cls, value: Any, path: str) -> AssignedSurvey:
        if value is None:
            return cls()
        names = ("studyKey", "surveyKey", "validFrom", "validUntil", "category", "profileID")
        fields = json_struct_fields(value, names, path)
        return cls(
            study_key=json_string(fields.get("studyKey", ""), f"{path}.studyKey"),
            survey_key=json_string(fields.get("surveyKey", ""), f"{path}.surveyKey"),
            valid_from=_json_int_or_zero(fields, "validFrom", path),
            valid_until=_json_int_or_zero(fields, "validUntil", path),
            category=json_string(fields.get("category", ""), f"{path}.category"),
            profile_id=json_string(fields.get("profileID", ""), f"{path}.profileID"),
        )

    def to_bson(self) -> dict[str, Any]:
        return {
            "studyKey": self.study_key,
            "surveyKey": self.survey_key,
            "validFrom": Int64(self.valid_from),
            "validUntil": Int64(self.valid_until),
            "category": self.category,
            "profileID": self.profile_id,
        }

    def to_json(self) -> GoJSONObject:
        return GoJSONObject(
            [
                ("studyKey", self.study_key),
                ("surveyKey", self.survey_key),
                ("validFrom", self.valid_from),
                ("validUntil", self.valid_until),
                ("category", self.category),
                ("profileID", self.profile_id),
            ]
        )


@dataclass
class ParticipantMessage:
    """A scheduled participant message (sent later by the messaging job)."""

    id: str = ""
    type: str = ""
    scheduled_for: int = 0

    @classmethod
    def from_bson(cls, value: Any, path: str) -> ParticipantMessage:
        if value is None:
            return cls()
        doc = bson_document(value, path)
        return cls(
            id=bson_string(doc, "id", f"{path}.id"),
            type=bson_string(doc, "type", f"{path}.type"),
            scheduled_for=bson_int(doc, "scheduledFor", f"{path}.scheduledFor"),
        )

    @classmethod
    def from_json(cls, value: Any, path: str) -> ParticipantMessage:
        if value is None:
            return cls()
        fields = json_struct_fields(value, ("id", "type", "scheduledFor"), path)
        return cls(
            id=json_string(fields.get("id", ""), f"{path}.id"),
            type=json_string(fields.get("type", ""), f"{path}.type"),
            scheduled_for=_json_int_or_zero(fields, "scheduledFor", path),
        )

    def to_bson(self) -> dict[str, Any]:
        return {"id": self.id, "type": self.type, "scheduledFor": Int64(self.scheduled_for)}

    def to_json(self) -> GoJSONObject:
        return GoJSONObject([("id", self.id), ("type", self.type), ("scheduledFor", self.scheduled_for)])


def _json_int_or_zero(fields: Mapping[str, Any], name: str, path: str) -> int:
    return json_int64(fields[name], f"{path}.{name}") if name in fields else 0


@dataclass
class Participant:
    """A participant's state in one study. ``None`` for a collection means Go's nil (BSON null)."""

    id: ObjectId | None = None
    participant_id: str = ""
    current_study_session: str = ""
    modified_at: int = 0
    entered_at: int = 0
    study_status: str = ""
    flags: dict[str, str] | None = None
    linking_codes: dict[str, str] | None = None
    assigned_surveys: list[AssignedSurvey] | None = None
    last_submissions: dict[str, int] | None = None
    messages: list[ParticipantMessage] | None = None
    hashed_account_id: str | None = None
    is_main_profile: bool | None = None

    @classmethod
    def from_bson(cls, doc: Mapping[str, Any]) -> Participant:
        """Decode a stored participant; raises ``GoDecodeError`` where the Go driver fails."""
        return cls(
            id=bson_object_id(doc, "_id", "_id"),
            participant_id=bson_string(doc, "participantID", "participantID"),
            current_study_session=bson_string(doc, "currentStudySession", "currentStudySession"),
            modified_at=bson_int(doc, "modifiedAt", "modifiedAt"),
            entered_at=bson_int(doc, "enteredAt", "enteredAt"),
            study_status=bson_string(doc, "studyStatus", "studyStatus"),
            flags=bson_map(doc, "flags", "flags", bson_string_value),
            linking_codes=bson_map(doc, "linkingCodes", "linkingCodes", bson_string_value),
            assigned_surveys=bson_list(doc, "assignedSurveys", "assignedSurveys", AssignedSurvey.from_bson),
            last_submissions=bson_map(doc, "lastSubmission", "lastSubmission", bson_int_value),
            messages=bson_list(doc, "messages", "messages", ParticipantMessage.from_bson),
            hashed_account_id=bson_optional_string(doc, "hashedAccountID", "hashedAccountID"),
            is_main_profile=bson_optional_bool(doc, "isMainProfile", "isMainProfile"),
        )

    def to_bson(self) -> dict[str, Any]:
        """The replacement document Go's ``SaveParticipantState`` writes (set ``modified_at`` first)."""
        doc: dict[str, Any] = {}
        if self.id is not None:
            doc["_id"] = self.id
        doc["participantID"] = self.participant_id
        doc["currentStudySession"] = self.current_study_session
        doc["modifiedAt"] = Int64(self.modified_at)
        doc["enteredAt"] = Int64(self.entered_at)
        doc["studyStatus"] = self.study_status
        doc["flags"] = None if self.flags is None else dict(self.flags)
        doc["linkingCodes"] = None if self.linking_codes is None else dict(self.linking_codes)
        doc["assignedSurveys"] = (
            None if self.assigned_surveys is None else [s.to_bson() for s in self.assigned_surveys]
        )
        doc["lastSubmission"] = (
            None
            if self.last_submissions is None
            else {key: Int64(value) for key, value in self.last_submissions.items()}
        )
        doc["messages"] = None if self.messages is None else [m.to_bson() for m in self.messages]
        if self.hashed_account_id is not None:
            doc["hashedAccountID"] = self.hashed_account_id
        if self.is_main_profile is not None:
            doc["isMainProfile"] = self.is_main_profile
        return doc

    def to_json(self) -> GoJSONObject:
        """``encoding/json`` form (external-service payload): JSON names, ``id`` always present."""
        items: list[tuple[str, Any]] = [
            ("id", str(self.id) if self.id is not None else ZERO_OBJECT_ID_HEX),
            ("participantId", self.participant_id),
            ("currentStudySession", self.current_study_session),
            ("modifiedAt", self.modified_at),
            ("enteredAt", self.entered_at),
            ("studyStatus", self.study_status),
            ("flags", self.flags),
            ("linkingCodes", self.linking_codes),
            (
                "assignedSurveys",
                None if self.assigned_surveys is None else [s.to_json() for s in self.assigned_surveys],
            ),
            ("lastSubmissions", self.last_submissions),
            ("messages", None if self.messages is None else [m.to_json() for m in self.messages]),
        ]
        if self.hashed_account_id is not None:
            items.append(("hashedAccountID", self.hashed_account_id))
        if self.is_main_profile is not None:
            items.append(("isMainProfile", self.is_main_profile))
        return GoJSONObject(items)

    @classmethod
    def from_json(cls, value: Any, path: str = "pState") -> Participant:
        """Decode the JSON form (an external service's ``pState``) with ``encoding/json`` rules."""
        names = (
            "id", "participantId", "currentStudySession", "modifiedAt", "enteredAt", "studyStatus",
            "flags", "linkingCodes", "assignedSurveys", "lastSubmissions", "messages",
            "hashedAccountID", "isMainProfile",
        )  # fmt: skip
        fields = json_struct_fields(value, names, path)

        def text(name: str) -> str:
            return json_string(fields[name], f"{path}.{name}") if name in fields else ""

        def str_map(name: str) -> dict[str, str] | None:
            if name not in fields:
                return None
            return json_map(fields[name], f"{path}.{name}", json_string, "")

        return cls(
            id=json_object_id(fields["id"], f"{path}.id") if "id" in fields else None,
            participant_id=text("participantId"),
            current_study_session=text("currentStudySession"),
            modified_at=_json_int_or_zero(fields, "modifiedAt", path),
            entered_at=_json_int_or_zero(fields, "enteredAt", path),
            study_status=text("studyStatus"),
            flags=str_map("flags"),
            linking_codes=str_map("linkingCodes"),
            assigned_surveys=(
                json_list(fields["assignedSurveys"], f"{path}.assignedSurveys", AssignedSurvey.from_json)
                if "assignedSurveys" in fields
                else None
            ),
            last_submissions=(
                json_map(fields["lastSubmissions"], f"{path}.lastSubmissions", json_int64, 0)
                if "lastSubmissions" in fields
                else None
            ),
            messages=(
                json_list(fields["messages"], f"{path}.messages", ParticipantMessage.from_json)
                if "messages" in fields
                else None
            ),
            hashed_account_id=text("hashedAccountID") if "hashedAccountID" in fields else None,
            is_main_profile=(
                json_bool(fields["isMainProfile"], f"{path}.isMainProfile")
                if "isMainProfile" in fields
                else None
            ),
        )
