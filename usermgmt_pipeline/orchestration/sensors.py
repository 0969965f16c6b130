"""Sensors: a new or newly active study materializes its instance's lookup; a failed run, or a finished run with
failed users, alerts the operators."""

import json
import time
from collections.abc import Iterator, Sequence
from typing import Any

from dagster import (
    DagsterRunStatus,
    DefaultSensorStatus,
    RunFailureSensorContext,
    RunRequest,
    RunStatusSensorContext,
    SensorDefinition,
    SensorEvaluationContext,
    SkipReason,
    run_failure_sensor,
    run_status_sensor,
    sensor,
)
from dagster._core.execution.plan.objects import UserFailureData

from usermgmt_pipeline.case.studies import StudyCollections
from usermgmt_pipeline.orchestration.alerts import failed_users_email, failure_email
from usermgmt_pipeline.orchestration.failed_users import run_failed_users
from usermgmt_pipeline.orchestration.resources import CaseResource, SmtpBridgeResource
from usermgmt_pipeline.orchestration.task_assets import MASS_DELETION_GUARD_METADATA, MASS_DELETION_GUARD_TAG

PARTITION_TAG = "dagster/partition"


def build_new_study_sensor(lookup_job: Any, instance_ids: Sequence[str]) -> SensorDefinition:
    @sensor(
        name="new_active_study_sensor",
        job=lookup_job,
        minimum_interval_seconds=60,
        default_status=DefaultSensorStatus.STOPPED,
        description="Materializes an instance's generate_profile_id_lookup when a study appears or becomes active.",
    )
    def new_active_study_sensor(
        context: SensorEvaluationContext, case: CaseResource
    ) -> Iterator[RunRequest | SkipReason]:
        known: dict[str, list[str]] = json.loads(context.cursor) if context.cursor else {}
        current: dict[str, list[str]] = {}
        requested = False
        for instance_id in instance_ids:
            current[instance_id] = StudyCollections.of_instance(
                case.databases(), instance_id
            ).active_study_keys()
            if instance_id not in known:
                continue  # first sight of this instance: its studies are the baseline, not news
            new = sorted(set(current[instance_id]) - set(known[instance_id]))
            if new:
                requested = True
                context.log.info("instance %s: new or newly active studies %s", instance_id, new)
                yield RunRequest(
                    run_key=f"{instance_id}:{'+'.join(new)}:{int(time.time())}",
                    partition_key=instance_id,
                    tags={"usermgmt/new_studies": ",".join(new)},
                )
        context.update_cursor(json.dumps(current, sort_keys=True))
        if not requested:
            yield SkipReason("no new or newly active study")

    return new_active_study_sensor


def build_failure_alert_sensor(
    monitored_jobs: Sequence[Any], operator_emails: Sequence[str]
) -> SensorDefinition:
    @run_failure_sensor(
        name="operator_alert_sensor",
        monitored_jobs=list(monitored_jobs),
        default_status=DefaultSensorStatus.STOPPED,
        description="Emails orchestration.operator_emails through the SMTP bridge when a run fails.",
    )
    def operator_alert_sensor(context: RunFailureSensorContext, smtp_bridge: SmtpBridgeResource) -> None:
        if not operator_emails:
            context.log.info("orchestration.operator_emails is empty: no alert sent")
            return
        run = context.instance.get_run_by_id(context.dagster_run.run_id) or context.dagster_run
        failures = [event.step_failure_data for event in context.get_step_failure_events()]
        errors = [error.message.strip() for failure in failures if (error := failure.error) is not None]
        if not errors and context.failure_event.message:
            errors = [context.failure_event.message]
        guard = MASS_DELETION_GUARD_TAG in run.tags or any(
            _guard_failed(failure.user_failure_data) for failure in failures
        )
        email = failure_email(
            operator_emails,
            job_name=run.job_name,
            instance_id=run.tags.get(PARTITION_TAG, ""),
            run_id=run.run_id,
            errors=errors,
            mass_deletion_guard=guard,
        )
        smtp_bridge.client().send(email)

    return operator_alert_sensor


def _guard_failed(failure: UserFailureData | None) -> bool:
    """The step's `Failure` says the mass-deletion guard stopped it (`execute_task` sets the flag)."""
    metadata = (failure.metadata or {}) if failure is not None else {}
    value = metadata.get(MASS_DELETION_GUARD_METADATA)
    return value is not None and value.value is True


def build_failed_users_alert_sensor(
    monitored_jobs: Sequence[Any], operator_emails: Sequence[str]
) -> SensorDefinition:
    @run_status_sensor(
        run_status=DagsterRunStatus.SUCCESS,
        name="failed_users_alert_sensor",
        monitored_jobs=list(monitored_jobs),
        default_status=DefaultSensorStatus.STOPPED,
        description="Emails orchestration.operator_emails when a run finished but some users failed "
        "(a no_failed_users check did not pass).",
    )
    def failed_users_alert_sensor(context: RunStatusSensorContext, smtp_bridge: SmtpBridgeResource) -> None:
        run = context.dagster_run
        total, listed = run_failed_users(context.instance, run.run_id)
        if not total and not listed:
            return
        if not operator_emails:
            context.log.info("orchestration.operator_emails is empty: no alert sent")
            return
        email = failed_users_email(
            operator_emails,
            job_name=run.job_name,
            instance_id=run.tags.get(PARTITION_TAG, ""),
            run_id=run.run_id,
            failures=listed,
            total=max(total, len(listed)),
        )
        smtp_bridge.client().send(email)

    return failed_users_alert_sensor
