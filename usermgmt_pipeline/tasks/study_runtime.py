"""Builds the study engine for one instance (lazily: only tasks that delete users need it).

The engine keeps per-evaluation state, so each thread that deletes users gets its own engine and runner; all
of them share one list of rule failures, which the task reports.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from usermgmt_pipeline.case.study_engine_collections import MongoStudyEngineStore
from usermgmt_pipeline.studyengine import StudyEngine
from usermgmt_pipeline.tasks.context import TaskContext
from usermgmt_pipeline.tasks.study_leave import LeaveRulesRunner, external_service_settings

_runners_lock = threading.Lock()


def _new_runner(ctx: TaskContext) -> LeaveRulesRunner:
    zone_name = getattr(ctx.config.study_configs, "time_zone", "UTC") or "UTC"
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
    """The calling thread's runner; the first one built is also `ctx.leave_rules` (its failures are shared)."""
    ident = threading.get_ident()
    with _runners_lock:
        runner = ctx.thread_runners.get(ident)
        if runner is None:
            runner = _new_runner(ctx)
            if ctx.leave_rules is None:
                ctx.leave_rules = runner
            else:
                runner.rule_failures = ctx.leave_rules.rule_failures
            ctx.thread_runners[ident] = runner
    return runner
