"""Builds the study engine for one instance (lazily: only tasks that delete users need it)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from usermgmt_pipeline.case.study_engine_collections import MongoStudyEngineStore
from usermgmt_pipeline.studyengine import StudyEngine
from usermgmt_pipeline.tasks.context import TaskContext
from usermgmt_pipeline.tasks.study_leave import LeaveRulesRunner, external_service_settings


def _new_runner(ctx: TaskContext) -> LeaveRulesRunner:
    zone_name = ctx.config.study_configs.time_zone or "UTC"
    runner: LeaveRulesRunner | None = None

    def before_external_call(step: str) -> None:
        ctx.lease.check(step)
        if runner is not None:
            runner.gate_external_call(step)

    engine = StudyEngine(
        MongoStudyEngineStore(ctx.dbs.study_db(ctx.instance_id), ctx.dbs.timeout_s("study_db")),
        external_service_settings(ctx.config),
        clock=lambda: datetime.now(UTC),
        time_zone=ZoneInfo(zone_name),
        before_external_call=before_external_call,
    )
    runner = LeaveRulesRunner(engine, ctx.studies, ctx.instance_id, ctx.global_secret)
    return runner


def ensure_leave_rules(ctx: TaskContext) -> LeaveRulesRunner:
    """The instance's runner (`ctx.leave_rules`), built on first use."""
    if ctx.leave_rules is None:
        ctx.leave_rules = _new_runner(ctx)
    runner: LeaveRulesRunner = ctx.leave_rules
    return runner
