"""Fixtures of the reliability tests: one seeded template instance, cloned per scenario under a fresh prefix."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pymongo import MongoClient

from usermgmt_pipeline.demo.seed import seed_instance
from usermgmt_pipeline_tests.reliability.harness import (
    GLOBAL_SECRET,
    INSTANCE,
    clone_databases,
    drop_prefix,
    host_port_of,
    new_prefix,
    write_config,
)

NOW_S = int(time.time())
NOW_NS = NOW_S * 1_000_000_000 + 250_000_000  # the fixed clock of every task run in this directory


@pytest.fixture(scope="session")
def template_prefix(mongo_client: MongoClient) -> Iterator[str]:
    """One seeded instance (users in every task state, studies, rules, templates); never modified."""
    prefix = new_prefix()
    seed_instance(mongo_client, INSTANCE, db_prefix=prefix, global_secret=GLOBAL_SECRET, now=NOW_S)
    yield prefix
    drop_prefix(mongo_client, prefix)


@pytest.fixture
def cloned_instance(
    mongo_client: MongoClient, mongo_uri: str, template_prefix: str, tmp_path: Path
) -> Iterator[Callable[..., tuple[str, Path]]]:
    """`clone(**config_kwargs)` -> (prefix, config path): a fresh copy of the template instance."""
    made: list[str] = []

    def clone(**config_kwargs: object) -> tuple[str, Path]:
        prefix = new_prefix()
        made.append(prefix)
        clone_databases(mongo_client, template_prefix, mongo_client, prefix)
        return prefix, write_config(tmp_path, host_port_of(mongo_uri), prefix, **config_kwargs)

    yield clone
    for prefix in made:
        drop_prefix(mongo_client, prefix)
