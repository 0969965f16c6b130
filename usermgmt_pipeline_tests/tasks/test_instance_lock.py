"""One run per instance at a time, without Dagster: the lease in `<p>usermgmt-pipeline.locks`."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest
from pymongo import MongoClient

from usermgmt_pipeline.tasks.checkpoints import install_checkpoint_hook
from usermgmt_pipeline.tasks.instance_lock import PROCESS_TOKEN, InstanceBusyError, instance_lock
from usermgmt_pipeline.tasks.registry import TASKS
from usermgmt_pipeline.tasks.stopping import LeaseLostError
from usermgmt_pipeline_tests.tasks.helpers import (
    DELETE_UNVERIFIED_AFTER,
    INSTANCE,
    REMIND_AFTER,
    CaseEnv,
    config_document,
    make_env,
    write_config,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
TASK = "send_reminder_to_confirm_accounts"


def locks(env: CaseEnv):  # type: ignore[no-untyped-def]
    return env.client[f"{env.prefix}usermgmt-pipeline"]["locks"]


def test_a_second_run_on_a_locked_instance_refuses_and_changes_nothing(env: CaseEnv) -> None:
    env.add_templates()
    user = env.add_user(created_at=env.t0 - DELETE_UNVERIFIED_AFTER - 10)
    holder = env.context()

    with instance_lock(holder, "clean_up_unverified_users"):
        with pytest.raises(InstanceBusyError, match=holder.options.run_id):
            TASKS["clean_up_unverified_users"](env.context())
        assert env.users.find_one({"_id": user["_id"]}) is not None
        assert env.outgoing.count_documents({}) == 0

    assert locks(env).count_documents({}) == 0
    [result] = TASKS["clean_up_unverified_users"](env.context())
    assert result.done == 1
    assert env.users.find_one({"_id": user["_id"]}) is None


def test_a_rerun_after_a_killed_holder_waits_for_its_lease_then_finishes_the_users(
    env: CaseEnv, caplog: pytest.LogCaptureFixture
) -> None:
    """A real worker SIGKILLed mid-task never releases its lease. The operator's immediate rerun (or a Dagster
    retry) does not fail: it sees a heartbeat that has stopped, says it waits, takes the lease over once it
    has expired (`orchestration.instance_lease`, 2 s here) and finishes every user, one email each."""
    env.add_templates()
    users = [env.add_user(created_at=int(time.time()) - REMIND_AFTER - 100) for _ in range(3)]
    worker = subprocess.Popen(
        [sys.executable, "-m", "usermgmt_pipeline_tests.tasks.crash_worker", str(env.config_path), TASK],
        cwd=REPO_ROOT,
        env={**os.environ, "USERMGMT_TEST_CRASH_AT": "notify:email-queued"},
    )
    assert worker.wait(timeout=300) == -signal.SIGKILL
    lease = locks(env).find_one({"_id": INSTANCE})
    assert lease is not None and lease["pid"] == worker.pid  # left behind by the killed worker

    with caplog.at_level("WARNING", logger="usermgmt_pipeline"):
        [result] = TASKS["send_reminder_to_confirm_accounts"](env.context())
    finished_at = time.time()

    assert finished_at > lease["expiresAt"]  # not before the killed worker's lease had expired
    assert "heartbeat stopped" in caplog.text and "waiting" in caplog.text
    assert result.failed == 0
    assert sorted(e["userId"] for e in env.outgoing.find({})) == sorted(str(u["_id"]) for u in users)
    assert locks(env).count_documents({}) == 0


@pytest.mark.parametrize("pid", ["gone-here", "same-as-ours"])
def test_a_live_holder_whose_pid_does_not_exist_here_is_not_overtaken(env: CaseEnv, pid: str) -> None:
    """Two containers on host networking share the host name but not their PID namespaces: the holder's pid
    means nothing here (it may not exist, or be this very process's pid, e.g. both are pid 1). A fresh
    heartbeat is what counts, so its instance is left alone."""
    env.add_templates()
    user = env.add_user(created_at=int(time.time()) - REMIND_AFTER - 100)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    assert not psutil.pid_exists(gone.pid)
    holder_pid = gone.pid if pid == "gone-here" else os.getpid()
    now = time.time()
    locks(env).insert_one(
        {
            "_id": INSTANCE,
            "runID": "run-in-the-other-container",
            "task": "send_reminder_to_confirm_accounts",
            "host": socket.gethostname(),
            "pid": holder_pid,
            "holder": "another-process",
            "since": now,
            "heartbeatAt": now,
            "expiresAt": now + 60,
        }
    )

    for task in TASKS:
        with pytest.raises(InstanceBusyError, match="run-in-the-other-container"):
            TASKS[task](env.context())

    assert env.users.find_one({"_id": user["_id"]})["timestamps"]["reminderToConfirmSentAt"] == 0
    assert env.outgoing.count_documents({}) == 0
    assert locks(env).find_one({"_id": INSTANCE})["runID"] == "run-in-the-other-container"


def test_a_holder_that_loses_its_lease_stops_at_its_next_step_and_the_next_holder_finishes(
    tmp_path: Path, mongo_uri: str, mongo_client: MongoClient, db_prefix: str
) -> None:
    """Taken over after a stall (its heartbeat missed the expiry) in the middle of a batch of deletions: the
    holder performs no further step for any user (no token deletion, no email), exits with the cause, and
    leaves the new holder's lease in place. The run after it finishes the batch: one email per user."""
    env = make_env(tmp_path, mongo_uri, mongo_client, db_prefix, batch_size=2)
    env.add_templates()
    users = [env.add_user(created_at=int(time.time()) - DELETE_UNVERIFIED_AFTER - 100) for _ in range(5)]
    taken_over = threading.Event()

    def take_over_mid_batch(name: str) -> None:
        if name == "delete:user-deleted" and not taken_over.is_set():
            taken_over.set()
            locks(env).update_one({"_id": INSTANCE}, {"$set": {"runID": "new-holder", "holder": "other"}})
            time.sleep(1.5)  # more than one heartbeat (a quarter of the 2 s lease): the holder notices

    remove = install_checkpoint_hook(take_over_mid_batch)
    try:
        with pytest.raises(LeaseLostError, match="the instance lease was taken over"):
            TASKS["clean_up_unverified_users"](env.context())
    finally:
        remove()

    remaining = env.users.count_documents({"_id": {"$in": [u["_id"] for u in users]}})
    assert remaining == 3  # the two users of the batch in flight were deleted before the takeover
    assert env.outgoing.count_documents({}) == 0  # nothing after it
    assert env.journal.count_documents({"state": "user_deleted"}) == 2  # left for the new holder
    assert locks(env).find_one({"_id": INSTANCE})["runID"] == "new-holder"

    locks(env).delete_many({})  # the new holder (simulated) is gone: the next run takes over
    [result] = TASKS["clean_up_unverified_users"](env.context())

    assert result.failed == 0
    assert env.users.count_documents({"_id": {"$in": [u["_id"] for u in users]}}) == 0
    emails = sorted(e["userId"] for e in env.outgoing.find({"messageType": "account-deleted"}))
    assert emails == sorted(str(u["_id"]) for u in users)
    assert env.journal.count_documents({"state": {"$ne": "done"}}) == 0
    env.close()


def test_a_live_lease_of_another_host_is_respected_until_its_heartbeat_is_stale(env: CaseEnv) -> None:
    env.add_templates()
    lease = {
        "_id": INSTANCE,
        "runID": "other",
        "task": "x",
        "host": "elsewhere",
        "pid": 1,
        "since": time.time(),
    }
    locks(env).insert_one({**lease, "heartbeatAt": time.time(), "expiresAt": time.time() + 60})
    with pytest.raises(InstanceBusyError, match="elsewhere"):
        TASKS["generate_profile_id_lookup"](env.context())

    # its heartbeat stale, its expiry passed: taken over
    locks(env).update_one(
        {"_id": INSTANCE}, {"$set": {"heartbeatAt": time.time() - 120, "expiresAt": time.time() - 60}}
    )
    [result] = TASKS["generate_profile_id_lookup"](env.context())
    assert result.failed == 0


def test_two_cli_processes_started_at_once_never_act_twice(env: CaseEnv, mongo_uri: str) -> None:
    """Without Dagster's run queue: one CLI process deletes, the other refuses; one notice per user."""
    env.add_templates()
    users = [env.add_user(created_at=int(time.time()) - DELETE_UNVERIFIED_AFTER - 3600) for _ in range(40)]
    # the production lease: on this loaded machine a 2 s lease could expire under a live holder
    config = write_config(
        env.config_path.with_name("cli.yaml"),
        config_document(mongo_uri, env.prefix, max_deletion_share=1.0, instance_lease="60s"),
    )
    cli_env = {**os.environ, "CONFIG_FILE_PATH": str(config), "DAGSTER_DISABLE_TELEMETRY": "1"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "usermgmt_pipeline.cli", "--instance", INSTANCE],
            cwd=REPO_ROOT,
            env=cli_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=300)[0] for p in procs]

    assert env.users.count_documents({"_id": {"$in": [u["_id"] for u in users]}}) == 0
    emails = list(env.outgoing.find({"messageType": "account-deleted"}, {"userId": 1}))
    assert sorted(e["userId"] for e in emails) == sorted(str(u["_id"]) for u in users)
    refused = [o for o in outputs if "is being processed by run" in o]
    succeeded = [p for p in procs if p.returncode == 0]
    assert len(succeeded) >= 1
    assert len(refused) + len(succeeded) == 2, outputs


def test_a_lease_this_process_failed_to_release_does_not_block_its_next_run(env: CaseEnv) -> None:
    """E.g. the database went down before the release: the rerun in the same process proceeds."""
    env.add_templates()
    locks(env).insert_one(
        {
            "_id": INSTANCE,
            "runID": "earlier-run",
            "task": "x",
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "holder": PROCESS_TOKEN,
            "since": time.time(),
            "heartbeatAt": time.time(),
            "expiresAt": time.time() + 60,
        }
    )

    [result] = TASKS["generate_profile_id_lookup"](env.context())

    assert result.failed == 0
    assert locks(env).count_documents({}) == 0
