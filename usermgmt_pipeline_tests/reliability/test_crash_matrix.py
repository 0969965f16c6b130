"""SIGKILL a worker at every step boundary of every task, rerun, and compare with an uninterrupted run.

Each case clones the seeded template instance twice (same ids), runs the task uninterrupted on one and
crashes + reruns it on the other, then compares every collection of every database under each prefix
(CASE data, temp tokens, queued emails, study data and our journal) after stripping ObjectIds,
wall-clock times and token strings. Multiset equality rules out a duplicate email, a lost notice, a
half-deleted user and a LEAVE report saved twice.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from bson import ObjectId
from pymongo import MongoClient

from usermgmt_pipeline.tasks.checkpoints import CHECKPOINTS
from usermgmt_pipeline_tests.reliability.conftest import NOW_NS
from usermgmt_pipeline_tests.reliability.harness import (
    INSTANCE,
    assert_same_state,
    clone_databases,
    drop_prefix,
    host_port_of,
    new_prefix,
    run_task,
    run_worker,
    snapshot,
    write_config,
)

# (task, checkpoint[:n]) - every checkpoint each task reaches on the seeded data, some at a later visit.
CRASH_POINTS: list[tuple[str, str]] = [
    ("clean_up_unverified_users", "delete:journal-opened"),
    ("clean_up_unverified_users", "delete:user-deleted"),
    ("clean_up_unverified_users", "delete:study-rules-evaluated"),
    ("clean_up_unverified_users", "delete:study-rules-evaluated:2"),
    ("clean_up_unverified_users", "delete:study-rules-evaluated:4"),
    ("clean_up_unverified_users", "delete:study-erased"),
    ("clean_up_unverified_users", "delete:study-erased:3"),
    ("clean_up_unverified_users", "delete:study-erased:6"),
    ("clean_up_unverified_users", "delete:tokens-deleted"),
    ("clean_up_unverified_users", "delete:email-queued"),
    ("send_reminder_to_confirm_accounts", "notify:journal-opened"),
    ("send_reminder_to_confirm_accounts", "notify:token-inserted"),
    ("send_reminder_to_confirm_accounts", "notify:email-queued"),
    ("send_reminder_to_confirm_accounts", "notify:user-updated"),
    ("send_reminder_to_confirm_accounts", "notify:user-updated:2"),
    ("handle_inactive_users", "notify:journal-opened"),
    ("handle_inactive_users", "notify:token-inserted"),
    ("handle_inactive_users", "notify:email-queued:2"),
    ("handle_inactive_users", "notify:email-queued:3"),
    ("handle_inactive_users", "notify:user-updated:3"),
    ("handle_inactive_users", "delete:journal-opened"),
    ("handle_inactive_users", "delete:user-deleted"),
    ("handle_inactive_users", "delete:study-rules-evaluated"),
    ("handle_inactive_users", "delete:study-erased:2"),
    ("handle_inactive_users", "delete:tokens-deleted"),
    ("handle_inactive_users", "delete:email-queued"),
    ("generate_profile_id_lookup", "lookup:batch-inserted"),
    ("generate_profile_id_lookup", "lookup:batch-inserted:3"),
    ("migrate_account_info", "migrate:participant-saved"),
    ("migrate_account_info", "migrate:participant-saved:4"),
]


def _checkpoint_of(crash_at: str) -> str:
    head, _, tail = crash_at.rpartition(":")
    return head if tail.isdigit() else crash_at


def test_the_matrix_covers_every_checkpoint_and_at_least_20_task_step_pairs() -> None:
    pairs = {(task, _checkpoint_of(point)) for task, point in CRASH_POINTS}
    assert {point for _, point in pairs} == set(CHECKPOINTS)
    assert len(pairs) >= 20


@pytest.fixture(scope="module")
def baseline(
    mongo_client: MongoClient, mongo_uri: str, template_prefix: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[str], dict[str, list[str]]]]:
    """The state after an uninterrupted run of a task on a clone of the template, computed once per task."""
    cache: dict[str, dict[str, list[str]]] = {}
    directory = tmp_path_factory.mktemp("baseline")

    def state_after(task: str) -> dict[str, list[str]]:
        if task not in cache:
            prefix = new_prefix()
            clone_databases(mongo_client, template_prefix, mongo_client, prefix)
            try:
                config = write_config(directory, host_port_of(mongo_uri), prefix)
                results = run_task(config, task, NOW_NS)
                assert all(r.failed == 0 for r in results), [r.failure_reasons for r in results]
                assert sum(r.done for r in results) > 0
                cache[task] = snapshot(mongo_client, prefix)
            finally:
                drop_prefix(mongo_client, prefix)
        return cache[task]

    yield state_after


def _invariants(client: MongoClient, prefix: str) -> None:
    """The four promises, checked directly so a failure reads as what went wrong."""
    db = client[f"{prefix}{INSTANCE}_messageDB"]
    emails = Counter((e["userId"], e["messageType"]) for e in db["outgoing-emails"].find({}))
    assert all(n == 1 for n in emails.values()), f"duplicate email: {emails}"
    journal = client[f"{prefix}usermgmt-pipeline"]["journal"]
    users = client[f"{prefix}{INSTANCE}_users"]["users"]
    for entry in journal.find({"_id": {"$regex": "^delete:"}}):
        assert entry["state"] in ("done", "abandoned"), f"half-deleted user: {entry['_id']} {entry['state']}"
        if entry["state"] == "done":
            assert users.find_one({"_id": ObjectId(entry["userID"])}) is None
            assert (entry["userID"], entry["messageType"]) in emails, f"lost deletion notice: {entry['_id']}"
    study_db = client[f"{prefix}{INSTANCE}_studyDB"]
    for name in study_db.list_collection_names():
        if name.endswith("_reports"):
            reports = Counter(
                (r["participantID"], r["key"]) for r in study_db[name].find({"responseID": "LEAVE"})
            )
            assert all(n == 1 for n in reports.values()), f"LEAVE report created twice in {name}: {reports}"


@pytest.mark.parametrize(("task", "crash_at"), CRASH_POINTS, ids=[f"{t}@{c}" for t, c in CRASH_POINTS])
def test_a_kill_at_any_step_then_a_rerun_ends_in_the_uninterrupted_state(
    task: str,
    crash_at: str,
    baseline: Callable[[str], dict[str, list[str]]],
    cloned_instance: Callable[..., tuple[str, Path]],
    mongo_client: MongoClient,
) -> None:
    expected = baseline(task)
    prefix, config = cloned_instance()

    crashed = run_worker(config, task, NOW_NS, crash_at=crash_at)
    assert crashed.returncode == -9, (
        f"the worker did not die at {crash_at}: {crashed.returncode} {crashed.stderr[-2000:]}"
    )

    results = run_task(config, task, NOW_NS)
    assert all(r.failed == 0 for r in results), [r.failure_reasons for r in results]
    _invariants(mongo_client, prefix)
    assert_same_state(snapshot(mongo_client, prefix), expected)


@pytest.mark.parametrize(
    ("task", "first", "second"),
    [
        ("clean_up_unverified_users", "delete:study-rules-evaluated:3", "delete:study-erased:2"),
        ("handle_inactive_users", "notify:token-inserted:2", "delete:study-rules-evaluated:2"),
    ],
)
def test_two_kills_in_a_row_then_a_rerun_still_end_in_the_uninterrupted_state(
    task: str,
    first: str,
    second: str,
    baseline: Callable[[str], dict[str, list[str]]],
    cloned_instance: Callable[..., tuple[str, Path]],
    mongo_client: MongoClient,
) -> None:
    expected = baseline(task)
    prefix, config = cloned_instance()
    for crash_at in (first, second):
        crashed = run_worker(config, task, NOW_NS, crash_at=crash_at)
        assert crashed.returncode == -9, f"no kill at {crash_at}: {crashed.stderr[-2000:]}"
    results = run_task(config, task, NOW_NS)
    assert all(r.failed == 0 for r in results), [r.failure_reasons for r in results]
    _invariants(mongo_client, prefix)
    assert_same_state(snapshot(mongo_client, prefix), expected)


# Kills inside a batch: the bulk write before the checkpoint wrote its first k users' documents, then the
# process died (`<checkpoint>@<k>`, optionally `:<n>` for the n-th batch). With batch_size 2 the seeded
# inactivity selection (6 users) takes three batches. The seeded deletions are one user each: kills inside a
# batch of deletions are in tasks/test_crash_safety.py.
IN_BATCH_CRASH_POINTS: list[tuple[str, str, int]] = [
    ("send_reminder_to_confirm_accounts", "notify:journal-opened@1", 500),
    ("send_reminder_to_confirm_accounts", "notify:token-inserted@1", 500),
    ("send_reminder_to_confirm_accounts", "notify:email-queued@1", 500),
    ("send_reminder_to_confirm_accounts", "notify:user-updated@1", 500),
    ("handle_inactive_users", "notify:token-inserted@2", 500),
    ("handle_inactive_users", "notify:email-queued@3", 500),
    ("handle_inactive_users", "notify:user-updated@5", 500),
    ("handle_inactive_users", "notify:journal-opened@1:2", 2),
    ("handle_inactive_users", "notify:email-queued@1:3", 2),
    ("handle_inactive_users", "notify:user-updated@1:2", 2),
    ("migrate_account_info", "migrate:participant-saved@1", 500),
    ("migrate_account_info", "migrate:participant-saved@1:2", 2),
]


@pytest.mark.parametrize(
    ("task", "crash_at", "batch_size"),
    IN_BATCH_CRASH_POINTS,
    ids=[f"{t}@{c}/batch{b}" for t, c, b in IN_BATCH_CRASH_POINTS],
)
def test_a_kill_after_k_of_n_users_of_a_bulk_step_then_a_rerun_ends_in_the_uninterrupted_state(
    task: str,
    crash_at: str,
    batch_size: int,
    baseline: Callable[[str], dict[str, list[str]]],
    cloned_instance: Callable[..., tuple[str, Path]],
    mongo_client: MongoClient,
) -> None:
    expected = baseline(task)
    prefix, config = cloned_instance(batch_size=batch_size)

    crashed = run_worker(config, task, NOW_NS, crash_at=crash_at)
    assert crashed.returncode == -9, f"the worker did not die at {crash_at}: {crashed.stderr[-2000:]}"
    results = run_task(config, task, NOW_NS)

    assert all(r.failed == 0 for r in results), [r.failure_reasons for r in results]
    _invariants(mongo_client, prefix)
    assert_same_state(snapshot(mongo_client, prefix), expected)


@pytest.mark.parametrize(
    "task",
    [
        "send_reminder_to_confirm_accounts",
        "handle_inactive_users",
        "clean_up_unverified_users",
        "migrate_account_info",
    ],
)
def test_batches_of_one_or_two_users_end_in_the_same_state_as_one_batch(
    task: str,
    baseline: Callable[[str], dict[str, list[str]]],
    cloned_instance: Callable[..., tuple[str, Path]],
    mongo_client: MongoClient,
) -> None:
    expected = baseline(task)
    for batch_size in (1, 2):
        prefix, config = cloned_instance(batch_size=batch_size)

        results = run_task(config, task, NOW_NS)

        assert all(r.failed == 0 for r in results), [r.failure_reasons for r in results]
        _invariants(mongo_client, prefix)
        assert_same_state(snapshot(mongo_client, prefix), expected)
