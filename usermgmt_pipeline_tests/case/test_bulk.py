"""`case/bulk.py`: how many commands a batch's writes and `$in` reads cost, per server (issue 21)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from bson import ObjectId
from pymongo import MongoClient, UpdateOne

from usermgmt_pipeline.case.bulk import STATEMENTS_PER_COMMAND, statements_limit, write_unordered
from usermgmt_pipeline.case.connections import make_client
from usermgmt_pipeline.case.users import UsersCollections
from usermgmt_pipeline_tests.case.test_connections import db_config, host_of
from usermgmt_pipeline_tests.tasks.helpers import COMMAND_LOG

STATEMENTS = 120


@pytest.fixture
def recording() -> Iterator[list[tuple[str, str]]]:
    COMMAND_LOG.commands, COMMAND_LOG.recording = [], True
    try:
        yield COMMAND_LOG.commands
    finally:
        COMMAND_LOG.recording = False


def test_only_ferretdb_v1_gets_the_statements_limit() -> None:
    assert statements_limit({"version": "7.0.42", "ferretdbVersion": "v1.24.2"}) == STATEMENTS_PER_COMMAND
    assert statements_limit({"version": "7.0.14"}) is None  # MongoDB
    assert statements_limit({"version": "7.0.77", "ferretdbVersion": "v2.1.0"}) is None  # on DocumentDB


def _update_commands(client: MongoClient, db_prefix: str, recording: list[tuple[str, str]]) -> int:
    collection = client[f"{db_prefix}bulk"]["docs"]
    collection.insert_many([{"_id": i, "n": 0} for i in range(STATEMENTS)])
    recording.clear()
    refused = write_unordered(
        collection, [UpdateOne({"_id": i}, {"$set": {"n": i}}) for i in range(STATEMENTS)]
    )
    assert refused == {}
    assert collection.count_documents({"n": {"$gt": 0}}) == STATEMENTS - 1  # every update landed (0 stays 0)
    return sum(1 for name, target in recording if name == "update" and target == "docs")


def test_a_connected_client_sends_a_batch_in_as_many_commands_as_its_server_needs(
    mongo_uri: str, db_prefix: str, mongo_client: MongoClient, recording: list[tuple[str, str]]
) -> None:
    """`make_client` identifies the server (its start-up `buildInfo`): FerretDB v1 takes 50 statements a
    command, MongoDB the whole batch in one."""
    limit = statements_limit(mongo_client.admin.command("buildInfo"))
    client = make_client(db_config(host_of(mongo_uri)), "participant_user_db")
    try:
        commands = _update_commands(client, db_prefix, recording)
    finally:
        client.close()
    assert commands == (-(-STATEMENTS // limit) if limit else 1)


def test_a_client_whose_server_is_not_identified_keeps_the_limit(
    mongo_uri: str, db_prefix: str, recording: list[tuple[str, str]]
) -> None:
    client: MongoClient = MongoClient(mongo_uri)  # not through make_client: no buildInfo was read
    try:
        assert _update_commands(client, db_prefix, recording) == -(-STATEMENTS // STATEMENTS_PER_COMMAND)
    finally:
        client.close()


def test_a_read_of_a_batch_of_ids_is_one_command_without_a_get_more(
    mongo_uri: str, db_prefix: str, recording: list[tuple[str, str]]
) -> None:
    """The default first batch holds 101 documents: a read of 300 user ids was a find and a getMore."""
    client = make_client(db_config(host_of(mongo_uri)), "participant_user_db")
    try:
        users = client[f"{db_prefix}alpha_users"]["users"]
        ids = [ObjectId() for _ in range(300)]
        users.insert_many([{"_id": i} for i in ids])
        recording.clear()
        found = UsersCollections(client[f"{db_prefix}alpha_users"], 10).existing_ids(ids)
        commands = list(recording)
    finally:
        client.close()
    assert found == set(ids)
    assert commands == [("find", "users")]
