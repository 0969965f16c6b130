"""What expressions and actions can reach besides their arguments: store, services, clock, zone."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo

from usermgmt_pipeline.studyengine.calendar_time import unix_seconds
from usermgmt_pipeline.studyengine.event import StudyEvent
from usermgmt_pipeline.studyengine.external import ExternalServiceClient
from usermgmt_pipeline.studyengine.participant import Participant
from usermgmt_pipeline.studyengine.store import StudyEngineStore


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class EngineRuntime:
    """The engine clock ``Now`` is read fresh at every use, like Go (docs/study-engine.md §2.10)."""

    store: StudyEngineStore | None
    external: ExternalServiceClient
    clock: Callable[[], datetime] = utc_now
    time_zone: tzinfo = UTC
    rng: random.Random = field(default_factory=random.SystemRandom)

    def now(self) -> int:
        return unix_seconds(self.clock())


@dataclass
class EvalContext:
    """What an expression can read: the event and the participant state at the start of the action."""

    event: StudyEvent
    participant: Participant
