"""Schedule, study sensor, code location loading and the instance settings, with Dagster's test utilities."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from dagster import (
    DagsterInstance,
    RunRequest,
    build_schedule_context,
    build_sensor_context,
)
from pymongo import MongoClient

from usermgmt_pipeline.config import ConfigError, load_config
from usermgmt_pipeline.demo import DEMO_CONFIG
from usermgmt_pipeline.demo.documents import study_document
from usermgmt_pipeline.orchestration.build import (
    LOOKUP_JOB,
    USER_MANAGEMENT_JOB,
    build_definitions,
    load_definitions,
)
from usermgmt_pipeline_tests.conftest import REPO_ROOT
from usermgmt_pipeline_tests.orchestration.helpers import config_document, write_config


@pytest.fixture
def persistent_instance(tmp_path: Path):  # type: ignore[no-untyped-def]
    home = tmp_path / "dagster_home"
    home.mkdir()
    with DagsterInstance.local_temp(str(home)) as instance:
        yield instance


def test_schedule_uses_configured_cron_and_timezone_and_one_request_per_instance(
    tmp_path: Path, mongo_uri: str, db_prefix: str, persistent_instance: DagsterInstance
) -> None:
    document = config_document(
        mongo_uri,
        db_prefix,
        ["alpha", "beta", "gamma"],
        orchestration={"schedule_cron": "30 2 * * 1", "schedule_timezone": "Europe/Berlin"},
    )
    path = write_config(tmp_path / "c.yaml", document)
    defs = build_definitions(load_config(path), str(path))
    schedule = defs.resolve_schedule_def("user_management_schedule")
    assert schedule.cron_schedule == "30 2 * * 1"
    assert schedule.execution_timezone == "Europe/Berlin"
    assert schedule.job_name == USER_MANAGEMENT_JOB
    tick = dt.datetime(2026, 3, 2, 2, 30, tzinfo=dt.timezone(dt.timedelta(hours=1)))

    def evaluate() -> list[RunRequest]:
        context = build_schedule_context(instance=persistent_instance, scheduled_execution_time=tick)
        return list(schedule(context))  # type: ignore[call-overload]

    first, second = evaluate(), evaluate()
    assert [r.partition_key for r in first] == ["alpha", "beta", "gamma"]
    assert [r.run_key for r in first] == [r.run_key for r in second]
    assert len({r.run_key for r in first}) == 3


def test_schedule_defaults_to_daily(tmp_path: Path, mongo_uri: str, db_prefix: str) -> None:
    path = write_config(tmp_path / "c.yaml", config_document(mongo_uri, db_prefix, ["alpha"]))
    schedule = build_definitions(load_config(path), str(path)).resolve_schedule_def(
        "user_management_schedule"
    )
    assert schedule.cron_schedule == "0 3 * * *"
    assert schedule.execution_timezone == "UTC"


def test_new_or_newly_active_study_requests_that_instances_lookup(
    config_path: Path, mongo_client: MongoClient, db_prefix: str, persistent_instance: DagsterInstance
) -> None:
    defs = build_definitions(load_config(config_path), str(config_path))
    sensor = defs.resolve_sensor_def("new_active_study_sensor")
    assert sensor.job_name == LOOKUP_JOB
    case_resource = defs.resources["case"]  # type: ignore[index]

    def evaluate(cursor: str | None):  # type: ignore[no-untyped-def]
        with build_sensor_context(
            instance=persistent_instance,
            cursor=cursor,
            resources={"case": case_resource},
            definitions=defs,
        ) as context:
            return sensor.evaluate_tick(context)

    baseline = evaluate(None)
    assert not baseline.run_requests
    unchanged = evaluate(baseline.cursor)
    assert not unchanged.run_requests and unchanged.skip_message

    beta_studies = mongo_client[f"{db_prefix}beta_studyDB"]["study-infos"]
    beta_studies.insert_one(study_document("brand-new", "brand-new-secret"))
    beta_studies.update_one({"key": "closed-study"}, {"$set": {"status": "active"}})
    mongo_client[f"{db_prefix}alpha_studyDB"]["study-infos"].insert_one(
        study_document("still-inactive", "s", status="inactive")
    )
    changed = evaluate(unchanged.cursor)
    [request] = changed.run_requests
    assert request.partition_key == "beta"
    assert request.tags["usermgmt/new_studies"] == "brand-new,closed-study"
    assert not evaluate(changed.cursor).run_requests


def test_code_location_loads_the_demo_config_without_connecting() -> None:
    # the demo config points at 127.0.0.1:27018, which nobody runs in tests
    defs = load_definitions(env={"CONFIG_FILE_PATH": str(DEMO_CONFIG)})
    assert {job.name for job in defs.jobs or []} >= {USER_MANAGEMENT_JOB, LOOKUP_JOB}  # type: ignore[union-attr]
    partitions = defs.resolve_job_def(USER_MANAGEMENT_JOB).partitions_def
    assert partitions is not None
    assert partitions.get_partition_keys() == ["default", "research_instance", "pilot_study"]


def test_code_location_without_config_file_path_fails_instead_of_loading_the_demo() -> None:
    with pytest.raises(ConfigError, match="CONFIG_FILE_PATH: is not set") as failure:
        load_definitions(env={})
    assert "no default" in str(failure.value)


def test_definitions_validate_without_config_file_path_fails_with_the_message(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("CONFIG_FILE_PATH", "DAGSTER_HOME")}
    dagster = str(Path(sys.executable).with_name("dagster"))
    proc = subprocess.run(
        [dagster, "definitions", "validate", "-m", "usermgmt_pipeline.definitions"],
        cwd=tmp_path,  # no pyproject.toml here: only -m names the code location
        env={**env, "DAGSTER_HOME": str(tmp_path), "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert proc.returncode != 0
    assert "CONFIG_FILE_PATH: is not set" in proc.stdout + proc.stderr


def test_code_location_fails_with_the_bad_key_named(tmp_path: Path, mongo_uri: str, db_prefix: str) -> None:
    document = config_document(mongo_uri, db_prefix, ["alpha"])
    document["user_management_config"]["delete_unverified_users_after"] = 168
    path = write_config(tmp_path / "bad.yaml", document)
    with pytest.raises(Exception, match="delete_unverified_users_after"):
        load_definitions(env={"CONFIG_FILE_PATH": str(path)})


def test_resources_are_configured_with_the_config_path_only(
    tmp_path: Path, mongo_uri: str, db_prefix: str
) -> None:
    """Resource config is shown in the UI and stored: it names the file, never a setting or a secret."""
    path = write_config(tmp_path / "c.yaml", config_document(mongo_uri, db_prefix, ["alpha"]))
    resources = build_definitions(load_config(path), str(path)).resources or {}
    assert sorted(resources) == ["case", "run_options", "smtp_bridge"]
    assert resources["case"].config_file_path == str(path)  # type: ignore[attr-defined]
    assert resources["smtp_bridge"].case is resources["case"]  # type: ignore[attr-defined]
    configured = {key: r._convert_to_config_dictionary() for key, r in resources.items()}  # type: ignore[attr-defined]
    configured.pop("run_options")  # the per-run switches (dry_run, ...), set in the launchpad
    assert configured == {
        "case": {"config_file_path": str(path)},
        "smtp_bridge": {"case": {"config_file_path": str(path)}, "retries": 3, "backoff_seconds": 1.0},
    }


def test_repo_dagster_yaml_disables_telemetry_and_limits_one_run_per_partition(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(REPO_ROOT / "dagster.yaml", home / "dagster.yaml")
    with DagsterInstance.from_config(str(home)) as instance:
        assert instance.telemetry_enabled is False
        queue = instance.get_concurrency_config().run_queue_config
        assert queue is not None
        limits = [dict(limit) for limit in queue.tag_concurrency_limits]
        assert limits == [
            {"key": "dagster/partition", "value": {"applyLimitPerUniqueValue": True}, "limit": 1}
        ]
