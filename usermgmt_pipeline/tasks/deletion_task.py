"""The common body of the two deleting tasks: pre-flight, resume, guard, then delete a batch of users at a time."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from usermgmt_pipeline.emails.task_email import TaskEmail
from usermgmt_pipeline.review.collect import ReviewPlan
from usermgmt_pipeline.tasks.context import TaskContext
from usermgmt_pipeline.tasks.declaration import DeletingStep
from usermgmt_pipeline.tasks.deletion_plan import guard_run_deletions
from usermgmt_pipeline.tasks.iteration import dry_run, run_in_batches
from usermgmt_pipeline.tasks.preflight import require_global_secret, require_template
from usermgmt_pipeline.tasks.results import TaskResult
from usermgmt_pipeline.tasks.study_runtime import ensure_leave_rules
from usermgmt_pipeline.tasks.user_deletion import (
    DeletionSpec,
    all_studies,
    delete_users,
    resumable_deletions,
    resume_deletions,
)


def run_deletion_task(
    ctx: TaskContext,
    step: DeletingStep,
    selection: Mapping[str, Any],
    email: TaskEmail,
    plan: ReviewPlan | None = None,
) -> TaskResult:
    """Delete the users `selection` picks, under the step's name (its results, journal and audit records)."""
    task = step.name
    result = TaskResult(task, ctx.instance_id)
    if ctx.options.dry_run:
        resumable = resumable_deletions(ctx, task)
        dry_run(ctx, task, selection, result, plan, resumable, studies=lambda: all_studies(ctx))
        guard_run_deletions(ctx, step, result)  # reports the whole run's verdict; a dry run never trips
        return result
    template = require_template(ctx, email, result)
    require_global_secret(ctx, result)
    study_problems: list[str] = []
    result.extra["study_problems"] = study_problems
    studies = all_studies(ctx, study_problems)
    spec = DeletionSpec(task, selection, email.message_type, template, studies)
    ensure_leave_rules(ctx).rule_failures.clear()
    try:
        resumed = 0
        for entry, outcome in resume_deletions(ctx, task, template, studies):
            if (error := outcome.error) is None:
                resumed += 1
            else:
                result.fail(
                    entry.user_id, f"resuming interrupted deletion failed: {type(error).__name__}: {error}"
                )
        result.extra["resumed"] = resumed
        result.resumed = resumed
        guard_run_deletions(ctx, step, result)
        run_in_batches(
            ctx,
            task,
            selection,
            result,
            lambda users: delete_users(ctx, spec, users),
        )
    finally:
        ctx.flush_audit()
        failures = ctx.leave_rules.rule_failures if ctx.leave_rules is not None else []
        result.extra["leave_rule_failures"] = len(failures)
        result.extra["leave_rule_failure_details"] = [
            f"user {user_id}, study {study_key}: {error}" for user_id, study_key, error in failures[:50]
        ]
    return result
