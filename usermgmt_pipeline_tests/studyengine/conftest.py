"""Engine-specific fixtures: an engine on a fixed clock and a real study DB store."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from pymongo import MongoClient
from pymongo.database import Database

from usermgmt_pipeline.case.study_engine_collections import MongoStudyEngineStore
from usermgmt_pipeline.studyengine import Participant, StudyEngine, StudyEvent
from usermgmt_pipeline.studyengine.model import Expression
from usermgmt_pipeline.studyengine.runtime import EvalContext

FIXED_NOW = 1609459200
INSTANCE_ID = "testInstance"


def fixed_clock(unix: int = FIXED_NOW) -> Callable[[], datetime]:
    return lambda: datetime.fromtimestamp(unix, tz=UTC)


def evaluate(
    expression: Expression,
    participant: Participant | None = None,
    event: StudyEvent | None = None,
    engine: StudyEngine | None = None,
) -> object:
    engine = engine or StudyEngine(store=None, external_services=[])
    ctx = EvalContext(event=event or StudyEvent(type=""), participant=participant or Participant())
    return engine.expressions.evaluate(expression, ctx)


@pytest.fixture
def study_db(mongo_client: MongoClient, db_prefix: str) -> Database:
    return mongo_client[f"{db_prefix}{INSTANCE_ID}_studyDB"]


@pytest.fixture
def store(study_db: Database) -> MongoStudyEngineStore:
    return MongoStudyEngineStore(study_db, op_timeout_s=10)
