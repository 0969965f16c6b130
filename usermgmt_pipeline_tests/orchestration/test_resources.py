"""The loaded config is the single source within a run: parsed once, re-read per run, secrets from the env."""

from __future__ import annotations

import uuid
from pathlib import Path
from urllib.parse import quote

import pytest
from dagster import DagsterInstance
from pymongo import MongoClient

from devtools.local_mongo import LocalMongoServer
from usermgmt_pipeline.case.connections import DB_KEYS
from usermgmt_pipeline.config import load_config
from usermgmt_pipeline.config import loader as config_loader
from usermgmt_pipeline.orchestration.build import USER_MANAGEMENT_JOB, build_definitions
from usermgmt_pipeline_tests.orchestration.conftest import INSTANCES
from usermgmt_pipeline_tests.orchestration.helpers import (
    config_document,
    id_map_count,
    seed,
    user_count,
    write_config,
)


def _materialization(result, asset: str) -> dict[str, object]:  # type: ignore[no-untyped-def]
    [materialization] = result.asset_materializations_for_node(asset)
    return {key: value.value for key, value in materialization.metadata.items()}


def test_a_one_instance_run_parses_the_config_once(
    config_path: Path,
    dagster_instance: DagsterInstance,
    mongo_client: MongoClient,
    db_prefix: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    defs = build_definitions(load_config(config_path), str(config_path))
    parses: list[int] = []
    real_parse = config_loader.parse_config_text

    def counting_parse(*args, **kwargs):  # type: ignore[no-untyped-def]
        parses.append(1)
        return real_parse(*args, **kwargs)

    monkeypatch.setattr(config_loader, "parse_config_text", counting_parse)
    result = defs.resolve_job_def(USER_MANAGEMENT_JOB).execute_in_process(
        partition_key="alpha", instance=dagster_instance
    )
    assert result.success
    checks = [e for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]
    assert len(result.get_asset_materialization_events()) == 5 and checks  # every step ran
    assert id_map_count(mongo_client, db_prefix, "alpha") > 0
    assert len(parses) == 1


def test_an_edited_config_file_is_used_as_a_whole_by_the_next_run_without_reloading(
    tmp_path: Path,
    config_path: Path,
    dagster_instance: DagsterInstance,
    mongo_uri: str,
    mongo_client: MongoClient,
    db_prefix: str,
) -> None:
    """New connection settings and new thresholds together: never old databases with new thresholds."""
    defs = build_definitions(load_config(config_path), str(config_path))  # the code location, loaded once
    job = defs.resolve_job_def(USER_MANAGEMENT_JOB)
    first = job.execute_in_process(partition_key="alpha", instance=dagster_instance)
    assert first.success
    assert _materialization(first, "clean_up_unverified_users")["selected"] == 1

    moved_prefix = f"{db_prefix}moved_"  # dropped with db_prefix by its fixture
    seed(mongo_client, moved_prefix, INSTANCES)
    old_state = (user_count(mongo_client, db_prefix, "alpha"), id_map_count(mongo_client, db_prefix, "alpha"))
    edited = config_document(mongo_uri, moved_prefix, INSTANCES)
    edited["user_management_config"]["delete_unverified_users_after"] = "87600h"  # nobody is that old
    write_config(config_path, edited)

    second = job.execute_in_process(partition_key="alpha", instance=dagster_instance)
    assert second.success
    assert _materialization(second, "clean_up_unverified_users")["selected"] == 0  # the new threshold
    assert id_map_count(mongo_client, moved_prefix, "alpha") > 0  # the new databases
    assert (
        user_count(mongo_client, db_prefix, "alpha"),
        id_map_count(mongo_client, db_prefix, "alpha"),
    ) == old_state  # the old databases untouched


def test_database_passwords_come_from_the_environment_when_the_run_starts(
    tmp_path: Path,
    auth_mongo_server: LocalMongoServer,
    dagster_instance: DagsterInstance,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """As for the CLI: the Go env overrides apply to the run's config, read when the run starts."""
    server = auth_mongo_server
    client: MongoClient = MongoClient(server.uri, username=server.username, password=server.password)
    prefix = f"t{uuid.uuid4().hex[:10]}_"
    try:
        seed(client, prefix, ["alpha"])
        document = config_document(server.uri, prefix, ["alpha"])
        for db in document["db_configs"].values():
            db["username"], db["password"] = server.username, "wrong%2Bpassword"
        path = write_config(tmp_path / "auth.yaml", document)
        job = build_definitions(load_config(path), str(path)).resolve_job_def(USER_MANAGEMENT_JOB)
        refused = job.execute_in_process(
            partition_key="alpha", instance=dagster_instance, raise_on_error=False
        )
        assert not refused.success
        assert id_map_count(client, prefix, "alpha") == 0

        for key in DB_KEYS:  # PARTICIPANT_USER_DB_PASSWORD etc., percent-encoded as the Go job requires
            monkeypatch.setenv(f"{key.upper()}_PASSWORD", quote(server.password, safe="+"))
        accepted = job.execute_in_process(partition_key="alpha", instance=dagster_instance)
        assert accepted.success
        assert id_map_count(client, prefix, "alpha") > 0
    finally:
        for name in client.list_database_names():
            if name.startswith(prefix):
                client.drop_database(name)
        client.close()
