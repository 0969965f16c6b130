"""Credential decoding with the Go driver's rules, real connections (authenticated and open), client options
and database names (docs/case-data.md §2.1-2.3, docs/decisions.md "credentials passed separately")."""

from __future__ import annotations

import logging

import pytest
from pydantic import SecretStr
from pymongo import MongoClient
from pymongo.errors import OperationFailure

from devtools.local_mongo import LocalMongoServer
from usermgmt_pipeline.case.connections import (
    CaseDatabases,
    CredentialError,
    DatabaseConnectionError,
    build_uri,
    client_kwargs,
    decode_credentials,
    go_path_unescape,
    make_client,
)
from usermgmt_pipeline.config import DBConfig, DBConfigs

ENCODED_PASSWORD = "p+ss%40w%3Ard%2F%2541"  # what an operator must write for the password p+ss@w:rd/%41
PLAIN_PASSWORD = "p+ss@w:rd/%41"


def db_config(connection_str: str, username: str = "", password: str = "", **extra: object) -> DBConfig:
    return DBConfig(
        connection_str=connection_str,
        username=SecretStr(username),
        password=SecretStr(password),
        timeout=5,
        **extra,
    )


def host_of(uri: str) -> str:
    return uri.removeprefix("mongodb://").rstrip("/")


def test_plus_stays_plus_and_percent_escapes_are_decoded() -> None:
    assert go_path_unescape("a+b%41%2f%2F%25", "pw") == "a+bA//%"
    assert decode_credentials("case%2Dadmin", ENCODED_PASSWORD, "study_db") == ("case-admin", PLAIN_PASSWORD)


def test_percent_escape_decodes_utf8_bytes() -> None:
    assert go_path_unescape("%C3%A4x", "pw") == "äx"


@pytest.mark.parametrize("bad", ["abc%", "abc%4", "abc%zz", "%g1secret"])
def test_malformed_percent_escape_is_rejected_without_showing_the_password(bad: str) -> None:
    with pytest.raises(CredentialError) as caught:
        decode_credentials("user", bad, "messaging_db")

    assert "invalid" in str(caught.value)
    assert "messaging_db.password" in str(caught.value)
    assert bad not in str(caught.value)


@pytest.mark.parametrize("char", ["@", ":", "/"])
def test_unescaped_uri_delimiter_in_password_is_rejected_without_showing_it(char: str) -> None:
    password = f"Sup3r{char}Secret"
    with pytest.raises(CredentialError) as caught:
        decode_credentials("user", password, "participant_user_db")

    message = str(caught.value)
    assert "participant_user_db.password" in message
    assert repr(char) in message
    assert "Sup3r" not in message and "Secret" not in message


@pytest.mark.parametrize("char", ["@", ":", "/"])
def test_unescaped_uri_delimiter_in_username_is_rejected(char: str) -> None:
    with pytest.raises(CredentialError, match=r"global_infos_db\.username"):
        decode_credentials(f"us{char}er", "pw", "global_infos_db")


def test_empty_username_and_password_mean_no_authentication() -> None:
    assert decode_credentials("", "", "study_db") is None
    assert "username" not in client_kwargs(db_config("127.0.0.1:1"), "study_db")


@pytest.mark.parametrize(
    ("username", "password", "empty"), [("user", "", "password"), ("", "s3cret", "username")]
)
def test_one_sided_empty_credentials_are_rejected(username: str, password: str, empty: str) -> None:
    with pytest.raises(CredentialError) as caught:
        decode_credentials(username, password, "study_db")

    assert f"study_db.{empty} is empty" in str(caught.value)
    assert "s3cret" not in str(caught.value)


def test_uri_carries_no_user_info_and_keeps_the_prefix_and_options() -> None:
    cfg = db_config("db.example.org/admin?replicaSet=rs0", "u", "p", connection_prefix="+srv")
    assert build_uri(cfg, "study_db") == "mongodb+srv://db.example.org/admin?replicaSet=rs0"


@pytest.mark.parametrize(
    ("connection_str", "message"),
    [
        ("user:pw@host:27017", "must not contain user info"),
        ("host:27017?tls=true", "must have a / before the query"),
    ],
)
def test_connection_string_errors_of_the_go_driver(connection_str: str, message: str) -> None:
    # The config model refuses these too (see the config tests); model_construct bypasses it so that the
    # connection layer's own check is exercised.
    cfg = DBConfig.model_construct(
        connection_str=connection_str,
        username=SecretStr(""),
        password=SecretStr(""),
        connection_prefix="",
        timeout=5,
        idle_conn_timeout=0,
        max_pool_size=0,
        use_no_cursor_timeout=False,
        db_name_prefix="",
    )
    with pytest.raises(CredentialError, match=message) as caught:
        build_uri(cfg, "study_db")
    assert "pw" not in str(caught.value).replace("study_db", "")


