"""Temp tokens: the original's string format (DERIVED vector of docs/tasks.md §4) and document shape in the DB."""

from __future__ import annotations

import base64
import re
import time
from datetime import UTC, datetime, timedelta

import pytest
from bson import ObjectId
from pymongo import MongoClient

from usermgmt_pipeline.case.temp_tokens import (
    PURPOSE_CONTACT_VERIFICATION,
    PURPOSE_INACTIVE_USER_NOTIFICATION,
    TempTokens,
    encode_token,
    new_token,
    token_document,
)

TOKEN_PATTERN = re.compile(r"[a-z2-7]{39}")
HOUR_NS = 3600 * 10**9


def test_derived_vector_of_the_reference() -> None:
    assert encode_token(1700000000123, bytes(range(6, 24))) == "agf47zlipmdaocajbifqydiob4ibceqtcqkrmfy"


def test_only_the_low_48_bits_of_the_millisecond_time_are_used() -> None:
    assert encode_token(1700000000123 + (1 << 48), bytes(range(6, 24))) == encode_token(
        1700000000123, bytes(range(6, 24))
    )


def test_random_part_must_be_18_bytes() -> None:
    with pytest.raises(ValueError):
        encode_token(0, bytes(17))


def test_new_token_is_39_lower_base32_chars_with_the_current_time_prefix() -> None:
    before_ms = time.time_ns() // 1_000_000
    token = new_token()
    after_ms = time.time_ns() // 1_000_000

    assert TOKEN_PATTERN.fullmatch(token)
    raw = base64.b32decode(token.upper() + "=")
    assert len(raw) == 24
    assert before_ms <= int.from_bytes(raw[:6], "big") <= after_ms
    assert new_token() != token


def test_purposes_are_the_case_constants() -> None:
    assert PURPOSE_CONTACT_VERIFICATION == "contact-verification"
    assert PURPOSE_INACTIVE_USER_NOTIFICATION == "inactive-user-notification"


def test_document_written_has_the_go_shape_and_types(mongo_client: MongoClient, db_prefix: str) -> None:
    tokens = TempTokens(mongo_client[f"{db_prefix}global-infos"], 5)
    doc_id = ObjectId()
    before = datetime.now(UTC)
    (token,) = tokens.insert_many_once(
        [
            token_document(
                doc_id=doc_id,
                token=new_token(),
                purpose=PURPOSE_CONTACT_VERIFICATION,
                user_id="65a1b2c3d4e5f60718293a4b",
                instance_id="inst",
                email="a+b@example.com",
                ttl_ns=48 * HOUR_NS,
            )
        ]
    )

    stored = mongo_client[f"{db_prefix}global-infos"]["temp-tokens"].find_one({"_id": doc_id})
    assert stored is not None
    assert list(stored) == ["_id", "token", "expiration", "purpose", "userID", "info", "instanceID"]
    assert stored["token"] == token and TOKEN_PATTERN.fullmatch(token)
    assert isinstance(stored["expiration"], datetime)  # a BSON Date, not a number
    expiration = stored["expiration"].replace(tzinfo=UTC)
    assert before + timedelta(hours=48) - timedelta(seconds=1) <= expiration
    assert expiration <= datetime.now(UTC) + timedelta(hours=48)
    assert stored["purpose"] == "contact-verification"
    assert stored["userID"] == "65a1b2c3d4e5f60718293a4b" and isinstance(stored["userID"], str)
    assert stored["info"] == {"type": "email", "email": "a+b@example.com"}
    assert stored["instanceID"] == "inst"


def test_inserting_returns_the_stored_token_on_a_rerun(mongo_client: MongoClient, db_prefix: str) -> None:
    tokens = TempTokens(mongo_client[f"{db_prefix}global-infos"], 5)
    doc_id = ObjectId()

    def attempt() -> str | Exception:
        (token,) = tokens.insert_many_once(
            [
                token_document(
                    doc_id=doc_id,
                    token=new_token(),
                    purpose=PURPOSE_INACTIVE_USER_NOTIFICATION,
                    user_id="u1",
                    instance_id="inst",
                    email="x@example.com",
                    ttl_ns=HOUR_NS,
                )
            ]
        )
        return token

    first, second = attempt(), attempt()

    assert isinstance(first, str) and first == second
    assert mongo_client[f"{db_prefix}global-infos"]["temp-tokens"].count_documents({}) == 1


def test_delete_all_for_users_spares_other_instances_and_users(
    mongo_client: MongoClient, db_prefix: str
) -> None:
    collection = mongo_client[f"{db_prefix}global-infos"]["temp-tokens"]
    tokens = TempTokens(mongo_client[f"{db_prefix}global-infos"], 5)
    for user, instance, purpose in [
        ("u1", "inst", "contact-verification"),
        ("u1", "inst", "password-reset"),
        ("u1", "other", "contact-verification"),
        ("u2", "inst", "contact-verification"),
    ]:
        collection.insert_one(
            {"token": new_token(), "userID": user, "instanceID": instance, "purpose": purpose}
        )

    assert tokens.delete_all_for_users("inst", ["u1"]) == 2

    left = sorted((d["userID"], d["instanceID"]) for d in collection.find())
    assert left == [("u1", "other"), ("u2", "inst")]
