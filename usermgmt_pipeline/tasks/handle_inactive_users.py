"""Task 3: warn inactive users and mark them (docs/tasks.md §1.3), then delete those whose grace period is over (§1.4).

Go reads "now" again for each user's `markedForDeletion`; we read it again for each batch of users (one
`update_many` sets a batch's marks).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from usermgmt_pipeline.case.temp_tokens import PURPOSE_INACTIVE_USER_NOTIFICATION
from usermgmt_pipeline.case.users import User
from usermgmt_pipeline.config.task_flags import HANDLE_INACTIVE_USERS
from usermgmt_pipeline.emails.task_email import TaskEmail
from usermgmt_pipeline.review.collect import ReviewPlan
from usermgmt_pipeline.tasks import descriptions, selection
from usermgmt_pipeline.tasks.checkpoints import DELETION_STEPS, NOTICE_STEPS
from usermgmt_pipeline.tasks.context import TaskContext
from usermgmt_pipeline.tasks.declaration import DeletingStep, TaskDeclaration
from usermgmt_pipeline.tasks.deletion_task import run_deletion_task
from usermgmt_pipeline.tasks.iteration import dry_run, run_in_batches
from usermgmt_pipeline.tasks.notify_flow import NoticeSpec, finish_interrupted_notices, send_notices
from usermgmt_pipeline.tasks.preflight import require_template
from usermgmt_pipeline.tasks.results import Outcome, TaskResult

NOTIFY_TASK = "notify_inactive_users"
DELETE_TASK = "delete_marked_users"
NOTIFY_EMAIL = TaskEmail("account-inactivity", token_purpose=PURPOSE_INACTIVE_USER_NOTIFICATION)
DELETE_EMAIL = TaskEmail("account-deleted-after-inactivity")
NOTIFY_MESSAGE_TYPE = NOTIFY_EMAIL.message_type
DELETE_MESSAGE_TYPE = DELETE_EMAIL.message_type


def marked_selection(ctx: TaskContext) -> dict[str, Any]:
    """The marked users whose grace period is over (the guard counts the same selection)."""
    return selection.marked_to_delete(ctx.now_s())


DELETES = DeletingStep(DELETE_TASK, accounts=marked_selection)


def notify_inactive_users(ctx: TaskContext) -> TaskResult:
    umc = ctx.config.user_management_config
    result = TaskResult(NOTIFY_TASK, ctx.instance_id)
    if int(umc.notify_after_inactive_for) == 0:
        result.extra["disabled"] = True
        return result
    inactive_since = ctx.before(int(umc.notify_after_inactive_for))
    chosen = selection.inactive_to_notify(inactive_since)
    if ctx.options.dry_run:
        threshold = f"notify_after_inactive_for={umc.notify_after_inactive_for}"
        fields = ("last_login", "last_token_refresh")
        plan = ReviewPlan("notify", NOTIFY_EMAIL, threshold, inactive_since, fields)
        return dry_run(ctx, NOTIFY_TASK, chosen, result, plan)
    template = require_template(ctx, NOTIFY_EMAIL, result)
    grace = int(umc.mark_for_deletion_after_inactivity_notification)

    def _spec_now() -> NoticeSpec:
        return NoticeSpec(
            task=NOTIFY_TASK,
            email=NOTIFY_EMAIL,
            token_ttl_ns=grace,
            timestamp_field="markedForDeletion",
            timestamp_value=ctx.after(grace),
            selection=chosen,
        )

    def handle(users: list[User]) -> Mapping[str, Outcome]:
        return send_notices(ctx, _spec_now(), users, template)

    try:
        result.extra["closed_interrupted"] = finish_interrupted_notices(ctx, _spec_now())
        run_in_batches(ctx, NOTIFY_TASK, chosen, result, handle)
    finally:
        ctx.flush_audit()
    return result


def delete_marked_users(ctx: TaskContext) -> TaskResult:
    now = ctx.now_s()
    chosen = selection.marked_to_delete(now)
    plan = ReviewPlan(
        "delete",
        DELETE_EMAIL,
        "markedForDeletion (notice + grace period) passed",
        now,
        ("marked_for_deletion",),
    )
    return run_deletion_task(ctx, DELETES, chosen, DELETE_EMAIL, plan)


def handle_inactive_users(ctx: TaskContext) -> list[TaskResult]:
    return [notify_inactive_users(ctx), delete_marked_users(ctx)]


DECLARATION = TaskDeclaration(
    flag=HANDLE_INACTIVE_USERS,
    run=handle_inactive_users,
    describe=descriptions.handle_inactive_users,
    reports=(NOTIFY_TASK, DELETE_TASK),
    emails=(NOTIFY_EMAIL, DELETE_EMAIL),
    deletes=(DELETES,),
    crash_points=NOTICE_STEPS + DELETION_STEPS,
)
