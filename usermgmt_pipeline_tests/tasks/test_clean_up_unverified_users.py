"""Task 1, clean_up_unverified_users (docs/tasks.md §1.1, §2): filter boundaries, every effect, error paths and fixes."""

from __future__ import annotations

from pathlib import Path

import pytest
from bson import Int64, ObjectId
from pymongo import MongoClient

from usermgmt_pipeline.case.users import decode_user
from usermgmt_pipeline.demo.documents import user_document
from usermgmt_pipeline.tasks import selection
from usermgmt_pipeline.tasks.checkpoints import install_checkpoint_hook
from usermgmt_pipeline.tasks.clean_up_unverified_users import MESSAGE_TYPE, TASK, clean_up_unverified_users
from usermgmt_pipeline.tasks.iteration import run_in_batches
from usermgmt_pipeline.tasks.registry import TASKS
from usermgmt_pipeline.tasks.results import MassDeletionGuardError, TaskFailedError, TaskResult
from usermgmt_pipeline.tasks.study_runtime import ensure_leave_rules
from usermgmt_pipeline.tasks.user_deletion import DeletionSpec, all_studies, delete_users
from usermgmt_pipeline_tests.case.test_messaging import assert_outgoing_email_shape
from usermgmt_pipeline_tests.tasks.helpers import (
    DELETE_UNVERIFIED_AFTER,
    CaseEnv,
    make_env,
    run_counting_commands,
)

THRESHOLD_OFFSET = DELETE_UNVERIFIED_AFTER


def threshold(env: CaseEnv) -> int:
    return env.t0 - THRESHOLD_OFFSET


def remaining_ids(env: CaseEnv) -> set[ObjectId]:
    return {d["_id"] for d in env.users.find({}, {"_id": 1})}


def test_creation_time_boundary_is_strict_to_the_second(env: CaseEnv) -> None:
    env.add_templates()
    before = env.add_user(created_at=threshold(env) - 1)
    at = env.add_user(created_at=threshold(env))
    after = env.add_user(created_at=threshold(env) + 1)

    result = clean_up_unverified_users(env.context())

    assert remaining_ids(env) == {at["_id"], after["_id"]}
    assert (result.selected, result.done, result.skipped, result.failed) == (1, 1, 0, 0)
    assert before["_id"] not in remaining_ids(env)


def test_confirmation_must_equal_zero_of_any_numeric_type(env: CaseEnv) -> None:
    env.add_templates()
    old = threshold(env) - 10
    confirmed = env.add_user(created_at=old, confirmed_at=1)
    int32_zero = env.add_user(created_at=old)
    env.users.update_one({"_id": int32_zero["_id"]}, {"$set": {"account.accountConfirmedAt": 0}})
    double_zero = env.add_user(created_at=old)
    env.users.update_one({"_id": double_zero["_id"]}, {"$set": {"account.accountConfirmedAt": 0.0}})
    missing = env.add_user(created_at=old)
    env.users.update_one({"_id": missing["_id"]}, {"$unset": {"account.accountConfirmedAt": ""}})
    null = env.add_user(created_at=old)
    env.users.update_one({"_id": null["_id"]}, {"$set": {"account.accountConfirmedAt": None}})

    result = clean_up_unverified_users(env.context())

    assert remaining_ids(env) == {confirmed["_id"], missing["_id"], null["_id"]}
    assert result.done == 2


def test_missing_null_or_non_numeric_creation_time_never_matches(env: CaseEnv) -> None:
    env.add_templates()
    kept = []
    for value in ("missing", None, "12"):
        doc = env.add_user(created_at=0)
        if value == "missing":
            env.users.update_one({"_id": doc["_id"]}, {"$unset": {"timestamps.createdAt": ""}})
        else:
            env.users.update_one({"_id": doc["_id"]}, {"$set": {"timestamps.createdAt": value}})
        kept.append(doc["_id"])

    result = clean_up_unverified_users(env.context())

    assert remaining_ids(env) == set(kept)
    assert result.selected == 0


def test_array_creation_time_matches_like_mongodb_but_is_skipped_as_undecodable(env: CaseEnv) -> None:
    """`{createdAt: {$lt: t}}` matches an array with a smaller element (MongoDB semantics, as for Go), and
    Go could not decode such a user: it is skipped and reported, never deleted."""
    env.add_templates()
    odd = env.add_user(created_at=0)
    env.users.update_one({"_id": odd["_id"]}, {"$set": {"timestamps.createdAt": [Int64(1)]}})
    normal = env.add_user(created_at=threshold(env) - 1)

    result = clean_up_unverified_users(env.context())

    assert remaining_ids(env) == {odd["_id"]}
    assert (result.selected, result.done, result.skipped) == (2, 1, 1)
    assert result.skip_reasons == [
        (str(odd["_id"]), "undecodable: timestamps.createdAt is list, expected an integer")
    ]
    assert [d["userId"] for d in env.outgoing.find()] == [str(normal["_id"])]


