"""A run frozen past its lease (SIGSTOP: a paused VM or container, a partitioned node) and then resumed.

In each test the real `user-management` CLI (run A) is frozen at one kind of point, another run (B, the task in
this process) takes the expired lease over and finishes the users, the messaging service "sends" B's emails
(moves them to `sent-emails`), and then A is resumed. A must perform no further step for any user and exit
non-zero naming the lost lease; every user has exactly one email, token, external call and audit record.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import typing
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psutil
import pytest
from bson import ObjectId
from pymongo import MongoClient

from usermgmt_pipeline.config import load_config
from usermgmt_pipeline.tasks.registry import TASKS
from usermgmt_pipeline_tests.reliability.slow_proxy import SlowProxy
from usermgmt_pipeline_tests.tasks.helpers import (
    DELETE_UNVERIFIED_AFTER,
    REMIND_AFTER,
    CaseEnv,
    config_document,
    host_of,
    make_env,
    write_config,
)
from usermgmt_pipeline_tests.tasks.test_leave_rules_on_deletion import RULES_B, RULES_C

REPO_ROOT = Path(__file__).resolve().parents[2]
EXIT_INSTANCE_FAILED = 1


def start_cli(config: Path, tmp_path: Path, **env: str) -> subprocess.Popen[str]:
    environment = {k: v for k, v in os.environ.items() if k not in ("CONFIG_FILE_PATH", "DAGSTER_HOME")}
    environment.update(DAGSTER_DISABLE_TELEMETRY="1", CONFIG_FILE_PATH=str(config), **env)
    return subprocess.Popen(
        [sys.executable, "-m", "usermgmt_pipeline_tests.tasks.freeze_worker"],
        cwd=REPO_ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_until_frozen(worker: subprocess.Popen[str], timeout_s: float = 240) -> None:
    deadline = time.monotonic() + timeout_s
    while psutil.Process(worker.pid).status() != psutil.STATUS_STOPPED:
        assert worker.poll() is None, f"the worker exited before it was frozen: {worker.communicate()[0]}"
        assert time.monotonic() < deadline, "the worker never reached its freeze point"
        time.sleep(0.05)


def resume(worker: subprocess.Popen[str]) -> str:
    os.kill(worker.pid, signal.SIGCONT)
    return worker.communicate(timeout=300)[0]


def deliver_queued_emails(env: CaseEnv) -> None:
    """What CASE's messaging service does: send each outgoing email and move it to `sent-emails`."""
    for email in env.outgoing.find({}):
        env.messaging_db["sent-emails"].insert_one({**email, "sentAt": datetime.now(UTC)})
        env.outgoing.delete_one({"_id": email["_id"]})


