"""End to end: the real webserver and daemon, a backfill over every instance partition launched through
GraphQL, the database effects, then a single-partition rerun that must change nothing else."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

from bson import json_util
from dagster import AssetKey, DagsterInstance
from pymongo import MongoClient

from usermgmt_pipeline_tests.conftest import REPO_ROOT
from usermgmt_pipeline_tests.orchestration.dagster_server import (
    LAUNCH_BACKFILL,
    LAUNCH_RUN,
    LOCATION,
    REPOSITORY,
    REPOSITORY_SELECTOR,
    RUNS,
    DagsterServer,
    running_dagster,
)
from usermgmt_pipeline_tests.orchestration.helpers import config_document, seed, write_config

INSTANCES = ["alpha", "beta"]
JOB = "user_management_job"
SEED_AHEAD_S = 600
TASK_ASSETS = (
    "clean_up_unverified_users",
    "send_reminder_to_confirm_accounts",
    "handle_inactive_users",
    "generate_profile_id_lookup",
    "migrate_account_info",
)

REPOSITORY_QUERY = """
query($selector: RepositorySelector!) {
  repositoryOrError(repositorySelector: $selector) {
    ... on Repository { schedules { name cronSchedule executionTimezone } sensors { name } }
  }
}"""


def database_fingerprint(client: MongoClient, prefix: str, instance_id: str) -> dict[str, str]:
    """A hash of every document of every collection of the instance's three databases."""
    out = {}
    for suffix in ("_users", "_messageDB", "_studyDB"):
        db = client[f"{prefix}{instance_id}{suffix}"]
        for name in sorted(db.list_collection_names()):
            docs = sorted(json_util.dumps(d, sort_keys=True) for d in db[name].find())
            out[f"{db.name}.{name}"] = hashlib.sha256("\n".join(docs).encode()).hexdigest()
    return out


