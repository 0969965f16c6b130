"""The "raw limit" of a task: how long the server takes to write exactly what that task wrote, in bulk.

A third copy of the dataset (`bench_raw_`) follows our side task by task. After our side has run a task,
`replay` compares every CASE collection of the two copies by `_id` (untimed), then applies the difference
to the raw copy with one `insert_many(ordered=False)` for the new documents, one `delete_many` (`_id`
`$in`) for the removed ones and one `update_many` (`_id` `$in`) per distinct change (`$set`/`$unset` of
the changed fields), timing only those writes. Documents that changed each in their own way (a
participant's new state) go in unordered bulks of single-document updates, 50 to a command (FerretDB v1 never
answers an update command of 100 or more statements). The two copies are then
identical again, so the next task's difference is that task's writes alone.

Our own bookkeeping database (`usermgmt-pipeline`: journal, audit, locks) is not part of the difference:
the raw limit is the cost of the CASE documents the task must write, and our bookkeeping counts against us.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import bson
from pymongo import MongoClient, UpdateOne

from usermgmt_pipeline.case.bulk import STATEMENTS_PER_COMMAND

PIPELINE_DB_SUFFIX = "usermgmt-pipeline"


@dataclass
class RawWrites:
    seconds: float = 0.0
    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    commands: int = 0
    by_collection: dict[str, tuple[int, int, int]] = field(default_factory=dict)

    @property
    def documents(self) -> int:
        return self.inserted + self.updated + self.deleted

    def describe(self) -> str:
        parts = [
            f"{name}: +{i} ~{u} -{d}" for name, (i, u, d) in sorted(self.by_collection.items()) if i or u or d
        ]
        return ", ".join(parts) or "nothing written"


def _case_databases(client: MongoClient, prefix: str) -> list[str]:
    return sorted(
        name[len(prefix) :]
        for name in client.list_database_names()
        if name.startswith(prefix) and not name.endswith(PIPELINE_DB_SUFFIX)
    )


def _changes(
    old: Mapping[str, Any], new: Mapping[str, Any], path: str = ""
) -> Iterator[tuple[str, str, Any]]:
    """("$set"|"$unset", dotted field, value) turning `old` into `new`; sub-documents are compared field-wise."""
    for key, value in new.items():
        dotted = f"{path}{key}"
        if key not in old:
            yield "$set", dotted, value
        elif isinstance(value, Mapping) and isinstance(old[key], Mapping) and value and old[key]:
            yield from _changes(old[key], value, f"{dotted}.")
        elif old[key] != value or type(old[key]) is not type(value):
            yield "$set", dotted, value
    for key in old:
        if key not in new:
            yield "$unset", f"{path}{key}", ""


def _update_spec(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    spec: dict[str, dict[str, Any]] = {}
    for operator, dotted, value in _changes(old, new):
        if dotted != "_id":
            spec.setdefault(operator, {})[dotted] = value
    return spec


def replay(client: MongoClient, source_prefix: str, raw_prefix: str, *, timed: bool = True) -> RawWrites:
    """Bring the raw copy to the source copy's state; return the time of the bulk writes that took."""
    out = RawWrites()
    for suffix in _case_databases(client, source_prefix):
        source_db, raw_db = client[source_prefix + suffix], client[raw_prefix + suffix]
        for name in source_db.list_collection_names():
            source = {doc["_id"]: doc for doc in source_db[name].find({})}
            raw = {doc["_id"]: doc for doc in raw_db[name].find({})}
            inserted = [doc for key, doc in source.items() if key not in raw]
            deleted = [key for key in raw if key not in source]
            groups: dict[bytes, tuple[dict[str, Any], list[Any]]] = {}
            for key, doc in source.items():
                if key in raw and raw[key] != doc:
                    spec = _update_spec(raw[key], doc)
                    if spec:
                        groups.setdefault(bson.encode(spec), (spec, []))[1].append(key)
            collection = raw_db[name]
            updated = sum(len(ids) for _spec, ids in groups.values())
            started = time.monotonic()
            if inserted:
                collection.insert_many(inserted, ordered=False)
                out.commands += 1
            if deleted:
                collection.delete_many({"_id": {"$in": deleted}})
                out.commands += 1
            singles = []
            for spec, ids in groups.values():
                if len(ids) == 1:
                    singles.append(UpdateOne({"_id": ids[0]}, spec))
                else:
                    collection.update_many({"_id": {"$in": ids}}, spec)
                    out.commands += 1
            for start in range(0, len(singles), STATEMENTS_PER_COMMAND):  # FerretDB hangs on 100 or more
                collection.bulk_write(singles[start : start + STATEMENTS_PER_COMMAND], ordered=False)
                out.commands += 1
            if timed:
                out.seconds += time.monotonic() - started
            if inserted or updated or deleted:
                out.by_collection[f"{suffix}.{name}"] = (len(inserted), updated, len(deleted))
            out.inserted += len(inserted)
            out.updated += updated
            out.deleted += len(deleted)
    return out
