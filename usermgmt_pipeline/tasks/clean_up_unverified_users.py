"""Task 1: delete accounts never confirmed within `delete_unverified_users_after` (docs/tasks.md §1.1)."""

from __future__ import annotations

from typing import Any

from usermgmt_pipeline.config.task_flags import CLEAN_UP_UNVERIFIED_USERS
from usermgmt_pipeline.emails.task_email import TaskEmail
from usermgmt_pipeline.review.collect import ReviewPlan
from usermgmt_pipeline.tasks import descriptions, selection
from usermgmt_pipeline.tasks.checkpoints import DELETION_STEPS
from usermgmt_pipeline.tasks.context import TaskContext
from usermgmt_pipeline.tasks.declaration import DeletingStep, TaskDeclaration
from usermgmt_pipeline.tasks.deletion_task import run_deletion_task
from usermgmt_pipeline.tasks.results import TaskResult

TASK = CLEAN_UP_UNVERIFIED_USERS.name
EMAIL = TaskEmail("account-deleted")
MESSAGE_TYPE = EMAIL.message_type


def created_before(ctx: TaskContext) -> int:
    return ctx.before(int(ctx.config.user_management_config.delete_unverified_users_after))


def selected(ctx: TaskContext) -> dict[str, Any]:
    """The accounts this task deletes (the guard counts the same selection)."""
    return selection.unverified_to_delete(created_before(ctx))


DELETES = DeletingStep(TASK, accounts=selected)


def clean_up_unverified_users(ctx: TaskContext) -> TaskResult:
    threshold = ctx.config.user_management_config.delete_unverified_users_after
    cutoff = created_before(ctx)
    plan = ReviewPlan("delete", EMAIL, f"delete_unverified_users_after={threshold}", cutoff, ("created_at",))
    return run_deletion_task(ctx, DELETES, selection.unverified_to_delete(cutoff), EMAIL, plan)


DECLARATION = TaskDeclaration(
    flag=CLEAN_UP_UNVERIFIED_USERS,
    run=clean_up_unverified_users,
    describe=descriptions.clean_up_unverified_users,
    emails=(EMAIL,),
    deletes=(DELETES,),
    crash_points=DELETION_STEPS,
)
