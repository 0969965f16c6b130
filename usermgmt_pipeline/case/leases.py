"""The instance leases and their fencing generations, in our own database `<p>usermgmt-pipeline`.

`locks` holds one lease per instance being processed (`_id` = instance id); `fences` holds, per instance, the
last generation handed out. Every lease taken gets a generation greater than any before it, so a run that
was frozen past its lease and comes back can be told apart from the run that took over: its generation is
lower. The journal entries carry the generation of the run that last claimed them (see `PipelineStore`).

The generation counter is kept apart from the lease so that releasing a lease (deleting its document) never
resets it. If the counter itself is lost, the next generation starts above the current time in milliseconds,
which is above any generation handed out before (at most a few per second).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from pymongo import ReturnDocument
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from usermgmt_pipeline.case.connections import op_deadline


class LeaseLost(BaseException):
    """This run no longer holds its instance: a newer generation took it over (or the lease could not be kept).

    A `BaseException`, so that no per-user `except Exception` can take it for one user's failure and go on:
    it must end the task. The task layer turns it into `LeaseLostError` with the counts so far.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.result: Any = None
        """The task's counts so far (a `TaskResult`), attached by the task loop that knows them."""


class LeaseStore:
    """Reads and conditional writes of one instance's lease; nothing here waits or decides."""

    def __init__(self, db: Database[Any], instance_id: str, op_timeout_s: float) -> None:
        self.locks = db["locks"]
        self.fences = db["fences"]
        self.instance_id = instance_id
        self.timeout = op_timeout_s

    def next_generation(self) -> int:
        """A generation greater than every one handed out for this instance so far."""
        with op_deadline(self.timeout):
            floor = {"$max": {"generation": int(time.time() * 1000)}}
            try:
                self.fences.update_one({"_id": self.instance_id}, floor, upsert=True)
            except (
                DuplicateKeyError
            ):  # another run's upsert created it first: ours now matches (MongoDB's advice)
                self.fences.update_one({"_id": self.instance_id}, floor, upsert=True)
            doc = self.fences.find_one_and_update(
                {"_id": self.instance_id},
                {"$inc": {"generation": 1}},
                return_document=ReturnDocument.AFTER,
            )
        if doc is None:
            raise LookupError(f"the fencing generation of instance {self.instance_id} vanished while taken")
        return int(doc["generation"])

    def current(self) -> Mapping[str, Any] | None:
        with op_deadline(self.timeout):
            return self.locks.find_one({"_id": self.instance_id})

    def insert(self, lease: Mapping[str, Any]) -> bool:
        """Take a free instance; False when a lease exists."""
        try:
            with op_deadline(self.timeout):
                self.locks.insert_one({"_id": self.instance_id, **lease})
        except DuplicateKeyError:
            return False
        return True

    def replace(self, seen: Mapping[str, Any], lease: Mapping[str, Any]) -> bool:
        """Take the instance over from the lease `seen`, only if it is still exactly that lease."""
        with op_deadline(self.timeout):
            replaced = self.locks.find_one_and_replace(
                {
                    "_id": self.instance_id,
                    "runID": seen.get("runID"),
                    "heartbeatAt": seen.get("heartbeatAt"),
                },
                {"_id": self.instance_id, **lease},
            )
        return replaced is not None

    def renew(self, run_id: str, generation: int, beat: float, lease_s: float) -> bool:
        """Push our lease's expiry on; False when it is no longer ours (taken over, or released)."""
        with op_deadline(self.timeout):
            kept = self.locks.update_one(
                {"_id": self.instance_id, "runID": run_id, "generation": generation},
                {"$set": {"heartbeatAt": beat, "expiresAt": beat + lease_s}},
            )
        return kept.matched_count == 1

    def release(self, run_id: str, generation: int) -> None:
        with op_deadline(self.timeout):
            self.locks.delete_one({"_id": self.instance_id, "runID": run_id, "generation": generation})
