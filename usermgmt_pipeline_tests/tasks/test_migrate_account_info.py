"""Task 5, migrate_account_info (docs/tasks.md §1.6, §2.3): hashedAccountID per method, isMainProfile, Go field order."""

from __future__ import annotations

from pathlib import Path

import pytest
from bson import Int64, ObjectId
from pymongo import MongoClient

from usermgmt_pipeline.case.id_mapping import profile_id_to_participant_id
from usermgmt_pipeline.demo.documents import study_document
from usermgmt_pipeline.tasks.migrate_account_info import migrate_account_info
from usermgmt_pipeline_tests.tasks.helpers import GLOBAL_SECRET, CaseEnv, make_env

GO_PARTICIPANT_FIELDS = [
    "_id",
    "participantID",
    "currentStudySession",
    "modifiedAt",
    "enteredAt",
    "studyStatus",
    "flags",
    "linkingCodes",
    "assignedSurveys",
    "lastSubmission",
    "messages",
    "hashedAccountID",
    "isMainProfile",
]
# docs/tasks.md §5.3 case C: map("user@example.com") with global "globalsecret", study "studysecret"
CASE_C = {
    "same": "user@example.com",
    "sha224": "17997dd36d067b750c18d9c862689b9261c504cc70e28934806d4a40",
    "sha224-b64": "F5l9020Ge3UMGNnIYmibkmHFBMxw4ok0gG1KQA",
    "sha256": "e3daaf288e18c209377b84167883d7f83a3472114cd081d94fc36483662c9b3f",
    "sha256-b64": "49qvKI4Ywgk3e4QWeIPX-Do0chFM0IHZT8Nkg2Ysmz8",
    "aesctr": "f483ba2b75c86f6505f3b6762bcf46ef",
    "": "f483ba2b75c86f6505f3b6762bcf46ef",
}


def participant(env: CaseEnv, study: dict, profile: ObjectId) -> dict:
    participant_id, _ = env.ids(study, profile)
    return env.study_db[f"{study['key']}_participants"].find_one({"participantID": participant_id})


@pytest.mark.parametrize("method", list(CASE_C))
def test_hashed_account_id_is_the_case_c_vector_of_the_study_method(
    tmp_path: Path, mongo_uri: str, mongo_client: MongoClient, db_prefix: str, method: str
) -> None:
    env = make_env(tmp_path, mongo_uri, mongo_client, db_prefix, global_secret="globalsecret")
    try:
        study = env.add_study("tracked", method=method, track_account=True, secret="studysecret")
        profile = ObjectId()
        env.add_user(account_id="user@example.com", profiles=[(profile, True)])
        env.add_participant(study, profile)

        result = migrate_account_info(env.context())

        stored = participant(env, study, profile)
        assert stored["hashedAccountID"] == CASE_C[method]
        assert stored["isMainProfile"] is True
        assert result.extra["migrated_participants"] == 1
    finally:
        env.close()


def test_every_profile_gets_its_main_flag_and_the_go_field_order(env: CaseEnv) -> None:
    study = env.add_study("tracked", track_account=True)
    untracked = env.add_study("untracked", track_account=False)
    inactive = env.add_study("inactive", track_account=True, status="inactive")
    first, main, third = ObjectId(), ObjectId(), ObjectId()
    env.add_user(account_id="a@example.org", profiles=[(first, False), (main, True), (third, False)])
    for profile in (first, main, third):
        env.add_participant(study, profile, status="exited", entered_at=100, flags={"k": "v"})
        env.add_participant(untracked, profile)
        env.add_participant(inactive, profile)
    extra_field = participant(env, study, first)
    env.study_db["tracked_participants"].update_one({"_id": extra_field["_id"]}, {"$set": {"legacy": 1}})

    result = migrate_account_info(env.context())

    assert result.extra["migrated_participants"] == 3
    for profile, is_main in ((first, False), (main, True), (third, False)):
        stored = participant(env, study, profile)
        assert list(stored) == GO_PARTICIPANT_FIELDS
        assert stored["isMainProfile"] is is_main
        assert stored["studyStatus"] == "exited"  # any status is migrated, status unchanged
        assert stored["flags"] == {"k": "v"}
        assert stored["enteredAt"] == 100 and isinstance(stored["enteredAt"], Int64)
        assert isinstance(stored["modifiedAt"], Int64) and abs(int(stored["modifiedAt"]) - env.t0) < 120
        assert stored["linkingCodes"] is None and stored["messages"] is None
        assert "legacy" not in stored  # re-encoded from the Go struct: unknown fields dropped
        for other in (untracked, inactive):
            assert "hashedAccountID" not in participant(env, other, profile)


