from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pymongo import MongoClient

from usermgmt_pipeline_tests.tasks.helpers import CaseEnv, make_env


@pytest.fixture
def env(tmp_path: Path, mongo_uri: str, mongo_client: MongoClient, db_prefix: str) -> Iterator[CaseEnv]:
    case_env = make_env(tmp_path, mongo_uri, mongo_client, db_prefix)
    yield case_env
    case_env.close()
