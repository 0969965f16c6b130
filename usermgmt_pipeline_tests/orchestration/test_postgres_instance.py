"""The job on a PostgreSQL-backed Dagster instance (the production storage), with a real PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import psycopg2
import pytest
from dagster import AssetKey, DagsterInstance
from pymongo import MongoClient

from usermgmt_pipeline.config import load_config
from usermgmt_pipeline.orchestration.build import USER_MANAGEMENT_JOB, build_definitions
from usermgmt_pipeline_tests.orchestration.helpers import id_map_count, user_count
from usermgmt_pipeline_tests.orchestration.postgres_server import NoPostgresError, running_postgres


def test_job_runs_and_records_on_a_postgres_instance(
    tmp_path: Path, config_path: Path, mongo_client: MongoClient, db_prefix: str
) -> None:
    try:
        server = running_postgres()
        url = server.__enter__()
    except NoPostgresError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        home = tmp_path / "dagster_home"
        home.mkdir()
        # dagster-postgres speaks psycopg2; SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3.
        dagster_url = url.replace("postgresql://", "postgresql+psycopg2://", 1)
        (home / "dagster.yaml").write_text(
            f'telemetry:\n  enabled: false\nstorage:\n  postgres:\n    postgres_url: "{dagster_url}"\n'
        )
        users_before = user_count(mongo_client, db_prefix, "beta")
        defs = build_definitions(load_config(config_path), str(config_path))
        with DagsterInstance.from_config(str(home)) as instance:
            assert type(instance.run_storage).__name__ == "PostgresRunStorage"
            result = defs.resolve_job_def(USER_MANAGEMENT_JOB).execute_in_process(
                partition_key="beta", instance=instance, raise_on_error=False
            )
            assert result.success
            event = instance.get_latest_materialization_event(AssetKey("generate_profile_id_lookup"))
            assert event is not None and event.run_id == result.run_id
        assert user_count(mongo_client, db_prefix, "beta") == users_before - 2
        assert id_map_count(mongo_client, db_prefix, "beta") > 0
        with psycopg2.connect(url) as conn, conn.cursor() as cursor:
            cursor.execute("SELECT status FROM runs WHERE run_id = %s", (result.run_id,))
            assert cursor.fetchone() == ("SUCCESS",)
    finally:
        server.__exit__(None, None, None)