def test_already_migrated_and_missing_participants_are_untouched(env: CaseEnv) -> None:
    study = env.add_study("tracked", track_account=True)
    done, empty_hash, absent = ObjectId(), ObjectId(), ObjectId()
    env.add_user(account_id="a@example.org", profiles=[(done, True), (empty_hash, False), (absent, False)])
    env.add_participant(study, done)
    env.add_participant(study, empty_hash)
    pid_done, _ = env.ids(study, done)
    pid_empty, _ = env.ids(study, empty_hash)
    collection = env.study_db["tracked_participants"]
    collection.update_one(
        {"participantID": pid_done}, {"$set": {"hashedAccountID": "old", "isMainProfile": False}}
    )
    collection.update_one({"participantID": pid_empty}, {"$set": {"hashedAccountID": ""}})
    before = {d["participantID"]: d for d in collection.find()}

    result = migrate_account_info(env.context())

    assert result.extra["migrated_participants"] == 0
    assert {d["participantID"]: d for d in collection.find()} == before
    assert collection.count_documents({}) == 2  # no participant created for the profile that never took part


def test_null_hashed_account_id_counts_as_not_migrated(env: CaseEnv) -> None:
    study = env.add_study("tracked", track_account=True)
    profile = ObjectId()
    env.add_user(account_id="a@example.org", profiles=[(profile, True)])
    env.add_participant(study, profile)
    pid, _ = env.ids(study, profile)
    env.study_db["tracked_participants"].update_one(
        {"participantID": pid}, {"$set": {"hashedAccountID": None}}
    )

    migrate_account_info(env.context())

    assert participant(env, study, profile)["hashedAccountID"] == profile_id_to_participant_id(
        "a@example.org", GLOBAL_SECRET, "tracked-secret", "sha256"
    )


def test_user_without_account_id_is_skipped(env: CaseEnv) -> None:
    study = env.add_study("tracked", track_account=True)
    profile = ObjectId()
    user = env.add_user(account_id="", profiles=[(profile, True)])
    env.add_participant(study, profile)

    result = migrate_account_info(env.context())

    assert "hashedAccountID" not in participant(env, study, profile)
    assert result.skip_reasons == [(str(user["_id"]), "no account ID")]


def test_no_tracking_study_means_nothing_to_do(env: CaseEnv) -> None:
    study = env.add_study("untracked")
    profile = ObjectId()
    env.add_user(account_id="a@example.org", profiles=[(profile, True)])
    env.add_participant(study, profile)

    result = migrate_account_info(env.context())

    assert result.selected == 0 and result.extra["tracking_studies"] == []
    assert "hashedAccountID" not in participant(env, study, profile)


def test_undecodable_user_is_skipped_and_reported(env: CaseEnv) -> None:
    study = env.add_study("tracked", track_account=True)
    bad_profile, good_profile = ObjectId(), ObjectId()
    bad = env.add_user(account_id="bad@example.org", profiles=[(bad_profile, True)])
    env.users.update_one({"_id": bad["_id"]}, {"$set": {"profiles.0.mainProfile": "yes"}})
    env.add_user(account_id="good@example.org", profiles=[(good_profile, True)])
    env.add_participant(study, bad_profile)
    env.add_participant(study, good_profile)

    result = migrate_account_info(env.context())

    assert result.skip_reasons[0][0] == str(bad["_id"]) and "mainProfile" in result.skip_reasons[0][1]
    assert "hashedAccountID" not in participant(env, study, bad_profile)
    assert "hashedAccountID" in participant(env, study, good_profile)


def test_an_undecodable_participant_fails_the_user_but_not_its_other_studies(env: CaseEnv) -> None:
    broken_study = env.add_study("broken", track_account=True)
    later_study = env.add_study("later", track_account=True)
    profile = ObjectId()
    user = env.add_user(account_id="a@example.org", profiles=[(profile, True)])
    env.add_participant(broken_study, profile)
    env.add_participant(later_study, profile)
    pid, _ = env.ids(broken_study, profile)
    env.study_db["broken_participants"].update_one({"participantID": pid}, {"$set": {"flags": "x"}})

    result = migrate_account_info(env.context())

    assert participant(env, later_study, profile)["isMainProfile"] is True
    assert "hashedAccountID" not in participant(env, broken_study, profile)
    [(failed_id, reason)] = result.failure_reasons
    assert failed_id == str(user["_id"]) and "study broken" in reason and "flags" in reason
    assert result.extra["migrated_participants"] == 1


def test_a_tracking_study_whose_key_cannot_name_a_collection_fails_nobody(env: CaseEnv) -> None:
    env.study_db["study-infos"].insert_one(study_document("bad$key", "s", track_account=True))
    study = env.add_study("tracked", track_account=True)
    profile = ObjectId()
    env.add_user(account_id="a@example.org", profiles=[(profile, True)])
    env.add_participant(study, profile)

    result = migrate_account_info(env.context())

    assert (result.done, result.failed) == (1, 0)
    assert participant(env, study, profile)["isMainProfile"] is True
