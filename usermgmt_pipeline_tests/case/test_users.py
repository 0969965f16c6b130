"""The participant-user database layer: Go decoding rules and selection-conditional writes (docs/case-data.md §3.0, §4.2)."""

from __future__ import annotations

import pytest
from bson import Int64, ObjectId
from pymongo import MongoClient, monitoring

from usermgmt_pipeline.case.users import UserDecodeError, UsersCollections, decode_user
from usermgmt_pipeline.demo.documents import user_document


def test_decodes_go_accepted_types() -> None:
    doc = user_document(account_id="a@b.c", created_at=10, profiles=[(ObjectId(), False), (ObjectId(), True)])
    doc["account"]["accountConfirmedAt"] = 5.0  # integral double: Go accepts it
    doc["timestamps"]["lastLogin"] = True  # bool into an int64 field: Go accepts it (1)
    doc["timestamps"]["markedForDeletion"] = None  # null -> 0
    del doc["timestamps"]["reminderToConfirmSentAt"]  # missing -> 0

    user = decode_user(doc)

    assert (user.account_confirmed_at, user.last_login, user.marked_for_deletion) == (5, 1, 0)
    assert user.reminder_to_confirm_sent_at == 0
    assert [p.main_profile for p in user.profiles] == [False, True]
    assert user.id == str(doc["_id"])


@pytest.mark.parametrize(
    ("section", "field", "value", "path"),
    [
        ("timestamps", "createdAt", "yesterday", "timestamps.createdAt"),
        ("timestamps", "lastLogin", 1.5, "timestamps.lastLogin"),
        ("account", "accountID", 42, "account.accountID"),
        ("account", "accountConfirmedAt", [1], "account.accountConfirmedAt"),
    ],
)
def test_wrong_types_make_the_user_undecodable_with_its_id(
    section: str, field: str, value: object, path: str
) -> None:
    doc = user_document(account_id="a@b.c", created_at=10)
    doc[section][field] = value

    with pytest.raises(UserDecodeError) as caught:
        decode_user(doc)

    assert caught.value.user_id == str(doc["_id"])
    assert path in caught.value.reason


def test_string_profile_id_is_undecodable() -> None:
    doc = user_document(account_id="a@b.c", created_at=10, profiles=[(ObjectId(), True)])
    doc["profiles"][0]["_id"] = "65a1b2c3d4e5f60718293a4b"

    with pytest.raises(UserDecodeError, match=r"profiles\[0\]\._id"):
        decode_user(doc)


def test_conditional_timestamp_update_writes_int64_only_while_selected(
    mongo_client: MongoClient, db_prefix: str
) -> None:
    db = mongo_client[f"{db_prefix}inst_users"]
    users = UsersCollections(db, 5)
    doc = user_document(account_id="a@b.c", created_at=10)
    db["users"].insert_one(doc)
    selected = {"account.accountConfirmedAt": Int64(0)}

    assert users.set_timestamp_many_if_selected([doc["_id"]], selected, "reminderToConfirmSentAt", 1234) == {
        doc["_id"]
    }
    stored = db["users"].find_one({"_id": doc["_id"]})
    assert stored["timestamps"]["reminderToConfirmSentAt"] == 1234
    assert isinstance(stored["timestamps"]["reminderToConfirmSentAt"], Int64)

    db["users"].update_one({"_id": doc["_id"]}, {"$set": {"account.accountConfirmedAt": Int64(99)}})
    assert not users.set_timestamp_many_if_selected([doc["_id"]], selected, "reminderToConfirmSentAt", 5678)
    assert db["users"].find_one({"_id": doc["_id"]})["timestamps"]["reminderToConfirmSentAt"] == 1234


def test_conditional_delete_and_the_two_id_types_of_related_collections(
    mongo_client: MongoClient, db_prefix: str
) -> None:
    db = mongo_client[f"{db_prefix}inst_users"]
    users = UsersCollections(db, 5)
    doc = user_document(account_id="a@b.c", created_at=10)
    db["users"].insert_one(doc)
    hex_id = str(doc["_id"])
    db["userAttributes"].insert_many(
        [{"userId": doc["_id"], "type": "a"}, {"userId": hex_id, "type": "hex-is-not-ours"}]
    )
    db["renewTokens"].insert_many(
        [{"userID": hex_id, "renewToken": "r1"}, {"userID": doc["_id"], "renewToken": "r2"}]
    )

    assert not users.delete_many_if_selected([doc["_id"]], {"account.accountConfirmedAt": Int64(1)})
    assert users.existing_ids([doc["_id"]]) == {doc["_id"]}
    assert users.delete_many_if_selected([doc["_id"]], {"account.accountConfirmedAt": Int64(0)}) == {
        doc["_id"]
    }
    assert not users.existing_ids([doc["_id"]])

    # userAttributes.userId is an ObjectId, renewTokens.userID a hex string (Go's types).
    assert users.delete_attributes_many([doc["_id"]]) == 1
    assert users.delete_renew_tokens_many([hex_id]) == 1
    assert [d["type"] for d in db["userAttributes"].find()] == ["hex-is-not-ours"]
    assert [d["renewToken"] for d in db["renewTokens"].find()] == ["r2"]


def test_iteration_honours_the_selection(mongo_client: MongoClient, db_prefix: str) -> None:
    db = mongo_client[f"{db_prefix}inst_users"]
    users = UsersCollections(db, 5, no_cursor_timeout=True)
    docs = [user_document(account_id=f"u{i}@x.org", created_at=i) for i in range(70)]
    db["users"].insert_many(docs)

    seen = [d["account"]["accountID"] for d in users.iterate({"timestamps.createdAt": {"$lt": Int64(65)}})]

    assert sorted(seen) == sorted(f"u{i}@x.org" for i in range(65))


class _CursorIds(monitoring.CommandListener):
    """The id of every user cursor the server opened (from the `find` replies)."""

    def __init__(self) -> None:
        self.ids: list[int] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        pass

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        if event.command_name == "find" and event.reply.get("cursor", {}).get("id"):
            self.ids.append(event.reply["cursor"]["id"])

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


def test_a_walk_whose_cursor_the_server_lost_resumes_after_the_last_user_read(
    mongo_uri: str, mongo_client: MongoClient, db_prefix: str
) -> None:
    """MongoDB reaps a cursor idle for 10 minutes and FerretDB drops one with its connection; the walk over
    every user (lookup, migration) then reads on from the last user instead of failing the run."""
    cursors = _CursorIds()
    client: MongoClient = MongoClient(mongo_uri, event_listeners=[cursors])
    db = client[f"{db_prefix}inst_users"]
    docs = [user_document(account_id=f"u{i}@x.org", created_at=i) for i in range(25)]
    db["users"].insert_many(docs)
    db["users"].insert_one({**user_document(account_id="odd@x.org", created_at=1), "_id": "not-an-objectid"})
    users = UsersCollections(db, 5)
    seen = []
    try:
        for doc in users.iterate_resuming({}, batch_size=10):
            seen.append(doc["_id"])
            if len(seen) == 5:  # the server loses the cursor between two batches
                mongo_client[f"{db_prefix}inst_users"].command(
                    "killCursors", "users", cursors=[cursors.ids[0]]
                )
    finally:
        client.close()

    assert seen == [*sorted(d["_id"] for d in docs), "not-an-objectid"]
    assert len(cursors.ids) == 2, "the walk did not resume with a new cursor"
