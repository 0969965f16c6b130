"""The study side of deleting a user (docs/tasks.md §2.2 with the docs/decisions.md fixes): the erasure always runs."""

from __future__ import annotations

import pytest
from bson import DatetimeMS, ObjectId

from usermgmt_pipeline.demo.documents import (
    exp_arg,
    on_leave,
    participant_document,
    str_arg,
    study_document,
)
from usermgmt_pipeline.tasks.clean_up_unverified_users import clean_up_unverified_users
from usermgmt_pipeline_tests.tasks.helpers import DELETE_UNVERIFIED_AFTER, INSTANCE, CaseEnv


def doomed_user(env: CaseEnv, profile: ObjectId) -> dict:
    return env.add_user(created_at=env.t0 - DELETE_UNVERIFIED_AFTER - 1, profiles=[(profile, True)])


def assert_erased(env: CaseEnv, study: dict, profile: ObjectId) -> dict:
    participant_id, confidential_id = env.ids(study, profile)
    key = study["key"]
    state = env.study_db[f"{key}_participants"].find_one({"participantID": participant_id})
    assert state["studyStatus"] == "accountDeleted"
    assert (
        env.study_db[f"{key}_confidentialResponses"].count_documents({"participantID": confidential_id}) == 0
    )
    assert env.id_map.count_documents({"profileID": str(profile), "studyKey": key}) == 0
    return state


def test_study_without_rules_document_is_still_erased(env: CaseEnv) -> None:
    env.add_templates()
    study = env.add_study("no-rules", rules=None)
    profile = ObjectId()
    user = doomed_user(env, profile)
    env.add_participant(study, profile, flags={"keep": "me"})
    env.add_confidential_response(study, profile)
    env.add_id_map_entry(study, profile)

    result = clean_up_unverified_users(env.context())

    assert (result.done, result.failed) == (1, 0)
    state = assert_erased(env, study, profile)
    assert state["flags"] == {"keep": "me"}  # no rules ran
    assert env.study_db["no-rules_reports"].count_documents({}) == 0
    journal = env.journal.find_one({"userID": str(user["_id"])})
    assert journal["state"] == "done"
    assert any("no-rules" in f and "no studyRules document" in f for f in journal["ruleFailures"])


def test_failing_rule_keeps_no_partial_reports_but_erases(env: CaseEnv) -> None:
    """SEND_MESSAGE_NOW always fails in this job (no message sender); at top level it aborts the study's rule
    run, the report an earlier rule created is discarded, as in Go, and the erasure steps still run (the fix).
    """
    env.add_templates()
    failing = [
        on_leave(exp_arg("INIT_REPORT", str_arg("leave"))),
        {"name": "SEND_MESSAGE_NOW", "data": [str_arg("goodbye")]},  # top level: aborts the rule run
    ]
    study = env.add_study("failing", rules=failing)
    ok_study = env.add_study("ok")
    profile = ObjectId()
    user = doomed_user(env, profile)
    for s in (study, ok_study):
        env.add_participant(s, profile)
        env.add_confidential_response(s, profile)
        env.add_id_map_entry(s, profile)

    result = clean_up_unverified_users(env.context())

    assert result.done == 1
    assert_erased(env, study, profile)
    assert_erased(env, ok_study, profile)
    assert env.study_db["failing_reports"].count_documents({}) == 0
    assert [r["responseID"] for r in env.study_db["ok_reports"].find()] == ["LEAVE"]
    journal = env.journal.find_one({"userID": str(user["_id"])})
    assert len(journal["ruleFailures"]) == 1 and journal["ruleFailures"][0].startswith("failing:")


def test_profile_without_participant_still_has_its_id_map_entries_removed(env: CaseEnv) -> None:
    env.add_templates()
    study = env.add_study("s")
    profile = ObjectId()
    doomed_user(env, profile)
    env.add_id_map_entry(study, profile)

    clean_up_unverified_users(env.context())

    assert env.id_map.count_documents({}) == 0
    assert env.study_db["s_participants"].count_documents({}) == 0  # no participant is created


def test_participants_in_any_status_are_processed(env: CaseEnv) -> None:
    env.add_templates()
    study = env.add_study("s")
    profiles = {status: ObjectId() for status in ("exited", "temporary", "accountDeleted")}
    for status, profile in profiles.items():
        doomed_user(env, profile)
        env.add_participant(study, profile, status=status)

    clean_up_unverified_users(env.context())

    for profile in profiles.values():
        assert_erased(env, study, profile)
    assert env.study_db["s_reports"].count_documents({"responseID": "LEAVE"}) == 3


# --- one study whose data does not decode must not stop the erasure (issue 11) ---------------------------

