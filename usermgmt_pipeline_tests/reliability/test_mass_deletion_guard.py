"""A threshold typo (`delete_unverified_users_after: "1s"`) on a populated instance trips the guard first."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
import yaml
from bson import ObjectId
from dagster import DagsterInstance
from pymongo import MongoClient

from usermgmt_pipeline.config import GoDuration, load_config
from usermgmt_pipeline.orchestration.build import USER_MANAGEMENT_JOB, build_definitions
from usermgmt_pipeline.orchestration.build import run_config as job_run_config
from usermgmt_pipeline.orchestration.task_assets import DRY_RUN_JOB, MASS_DELETION_GUARD_TAG
from usermgmt_pipeline.tasks.clean_up_unverified_users import clean_up_unverified_users
from usermgmt_pipeline.tasks.context import RunOptions, TaskContext
from usermgmt_pipeline.tasks.deletion_plan import AUDIT_ACCOUNT_DELETED
from usermgmt_pipeline.tasks.handle_inactive_users import delete_marked_users
from usermgmt_pipeline.tasks.registry import PACKAGE_TASKS, TASKS
from usermgmt_pipeline.tasks.results import MassDeletionGuardError
from usermgmt_pipeline_tests.reliability.conftest import NOW_NS
from usermgmt_pipeline_tests.reliability.harness import INSTANCE, REPO_ROOT, run_task, snapshot
from usermgmt_pipeline_tests.tasks.helpers import (
    DELETE_UNVERIFIED_AFTER,
    GRACE,
    HOUR,
    INACTIVE_AFTER,
    CaseEnv,
    make_env,
)
from usermgmt_pipeline_tests.tasks.helpers import INSTANCE as TASK_INSTANCE

Clone = Callable[..., tuple[str, Path]]


def test_a_one_second_threshold_trips_the_guard_before_any_deletion(
    cloned_instance: Clone, mongo_client: MongoClient
) -> None:
    prefix, config = cloned_instance(delete_unverified_after="1s")
    before = snapshot(mongo_client, prefix)

    with pytest.raises(MassDeletionGuardError) as tripped:
        run_task(config, "clean_up_unverified_users", NOW_NS)

    guard = tripped.value.result.guard
    assert guard is not None and guard.candidates == 5 and guard.total_users == 35
    assert "nothing was deleted" in str(tripped.value)
    assert snapshot(mongo_client, prefix) == before


def test_the_explicit_override_lets_the_same_run_delete(
    cloned_instance: Clone, mongo_client: MongoClient
) -> None:
    prefix, config = cloned_instance(delete_unverified_after="1s")
    results = run_task(config, "clean_up_unverified_users", NOW_NS, allow_mass_deletion=True)
    assert results[0].done == 5
    users = mongo_client[f"{prefix}{INSTANCE}_users"]["users"]
    assert users.count_documents({"account.accountConfirmedAt": 0}) == 0


class _Bridge(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, object]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        type(self).received.append({"path": self.path, "headers": dict(self.headers), "body": body.decode()})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def smtp_bridge() -> Iterator[tuple[str, list[dict[str, object]]]]:
    received: ClassVar[list[dict[str, object]]] = []
    handler = type("Bridge", (_Bridge,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", received
    server.shutdown()


def test_the_cli_exits_non_zero_deletes_nobody_and_alerts_the_operators(
    cloned_instance: Clone, mongo_client: MongoClient, smtp_bridge: tuple[str, list[dict[str, object]]]
) -> None:
    url, received = smtp_bridge
    prefix, config = cloned_instance(
        delete_unverified_after="1s", smtp_url=url, operator_emails='["ops@example.org"]'
    )
    users = mongo_client[f"{prefix}{INSTANCE}_users"]["users"]
    unverified_before = users.count_documents({"account.accountConfirmedAt": 0})

    proc = subprocess.run(
        [sys.executable, "-m", "usermgmt_pipeline.cli"],
        cwd=REPO_ROOT,
        env={**os.environ, "CONFIG_FILE_PATH": str(config)},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )

    assert proc.returncode != 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "mass-deletion guard" in (proc.stdout + proc.stderr)
    # the reminder task, which runs after it, may have stamped users, but none is gone
    assert users.count_documents({"account.accountConfirmedAt": 0}) == unverified_before
    alerts = [json.loads(str(r["body"])) for r in received]
    assert any("mass-deletion guard" in json.dumps(a) for a in alerts), received


# ------------------------------------------------------------------ the guard sums what the whole run deletes


def nine_and_nine_percent(env: CaseEnv) -> None:
    """100 users: 9 unverified and old (clean_up), 9 marked and due (delete_marked), 82 active."""
    env.add_templates()
    env.add_study("s1")
    t0 = env.t0
    for _ in range(9):
        env.add_user(created_at=t0 - DELETE_UNVERIFIED_AFTER - HOUR, profiles=[(ObjectId(), True)])
    inactive = t0 - INACTIVE_AFTER - GRACE - HOUR
    for _ in range(9):
        env.add_user(
            created_at=t0 - 900 * 24 * HOUR,
            confirmed_at=t0 - 900 * 24 * HOUR,
            last_login=inactive,
            last_token_refresh=inactive,
            marked_for_deletion=t0 - HOUR,
            profiles=[(ObjectId(), True)],
        )
    for _ in range(82):
        env.add_user(
            created_at=t0 - 400 * 24 * HOUR,
            confirmed_at=t0 - 400 * 24 * HOUR,
            last_login=t0 - HOUR,
            last_token_refresh=t0 - HOUR,
            profiles=[(ObjectId(), True)],
        )


@pytest.fixture
def guarded_env(
    tmp_path: Path, mongo_uri: str, mongo_client: MongoClient, db_prefix: str
) -> Iterator[CaseEnv]:
    env = make_env(tmp_path, mongo_uri, mongo_client, db_prefix, max_deletion_share=0.10)
    nine_and_nine_percent(env)
    yield env
    env.close()


def run_job(env: CaseEnv, instance: DagsterInstance, **options: bool):  # type: ignore[no-untyped-def]
    defs = build_definitions(load_config(env.config_path, env={}), str(env.config_path))
    job = DRY_RUN_JOB if options.get("dry_run") else USER_MANAGEMENT_JOB
    return defs.resolve_job_def(job).execute_in_process(
        partition_key=TASK_INSTANCE,
        instance=instance,
        run_config=job_run_config(**options),
        raise_on_error=False,
    )


def test_two_tasks_of_9_percent_each_trip_the_run_guard_before_any_deletion(guarded_env: CaseEnv) -> None:
    with DagsterInstance.ephemeral() as instance:
        result = run_job(guarded_env, instance)

        assert not result.success
        assert guarded_env.users.count_documents({}) == 100  # nobody deleted, by either task
        assert guarded_env.outgoing.count_documents({}) == 0
        run = instance.get_run_by_id(result.run_id)
        assert run is not None and run.tags[MASS_DELETION_GUARD_TAG] == TASK_INSTANCE
        failure = next(e for e in result.all_events if e.is_step_failure)
        assert failure.step_key == "clean_up_unverified_users"
        metadata = {k: v.value for k, v in failure.step_failure_data.user_failure_data.metadata.items()}
        assert metadata["guard_candidates"] == 18 and metadata["guard_total_users"] == 100
        assert metadata["guard_would_trip"] is True
        assert "18 of 100 users (18.0%)" in metadata["guard_verdict"]

        override = run_job(guarded_env, instance, allow_mass_deletion=True)

        assert override.success
        assert guarded_env.users.count_documents({}) == 82


def test_the_dagster_dry_run_reports_the_verdict_and_deletes_nothing(guarded_env: CaseEnv) -> None:
    with DagsterInstance.ephemeral() as instance:
        result = run_job(guarded_env, instance, dry_run=True)

        assert result.success
        assert guarded_env.users.count_documents({}) == 100
        [cleanup] = [
            e.step_output_data
            for e in result.all_events
            if e.event_type_value == "STEP_OUTPUT" and e.step_key == "dry_run_clean_up_unverified_users"
        ]
        meta = {k: v.value for k, v in cleanup.metadata.items()}
        assert not result.asset_materializations_for_node("clean_up_unverified_users")
        assert meta["guard_would_trip"] is True
        assert (meta["guard_candidates"], meta["guard_total_users"]) == (18, 100)
        assert meta["guard_users_share"] == 0.18
        assert meta["guard_verdict"].startswith("mass-deletion guard at clean_up_unverified_users")
        assert "would trip: 18 of 100 users (18.0%)" in meta["guard_verdict"]
        assert "max_deletion_share=10%" in meta["guard_verdict"]


def run_cli(env: CaseEnv, *args: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k not in ("CONFIG_FILE_PATH", "DAGSTER_HOME")}
    return subprocess.run(
        [sys.executable, "-m", "usermgmt_pipeline.cli", *args],
        cwd=REPO_ROOT,
        env={**environment, "CONFIG_FILE_PATH": str(env.config_path)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_cli_dry_run_reports_the_verdict_and_the_real_run_trips(guarded_env: CaseEnv) -> None:
    dry = run_cli(guarded_env, "--dry-run")
    assert dry.returncode == 1, dry.stdout[-2000:] + dry.stderr[-2000:]  # the code the real run gives
    assert "would trip: 18 of 100 users (18.0%)" in dry.stderr
    assert "the real run would stop at the mass-deletion guard (exit 1)" in dry.stderr
    assert guarded_env.users.count_documents({}) == 100
    dry_allowed = run_cli(guarded_env, "--dry-run", "--allow-mass-deletion")
    assert dry_allowed.returncode == 0, dry_allowed.stderr[-2000:]
    assert "would trip: 18 of 100 users" in dry_allowed.stderr and "would stop" not in dry_allowed.stderr

    real = run_cli(guarded_env)
    assert real.returncode == 1, real.stdout[-2000:] + real.stderr[-2000:]
    assert "mass-deletion guard tripped" in real.stderr
    assert guarded_env.users.count_documents({}) == 100

    allowed = run_cli(guarded_env, "--allow-mass-deletion")
    assert allowed.returncode == 0, allowed.stdout[-2000:] + allowed.stderr[-2000:]
    assert "tripped, overridden by allow_mass_deletion" in allowed.stderr
    assert guarded_env.users.count_documents({}) == 82


def in_run(env: CaseEnv, run_id: str, *run_tasks: str) -> TaskContext:
    """A context of a run of these tasks, as a task's runner sets it up (the plan says which steps delete)."""
    ctx = env.context()
    ctx.options = RunOptions(run_id=run_id, run_tasks=run_tasks)
    ctx.plan = PACKAGE_TASKS.run_plan(run_tasks)
    return ctx


