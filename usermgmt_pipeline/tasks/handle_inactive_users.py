"""Task 3: warn inactive users and mark them (docs/tasks.md §1.3), then delete those whose grace period is over (§1.4).

Go reads "now" again for each user's `markedForDeletion`; we read it again for each batch of users (one
`update_many` sets a batch's marks).
"""

from __future__ import annotations

from usermgmt_pipeline.case.temp_tokens import PURPOSE_INACTIVE_USER_NOTIFICATION
from usermgmt_pipeline.review.collect import ReviewPlan
from usermgmt_pipeline.tasks import selection
from usermgmt_pipeline.tasks.context import TaskContext
from usermgmt_pipeline.tasks.deletion_task import run_deletion_task
from usermgmt_pipeline.tasks.iteration import dry_run, run_in_batches
from usermgmt_pipeline.tasks.notify_flow import NoticeSpec, finish_interrupted_notices, send_notices
from usermgmt_pipeline.tasks.preflight import require_template
from usermgmt_pipeline.tasks.results import TaskResult

NOTIFY_TASK = "notify_inactive_users"
DELETE_TASK = "delete_marked_users"
NOTIFY_MESSAGE_TYPE = "account-inactivity"
DELETE_MESSAGE_TYPE = "account-deleted-after-inactivity"


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
        plan = ReviewPlan("notify", NOTIFY_MESSAGE_TYPE, threshold, inactive_since, fields, with_token=True)
        return dry_run(ctx, NOTIFY_TASK, chosen, result, plan)
    template = require_template(ctx, NOTIFY_MESSAGE_TYPE, result)
    grace = int(umc.mark_for_deletion_after_inactivity_notification)

    def _spec_now() -> NoticeSpec:
        return NoticeSpec(
            task=NOTIFY_TASK,
            message_type=NOTIFY_MESSAGE_TYPE,
            token_purpose=PURPOSE_INACTIVE_USER_NOTIFICATION,
            token_ttl_ns=grace,
            timestamp_field="markedForDeletion",
            timestamp_value=ctx.after(grace),
            selection=chosen,
        )

    def handle(users):  # type: ignore[no-untyped-def]
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
        DELETE_MESSAGE_TYPE,
        "markedForDeletion (notice + grace period) passed",
        now,
        ("marked_for_deletion",),
    )
    return run_deletion_task(ctx, DELETE_TASK, chosen, DELETE_MESSAGE_TYPE, plan)


def handle_inactive_users(ctx: TaskContext) -> list[TaskResult]:
    return [notify_inactive_users(ctx), delete_marked_users(ctx)]