BROKEN_PARTICIPANTS = {
    "flags-not-a-map": {"flags": "not-a-map"},
    "enteredAt-a-string": {"enteredAt": "yesterday"},
    "_id-a-string": {"_id": "not-an-object-id"},
    # the driver itself cannot decode a date beyond year 9999
    "enteredAt-a-date-beyond-year-9999": {"enteredAt": DatetimeMS(2**62)},
}


def user_in_three_studies(env: CaseEnv, middle: dict, profile: ObjectId) -> tuple[dict, list[dict]]:
    """A doomed user with data in `first`, `middle` and `later` (in that order), and tokens of every kind."""
    first, later = env.add_study("first"), env.add_study("later")
    env.study_db["study-infos"].delete_many({})
    env.study_db["study-infos"].insert_many([first, middle, later])  # the broken study in the middle
    user = doomed_user(env, profile)
    env.add_related_records(user)
    for study in (first, later):
        env.add_participant(study, profile)
        env.add_confidential_response(study, profile)
        env.add_id_map_entry(study, profile)
    return user, [first, later]


def assert_whole_deletion_done(env: CaseEnv, user: dict, studies: list[dict], profile: ObjectId) -> None:
    hex_id = str(user["_id"])
    assert env.users.find_one({"_id": user["_id"]}) is None
    for study in studies:
        assert_erased(env, study, profile)
    assert env.temp_tokens.count_documents({"userID": hex_id, "instanceID": INSTANCE}) == 0
    assert env.renew_tokens.count_documents({"userID": hex_id}) == 0
    assert [e["messageType"] for e in env.outgoing.find({"userId": hex_id})] == ["account-deleted"]


@pytest.mark.parametrize("changes", list(BROKEN_PARTICIPANTS.values()), ids=list(BROKEN_PARTICIPANTS))
def test_an_undecodable_participant_is_erased_by_a_targeted_update_and_the_deletion_completes(
    env: CaseEnv, changes: dict
) -> None:
    env.add_templates()
    middle = env.add_study("middle")
    profile = ObjectId()
    user, others = user_in_three_studies(env, middle, profile)
    participant_id, confidential_id = env.ids(middle, profile)
    broken = {**participant_document(participant_id, flags={"keep": "me"}), **changes}
    env.study_db["middle_participants"].insert_one(broken)
    env.add_confidential_response(middle, profile)
    env.add_id_map_entry(middle, profile)

    for run in ("first run", "rerun"):
        result = clean_up_unverified_users(env.context())

        assert_whole_deletion_done(env, user, others, profile)
        stored = env.study_db["middle_participants"].find_one(
            {"participantID": participant_id}, projection={"studyStatus": 1}
        )
        assert stored["studyStatus"] == "accountDeleted", run
        assert (
            env.study_db["middle_participants"].count_documents({}) == 1
        )  # updated in place, no new document
        assert (
            env.study_db["middle_confidentialResponses"].count_documents({"participantID": confidential_id})
            == 0
        )
        assert env.id_map.count_documents({"profileID": str(profile)}) == 0
        journal = env.journal.find_one({"userID": str(user["_id"])})
        assert journal["state"] == "done", run
        assert any(f.startswith("middle:") and "does not decode" in f for f in journal["ruleFailures"])
    assert (result.selected, result.failed, result.extra["resumed"]) == (0, 0, 0)  # the rerun found nothing


def test_an_undecodable_participant_is_reported_as_a_leave_rule_failure(env: CaseEnv) -> None:
    env.add_templates()
    middle = env.add_study("middle")
    profile = ObjectId()
    user_in_three_studies(env, middle, profile)
    participant_id, _ = env.ids(middle, profile)
    env.study_db["middle_participants"].insert_one({**participant_document(participant_id), "flags": 7})

    result = clean_up_unverified_users(env.context())

    assert (result.done, result.failed) == (1, 0)
    assert result.extra["leave_rule_failures"] == 1
    [detail] = result.extra["leave_rule_failure_details"]
    assert "study middle" in detail and "flags" in detail and "does not decode" in detail


def test_a_study_key_that_cannot_name_a_collection_still_has_its_id_map_entries_removed(env: CaseEnv) -> None:
    """`$` is invalid in a MongoDB collection name: such a study can hold no participant data, but the shared
    ID map can hold entries for it."""
    env.add_templates()
    middle = study_document("mid$dle", "mid-secret", id_mapping_method="sha256")
    profile = ObjectId()
    user, others = user_in_three_studies(env, middle, profile)
    env.add_id_map_entry(middle, profile)
    other_profile = ObjectId()
    env.add_id_map_entry(middle, other_profile)  # someone else's entry stays

    for run in ("first run", "rerun"):
        result = clean_up_unverified_users(env.context())

        assert_whole_deletion_done(env, user, others, profile)
        assert env.id_map.count_documents({"profileID": str(profile)}) == 0, run
        assert env.id_map.count_documents({"profileID": str(other_profile), "studyKey": "mid$dle"}) == 1
        assert env.journal.find_one({"userID": str(user["_id"])})["state"] == "done", run
        assert result.failed == 0
        assert any("mid$dle" in p and "collection" in p for p in result.extra["study_problems"]), run