def test_undecodable_user_is_skipped_with_its_id_and_the_rest_processed(env: CaseEnv) -> None:
    env.add_templates()
    old = threshold(env) - 10
    broken = env.add_user(created_at=old)
    env.users.update_one({"_id": broken["_id"]}, {"$set": {"account.preferredLanguage": 42}})
    good = [env.add_user(created_at=old) for _ in range(3)]

    result = clean_up_unverified_users(env.context())

    assert remaining_ids(env) == {broken["_id"]}
    assert (result.selected, result.done, result.skipped) == (4, 3, 1)
    assert result.skip_reasons[0][0] == str(broken["_id"])
    assert "account.preferredLanguage" in result.skip_reasons[0][1]
    assert env.outgoing.count_documents({}) == len(good)


def test_every_effect_of_deleting_a_user(env: CaseEnv) -> None:
    env.add_templates()
    study_a = env.add_study("study-a", method="sha256")
    study_b = env.add_study("study-b", method=None, status="inactive")  # AES-CTR; inactive studies too
    main, other = ObjectId(), ObjectId()
    user = env.add_user(created_at=threshold(env) - 1, language="de", profiles=[(main, True), (other, False)])
    bystander = env.add_user(created_at=threshold(env) + 1, profiles=[(ObjectId(), True)])
    env.add_related_records(user)
    env.add_related_records(bystander)
    for study in (study_a, study_b):
        for profile in (main, other):
            env.add_participant(study, profile, status="active")
            env.add_confidential_response(study, profile)
            env.add_id_map_entry(study, profile)
    bystander_profile = bystander["profiles"][0]["_id"]
    env.add_participant(study_a, bystander_profile)
    env.add_confidential_response(study_a, bystander_profile)
    env.add_id_map_entry(study_a, bystander_profile)
    hex_id = str(user["_id"])

    result = clean_up_unverified_users(env.context())

    assert (result.selected, result.done, result.failed) == (1, 1, 0)
    # users DB
    assert remaining_ids(env) == {bystander["_id"]}
    assert [d["userId"] for d in env.user_attributes.find()] == [bystander["_id"]]
    assert [d["userID"] for d in env.renew_tokens.find()] == [str(bystander["_id"])]
    # temp tokens: all of this instance's tokens of the user, other instances' untouched
    assert sorted((d["userID"], d["instanceID"]) for d in env.temp_tokens.find()) == sorted(
        [(hex_id, "other"), (str(bystander["_id"]), "inst"), (str(bystander["_id"]), "other")]
    )
    # the deletion notice
    emails = list(env.outgoing.find())
    assert len(emails) == 1
    assert_outgoing_email_shape(
        emails[0], message_type="account-deleted", user_id=hex_id, to=user["account"]["accountID"]
    )
    assert emails[0]["subject"] == "Account deleted (de)"
    assert emails[0]["content"] == "<p>Your Test &amp; Co account was deleted (de).</p>"
    assert emails[0]["headerOverrides"] == {
        "from": "noreply@example.org",
        "sender": "",
        "replyTo": ["help@example.org"],
        "noReplyTo": False,
    }
    # studies: every profile in every study (inactive included)
    for study in (study_a, study_b):
        key = study["key"]
        for profile in (main, other):
            participant_id, confidential_id = env.ids(study, profile)
            state = env.study_db[f"{key}_participants"].find_one({"participantID": participant_id})
            assert state["studyStatus"] == "accountDeleted"
            assert isinstance(state["modifiedAt"], Int64)
            assert abs(int(state["modifiedAt"]) - env.t0) < 120
            assert state["flags"] == {"leftReason": "accountDeleted"}
            assert (
                env.study_db[f"{key}_confidentialResponses"].count_documents(
                    {"participantID": confidential_id}
                )
                == 0
            )
            assert env.id_map.count_documents({"profileID": str(profile), "studyKey": key}) == 0
            reports = list(env.study_db[f"{key}_reports"].find({"participantID": participant_id}))
            assert len(reports) == 1
            assert reports[0]["responseID"] == "LEAVE"
            assert reports[0]["key"] == "leave"
            assert isinstance(reports[0]["timestamp"], Int64)
    # the bystander's study data is untouched
    participant_id, confidential_id = env.ids(study_a, bystander_profile)
    assert (
        env.study_db["study-a_participants"].find_one({"participantID": participant_id})["studyStatus"]
        == "active"
    )
    assert (
        env.study_db["study-a_confidentialResponses"].count_documents({"participantID": confidential_id}) == 1
    )
    assert env.id_map.count_documents({"profileID": str(bystander_profile)}) == 1


