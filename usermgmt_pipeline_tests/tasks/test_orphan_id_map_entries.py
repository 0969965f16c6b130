"""The lookup step removes map entries of deleted accounts: audited, guarded, and never those of live users."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from bson import ObjectId
from pymongo import MongoClient

from usermgmt_pipeline.tasks.context import RunOptions
from usermgmt_pipeline.tasks.generate_profile_id_lookup import lookup_consistency
from usermgmt_pipeline.tasks.registry import TASKS
from usermgmt_pipeline.tasks.results import MassDeletionGuardError
from usermgmt_pipeline_tests.tasks.helpers import CaseEnv, make_env

LOOKUP = TASKS["generate_profile_id_lookup"]


@pytest.fixture
def guarded(tmp_path: Path, mongo_uri: str, mongo_client: MongoClient, db_prefix: str) -> Iterator[CaseEnv]:
    """30 users in one study, the map as a lookup made it, CASE's unique index, a 10% share applied to any
    number of orphan entries (the default minimum, 10, is tested on its own below)."""
    env = make_env(
        tmp_path, mongo_uri, mongo_client, db_prefix, max_deletion_share=0.10, min_guarded_orphan_entries=0
    )
    env.id_map.create_index([("confidentialID", 1), ("studyKey", 1)], unique=True)
    study = env.add_study("s1")
    for _ in range(30):
        user = env.add_user(profiles=[(ObjectId(), True)], confirmed_at=env.t0)
        env.add_id_map_entry(study, user["profiles"][0]["_id"])
    yield env
    env.close()


def add_orphans(env: CaseEnv, n: int) -> list[str]:
    profiles = [str(ObjectId()) for _ in range(n)]
    env.id_map.insert_many(
        [{"confidentialID": f"gone-{p}", "profileID": p, "studyKey": "s1"} for p in profiles]
    )
    return profiles


def test_orphans_are_removed_and_audited_and_live_entries_kept(guarded: CaseEnv) -> None:
    orphans = add_orphans(guarded, 2)
    undecodable = guarded.add_user(profiles=[(ObjectId(), True)])
    guarded.users.update_one({"_id": undecodable["_id"]}, {"$set": {"account.accountConfirmedAt": "never"}})
    kept_profile = str(undecodable["profiles"][0]["_id"])
    guarded.id_map.insert_one(
        {"confidentialID": "undecodable-user", "profileID": kept_profile, "studyKey": "s1"}
    )
    guarded.id_map.insert_one({"confidentialID": "no-profile", "studyKey": "s1"})

    [result] = LOOKUP(guarded.context())

    assert (result.extra["orphan_entries"], result.extra["orphan_entries_removed"]) == (2, 2)
    assert sorted(result.extra["orphan_profile_sample"]) == sorted(orphans)
    assert guarded.id_map.count_documents({"profileID": {"$in": orphans}}) == 0
    assert guarded.id_map.count_documents({"profileID": kept_profile}) == 1
    assert guarded.id_map.count_documents({"confidentialID": "no-profile"}) == 1
    assert guarded.id_map.count_documents({}) == 32
    audit = guarded.client[f"{guarded.prefix}usermgmt-pipeline"]["audit"]
    records = list(audit.find({"action": "remove-orphan-id-map-entry"}))
    assert sorted(r["details"]["profileID"] for r in records) == sorted(orphans)
    assert {(r["details"]["studyKey"], r["outcome"], r["userID"]) for r in records} == {("s1", "done", "")}
    after = lookup_consistency(guarded.context())
    assert (after.orphans, after.undecodable_user_entries, after.unattributable_entries) == (0, 1, 1)


def test_an_entry_naming_a_live_profile_in_capitals_is_not_taken_for_an_orphan(guarded: CaseEnv) -> None:
    """Candidates are checked against the users collection again before they count (as for a user created
    after the sorted read began): a hex id in capitals escapes the merge, but Go's ObjectIDFromHex reads it."""
    user = guarded.add_user(profiles=[(ObjectId(), True)], confirmed_at=guarded.t0)
    upper = str(user["profiles"][0]["_id"]).upper()
    guarded.id_map.insert_one({"confidentialID": "upper", "profileID": upper, "studyKey": "s1"})

    [result] = LOOKUP(guarded.context())

    assert result.extra["orphan_entries"] == 0
    assert guarded.id_map.count_documents({"profileID": upper}) == 1


def test_a_dry_run_counts_orphans_and_removes_nothing(guarded: CaseEnv) -> None:
    orphans = add_orphans(guarded, 3)

    [result] = LOOKUP(guarded.context(dry_run=True))

    assert (result.extra["orphan_entries"], result.extra["orphan_entries_removed"]) == (3, 0)
    assert result.guard is not None and "would pass" in result.guard.verdict
    assert guarded.id_map.count_documents({"profileID": {"$in": orphans}}) == 3


