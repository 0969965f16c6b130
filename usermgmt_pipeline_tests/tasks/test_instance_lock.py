"""One run per instance at a time, without Dagster: the lease in `<p>usermgmt-pipeline.locks`."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from usermgmt_pipeline.tasks.instance_lock import InstanceBusyError, instance_lock
from usermgmt_pipeline.tasks.registry import TASKS
from usermgmt_pipeline_tests.tasks.helpers import DELETE_UNVERIFIED_AFTER, INSTANCE, CaseEnv

REPO_ROOT = Path(__file__).resolve().parents[2]


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


def test_a_lease_left_by_a_killed_process_on_this_host_is_taken_over_at_once(env: CaseEnv) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    locks(env).insert_one(
        {
            "_id": INSTANCE,
            "runID": "killed-run",
            "task": "x",
            "host": socket.gethostname(),
            "pid": dead.pid,
            "since": time.time(),
            "heartbeatAt": time.time(),
        }
    )
    env.add_templates()

    [result] = TASKS["send_reminder_to_confirm_accounts"](env.context())

    assert result.failed == 0
    assert locks(env).count_documents({}) == 0


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
    locks(env).insert_one({**lease, "heartbeatAt": time.time()})
    with pytest.raises(InstanceBusyError, match="elsewhere"):
        TASKS["generate_profile_id_lookup"](env.context())

    locks(env).update_one({"_id": INSTANCE}, {"$set": {"heartbeatAt": time.time() - 120}})
    [result] = TASKS["generate_profile_id_lookup"](env.context())
    assert result.failed == 0


def test_two_cli_processes_started_at_once_never_act_twice(env: CaseEnv) -> None:
    """Without Dagster's run queue: one CLI process deletes, the other refuses; one notice per user."""
    env.add_templates()
    users = [env.add_user(created_at=int(time.time()) - DELETE_UNVERIFIED_AFTER - 3600) for _ in range(40)]
    cli_env = {**os.environ, "CONFIG_FILE_PATH": str(env.config_path), "DAGSTER_DISABLE_TELEMETRY": "1"}
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
            "since": time.time(),
            "heartbeatAt": time.time(),
        }
    )

    [result] = TASKS["generate_profile_id_lookup"](env.context())

    assert result.failed == 0
    assert locks(env).count_documents({}) == 0
