"""Deletions an interrupted run left past its commit point: what the dry run, the review, the summary and the
account history say about them before and after the rerun finishes them."""

from __future__ import annotations

import csv
import time
from pathlib import Path

from bson import ObjectId

from usermgmt_pipeline.account_history import account_history
from usermgmt_pipeline.tasks.registry import TASKS
from usermgmt_pipeline_tests.tasks.helpers import DELETE_UNVERIFIED_AFTER, INSTANCE, CaseEnv
from usermgmt_pipeline_tests.tasks.test_crash_safety import run_worker_until_killed

TASK = "clean_up_unverified_users"


def assert_no_address_in_the_pipeline_database(env: CaseEnv, addresses: list[str]) -> None:
    db = env.client[f"{env.prefix}usermgmt-pipeline"]
    stored = [repr(doc) for name in db.list_collection_names() for doc in db[name].find({})]
    assert stored and not [
        a for a in addresses if any(a in doc or a.encode() in doc.encode() for doc in stored)
    ]


def test_a_dry_run_counts_and_lists_deletions_left_by_a_killed_run_and_the_rerun_reports_them(
    env: CaseEnv, tmp_path: Path
) -> None:
    env.add_templates()
    users = [env.add_user(created_at=int(time.time()) - DELETE_UNVERIFIED_AFTER - 100) for _ in range(3)]
    ids = sorted(str(u["_id"]) for u in users)
    before = int(time.time())
    run_worker_until_killed(env, TASK, "delete:user-deleted:3")  # all three accounts gone, nothing else
    assert env.users.count_documents({}) == 0 and env.outgoing.count_documents({}) == 0
    # the journal keeps each address for the deletion email, sealed: no plaintext address in our database
    assert_no_address_in_the_pipeline_database(env, [u["account"]["accountID"] for u in users])

    # The account history shows the deletion at once, dated when it happened.
    for user_id in ids:
        [deleted] = account_history(env.context().pipeline, INSTANCE, user_id)
        assert (deleted.action, deleted.outcome) == ("account-deleted", "done")
        assert before <= deleted.at <= int(time.time())
    deleted_at = {i: account_history(env.context().pipeline, INSTANCE, i)[0].at for i in ids}

    review = tmp_path / "review"
    dry = env.context(dry_run=True)
    dry.options.report_dir = str(review)
    [planned] = TASKS[TASK](dry)
    assert (planned.selected, planned.resumed) == (0, 3)
    assert "resumed=3" in planned.summary()
    with (review / "users.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert sorted(r["user_id"] for r in rows) == ids
    assert {r["planned_action"] for r in rows} == {"resume-delete"}
    assert all(r["email_file"] for r in rows)  # the deletion notice the rerun queues
    assert env.outgoing.count_documents({}) == 0  # the dry run wrote nothing

    [done] = TASKS[TASK](env.context())

    assert (done.selected, done.resumed, done.failed) == (0, 3, 0)
    assert "resumed=3" in done.summary()
    assert sorted((e["userId"], e["to"]) for e in env.outgoing.find({})) == sorted(
        (str(u["_id"]), [u["account"]["accountID"]]) for u in users
    )
    for user_id in ids:
        history = account_history(env.context().pipeline, INSTANCE, user_id)
        deletions = [h for h in history if h.action == "account-deleted"]
        assert [h.at for h in deletions] == [deleted_at[user_id]]  # once, dated at the deletion
        assert [(h.action, h.outcome) for h in history][-1] == ("delete", "done")


def test_a_deletion_killed_between_the_atomic_delete_and_its_journal_update_still_enters_the_history(
    env: CaseEnv,
) -> None:
    """The journal still says `selected` but the account is gone (the kill came right after the delete):
    the rerun carries the deletion on and records `account-deleted`, which died in the killed run's buffer."""
    env.add_templates()
    gone = str(ObjectId())
    env.journal.insert_one(
        {
            "_id": f"delete:{INSTANCE}:{gone}",
            "task": TASK,
            "instanceID": INSTANCE,
            "userID": gone,
            "state": "selected",
            "startedAt": env.t0,
            "emailDocId": ObjectId(),
            "accountID": "gone@example.org",
            "language": "en",
            "profileIDs": [],
            "messageType": "account-deleted",
        }
    )

    [done] = TASKS[TASK](env.context())

    assert (done.resumed, done.failed) == (1, 0)
    history = account_history(env.context().pipeline, INSTANCE, gone)
    assert [(h.action, h.outcome) for h in history] == [("account-deleted", "done"), ("delete", "done")]
    assert env.outgoing.count_documents({"userId": gone}) == 1
