"""Task 1: delete accounts never confirmed within `delete_unverified_users_after` (docs/tasks.md §1.1)."""

from __future__ import annotations

from usermgmt_pipeline.review.collect import ReviewPlan
from usermgmt_pipeline.tasks import selection
from usermgmt_pipeline.tasks.context import TaskContext
from usermgmt_pipeline.tasks.deletion_task import run_deletion_task
from usermgmt_pipeline.tasks.results import TaskResult

TASK = "clean_up_unverified_users"
MESSAGE_TYPE = "account-deleted"


def clean_up_unverified_users(ctx: TaskContext) -> TaskResult:
    threshold = ctx.config.user_management_config.delete_unverified_users_after
    created_before = ctx.before(int(threshold))
    plan = ReviewPlan(
        "delete", MESSAGE_TYPE, f"delete_unverified_users_after={threshold}", created_before, ("created_at",)
    )
    return run_deletion_task(ctx, TASK, selection.unverified_to_delete(created_before), MESSAGE_TYPE, plan)