def test_missing_template_fails_before_touching_anyone(env: CaseEnv) -> None:
    env.add_templates(["registration", "account-inactivity"])
    doomed = env.add_user(created_at=threshold(env) - 1)
    env.add_related_records(doomed)

    with pytest.raises(TaskFailedError, match="account-deleted") as caught:
        clean_up_unverified_users(env.context())

    assert caught.value.result.done == 0
    assert remaining_ids(env) == {doomed["_id"]}
    assert env.user_attributes.count_documents({}) == 1
    assert env.temp_tokens.count_documents({}) == 2
    assert env.outgoing.count_documents({}) == 0


def test_a_template_with_an_empty_study_key_does_not_count_as_present(env: CaseEnv) -> None:
    env.add_templates(["registration"])
    env.messaging_db["email-templates"].update_one(
        {}, {"$set": {"messageType": MESSAGE_TYPE, "studyKey": ""}}
    )
    env.add_user(created_at=threshold(env) - 1)

    with pytest.raises(TaskFailedError):
        clean_up_unverified_users(env.context())

    assert env.users.count_documents({}) == 1


def test_user_who_confirms_between_selection_and_deletion_is_left_alone(env: CaseEnv) -> None:
    env.add_templates()
    study = env.add_study("study-a")
    profile = ObjectId()
    racer = env.add_user(created_at=threshold(env) - 1, profiles=[(profile, True)])
    plain = env.add_user(created_at=threshold(env) - 1)
    env.add_related_records(racer)
    env.add_participant(study, profile)
    env.add_id_map_entry(study, profile)
    ctx = env.context()
    chosen = selection.unverified_to_delete(ctx.before(DELETE_UNVERIFIED_AFTER * 10**9))
    template = ctx.messaging.find_global_template(MESSAGE_TYPE)
    ensure_leave_rules(ctx)
    studies = all_studies(ctx)
    result = TaskResult(TASK, ctx.instance_id)

    def confirm_then_delete(users):  # the participant API confirms the account after our read of the batch
        assert str(racer["_id"]) in {user.id for user in users}
        env.users.update_one({"_id": racer["_id"]}, {"$set": {"account.accountConfirmedAt": Int64(env.t0)}})
        return delete_users(ctx, DeletionSpec(TASK, chosen, MESSAGE_TYPE, template, studies), users)

    run_in_batches(ctx, TASK, chosen, result, confirm_then_delete)

    assert remaining_ids(env) == {racer["_id"]}
    assert (result.selected, result.done, result.skipped) == (2, 1, 1)
    assert dict(result.skip_reasons)[str(racer["_id"])].startswith("no longer selected")
    assert env.user_attributes.count_documents({"userId": racer["_id"]}) == 1
    assert env.renew_tokens.count_documents({"userID": str(racer["_id"])}) == 1
    assert env.temp_tokens.count_documents({"userID": str(racer["_id"])}) == 2
    assert env.outgoing.count_documents({"userId": str(racer["_id"])}) == 0
    participant_id, _ = env.ids(study, profile)
    assert (
        env.study_db["study-a_participants"].find_one({"participantID": participant_id})["studyStatus"]
        == "active"
    )
    assert env.id_map.count_documents({"profileID": str(profile)}) == 1
    assert env.outgoing.count_documents({"userId": str(plain["_id"])}) == 1


