"""`email-templates` lookup and the `outgoing-emails` document shape of docs/tasks.md §3.3 on the real server."""

from __future__ import annotations

from datetime import UTC, datetime

from bson import Int64, ObjectId
from pymongo import MongoClient

from usermgmt_pipeline.case.messaging import GO_ZERO_TIME, MessagingCollections, outgoing_email_document
from usermgmt_pipeline.demo.documents import email_template_document

GO_ZERO_TIME_MS = -62135596800000
OUTGOING_FIELDS = [
    "_id",
    "messageType",
    "userId",
    "to",
    "subject",
    "headerOverrides",
    "content",
    "addedAt",
    "sentAt",
    "expiresAt",
    "highPrio",
    "lastSendAttempt",
]


def assert_outgoing_email_shape(doc: dict, *, message_type: str, user_id: str, to: str) -> None:
    """The exact docs/tasks.md §3.3 document: field order, values and BSON types (used by the task tests too)."""
    assert list(doc) == OUTGOING_FIELDS
    assert isinstance(doc["_id"], ObjectId)
    assert doc["messageType"] == message_type
    assert doc["userId"] == user_id and isinstance(doc["userId"], str)
    assert doc["to"] == [to]
    assert isinstance(doc["subject"], str)
    assert isinstance(doc["content"], str)
    assert isinstance(doc["addedAt"], Int64)
    assert abs(int(doc["addedAt"]) - int(datetime.now(UTC).timestamp())) < 120
    assert isinstance(doc["sentAt"], datetime)
    assert doc["sentAt"].replace(tzinfo=UTC) == datetime(1, 1, 1, tzinfo=UTC)
    assert doc["expiresAt"] == 0 and isinstance(doc["expiresAt"], Int64)
    assert doc["highPrio"] is False
    assert doc["lastSendAttempt"] == 0 and isinstance(doc["lastSendAttempt"], Int64)


def test_go_zero_time_is_year_one() -> None:
    assert int((GO_ZERO_TIME - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds() * 1000) == GO_ZERO_TIME_MS


def test_outgoing_email_round_trips_with_the_go_shape(mongo_client: MongoClient, db_prefix: str) -> None:
    db = mongo_client[f"{db_prefix}inst_messageDB"]
    messaging = MessagingCollections(db, 5)
    doc_id = ObjectId()

    assert not messaging.queue_many_once(
        [
            outgoing_email_document(
                doc_id=doc_id,
                message_type="account-deleted",
                user_id="65a1b2c3d4e5f60718293a4b",
                to="user@example.com",
                subject="Bye",
                header_overrides=None,
                content="<p>bye</p>",
                added_at=int(datetime.now(UTC).timestamp()),
            )
        ]
    )

    stored = db["outgoing-emails"].find_one({"_id": doc_id})
    assert_outgoing_email_shape(
        stored, message_type="account-deleted", user_id="65a1b2c3d4e5f60718293a4b", to="user@example.com"
    )
    assert stored["headerOverrides"] is None
    # Read the raw milliseconds too: year 1 must be stored, not clamped to the epoch.
    raw = db.command("find", "outgoing-emails", filter={"_id": doc_id}, projection={"sentAt": 1})
    assert raw["cursor"]["firstBatch"][0]["sentAt"].year == 1


def test_queueing_is_idempotent_per_id(mongo_client: MongoClient, db_prefix: str) -> None:
    db = mongo_client[f"{db_prefix}inst_messageDB"]
    messaging = MessagingCollections(db, 5)
    doc = outgoing_email_document(
        doc_id=ObjectId(),
        message_type="registration",
        user_id="u",
        to="a@b.c",
        subject="s",
        header_overrides=None,
        content="c",
        added_at=1,
    )

    assert messaging.queue_many_once([doc]) == {}
    assert messaging.queue_many_once([doc]) == {}  # the rerun of a crashed attempt: already queued
    assert db["outgoing-emails"].count_documents({}) == 1


def test_header_overrides_are_re_encoded_like_the_go_struct(
    mongo_client: MongoClient, db_prefix: str
) -> None:
    db = mongo_client[f"{db_prefix}inst_messageDB"]
    doc = outgoing_email_document(
        doc_id=ObjectId(),
        message_type="registration",
        user_id="u",
        to="a@b.c",
        subject="s",
        header_overrides={"sender": "Study <s@x.org>", "unknown": "dropped"},
        content="c",
        added_at=1,
    )
    assert MessagingCollections(db, 5).queue_many_once([doc]) == {}

    stored = db["outgoing-emails"].find_one({})
    assert stored["headerOverrides"] == {
        "from": "",
        "sender": "Study <s@x.org>",
        "replyTo": None,
        "noReplyTo": False,
    }
    assert list(stored["headerOverrides"]) == ["from", "sender", "replyTo", "noReplyTo"]


def test_only_a_template_without_study_key_is_global(mongo_client: MongoClient, db_prefix: str) -> None:
    db = mongo_client[f"{db_prefix}inst_messageDB"]
    messaging = MessagingCollections(db, 5)
    with_empty_key = email_template_document("registration", {"en": ("s", "x")}) | {"studyKey": ""}
    with_null_key = email_template_document("account-deleted", {"en": ("s", "x")}) | {"studyKey": None}
    study_specific = email_template_document("account-inactivity", {"en": ("s", "x")}) | {"studyKey": "flu"}
    global_one = email_template_document("account-inactivity", {"en": ("s", "global")})
    db["email-templates"].insert_many([with_empty_key, with_null_key, study_specific, global_one])

    assert messaging.find_global_template("registration") is None
    assert messaging.find_global_template("account-deleted") is None
    found = messaging.find_global_template("account-inactivity")
    assert found is not None and found["_id"] == global_one["_id"]


def test_sent_since_looks_at_sent_emails_of_that_user_and_type(
    mongo_client: MongoClient, db_prefix: str
) -> None:
    db = mongo_client[f"{db_prefix}inst_messageDB"]
    messaging = MessagingCollections(db, 5)
    db["sent-emails"].insert_one(
        {"userId": "u1", "messageType": "registration", "sentAt": datetime.fromtimestamp(2000, UTC)}
    )

    assert messaging.sent_since({"u1": 1999}, "registration") == {"u1"}
    assert messaging.sent_since({"u1": 2001}, "registration") == set()
    assert messaging.sent_since({"u2": 1999}, "registration") == set()
    assert messaging.sent_since({"u1": 1999}, "account-inactivity") == set()
