"""The daily schedule: one run per instance, keyed by instance and tick so a tick is never run twice."""

from collections.abc import Iterator, Sequence
from typing import Any

from dagster import (
    DefaultScheduleStatus,
    RunRequest,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    schedule,
)


def build_schedule(job: Any, instance_ids: Sequence[str], cron: str, timezone: str) -> ScheduleDefinition:
    @schedule(
        name="user_management_schedule",
        job=job,
        cron_schedule=cron,
        execution_timezone=timezone,
        default_status=DefaultScheduleStatus.STOPPED,
        description="Runs every enabled task for every instance (one run per instance partition).",
    )
    def user_management_schedule(context: ScheduleEvaluationContext) -> Iterator[RunRequest]:
        tick = context.scheduled_execution_time
        stamp = tick.isoformat() if tick else "manual"
        for instance_id in instance_ids:
            yield RunRequest(run_key=f"{instance_id}:{stamp}", partition_key=instance_id)

    return user_management_schedule