def test_a_user_who_confirms_while_their_batch_is_in_flight_is_left_alone_and_the_rest_are_deleted(
    env: CaseEnv,
) -> None:
    """The batch's journal is open (the cursor read all three) when one of them confirms: the batch's
    `delete_many` is filtered by the selection, so that user keeps everything and the two others go."""
    env.add_templates()
    study = env.add_study("study-a")
    profiles = [ObjectId() for _ in range(3)]
    users = [env.add_user(created_at=threshold(env) - 1, profiles=[(p, True)]) for p in profiles]
    for user, profile in zip(users, profiles, strict=True):
        env.add_related_records(user)
        env.add_participant(study, profile)
        env.add_id_map_entry(study, profile)
    racer = users[1]

    def confirm_mid_batch(name: str) -> None:
        if name == "delete:journal-opened":
            env.users.update_one(
                {"_id": racer["_id"]}, {"$set": {"account.accountConfirmedAt": Int64(env.t0)}}
            )

    remove = install_checkpoint_hook(confirm_mid_batch)
    try:
        result = clean_up_unverified_users(env.context())
    finally:
        remove()

    assert (result.selected, result.done, result.skipped, result.failed) == (3, 2, 1, 0)
    assert remaining_ids(env) == {racer["_id"]}
    assert env.user_attributes.count_documents({"userId": racer["_id"]}) == 1
    assert env.renew_tokens.count_documents({"userID": str(racer["_id"])}) == 1
    assert env.outgoing.distinct("userId") == sorted(str(u["_id"]) for u in users if u is not racer)
    for profile in profiles:
        participant_id, _ = env.ids(study, profile)
        status = env.study_db["study-a_participants"].find_one({"participantID": participant_id})[
            "studyStatus"
        ]
        assert status == ("active" if profile == profiles[1] else "accountDeleted")
        assert env.id_map.count_documents({"profileID": str(profile)}) == (1 if profile == profiles[1] else 0)


def test_the_commands_of_a_batch_of_deletions_do_not_grow_with_its_users(env: CaseEnv) -> None:
    """Each step of a batch is one bulk call, also the study side: 5 users and 45 users, each with a profile
    that took part in two studies (LEAVE rules, participant state, confidential responses, map entries),
    cost the same number of commands. (Writes with a statement per user go 50 statements to a command:
    `STATEMENTS_PER_COMMAND`, a FerretDB limit.)"""
    env.add_templates()
    studies = [env.add_study("study-a"), env.add_study("study-b", method="")]

    def seed_users(n: int) -> None:
        for _ in range(n):
            profile = ObjectId()
            user = env.add_user(created_at=threshold(env) - 1, profiles=[(profile, True)])
            env.add_related_records(user)
            for study in studies:
                env.add_participant(study, profile)
                env.add_id_map_entry(study, profile)

    seed_users(5)
    few, few_commands = run_counting_commands(env, clean_up_unverified_users)
    seed_users(45)
    many, many_commands = run_counting_commands(env, clean_up_unverified_users)

    assert (few.done, many.done, few.failed, many.failed) == (5, 45, 0, 0)
    assert env.users.count_documents({}) == 0 and env.id_map.count_documents({}) == 0
    assert env.outgoing.count_documents({}) == 50
    for study in studies:
        participants = env.study_db[f"{study['key']}_participants"]
        assert participants.count_documents({"studyStatus": "accountDeleted"}) == 50
    assert len(many_commands) == len(few_commands), (few_commands, many_commands)
    assert len(many_commands) <= 35, many_commands


def test_a_batch_of_more_than_a_hundred_deletions_with_study_data_completes(env: CaseEnv) -> None:
    """One batch of 150 users who all took part in a study: its participant saves and journal writes are
    150 statements each, which FerretDB v1 cannot take in one command (it waited forever at 250)."""
    env.add_templates()
    study = env.add_study("study-a")
    profiles = [ObjectId() for _ in range(150)]
    env.users.insert_many(
        [
            user_document(account_id=f"u{i}@example.org", created_at=threshold(env) - 1, profiles=[(p, True)])
            for i, p in enumerate(profiles)
        ]
    )
    for profile in profiles:
        env.add_participant(study, profile)

    result = clean_up_unverified_users(env.context())

    assert (result.done, result.failed) == (150, 0)
    assert env.users.count_documents({}) == 0 and env.outgoing.count_documents({}) == 150
    participants = env.study_db["study-a_participants"]
    assert participants.count_documents({"studyStatus": "accountDeleted"}) == 150
    assert env.journal.count_documents({"state": "done"}) == 150


def test_a_user_read_by_an_earlier_selection_is_not_deleted_once_it_no_longer_matches(env: CaseEnv) -> None:
    env.add_templates()
    user_doc = env.add_user(created_at=threshold(env) - 1)
    ctx = env.context()
    chosen = selection.unverified_to_delete(ctx.before(DELETE_UNVERIFIED_AFTER * 10**9))
    stale = decode_user(env.users.find_one({"_id": user_doc["_id"]}))
    env.users.update_one({"_id": user_doc["_id"]}, {"$set": {"account.accountConfirmedAt": Int64(env.t0)}})
    ensure_leave_rules(ctx)

    spec = DeletionSpec(TASK, chosen, MESSAGE_TYPE, ctx.messaging.find_global_template(MESSAGE_TYPE), [])
    outcome = delete_users(ctx, spec, [stale])[stale.id]

    assert outcome.error is None and outcome.skipped is not None
    assert remaining_ids(env) == {user_doc["_id"]}
    assert env.outgoing.count_documents({}) == 0
    # the next run, with the user selected again, does delete it (the abandoned journal entry is reopened)
    env.users.update_one({"_id": user_doc["_id"]}, {"$set": {"account.accountConfirmedAt": Int64(0)}})
    assert clean_up_unverified_users(env.context()).done == 1
    assert remaining_ids(env) == set()
    assert env.outgoing.count_documents({}) == 1


