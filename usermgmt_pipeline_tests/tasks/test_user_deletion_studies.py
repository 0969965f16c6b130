"""The study side of deleting a user (docs/tasks.md §2.2 with the docs/decisions.md fixes): the erasure always runs."""

from __future__ import annotations

from bson import ObjectId

from usermgmt_pipeline.demo.documents import exp_arg, on_leave, str_arg
from usermgmt_pipeline.tasks.clean_up_unverified_users import clean_up_unverified_users
from usermgmt_pipeline_tests.tasks.helpers import DELETE_UNVERIFIED_AFTER, CaseEnv


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
