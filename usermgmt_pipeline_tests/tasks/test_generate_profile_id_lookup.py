"""Task 4, generate_profile_id_lookup (docs/tasks.md §1.5): the bulk version equals Go's per-entry algorithm."""

from __future__ import annotations

from pathlib import Path

import pytest
from bson import ObjectId
from pymongo import MongoClient

from usermgmt_pipeline.case.id_mapping import StudyIdentity, compute_participant_ids
from usermgmt_pipeline.demo.documents import user_document
from usermgmt_pipeline.tasks.generate_profile_id_lookup import add_missing_entries, lookup_consistency
from usermgmt_pipeline_tests.tasks.helpers import GLOBAL_SECRET, CaseEnv, make_env, run_counting_commands

METHODS = ("sha256", None, "same", "sha224-b64", "aesctr", "unknown-method")


def seed_same_data(
    env: CaseEnv, users: list[dict], studies: list[dict], pre_existing: list[dict], unique_index: bool = True
) -> None:
    env.users.insert_many([dict(u) for u in users])
    env.study_db["study-infos"].insert_many([dict(s) for s in studies])
    if (
        unique_index
    ):  # CASE's services create it (the fixtures have it); deployments that never ran them lack it
        env.id_map.create_index(
            [("confidentialID", 1), ("studyKey", 1)], unique=True, name="confidentialID_1_studyKey_1"
        )
    else:
        env.id_map.drop_indexes()
    if pre_existing:
        env.id_map.insert_many([dict(e) for e in pre_existing])


def go_per_entry_lookup(env: CaseEnv) -> None:
    """Go's algorithm, one round trip per profile x active study: find-one, insert if not found."""
    studies = list(env.study_db["study-infos"].find({"status": "active"}))
    for user in env.users.find({}):
        for profile in user.get("profiles") or []:
            for study in studies:
                identity = StudyIdentity(
                    study["key"], study["secretKey"], study["configs"].get("idMappingMethod") or ""
                )
                confidential_id = compute_participant_ids(
                    identity, str(profile["_id"]), GLOBAL_SECRET
                ).confidential_id
                if env.id_map.find_one({"confidentialID": confidential_id, "studyKey": study["key"]}) is None:
                    env.id_map.insert_one(
                        {
                            "confidentialID": confidential_id,
                            "profileID": str(profile["_id"]),
                            "studyKey": study["key"],
                        }
                    )


def map_entries(env: CaseEnv) -> list[tuple[str, str, str]]:
    return sorted(
        (d["confidentialID"], d["profileID"], d["studyKey"]) for d in env.id_map.find({}, {"_id": 0})
    )


def build_dataset(t0: int) -> tuple[list[dict], list[dict], list[dict]]:
    from usermgmt_pipeline.demo.documents import study_document

    users = []
    for i in range(40):  # more than one cursor batch of 32
        profiles = [(ObjectId(), True)] + [(ObjectId(), False) for _ in range(i % 3)]
        users.append(user_document(account_id=f"u{i}@example.org", created_at=t0 - i, profiles=profiles))
    no_profiles = user_document(account_id="none@example.org", created_at=t0)
    null_profiles = user_document(account_id="null@example.org", created_at=t0)
    null_profiles["profiles"] = None
    users += [no_profiles, null_profiles]
    studies = [study_document(f"s-{m or 'default'}", f"secret-{m}", id_mapping_method=m) for m in METHODS]
    studies.append(study_document("closed", "closed-secret", status="inactive"))
    # pre-existing entries: one correct, one with a *different* profileID under the right confidential ID
    # (Go never checks the profileID of an existing entry), one for an unknown profile (left alone)
    study = studies[0]
    identity = StudyIdentity(study["key"], study["secretKey"], "sha256")
    first = str(users[0]["profiles"][0]["_id"])
    second = str(users[1]["profiles"][0]["_id"])
    pre_existing = [
        {
            "confidentialID": compute_participant_ids(identity, first, GLOBAL_SECRET).confidential_id,
            "profileID": first,
            "studyKey": study["key"],
        },
        {
            "confidentialID": compute_participant_ids(identity, second, GLOBAL_SECRET).confidential_id,
            "profileID": "someone-else",
            "studyKey": study["key"],
        },
        {"confidentialID": "orphan", "profileID": "gone", "studyKey": study["key"]},
    ]
    return users, studies, pre_existing


