"""The `no_failed_users` check every task asset carries: per-user failures made visible, not just logged.

A user whose action failed does not fail the run (the others are processed and the journal retries the
user next time), so the check has severity WARN: the run stays green, but the UI, the CLI's exit code and
the operators' alert all show which ids failed and why.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dagster import AssetCheckResult, AssetCheckSeverity, AssetCheckSpec, AssetKey, MetadataValue

from usermgmt_pipeline.tasks.results import MAX_LISTED_FAILURES as MAX_LISTED
from usermgmt_pipeline.tasks.results import TaskResult, failed_users

__all__ = [
    "MAX_LISTED",
    "NO_FAILED_USERS",
    "failed_users",
    "failed_users_check",
    "failed_users_spec",
    "failures_in_evaluations",
    "run_failed_users",
]

NO_FAILED_USERS = "no_failed_users"


def failed_users_spec(asset_name: str) -> AssetCheckSpec:
    return AssetCheckSpec(
        NO_FAILED_USERS,
        asset=AssetKey(asset_name),
        description="Every selected user was processed without error (WARN: failed users are retried next run).",
    )


def failed_users_check(asset_name: str, results: Sequence[TaskResult]) -> AssetCheckResult:
    failures = failed_users(results)
    metadata: dict[str, Any] = {
        "failed": MetadataValue.int(sum(r.failed for r in results)),
        "failed_users": MetadataValue.json(failures[:MAX_LISTED]),
    }
    return AssetCheckResult(
        asset_key=AssetKey(asset_name),
        check_name=NO_FAILED_USERS,
        passed=not failures,
        severity=AssetCheckSeverity.WARN,
        metadata=metadata,
        description=f"{len(failures)} user(s) failed" if failures else "no user failed",
    )


def failures_in_evaluations(evaluations: Sequence[Any]) -> tuple[int, list[dict[str, str]]]:
    """(total failed, listed failures) from a run's `AssetCheckEvaluation`s of `no_failed_users`."""
    total = 0
    listed: list[dict[str, str]] = []
    for evaluation in evaluations:
        if evaluation.check_name != NO_FAILED_USERS or evaluation.passed:
            continue
        metadata = evaluation.metadata or {}
        total += int(metadata["failed"].value) if "failed" in metadata else 0
        listed.extend(metadata["failed_users"].value if "failed_users" in metadata else [])
    return total, listed


def run_failed_users(instance: Any, run_id: str) -> tuple[int, list[dict[str, str]]]:
    """The same, read from a finished run's event log."""
    from dagster import DagsterEventType

    records = instance.all_logs(run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION)
    return failures_in_evaluations([r.dagster_event.event_specific_data for r in records if r.dagster_event])
