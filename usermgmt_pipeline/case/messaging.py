"""`<p><iid>_messageDB`: `email-templates` (read), `outgoing-emails` (insert), `sent-emails` (read) (docs/case-data.md §3.5-3.6).

Templates are decoded with the Go driver's rules for CASE's `EmailTemplate` struct, and the outgoing-email
document is written with Go's exact field order and BSON types, because the CASE messaging job decodes it
into a struct and sends it as is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bson import Int64, ObjectId
from pymongo.database import Database

from usermgmt_pipeline import go_unmarshal
from usermgmt_pipeline.case.bulk import insert_unordered
from usermgmt_pipeline.case.connections import op_deadline
from usermgmt_pipeline.errors import CaseDataError

GO_ZERO_TIME = datetime(1, 1, 1, tzinfo=UTC)


class TemplateDecodeError(CaseDataError):
    """The document does not decode into Go's `EmailTemplate` struct; Go would queue no email with it."""

    def __init__(self, path: str, expected: str, value: Any) -> None:
        shown = repr(value)
        if len(shown) > 60:
            shown = shown[:57] + "..."
        super().__init__(
            f"{path} is {type(value).__name__} {shown}, but Go decodes only {expected} there "
            "(the email would fail for every user)"
        )
        self.path = path


@dataclass(frozen=True)
class Translation:
    language_code: str
    subject: str
    template_def: str


@dataclass(frozen=True)
class HeaderOverrides:
    sender_from: str
    sender: str
    reply_to: tuple[str, ...] | None
    no_reply_to: bool

    def document(self) -> dict[str, Any]:
        """Go re-encodes the struct: known sub-fields only, in order, `replyTo` null when nil."""
        return {
            "from": self.sender_from,
            "sender": self.sender,
            "replyTo": list(self.reply_to) if self.reply_to is not None else None,
            "noReplyTo": self.no_reply_to,
        }


@dataclass(frozen=True)
class EmailTemplate:
    message_type: str
    default_language: str
    header_overrides: HeaderOverrides | None
    translations: tuple[Translation, ...]


def decode_email_template(doc: Mapping[str, Any]) -> EmailTemplate:
    """Decode as the Go driver decodes into `EmailTemplate` (docs/case-data.md §3.5); raises `TemplateDecodeError`.

    Strings take string, ObjectId (as hex) or null; `noReplyTo` takes a boolean, a number or null;
    `replyTo` and `translations` an array or null; `headerOverrides` and each translation a document or
    null (a null translation is Go's zero value: every field ""). Unknown fields are ignored, as in Go.
    The few encodings Go also accepts that never occur in CASE data (a 12-byte string `_id`, binary
    strings) are refused: failing a partition up front is safe, sending a different email is not.
    """
    _object_id(doc, "_id")
    raw_translations = doc.get("translations")
    if raw_translations is not None and not isinstance(raw_translations, list):
        raise TemplateDecodeError("translations", "an array of documents or null", raw_translations)
    translations = []
    for index, raw in enumerate(raw_translations or []):
        path = f"translations[{index}]"
        if raw is None:
            raw = {}
        if not isinstance(raw, Mapping):
            raise TemplateDecodeError(path, "a document or null", raw)
        translations.append(
            Translation(
                _string(raw, "languageCode", f"{path}.languageCode"),
                _string(raw, "subject", f"{path}.subject"),
                _string(raw, "templateDef", f"{path}.templateDef"),
            )
        )
    _string(doc, "studyKey", "studyKey")
    return EmailTemplate(
        message_type=_string(doc, "messageType", "messageType"),
        default_language=_string(doc, "defaultLanguage", "defaultLanguage"),
        header_overrides=decode_header_overrides(doc.get("headerOverrides")),
        translations=tuple(translations),
    )