@pytest.mark.parametrize("unique_index", [True, False], ids=["unique-index", "no-index"])
def test_bulk_lookup_equals_the_per_entry_result_and_a_rerun_creates_nothing(
    tmp_path: Path, mongo_uri: str, mongo_client: MongoClient, db_prefix: str, unique_index: bool
) -> None:
    (tmp_path / "bulk").mkdir()
    (tmp_path / "go").mkdir()
    bulk = make_env(tmp_path / "bulk", mongo_uri, mongo_client, db_prefix + "bulk_")
    per_entry = make_env(tmp_path / "go", mongo_uri, mongo_client, db_prefix + "go_")
    try:
        users, studies, pre_existing = build_dataset(bulk.t0)
        seed_same_data(bulk, users, studies, pre_existing, unique_index)
        seed_same_data(per_entry, users, studies, pre_existing, unique_index)

        result = add_missing_entries(bulk.context())
        go_per_entry_lookup(per_entry)

        assert result.extra["unique_index"] is unique_index
        expected_profiles = sum(len(u["profiles"] or []) for u in users)
        assert map_entries(bulk) == map_entries(per_entry)
        assert len(map_entries(bulk)) == expected_profiles * len(METHODS) + 1  # + the orphan
        assert result.extra["created"] == expected_profiles * len(METHODS) - 2
        assert result.extra["already_present"] == 2
        assert (result.selected, result.done, result.failed, result.skipped) == (len(users), len(users), 0, 0)
        assert bulk.id_map.count_documents({"studyKey": "closed"}) == 0
        sample = bulk.id_map.find_one({"studyKey": "s-default"})
        assert sorted(sample) == ["_id", "confidentialID", "profileID", "studyKey"]
        assert all(isinstance(sample[k], str) for k in ("confidentialID", "profileID", "studyKey"))
        assert isinstance(sample["_id"], ObjectId)

        rerun = add_missing_entries(bulk.context())

        assert rerun.extra["created"] == 0
        assert rerun.extra["already_present"] == expected_profiles * len(METHODS)
        assert map_entries(bulk) == map_entries(per_entry)
    finally:
        bulk.close()
        per_entry.close()
        for name in mongo_client.list_database_names():
            if name.startswith(db_prefix):
                mongo_client.drop_database(name)


def test_a_rerun_with_nothing_new_sends_no_write_and_reads_the_map_once(env: CaseEnv) -> None:
    env.id_map.create_index([("confidentialID", 1), ("studyKey", 1)], unique=True)
    studies = [env.add_study("s1"), env.add_study("s2", method="same")]
    users = [env.add_user(profiles=[(ObjectId(), True), (ObjectId(), False)]) for _ in range(30)]
    first = add_missing_entries(env.context())
    env.add_user(profiles=[(ObjectId(), True)])

    rerun, commands = run_counting_commands(env, add_missing_entries)

    assert first.extra["created"] == 60 * len(studies)
    assert (rerun.extra["created"], rerun.extra["already_present"]) == (len(studies), 60 * len(studies))
    assert env.id_map.count_documents({}) == 61 * len(studies) and len(users) == 30
    map_commands = [name for name, collection in commands if collection == "confidential-id-map"]
    assert map_commands == ["listIndexes", "find", "insert", "insert"]  # one insert per study: the new user


def test_undecodable_user_is_skipped_and_reported(env: CaseEnv) -> None:
    env.add_study("s1")
    bad = env.add_user(profiles=[(ObjectId(), True)])
    env.users.update_one({"_id": bad["_id"]}, {"$set": {"profiles.0._id": "not-an-object-id"}})
    good = env.add_user(profiles=[(ObjectId(), True)])

    result = add_missing_entries(env.context())

    assert result.skip_reasons[0][0] == str(bad["_id"])
    assert [d["profileID"] for d in env.id_map.find()] == [str(good["profiles"][0]["_id"])]


def test_dry_run_counts_without_writing(env: CaseEnv) -> None:
    env.add_study("s1")
    env.add_user(profiles=[(ObjectId(), True), (ObjectId(), False)])

    result = add_missing_entries(env.context(dry_run=True))

    assert result.extra["created"] == 2
    assert env.id_map.count_documents({}) == 0


def test_consistency_counts_missing_duplicated_and_orphan_entries(env: CaseEnv) -> None:
    env.id_map.drop_indexes()  # no unique index (CASE's services never ran): a duplicate entry can exist
    studies = [env.add_study("s1"), env.add_study("s2", method=None), env.add_study("old", status="inactive")]
    profiles = [ObjectId() for _ in range(4)]
    env.add_user(profiles=[(profiles[0], True), (profiles[1], False)])
    env.add_user(profiles=[(profiles[2], True)])
    env.add_user(profiles=[(profiles[3], True)])
    add_missing_entries(env.context())
    scan = lookup_consistency(env.context())
    assert (scan.missing, scan.duplicated, scan.orphans, scan.unattributable_entries, scan.profiles) == (
        0,
        0,
        0,
        0,
        4,
    )

    env.id_map.delete_one({"profileID": str(profiles[0]), "studyKey": "s1"})
    env.id_map.delete_one({"profileID": str(profiles[3]), "studyKey": "s2"})
    env.add_id_map_entry(studies[1], profiles[2])  # a second entry for the same profile x study
    env.id_map.insert_one({"confidentialID": "x", "profileID": str(ObjectId()), "studyKey": "s1"})
    env.id_map.insert_one({"confidentialID": "y", "profileID": None, "studyKey": "old"})

    scan = lookup_consistency(env.context())
    # The entry without a profileID is kept and reported apart from the orphan (no profile can be named by it).
    assert (scan.missing, scan.duplicated, scan.orphans, scan.unattributable_entries, scan.profiles) == (
        2,
        1,
        1,
        1,
        4,
    )
