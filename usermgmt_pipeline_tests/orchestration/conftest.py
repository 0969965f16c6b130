"""Fixtures for the Dagster layer: seeded instances on the real test server and a config file for them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import DagsterInstance
from pymongo import MongoClient

from usermgmt_pipeline_tests.orchestration.helpers import config_document, seed, write_config

INSTANCES = ("alpha", "beta")


@pytest.fixture
def seeded(mongo_client: MongoClient, db_prefix: str) -> int:
    """Both instances seeded with the demo dataset; returns the seeding time."""
    return seed(mongo_client, db_prefix, INSTANCES)


@pytest.fixture
def config_path(tmp_path: Path, mongo_uri: str, db_prefix: str, seeded: int) -> Path:
    return write_config(tmp_path / "config.yaml", config_document(mongo_uri, db_prefix, INSTANCES))


@pytest.fixture
def dagster_instance() -> Iterator[DagsterInstance]:
    with DagsterInstance.ephemeral() as instance:
        yield instance
