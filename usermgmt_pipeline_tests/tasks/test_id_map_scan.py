"""The lookup checks' single sorted pass: the former two-pass results, fewer reads, memory that does not grow."""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import pytest
from bson import ObjectId
from pymongo import MongoClient

from usermgmt_pipeline.case.id_mapping import compute_participant_ids
from usermgmt_pipeline.demo.documents import user_document
from usermgmt_pipeline.tasks import id_map_scan, selection
from usermgmt_pipeline.tasks.context import TaskContext
from usermgmt_pipeline.tasks.generate_profile_id_lookup import (
    TASK,
    active_studies,
    add_missing_entries,
    lookup_consistency,
)
from usermgmt_pipeline.tasks.iteration import selected_users
from usermgmt_pipeline.tasks.results import TaskResult
from usermgmt_pipeline_tests.tasks.helpers import CaseEnv, make_env, run_counting_commands
from usermgmt_pipeline_tests.tasks.test_generate_profile_id_lookup import build_dataset, seed_same_data


def two_pass_consistency(ctx: TaskContext) -> dict[str, int]:
    """The former implementation, verbatim: every profile id in a set, each study's confidential IDs in a dict."""
    result = TaskResult(TASK, ctx.instance_id)
    studies = active_studies(ctx, result)
    profiles: set[str] = set()
    missing = duplicated = 0
    for user in selected_users(ctx, TASK, selection.ALL_USERS, result):
        profiles.update(p.id for p in user.profiles)
    for study in studies:
        counts: dict[str, int] = {}
        for doc in ctx.studies.id_map.find(
            {"studyKey": study.key}, projection={"_id": 0, "confidentialID": 1}
        ):
            counts[doc["confidentialID"]] = counts.get(doc["confidentialID"], 0) + 1
        for profile_id in profiles:
            n = counts.get(
                compute_participant_ids(study.identity, profile_id, ctx.global_secret).confidential_id, 0
            )
            missing += n == 0
            duplicated += n > 1
    orphans = 0
    for doc in ctx.studies.id_map.find({}, projection={"_id": 0, "profileID": 1}):
        orphans += doc.get("profileID") not in profiles
    return {"missing": missing, "duplicated": duplicated, "orphans": orphans, "profiles": len(profiles)}


def add_irregular_entries(env: CaseEnv, users: list[dict], studies: list[dict], unique_index: bool) -> None:
    """Entries of an undecodable user, without a profileID, of a closed study, a duplicate, a missing one."""
    undecodable = env.add_user(profiles=[(ObjectId(), True)])
    env.users.update_one({"_id": undecodable["_id"]}, {"$set": {"timestamps.lastLogin": "yesterday"}})
    env.add_id_map_entry(studies[0], undecodable["profiles"][0]["_id"])
    env.id_map.insert_one({"confidentialID": "no-profile", "studyKey": studies[0]["key"]})
    env.id_map.insert_one({"confidentialID": "n", "profileID": 42, "studyKey": studies[0]["key"]})
    env.add_id_map_entry(studies[-1], users[5]["profiles"][0]["_id"])  # the closed study's
    profile = users[7]["profiles"][0]["_id"]
    env.id_map.delete_many({"profileID": str(profile), "studyKey": studies[1]["key"]})  # now missing
    if not unique_index:
        env.add_id_map_entry(studies[2], users[9]["profiles"][0]["_id"])  # now held twice


@pytest.mark.parametrize("unique_index", [True, False], ids=["unique-index", "no-index"])
@pytest.mark.parametrize("lookup_ran", [True, False], ids=["after-lookup", "before-lookup"])
def test_one_pass_gives_the_two_pass_results(env: CaseEnv, unique_index: bool, lookup_ran: bool) -> None:
    users, studies, pre_existing = build_dataset(env.t0)
    seed_same_data(env, users, studies, pre_existing, unique_index)
    if lookup_ran:
        add_missing_entries(env.context())
        add_irregular_entries(env, users, studies, unique_index)

    before = two_pass_consistency(env.context())
    scan = lookup_consistency(env.context())

    assert (scan.missing, scan.duplicated, scan.profiles) == (
        before["missing"],
        before["duplicated"],
        before["profiles"],
    )
    # The former "orphans" also counted entries of undecodable users and entries without a string profileID.
    assert scan.orphans + scan.undecodable_user_entries + scan.unattributable_entries == before["orphans"]
    assert scan.orphans == 2  # build_dataset's "gone" and "someone-else" entries
    if lookup_ran:
        assert scan.missing == 1 and scan.duplicated == (0 if unique_index else 1)
        assert (scan.undecodable_user_entries, scan.unattributable_entries) == (1, 2)
    else:
        assert scan.missing > 0


