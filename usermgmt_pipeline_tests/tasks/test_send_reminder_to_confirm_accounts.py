"""Task 2, send_reminder_to_confirm_accounts (docs/tasks.md §1.2): filter boundaries, token + email + update, fixes."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from bson import Int64, ObjectId

from usermgmt_pipeline.tasks.results import TaskFailedError
from usermgmt_pipeline.tasks.send_reminder_to_confirm_accounts import send_reminder_to_confirm_accounts
from usermgmt_pipeline_tests.case.test_messaging import assert_outgoing_email_shape
from usermgmt_pipeline_tests.tasks.helpers import REMIND_AFTER, TOKEN_TTL, CaseEnv

TOKEN_IN_CONTENT = re.compile(r"token=([a-z2-7]{39})")


def threshold(env: CaseEnv) -> int:
    return env.t0 - REMIND_AFTER


def reminded(env: CaseEnv) -> set[ObjectId]:
    return {ObjectId(d["userId"]) for d in env.outgoing.find({"messageType": "registration"})}


def test_creation_time_boundary_is_strict_to_the_second(env: CaseEnv) -> None:
    env.add_templates()
    before = env.add_user(created_at=threshold(env) - 1)
    env.add_user(created_at=threshold(env))
    env.add_user(created_at=threshold(env) + 1)

    result = send_reminder_to_confirm_accounts(env.context())

    assert reminded(env) == {before["_id"]}
    assert (result.selected, result.done) == (1, 1)


def test_confirmation_and_reminder_fields_select_as_in_go(env: CaseEnv) -> None:
    env.add_templates()
    old = threshold(env) - 10
    negative_confirmation = env.add_user(created_at=old, confirmed_at=-5)
    confirmed = env.add_user(created_at=old, confirmed_at=1)
    already = env.add_user(created_at=old, reminder_sent_at=1)
    reminder_missing = env.add_user(created_at=old)
    env.users.update_one(
        {"_id": reminder_missing["_id"]}, {"$unset": {"timestamps.reminderToConfirmSentAt": ""}}
    )
    reminder_null = env.add_user(created_at=old)
    env.users.update_one(
        {"_id": reminder_null["_id"]}, {"$set": {"timestamps.reminderToConfirmSentAt": None}}
    )
    confirmation_missing = env.add_user(created_at=old)
    env.users.update_one({"_id": confirmation_missing["_id"]}, {"$unset": {"account.accountConfirmedAt": ""}})
    created_missing = env.add_user(created_at=old)
    env.users.update_one({"_id": created_missing["_id"]}, {"$unset": {"timestamps.createdAt": ""}})

    untouched_before = {d["_id"]: d for d in env.users.find({"_id": {"$ne": negative_confirmation["_id"]}})}

    send_reminder_to_confirm_accounts(env.context())

    # a missing or null reminder field never matches `$lt: 1`, so such users are never reminded (as in Go)
    assert reminded(env) == {negative_confirmation["_id"]}
    assert {
        d["_id"]: d for d in env.users.find({"_id": {"$ne": negative_confirmation["_id"]}})
    } == untouched_before
    untouched = [confirmed, already, reminder_missing, reminder_null, confirmation_missing, created_missing]
    assert env.temp_tokens.count_documents({"userID": {"$in": [str(d["_id"]) for d in untouched]}}) == 0
    assert env.users.count_documents({"timestamps.reminderToConfirmSentAt": Int64(env.t0)}) == 1


def test_every_effect_of_a_reminder(env: CaseEnv) -> None:
    env.add_templates()
    user = env.add_user(created_at=threshold(env) - 1, language="de")
    hex_id = str(user["_id"])
    before = datetime.now(UTC)

    result = send_reminder_to_confirm_accounts(env.context())

    assert (result.done, result.failed, result.skipped) == (1, 0, 0)
    # the token
    tokens = list(env.temp_tokens.find())
    assert len(tokens) == 1
    token = tokens[0]
    assert list(token) == ["_id", "token", "expiration", "purpose", "userID", "info", "instanceID"]
    assert token["purpose"] == "contact-verification"
    assert token["userID"] == hex_id and token["instanceID"] == "inst"
    assert token["info"] == {"type": "email", "email": user["account"]["accountID"]}
    expiration = token["expiration"].replace(tzinfo=UTC)
    assert (
        before + timedelta(seconds=TOKEN_TTL - 2)
        <= expiration
        <= datetime.now(UTC) + timedelta(seconds=TOKEN_TTL)
    )
    # the email, referencing that token
    emails = list(env.outgoing.find())
    assert len(emails) == 1
    assert_outgoing_email_shape(
        emails[0], message_type="registration", user_id=hex_id, to=user["account"]["accountID"]
    )
    assert emails[0]["subject"] == "Confirm your account (de)"
    assert TOKEN_IN_CONTENT.findall(emails[0]["content"]) == [token["token"]]
    assert emails[0]["content"].endswith("confirm</a> de</p>")
    assert emails[0]["content"].startswith('<p>Hi! <a href="https://example.org/confirm?token=')
    # the user: only reminderToConfirmSentAt changed, as Int64 "now"
    stored = env.users.find_one({"_id": user["_id"]})
    assert stored["timestamps"]["reminderToConfirmSentAt"] == env.t0
    assert isinstance(stored["timestamps"]["reminderToConfirmSentAt"], Int64)
    stored["timestamps"]["reminderToConfirmSentAt"] = user["timestamps"]["reminderToConfirmSentAt"]
    assert stored == user
    # a second run reminds nobody
    assert send_reminder_to_confirm_accounts(env.context()).selected == 0
    assert env.outgoing.count_documents({}) == 1 and env.temp_tokens.count_documents({}) == 1


def test_undecodable_user_is_skipped_and_reported_while_the_rest_are_reminded(env: CaseEnv) -> None:
    env.add_templates()
    broken = env.add_user(created_at=threshold(env) - 1)
    env.users.update_one({"_id": broken["_id"]}, {"$set": {"account.accountID": ObjectId().binary}})
    good = env.add_user(created_at=threshold(env) - 1)

    result = send_reminder_to_confirm_accounts(env.context())

    assert reminded(env) == {good["_id"]}
    assert (
        result.skip_reasons[0][0] == str(broken["_id"]) and "account.accountID" in result.skip_reasons[0][1]
    )
    assert env.temp_tokens.count_documents({"userID": str(broken["_id"])}) == 0


def test_missing_template_fails_before_any_token_is_created(env: CaseEnv) -> None:
    env.add_templates(["account-deleted"])
    env.add_user(created_at=threshold(env) - 1)

    with pytest.raises(TaskFailedError, match="'registration'"):
        send_reminder_to_confirm_accounts(env.context())

    assert env.temp_tokens.count_documents({}) == 0
    assert env.outgoing.count_documents({}) == 0
    assert env.users.count_documents({"timestamps.reminderToConfirmSentAt": {"$gt": 0}}) == 0


def test_unrenderable_template_fails_the_instance_before_any_token_or_email(env: CaseEnv) -> None:
    """Pre-flight renders every translation, so a broken template never leaves an orphan login token."""
    env.add_templates(["registration"])
    env.messaging_db["email-templates"].update_one(
        {},
        {"$set": {"translations.0.templateDef": "not base64!", "translations.1.templateDef": "not base64!"}},
    )
    user = env.add_user(created_at=threshold(env) - 1)

    with pytest.raises(TaskFailedError, match="base64") as caught:
        send_reminder_to_confirm_accounts(env.context())

    assert "no user was touched" in str(caught.value)
    assert env.outgoing.count_documents({}) == 0
    assert env.temp_tokens.count_documents({"userID": str(user["_id"])}) == 0
    assert env.users.find_one({"_id": user["_id"]})["timestamps"]["reminderToConfirmSentAt"] == 0


def notice_spec(env: CaseEnv, chosen: dict) -> object:
    from usermgmt_pipeline.emails.task_email import TaskEmail
    from usermgmt_pipeline.tasks.notify_flow import NoticeSpec

    return NoticeSpec(
        task="send_reminder_to_confirm_accounts",
        email=TaskEmail("registration", token_purpose="contact-verification"),
        token_ttl_ns=TOKEN_TTL * 10**9,
        timestamp_field="reminderToConfirmSentAt",
        timestamp_value=env.t0,
        selection=chosen,
    )


def test_user_who_confirms_after_being_read_gets_no_token_no_email_and_no_update(env: CaseEnv) -> None:
    """Fix of docs/decisions.md: the selection is re-checked before the first write and on the last one."""
    from usermgmt_pipeline.case.users import decode_user
    from usermgmt_pipeline.tasks import selection
    from usermgmt_pipeline.tasks.notify_flow import send_notices

    env.add_templates()
    doc = env.add_user(created_at=threshold(env) - 1)
    ctx = env.context()
    chosen = selection.unverified_to_remind(ctx.before(REMIND_AFTER * 10**9))
    user = decode_user(env.users.find_one({"_id": doc["_id"]}))
    env.users.update_one({"_id": doc["_id"]}, {"$set": {"account.accountConfirmedAt": Int64(env.t0)}})

    template = ctx.messaging.find_global_template("registration")
    reason = send_notices(ctx, notice_spec(env, chosen), [user], template)[user.id].skipped

    assert reason is not None and "no longer selected" in reason
    assert env.temp_tokens.count_documents({}) == 0
    assert env.outgoing.count_documents({}) == 0
    assert env.users.find_one({"_id": doc["_id"]})["timestamps"]["reminderToConfirmSentAt"] == 0
