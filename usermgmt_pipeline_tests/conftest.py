"""Suite-wide fixtures: a real MongoDB-wire server over TCP, isolated per test by database-name prefix.

The server is `MONGODB_URI` if set, else a `mongod` on PATH, else the pinned FerretDB v1.24.2 (SQLite) that
`tools/build_ferretdb.sh` builds. If none can be had the suite FAILS with instructions; it never skips.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from pymongo import MongoClient

from devtools.local_mongo import (
    LocalMongoServer,
    NoMongoServerError,
    acquire_server,
    start_ferretdb,
)
from usermgmt_pipeline_tests import corpus

os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")

REPO_ROOT = Path(__file__).resolve().parents[1]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "corpus: reads the CASE corpus (seed example, real templates and rules) at CASE_CORPUS_DIR"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without the corpus, deselect the tests that read it (an error when CASE_CORPUS_REQUIRED is set)."""
    if corpus.corpus_present():
        return
    if corpus.corpus_required():
        raise pytest.UsageError(
            f"{corpus.CORPUS_REQUIRED_VAR} is set but the CASE corpus is not at {corpus.CORPUS_ROOT} "
            f"(set {corpus.CORPUS_DIR_VAR})"
        )
    needing = [item for item in items if item.get_closest_marker("corpus")]
    if needing:
        config.hook.pytest_deselected(items=needing)
        items[:] = [item for item in items if not item.get_closest_marker("corpus")]
    config.stash[_CORPUS_DESELECTED] = len(needing)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    deselected = config.stash.get(_CORPUS_DESELECTED, 0)
    if deselected:
        terminalreporter.write_sep("-", "CASE corpus not found", yellow=True)
        terminalreporter.write_line(corpus.absence_notice(deselected))


_CORPUS_DESELECTED = pytest.StashKey[int]()


@pytest.fixture(scope="session")
def mongo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMongoServer]:
    try:
        server = acquire_server(tmp_path_factory.mktemp("mongo"))
    except NoMongoServerError as exc:
        pytest.fail(str(exc), pytrace=False)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def mongo_uri(mongo_server: LocalMongoServer) -> str:
    return mongo_server.uri


@pytest.fixture(scope="session")
def mongo_client(mongo_uri: str) -> Iterator[MongoClient]:
    client: MongoClient = MongoClient(mongo_uri, serverSelectionTimeoutMS=10_000)
    yield client
    client.close()


@pytest.fixture
def db_prefix(mongo_client: MongoClient) -> Iterator[str]:
    """A unique `db_name_prefix` per test, so tests never see each other's data; dropped afterwards."""
    prefix = f"t{uuid.uuid4().hex[:10]}_"
    yield prefix
    for name in mongo_client.list_database_names():
        if name.startswith(prefix):
            mongo_client.drop_database(name)


@pytest.fixture(scope="session")
def auth_mongo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMongoServer]:
    """A SCRAM-authenticated FerretDB, for credential handling tests (password has URI-special characters)."""
    try:
        server = start_ferretdb(
            tmp_path_factory.mktemp("mongo-auth"), username="case-admin", password="p+ss@w:rd/%41"
        )
    except NoMongoServerError as exc:
        pytest.fail(str(exc), pytrace=False)
    yield server
    server.stop()
