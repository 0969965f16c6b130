"""The batched notice flow: one bulk call per step and batch, and users who change while their batch is in
flight are still left alone (checkpoint hooks change them between two bulk steps)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from bson import Int64

from usermgmt_pipeline.tasks.checkpoints import install_checkpoint_hook
from usermgmt_pipeline.tasks.handle_inactive_users import notify_inactive_users
from usermgmt_pipeline.tasks.send_reminder_to_confirm_accounts import send_reminder_to_confirm_accounts
from usermgmt_pipeline_tests.tasks.helpers import INACTIVE_AFTER, REMIND_AFTER, CaseEnv, run_counting_commands


@contextmanager
def _on_first(name: str, action: Any) -> Iterator[None]:
    fired = False

    def hook(checkpoint_name: str) -> None:
        nonlocal fired
        if checkpoint_name == name and not fired:
            fired = True
            action()

    remove = install_checkpoint_hook(hook)
    try:
        yield
    finally:
        remove()


def test_the_commands_of_a_batch_do_not_grow_with_its_users(env: CaseEnv) -> None:
    env.add_templates()
    for _ in range(5):
        env.add_user(created_at=env.t0 - REMIND_AFTER - 100)
    few, few_commands = run_counting_commands(env, send_reminder_to_confirm_accounts)
    env.users.delete_many({})
    for _ in range(60):
        env.add_user(created_at=env.t0 - REMIND_AFTER - 100)

    many, many_commands = run_counting_commands(env, send_reminder_to_confirm_accounts)

    assert (few.done, many.done) == (5, 60)
    assert env.outgoing.count_documents({}) == 65 and env.temp_tokens.count_documents({}) == 65
    assert len(many_commands) == len(few_commands), (few_commands, many_commands)
    assert len(many_commands) <= 25


def test_a_user_who_confirms_while_the_batch_is_in_flight_gets_no_token_email_or_reminder_mark(
    env: CaseEnv,
) -> None:
    env.add_templates()
    users = [env.add_user(created_at=env.t0 - REMIND_AFTER - 100) for _ in range(3)]
    confirm = users[1]["_id"]

    with _on_first(
        "notify:journal-opened",
        lambda: env.users.update_one(
            {"_id": confirm}, {"$set": {"account.accountConfirmedAt": Int64(env.t0)}}
        ),
    ):
        result = send_reminder_to_confirm_accounts(env.context())

    assert (result.done, result.skipped) == (2, 1)
    assert {e["userId"] for e in env.outgoing.find({})} == {str(users[0]["_id"]), str(users[2]["_id"])}
    assert env.temp_tokens.count_documents({"userID": str(confirm)}) == 0
    assert env.users.find_one({"_id": confirm})["timestamps"]["reminderToConfirmSentAt"] == 0
    assert env.journal.find_one({"userID": str(confirm)})["state"] == "selection-changed"


def test_a_user_who_logs_in_after_the_batchs_emails_were_queued_is_not_marked(env: CaseEnv) -> None:
    env.add_templates()
    t = env.t0 - INACTIVE_AFTER - 100
    users = [env.add_user(last_login=t, last_token_refresh=t, confirmed_at=1) for _ in range(3)]
    back = users[2]["_id"]

    with _on_first(
        "notify:email-queued",
        lambda: env.users.update_one({"_id": back}, {"$set": {"timestamps.lastLogin": Int64(env.t0)}}),
    ):
        result = notify_inactive_users(env.context())

    assert (result.done, result.skipped) == (2, 1)
    marks = {u["_id"]: u["timestamps"]["markedForDeletion"] for u in env.users.find({})}
    assert marks[back] == 0
    assert all(mark > env.t0 for user_id, mark in marks.items() if user_id != back)
    assert env.journal.find_one({"userID": str(back)})["state"] == "selection-changed"
