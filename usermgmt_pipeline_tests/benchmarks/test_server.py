"""`benchmarks/server.py`: MONGODB_URI split into the job's config keys, a client that logs in as the job does,
and never a password in what the scripts print."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import pytest
from pymongo import MongoClient
from pymongo.errors import OperationFailure

from benchmarks.server import ServerTarget, start_or_use
from devtools.local_mongo import LocalMongoServer
from usermgmt_pipeline.case.connections import decode_credentials

AUTHENTICATION_FAILED = 18


def test_a_uri_without_credentials_becomes_the_config_keys_with_empty_user_info() -> None:
    target = ServerTarget.parse("mongodb://127.0.0.1:27017/")

    assert target.config_keys() == {
        "connection_prefix": "",
        "connection_str": "127.0.0.1:27017",
        "username": "",
        "password": "",
    }
    assert target.uri == target.display == "mongodb://127.0.0.1:27017"


def test_credentials_go_to_username_and_password_still_percent_escaped_and_leave_the_connection_str() -> None:
    target = ServerTarget.parse(
        "mongodb://case%2Badmin:p+ss%40w%3Ard@db-0:27017,db-1:27017/?authSource=admin"
    )

    assert target.config_keys() == {
        "connection_prefix": "",
        "connection_str": "db-0:27017,db-1:27017/?authSource=admin",
        "username": "case%2Badmin",
        "password": "p+ss%40w%3Ard",
    }
    # What the job makes of those keys: Go's url.PathUnescape, where `+` stays `+`.
    assert decode_credentials(target.username, target.password, "study_db") == ("case+admin", "p+ss@w:rd")


def test_srv_uris_keep_the_srv_prefix_as_the_connection_prefix() -> None:
    target = ServerTarget.parse("mongodb+srv://bench:pw@cluster0.bench.invalid/?retryWrites=true&w=majority")

    assert (target.connection_prefix, target.connection_str) == (
        "+srv",
        "cluster0.bench.invalid/?retryWrites=true&w=majority",
    )
    assert (target.username, target.password) == ("bench", "pw")
    assert target.uri == "mongodb+srv://cluster0.bench.invalid/?retryWrites=true&w=majority"


@pytest.mark.parametrize(
    "uri", ["http://127.0.0.1:27017", "postgres://u:p@127.0.0.1:5432/db", "127.0.0.1:27017", "mongodb:/x"]
)
def test_a_uri_that_is_not_mongodb_is_refused(uri: str) -> None:
    with pytest.raises(ValueError, match=r"mongodb:// or mongodb\+srv://"):
        ServerTarget.parse(uri)


def test_what_the_scripts_print_never_contains_the_password() -> None:
    escaped, decoded = "s3cr%40t+pw", "s3cr@t+pw"
    target = ServerTarget.parse(f"mongodb://bench:{escaped}@127.0.0.1:27017/?authSource=admin")

    shown = [target.uri, target.display, repr(target), str(target)]
    assert target.display == "mongodb://127.0.0.1:27017/?authSource=admin"
    assert not [text for text in shown if escaped in text or decoded in text or "s3cr" in text]


def test_the_dataset_client_logs_in_with_the_credentials_decoded_as_the_job_decodes_them(
    auth_mongo_server: LocalMongoServer,
) -> None:
    """The test server's password has `+`, `@`, `:`, `/` and `%`: escaped as the config wants it, the `+`
    stays literal, which pymongo's own URI parser would read as a space."""
    server = auth_mongo_server
    uri = f"mongodb://{server.username}:{quote(server.password, safe='+')}@{server.host_port}/"
    target = ServerTarget.parse(uri)

    with target.client(serverSelectionTimeoutMS=10_000) as client:
        assert isinstance(client.list_database_names(), list)
    with (
        MongoClient(uri, serverSelectionTimeoutMS=10_000) as pymongo_decoded,
        pytest.raises(OperationFailure) as refused,
    ):
        pymongo_decoded.list_database_names()
    assert refused.value.code == AUTHENTICATION_FAILED


def test_start_or_use_takes_mongodb_uri_without_starting_a_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    uri = "mongodb://bench:p%40ss@127.0.0.1:27017/?authSource=admin"
    monkeypatch.setenv("MONGODB_URI", f"  {uri}\n")

    target, server = start_or_use(tmp_path)

    assert server is None
    assert target == ServerTarget.parse(uri)
    assert (target.username, target.password) == ("bench", "p%40ss")
    assert list(tmp_path.iterdir()) == []  # no FerretDB data directory either


def test_start_or_use_without_mongodb_uri_starts_a_ferretdb_of_its_own_that_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The path `make bench` takes on a fresh machine (it broke unseen when devtools left the package)."""
    monkeypatch.delenv("MONGODB_URI", raising=False)

    target, server = start_or_use(tmp_path)
    try:
        assert server is not None and (tmp_path / "ferretdb").is_dir()
        assert (target.connection_prefix, target.username, target.password) == ("", "", "")
        with target.client(serverSelectionTimeoutMS=10_000) as client:
            assert client.admin.command("ping")["ok"] == 1
    finally:
        if server is not None:
            server.stop()