def test_more_orphans_than_the_share_trip_the_guard_until_overridden(guarded: CaseEnv) -> None:
    orphans = add_orphans(guarded, 4)  # 4 of 34 entries: 11.8%

    with pytest.raises(MassDeletionGuardError) as tripped:
        LOOKUP(guarded.context())

    assert "4 of 34 confidential-ID map entries of deleted accounts (11.8%)" in str(tripped.value)
    assert guarded.id_map.count_documents({"profileID": {"$in": orphans}}) == 4

    [result] = LOOKUP(guarded.context(allow_mass_deletion=True))

    assert result.extra["orphan_entries_removed"] == 4
    assert guarded.id_map.count_documents({"profileID": {"$in": orphans}}) == 0


def test_an_entry_left_under_a_live_profiles_confidential_id_is_replaced_in_the_same_run(
    guarded: CaseEnv,
) -> None:
    study = guarded.study_db["study-infos"].find_one({"key": "s1"})
    user = guarded.add_user(profiles=[(ObjectId(), True)], confirmed_at=guarded.t0)
    profile = user["profiles"][0]["_id"]
    _, cid = guarded.ids(study, profile)
    gone = str(ObjectId())
    guarded.id_map.insert_one({"confidentialID": cid, "profileID": gone, "studyKey": "s1"})

    [result] = LOOKUP(guarded.context())

    assert result.extra["orphan_entries_removed"] == 1 and result.extra["created"] == 1
    assert [e["profileID"] for e in guarded.id_map.find({"confidentialID": cid})] == [str(profile)]


def test_the_run_guard_counts_orphans_before_the_first_deletion(guarded: CaseEnv) -> None:
    """A run's first deleting step stops the run when the orphans alone exceed the share."""
    guarded.add_templates()
    unverified = guarded.add_user(profiles=[(ObjectId(), True)])  # old and unconfirmed: selected
    add_orphans(guarded, 4)
    ctx = guarded.context()
    ctx.options = RunOptions(run_tasks=("clean_up_unverified_users", "generate_profile_id_lookup"))

    with pytest.raises(MassDeletionGuardError, match="nothing was deleted"):
        TASKS["clean_up_unverified_users"](ctx)  # as the run calls it: the run's tasks set its deleting steps

    assert guarded.users.count_documents({"_id": unverified["_id"]}) == 1


# ------------------------------------------------------------------ the minimum below which the share does not apply


@pytest.fixture
def tiny_legacy(
    tmp_path: Path, mongo_uri: str, mongo_client: MongoClient, db_prefix: str
) -> Iterator[CaseEnv]:
    """A small legacy instance at the defaults (10%, minimum 10): two users, no map entry of theirs yet, and
    the one entry an account deleted by the Go job left behind."""
    env = make_env(tmp_path, mongo_uri, mongo_client, db_prefix, max_deletion_share=0.10)
    env.add_study("s1")
    for _ in range(2):
        env.add_user(profiles=[(ObjectId(), True)], confirmed_at=env.t0)
    yield env
    env.close()


def test_a_tiny_instance_whose_one_deletion_is_an_orphan_entry_passes_the_guard(tiny_legacy: CaseEnv) -> None:
    [orphan] = add_orphans(tiny_legacy, 1)  # "1 of 1 entries (100 %)" tripped every run before

    [dry] = LOOKUP(tiny_legacy.context(dry_run=True))
    assert dry.guard is not None
    assert "would pass: 1 of 1 confidential-ID map entries" in dry.guard.verdict
    assert "orchestration.min_guarded_orphan_entries=10" in dry.guard.verdict

    [result] = LOOKUP(tiny_legacy.context())

    assert (result.extra["orphan_entries"], result.extra["orphan_entries_removed"]) == (1, 1)
    assert tiny_legacy.id_map.count_documents({"profileID": orphan}) == 0
    assert tiny_legacy.id_map.count_documents({}) == 2  # the live users' entries, written by the lookup


def test_every_entry_an_orphan_above_the_minimum_still_trips_the_guard(tiny_legacy: CaseEnv) -> None:
    """The misconfiguration the share is for: the users database is empty or mistyped, so every entry of a
    map larger than the minimum looks like an orphan."""
    for user in tiny_legacy.users.find({}):
        tiny_legacy.add_id_map_entry(
            tiny_legacy.study_db["study-infos"].find_one({"key": "s1"}), user["profiles"][0]["_id"]
        )
    orphans = add_orphans(tiny_legacy, 9)
    tiny_legacy.users.delete_many({})  # as if users_db pointed at an empty database: 11 of 11 look orphaned

    with pytest.raises(MassDeletionGuardError) as tripped:
        LOOKUP(tiny_legacy.context())

    assert "11 of 11 confidential-ID map entries of deleted accounts (100.0%)" in str(tripped.value)
    assert "min_guarded_orphan_entries=10" in str(tripped.value)
    assert tiny_legacy.id_map.count_documents({}) == 11
    assert tiny_legacy.id_map.count_documents({"profileID": {"$in": orphans}}) == 9
