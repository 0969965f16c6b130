"""The tasks in the original's execution order, keyed by their `run_tasks` flag."""

from __future__ import annotations

from collections.abc import Callable

from usermgmt_pipeline.case.leases import LeaseLost
from usermgmt_pipeline.review.bundle import ReviewDirError
from usermgmt_pipeline.review.collect import record_summaries
from usermgmt_pipeline.tasks.clean_up_unverified_users import clean_up_unverified_users
from usermgmt_pipeline.tasks.context import TaskContext
from usermgmt_pipeline.tasks.generate_profile_id_lookup import generate_profile_id_lookup_task
from usermgmt_pipeline.tasks.handle_inactive_users import handle_inactive_users
from usermgmt_pipeline.tasks.housekeeping import tidy_pipeline_store
from usermgmt_pipeline.tasks.instance_lock import instance_lock
from usermgmt_pipeline.tasks.migrate_account_info import migrate_account_info
from usermgmt_pipeline.tasks.results import TaskResult
from usermgmt_pipeline.tasks.send_reminder_to_confirm_accounts import send_reminder_to_confirm_accounts
from usermgmt_pipeline.tasks.stopping import lease_lost_error, raise_if_stop_requested


def _as_list(
    fn: Callable[[TaskContext], TaskResult | list[TaskResult]],
) -> Callable[[TaskContext], list[TaskResult]]:
    def run(ctx: TaskContext) -> list[TaskResult]:
        raise_if_stop_requested(ctx, fn.__name__, TaskResult(fn.__name__, ctx.instance_id))
        if not ctx.options.dry_run and (ctx.options.report or ctx.options.report_dir):
            raise ReviewDirError("report needs dry_run: true (the review is of a run that writes nothing)")
        if ctx.options.dry_run:  # read-only: needs no lock and writes none (a review bundle is no database)
            out = fn(ctx)
            record_summaries(ctx, out if isinstance(out, list) else [out])
        else:
            with instance_lock(ctx, fn.__name__):
                try:
                    tidy_pipeline_store(ctx)
                    out = fn(ctx)
                except LeaseLost as exc:
                    result = exc.result or TaskResult(fn.__name__, ctx.instance_id)
                    raise lease_lost_error(fn.__name__, ctx.instance_id, exc.reason, result) from None
        return out if isinstance(out, list) else [out]

    run.__name__ = fn.__name__
    return run


TASKS: dict[str, Callable[[TaskContext], list[TaskResult]]] = {
    "clean_up_unverified_users": _as_list(clean_up_unverified_users),
    "send_reminder_to_confirm_accounts": _as_list(send_reminder_to_confirm_accounts),
    "handle_inactive_users": _as_list(handle_inactive_users),
    "generate_profile_id_lookup": _as_list(generate_profile_id_lookup_task),
    "migrate_account_info": _as_list(migrate_account_info),
}
