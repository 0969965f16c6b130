"""Crash safety (docs/decisions.md): a worker process is SIGKILLed at a checkpoint mid-task, then the task is rerun
to completion in-process. After the rerun: exactly one notice per user with exactly one valid token referenced
by it, no lost deletion notice, no half-deleted user, no duplicate LEAVE report."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from bson import ObjectId

from usermgmt_pipeline.tasks.registry import TASKS
from usermgmt_pipeline_tests.tasks.helpers import (
    DELETE_UNVERIFIED_AFTER,
    INACTIVE_AFTER,
    REMIND_AFTER,
    CaseEnv,
    wait_for_lease_expiry,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
TOKEN_IN_CONTENT = re.compile(r"token=([a-z2-7]{39})")
USERS = 3


def run_worker_until_killed(env: CaseEnv, task: str, crash_at: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "usermgmt_pipeline_tests.tasks.crash_worker", str(env.config_path), task],
        cwd=REPO_ROOT,
        env={**os.environ, "USERMGMT_TEST_CRASH_AT": crash_at},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == -signal.SIGKILL, (
        f"worker was not killed at {crash_at}: {proc.returncode}\n{proc.stderr[-2000:]}"
    )
    wait_for_lease_expiry(env.client, env.prefix)  # a killed worker never releases its instance lease


def rerun(env: CaseEnv, task: str) -> list:
    """The rerun uses the real clock, like the worker (a frozen clock could differ by a second)."""
    from usermgmt_pipeline.tasks.context import TaskContext

    return TASKS[task](TaskContext(config=env.config, dbs=env.dbs, instance_id="inst"))


def assert_one_notice_with_one_valid_token(
    env: CaseEnv, users: list[dict], message_type: str, purpose: str
) -> None:
    for user in users:
        hex_id = str(user["_id"])
        emails = list(env.outgoing.find({"userId": hex_id}))
        tokens = list(env.temp_tokens.find({"userID": hex_id, "purpose": purpose}))
        assert [e["messageType"] for e in emails] == [message_type], hex_id
        assert len(tokens) == 1, hex_id
        assert TOKEN_IN_CONTENT.findall(emails[0]["content"]) == [tokens[0]["token"]]


# --- notices -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "crash_at",
    [
        "notify:journal-opened",
        "notify:token-inserted",
        "notify:email-queued",
        "notify:email-queued:2",
        "notify:user-updated",
    ],
)
def test_reminder_killed_mid_task_sends_exactly_one_email_with_one_token(env: CaseEnv, crash_at: str) -> None:
    env.add_templates()
    users = [env.add_user(created_at=env.t0 - REMIND_AFTER - 100) for _ in range(USERS)]

    run_worker_until_killed(env, "send_reminder_to_confirm_accounts", crash_at)
    rerun(env, "send_reminder_to_confirm_accounts")

    assert_one_notice_with_one_valid_token(env, users, "registration", "contact-verification")
    assert env.users.count_documents({"timestamps.reminderToConfirmSentAt": {"$gt": 0}}) == USERS
    # and a further run changes nothing
    rerun(env, "send_reminder_to_confirm_accounts")
    assert env.outgoing.count_documents({}) == USERS and env.temp_tokens.count_documents({}) == USERS


@pytest.mark.parametrize(
    "crash_at", ["notify:token-inserted", "notify:email-queued", "notify:user-updated:2"]
)
def test_inactivity_notice_killed_mid_task_sends_exactly_one_email_and_marks_once(
    env: CaseEnv, crash_at: str
) -> None:
    env.add_templates()
    t = env.t0 - INACTIVE_AFTER - 100
    users = [env.add_user(last_login=t, last_token_refresh=t, confirmed_at=1) for _ in range(USERS)]

    run_worker_until_killed(env, "handle_inactive_users", crash_at)
    rerun(env, "handle_inactive_users")

    assert_one_notice_with_one_valid_token(env, users, "account-inactivity", "inactive-user-notification")
    marks = [env.users.find_one({"_id": u["_id"]})["timestamps"]["markedForDeletion"] for u in users]
    assert all(m > env.t0 for m in marks)


def test_confirmation_after_a_kill_between_email_and_update_leaves_the_user_unmarked(env: CaseEnv) -> None:
    """Killed after the email was queued; the user confirms before the rerun: the rerun neither re-sends nor
    writes the reminder timestamp, and closes the interrupted journal entry."""
    env.add_templates()
    user = env.add_user(created_at=env.t0 - REMIND_AFTER - 100)

    run_worker_until_killed(env, "send_reminder_to_confirm_accounts", "notify:email-queued")
    env.users.update_one({"_id": user["_id"]}, {"$set": {"account.accountConfirmedAt": env.t0}})
    rerun(env, "send_reminder_to_confirm_accounts")

    assert env.outgoing.count_documents({}) == 1
    assert env.users.find_one({"_id": user["_id"]})["timestamps"]["reminderToConfirmSentAt"] == 0
    assert env.journal.count_documents({"state": {"$in": ["pending", "email_queued"]}}) == 0


# --- deletions -----------------------------------------------------------------------------------------


def seed_deletable_users(env: CaseEnv) -> tuple[list[dict], list[dict], list[ObjectId]]:
    env.add_templates()
    studies = [env.add_study("study-a"), env.add_study("study-b", method=None)]
    users, profiles = [], []
    for _ in range(USERS):
        mine = [ObjectId(), ObjectId()]
        user = env.add_user(
            created_at=env.t0 - DELETE_UNVERIFIED_AFTER - 100, profiles=[(mine[0], True), (mine[1], False)]
        )
        env.add_related_records(user)
        for study in studies:
            for profile in mine:
                env.add_participant(study, profile)
                env.add_confidential_response(study, profile)
                env.add_id_map_entry(study, profile)
        users.append(user)
        profiles += mine
    return users, studies, profiles


def assert_fully_deleted_once(
    env: CaseEnv, users: list[dict], studies: list[dict], profiles: list[ObjectId]
) -> None:
    assert env.users.count_documents({}) == 0
    assert env.user_attributes.count_documents({}) == 0
    assert env.renew_tokens.count_documents({}) == 0
    assert env.temp_tokens.count_documents({"instanceID": "inst"}) == 0
    assert env.temp_tokens.count_documents({"instanceID": "other"}) == USERS
    for user in users:
        emails = list(env.outgoing.find({"userId": str(user["_id"])}))
        assert [e["messageType"] for e in emails] == ["account-deleted"]
        assert emails[0]["to"] == [user["account"]["accountID"]]
    for study in studies:
        key = study["key"]
        for profile in profiles:
            participant_id, confidential_id = env.ids(study, profile)
            state = env.study_db[f"{key}_participants"].find_one({"participantID": participant_id})
            assert state["studyStatus"] == "accountDeleted"
            reports = list(env.study_db[f"{key}_reports"].find({"participantID": participant_id}))
            assert [r["responseID"] for r in reports] == ["LEAVE"]
            assert (
                env.study_db[f"{key}_confidentialResponses"].count_documents(
                    {"participantID": confidential_id}
                )
                == 0
            )
            assert env.id_map.count_documents({"profileID": str(profile), "studyKey": key}) == 0
    assert env.journal.count_documents({"state": {"$nin": ["done"]}}) == 0


@pytest.mark.parametrize(
    "crash_at",
    [
        "delete:journal-opened",
        "delete:user-deleted",
        "delete:user-deleted:2",
        "delete:study-rules-evaluated",
        "delete:study-rules-evaluated:3",
        "delete:study-erased",
        "delete:study-erased:6",
        "delete:tokens-deleted",
        "delete:email-queued:2",
        # inside a batch: the bulk step wrote its first k users, then the process died
        "delete:journal-opened@1",
        "delete:user-deleted@1",
        "delete:user-deleted@2",
        "delete:tokens-deleted@1",
        "delete:email-queued@2",
    ],
)
def test_deletion_killed_mid_task_completes_on_rerun_without_loss_or_duplicates(
    env: CaseEnv, crash_at: str
) -> None:
    users, studies, profiles = seed_deletable_users(env)

    run_worker_until_killed(env, "clean_up_unverified_users", crash_at)
    results = rerun(env, "clean_up_unverified_users")

    assert results[0].failed == 0
    assert_fully_deleted_once(env, users, studies, profiles)


def test_a_killed_deletion_is_finished_even_after_the_user_would_no_longer_be_selected(env: CaseEnv) -> None:
    """The user document is gone after `delete:user-deleted`; the journal, not the selection, finishes the
    work (Go lost the notice and the study erasure here forever)."""
    users, studies, profiles = seed_deletable_users(env)

    run_worker_until_killed(env, "clean_up_unverified_users", "delete:user-deleted")
    assert env.users.count_documents({}) == 0  # the whole batch passed the commit point together
    assert env.outgoing.count_documents({}) == 0
    results = rerun(env, "clean_up_unverified_users")

    assert results[0].extra["resumed"] == USERS
    assert_fully_deleted_once(env, users, studies, profiles)
