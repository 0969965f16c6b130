"""The partitioned job against the real server, executed in-process with Dagster's test utilities."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from bson import ObjectId
from dagster import AssetKey, DagsterInstance, build_run_status_sensor_context
from pymongo import MongoClient

from usermgmt_pipeline.case.id_mapping import StudyIdentity, compute_participant_ids
from usermgmt_pipeline.config import load_config
from usermgmt_pipeline.demo.documents import study_document
from usermgmt_pipeline.orchestration.build import (
    LOOKUP_JOB,
    USER_MANAGEMENT_JOB,
    build_definitions,
    run_config,
)
from usermgmt_pipeline.orchestration.resources import CaseResource, SmtpBridgeResource
from usermgmt_pipeline.orchestration.task_assets import DRY_RUN_JOB, MASS_DELETION_GUARD_TAG
from usermgmt_pipeline_tests.orchestration.bridge_server import running_bridge
from usermgmt_pipeline_tests.orchestration.helpers import (
    GLOBAL_SECRET,
    config_document,
    id_map_count,
    outgoing_count,
    user_count,
    write_config,
)

ORDER = [
    "clean_up_unverified_users",
    "send_reminder_to_confirm_accounts",
    "handle_inactive_users",
    "generate_profile_id_lookup",
    "migrate_account_info",
]


def run(config_path: Path, instance: DagsterInstance, partition: str, **options: bool):  # type: ignore[no-untyped-def]
    defs = build_definitions(load_config(config_path), str(config_path))
    job = defs.resolve_job_def(USER_MANAGEMENT_JOB)
    config = run_config(**options) if options else None
    return job.execute_in_process(
        partition_key=partition, instance=instance, run_config=config, raise_on_error=False
    )


def dry_run(config_path: Path, instance: DagsterInstance, partition: str, **options: bool):  # type: ignore[no-untyped-def]
    """The dry-run job, as the CLI's --dry-run and the launchpad run it."""
    defs = build_definitions(load_config(config_path), str(config_path))
    job = defs.resolve_job_def(DRY_RUN_JOB)
    return job.execute_in_process(
        partition_key=partition,
        instance=instance,
        run_config=run_config(dry_run=True, **options),
        raise_on_error=False,
    )


def output_metadata(result, step: str) -> dict:  # type: ignore[no-untyped-def]
    [output] = [
        e
        for e in result.all_events
        if e.event_type_value == "STEP_OUTPUT" and e.step_key == f"dry_run_{step}"
    ]
    return {key: value.value for key, value in output.step_output_data.metadata.items()}


def materialized(result) -> list[str]:  # type: ignore[no-untyped-def]
    return [
        e.step_materialization_data.materialization.asset_key.to_user_string()
        for e in result.all_events
        if e.event_type_value == "ASSET_MATERIALIZATION"
    ]


def snapshot(client: MongoClient, prefix: str, instance_id: str) -> tuple[int, int, int]:
    return (
        user_count(client, prefix, instance_id),
        outgoing_count(client, prefix, instance_id),
        id_map_count(client, prefix, instance_id),
    )


def test_job_runs_enabled_tasks_in_order_for_one_partition_only(
    config_path: Path, dagster_instance: DagsterInstance, mongo_client: MongoClient, db_prefix: str
) -> None:
    beta_before = snapshot(mongo_client, db_prefix, "beta")
    alpha_users_before = user_count(mongo_client, db_prefix, "alpha")
    result = run(config_path, dagster_instance, "alpha")
    assert result.success
    assert materialized(result) == ORDER
    assert user_count(mongo_client, db_prefix, "alpha") == alpha_users_before - 2  # unverified + grace over
    assert outgoing_count(mongo_client, db_prefix, "alpha") > 0
    assert snapshot(mongo_client, db_prefix, "beta") == beta_before
    run_record = dagster_instance.get_run_by_id(result.run_id)
    assert run_record is not None and run_record.tags["dagster/partition"] == "alpha"


