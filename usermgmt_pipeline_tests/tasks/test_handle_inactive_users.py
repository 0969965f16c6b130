"""Task 3, handle_inactive_users: notify and mark (docs/tasks.md §1.3), delete marked users (§1.4)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from bson import Int64, ObjectId
from pymongo import MongoClient

from usermgmt_pipeline.emails.task_email import TaskEmail
from usermgmt_pipeline.tasks.handle_inactive_users import (
    delete_marked_users,
    handle_inactive_users,
    notify_inactive_users,
)
from usermgmt_pipeline.tasks.results import TaskFailedError
from usermgmt_pipeline_tests.case.test_messaging import assert_outgoing_email_shape
from usermgmt_pipeline_tests.tasks.helpers import GRACE, INACTIVE_AFTER, CaseEnv, make_env

TOKEN_IN_CONTENT = re.compile(r"token=([a-z2-7]{39})")


def threshold(env: CaseEnv) -> int:
    return env.t0 - INACTIVE_AFTER


def notified(env: CaseEnv) -> set[ObjectId]:
    return {ObjectId(d["userId"]) for d in env.outgoing.find({"messageType": "account-inactivity"})}


def test_both_activity_times_must_be_before_the_threshold_to_the_second(env: CaseEnv) -> None:
    env.add_templates()
    t = threshold(env)
    due = env.add_user(last_login=t - 1, last_token_refresh=t - 1)
    env.add_user(last_login=t, last_token_refresh=t - 1)
    env.add_user(last_login=t - 1, last_token_refresh=t)
    env.add_user(last_login=t + 1, last_token_refresh=t + 1)

    result = notify_inactive_users(env.context())

    assert notified(env) == {due["_id"]}
    assert (result.selected, result.done) == (1, 1)


def test_roles_mark_and_missing_fields_select_as_in_go(env: CaseEnv) -> None:
    env.add_templates()
    t = threshold(env) - 10
    plain = env.add_user(last_login=t, last_token_refresh=t)
    participant_role = env.add_user(last_login=t, last_token_refresh=t, roles=["PARTICIPANT"])
    unconfirmed = env.add_user(last_login=t, last_token_refresh=t, confirmed_at=0)
    negative_mark = env.add_user(last_login=t, last_token_refresh=t, marked_for_deletion=-5)
    null_mark = env.add_user(last_login=t, last_token_refresh=t)
    env.users.update_one({"_id": null_mark["_id"]}, {"$set": {"timestamps.markedForDeletion": None}})
    missing_mark = env.add_user(last_login=t, last_token_refresh=t)
    env.users.update_one({"_id": missing_mark["_id"]}, {"$unset": {"timestamps.markedForDeletion": ""}})
    skipped = [
        env.add_user(last_login=t, last_token_refresh=t, roles=[role])
        for role in ("SERVICE", "RESEARCHER", "ADMIN")
    ]
    skipped.append(env.add_user(last_login=t, last_token_refresh=t, marked_for_deletion=1))
    no_login = env.add_user(last_token_refresh=t)
    env.users.update_one({"_id": no_login["_id"]}, {"$unset": {"timestamps.lastLogin": ""}})
    no_refresh = env.add_user(last_login=t)
    env.users.update_one({"_id": no_refresh["_id"]}, {"$unset": {"timestamps.lastTokenRefresh": ""}})
    skipped += [no_login, no_refresh]
    skipped = [env.users.find_one({"_id": d["_id"]}) for d in skipped]

    notify_inactive_users(env.context())

    assert notified(env) == {
        d["_id"] for d in (plain, participant_role, unconfirmed, negative_mark, null_mark, missing_mark)
    }
    for doc in skipped:
        assert env.users.find_one({"_id": doc["_id"]}) == doc


def test_every_effect_of_an_inactivity_notice(env: CaseEnv) -> None:
    env.add_templates()
    t = threshold(env) - 1
    user = env.add_user(last_login=t, last_token_refresh=t, language="fr")  # no "fr": default language "en"
    hex_id = str(user["_id"])
    before = datetime.now(UTC)

    result = notify_inactive_users(env.context())

    assert result.done == 1
    token = env.temp_tokens.find_one({})
    assert token["purpose"] == "inactive-user-notification"
    assert token["userID"] == hex_id and token["instanceID"] == "inst"
    assert token["info"] == {"type": "email", "email": user["account"]["accountID"]}
    expiration = token["expiration"].replace(tzinfo=UTC)
    assert before + timedelta(seconds=GRACE - 2) <= expiration <= datetime.now(UTC) + timedelta(seconds=GRACE)
    email = env.outgoing.find_one({})
    assert_outgoing_email_shape(
        email, message_type="account-inactivity", user_id=hex_id, to=user["account"]["accountID"]
    )
    assert email["subject"] == "Still there?"
    assert TOKEN_IN_CONTENT.findall(email["content"]) == [token["token"]]
    stored = env.users.find_one({"_id": user["_id"]})
    assert stored["timestamps"]["markedForDeletion"] == env.t0 + GRACE
    assert isinstance(stored["timestamps"]["markedForDeletion"], Int64)
    assert env.temp_tokens.count_documents({}) == 1 and env.outgoing.count_documents({}) == 1


def test_zero_notify_threshold_disables_only_the_notice(
    tmp_path: Path, mongo_uri: str, mongo_client: MongoClient, db_prefix: str
) -> None:
    env = make_env(
        tmp_path,
        mongo_uri,
        mongo_client,
        db_prefix,
        user_management={"notify_after_inactive_for": "0s"},
        run_tasks=["clean_up_unverified_users"],
    )
    try:
        env.add_templates()
        inactive = env.add_user(last_login=1, last_token_refresh=1)
        env.add_user(marked_for_deletion=env.t0 - 1)

        notify_result, delete_result = handle_inactive_users(env.context())

        assert notify_result.extra == {"disabled": True} and notify_result.selected == 0
        assert delete_result.done == 1
        assert {d["_id"] for d in env.users.find()} == {inactive["_id"]}
    finally:
        env.close()


def test_marked_users_are_deleted_only_once_the_mark_is_strictly_past(env: CaseEnv) -> None:
    env.add_templates()
    past = env.add_user(marked_for_deletion=env.t0 - 1)
    now = env.add_user(marked_for_deletion=env.t0)
    future = env.add_user(marked_for_deletion=env.t0 + 1)
    zero = env.add_user(marked_for_deletion=0)
    negative = env.add_user(marked_for_deletion=-1)
    missing = env.add_user()
    env.users.update_one({"_id": missing["_id"]}, {"$unset": {"timestamps.markedForDeletion": ""}})
    admin = env.add_user(marked_for_deletion=env.t0 - 1, roles=["ADMIN"])  # no role filter in part B

    result = delete_marked_users(env.context())

    remaining = {d["_id"] for d in env.users.find()}
    assert remaining == {now["_id"], future["_id"], zero["_id"], negative["_id"], missing["_id"]}
    assert (result.selected, result.done) == (2, 1 + 1)
    emails = list(env.outgoing.find())
    assert sorted(e["userId"] for e in emails) == sorted([str(past["_id"]), str(admin["_id"])])
    for email in emails:
        assert_outgoing_email_shape(
            email,
            message_type="account-deleted-after-inactivity",
            user_id=email["userId"],
            to=next(d for d in (past, admin) if str(d["_id"]) == email["userId"])["account"]["accountID"],
        )
        assert email["content"] == "<p>Test &amp; Co: deleted.</p>"


def test_user_who_logs_in_before_the_deletion_is_kept(env: CaseEnv) -> None:
    """The participant API resets the mark to 0 on login; our delete is filtered by the selection."""
    from usermgmt_pipeline.tasks import selection
    from usermgmt_pipeline.tasks.handle_inactive_users import DELETE_MESSAGE_TYPE, DELETE_TASK
    from usermgmt_pipeline.tasks.iteration import run_in_batches
    from usermgmt_pipeline.tasks.results import TaskResult
    from usermgmt_pipeline.tasks.study_runtime import ensure_leave_rules
    from usermgmt_pipeline.tasks.user_deletion import DeletionSpec, all_studies, delete_users

    env.add_templates()
    returning = env.add_user(marked_for_deletion=env.t0 - 1)
    env.add_related_records(returning)
    ctx = env.context()
    chosen = selection.marked_to_delete(ctx.now_s())
    template = ctx.messaging.find_global_template(DELETE_MESSAGE_TYPE)
    ensure_leave_rules(ctx)
    result = TaskResult(DELETE_TASK, ctx.instance_id)

    def log_in_then_delete(users):
        env.users.update_one(
            {"_id": returning["_id"]},
            {"$set": {"timestamps.markedForDeletion": Int64(0), "timestamps.lastLogin": Int64(env.t0)}},
        )
        spec = DeletionSpec(DELETE_TASK, chosen, DELETE_MESSAGE_TYPE, template, all_studies(ctx))
        return delete_users(ctx, spec, users)

    run_in_batches(ctx, DELETE_TASK, chosen, result, log_in_then_delete)

    assert (result.selected, result.done, result.skipped) == (1, 0, 1)
    assert env.users.count_documents({"_id": returning["_id"]}) == 1
    assert env.user_attributes.count_documents({}) == 1 and env.renew_tokens.count_documents({}) == 1
    assert env.outgoing.count_documents({}) == 0


def test_user_who_logs_in_before_being_marked_gets_nothing(env: CaseEnv) -> None:
    from usermgmt_pipeline.case.users import decode_user
    from usermgmt_pipeline.tasks import selection
    from usermgmt_pipeline.tasks.notify_flow import NoticeSpec, send_notices

    env.add_templates()
    t = threshold(env) - 1
    doc = env.add_user(last_login=t, last_token_refresh=t)
    ctx = env.context()
    chosen = selection.inactive_to_notify(ctx.before(INACTIVE_AFTER * 10**9))
    user = decode_user(env.users.find_one({"_id": doc["_id"]}))
    env.users.update_one({"_id": doc["_id"]}, {"$set": {"timestamps.lastLogin": Int64(env.t0)}})
    spec = NoticeSpec(
        task="notify_inactive_users",
        email=TaskEmail("account-inactivity", token_purpose="inactive-user-notification"),
        token_ttl_ns=GRACE * 10**9,
        timestamp_field="markedForDeletion",
        timestamp_value=env.t0 + GRACE,
        selection=chosen,
    )

    template = ctx.messaging.find_global_template("account-inactivity")
    outcome = send_notices(ctx, spec, [user], template)[user.id]
    assert outcome.error is None and outcome.skipped is not None

    assert env.users.find_one({"_id": doc["_id"]})["timestamps"]["markedForDeletion"] == 0
    assert env.temp_tokens.count_documents({}) == 0 and env.outgoing.count_documents({}) == 0


@pytest.mark.parametrize(
    ("missing", "failing_part"), [("account-inactivity", 0), ("account-deleted-after-inactivity", 1)]
)
def test_missing_template_fails_its_part_before_touching_anyone(
    env: CaseEnv, missing: str, failing_part: int
) -> None:
    env.add_templates(
        [mt for mt in ("account-inactivity", "account-deleted-after-inactivity") if mt != missing]
    )
    t = threshold(env) - 1
    inactive = env.add_user(last_login=t, last_token_refresh=t)
    marked = env.add_user(marked_for_deletion=env.t0 - 1)
    before = {d["_id"]: d for d in env.users.find()}
    part = [notify_inactive_users, delete_marked_users][failing_part]

    with pytest.raises(TaskFailedError, match=missing):
        part(env.context())

    assert {d["_id"]: d for d in env.users.find()} == before
    assert env.outgoing.count_documents({}) == 0 and env.temp_tokens.count_documents({}) == 0
    assert {inactive["_id"], marked["_id"]} == set(before)


def test_undecodable_user_is_skipped_and_reported_in_both_parts(env: CaseEnv) -> None:
    env.add_templates()
    t = threshold(env) - 1
    bad_inactive = env.add_user(last_login=t, last_token_refresh=t)
    env.users.update_one({"_id": bad_inactive["_id"]}, {"$set": {"profiles": "oops"}})
    good_inactive = env.add_user(last_login=t, last_token_refresh=t)
    bad_marked = env.add_user(marked_for_deletion=env.t0 - 1)
    env.users.update_one({"_id": bad_marked["_id"]}, {"$set": {"timestamps.createdAt": "yesterday"}})
    good_marked = env.add_user(marked_for_deletion=env.t0 - 1)

    notify_result, delete_result = handle_inactive_users(env.context())

    assert notify_result.skip_reasons[0][0] == str(bad_inactive["_id"]) and notify_result.done == 1
    assert delete_result.skip_reasons[0][0] == str(bad_marked["_id"]) and delete_result.done == 1
    assert notified(env) == {good_inactive["_id"]}
    assert env.users.count_documents({"_id": good_marked["_id"]}) == 0
    assert env.users.count_documents({"_id": bad_marked["_id"]}) == 1


def test_a_user_whose_mark_is_cleared_without_a_login_is_warned_again_when_re_marked(env: CaseEnv) -> None:
    """As in Go: clearing `markedForDeletion` (an operator's or support's reprieve) makes the user a fresh
    candidate, and marking them again always comes with a new warning and token."""
    env.add_templates()
    t = threshold(env) - 1
    user = env.add_user(last_login=t, last_token_refresh=t)
    hex_id = str(user["_id"])
    notify_inactive_users(env.context())
    env.users.update_one({"_id": user["_id"]}, {"$set": {"timestamps.markedForDeletion": Int64(0)}})

    result = notify_inactive_users(env.context(t0=env.t0 + 60))

    assert (result.selected, result.done) == (1, 1)
    emails = list(env.outgoing.find({"userId": hex_id}, sort=[("_id", 1)]))
    tokens = {d["token"] for d in env.temp_tokens.find({"userID": hex_id})}
    assert [e["messageType"] for e in emails] == ["account-inactivity"] * 2
    second_token = TOKEN_IN_CONTENT.findall(emails[1]["content"])
    assert len(tokens) == 2 and second_token and second_token[0] in tokens
    assert second_token != TOKEN_IN_CONTENT.findall(emails[0]["content"])
    stored = env.users.find_one({"_id": user["_id"]})
    assert stored["timestamps"]["markedForDeletion"] == env.t0 + 60 + GRACE

    rerun = notify_inactive_users(env.context(t0=env.t0 + 120))  # marked again: nothing more to send

    assert rerun.selected == 0 and env.outgoing.count_documents({"userId": hex_id}) == 2
