"""What a task reports for one instance: counts, and the reason for every skip and failure."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from usermgmt_pipeline.errors import UsermgmtError


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
    extra: dict[str, Any] = field(default_factory=dict)

    def skip(self, user_id: str, reason: str) -> None:
        self.skipped += 1
        self.skip_reasons.append((user_id, reason))

    def fail(self, user_id: str, reason: str) -> None:
        self.failed += 1
        self.failure_reasons.append((user_id, reason))

    def summary(self) -> str:
        mode = " (dry run)" if self.dry_run else ""
        resumed = f" resumed={self.resumed}" if self.resumed else ""
        return (
            f"{self.task}[{self.instance_id}]{mode}: selected={self.selected} done={self.done} "
            f"skipped={self.skipped} failed={self.failed}{resumed}"
        )


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