def decode_header_overrides(value: Any) -> HeaderOverrides | None:
    """`headerOverrides` as Go's `*HeaderOverrides`: null is nil; `"false"` is an error, not `true`."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise TemplateDecodeError("headerOverrides", "a document or null", value)
    raw_reply_to = value.get("replyTo")
    reply_to: tuple[str, ...] | None = None
    if raw_reply_to is not None:
        if not isinstance(raw_reply_to, list):
            raise TemplateDecodeError("headerOverrides.replyTo", "an array of strings or null", raw_reply_to)
        reply_to = tuple(
            _string({"v": item}, "v", f"headerOverrides.replyTo[{i}]") for i, item in enumerate(raw_reply_to)
        )
    no_reply_to = value.get("noReplyTo")
    try:
        no_reply = bool(go_unmarshal.bson_optional_bool(value, "noReplyTo", "headerOverrides.noReplyTo"))
    except go_unmarshal.GoDecodeError:
        raise TemplateDecodeError(
            "headerOverrides.noReplyTo", "a boolean, a number or null", no_reply_to
        ) from None
    return HeaderOverrides(
        sender_from=_string(value, "from", "headerOverrides.from"),
        sender=_string(value, "sender", "headerOverrides.sender"),
        reply_to=reply_to,
        no_reply_to=no_reply,
    )


def _string(doc: Mapping[str, Any], key: str, path: str) -> str:
    try:
        return go_unmarshal.bson_string(doc, key, path)
    except go_unmarshal.GoDecodeError:
        raise TemplateDecodeError(path, "a string, an ObjectId or null", doc.get(key)) from None


def _object_id(doc: Mapping[str, Any], key: str) -> None:
    value = doc.get(key)
    if value is not None and not isinstance(value, ObjectId):
        raise TemplateDecodeError(key, "an ObjectId", value)


def outgoing_email_document(
    *,
    doc_id: ObjectId,
    message_type: str,
    user_id: str,
    to: str,
    subject: str,
    header_overrides: HeaderOverrides | Mapping[str, Any] | None,
    content: str,
    added_at: int,
) -> dict[str, Any]:
    """Raises `TemplateDecodeError` for `headerOverrides` Go could not decode (never coerces a value)."""
    if header_overrides is not None and not isinstance(header_overrides, HeaderOverrides):
        header_overrides = decode_header_overrides(header_overrides)
    return {
        "_id": doc_id,
        "messageType": message_type,
        "userId": user_id,
        "to": [to],
        "subject": subject,
        "headerOverrides": header_overrides.document() if header_overrides is not None else None,
        "content": content,
        "addedAt": Int64(added_at),
        "sentAt": GO_ZERO_TIME,
        "expiresAt": Int64(0),
        "highPrio": False,
        "lastSendAttempt": Int64(0),
    }


class MessagingCollections:
    def __init__(self, db: Database[Any], op_timeout_s: float) -> None:
        self.templates = db["email-templates"]
        self.outgoing = db["outgoing-emails"]
        self.sent = db["sent-emails"]
        self.timeout = op_timeout_s

    def find_global_template(self, message_type: str) -> Mapping[str, Any] | None:
        """Global templates have no `studyKey` at all (`""` or null does not match), as in Go."""
        with op_deadline(self.timeout):
            return self.templates.find_one({"messageType": message_type, "studyKey": {"$exists": False}})

    def queue_many_once(self, docs: list[Mapping[str, Any]]) -> dict[int, str]:
        """Insert emails with pre-assigned `_id`s in one call; returns the failures (index -> reason).

        A duplicate `_id` is a crashed earlier attempt's email, already queued: not an error."""
        with op_deadline(self.timeout):
            return insert_unordered(self.outgoing, docs).errors

    def sent_since(self, since_by_user: Mapping[str, int], message_type: str) -> set[str]:
        """The user ids the messaging job already sent (and removed) such an email after their time, in one query."""
        if not since_by_user:
            return set()
        earliest = datetime.fromtimestamp(min(since_by_user.values()), UTC)
        with op_deadline(self.timeout):
            docs = list(
                self.sent.find(
                    {
                        "userId": {"$in": list(since_by_user)},
                        "messageType": message_type,
                        "sentAt": {"$gte": earliest},
                    },
                    projection={"_id": 0, "userId": 1, "sentAt": 1},
                )
            )
        out = set()
        for doc in docs:
            user_id, sent_at = doc.get("userId"), doc.get("sentAt")
            if not isinstance(sent_at, datetime) or user_id not in since_by_user:
                continue
            if sent_at.tzinfo is None:
                sent_at = sent_at.replace(tzinfo=UTC)
            if sent_at >= datetime.fromtimestamp(since_by_user[user_id], UTC):
                out.add(user_id)
        return out
