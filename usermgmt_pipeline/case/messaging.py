"""`<p><iid>_messageDB`: `email-templates` (read), `outgoing-emails` (insert), `sent-emails` (read) (01 §3.5-3.6).

The outgoing-email document is written with Go's exact field order and BSON types, because the CASE
messaging job decodes it into a struct and sends it as is.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from bson import Int64, ObjectId
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from usermgmt_pipeline.case.connections import op_deadline

GO_ZERO_TIME = datetime(1, 1, 1, tzinfo=UTC)


def outgoing_email_document(
    *,
    doc_id: ObjectId,
    message_type: str,
    user_id: str,
    to: str,
    subject: str,
    header_overrides: Mapping[str, Any] | None,
    content: str,
    added_at: int,
) -> dict[str, Any]:
    return {
        "_id": doc_id,
        "messageType": message_type,
        "userId": user_id,
        "to": [to],
        "subject": subject,
        "headerOverrides": _copy_header_overrides(header_overrides),
        "content": content,
        "addedAt": Int64(added_at),
        "sentAt": GO_ZERO_TIME,
        "expiresAt": Int64(0),
        "highPrio": False,
        "lastSendAttempt": Int64(0),
    }


def _copy_header_overrides(value: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Go re-encodes the struct: known sub-fields only, in order, `replyTo` null when missing."""
    if value is None:
        return None
    reply_to = value.get("replyTo")
    return {
        "from": str(value.get("from") or ""),
        "sender": str(value.get("sender") or ""),
        "replyTo": [str(x) for x in reply_to] if isinstance(reply_to, list) else None,
        "noReplyTo": bool(value.get("noReplyTo") or False),
    }


class MessagingCollections:
    def __init__(self, db: Database, op_timeout_s: float) -> None:
        self.templates = db["email-templates"]
        self.outgoing = db["outgoing-emails"]
        self.sent = db["sent-emails"]
        self.timeout = op_timeout_s

    def find_global_template(self, message_type: str) -> Mapping[str, Any] | None:
        """Global templates have no `studyKey` at all (`""` or null does not match), as in Go."""
        with op_deadline(self.timeout):
            return self.templates.find_one({"messageType": message_type, "studyKey": {"$exists": False}})

    def queue_once(self, doc: Mapping[str, Any]) -> bool:
        """Insert with a pre-assigned `_id`; False if a crashed earlier attempt already queued it."""
        with op_deadline(self.timeout):
            try:
                self.outgoing.insert_one(dict(doc))
                return True
            except DuplicateKeyError:
                return False

    def was_sent_since(self, user_id: str, message_type: str, since_unix: int) -> bool:
        """Whether the messaging job already sent (and removed) such an email after `since_unix`."""
        since = datetime.fromtimestamp(since_unix, UTC)
        with op_deadline(self.timeout):
            return (
                self.sent.find_one(
                    {"userId": user_id, "messageType": message_type, "sentAt": {"$gte": since}},
                    projection={"_id": 1},
                )
                is not None
            )
