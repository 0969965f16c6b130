"""Our own bookkeeping database `<p>usermgmt-pipeline` (global-infos client): the crash journal and the audit log.

Nothing here is a CASE collection, so CASE services never see it. The journal makes every per-user action
resumable after a crash (see `usermgmt_pipeline.tasks.user_deletion` and `notify_flow`); the audit log
records, per run, instance and task, each action on each user id with its outcome, and no personal data
beyond ids.

Fencing: a store built with the lease generation of the run (`generation`) stamps every journal entry it
opens or claims with `fence: <generation>`, and every journal write it makes matches only entries whose
fence is not newer than its own. When a run that was frozen past its lease comes back, the run that took
over has already claimed the entries with a higher generation: the frozen run's writes match nothing, and
`LeaseLost` stops it. A store without a generation (a dry run, a direct call) writes unconditionally.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from pymongo import ASCENDING, UpdateOne
from pymongo.database import Database
from pymongo.errors import BulkWriteError

from usermgmt_pipeline.case.bulk import chunks, in_batch, insert_unordered
from usermgmt_pipeline.case.connections import op_deadline
from usermgmt_pipeline.case.journal import FINISHED, AccountSealer, JournalEntry, State, field_name
from usermgmt_pipeline.case.leases import LeaseLost

ACCOUNT_ID = field_name("account_id")


class PipelineStore:
    def __init__(
        self,
        db: Database[Any],
        op_timeout_s: float,
        generation: int | None = None,
        sealer: AccountSealer | None = None,
    ) -> None:
        self.journal = db["journal"]
        self.audit = db["audit"]
        self.timeout = op_timeout_s
        self.generation = generation
        self.sealer = sealer

    def _sealed(self, key: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        """`fields` as stored: an account id sealed (see `AccountSealer`)."""
        out = dict(fields)
        if self.sealer is not None and isinstance(out.get(ACCOUNT_ID), str) and out[ACCOUNT_ID]:
            out[ACCOUNT_ID] = self.sealer.seal(key, out[ACCOUNT_ID])
        return out

    def _entry(self, doc: Mapping[str, Any]) -> JournalEntry:
        sealed = doc.get(ACCOUNT_ID)
        if isinstance(sealed, bytes):
            plain = self.sealer.unseal(str(doc["_id"]), sealed) if self.sealer is not None else ""
            doc = {**doc, ACCOUNT_ID: plain}
        return JournalEntry.from_doc(doc)

    def _ours(self, query: dict[str, Any]) -> dict[str, Any]:
        """`query` limited to entries no newer run has claimed."""
        if self.generation is None:
            return query
        return {**query, "$or": [{"fence": {"$lte": self.generation}}, {"fence": {"$exists": False}}]}

    def _stamped(self, update: Mapping[str, Any]) -> dict[str, Any]:
        out = dict(update)
        if self.generation is not None:
            out["$set"] = {**dict(out.get("$set") or {}), "fence": self.generation}
        return out

    def _require(self, matched: int, keys: Sequence[str]) -> None:
        """Every entry written (a key named twice is one document) is still this run's."""
        expected = len(set(keys))
        if self.generation is not None and matched < expected:
            raise LeaseLost(
                f"the instance lease was taken over by another run ({expected - matched} of {expected} "
                f"journal entries were claimed by a newer lease generation than this run's {self.generation})"
            )

    def claim(self, keys: Sequence[str]) -> None:
        """Mark these entries as this run's (raises `LeaseLost` if a newer run has claimed any of them).

        Done before a run acts on entries another run opened, so that run's later writes to them fail."""
        if self.generation is None or not keys:
            return
        with op_deadline(self.timeout):
            matched = self.journal.update_many(
                self._ours({"_id": {"$in": list(keys)}}), {"$set": {"fence": self.generation}}
            ).matched_count
        self._require(matched, keys)

    def ensure_indexes(self) -> None:
        """The resume query's index, and one on the audit records' time for the retention purge.

        `createIndexes` with an existing identical index is a no-op, so every run can ask."""
        with op_deadline(self.timeout):
            self.journal.create_index(
                [("task", ASCENDING), ("instanceID", ASCENDING), ("state", ASCENDING)],
                name="task_1_instanceID_1_state_1",
            )
            self.audit.create_index([("at", ASCENDING)], name="at_1")
            self.audit.create_index(
                [("instanceID", ASCENDING), ("userID", ASCENDING), ("at", ASCENDING)],
                name="instanceID_1_userID_1_at_1",  # one account's history
            )
            self.audit.create_index(
                [("instanceID", ASCENDING), ("accountHash", ASCENDING)],
                name="instanceID_1_accountHash_1",  # `history --email`
            )

    def purge_finished_entries(self, instance_id: str, started_before: int) -> int:
        """Delete this instance's finished journal entries whose work started before `started_before`."""
        with op_deadline(self.timeout):
            return self.journal.delete_many(
                {
                    "instanceID": instance_id,
                    "state": {"$in": [state.value for state in FINISHED]},
                    "startedAt": {"$lt": started_before},
                }
            ).deleted_count

    def purge_audit(self, instance_id: str, before: int, running_run_id: str) -> int:
        """Delete this instance's audit records written before `before` (Unix seconds), except the running
        run's: its mass-deletion guard counts the accounts the run already deleted from them (`count_audit`)."""
        with op_deadline(self.timeout):
            return self.audit.delete_many(
                {"instanceID": instance_id, "at": {"$lt": before}, "runID": {"$ne": running_run_id}}
            ).deleted_count

    def open_entries(self, entries: Sequence[JournalEntry]) -> dict[str, JournalEntry]:
        """Create the journal entries for these keys, or read back the existing ones (their pre-assigned ids are
        reused), in two calls: insert the new ones unordered, read the existing back.

        Returns every key's entry as stored (a new one as inserted, an existing one with its pre-assigned ids).
        A key whose insert failed for another reason than a duplicate key raises, like a failed single open.
        """
        opened_at = int(time.time())
        keys = [entry.key for entry in entries]
        fence = {} if self.generation is None else {"fence": self.generation}
        docs = [
            {**self._sealed(entry.key, entry.to_doc()), "openedAt": opened_at, **fence} for entry in entries
        ]
        with op_deadline(self.timeout):
            outcome = insert_unordered(self.journal, docs)
        if outcome.errors:
            index, reason = next(iter(outcome.errors.items()))
            raise RuntimeError(f"opening journal entry {keys[index]} failed: {reason}")
        out = {entry.key: entry for index, entry in enumerate(entries) if index not in outcome.duplicates}
        existing = [keys[index] for index in sorted(outcome.duplicates)]
        if existing:
            self.claim(existing)
            with op_deadline(self.timeout):
                stored = list(self.journal.find({"_id": {"$in": existing}}, batch_size=in_batch(existing)))
            out.update({doc["_id"]: self._entry(doc) for doc in stored})
        missing = [key for key in keys if key not in out]
        if missing:
            raise LookupError(f"journal entries {missing[:3]} vanished while being opened")
        return out

    def update_many(self, keys: list[str], changes: Mapping[str, Any], unset: tuple[str, ...] = ()) -> None:
        """`$set` the same changes (and `$unset` the same fields) on every entry in `keys` with one call."""
        if not keys:
            return
        update: dict[str, Any] = {"$set": dict(changes)}
        if unset:
            update["$unset"] = {field: "" for field in unset}
        with op_deadline(self.timeout):
            matched = self.journal.update_many(
                self._ours({"_id": {"$in": list(keys)}}), self._stamped(update)
            ).matched_count
        self._require(matched, keys)

    def _seal_set(self, key: str, update: Mapping[str, Any]) -> dict[str, Any]:
        out = dict(update)
        if "$set" in out:
            out["$set"] = self._sealed(key, out["$set"])
        return out

    def add_to_set(self, keys: Sequence[str], field: str, value: Any) -> None:
        """`$addToSet` one value to the same array field of every entry in `keys`, with one call."""
        if not keys:
            return
        with op_deadline(self.timeout):
            matched = self.journal.update_many(
                self._ours({"_id": {"$in": list(keys)}}), self._stamped({"$addToSet": {field: value}})
            ).matched_count
        self._require(matched, keys)

    def update_each(self, updates: Mapping[str, Mapping[str, Any]]) -> None:
        """A different update document per entry (`key -> {"$set": ..., "$addToSet": ...}`), in one bulk
        write (split as `write_unordered` splits it); a refused update raises, like a failed `update`."""
        if not updates:
            return
        keys = list(updates)
        ops = [
            UpdateOne(self._ours({"_id": key}), self._stamped(self._seal_set(key, updates[key])))
            for key in keys
        ]
        matched = 0
        starts = chunks(self.journal, len(ops))
        for start in starts:
            try:
                with op_deadline(self.timeout):
                    matched += self.journal.bulk_write(
                        ops[start : start + starts.step], ordered=False
                    ).matched_count
            except BulkWriteError as exc:
                if exc.details.get("writeConcernErrors") or not exc.details.get("writeErrors"):
                    raise
                error = exc.details["writeErrors"][0]
                raise RuntimeError(
                    f"updating journal entry {keys[start + int(error['index'])]} failed: "
                    f"{error.get('code')}: {str(error.get('errmsg', ''))[:200]}"
                ) from None
        self._require(matched, keys)

    def unfinished(self, task: str, instance_id: str, states: Sequence[State]) -> list[JournalEntry]:
        """This task's entries on the instance in one of `states` (in `_id` order)."""
        query = {"task": task, "instanceID": instance_id, "state": {"$in": [s.value for s in states]}}
        with op_deadline(self.timeout):
            docs = list(self.journal.find(query).sort("_id", ASCENDING))
        return [self._entry(doc) for doc in docs]

    def record_audit(self, records: Sequence[Mapping[str, Any]]) -> None:
        """Insert the records; one whose `_id` is already there (a keyed record of a step another run
        recorded too) is not written twice."""
        if not records:
            return
        with op_deadline(self.timeout):
            outcome = insert_unordered(self.audit, records)
        if outcome.errors:
            index, reason = next(iter(outcome.errors.items()))
            raise RuntimeError(f"saving audit record {records[index].get('_id')} failed: {reason}")

    def audit_for_user(self, instance_id: str, user_id: str) -> list[Mapping[str, Any]]:
        """Every audit record of one account, oldest first (`atNs` orders those of one second)."""
        with op_deadline(self.timeout):
            return list(
                self.audit.find({"instanceID": instance_id, "userID": user_id}).sort(
                    [("at", ASCENDING), ("atNs", ASCENDING), ("_id", ASCENDING)]
                )
            )

    def user_ids_for_account_hash(self, instance_id: str, hashed: str) -> list[str]:
        """The user ids audited under this keyed account hash (an address re-registered after a deletion has
        several), in the order they first appear."""
        with op_deadline(self.timeout):
            records = list(
                self.audit.find(
                    {"instanceID": instance_id, "accountHash": hashed},
                    {"userID": 1, "details.deletedUserID": 1, "at": 1},
                ).sort([("at", ASCENDING), ("_id", ASCENDING)])
            )
        ids = (r.get("userID") or (r.get("details") or {}).get("deletedUserID") or "" for r in records)
        return list(dict.fromkeys(str(i) for i in ids if i))

    def count_audit(self, run_id: str, instance_id: str, action: str) -> int:
        """How many `action` records this run wrote for this instance (e.g. accounts it deleted so far)."""
        with op_deadline(self.timeout):
            return self.audit.count_documents({"runID": run_id, "instanceID": instance_id, "action": action})
