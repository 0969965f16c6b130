"""Unordered bulk inserts under pre-assigned `_id`s, where a duplicate key means "already there".

Every crash-safe write of the batched tasks is such an insert: the journal fixes each document's `_id`
once, so a rerun that inserts the same document again is rejected with code 11000 instead of writing it
twice. Unordered, so one rejected document does not stop the others; the caller learns per document
whether it was new, already there, or failed for another reason.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping, Sequence, Sized
from dataclasses import dataclass, field
from typing import Any

from pymongo import MongoClient
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
"""Update and replace statements sent in one command at most, on FerretDB v1 or a server not yet identified.
FerretDB v1 (SQLite) keeps the cursor of each statement of an `update` command open until the command ends,
and its pool has 100 connections per database: a command of 100 statements or more waits for a connection
forever (seen at 250)."""

_LIMITS: dict[int, int | None] = {}
"""id(client) -> the statements per command its server takes (None: no limit of ours; pymongo splits at the
server's `maxWriteBatchSize`), recorded by `note_server` when the client connects."""


def statements_limit(build_info: Mapping[str, Any]) -> int | None:
    """The limit for a server, from its `buildInfo`: FerretDB v1 announces itself (`ferretdbVersion` v1.x);
    MongoDB, and FerretDB v2 (on PostgreSQL with DocumentDB), take a whole batch in one command."""
    return STATEMENTS_PER_COMMAND if str(build_info.get("ferretdbVersion", "")).startswith("v1.") else None


def note_server(client: MongoClient[Any], build_info: Mapping[str, Any]) -> None:
    """Remember what this client's server takes (forgotten with the client)."""
    key = id(client)
    _LIMITS[key] = statements_limit(build_info)
    weakref.finalize(client, _LIMITS.pop, key, None)


def chunks(collection: Collection[Any], count: int) -> range:
    """Where the commands of `count` statements for `collection` start: one command, unless the server is
    FerretDB v1 or unknown (then `STATEMENTS_PER_COMMAND` each). A batch of 500 users is one update command
    per step on MongoDB instead of ten."""
    limit = _LIMITS.get(id(collection.database.client), STATEMENTS_PER_COMMAND)
    return range(0, count, limit or max(count, 1))


def in_batch(asked: Sized) -> int:
    """The `batch_size` of a read of these ids (`$in`): its whole answer in the first reply, and one more, so
    that the server sees the end of the results and closes the cursor (an exact fit left it open, for one
    empty getMore). The default first batch is 101 documents: a batch of 500 users cost a find and a getMore
    per read."""
    return len(asked) + 1


def write_unordered(
    collection: Collection[Any], ops: Sequence[ReplaceOne[Any] | UpdateOne | UpdateMany]
) -> dict[int, str]:
    """Unordered `bulk_write`s, split as `chunks` says; returns the operations the server refused
    (index -> reason).

    A failed command (no connection, a timeout) raises: it is not one operation's problem.
    """
    refused: dict[int, str] = {}
    starts = chunks(collection, len(ops))
    for start in starts:
        try:
            collection.bulk_write(list(ops[start : start + starts.step]), ordered=False)
        except BulkWriteError as exc:
            if exc.details.get("writeConcernErrors"):
                raise
            for e in exc.details.get("writeErrors", []):
                refused[start + int(e["index"])] = f"{e.get('code')}: {str(e.get('errmsg', ''))[:200]}"
    return refused
