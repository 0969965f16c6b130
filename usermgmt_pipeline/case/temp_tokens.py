"""`<p>global-infos.temp-tokens`: the login-capable tokens emailed to users (docs/case-data.md §3.4, docs/tasks.md §4).

The token format is copied exactly (39 lower-case base32 chars, 48-bit millisecond time prefix, 18 random
bytes) because the participant API looks tokens up by string and the time prefix orders them.
"""

from __future__ import annotations

import base64
import secrets
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo.database import Database

from usermgmt_pipeline.case.bulk import in_batch, insert_unordered
from usermgmt_pipeline.case.connections import op_deadline

PURPOSE_CONTACT_VERIFICATION = "contact-verification"
PURPOSE_INACTIVE_USER_NOTIFICATION = "inactive-user-notification"


def encode_token(unix_ms: int, random_bytes: bytes) -> str:
    """24 bytes (6 of big-endian ms time, 18 random), RFC 4648 base32 without padding, lower-cased."""
    if len(random_bytes) != 18:
        raise ValueError("a temp token needs exactly 18 random bytes")
    raw = (unix_ms & 0xFFFF_FFFF_FFFF).to_bytes(6, "big") + random_bytes
    return base64.b32encode(raw).decode("ascii").rstrip("=").lower()


def new_token() -> str:
    return encode_token(time.time_ns() // 1_000_000, secrets.token_bytes(18))


def token_document(
    *,
    token: str,
    purpose: str,
    user_id: str,
    instance_id: str,
    email: str,
    ttl_ns: int,
    doc_id: ObjectId | None = None,
) -> dict[str, Any]:
    """The TempToken document in Go's field order; `expiration` a BSON date (ms precision)."""
    expiration = datetime.now(UTC) + timedelta(microseconds=ttl_ns // 1000)
    doc: dict[str, Any] = {}
    if doc_id is not None:
        doc["_id"] = doc_id
    doc.update(
        token=token,
        expiration=expiration,
        purpose=purpose,
        userID=user_id,
        info={"type": "email", "email": email},
        instanceID=instance_id,
    )
    return doc


class TempTokens:
    def __init__(self, db: Database[Any], op_timeout_s: float) -> None:
        self.collection = db["temp-tokens"]
        self.timeout = op_timeout_s

    def insert_many_once(self, docs: list[Mapping[str, Any]]) -> list[str | Exception]:
        """Insert tokens with pre-assigned `_id`s in at most two calls; per document its token string, or the error.

        A duplicate `_id` means a crashed earlier attempt stored it: its token string is read back (one
        `$in` for all of them) and reused, so the email references the token that exists.
        """
        with op_deadline(self.timeout):
            outcome = insert_unordered(self.collection, docs)
        out: list[str | Exception] = [str(doc["token"]) for doc in docs]
        for index, reason in outcome.errors.items():
            out[index] = RuntimeError(f"inserting the temp token failed: {reason}")
        if outcome.duplicates:
            ids = [docs[index]["_id"] for index in outcome.duplicates]
            with op_deadline(self.timeout):
                stored = {
                    doc["_id"]: str(doc["token"])
                    for doc in self.collection.find(
                        {"_id": {"$in": ids}}, projection={"token": 1}, batch_size=in_batch(ids)
                    )
                }
            for index in outcome.duplicates:
                token = stored.get(docs[index]["_id"])
                out[index] = (
                    token
                    if token is not None
                    else RuntimeError("temp token insert collided on token string; retry")
                )
        return out

    def delete_all_for_users(self, instance_id: str, user_ids: list[str]) -> int:
        """Delete every token (any purpose) of these users of the instance, in one call."""
        if not user_ids:
            return 0
        with op_deadline(self.timeout):
            return self.collection.delete_many(
                {"instanceID": instance_id, "userID": {"$in": list(user_ids)}}
            ).deleted_count