def test_only_clean_up_enabled_works_for_users_with_profiles(
    tmp_path: Path, mongo_uri: str, mongo_client: MongoClient, db_prefix: str
) -> None:
    env = make_env(tmp_path, mongo_uri, mongo_client, db_prefix, run_tasks=["clean_up_unverified_users"])
    try:
        env.add_templates(["account-deleted"])
        study = env.add_study("study-a")
        profile = ObjectId()
        env.add_user(created_at=env.t0 - THRESHOLD_OFFSET - 1, profiles=[(profile, True)])
        env.add_participant(study, profile)
        assert env.config.run_tasks.enabled() == ["clean_up_unverified_users"]

        results = [r for name in env.config.run_tasks.enabled() for r in TASKS[name](env.context())]

        assert [(r.task, r.done, r.failed) for r in results] == [("clean_up_unverified_users", 1, 0)]
        assert env.users.count_documents({}) == 0
        participant_id, _ = env.ids(study, profile)
        assert (
            env.study_db["study-a_participants"].find_one({"participantID": participant_id})["studyStatus"]
            == "accountDeleted"
        )
    finally:
        env.close()


def test_mass_deletion_guard_trips_before_any_deletion(
    tmp_path: Path, mongo_uri: str, mongo_client: MongoClient, db_prefix: str
) -> None:
    env = make_env(tmp_path, mongo_uri, mongo_client, db_prefix, max_deletion_share=0.5)
    try:
        env.add_templates()
        doomed = [env.add_user(created_at=env.t0 - THRESHOLD_OFFSET - 1) for _ in range(3)]
        env.add_user(created_at=env.t0)
        for doc in doomed:
            env.add_related_records(doc)

        with pytest.raises(MassDeletionGuardError, match="3 of 4 users") as caught:
            clean_up_unverified_users(env.context())

        assert caught.value.result.done == 0
        assert env.users.count_documents({}) == 4
        assert env.user_attributes.count_documents({}) == 3
        assert env.outgoing.count_documents({}) == 0
        # the explicit override lets the same run through
        assert clean_up_unverified_users(env.context(allow_mass_deletion=True)).done == 3
        assert env.users.count_documents({}) == 1
    finally:
        env.close()


def test_guard_allows_a_share_at_the_limit(
    tmp_path: Path, mongo_uri: str, mongo_client: MongoClient, db_prefix: str
) -> None:
    env = make_env(tmp_path, mongo_uri, mongo_client, db_prefix, max_deletion_share=0.5)
    try:
        env.add_templates()
        env.add_user(created_at=env.t0 - THRESHOLD_OFFSET - 1)
        env.add_user(created_at=env.t0)

        assert clean_up_unverified_users(env.context()).done == 1
    finally:
        env.close()


def test_dry_run_reports_without_writing(env: CaseEnv) -> None:
    env.add_templates()
    doomed = env.add_user(created_at=threshold(env) - 1)

    result = clean_up_unverified_users(env.context(dry_run=True))

    assert result.dry_run and result.selected == 1
    assert result.sample_user_ids == [str(doomed["_id"])]
    assert env.users.count_documents({}) == 1
    assert env.outgoing.count_documents({}) == 0
    assert env.journal.count_documents({}) == 0


def test_users_without_profiles_or_with_null_profiles_are_deleted(env: CaseEnv) -> None:
    env.add_templates()
    env.add_study("study-a")
    no_profiles = env.add_user(created_at=threshold(env) - 1)
    null_profiles = user_document(account_id="n@example.org", created_at=threshold(env) - 1)
    null_profiles["profiles"] = None
    env.add_raw_user(null_profiles)

    result = clean_up_unverified_users(env.context())

    assert result.done == 2
    assert env.users.count_documents({}) == 0
    assert sorted(d["userId"] for d in env.outgoing.find()) == sorted(
        [str(no_profiles["_id"]), str(null_profiles["_id"])]
    )
