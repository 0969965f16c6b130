"""The job for one instance without an orchestrator: the run's tasks in order, as the Dagster job runs them.

Why it exists: the CLI run that records nothing (no `DAGSTER_HOME`, the Go job's replacement under cron)
spent most of a run with nothing to do importing Dagster and building an in-process run per instance, whose
events were then thrown away. This walk gives the same effects and the same verdicts with the same task
runners (`registry.task_runner`: stop check, instance lock, housekeeping, review summaries):

- the tasks run in the run's order, each with a context of its own;
- the first task that fails ends the instance (Dagster: the failed step's downstream assets are skipped);
- after a real lookup, its checks (`lookup_checks`); one that fails with severity ERROR ends the instance
  too, as the blocking asset check does.

The Dagster layer (`orchestration.task_assets`, `orchestration.checks`) is the other caller of the same
runners and checks; it stays the way to record runs (UI, sensors, backfills).
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

from usermgmt_pipeline.case.connections import CaseDatabases
from usermgmt_pipeline.config import AppConfig
from usermgmt_pipeline.config.task_flags import GENERATE_PROFILE_ID_LOOKUP
from usermgmt_pipeline.tasks.context import RunOptions, TaskContext
from usermgmt_pipeline.tasks.declaration import TaskSet
from usermgmt_pipeline.tasks.generate_profile_id_lookup import lookup_consistency
from usermgmt_pipeline.tasks.lookup_checks import CheckOutcome, evaluate_lookup_checks
from usermgmt_pipeline.tasks.registry import task_runner
from usermgmt_pipeline.tasks.results import MassDeletionGuardError, TaskFailedError, TaskResult


@dataclass
class InstanceRun:
    """What one instance's run did: each finished task's results, the checks, and the failure that ended it."""

    instance_id: str
    run_id: str
    results: list[TaskResult] = field(default_factory=list)
    checks: list[CheckOutcome] = field(default_factory=list)
    error: str = ""
    """The cause of the failure that ended the run (one task's error), empty when none did."""
    mass_deletion_guard: bool = False

    @property
    def success(self) -> bool:
        return not self.error and not any(check.blocks for check in self.checks)


def error_cause(exc: Exception) -> str:
    """A task's failure as the operator reads it: our task errors by their message (which says what and how
    far), anything else by its class name and message, as the Dagster layer reports a failed step."""
    if isinstance(exc, TaskFailedError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def run_instance(
    tasks: TaskSet,
    cfg: AppConfig,
    databases: Callable[[], CaseDatabases],
    instance_id: str,
    options: RunOptions,
    logger: logging.Logger,
) -> InstanceRun:
    """`options.run_tasks` for one instance, in order. `databases` opens the clients on first use (an
    unreachable database is then the first task's failure, as in a Dagster run)."""
    run = InstanceRun(instance_id, options.run_id)
    for flag in tasks.ordered(options.run_tasks):
        runner = task_runner(tasks, tasks.by_flag[flag])
        try:
            ctx = TaskContext(
                config=cfg, dbs=databases(), instance_id=instance_id, options=options, logger=logger
            )
            results = runner(ctx)
            for result in results:
                logger.info(result.summary())
                if result.failed:
                    logger.warning(
                        "%s: %d users failed", result.task, result.failed, extra={"instanceID": instance_id}
                    )
            run.results.extend(results)
            if flag == GENERATE_PROFILE_ID_LOOKUP.name and not options.dry_run:
                run.checks = evaluate_lookup_checks(lookup_consistency(ctx), dry_run=False)
        except Exception as exc:  # the task's failure ends this instance's run, never the others'
            run.error = error_cause(exc)
            run.mass_deletion_guard = isinstance(exc, MassDeletionGuardError)
            detail = {"error_detail": traceback.format_exc()} if logger.isEnabledFor(logging.DEBUG) else {}
            logger.error(
                "%s failed",
                flag,
                extra={"instanceID": instance_id, "task": flag, "error": run.error.splitlines()[0], **detail},
            )
            return run
        if any(check.blocks for check in run.checks):
            return run
    return run