def emails_per_user(env: CaseEnv, message_type: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for collection in (env.outgoing, env.messaging_db["sent-emails"]):
        for email in collection.find({"messageType": message_type}, {"userId": 1}):
            counts[email["userId"]] = counts.get(email["userId"], 0) + 1
    return counts


def audit_per_user(env: CaseEnv, action: str, outcome: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    audit = env.client[f"{env.prefix}usermgmt-pipeline"]["audit"]
    for record in audit.find({"action": action, "outcome": outcome}, {"userID": 1}):
        counts[record["userID"]] = counts.get(record["userID"], 0) + 1
    return counts


def assert_lost_its_lease(worker: subprocess.Popen[str], output: str) -> None:
    """Exit 1 naming the cause. Which of its threads notices first (the step's check, a journal write, the
    heartbeat) and whether the frozen client's first renewal gets through decide the exact words."""
    assert worker.returncode == EXIT_INSTANCE_FAILED, output
    assert re.search(r"stopped: the instance lease (was taken over|could not be renewed)", output), output
    assert "this run performed no further step for any user" in output, output


def test_a_run_frozen_between_token_and_email_sends_no_second_reminder_after_a_takeover(
    env: CaseEnv, tmp_path: Path
) -> None:
    env.add_templates()
    users = [env.add_user(created_at=int(time.time()) - REMIND_AFTER - 100) for _ in range(4)]
    ids = sorted(str(u["_id"]) for u in users)
    a = start_cli(env.config_path, tmp_path, USERMGMT_TEST_FREEZE_AT="notify:token-inserted")
    wait_until_frozen(a)
    assert env.temp_tokens.count_documents({}) == 4 and env.outgoing.count_documents({}) == 0

    [b] = TASKS["send_reminder_to_confirm_accounts"](env.context())
    assert b.done == 4
    deliver_queued_emails(env)
    output = resume(a)

    assert_lost_its_lease(a, output)
    assert emails_per_user(env, "registration") == dict.fromkeys(ids, 1)
    tokens = [t["userID"] for t in env.temp_tokens.find({})]
    assert sorted(tokens) == ids  # B reused the token A had inserted under its pre-assigned id
    assert audit_per_user(env, "registration", "done") == dict.fromkeys(ids, 1)
    journal = list(env.journal.find({}))
    assert [e["state"] for e in journal] == ["done"] * 4  # A did not overwrite B's `done`


class FreezingHook(BaseHTTPRequestHandler):
    """An external LEAVE handler that freezes the calling worker on its first request, then answers."""

    requests: typing.ClassVar[list[dict[str, Any]]] = []
    freeze_pid: typing.ClassVar[int | None] = None

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        FreezingHook.requests.append(body)
        if FreezingHook.freeze_pid is not None:
            os.kill(FreezingHook.freeze_pid, signal.SIGSTOP)
            FreezingHook.freeze_pid = None
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def freezing_hook() -> Iterator[str]:
    FreezingHook.requests = []
    FreezingHook.freeze_pid = None
    server = ThreadingHTTPServer(("127.0.0.1", 0), FreezingHook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hooks"
    server.shutdown()


def seed_participants(env: CaseEnv, users: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    env.add_templates()
    studies = {
        "b": env.add_study("study-b", method="", rules=RULES_B),
        "c": env.add_study("study-c", method="same", rules=RULES_C),
    }
    seeded = []
    for _ in range(users):
        user = env.add_user(
            created_at=int(time.time()) - DELETE_UNVERIFIED_AFTER - 100, profiles=[(ObjectId(), True)]
        )
        for study in studies.values():
            env.add_participant(study, user["profiles"][0]["_id"])
            env.add_confidential_response(study, user["profiles"][0]["_id"])
        seeded.append(user)
    return seeded, studies


def test_a_run_frozen_inside_leave_evaluation_makes_no_second_external_call_or_report(
    tmp_path: Path, mongo_uri: str, mongo_client: MongoClient, db_prefix: str, freezing_hook: str
) -> None:
    env = make_env(tmp_path, mongo_uri, mongo_client, db_prefix)
    document = config_document(mongo_uri, db_prefix, run_tasks=["clean_up_unverified_users"])
    document["study_configs"]["external_services"] = [
        {"name": "leave-hook", "url": freezing_hook, "timeout": 30}
    ]
    env.config_path = write_config(tmp_path / "hook-config.yaml", document)
    env.config = load_config(env.config_path, env={})
    users, studies = seed_participants(env, 3)
    ids = sorted(str(u["_id"]) for u in users)

    a = start_cli(env.config_path, tmp_path)
    FreezingHook.freeze_pid = a.pid
    wait_until_frozen(a)  # inside its first external call, the reply not yet read
    assert len(FreezingHook.requests) == 1

    [b] = TASKS["clean_up_unverified_users"](env.context())
    deliver_queued_emails(env)
    output = resume(a)

    assert_lost_its_lease(a, output)
    called = sorted(r["participantState"]["participantId"] for r in FreezingHook.requests)
    expected = sorted(env.ids(studies["c"], u["profiles"][0]["_id"])[0] for u in users)
    assert called == expected  # one call per participant: A's first, and B's for the two A never reached
    reports = env.study_db["study-b_reports"].find({"key": "leaveReport"})
    assert sorted(r["participantID"] for r in reports) == sorted(
        env.ids(studies["b"], u["profiles"][0]["_id"])[0] for u in users
    )
    assert emails_per_user(env, "account-deleted") == dict.fromkeys(ids, 1)
    assert audit_per_user(env, "delete", "done") == dict.fromkeys(ids, 1)
    assert audit_per_user(env, "leave-rules:study-b", "applied") == dict.fromkeys(ids, 1)
    # the call A made is not repeated: that participant's rules are reported as not run, its data erased
    assert b.extra["leave_rule_failures"] == 1
    for user in users:
        participant_id = env.ids(studies["c"], user["profiles"][0]["_id"])[0]
        doc = env.study_db["study-c_participants"].find_one({"participantID": participant_id})
        assert doc["studyStatus"] == "accountDeleted"
        assert env.study_db["study-c_confidentialResponses"].count_documents({}) == 0
    assert env.users.count_documents({}) == 0
    env.close()


def test_a_run_frozen_inside_a_database_command_queues_no_second_deletion_notice(
    tmp_path: Path, mongo_uri: str, mongo_client: MongoClient, db_prefix: str
) -> None:
    """A is frozen while its insert of the deletion emails is at the server (the proxy forwards the command
    after freezing A): the server queues them, B finds them queued, the messaging service sends them, and A,
    resumed with the reply in its socket, closes no journal entry and queues nothing."""
    env = make_env(tmp_path, mongo_uri, mongo_client, db_prefix)
    env.add_templates()
    users = [env.add_user(created_at=int(time.time()) - DELETE_UNVERIFIED_AFTER - 100) for _ in range(3)]
    ids = sorted(str(u["_id"]) for u in users)
    upstream_host, upstream_port = host_of(mongo_uri).split("/")[0].rsplit(":", 1)
    with SlowProxy(upstream_host, int(upstream_port)) as proxy:
        proxy.only_after = b"outgoing-emails"
        document = config_document(mongo_uri, db_prefix, run_tasks=["clean_up_unverified_users"])
        for db in document["db_configs"].values():
            db["connection_str"] = proxy.host_port
        config = write_config(tmp_path / "proxied.yaml", document)
        a = start_cli(config, tmp_path)
        proxy.on_match = lambda: (os.kill(a.pid, signal.SIGSTOP), setattr(proxy, "on_match", None))
        wait_until_frozen(a)
        time.sleep(0.5)  # the forwarded insert reaches the server
        [b] = TASKS["clean_up_unverified_users"](env.context())
        deliver_queued_emails(env)
        output = resume(a)

    assert_lost_its_lease(a, output)
    assert b.failed == 0
    assert emails_per_user(env, "account-deleted") == dict.fromkeys(ids, 1)
    assert audit_per_user(env, "delete", "done") == dict.fromkeys(ids, 1)
    assert [e["state"] for e in env.journal.find({})] == ["done"] * 3
    env.close()
