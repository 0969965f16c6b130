"""Task 2: remind users who have not confirmed their account, once (docs/tasks.md §1.2)."""

from __future__ import annotations

from usermgmt_pipeline.case.temp_tokens import PURPOSE_CONTACT_VERIFICATION
from usermgmt_pipeline.config.task_flags import SEND_REMINDER_TO_CONFIRM_ACCOUNTS
from usermgmt_pipeline.emails.task_email import TaskEmail
from usermgmt_pipeline.review.collect import ReviewPlan
from usermgmt_pipeline.tasks import descriptions, selection
from usermgmt_pipeline.tasks.checkpoints import NOTICE_STEPS
from usermgmt_pipeline.tasks.context import TaskContext
from usermgmt_pipeline.tasks.declaration import TaskDeclaration
from usermgmt_pipeline.tasks.iteration import dry_run, run_in_batches
from usermgmt_pipeline.tasks.notify_flow import NoticeSpec, finish_interrupted_notices, send_notices
from usermgmt_pipeline.tasks.preflight import require_template
from usermgmt_pipeline.tasks.results import TaskResult

TASK = SEND_REMINDER_TO_CONFIRM_ACCOUNTS.name
EMAIL = TaskEmail("registration", token_purpose=PURPOSE_CONTACT_VERIFICATION)


def send_reminder_to_confirm_accounts(ctx: TaskContext) -> TaskResult:
    umc = ctx.config.user_management_config
    created_before = ctx.before(int(umc.send_reminder_to_confirm_account_after))
    chosen = selection.unverified_to_remind(created_before)
    result = TaskResult(TASK, ctx.instance_id)
    if ctx.options.dry_run:
        threshold = f"send_reminder_to_confirm_account_after={umc.send_reminder_to_confirm_account_after}"
        plan = ReviewPlan("notify", EMAIL, threshold, created_before, ("created_at",))
        return dry_run(ctx, TASK, chosen, result, plan)
    template = require_template(ctx, EMAIL, result)
    spec = NoticeSpec(
        task=TASK,
        email=EMAIL,
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


DECLARATION = TaskDeclaration(
    flag=SEND_REMINDER_TO_CONFIRM_ACCOUNTS,
    run=send_reminder_to_confirm_accounts,
    describe=descriptions.send_reminder_to_confirm_accounts,
    emails=(EMAIL,),
    crash_points=NOTICE_STEPS,
)
