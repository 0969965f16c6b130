"""`user-management` as a subprocess, with a real config file, env overrides and the real test server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pymongo import MongoClient

from usermgmt_pipeline_tests.orchestration.bridge_server import running_bridge
from usermgmt_pipeline_tests.orchestration.helpers import (
    break_participants,
    config_document,
    id_map_count,
    outgoing_count,
    seed,
    user_count,
    write_config,
)

INSTANCES = ["alpha", "beta"]
CLI = [sys.executable, "-m", "usermgmt_pipeline.cli"]


def run_cli(
    args: list[str], config: Path | None, tmp_path: Path, **env: str
) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k not in ("CONFIG_FILE_PATH", "DAGSTER_HOME")}
    environment.update(DAGSTER_DISABLE_TELEMETRY="1", **env)
    if config is not None:
        environment["CONFIG_FILE_PATH"] = str(config)
    return subprocess.run(
        CLI + args, cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=300, check=False
    )


def state(client: MongoClient, prefix: str) -> list[tuple[int, int, int]]:
    return [
        (user_count(client, prefix, i), outgoing_count(client, prefix, i), id_map_count(client, prefix, i))
        for i in INSTANCES
    ]


@pytest.fixture
def seeded(mongo_client: MongoClient, db_prefix: str) -> None:
    seed(mongo_client, db_prefix, INSTANCES)


def test_runs_every_enabled_task_for_every_instance_and_prints_a_summary(
    tmp_path: Path, mongo_uri: str, db_prefix: str, seeded: None, mongo_client: MongoClient
) -> None:
    before = state(mongo_client, db_prefix)
    config = write_config(tmp_path / "config.yaml", config_document(mongo_uri, db_prefix, INSTANCES))
    done = run_cli([], config, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "instance alpha: ok" in done.stdout and "instance beta: ok" in done.stdout
    assert "2 instance(s) ok, 0 failed" in done.stdout
    assert "clean_up_unverified_users[beta]: selected=1 done=1" in done.stdout
    after = state(mongo_client, db_prefix)
    for (users0, _, map0), (users1, mails1, map1) in zip(before, after, strict=True):
        assert users1 == users0 - 2 and mails1 > 0 and map0 == 0 and map1 > 0
    assert '"msg": "Starting user management job"' in done.stdout


def test_dry_run_for_one_instance_writes_nothing(
    tmp_path: Path, mongo_uri: str, db_prefix: str, seeded: None, mongo_client: MongoClient
) -> None:
    before = state(mongo_client, db_prefix)
    config = write_config(tmp_path / "config.yaml", config_document(mongo_uri, db_prefix, INSTANCES))
    done = run_cli(["--dry-run", "--instance", "beta"], config, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "instance beta: ok" in done.stdout and "instance alpha" not in done.stdout
    assert "(dry run" in done.stdout
    assert state(mongo_client, db_prefix) == before


def test_bad_config_exits_non_zero_naming_the_key_and_touches_no_database(
    tmp_path: Path, mongo_uri: str, db_prefix: str, seeded: None, mongo_client: MongoClient
) -> None:
    before = state(mongo_client, db_prefix)
    document = config_document(mongo_uri, db_prefix, INSTANCES)
    document["user_management_config"]["delete_unverified_users_after"] = 168
    done = run_cli([], write_config(tmp_path / "bad.yaml", document), tmp_path)
    assert done.returncode == 2
    assert "user_management_config.delete_unverified_users_after" in done.stderr
    assert state(mongo_client, db_prefix) == before
    assert f"{db_prefix}usermgmt-pipeline" not in mongo_client.list_database_names()


def test_missing_config_file_path_is_reported(tmp_path: Path) -> None:
    done = run_cli([], None, tmp_path)
    assert done.returncode == 2
    assert "CONFIG_FILE_PATH" in done.stderr


def test_unknown_instance_is_refused(tmp_path: Path, mongo_uri: str, db_prefix: str) -> None:
    config = write_config(tmp_path / "config.yaml", config_document(mongo_uri, db_prefix, INSTANCES))
    done = run_cli(["--instance", "gamma"], config, tmp_path)
    assert done.returncode == 2 and "gamma" in done.stderr


def test_env_override_supplies_the_global_secret(
    tmp_path: Path, mongo_uri: str, db_prefix: str, seeded: None, mongo_client: MongoClient
) -> None:
    document = config_document(
        mongo_uri, db_prefix, INSTANCES, tasks=["generate_profile_id_lookup"], global_secret=""
    )
    config = write_config(tmp_path / "config.yaml", document)
    done = run_cli(["--instance", "alpha"], config, tmp_path, STUDY_GLOBAL_SECRET="from-the-environment")
    assert done.returncode == 0, done.stdout + done.stderr
    assert id_map_count(mongo_client, db_prefix, "alpha") > 0
    assert "from-the-environment" not in done.stdout + done.stderr


def test_mass_deletion_guard_fails_the_instances_and_alerts_then_override_runs(
    tmp_path: Path, mongo_uri: str, db_prefix: str, seeded: None, mongo_client: MongoClient
) -> None:
    before = state(mongo_client, db_prefix)
    with running_bridge() as bridge:
        document = config_document(
            mongo_uri,
            db_prefix,
            INSTANCES,
            orchestration={"max_deletion_share": 0.01, "operator_emails": ["ops@example.org"]},
            smtp_url=bridge.url,
        )
        document["messaging_configs"]["smtp_bridge_config"]["api_key"] = "file-key"
        config = write_config(tmp_path / "config.yaml", document)
        done = run_cli([], config, tmp_path, SMTP_BRIDGE_API_KEY="env-key")
        assert done.returncode == 1
        assert "instance alpha: FAILED (mass-deletion guard tripped)" in done.stdout
        assert "0 instance(s) ok, 2 failed" in done.stdout
        assert [u for u, _, _ in state(mongo_client, db_prefix)] == [u for u, _, _ in before]
        assert sorted(r.body["subject"] for r in bridge.requests) == [
            "[user-management] mass-deletion guard tripped: instance alpha",
            "[user-management] mass-deletion guard tripped: instance beta",
        ]
        assert {r.headers["api-key"] for r in bridge.requests} == {"env-key"}
        override = run_cli(["--allow-mass-deletion", "--instance", "alpha"], config, tmp_path)
    assert override.returncode == 0, override.stdout
    assert user_count(mongo_client, db_prefix, "alpha") == before[0][0] - 2


def test_failed_users_exit_3_list_them_and_alert_under_their_own_subject(
    tmp_path: Path, mongo_uri: str, db_prefix: str, seeded: None, mongo_client: MongoClient
) -> None:
    break_participants(mongo_client, db_prefix, "beta", "influenzanet")
    with running_bridge() as bridge:
        document = config_document(
            mongo_uri,
            db_prefix,
            INSTANCES,
            orchestration={"operator_emails": ["ops@example.org"]},
            smtp_url=bridge.url,
        )
        done = run_cli([], write_config(tmp_path / "config.yaml", document), tmp_path)
    assert done.returncode == 3, done.stdout + done.stderr
    assert "instance alpha: ok" in done.stdout and "instance beta: ok" in done.stdout
    # the deleted users' studies and every participant migration of the broken study fail: 1 + 1 + 33
    assert "35 user(s) failed (retried next run)" in done.stdout
    assert "clean_up_unverified_users: user " in done.stdout and "delete_marked_users: user " in done.stdout
    assert [r.body["subject"] for r in bridge.requests] == [
        "[user-management] 35 user(s) failed: instance beta"
    ]


def test_an_instance_failure_exits_1_even_when_users_failed_elsewhere(
    tmp_path: Path, mongo_uri: str, db_prefix: str, seeded: None, mongo_client: MongoClient
) -> None:
    break_participants(mongo_client, db_prefix, "beta", "influenzanet")
    mongo_client[f"{db_prefix}alpha_messageDB"]["email-templates"].delete_many(
        {"messageType": "account-deleted"}
    )
    document = config_document(mongo_uri, db_prefix, INSTANCES)
    done = run_cli([], write_config(tmp_path / "config.yaml", document), tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "instance alpha: FAILED" in done.stdout and "user(s) failed" in done.stdout


def test_console_script_runs_the_cli(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "user-management"
    done = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0
    assert (
        "--dry-run" in done.stdout and "--instance" in done.stdout and "--allow-mass-deletion" in done.stdout
    )


def test_runs_are_recorded_in_the_dagster_home_instance_when_set(
    tmp_path: Path, mongo_uri: str, db_prefix: str, seeded: None
) -> None:
    from dagster import DagsterInstance

    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    document = config_document(mongo_uri, db_prefix, INSTANCES, tasks=["generate_profile_id_lookup"])
    config = write_config(tmp_path / "config.yaml", document)
    done = run_cli(["--dry-run"], config, tmp_path, DAGSTER_HOME=str(home))
    assert done.returncode == 0, done.stderr
    with DagsterInstance.from_config(str(home)) as instance:
        runs = instance.get_runs()
        assert sorted(run.tags["dagster/partition"] for run in runs) == INSTANCES
        assert all(run.tags["usermgmt/launched_by"] == "cli" for run in runs)
        assert all(run.run_config["resources"]["run_options"]["config"]["dry_run"] for run in runs)
