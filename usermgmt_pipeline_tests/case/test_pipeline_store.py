"""Our journal's fencing on a real server: a run's writes match only entries no newer run has claimed."""

from __future__ import annotations

import pytest
from bson import ObjectId
from pymongo import MongoClient

from usermgmt_pipeline.case.journal import JournalEntry, State
from usermgmt_pipeline.case.leases import LeaseLost
from usermgmt_pipeline.case.pipeline_store import PipelineStore


def entry(key: str) -> JournalEntry:
    return JournalEntry(key, "task", "inst", str(ObjectId()), State.PENDING, 1, ObjectId())


def test_a_journal_write_matches_only_entries_no_newer_run_has_claimed(
    mongo_client: MongoClient, db_prefix: str
) -> None:
    db = mongo_client[f"{db_prefix}usermgmt-pipeline"]
    frozen, newer = PipelineStore(db, 10, generation=5), PipelineStore(db, 10, generation=6)
    frozen.open_entries([entry("a"), entry("b")])
    newer.claim(["b"])
    newer.update_many(["b"], {"state": State.DONE.value})

    with pytest.raises(LeaseLost, match="1 of 2 journal entries were claimed by a newer lease generation"):
        frozen.update_many(["a", "b"], {"state": State.SELECTION_CHANGED.value})

    claimed = db["journal"].find_one({"_id": "b"})
    assert (claimed["state"], claimed["fence"]) == ("done", 6)  # the newer run's transition stands
    with pytest.raises(LeaseLost):
        frozen.claim(["b"])  # and it cannot claim the entry back


def test_a_key_named_twice_in_one_write_is_one_entry_not_a_lost_lease(
    mongo_client: MongoClient, db_prefix: str
) -> None:
    store = PipelineStore(mongo_client[f"{db_prefix}usermgmt-pipeline"], 10, generation=3)
    store.open_entries([entry("c")])

    store.update_many(["c", "c"], {"state": State.DONE.value})

    assert store.journal.find_one({"_id": "c"})["state"] == "done"
