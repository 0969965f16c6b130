"""Our own bookkeeping database `<p>usermgmt-pipeline` (global-infos client): the crash journal and the audit log.

Nothing here is a CASE collection, so CASE services never see it. The journal makes every per-user action
resumable after a crash (see `usermgmt_pipeline.tasks.journal`); the audit log records, per run, instance and
task, each action on each user id with its outcome, and no personal data beyond ids.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from typing import Any

from pymongo import ReturnDocument
from pymongo.database import Database

from usermgmt_pipeline.case.connections import op_deadline


class PipelineStore:
    def __init__(self, db: Database, op_timeout_s: float) -> None:
        self.journal = db["journal"]
        self.audit = db["audit"]
        self.timeout = op_timeout_s

    def open_entry(self, key: str, on_insert: Mapping[str, Any]) -> Mapping[str, Any]:
        """Create the journal entry for `key` or return the existing one (its pre-assigned ids are reused)."""
        with op_deadline(self.timeout):
            return self.journal.find_one_and_update(
                {"_id": key},
                {"$setOnInsert": {**on_insert, "openedAt": int(time.time())}},
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )

    def get(self, key: str) -> Mapping[str, Any] | None:
        with op_deadline(self.timeout):
            return self.journal.find_one({"_id": key})

    def update(self, key: str, changes: Mapping[str, Any], unset: tuple[str, ...] = ()) -> None:
        update: dict[str, Any] = {"$set": dict(changes)}
        if unset:
            update["$unset"] = {field: "" for field in unset}
        with op_deadline(self.timeout):
            self.journal.update_one({"_id": key}, update)

    def add_to_set(self, key: str, field: str, value: Any) -> None:
        with op_deadline(self.timeout):
            self.journal.update_one({"_id": key}, {"$addToSet": {field: value}})

    def mark_done(self, key: str, field: str, values: list[Any], clear: str = "") -> None:
        """Add `values` to the set `field` (and null `clear`) in one write."""
        update: dict[str, Any] = {"$addToSet": {field: {"$each": values}}}
        if clear:
            update["$set"] = {clear: None}
        with op_deadline(self.timeout):
            self.journal.update_one({"_id": key}, update)

    def unfinished(self, task: str, instance_id: str, states: tuple[str, ...]) -> Iterator[Mapping[str, Any]]:
        with op_deadline(self.timeout):
            docs = list(
                self.journal.find({"task": task, "instanceID": instance_id, "state": {"$in": list(states)}})
            )
        yield from docs

    def record_audit(self, records: list[Mapping[str, Any]]) -> None:
        if not records:
            return
        with op_deadline(self.timeout):
            self.audit.insert_many([dict(r) for r in records], ordered=False)
