"""The package's tasks, each declared once, in the original's execution order; and their runners.

`DECLARATIONS` is the one list to extend for a new task (README, "How to add a task"). Every table the
package needs (the config's `run_tasks` model, the assets, the dry-run ops, the descriptions, the guard's
deleting steps, the review's order) is derived from it by `declaration.TaskSet`.
"""

from __future__ import annotations

from collections.abc import Callable

from usermgmt_pipeline.case.leases import LeaseLost
from usermgmt_pipeline.config import TASK_FLAGS
from usermgmt_pipeline.review.bundle import ReviewDirError
from usermgmt_pipeline.review.collect import record_summaries
from usermgmt_pipeline.tasks import (
    clean_up_unverified_users,
    generate_profile_id_lookup,
    handle_inactive_users,
    migrate_account_info,
    send_reminder_to_confirm_accounts,
)
from usermgmt_pipeline.tasks.checkpoints import Step
from usermgmt_pipeline.tasks.context import TaskContext
from usermgmt_pipeline.tasks.declaration import TaskDeclaration, TaskSet
from usermgmt_pipeline.tasks.housekeeping import tidy_pipeline_store
from usermgmt_pipeline.tasks.instance_lock import instance_lock
from usermgmt_pipeline.tasks.results import TaskResult
from usermgmt_pipeline.tasks.stopping import lease_lost_error, raise_if_stop_requested

TaskRunner = Callable[[TaskContext], list[TaskResult]]

DECLARATIONS: tuple[TaskDeclaration, ...] = (
    clean_up_unverified_users.DECLARATION,
    send_reminder_to_confirm_accounts.DECLARATION,
    handle_inactive_users.DECLARATION,
    generate_profile_id_lookup.DECLARATION,
    migrate_account_info.DECLARATION,
)
PACKAGE_TASKS = TaskSet(DECLARATIONS)

if PACKAGE_TASKS.flags != TASK_FLAGS:  # the config's share of each declaration must be the config's list
    raise ImportError(
        "tasks.registry.DECLARATIONS and config.task_flags.TASK_FLAGS disagree: "
        f"{[f.name for f in PACKAGE_TASKS.flags]} != {[f.name for f in TASK_FLAGS]}"
    )


def task_runner(tasks: TaskSet, declaration: TaskDeclaration) -> TaskRunner:
    """The task as the job runs it: stop check, run plan, instance lock and housekeeping (real runs), the
    review's summaries (dry runs); always a list of results."""
    fn = declaration.run
    name = declaration.name

    def run(ctx: TaskContext) -> list[TaskResult]:
        raise_if_stop_requested(ctx, name, TaskResult(name, ctx.instance_id))
        if not ctx.options.dry_run and (ctx.options.report or ctx.options.report_dir):
            raise ReviewDirError("report needs dry_run: true (the review is of a run that writes nothing)")
        ctx.plan = tasks.run_plan(ctx.options.run_tasks or (name,))
        if ctx.options.dry_run:  # read-only: needs no lock and writes none (a review bundle is no database)
            out = fn(ctx)
            record_summaries(ctx, [r.review_summary() for r in (out if isinstance(out, list) else [out])])
        else:
            with instance_lock(ctx, name):
                try:
                    tidy_pipeline_store(ctx)
                    out = fn(ctx)
                except LeaseLost as exc:
                    result = exc.result or TaskResult(name, ctx.instance_id)
                    raise lease_lost_error(name, ctx.instance_id, exc.reason, result) from None
        return out if isinstance(out, list) else [out]

    run.__name__ = name
    return run


def task_runners(tasks: TaskSet) -> dict[str, TaskRunner]:
    """flag -> runner, in execution order."""
    return {d.name: task_runner(tasks, d) for d in tasks.declarations}


TASKS: dict[str, TaskRunner] = task_runners(PACKAGE_TASKS)
"""The package's runners by `run_tasks` flag."""

_unclaimed = [step.value for step in Step if step not in PACKAGE_TASKS.crash_points()]
if _unclaimed:  # a crash point no declaration names would be left out of the crash matrix's reasoning
    raise ImportError(f"crash points declared by no task: {_unclaimed}")
