"""Every database operation the study engine needs (docs/study-engine.md §3.3, docs/case-data.md §4.5), as a protocol.

A store is bound to one instance's study database, so operations take the study key but no instance
ID. Implementations raise :class:`~usermgmt_pipeline.studyengine.errors.StudyEngineError` for any
failure, driver errors included - including the confidential-response delete, where Go panics on a
network error (our fix: a normal, reportable error).
The MongoDB implementation is ``usermgmt_pipeline.case.study_engine_collections.MongoStudyEngineStore``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from usermgmt_pipeline.studyengine.event import SurveyResponse

OLD_RESPONSES_LIMIT = 100


@dataclass(frozen=True)
class StudyVariable:
    """A study variable's declared ``type`` and raw stored ``value`` as the driver decoded it."""

    type: str
    value: Any


class StudyEngineStore(Protocol):
    def find_survey_responses(
        self, study_key: str, participant_id: str, survey_key: str, since: int, until: int, limit: int
    ) -> list[SurveyResponse]:
        """``<sk>_surveyResponses``: count, then find newest-first (``arrivedAt: -1``), up to ``limit``."""
        ...

    def delete_confidential_responses(self, study_key: str, confidential_id: str, key: str) -> int:
        """``<sk>_confidentialResponses`` deleteMany ``{participantID}`` (+ ``key`` if non-empty)."""
        ...

    def save_researcher_message(
        self, study_key: str, message_type: str, payload: Mapping[str, str], participant_id: str
    ) -> None:
        """Insert into ``<sk>_researcherMessages`` (empty fields omitted)."""
        ...

    def study_code_exists(self, study_key: str, list_key: str, code: str) -> bool: ...

    def delete_study_code(self, study_key: str, list_key: str, code: str) -> None: ...

    def draw_study_code(self, study_key: str, list_key: str) -> str:
        """findOneAndDelete ``{studyKey, listKey}``; ``""`` when the list is empty."""
        ...

    def get_study_counter_value(self, study_key: str, scope: str) -> int:
        """The counter's value, 0 when it does not exist."""
        ...

    def increment_study_counter(self, study_key: str, scope: str) -> int:
        """Upsert ``$inc {value: 1}`` and return the new value."""
        ...

    def reset_study_counter(self, study_key: str, scope: str) -> None: ...

    def get_study_variable(self, study_key: str, key: str) -> StudyVariable:
        """Raises ``StudyEngineError`` when the variable does not exist."""
        ...

    def update_study_variable_value(self, study_key: str, key: str, value: Any) -> None:
        """``$set {value, valueUpdatedAt}`` without upsert; a missing variable is an error."""
        ...
