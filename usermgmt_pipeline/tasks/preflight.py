"""Checks run before a task touches any user of an instance: refuse to start rather than half-work."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from usermgmt_pipeline.tasks.context import TaskContext
from usermgmt_pipeline.tasks.results import MassDeletionGuardError, TaskFailedError, TaskResult


def require_template(ctx: TaskContext, message_type: str, result: TaskResult) -> Mapping[str, Any]:
    """The global email template must exist (Go silently deleted users without notice when it did not)."""
    template = ctx.messaging.find_global_template(message_type)
    if template is None:
        raise TaskFailedError(
            f"{result.task}[{ctx.instance_id}]: email template {message_type!r} (global, no studyKey) is missing "
            f"in database {ctx.dbs.messaging_db(ctx.instance_id).name}; no user was touched",
            result,
        )
    return template


def require_global_secret(ctx: TaskContext, result: TaskResult) -> None:
    if not ctx.global_secret:
        raise TaskFailedError(
            f"{result.task}[{ctx.instance_id}]: study_configs.global_secret is empty", result
        )


def guard_mass_deletion(ctx: TaskContext, selection: Mapping[str, Any], result: TaskResult) -> None:
    """Stop before deleting anyone when more than `max_deletion_share` of the instance would go."""
    share = float(getattr(getattr(ctx.config, "orchestration", None), "max_deletion_share", 0.10))
    to_delete = ctx.users.count(selection)
    total = ctx.users.count({})
    result.extra["guard_candidates"] = to_delete
    result.extra["guard_total_users"] = total
    if total == 0 or to_delete <= share * total or ctx.options.allow_mass_deletion:
        return
    raise MassDeletionGuardError(
        f"{result.task}[{ctx.instance_id}]: mass-deletion guard tripped: {to_delete} of {total} users "
        f"({to_delete / total:.1%}) would be deleted, more than orchestration.max_deletion_share={share:.0%}; "
        "nothing was deleted. Check the thresholds, then rerun with the explicit override "
        "(allow_mass_deletion) if this is intended",
        result,
    )
