"""The crash journal's entries (`<p>usermgmt-pipeline.journal`), typed: one per user and attempt of a task.

An entry fixes, at its first insert, everything a later step or a rerun needs (the ids the token and the email
will be written under, for a deletion a snapshot of the account), and its `state` says which steps are done.
The flows in `usermgmt_pipeline.tasks` move it from state to state; `PipelineStore` stores it.

```mermaid
stateDiagram-v2
    direction LR
    state "notice" as n {
        [*] --> pending
        pending --> email_queued: token, email
        email_queued --> done: user timestamp
        pending --> selection_changed: user confirmed or logged in
        email_queued --> selection_changed
        selection_changed --> pending: selected again
    }
    state "deletion" as d {
        [*] --> selected
        selected --> user_deleted: account deleted if still selected (commit point)
        selected --> abandoned: no longer selected
        abandoned --> selected: selected again
        user_deleted --> erased: studies, tokens
        erased --> done: email
        erased --> studies_pending: a study not erased
        studies_pending --> done: retried every run
    }
```
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from bson import Binary, ObjectId
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


class State(StrEnum):
    PENDING = "pending"
    EMAIL_QUEUED = "email_queued"
    SELECTED = "selected"
    USER_DELETED = "user_deleted"
    ERASED = "erased"
    STUDIES_PENDING = "studies_pending"
    DONE = "done"
    SELECTION_CHANGED = "selection-changed"
    ABANDONED = "abandoned"


FINISHED = (State.DONE, State.SELECTION_CHANGED, State.ABANDONED)
"""States no run resumes (the work completed, or found its user no longer selected)."""
UNFINISHED_NOTICE = (State.PENDING, State.EMAIL_QUEUED)
UNFINISHED_DELETION = (State.SELECTED, State.USER_DELETED, State.ERASED, State.STUDIES_PENDING)

_FIELDS = {
    "key": "_id",
    "task": "task",
    "instance_id": "instanceID",
    "user_id": "userID",
    "state": "state",
    "started_at": "startedAt",
    "email_doc_id": "emailDocId",
    "token_doc_id": "tokenDocId",
    "account_id": "accountID",
    "language": "language",
    "profile_ids": "profileIDs",
    "message_type": "messageType",
    "attributes_deleted": "attributesDeleted",
    "deleted_at": "deletedAt",
    "pending_outcomes": "pendingOutcomes",
    "studies_done": "studiesDone",
    "study_errors": "studyErrors",
    "leave_called": "leaveCalled",
}
"""Attribute -> document field. The field names are what is stored; entries written so far keep reading."""


@dataclass
class JournalEntry:
    """One user's attempt at one task's work. Notices use the token and email ids; deletions the snapshot
    (account id, language, profiles, message type) and the study progress fields."""

    key: str
    task: str
    instance_id: str
    user_id: str
    state: State
    started_at: int
    email_doc_id: ObjectId
    token_doc_id: ObjectId | None = None
    account_id: str = ""
    language: str = ""
    profile_ids: list[str] = field(default_factory=list)
    message_type: str = ""
    attributes_deleted: bool = False
    deleted_at: int | None = None
    pending_outcomes: list[dict[str, Any]] = field(default_factory=list)
    """LEAVE outcomes evaluated but not (fully) applied: applied again after a crash, never re-evaluated."""
    studies_done: list[str] = field(default_factory=list)
    """`profile:study` pairs erased by an attempt that could not erase every study (skipped on retry)."""
    study_errors: list[dict[str, str]] = field(default_factory=list)
    leave_called: list[str] = field(default_factory=list)
    """`profile:study` pairs whose LEAVE rules called an external service (never evaluated again)."""

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> JournalEntry:
        values = {attr: doc[name] for attr, name in _FIELDS.items() if doc.get(name) is not None}
        values["state"] = State(values["state"])
        for attr in ("pending_outcomes", "studies_done", "study_errors", "leave_called", "profile_ids"):
            if attr in values:
                values[attr] = [dict(v) if isinstance(v, Mapping) else v for v in values[attr]]
        return cls(**values)

    def to_doc(self) -> dict[str, Any]:
        """The fields of a new entry (defaults left out, as the steps add them)."""
        doc: dict[str, Any] = {}
        for attr, name in _FIELDS.items():
            value = getattr(self, attr)
            if value is not None and value != [] and value != "" and value is not False:
                doc[name] = value.value if isinstance(value, State) else value
        return doc

    def fields(self, *attrs: str) -> dict[str, Any]:
        """These attributes as stored (field name -> value), for a `$set`."""
        values = {_FIELDS[attr]: getattr(self, attr) for attr in attrs}
        return {name: v.value if isinstance(v, State) else v for name, v in values.items()}

    def step_key(self, step: str) -> str:
        """The audit key of one step of this attempt (see `TaskContext.audit`)."""
        return f"{self.key}:{self.started_at}:{step}"


class AccountSealer:
    """Seals the account id (an email address) a deletion's entry keeps until its email is queued.

    The account document is gone by then, so the address must be kept somewhere, but never in plain text in
    our database: AES-GCM under a key derived (HKDF-SHA256) from `study_configs.global_secret`, which every
    deleting task requires, bound to the entry's key. An entry sealed under another secret (changed between
    a crash and the rerun) unseals to "" and its email is reported as not sendable.
    """

    INFO = b"usermgmt-pipeline/journal/accountID"

    def __init__(self, secret: str) -> None:
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=self.INFO).derive(secret.encode())
        self._aead = AESGCM(key)

    def seal(self, entry_key: str, account_id: str) -> Binary:
        nonce = os.urandom(12)
        return Binary(nonce + self._aead.encrypt(nonce, account_id.encode(), entry_key.encode()))

    def unseal(self, entry_key: str, sealed: bytes) -> str:
        try:
            return self._aead.decrypt(sealed[:12], sealed[12:], entry_key.encode()).decode()
        except (InvalidTag, ValueError):
            return ""


def field_name(attr: str) -> str:
    """The stored name of a `JournalEntry` attribute, for the writes that change it."""
    return _FIELDS[attr]