def test_an_undecodable_study_document_is_reported_every_run_until_fixed_and_everything_else_is_done(
    env: CaseEnv,
) -> None:
    """Without a decodable `secretKey` the participant IDs cannot be derived, so the study's participant data
    cannot be located: the deletion finishes every other step, and every rerun says exactly what is left."""
    env.add_templates()
    middle = env.add_study("middle")
    profile = ObjectId()
    user, others = user_in_three_studies(env, middle, profile)
    env.add_participant(middle, profile)
    _, confidential_id = env.ids(middle, profile)
    env.add_confidential_response(middle, profile)
    env.add_id_map_entry(middle, profile)
    infos = env.study_db["study-infos"]
    infos.update_one({"key": "middle"}, {"$set": {"secretKey": 12345}})
    hex_id = str(user["_id"])

    for run in ("first run", "rerun"):
        result = clean_up_unverified_users(env.context())

        assert_whole_deletion_done(env, user, others, profile)
        assert env.id_map.count_documents({"profileID": str(profile)}) == 0, run  # no secret needed for these
        [(failed_id, reason)] = result.failure_reasons
        assert failed_id == hex_id and "study middle" in reason and "secretKey" in reason, (run, reason)
        journal = env.journal.find_one({"userID": hex_id})
        assert journal["state"] == "studies_pending", run
        assert any(e["study"] == "middle" and "secretKey" in e["error"] for e in journal["studyErrors"]), run
    assert result.extra["resumed"] == 0  # the rerun resumed it, and it still failed

    infos.update_one({"key": "middle"}, {"$set": {"secretKey": "middle-secret"}})  # the operator fixes it
    result = clean_up_unverified_users(env.context())

    assert (result.failed, result.extra["resumed"]) == (0, 1)
    assert_whole_deletion_done(env, user, [*others, middle], profile)
    assert (
        env.study_db["middle_confidentialResponses"].count_documents({"participantID": confidential_id}) == 0
    )
    assert env.journal.find_one({"userID": hex_id})["state"] == "done"


def test_a_study_with_a_broken_status_field_is_still_erased_normally(env: CaseEnv) -> None:
    """Only the key, secret and ID-mapping method are needed to erase a study's data."""
    env.add_templates()
    middle = env.add_study("middle")
    profile = ObjectId()
    user, others = user_in_three_studies(env, middle, profile)
    env.add_participant(middle, profile)
    env.add_confidential_response(middle, profile)
    env.add_id_map_entry(middle, profile)
    env.study_db["study-infos"].update_one({"key": "middle"}, {"$set": {"status": ["active"]}})

    result = clean_up_unverified_users(env.context())

    assert (result.done, result.failed) == (1, 0)
    assert_whole_deletion_done(env, user, [*others, middle], profile)


def test_a_study_whose_erasure_fails_is_retried_by_every_run_and_never_holds_back_tokens_or_email(
    env: CaseEnv,
) -> None:
    """A write the server refuses (here: a unique index the new participant state violates) fails that study
    only; the rerun after the cause is gone finishes it, with no second email and no second LEAVE report."""
    env.add_templates()
    middle = env.add_study("middle")
    profile = ObjectId()
    user, others = user_in_three_studies(env, middle, profile)
    env.add_participant(middle, profile)
    env.add_confidential_response(middle, profile)
    env.study_db["middle_participants"].insert_one(
        participant_document("someone-else", status="accountDeleted")
    )
    env.study_db["middle_participants"].drop_index("studyStatus_1")  # CASE's plain one, on the same key
    env.study_db["middle_participants"].create_index("studyStatus", unique=True, name="blocker")
    hex_id = str(user["_id"])

    result = clean_up_unverified_users(env.context())

    assert_whole_deletion_done(env, user, others, profile)
    [(failed_id, reason)] = result.failure_reasons
    assert failed_id == hex_id and "study middle: saving participant state failed" in reason
    assert env.journal.find_one({"userID": hex_id})["state"] == "studies_pending"
    assert env.study_db["middle_reports"].count_documents({}) == 1  # the LEAVE report is in; the state is not

    env.study_db["middle_participants"].drop_index("blocker")
    result = clean_up_unverified_users(env.context())

    assert (result.failed, result.extra["resumed"]) == (0, 1)
    assert_whole_deletion_done(env, user, [*others, middle], profile)
    assert env.study_db["middle_reports"].count_documents({}) == 1
    journal = env.journal.find_one({"userID": hex_id})
    assert journal["state"] == "done"
    assert not {"studyErrors", "retryOutcomes", "pendingStudy"} & set(journal)