def test_lookup_reports_numeric_metadata_and_passes_its_blocking_checks(
    config_path: Path, dagster_instance: DagsterInstance, mongo_client: MongoClient, db_prefix: str
) -> None:
    result = run(config_path, dagster_instance, "alpha")
    [lookup] = result.asset_materializations_for_node("generate_profile_id_lookup")
    meta = {key: value.value for key, value in lookup.metadata.items()}
    assert meta["created"] == id_map_count(mongo_client, db_prefix, "alpha") > 0
    assert meta["already_present"] == 0
    assert isinstance(meta["duration_s"], float)
    per_study = {k: v for k, v in meta.items() if k.startswith("studies.") and k.endswith(".created")}
    assert per_study and sum(per_study.values()) == meta["created"]
    checks = [
        e.asset_check_evaluation_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
        and e.asset_check_evaluation_data.check_name != "no_failed_users"  # every task asset's; tested apart
    ]
    assert sorted((c.check_name, c.passed) for c in checks) == [
        ("every_profile_has_one_entry_per_active_study", True),
        ("no_entry_points_to_a_missing_profile", True),
    ]
    again = run(config_path, dagster_instance, "alpha")
    [second] = again.asset_materializations_for_node("generate_profile_id_lookup")
    assert second.metadata["created"].value == 0
    assert second.metadata["already_present"].value == meta["created"]


def test_lookup_publishes_its_table_and_both_checks_come_from_one_step(
    config_path: Path, dagster_instance: DagsterInstance, mongo_client: MongoClient, db_prefix: str
) -> None:
    result = run(config_path, dagster_instance, "alpha")
    [lookup] = result.asset_materializations_for_node("generate_profile_id_lookup")
    assert lookup.metadata["dagster/table_name"].value == f"{db_prefix}alpha_studyDB.confidential-id-map"
    assert lookup.metadata["dagster/row_count"].value == id_map_count(mongo_client, db_prefix, "alpha")
    schema = lookup.metadata["dagster/column_schema"].value
    assert [c.name for c in schema.columns] == ["_id", "confidentialID", "profileID", "studyKey"]
    defs = build_definitions(load_config(config_path), str(config_path))
    spec = defs.resolve_assets_def("generate_profile_id_lookup").specs_by_key[
        AssetKey("generate_profile_id_lookup")
    ]
    assert spec.metadata["dagster/column_schema"] == schema
    evaluations = [
        e
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
        and e.asset_check_evaluation_data.asset_key == AssetKey("generate_profile_id_lookup")
        and e.asset_check_evaluation_data.check_name != "no_failed_users"
    ]
    assert {e.step_key for e in evaluations} == {"generate_profile_id_lookup_checks"} and len(
        evaluations
    ) == 2


def test_dry_run_reports_counts_and_samples_and_writes_nothing(
    config_path: Path, dagster_instance: DagsterInstance, mongo_client: MongoClient, db_prefix: str
) -> None:
    before = snapshot(mongo_client, db_prefix, "alpha")
    audit = mongo_client[f"{db_prefix}usermgmt-pipeline"]["audit"]
    audit_before = audit.count_documents({})
    result = dry_run(config_path, dagster_instance, "alpha")
    assert result.success
    assert snapshot(mongo_client, db_prefix, "alpha") == before
    assert audit.count_documents({}) == audit_before
    cleanup = output_metadata(result, "clean_up_unverified_users")
    assert cleanup["dry_run"] is True
    assert cleanup["selected"] == 1
    assert len(cleanup["sample_user_ids"]) == 1
    succeeded = [e.step_key for e in result.all_events if e.event_type_value == "STEP_SUCCESS"]
    assert succeeded == [f"dry_run_{name}" for name in ORDER]


def test_a_dry_run_records_no_materialization_and_no_check_result_in_the_instance(
    config_path: Path, dagster_instance: DagsterInstance
) -> None:
    """Issue 22: a dry run's partition must not show as materialized, nor the lookup as fresh or checked."""
    result = dry_run(config_path, dagster_instance, "alpha")
    assert result.success
    assert (
        output_metadata(result, "generate_profile_id_lookup")["created"] > 0
    )  # the counts are in the run's events
    logged = {
        r.dagster_event.event_type_value for r in dagster_instance.all_logs(result.run_id) if r.dagster_event
    }
    assert "STEP_OUTPUT" in logged
    assert not logged & {"ASSET_MATERIALIZATION", "ASSET_CHECK_EVALUATION", "ASSET_CHECK_EVALUATION_PLANNED"}
    for name in ORDER:
        assert dagster_instance.get_latest_materialization_event(AssetKey(name)) is None
    assert not dagster_instance.get_materialized_partitions(AssetKey("generate_profile_id_lookup"))


