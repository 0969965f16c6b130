"""The default indexes the CASE services create (case-backend `pkg/db`, `CreateDefaultIndexes`) on the
collections this job touches, for fixtures and benchmarks.

Why here, in one table: a test or benchmark database without them is one no operator runs. With them an
insert can be refused by a unique index (code 11000) and an indexed engine returns unsorted results in index
order, and the tests, the demo and `benchmarks/dataset.py` must all see the same set. TTL indexes are created
as plain ones, so that no background reaper changes data between two runs being compared.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pymongo import MongoClient

Keys = tuple[tuple[str, int], ...]
IndexSpec = tuple[Keys, bool]  # (keys in order, unique)

USERS_DB_INDEXES: dict[str, tuple[IndexSpec, ...]] = {
    "users": (
        ((("timestamps.markedForDeletion", 1),), False),
        ((("account.accountID", 1),), True),
        ((("timestamps.createdAt", 1),), False),
        ((("account.accountConfirmedAt", 1), ("timestamps.createdAt", 1)), False),
        ((("contactPreferences.receiveWeeklyMessageDayOfWeek", 1),), False),
    ),
    "renewTokens": (
        ((("userID", 1), ("renewToken", 1), ("expiresAt", 1)), False),
        ((("userID", 1), ("sessionID", 1)), False),
        ((("expiresAt", 1),), False),  # TTL in CASE
        ((("renewToken", 1),), True),
    ),
    "userAttributes": (((("userId", 1), ("type", 1)), True),),
    "otps": (
        ((("userID", 1), ("code", 1)), True),
        ((("createdAt", 1),), False),  # TTL in CASE
    ),
    "failedOtpAttempts": (
        ((("userID", 1),), False),
        ((("timestamp", 1),), False),  # TTL in CASE
    ),
}
GLOBAL_INFOS_INDEXES: dict[str, tuple[IndexSpec, ...]] = {
    "temp-tokens": (
        ((("userID", 1), ("instanceID", 1), ("purpose", 1)), False),
        ((("expiration", 1),), False),  # TTL 0 in CASE
        ((("token", 1),), True),
    ),
}
MESSAGE_DB_INDEXES: dict[str, tuple[IndexSpec, ...]] = {
    "email-templates": (((("messageType", 1), ("studyKey", 1)), True),),
    "sent-emails": (((("userId", 1), ("sentAt", 1)), False),),
}
STUDY_DB_INDEXES: dict[str, tuple[IndexSpec, ...]] = {
    "study-infos": (((("key", 1),), True),),
    "studyRules": (
        ((("studyKey", 1),), False),
        ((("uploadedAt", 1), ("studyKey", 1)), False),
    ),
    "confidential-id-map": (((("confidentialID", 1), ("studyKey", 1)), True),),
}
PER_STUDY_INDEXES: dict[str, tuple[IndexSpec, ...]] = {
    "_participants": (
        ((("participantID", 1),), True),
        ((("studyStatus", 1),), False),
        ((("enteredAt", 1),), False),
        ((("messages.scheduledFor", 1), ("studyStatus", 1)), False),
        ((("messages.scheduledFor", 1),), False),
    ),
    "_reports": (
        ((("participantID", 1),), False),
        ((("timestamp", 1),), False),
        ((("participantID", 1), ("key", 1), ("timestamp", 1)), False),
    ),
    "_confidentialResponses": (((("participantID", 1), ("key", 1)), False),),
    "_surveyResponses": (
        ((("participantID", 1),), False),
        ((("participantID", 1), ("key", 1), ("submittedAt", 1)), False),
        ((("submittedAt", 1),), False),
        ((("arrivedAt", 1),), False),
        ((("key", 1),), False),
    ),
    "_participantFiles": (
        ((("participantID", 1), ("createdAt", -1)), False),
        ((("createdAt", -1),), False),
    ),
}


def _create(db: Any, table: dict[str, tuple[IndexSpec, ...]], suffix_of: str = "") -> None:
    for collection, specs in table.items():
        for keys, unique in specs:
            db[f"{suffix_of}{collection}"].create_index(list(keys), unique=unique)


def create_study_indexes(client: MongoClient[Any], db_prefix: str, instance_id: str, study_key: str) -> None:
    """The per-study collections' indexes (`<studyKey>_participants`, `_reports`, ...) of one study."""
    _create(client[f"{db_prefix}{instance_id}_studyDB"], PER_STUDY_INDEXES, study_key)


def create_case_indexes(
    client: MongoClient[Any], db_prefix: str, instance_id: str, study_keys: Iterable[str] = ()
) -> None:
    """Every default index of one instance (and of `global-infos`), the per-study ones for `study_keys`.

    Idempotent: creating an index that exists with the same keys and options is a no-op on the server.
    """
    _create(client[f"{db_prefix}{instance_id}_users"], USERS_DB_INDEXES)
    _create(client[f"{db_prefix}global-infos"], GLOBAL_INFOS_INDEXES)
    _create(client[f"{db_prefix}{instance_id}_messageDB"], MESSAGE_DB_INDEXES)
    _create(client[f"{db_prefix}{instance_id}_studyDB"], STUDY_DB_INDEXES)
    for key in study_keys:
        create_study_indexes(client, db_prefix, instance_id, key)