def test_the_map_is_read_once_whatever_the_number_of_studies(env: CaseEnv) -> None:
    users, studies, _ = build_dataset(env.t0)
    seed_same_data(env, users, studies, [], unique_index=True)
    add_missing_entries(env.context())

    _, commands = run_counting_commands(env, lookup_consistency)

    on_map = [name for name, target in commands if target == "confidential-id-map"]
    assert on_map == ["listIndexes", "find"], commands  # former: a find per active study, plus one
    on_users = sorted(name for name, target in commands if target == "users")
    assert on_users == ["aggregate", "aggregate", "find"]


@pytest.fixture
def sized_env(tmp_path: Path, mongo_uri: str, mongo_client: MongoClient, db_prefix: str) -> Iterator:
    made: list[CaseEnv] = []

    def build(n_users: int) -> CaseEnv:
        (tmp_path / str(n_users)).mkdir()
        env = make_env(tmp_path / str(n_users), mongo_uri, mongo_client, f"{db_prefix}{n_users}_")
        made.append(env)
        for key in ("s1", "s2"):
            env.add_study(key, rules=None)
        env.users.insert_many([_user(env, i) for i in range(n_users)])
        add_missing_entries(env.context())
        return env

    yield build
    for env in made:
        env.close()


def _user(env: CaseEnv, i: int) -> dict:
    profiles = [(ObjectId(), True)] + [(ObjectId(), False)] * (i % 2)
    return user_document(account_id=f"u{i}@example.org", created_at=env.t0, profiles=profiles)


def peak_bytes(env: CaseEnv) -> tuple[int, int]:
    ctx = env.context()
    tracemalloc.start()
    try:
        scan = lookup_consistency(ctx)
        return tracemalloc.get_traced_memory()[1], scan.profiles
    finally:
        tracemalloc.stop()


def test_memory_stays_flat_when_the_instance_grows_tenfold(sized_env) -> None:  # type: ignore[no-untyped-def]
    small, small_profiles = peak_bytes(sized_env(400))
    large, large_profiles = peak_bytes(sized_env(4000))

    assert (small_profiles, large_profiles) == (600, 6000)
    # Cursor batches bound it (1 000 entries); the former sets grew with the profiles (~10x here).
    assert large < 1.5 * small, (small, large)


@pytest.mark.parametrize("unique_index", [True, False], ids=["unique-index", "no-index"])
def test_the_checks_of_a_run_reuse_the_ids_its_lookup_derived_and_find_the_same(
    env: CaseEnv, unique_index: bool
) -> None:
    """Issue 21: the lookup and its checks derived every participant ID twice (an AES call each). In one run
    (one run id) the checks now take the lookup's IDs and derive only those of profiles whose entry the map
    lacks; the counts are the former ones, irregular entries (missing, duplicated) included."""
    users, studies, pre_existing = build_dataset(env.t0)
    seed_same_data(env, users, studies, pre_existing, unique_index)
    run = env.context()
    add_missing_entries(run)
    add_irregular_entries(env, users, studies, unique_index)  # one entry removed after the lookup: missing
    expected = two_pass_consistency(env.context())

    with mock.patch.object(id_map_scan, "compute_participant_ids", wraps=compute_participant_ids) as derive:
        scan = lookup_consistency(run)

    assert (scan.missing, scan.duplicated) == (expected["missing"], expected["duplicated"])
    assert scan.counts() == lookup_consistency(env.context()).counts()  # another run: derived afresh
    by_key = {study["key"]: study for study in studies}
    derived_again = {(c.args[0].key, c.args[1]) for c in derive.call_args_list}
    assert len(derived_again) < scan.profiles  # not every profile x study again: only those below
    for study_key, profile_id in derived_again:  # derived again only where no own entry holds the ID
        _, confidential_id = env.ids(by_key[study_key], profile_id)
        own = {"profileID": profile_id, "studyKey": study_key, "confidentialID": confidential_id}
        assert env.id_map.count_documents(own) == 0, (study_key, profile_id)