def test_the_code_location_with_the_dry_run_job_loads_as_a_whole(config_path: Path) -> None:
    """Op names must be unique across a code location's jobs (the dry-run ops once reused the asset names:
    every job ran in-process, but `dagster` and the webserver refused to load the location)."""
    defs = build_definitions(load_config(config_path), str(config_path))
    jobs = {job.name for job in defs.get_repository_def().get_all_jobs()}
    assert {USER_MANAGEMENT_JOB, DRY_RUN_JOB} <= jobs


def test_dry_run_true_on_the_asset_job_is_refused_before_any_task_runs(
    config_path: Path, dagster_instance: DagsterInstance, mongo_client: MongoClient, db_prefix: str
) -> None:
    result = run(config_path, dagster_instance, "alpha", dry_run=True)
    assert not result.success and materialized(result) == []
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert DRY_RUN_JOB in failure.step_failure_data.error.message
    assert f"{db_prefix}usermgmt-pipeline" not in mongo_client.list_database_names()


def test_real_run_writes_an_audit_record_per_action_with_ids_only(
    config_path: Path, dagster_instance: DagsterInstance, mongo_client: MongoClient, db_prefix: str
) -> None:
    result = run(config_path, dagster_instance, "alpha")
    records = list(mongo_client[f"{db_prefix}usermgmt-pipeline"]["audit"].find({"runID": result.run_id}))
    assert records and {r["instanceID"] for r in records} == {"alpha"}
    assert {"clean_up_unverified_users"} <= {r["task"] for r in records}
    assert not any("@" in json.dumps(r, default=str) for r in records)


def test_mass_deletion_guard_stops_the_run_and_the_failure_sensor_alerts_operators(
    tmp_path: Path, mongo_uri: str, db_prefix: str, seeded: int, mongo_client: MongoClient
) -> None:
    with running_bridge() as bridge, DagsterInstance.ephemeral() as instance:
        document = config_document(
            mongo_uri,
            db_prefix,
            ["alpha", "beta"],
            orchestration={"max_deletion_share": 0.01, "operator_emails": ["ops@example.org"]},
            smtp_url=bridge.url,
        )
        path = write_config(tmp_path / "guard.yaml", document)
        users_before = user_count(mongo_client, db_prefix, "alpha")
        result = run(path, instance, "alpha")
        assert not result.success
        assert user_count(mongo_client, db_prefix, "alpha") == users_before
        dagster_run = instance.get_run_by_id(result.run_id)
        assert dagster_run is not None and dagster_run.tags[MASS_DELETION_GUARD_TAG] == "alpha"

        defs = build_definitions(load_config(path), str(path))
        alert_sensor = defs.resolve_sensor_def("operator_alert_sensor")
        failure_event = next(e for e in result.all_events if e.event_type_value == "PIPELINE_FAILURE")
        with build_run_status_sensor_context(
            sensor_name="operator_alert_sensor",
            dagster_event=failure_event,
            dagster_instance=instance,
            dagster_run=dagster_run,
            resources={
                "smtp_bridge": SmtpBridgeResource(
                    case=CaseResource(config_file_path=str(path)), backoff_seconds=0.01
                )
            },
        ).for_run_failure() as context:  # a context manager: the resources have a setup and a teardown
            alert_sensor(context)  # type: ignore[operator]
        [request] = bridge.requests
        assert request.path == "/send-email"
        assert request.body["to"] == ["ops@example.org"]
        assert "mass-deletion guard tripped" in request.body["subject"] and "alpha" in request.body["subject"]
        assert "allow_mass_deletion" in request.body["content"]

        override = run(path, instance, "alpha", allow_mass_deletion=True)
        assert override.success
        assert user_count(mongo_client, db_prefix, "alpha") == users_before - 2


def test_blocking_check_failure_stops_the_tasks_after_the_lookup(
    config_path: Path, dagster_instance: DagsterInstance, mongo_client: MongoClient, db_prefix: str
) -> None:
    # A profile's entry held twice (no unique index: db-migration never ran): no run removes a duplicate, so
    # the check blocks. (An orphan no longer does: the lookup removes those, see test_lookup_orphans.py.)
    active = mongo_client[f"{db_prefix}alpha_users"]["users"].find_one({"timestamps.lastLogin": {"$gt": 0}})
    assert active is not None
    profile_id = str(active["profiles"][0]["_id"])
    identity = StudyIdentity("influenzanet", "influenzanet-secret", "sha256")
    cid = compute_participant_ids(identity, profile_id, GLOBAL_SECRET).confidential_id
    id_map = mongo_client[f"{db_prefix}alpha_studyDB"]["confidential-id-map"]
    entry = {"confidentialID": cid, "profileID": profile_id, "studyKey": "influenzanet"}
    id_map.drop_indexes()  # the seed has CASE's unique index; a deployment that never ran the services does not
    id_map.insert_many([dict(entry), dict(entry)])
    result = run(config_path, dagster_instance, "alpha")
    assert not result.success
    failed = [
        e.asset_check_evaluation_data.check_name
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION" and not e.asset_check_evaluation_data.passed
    ]
    assert failed == ["every_profile_has_one_entry_per_active_study"]
    assert "migrate_account_info" not in materialized(result)


