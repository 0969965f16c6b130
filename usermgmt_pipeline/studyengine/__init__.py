"""A Python port of the CASE study engine (``pkg/study/studyengine``) for the user-management job.

It evaluates a study's rules for an event - in this job always ``LEAVE`` on account deletion - with the
same results as the Go engine (docs/study-engine.md), bugs and quirks included, except where docs/decisions.md fixes
them: Go panics become :class:`StudyEngineError` (:class:`StudyEnginePanic`) instead of killing the
process; ``SEND_MESSAGE_NOW`` fails because the job has no message sender (as in Go); external services
treat non-2xx as an error, verify the server with ``ca_file`` and apply a returned ``pState`` and
``reportsToCreate``. The engine never writes the participant or reports itself: the caller saves
``ActionResult.participant`` (``Participant.to_bson``) and ``ActionResult.reports`` (``Report.to_bson``).
"""

from usermgmt_pipeline.studyengine.engine import ActionResult, StudyEngine
from usermgmt_pipeline.studyengine.errors import StudyEngineError, StudyEnginePanic
from usermgmt_pipeline.studyengine.event import StudyEvent, SurveyResponse
from usermgmt_pipeline.studyengine.external import ExternalServiceSettings
from usermgmt_pipeline.studyengine.model import Expression, ExpressionArg, parse_rules
from usermgmt_pipeline.studyengine.participant import AssignedSurvey, Participant, ParticipantMessage
from usermgmt_pipeline.studyengine.report import Report, ReportData
from usermgmt_pipeline.studyengine.store import StudyEngineStore, StudyVariable

__all__ = [
    "ActionResult",
    "AssignedSurvey",
    "Expression",
    "ExpressionArg",
    "ExternalServiceSettings",
    "Participant",
    "ParticipantMessage",
    "Report",
    "ReportData",
    "StudyEngine",
    "StudyEngineError",
    "StudyEnginePanic",
    "StudyEngineStore",
    "StudyEvent",
    "StudyVariable",
    "SurveyResponse",
    "parse_rules",
]
