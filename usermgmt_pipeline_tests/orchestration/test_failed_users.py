"""Per-user failures show: a WARN check on each task asset, and their own operator alert (daemon sensor)."""

from __future__ import annotations

from pathlib import Path

from dagster import AssetCheckSeverity, DagsterInstance, build_run_status_sensor_context
from pymongo import MongoClient

from usermgmt_pipeline.config import load_config
from usermgmt_pipeline.orchestration.build import USER_MANAGEMENT_JOB, build_definitions
from usermgmt_pipeline.orchestration.failed_users import NO_FAILED_USERS
from usermgmt_pipeline.orchestration.resources import CaseResource, SmtpBridgeResource
from usermgmt_pipeline_tests.orchestration.bridge_server import running_bridge
from usermgmt_pipeline_tests.orchestration.helpers import break_participants, config_document, write_config

TASK_ASSETS = {
    "clean_up_unverified_users",
    "send_reminder_to_confirm_accounts",
    "handle_inactive_users",
    "generate_profile_id_lookup",
    "migrate_account_info",
}


def _checks(result):  # type: ignore[no-untyped-def]
    return {
        e.asset_check_evaluation_data.asset_key.to_user_string(): e.asset_check_evaluation_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
        and e.asset_check_evaluation_data.check_name == NO_FAILED_USERS
    }


def test_every_task_asset_has_a_passing_no_failed_users_check_on_a_clean_run(
    config_path: Path, dagster_instance: DagsterInstance
) -> None:
    defs = build_definitions(load_config(config_path), str(config_path))
    result = defs.resolve_job_def(USER_MANAGEMENT_JOB).execute_in_process(
        partition_key="alpha", instance=dagster_instance
    )
    assert result.success
    checks = _checks(result)
    assert set(checks) == TASK_ASSETS
    assert all(c.passed and c.severity == AssetCheckSeverity.WARN for c in checks.values())
    assert all(c.metadata["failed"].value == 0 for c in checks.values())


def test_failed_users_fail_the_warn_check_with_ids_and_reasons_and_the_sensor_alerts_under_its_own_subject(
    tmp_path: Path, mongo_uri: str, db_prefix: str, seeded: int, mongo_client: MongoClient
) -> None:
    break_participants(mongo_client, db_prefix, "alpha", "influenzanet")
    users = mongo_client[f"{db_prefix}alpha_users"]["users"]
    with running_bridge() as bridge, DagsterInstance.ephemeral() as instance:
        document = config_document(
            mongo_uri,
            db_prefix,
            ["alpha"],
            orchestration={"operator_emails": ["ops@example.org"]},
            smtp_url=bridge.url,
        )
        path = write_config(tmp_path / "c.yaml", document)
        defs = build_definitions(load_config(path), str(path))
        result = defs.resolve_job_def(USER_MANAGEMENT_JOB).execute_in_process(
            partition_key="alpha", instance=instance
        )

        assert result.success  # a failed user does not fail the run ...
        # every remaining user takes part in the broken study: migrating their account info fails
        doomed = {str(u["_id"]) for u in users.find({}, {"_id": 1})}
        check = _checks(result)["migrate_account_info"]
        assert not check.passed and check.severity == AssetCheckSeverity.WARN  # ... but shows
        listed = check.metadata["failed_users"].value
        assert {f["id"] for f in listed} == doomed and check.metadata["failed"].value == len(doomed)
        assert all("studyStatus" in f["reason"] for f in listed)
        assert _checks(result)["send_reminder_to_confirm_accounts"].passed
        assert _checks(result)["generate_profile_id_lookup"].passed

        sensor = defs.resolve_sensor_def("failed_users_alert_sensor")
        success_event = next(e for e in result.all_events if e.event_type_value == "PIPELINE_SUCCESS")
        with build_run_status_sensor_context(
            sensor_name="failed_users_alert_sensor",
            dagster_event=success_event,
            dagster_instance=instance,
            dagster_run=instance.get_run_by_id(result.run_id),
            resources={
                "smtp_bridge": SmtpBridgeResource(
                    case=CaseResource(config_file_path=str(path)), backoff_seconds=0.01
                )
            },
        ) as context:
            sensor(context)  # type: ignore[operator]
    [request] = bridge.requests
    assert request.body["to"] == ["ops@example.org"]
    assert request.body["subject"].startswith("[user-management] ")
    assert "user(s) failed: instance alpha" in request.body["subject"]
    assert all(user_id in request.body["content"] for user_id in doomed)
    assert "@example.org" not in request.body["content"].replace("ops@example.org", "")