def test_lookup_job_materializes_only_the_lookup(
    config_path: Path, dagster_instance: DagsterInstance, mongo_client: MongoClient, db_prefix: str
) -> None:
    users_before = user_count(mongo_client, db_prefix, "beta")
    defs = build_definitions(load_config(config_path), str(config_path))
    result = defs.resolve_job_def(LOOKUP_JOB).execute_in_process(
        partition_key="beta", instance=dagster_instance
    )
    assert materialized(result) == ["generate_profile_id_lookup"]
    assert id_map_count(mongo_client, db_prefix, "beta") > 0
    assert user_count(mongo_client, db_prefix, "beta") == users_before


def test_disabled_tasks_are_not_in_the_job(
    tmp_path: Path, mongo_uri: str, db_prefix: str, seeded: int, dagster_instance: DagsterInstance
) -> None:
    document = config_document(
        mongo_uri, db_prefix, ["alpha"], tasks=["generate_profile_id_lookup", "migrate_account_info"]
    )
    path = write_config(tmp_path / "two.yaml", document)
    result = run(path, dagster_instance, "alpha")
    assert result.success
    assert materialized(result) == ["generate_profile_id_lookup", "migrate_account_info"]


def test_secrets_stay_out_of_run_config_events_and_resource_config(
    tmp_path: Path,
    mongo_uri: str,
    db_prefix: str,
    seeded: int,
    dagster_instance: DagsterInstance,
    monkeypatch,
) -> None:  # type: ignore[no-untyped-def]
    document = config_document(mongo_uri, db_prefix, ["alpha"], global_secret="file-secret-do-not-leak")
    document["messaging_configs"]["smtp_bridge_config"]["api_key"] = "file-bridge-key-do-not-leak"
    path = write_config(tmp_path / "secret.yaml", document)
    monkeypatch.setenv("STUDY_GLOBAL_SECRET", "env-secret-do-not-leak")
    result = run(path, dagster_instance, "alpha")
    assert result.success
    logs = dagster_instance.all_logs(result.run_id)
    text = "\n".join(str(entry) for entry in logs) + json.dumps(
        dagster_instance.get_run_by_id(result.run_id).run_config,
        default=str,  # type: ignore[union-attr]
    )
    defs = build_definitions(load_config(path), str(path))
    text += yaml.safe_dump({k: repr(v) for k, v in (defs.resources or {}).items()})
    for secret in ("do-not-leak",):
        assert secret not in text


def test_dagster_run_log_follows_the_logging_config(
    tmp_path: Path, mongo_uri: str, db_prefix: str, seeded: int, dagster_instance: DagsterInstance
) -> None:
    log_file = tmp_path / "logs" / "um.log"
    document = config_document(
        mongo_uri,
        db_prefix,
        ["alpha"],
        tasks=["generate_profile_id_lookup"],
        logging_section={
            "log_level": "info",
            "include_src": True,
            "log_to_file": True,
            "filename": str(log_file),
        },
    )
    path = write_config(tmp_path / "logging.yaml", document)
    result = dry_run(path, dagster_instance, "alpha")
    assert result.success
    records = [json.loads(line) for line in log_file.read_text().splitlines()]
    from_run = [r for r in records if r.get("runID") == result.run_id]
    assert any(r["msg"].startswith("generate_profile_id_lookup[alpha] (dry run)") for r in from_run)
    assert all(r["level"] in ("INFO", "WARN", "ERROR") and "source" in r for r in from_run)
    assert {r["job"] for r in from_run} == {DRY_RUN_JOB}


