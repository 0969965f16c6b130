"""MongoDB implementation of the study engine's store (docs/case-data.md §4.5, §3.13), bound to one ``<p><iid>_studyDB``.

Filters, updates, options and BSON types are those of the Go ``pkg/db/study`` functions: a counter
created by ``$inc {value: 1}`` stays Int32 (Go encodes the literal 1 as int32), ``valueUpdatedAt`` is a
BSON datetime, researcher messages omit empty fields. Every operation runs under
``pymongo.timeout(op_timeout_s)``. Any driver error becomes a ``StudyEngineError`` - including the
confidential-response delete, where Go panics on a non-write error (fixed, docs/decisions.md).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pymongo
from pymongo import ReturnDocument
from pymongo.database import Database
from pymongo.errors import PyMongoError

from usermgmt_pipeline.go_unmarshal import GoDecodeError, bson_int_value
from usermgmt_pipeline.studyengine.errors import StudyEngineError
from usermgmt_pipeline.studyengine.event import SurveyResponse
from usermgmt_pipeline.studyengine.store import StudyVariable

STUDY_CODE_LISTS = "studyCodeLists"
STUDY_COUNTERS = "studyCounters"
STUDY_VARIABLES = "studyVariables"


@contextmanager
def _as_engine_error() -> Iterator[None]:
    """A stored value Go's driver would not decode is, to Go's engine, an ordinary error a rule can handle."""
    try:
        yield
    except GoDecodeError as exc:
        raise StudyEngineError(str(exc)) from exc


class MongoStudyEngineStore:
    def __init__(self, study_db: Database[Any], op_timeout_s: float) -> None:
        self._db = study_db
        self._timeout = op_timeout_s

    @contextmanager
    def _operation(self, what: str) -> Iterator[None]:
        try:
            with pymongo.timeout(self._timeout):
                yield
        except PyMongoError as exc:
            raise StudyEngineError(f"study DB: {what} failed: {type(exc).__name__}: {exc}") from exc

    # ------------------------------------------------------------ survey responses

    def find_survey_responses(
        self, study_key: str, participant_id: str, survey_key: str, since: int, until: int, limit: int
    ) -> list[SurveyResponse]:
        query: dict[str, Any] = {"participantID": participant_id}
        if survey_key:
            query["key"] = survey_key
        if since > 0 and until > 0:
            query["$and"] = [{"arrivedAt": {"$gt": since}}, {"arrivedAt": {"$lt": until}}]
        elif since > 0:
            query["arrivedAt"] = {"$gt": since}
        elif until > 0:
            query["arrivedAt"] = {"$lt": until}
        collection = self._db[f"{study_key}_surveyResponses"]
        with self._operation("reading survey responses"):
            collection.count_documents(query)  # Go counts first for its pagination info
            documents = list(collection.find(query, sort=[("arrivedAt", -1)], skip=0, limit=limit))
        with _as_engine_error():
            return [SurveyResponse.from_bson(document) for document in documents]

    # ------------------------------------------------------------ confidential responses, messages

    def delete_confidential_responses(self, study_key: str, confidential_id: str, key: str) -> int:
        if confidential_id == "":
            raise StudyEngineError("participant id must be defined")
        query: dict[str, Any] = {"participantID": confidential_id}
        if key:
            query["key"] = key
        with self._operation("deleting confidential responses"):
            return self._db[f"{study_key}_confidentialResponses"].delete_many(query).deleted_count

    def save_researcher_message(
        self, study_key: str, message_type: str, payload: Mapping[str, str], participant_id: str
    ) -> None:
        document: dict[str, Any] = {}
        if message_type:
            document["type"] = message_type
        if payload:
            document["payload"] = dict(payload)
        if participant_id:
            document["participantID"] = participant_id
        with self._operation("saving researcher message"):
            self._db[f"{study_key}_researcherMessages"].insert_one(document)

    # ------------------------------------------------------------ study code lists

    def study_code_exists(self, study_key: str, list_key: str, code: str) -> bool:
        with self._operation("counting study codes"):
            count = self._db[STUDY_CODE_LISTS].count_documents(
                {"studyKey": study_key, "listKey": list_key, "code": code}
            )
        return count > 0

    def delete_study_code(self, study_key: str, list_key: str, code: str) -> None:
        with self._operation("deleting study code"):
            self._db[STUDY_CODE_LISTS].delete_one({"studyKey": study_key, "listKey": list_key, "code": code})

    def draw_study_code(self, study_key: str, list_key: str) -> str:
        with self._operation("drawing study code"):
            document = self._db[STUDY_CODE_LISTS].find_one_and_delete(
                {"studyKey": study_key, "listKey": list_key}
            )
        if document is None:
            return ""
        code = document.get("code")
        if code is None:
            return ""
        if not isinstance(code, str):
            raise StudyEngineError("study DB: study code is not a string")
        return code

    # ------------------------------------------------------------ counters

    def get_study_counter_value(self, study_key: str, scope: str) -> int:
        with self._operation("reading study counter"):
            document = self._db[STUDY_COUNTERS].find_one({"studyKey": study_key, "scope": scope})
        if document is None:
            return 0
        with _as_engine_error():
            return bson_int_value(document.get("value"), "value")

    def increment_study_counter(self, study_key: str, scope: str) -> int:
        with self._operation("incrementing study counter"):
            document = self._db[STUDY_COUNTERS].find_one_and_update(
                {"studyKey": study_key, "scope": scope},
                {"$inc": {"value": 1}, "$setOnInsert": {"studyKey": study_key, "scope": scope}},
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )
        with _as_engine_error():
            return bson_int_value(document.get("value") if document else None, "value")

    def reset_study_counter(self, study_key: str, scope: str) -> None:
        with self._operation("resetting study counter"):
            self._db[STUDY_COUNTERS].delete_one({"studyKey": study_key, "scope": scope})

    # ------------------------------------------------------------ variables

    def get_study_variable(self, study_key: str, key: str) -> StudyVariable:
        projection = {"type": 1, "value": 1, "studyKey": 1, "key": 1, "valueUpdatedAt": 1}
        with self._operation("reading study variable"):
            document = self._db[STUDY_VARIABLES].find_one({"studyKey": study_key, "key": key}, projection)
        if document is None:
            raise StudyEngineError(f"study DB: study variable {key!r} not found")
        variable_type = document.get("type")
        return StudyVariable(
            type=variable_type if isinstance(variable_type, str) else "", value=document.get("value")
        )

    def update_study_variable_value(self, study_key: str, key: str, value: Any) -> None:
        with self._operation("updating study variable"):
            document = self._db[STUDY_VARIABLES].find_one_and_update(
                {"studyKey": study_key, "key": key},
                {"$set": {"value": value, "valueUpdatedAt": datetime.now(UTC)}},
                return_document=ReturnDocument.AFTER,
            )
        if document is None:
            raise StudyEngineError(f"study DB: study variable {key!r} not found")