def test_a_later_step_counts_what_the_run_already_deleted(guarded_env: CaseEnv) -> None:
    run_id = uuid.uuid4().hex
    # A run whose first step, seen alone, stays under the share ...
    first = clean_up_unverified_users(in_run(guarded_env, run_id, "clean_up_unverified_users"))
    assert first.done == 9 and guarded_env.users.count_documents({}) == 91

    # ... then its second step sums the 9 it deleted with the 9 it would delete: 18 of 100.
    with pytest.raises(MassDeletionGuardError) as tripped:
        delete_marked_users(in_run(guarded_env, run_id, "clean_up_unverified_users", "handle_inactive_users"))

    guard = tripped.value.result.guard
    assert guard is not None and (guard.candidates, guard.total_users) == (18, 100)
    assert "9 accounts were deleted earlier in this run" in str(tripped.value)
    assert guarded_env.users.count_documents({}) == 91


# ------------------------------------------------------------------ the guard's count survives the audit purge


def test_a_purge_at_a_later_tasks_start_leaves_the_guard_the_runs_own_deletions(guarded_env: CaseEnv) -> None:
    """The probe's `audit_retention: 1s` let a later task's purge remove the records of the accounts the run
    had deleted, so 18 of 100 passed a 10% guard. Load refuses such a retention now; a config built in code is
    not held to that, and even then the purge spares the running run's records."""
    run_id = uuid.uuid4().hex
    first = TASKS["clean_up_unverified_users"](in_run(guarded_env, run_id, "clean_up_unverified_users"))
    assert first[0].done == 9 and guarded_env.users.count_documents({}) == 91
    orchestration = guarded_env.config.orchestration.model_copy(update={"audit_retention": GoDuration(10**9)})
    guarded_env.config = guarded_env.config.model_copy(update={"orchestration": orchestration})
    later = in_run(guarded_env, run_id, "clean_up_unverified_users", "handle_inactive_users")
    later.now_ns = lambda: time.time_ns() + 5 * 10**9  # every record of the clean-up is past the retention

    with pytest.raises(MassDeletionGuardError) as tripped:
        TASKS["handle_inactive_users"](later)

    guard = tripped.value.result.guard
    assert guard is not None and (guard.candidates, guard.total_users) == (18, 100)
    assert guarded_env.users.count_documents({}) == 91
    audit = guarded_env.client[f"{guarded_env.prefix}usermgmt-pipeline"]["audit"]
    assert audit.count_documents({"runID": run_id, "action": AUDIT_ACCOUNT_DELETED}) == 9


def test_a_one_second_audit_retention_is_refused_at_load_by_the_cli(guarded_env: CaseEnv) -> None:
    document = yaml.safe_load(guarded_env.config_path.read_text())
    document["orchestration"]["audit_retention"] = "1s"
    guarded_env.config_path.write_text(yaml.safe_dump(document))

    refused = run_cli(guarded_env)

    assert refused.returncode == 2, refused.stdout[-2000:] + refused.stderr[-2000:]
    assert "orchestration.audit_retention: must be at least 720h" in refused.stderr
    assert guarded_env.users.count_documents({}) == 100
    assert f"{guarded_env.prefix}usermgmt-pipeline" not in guarded_env.client.list_database_names()
