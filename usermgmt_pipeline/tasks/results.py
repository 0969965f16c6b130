"""What a task reports for one instance: counts, and the reason for every skip and failure.

A result is typed where it leaves the domain core: the counts every task has, the task's own measurements
(`extra`: numbers, flags, texts, lists of ids), and typed sections for what the outside reads by meaning,
not by key: the mass-deletion guard's verdict (`guard`), the dry-run review (`review`) and the table a task
maintains (`table`). `entries()` flattens it once, under stable names, for Dagster metadata and the
review's summaries (`orchestration.task_assets.result_metadata` maps each value by its type).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

from usermgmt_pipeline.errors import UsermgmtError
from usermgmt_pipeline.review.collect import ReviewReport

Metric = int | float | bool | str | list[str]
"""A measurement a task reports: counts, shares, flags, a note, ids or problem texts."""
Entry = Metric | PurePath


@dataclass
class GuardReport:
    """The mass-deletion guard's verdict at one deleting step (`deletion_plan.GuardVerdict.report`)."""

    verdict: str
    would_trip: bool | None = None
    """None: a dry run's later deleting step, which only points at the verdict of the run's first one."""
    candidates: int | None = None
    total_users: int | None = None
    users_share: float | None = None
    orphan_entries: int | None = None
    total_id_map_entries: int | None = None
    id_map_share: float | None = None

    def entries(self) -> dict[str, Entry]:
        values: dict[str, Entry | None] = {
            "guard_verdict": self.verdict,
            "guard_would_trip": self.would_trip,
            "guard_candidates": self.candidates,
            "guard_total_users": self.total_users,
            "guard_users_share": self.users_share,
            "guard_orphan_entries": self.orphan_entries,
            "guard_total_id_map_entries": self.total_id_map_entries,
            "guard_id_map_share": self.id_map_share,
        }
        return {key: value for key, value in values.items() if value is not None}


@dataclass
class TableReport:
    """The table a task maintains, as Dagster shows tables (its columns are in the task's declaration)."""

    name: str
    rows: int


@dataclass
class TaskResult:
    task: str
    instance_id: str
    dry_run: bool = False
    selected: int = 0
    done: int = 0
    skipped: int = 0
    failed: int = 0
    resumed: int = 0
    """Users an earlier, interrupted run had already deleted, whose deletion this run finishes (or, in a dry
    run, would finish): not in `selected`, since their account documents are gone."""
    skip_reasons: list[tuple[str, str]] = field(default_factory=list)
    failure_reasons: list[tuple[str, str]] = field(default_factory=list)
    sample_user_ids: list[str] = field(default_factory=list)
    extra: dict[str, Metric] = field(default_factory=dict)
    """The task's own measurements, by name (e.g. `created`, `leave_rule_failures`, `study_problems`)."""
    per_study: dict[str, dict[str, int]] = field(default_factory=dict)
    """Counts per study key (the lookup's `created` / `already_present`)."""
    guard: GuardReport | None = None
    review: ReviewReport | None = None
    table: TableReport | None = None

    def skip(self, user_id: str, reason: str) -> None:
        self.skipped += 1
        self.skip_reasons.append((user_id, reason))

    def fail(self, user_id: str, reason: str) -> None:
        self.failed += 1
        self.failure_reasons.append((user_id, reason))

    def entries(self) -> dict[str, Entry]:
        """Everything reported, flat, under stable names: counts, `extra`, `studies.<key>.<count>`, the guard's
        and the review's fields."""
        out: dict[str, Entry] = {
            "selected": self.selected,
            "done": self.done,
            "skipped": self.skipped,
            "failed": self.failed,
            "resumed": self.resumed,
        }
        out.update(self.extra)
        for study, counts in self.per_study.items():
            out.update({f"studies.{study}.{key}": value for key, value in counts.items()})
        if self.guard is not None:
            out.update(self.guard.entries())
        if self.review is not None:
            out.update(self.review.entries())
        return out

    def review_summary(self) -> dict[str, int | float | str | bool]:
        """The summary the review bundle keeps per task: the counts of the selection (not `done`) and every
        scalar reported, but not the bundle's own path."""
        return {
            "instance_id": self.instance_id,
            "task": self.task,
            **{
                key: value
                for key, value in self.entries().items()
                if isinstance(value, int | float | str | bool)
                and key != "done"
                and not key.startswith("studies.")
            },
        }

    def summary(self) -> str:
        mode = " (dry run)" if self.dry_run else ""
        resumed = f" resumed={self.resumed}" if self.resumed else ""
        return (
            f"{self.task}[{self.instance_id}]{mode}: selected={self.selected} done={self.done} "
            f"skipped={self.skipped} failed={self.failed}{resumed}"
        )


MAX_LISTED_FAILURES = 200
"""Failed users listed per task (in a check's metadata, the CLI's alert); the count is always complete."""


def failed_users(results: Sequence[TaskResult]) -> list[dict[str, str]]:
    """Every failed user of these results, as the check, the summary and the alert list them."""
    return [
        {"task": result.task, "id": user_id, "reason": reason}
        for result in results
        for user_id, reason in result.failure_reasons
    ]


OUTCOMES_METADATA = "usermgmt/outcomes"
"""A step's results as the CLI reads them (`StepOutcome`): one JSON list, never a search through keys."""


@dataclass(frozen=True)
class StepOutcome:
    """What the CLI's summary needs of one task result: taken from the result itself when the CLI ran the
    task (`tasks.instance_run`), or carried in a Dagster step's metadata (`OUTCOMES_METADATA`)."""

    task: str
    summary: str
    dry_run: bool = False
    sample_user_ids: tuple[str, ...] = ()
    guard_verdict: str = ""
    guard_would_trip: bool = False

    @classmethod
    def of(cls, result: TaskResult) -> StepOutcome:
        guard = result.guard
        return cls(
            task=result.task,
            summary=result.summary(),
            dry_run=result.dry_run,
            sample_user_ids=tuple(result.sample_user_ids),
            guard_verdict=guard.verdict if guard is not None else "",
            guard_would_trip=bool(guard is not None and guard.would_trip),
        )

    @classmethod
    def read(cls, metadata: Mapping[str, Any]) -> list[StepOutcome]:
        """The outcomes in a step's metadata (a materialization's or an op output's); none if absent."""
        value = metadata.get(OUTCOMES_METADATA)
        items = value.value if value is not None else []
        return [
            cls(**{**item, "sample_user_ids": tuple(item.get("sample_user_ids", ()))})
            for item in items
            if isinstance(item, dict)
        ]


@dataclass(frozen=True)
class Outcome:
    """One user's result in a batch: done, skipped (with why), or failed (with the error)."""

    skipped: str | None = None
    error: Exception | None = None

    @classmethod
    def skip(cls, reason: str) -> Outcome:
        return cls(skipped=reason)

    @classmethod
    def fail(cls, error: Exception) -> Outcome:
        return cls(error=error)


DONE = Outcome()


class TaskFailedError(UsermgmtError, RuntimeError):
    """The instance's task could not finish (cursor died, preflight failed, guard tripped).

    Carries the partial result so the operator sees how far it got; a rerun completes the rest.
    """

    def __init__(self, message: str, result: TaskResult) -> None:
        super().__init__(f"{message} ({result.summary()})")
        self.result = result


class MassDeletionGuardError(TaskFailedError):
    """More than the allowed share of an instance's users would be deleted; nothing was deleted."""
