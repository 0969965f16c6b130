"""Builds the study engine for one instance (lazily: only tasks that delete users need it)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from usermgmt_pipeline.case.study_engine_collections import MongoStudyEngineStore
from usermgmt_pipeline.studyengine import StudyEngine
from usermgmt_pipeline.tasks.context import TaskContext
from usermgmt_pipeline.tasks.study_leave import LeaveRulesRunner, external_service_settings


def ensure_leave_rules(ctx: TaskContext) -> LeaveRulesRunner:
    if ctx.leave_rules is None:
        zone_name = getattr(ctx.config.study_configs, "time_zone", "UTC") or "UTC"
        engine = StudyEngine(
            MongoStudyEngineStore(ctx.dbs.study_db(ctx.instance_id), ctx.dbs.timeout_s("study_db")),
            external_service_settings(ctx.config),
            clock=lambda: datetime.now(UTC),
            time_zone=ZoneInfo(zone_name),
        )
        ctx.leave_rules = LeaveRulesRunner(engine, ctx.studies, ctx.instance_id, ctx.global_secret)
    return ctx.leave_rules
