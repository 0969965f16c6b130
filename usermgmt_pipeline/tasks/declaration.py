"""The shape of a task's one declaration (`TaskDeclaration`), and the tables derived from a tuple of them.

Everything the rest of the package needs to know about a task is stated here once: its `run_tasks` flag (with
the thresholds and secret the config checks, `config.task_flags`), the function that runs it, its asset
description, the emails it sends and their tokens, the steps in which it deletes (for the run-wide
mass-deletion guard), the crash points it passes, and the names under which it reports. The package's own
tuple is `registry.DECLARATIONS`; `TaskSet` derives every table from any tuple, so the Dagster definitions,
the CLI, the config model and the guard can be built for another one (a test's toy task) without touching a
module global.

Naming rule, one name per task: the flag is the Go config key, and the asset key, the task's module
(`tasks/<flag>.py`) and its run function carry the same name; the dry-run op is `dry_run_<flag>`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from usermgmt_pipeline.config import AppConfig, TaskFlag, app_config_model
from usermgmt_pipeline.emails.task_email import TaskEmail
from usermgmt_pipeline.tasks.checkpoints import Step
from usermgmt_pipeline.tasks.results import TaskResult

if TYPE_CHECKING:
    from usermgmt_pipeline.tasks.context import TaskContext


@dataclass(frozen=True)
class DeletingStep:
    """One step of a task that deletes, as the run-wide mass-deletion guard sums it (`deletion_plan`)."""

    name: str
    accounts: Callable[[TaskContext], Mapping[str, Any]] | None = None
    """The selection of the accounts it deletes, exactly as the step builds it; None: the step deletes
    confidential-ID map entries of deleted accounts (counted by a scan of the map, as a share of the map)."""


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    description: str


@dataclass(frozen=True)
class TableSpec:
    """The table a task maintains, for the asset catalog (Dagster shows its columns and constraints)."""

    columns: tuple[Column, ...]
    constraints: tuple[str, ...] = ()


@dataclass(frozen=True)
class TaskDeclaration:
    """One task, declared once."""

    flag: TaskFlag
    run: Callable[[TaskContext], TaskResult | list[TaskResult]]
    describe: Callable[[AppConfig], str]
    """The asset's markdown description for a loaded config (its thresholds, the collections it touches)."""
    reports: tuple[str, ...] = ()
    """The `TaskResult.task` names it reports under, in order (a task may report several parts, e.g. the
    notices and the deletions of `handle_inactive_users`); empty: its flag."""
    emails: tuple[TaskEmail, ...] = ()
    deletes: tuple[DeletingStep, ...] = ()
    crash_points: tuple[Step, ...] = ()
    """The step boundaries it passes (the crash matrix kills the process at each)."""
    table: TableSpec | None = None
    """The table it maintains, if it is one (its results then carry a `TableReport`)."""

    @property
    def name(self) -> str:
        return self.flag.name

    @property
    def asset_name(self) -> str:
        return self.flag.name

    @property
    def report_names(self) -> tuple[str, ...]:
        return self.reports or (self.flag.name,)


class TaskSet:
    """Every per-task table, derived from one ordered tuple of declarations (the execution order)."""

    def __init__(self, declarations: Sequence[TaskDeclaration]) -> None:
        self.declarations = tuple(declarations)
        names = [d.name for d in self.declarations]
        if len(set(names)) != len(names):
            raise ValueError(f"two task declarations share a run_tasks flag: {names}")
        self.by_flag = {d.name: d for d in self.declarations}

    @property
    def flags(self) -> tuple[TaskFlag, ...]:
        """The `run_tasks` flags, for the config model (`config.app_config_model`)."""
        return tuple(d.flag for d in self.declarations)

    @property
    def config_model(self) -> type[AppConfig]:
        return app_config_model(self.flags)

    def ordered(self, flags: Sequence[str]) -> tuple[str, ...]:
        """`flags` in execution order (unknown names dropped)."""
        return tuple(d.name for d in self.declarations if d.name in flags)

    def asset_names(self) -> dict[str, str]:
        return {d.name: d.asset_name for d in self.declarations}

    def flag_of_asset(self, asset_name: str) -> str | None:
        return next((d.name for d in self.declarations if d.asset_name == asset_name), None)

    def deleting_steps(self, flags: Sequence[str]) -> tuple[DeletingStep, ...]:
        """The deleting steps of a run of these flags, in the run's order."""
        return tuple(step for d in self.declarations if d.name in flags for step in d.deletes)

    def report_order(self, flags: Sequence[str] | None = None) -> tuple[str, ...]:
        """The names results are reported under, in execution order (the review's order of tasks)."""
        return tuple(
            report for d in self.declarations if flags is None or d.name in flags for report in d.report_names
        )

    def run_plan(self, flags: Sequence[str]) -> RunPlan:
        """What a task of a run of these flags needs to know of the run (`TaskContext.plan`)."""
        return RunPlan(deleting_steps=self.deleting_steps(flags), report_order=self.report_order())

    def emails(self) -> tuple[TaskEmail, ...]:
        return tuple(dict.fromkeys(email for d in self.declarations for email in d.emails))

    def crash_points(self) -> tuple[Step, ...]:
        return tuple(dict.fromkeys(step for d in self.declarations for step in d.crash_points))

    def descriptions(self, cfg: AppConfig) -> dict[str, str]:
        """flag -> the asset's description for `cfg`."""
        return {d.name: d.describe(cfg) for d in self.declarations}


@dataclass(frozen=True)
class RunPlan:
    """What a task needs to know of the run it is part of; the task's runner (`registry`) sets it on the
    context from the declarations. The default (a task function called on its own) is a run of that task."""

    deleting_steps: tuple[DeletingStep, ...] = ()
    """The run's deleting steps in order: the mass-deletion guard sums them before the first one."""
    report_order: tuple[str, ...] = ()
    """Every task's report names in execution order: a dry-run review leaves out the users whom an earlier
    task of the run deletes."""

    def reported_before(self, report: str) -> frozenset[str]:
        order = self.report_order
        return frozenset(order[: order.index(report)]) if report in order else frozenset()