def test_a_run_failing_on_a_wrong_database_password_leaks_no_secret_into_events_or_errors(
    tmp_path: Path,
    auth_mongo_server,  # type: ignore[no-untyped-def]
    dagster_instance: DagsterInstance,
    monkeypatch,  # type: ignore[no-untyped-def]
) -> None:
    """Issue 7: a failing run's events (step failures carry exception text) must not contain any secret."""
    document = config_document(auth_mongo_server.uri, "leakcheck_", ["alpha"], global_secret="gs-do-not-leak")
    for db in document["db_configs"].values():
        db["username"] = "case-admin"
        db["password"] = "wrong%2Bpw-do-not-leak"
    document["messaging_configs"]["smtp_bridge_config"]["api_key"] = "bridge-do-not-leak"
    path = write_config(tmp_path / "failing.yaml", document)
    monkeypatch.setenv("STUDY_DB_PASSWORD", "env-pw-do-not-leak")

    result = run(path, dagster_instance, "alpha")

    assert not result.success
    failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert failures, "the run should fail on authentication"
    text = "\n".join(str(entry) for entry in dagster_instance.all_logs(result.run_id))
    text += json.dumps(dagster_instance.get_run_by_id(result.run_id).run_config, default=str)  # type: ignore[union-attr]
    assert "Authentication failed" in text or "auth" in text.lower()
    assert "do-not-leak" not in text
    assert "wrong+pw" not in text


def test_study_problems_met_while_deleting_are_in_the_task_metadata(
    config_path: Path, dagster_instance: DagsterInstance, mongo_client: MongoClient, db_prefix: str
) -> None:
    mongo_client[f"{db_prefix}alpha_studyDB"]["study-infos"].insert_one(study_document("bad$key", "s3cret"))

    result = run(config_path, dagster_instance, "alpha")

    assert result.success
    [cleanup] = result.asset_materializations_for_node("clean_up_unverified_users")
    assert cleanup.metadata["selected"].value == 1 and cleanup.metadata["failed"].value == 0
    problems = cleanup.metadata["study_problems"].value
    assert len(problems) == 1 and "'bad$key' cannot name a MongoDB collection" in problems[0]


def test_a_signal_to_a_run_worker_stops_the_run_after_the_deletion_in_flight(
    tmp_path: Path,
    mongo_uri: str,
    db_prefix: str,
    mongo_client: MongoClient,
    dagster_instance: DagsterInstance,
) -> None:
    """Dagster executes a launched run's steps on the main thread, where a SIGTERM (a terminated run, a pod
    eviction) used to raise at whatever line the step was on. Now the batch of deletions in flight (2 users
    here) completes, no further user or asset is started, and the step is recorded as interrupted."""
    import os
    import signal

    from usermgmt_pipeline.demo.documents import user_document
    from usermgmt_pipeline.demo.seed import DELETE_UNVERIFIED_AFTER, HOUR
    from usermgmt_pipeline.tasks.checkpoints import install_checkpoint_hook
    from usermgmt_pipeline.tasks.stopping import clear_stop_request
    from usermgmt_pipeline_tests.orchestration.helpers import seed

    now = seed(mongo_client, db_prefix, ["alpha"])
    users = mongo_client[f"{db_prefix}alpha_users"]["users"]
    users.insert_many(
        [
            user_document(
                account_id=f"due{i}@example.org",
                created_at=now - DELETE_UNVERIFIED_AFTER - HOUR,
                profiles=[(ObjectId(), True)],
            )
            for i in range(10)
        ]
    )
    before = users.count_documents({})
    document = config_document(
        mongo_uri, db_prefix, ["alpha"], orchestration={"max_deletion_share": 1.0, "batch_size": 2}
    )
    config = write_config(tmp_path / "config.yaml", document)

    def terminate_mid_user(name: str) -> None:
        if name == "delete:user-deleted":
            remove()
            os.kill(os.getpid(), signal.SIGTERM)

    remove = install_checkpoint_hook(terminate_mid_user)
    try:
        result = run(config, dagster_instance, "alpha")
    finally:
        remove()
        clear_stop_request()

    assert not result.success
    assert users.count_documents({}) == before - 2  # the batch in flight, completely; nobody after it
    outgoing = mongo_client[f"{db_prefix}alpha_messageDB"]["outgoing-emails"]
    assert outgoing.count_documents({"messageType": "account-deleted"}) == 2
    journal = mongo_client[f"{db_prefix}usermgmt-pipeline"]["journal"]
    assert journal.count_documents({"state": {"$ne": "done"}}) == 0
    assert materialized(result) == []
    [failure] = [e for e in result.all_events if e.is_step_failure]
    assert failure.step_failure_data.error_source.value == "INTERRUPT"
    assert "stopped (SIGTERM received)" in failure.step_failure_data.error.message
