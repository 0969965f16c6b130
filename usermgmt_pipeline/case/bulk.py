"""Unordered bulk inserts under pre-assigned `_id`s, where a duplicate key means "already there".

Every crash-safe write of the batched tasks is such an insert: the journal fixes each document's `_id`
once, so a rerun that inserts the same document again is rejected with code 11000 instead of writing it
twice. Unordered, so one rejected document does not stop the others; the caller learns per document
whether it was new, already there, or failed for another reason.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pymongo.collection import Collection
from pymongo.errors import BulkWriteError
from pymongo.operations import ReplaceOne, UpdateMany, UpdateOne

DUPLICATE_KEY = 11000


@dataclass
class InsertOutcome:
    """Indexes (into the inserted list) of documents already present, and of those that failed otherwise."""

    duplicates: set[int] = field(default_factory=set)
    errors: dict[int, str] = field(default_factory=dict)


def insert_unordered(collection: Collection[Any], docs: Sequence[Mapping[str, Any]]) -> InsertOutcome:
    """One `insert_many(ordered=False)`; per-document rejections are returned, a failed command raises."""
    outcome = InsertOutcome()
    if not docs:
        return outcome
    try:
        collection.insert_many([dict(doc) for doc in docs], ordered=False)
    except BulkWriteError as exc:
        if exc.details.get("writeConcernErrors"):
            raise
        for error in exc.details.get("writeErrors", []):
            index = int(error["index"])
            if error.get("code") == DUPLICATE_KEY:
                outcome.duplicates.add(index)
            else:
                outcome.errors[index] = f"{error.get('code')}: {str(error.get('errmsg', ''))[:200]}"
    return outcome


STATEMENTS_PER_COMMAND = 50
"""Update and replace statements sent in one command at most. FerretDB v1 (SQLite) keeps the cursor of each
statement of an `update` command open until the command ends, and its pool has 100 connections per
database: a command of 100 statements or more waits for a connection forever (seen at 250). MongoDB has
no such limit; 50 keeps a batch of 500 users at ten commands per step on either server."""


def write_unordered(
    collection: Collection[Any], ops: Sequence[ReplaceOne[Any] | UpdateOne | UpdateMany]
) -> dict[int, str]:
    """Unordered `bulk_write`s of at most `STATEMENTS_PER_COMMAND` operations; returns the operations the
    server refused (index -> reason).

    A failed command (no connection, a timeout) raises: it is not one operation's problem.
    """
    refused: dict[int, str] = {}
    for start in range(0, len(ops), STATEMENTS_PER_COMMAND):
        try:
            collection.bulk_write(list(ops[start : start + STATEMENTS_PER_COMMAND]), ordered=False)
        except BulkWriteError as exc:
            if exc.details.get("writeConcernErrors"):
                raise
            for e in exc.details.get("writeErrors", []):
                refused[start + int(e["index"])] = f"{e.get('code')}: {str(e.get('errmsg', ''))[:200]}"
    return refused
