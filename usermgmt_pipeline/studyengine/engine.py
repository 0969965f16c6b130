"""Running a study's rules for one event and participant (docs/study-engine.md §5.1, §4.2 top-level loop)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo

from usermgmt_pipeline.studyengine.actions import ActionData, ActionEvaluator, ActionFailure
from usermgmt_pipeline.studyengine.errors import StudyEngineError, StudyEnginePanic
from usermgmt_pipeline.studyengine.event import StudyEvent
from usermgmt_pipeline.studyengine.expressions import ExpressionEvaluator
from usermgmt_pipeline.studyengine.external import ExternalServiceClient, ExternalServiceSettings
from usermgmt_pipeline.studyengine.model import Expression
from usermgmt_pipeline.studyengine.participant import Participant
from usermgmt_pipeline.studyengine.report import Report
from usermgmt_pipeline.studyengine.runtime import EngineRuntime, utc_now
from usermgmt_pipeline.studyengine.store import StudyEngineStore

logger = logging.getLogger(__name__)


@dataclass
class ActionResult:
    """The final participant state and the reports to create, most recent first (Go's order)."""

    participant: Participant
    reports: list[Report]
    swallowed_errors: list[str] = field(default_factory=list)
    """Errors of actions inside IFTHEN, which Go logs and skips; the rule run still succeeded."""


class StudyEngine:
    """The CASE study engine for one instance's study database.

    ``clock`` is the engine's ``Now`` (read at every use); ``time_zone`` replaces Go's ``time.Local``
    for the calendar expressions. ``before_external_call(name)`` is called right before each external
    service request and may raise to prevent it (the job's lease check).
    """

    def __init__(
        self,
        store: StudyEngineStore | None,
        external_services: Sequence[ExternalServiceSettings],
        clock: Callable[[], datetime] = utc_now,
        time_zone: tzinfo = UTC,
        before_external_call: Callable[[str], None] | None = None,
    ) -> None:
        self.runtime = EngineRuntime(
            store=store,
            external=ExternalServiceClient(external_services, before_external_call),
            clock=clock,
            time_zone=time_zone,
        )
        self.expressions = ExpressionEvaluator(self.runtime)
        self.actions = ActionEvaluator(self.expressions)

    def run_rules(
        self, rules: Sequence[Expression], event: StudyEvent, participant: Participant
    ) -> ActionResult:
        """Run every top-level rule in order; the first error aborts (``StudyEngineError`` naming the rule).

        A rule set in which nothing matches the event returns the participant unchanged and no reports.
        """
        state = ActionData(participant=participant, reports=[])
        self.actions.swallowed_errors = []
        for index, rule in enumerate(rules):
            try:
                state = self.actions.run(rule, state, event)
            except ActionFailure as failure:
                raise StudyEngineError(
                    f"study {event.study_key!r}: rule #{index} ({rule.name or '<no name>'}): {failure.error}"
                ) from failure.error
            except StudyEnginePanic as exc:
                raise StudyEnginePanic(
                    f"study {event.study_key!r}: rule #{index} ({rule.name or '<no name>'}): {exc}"
                ) from exc
        for error in self.actions.swallowed_errors:
            logger.error(
                "study %r: action inside IFTHEN failed (skipped, as in Go): %s", event.study_key, error
            )
        return ActionResult(
            participant=state.participant,
            reports=state.reports,
            swallowed_errors=list(self.actions.swallowed_errors),
        )