def wait_for_runs(
    server: DagsterServer, tag: tuple[str, str], count: int, timeout: float = 240
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        data = server.graphql(RUNS, {"filter": {"tags": [{"key": tag[0], "value": tag[1]}]}})
        runs = data["runsOrError"]["results"]
        if len(runs) == count and all(r["status"] in ("SUCCESS", "FAILURE", "CANCELED") for r in runs):
            return runs
        assert time.monotonic() < deadline, (
            f"runs not finished in time: {runs}\n" + ((server.home / "daemon.log").read_text()[-5000:])
        )
        time.sleep(1)


def test_backfill_over_all_partitions_then_rerun_one_partition(
    tmp_path: Path, mongo_uri: str, db_prefix: str, mongo_client: MongoClient
) -> None:
    # Dated ahead: the seed has a user 60 s short of the deletion threshold, and starting the webserver and
    # daemon on a loaded 2-core machine can take longer than that; the backfill must see the seed as written.
    seed(mongo_client, db_prefix, INSTANCES, now=int(time.time()) + SEED_AHEAD_S)
    before = {i: database_fingerprint(mongo_client, db_prefix, i) for i in INSTANCES}
    users = lambda i: mongo_client[f"{db_prefix}{i}_users"]["users"]  # noqa: E731
    users_before = {i: users(i).count_documents({}) for i in INSTANCES}
    config = write_config(tmp_path / "config.yaml", config_document(mongo_uri, db_prefix, INSTANCES))
    dagster_yaml = (
        (REPO_ROOT / "dagster.yaml")
        .read_text()
        .replace("max_concurrent_runs: 4", "max_concurrent_runs: 4\n    dequeue_interval_seconds: 1")
    )
    with running_dagster(tmp_path / "home", {"CONFIG_FILE_PATH": str(config)}, dagster_yaml) as server:
        repository = server.graphql(REPOSITORY_QUERY, {"selector": REPOSITORY_SELECTOR})["repositoryOrError"]
        assert repository["schedules"] == [
            {"name": "user_management_schedule", "cronSchedule": "0 3 * * *", "executionTimezone": "UTC"}
        ]
        assert sorted(s["name"] for s in repository["sensors"]) == [
            "failed_users_alert_sensor",
            "new_active_study_sensor",
            "operator_alert_sensor",
        ]
        launched = server.graphql(
            LAUNCH_BACKFILL,
            {
                "params": {
                    "selector": {
                        "partitionSetName": f"{JOB}_partition_set",
                        "repositorySelector": {
                            "repositoryLocationName": LOCATION,
                            "repositoryName": REPOSITORY,
                        },
                    },
                    "allPartitions": True,
                }
            },
        )["launchPartitionBackfill"]
        assert launched["__typename"] == "LaunchBackfillSuccess", launched
        runs = wait_for_runs(server, ("dagster/backfill", launched["backfillId"]), len(INSTANCES))
        assert sorted(r["status"] for r in runs) == ["SUCCESS", "SUCCESS"]
        partitions = sorted({t["value"] for r in runs for t in r["tags"] if t["key"] == "dagster/partition"})
        assert partitions == INSTANCES

        after_backfill = {i: database_fingerprint(mongo_client, db_prefix, i) for i in INSTANCES}
        for instance_id in INSTANCES:
            assert users(instance_id).count_documents({}) == users_before[instance_id] - 2
            study_db = mongo_client[f"{db_prefix}{instance_id}_studyDB"]
            assert study_db["confidential-id-map"].count_documents({}) > 0
            messages = mongo_client[f"{db_prefix}{instance_id}_messageDB"]["outgoing-emails"]
            assert messages.count_documents({}) > 0
            assert after_backfill[instance_id] != before[instance_id]

        # Two reruns of the same partition submitted at once: the queue's dagster/partition limit must run
        # them one after the other, and together they must change nothing.
        for _ in range(2):
            rerun = server.graphql(
                LAUNCH_RUN,
                {
                    "params": {
                        "selector": {
                            "repositoryLocationName": LOCATION,
                            "repositoryName": REPOSITORY,
                            "jobName": JOB,
                        },
                        "runConfigData": {},
                        "executionMetadata": {
                            "tags": [
                                {"key": "dagster/partition", "value": "alpha"},
                                {"key": "e2e", "value": "rerun"},
                            ]
                        },
                    }
                },
            )["launchRun"]
            assert rerun["__typename"] == "LaunchRunSuccess", rerun
        rerun_runs = wait_for_runs(server, ("e2e", "rerun"), 2)
        assert [r["status"] for r in rerun_runs] == ["SUCCESS", "SUCCESS"]

    after_rerun = {i: database_fingerprint(mongo_client, db_prefix, i) for i in INSTANCES}
    assert after_rerun["beta"] == after_backfill["beta"]
    changed = {k for k, v in after_rerun["alpha"].items() if after_backfill["alpha"].get(k) != v}
    assert changed == set(), f"the rerun changed {sorted(changed)}"
    with DagsterInstance.from_config(str(tmp_path / "home")) as instance:
        records = sorted(
            (instance.get_run_record_by_id(r["runId"]) for r in rerun_runs),
            key=lambda rec: rec.start_time or 0,
        )
        assert all(rec.start_time and rec.end_time for rec in records)
        assert records[0].end_time <= records[1].start_time, "two runs of one partition overlapped"
        rerun_run = {"runId": records[1].dagster_run.run_id}
        event = instance.get_latest_materialization_event(AssetKey("generate_profile_id_lookup"))
        assert event is not None and event.run_id == rerun_run["runId"]
        metadata = event.asset_materialization.metadata  # type: ignore[union-attr]
        assert metadata["created"].value == 0 and metadata["already_present"].value > 0
        checks = [
            e.dagster_event.asset_check_evaluation_data
            for e in instance.all_logs(rerun_run["runId"])
            if e.dagster_event and e.dagster_event.event_type_value == "ASSET_CHECK_EVALUATION"
        ]
        assert sorted((c.asset_key.to_user_string(), c.check_name) for c in checks) == sorted(
            [
                ("generate_profile_id_lookup", "every_profile_has_one_entry_per_active_study"),
                ("generate_profile_id_lookup", "no_entry_points_to_a_missing_profile"),
                *((asset, "no_failed_users") for asset in TASK_ASSETS),
            ]
        )
        assert all(c.passed for c in checks)