@pytest.mark.parametrize(
    ("connection_str", "message"),
    [
        ("user:pw@host:27017", "must not contain user info"),
        ("host:27017?tls=true", "must have a / before the query"),
    ],
)
def test_the_config_model_refuses_connection_strings_the_go_driver_rejects(
    connection_str: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message) as caught:
        db_config(connection_str)
    assert "pw" not in str(caught.value).replace("study_db", "")


def test_real_connection_with_the_percent_encoded_password(auth_mongo_server: LocalMongoServer) -> None:
    cfg = db_config(host_of(auth_mongo_server.uri), "case-admin", ENCODED_PASSWORD)

    client = make_client(cfg, "participant_user_db")
    try:
        db = client["conn_auth_test"]
        db["probe"].insert_one({"ok": 1})
        assert db["probe"].find_one({}, {"_id": 0}) == {"ok": 1}
    finally:
        client["conn_auth_test"].drop_collection("probe")
        client.close()


def test_wrong_password_fails_the_ping_without_leaking_it(auth_mongo_server: LocalMongoServer) -> None:
    cfg = db_config(host_of(auth_mongo_server.uri), "case-admin", "Wr0ngPassw0rd")

    with pytest.raises(DatabaseConnectionError) as caught:
        make_client(cfg, "study_db")

    assert "could not connect to study_db" in str(caught.value)
    assert "Wr0ngPassw0rd" not in str(caught.value)
    assert not isinstance(caught.value, OSError)


def test_the_password_is_not_in_the_client_repr_or_uri(auth_mongo_server: LocalMongoServer) -> None:
    cfg = db_config(host_of(auth_mongo_server.uri), "case-admin", ENCODED_PASSWORD)
    client = make_client(cfg, "study_db")
    try:
        assert PLAIN_PASSWORD not in repr(client)
        assert "p+ss" not in repr(client)
        assert PLAIN_PASSWORD not in repr(cfg) and ENCODED_PASSWORD not in repr(cfg)
    finally:
        client.close()


def test_unauthenticated_access_to_the_auth_server_is_refused(auth_mongo_server: LocalMongoServer) -> None:
    """Guards the test above: the server really enforces SCRAM."""
    with (
        MongoClient(auth_mongo_server.uri, serverSelectionTimeoutMS=3000) as client,
        pytest.raises(OperationFailure),
    ):
        client["conn_auth_test"]["probe"].insert_one({"ok": 1})


def test_open_server_with_empty_credentials_connects_and_warns_once(
    mongo_uri: str, caplog: pytest.LogCaptureFixture
) -> None:
    host = host_of(mongo_uri)
    configs = DBConfigs(
        participant_user_db=db_config(host),
        global_infos_db=db_config(host),
        messaging_db=db_config(host),
        study_db=db_config(host),
    )
    with caplog.at_level(logging.WARNING, logger="usermgmt_pipeline.case.connections"):
        dbs = CaseDatabases.connect(configs)
    try:
        assert dbs.clients["messaging_db"].admin.command("ping")["ok"] == 1.0
    finally:
        dbs.close()
    warnings = [r for r in caplog.records if "without authentication" in r.getMessage()]
    assert len(warnings) == 1
    assert all(key in warnings[0].getMessage() for key in ("participant_user_db", "messaging_db", "study_db"))


def test_pool_size_and_idle_timeout_override_the_uri(mongo_uri: str) -> None:
    host = host_of(mongo_uri)
    limited = make_client(
        db_config(f"{host}/?maxPoolSize=50&maxIdleTimeMS=1000", max_pool_size=4, idle_conn_timeout=45),
        "study_db",
        ping=False,
    )
    unlimited = make_client(
        db_config(f"{host}/?maxPoolSize=50&maxIdleTimeMS=1000", max_pool_size=0, idle_conn_timeout=0),
        "study_db",
        ping=False,
    )
    try:
        assert limited.options.pool_options.max_pool_size == 4
        assert limited.options.pool_options.max_idle_time_seconds == 45.0
        # 0 in the config means unlimited, overriding the URI value, as in Go.
        assert unlimited.options.pool_options.max_pool_size is None
        assert unlimited.options.pool_options.max_idle_time_seconds is None
    finally:
        limited.close()
        unlimited.close()


def test_database_names_follow_the_per_config_prefix(mongo_uri: str) -> None:
    host = host_of(mongo_uri)
    configs = DBConfigs(
        participant_user_db=db_config(host, db_name_prefix="pu_"),
        global_infos_db=db_config(host, db_name_prefix="gi_"),
        messaging_db=db_config(host, db_name_prefix="msg_"),
        study_db=db_config(host, db_name_prefix="st_"),
    )
    dbs = CaseDatabases.connect(configs)
    try:
        assert dbs.users_db("inst1").name == "pu_inst1_users"
        assert dbs.global_infos_db().name == "gi_global-infos"
        assert dbs.messaging_db("inst1").name == "msg_inst1_messageDB"
        assert dbs.study_db("inst1").name == "st_inst1_studyDB"
        assert len({id(c) for c in dbs.clients.values()}) == 4  # one client per DB config, as in Go
        assert dbs.timeout_s("study_db") == 5.0
    finally:
        dbs.close()
