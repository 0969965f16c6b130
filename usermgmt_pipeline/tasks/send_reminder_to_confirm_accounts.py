"""Task 2: remind users who have not confirmed their account, once (docs/tasks.md §1.2)."""

from __future__ import annotations

from usermgmt_pipeline.case.temp_tokens import PURPOSE_CONTACT_VERIFICATION
from usermgmt_pipeline.review.collect import ReviewPlan
from usermgmt_pipeline.tasks import selection
from usermgmt_pipeline.tasks.context import TaskContext
from usermgmt_pipeline.tasks.iteration import dry_run, run_in_batches
from usermgmt_pipeline.tasks.notify_flow import NoticeSpec, finish_interrupted_notices, send_notices
from usermgmt_pipeline.tasks.preflight import require_template
from usermgmt_pipeline.tasks.results import TaskResult

TASK = "send_reminder_to_confirm_accounts"
MESSAGE_TYPE = "registration"


def send_reminder_to_confirm_accounts(ctx: TaskContext) -> TaskResult:
    umc = ctx.config.user_management_config
    created_before = ctx.before(int(umc.send_reminder_to_confirm_account_after))
    chosen = selection.unverified_to_remind(created_before)
    result = TaskResult(TASK, ctx.instance_id)
    if ctx.options.dry_run:
        threshold = f"send_reminder_to_confirm_account_after={umc.send_reminder_to_confirm_account_after}"
        plan = ReviewPlan("notify", MESSAGE_TYPE, threshold, created_before, ("created_at",), with_token=True)
        return dry_run(ctx, TASK, chosen, result, plan)
    template = require_template(ctx, MESSAGE_TYPE, result)
    spec = NoticeSpec(
        task=TASK,
        message_type=MESSAGE_TYPE,
        token_purpose=PURPOSE_CONTACT_VERIFICATION,
        token_ttl_ns=int(umc.email_contact_verification_token_ttl),
        timestamp_field="reminderToConfirmSentAt",
        timestamp_value=ctx.now_s(),
        selection=chosen,
    )
    try:
        result.extra["closed_interrupted"] = finish_interrupted_notices(ctx, spec)
        run_in_batches(ctx, TASK, chosen, result, lambda users: send_notices(ctx, spec, users, template))
    finally:
        ctx.flush_audit()
    return result
