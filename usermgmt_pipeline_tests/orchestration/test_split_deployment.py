"""The deployment Docker and Kubernetes users run, end to end: docker-compose.yaml's code location
(`dagster code-server start`, named by a `grpc_server` workspace), webserver and daemon as separate process
groups on a PostgreSQL-backed instance with the queued run coordinator's per-instance limit.

A backfill over six instances loses its daemon to SIGKILL half way and gets a new one; a run whose launch
died with the daemon stays STARTING until run monitoring fails it, and run retries starts it again. Then a
run worker is SIGKILLed while it waits for the database: its code server reports the dead process, the run
fails, and the configured retry finishes its work. Throughout, no two runs of one instance overlap, and the
CASE databases end exactly as after a clean run of the same job (the `user-management` CLI on a
byte-identical copy of the data).
"""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest
from dagster import DagsterEventType, DagsterInstance, RunsFilter
from pymongo import MongoClient

from usermgmt_pipeline.config import load_config
from usermgmt_pipeline_tests.orchestration.dagster_server import (
    BIN,
    LAUNCH_BACKFILL,
    LAUNCH_RUN,
    REPOSITORY_SELECTOR,
    RUNS,
    DagsterServer,
)
from usermgmt_pipeline_tests.orchestration.helpers import config_document, connection_str, seed, write_config
from usermgmt_pipeline_tests.orchestration.postgres_server import NoPostgresError, running_postgres
from usermgmt_pipeline_tests.orchestration.split_deployment import SplitDeployment, running_split_deployment
from usermgmt_pipeline_tests.reliability.harness import (
    assert_same_state,
    clone_databases,
    drop_prefix,
    new_prefix,
    snapshot,
)
from usermgmt_pipeline_tests.reliability.slow_proxy import SlowProxy

JOB = "user_management_job"
BACKFILLED = [f"site{i}" for i in range(1, 7)]
WORKER_KILLED = "site7"
INSTANCES = [*BACKFILLED, WORKER_KILLED]
# The seed's users sit at most a minute from a threshold; seeding this far ahead keeps every user on the
# same side of every threshold for the clean run and the deployment's runs, minutes apart.
SEED_AHEAD_S = 600
# The run worker is killed while it waits for the reply to its first email insert (its user already deleted).
HELD_REQUEST = b"outgoing-emails"
FINISHED = ("SUCCESS", "FAILURE", "CANCELED")

BACKFILL_STATUS = """
query($id: String!) { partitionBackfillOrError(backfillId: $id) { ... on PartitionBackfill { status } } }"""


@dataclass(frozen=True)
class RunClock:
    """Seconds a run writes from its own clock (`now`, or `now` plus a configured duration): the clean run
    and the deployment's runs happen minutes apart, so these differ and are compared symbolically."""

    begin: int
    end: int
    shifts: tuple[int, ...]

    def symbol(self, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            for shift in self.shifts:
                if self.begin + shift <= value <= self.end + shift:
                    return f"<run clock + {shift}s>"
        if isinstance(value, dict):
            return {k: self.symbol(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.symbol(v) for v in value]
        return value


def clock_snapshot(client: MongoClient, prefix: str, clock: RunClock) -> dict[str, list[str]]:
    """The reliability harness's snapshot, with run-clock seconds replaced by their symbol."""
    return {
        name: sorted(json.dumps(clock.symbol(json.loads(doc)), sort_keys=True) for doc in docs)
        for name, docs in snapshot(client, prefix).items()
    }


def runs_tagged(server: DagsterServer, key: str, value: str) -> list[dict[str, Any]]:
    data = server.graphql(RUNS, {"filter": {"tags": [{"key": key, "value": value}]}})
    return data["runsOrError"]["results"]


def tag(run: dict[str, Any], key: str) -> str | None:
    return next((t["value"] for t in run["tags"] if t["key"] == key), None)


def wait_until(
    what: str, condition: Callable[[], Any], deployment: SplitDeployment, timeout: float = 400
) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out waiting for {what}\n--- daemon.log\n{deployment.log('daemon')}"
                f"\n--- code-location.log\n{deployment.log('code-location')}"
            )
        time.sleep(0.25)
    return result


def launch_run(server: DagsterServer, instance_id: str, marker: str) -> str:
    launched = server.graphql(
        LAUNCH_RUN,
        {
            "params": {
                "selector": {**REPOSITORY_SELECTOR, "jobName": JOB},
                "runConfigData": {},
                "executionMetadata": {
                    "tags": [
                        {"key": "dagster/partition", "value": instance_id},
                        {"key": "e2e", "value": marker},
                    ]
                },
            }
        },
    )["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    return launched["run"]["runId"]


@contextmanager
def clean_run(tmp_path: Path, mongo_uri: str, prefix: str) -> Iterator[Callable[[], None]]:
    """Every instance run once, uninterrupted, by the `user-management` CLI (in the background, beside the
    deployment); the yielded function waits for it and asserts it succeeded."""
    config = write_config(tmp_path / "clean-run.yaml", config_document(mongo_uri, prefix, INSTANCES))
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"} | {"CONFIG_FILE_PATH": str(config)}
    with open(tmp_path / "clean-run.log", "w+b") as log:
        process = subprocess.Popen(
            [str(BIN / "user-management")], env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT
        )

        def finished() -> None:
            returncode = process.wait(timeout=600)
            log.seek(0)
            assert returncode == 0, log.read().decode(errors="replace")[-5000:]

        try:
            yield finished
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=30)


@contextmanager
def local_postgres() -> Iterator[str]:
    try:
        server = running_postgres()
        url = server.__enter__()
    except NoPostgresError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield url
    finally:
        server.__exit__(None, None, None)


def failure_story(instance: DagsterInstance, run_id: str) -> list[str]:
    """The run's failure and engine messages, for an assertion message."""
    kinds = {DagsterEventType.RUN_FAILURE, DagsterEventType.ENGINE_EVENT}
    return [
        str(e.message)
        for e in instance.all_logs(run_id)
        if e.dagster_event is not None and e.dagster_event.event_type in kinds
    ]


def assert_each_instance_succeeded_once(
    instance: DagsterInstance, runs: list[dict[str, Any]], instance_ids: list[str]
) -> None:
    """One successful run per instance; a failed one only if the daemon kill cost its launch, and then it
    must have been retried (run monitoring fails a run stuck in STARTING, run_retries starts it again)."""
    by_instance: dict[str | None, list[dict[str, Any]]] = {}
    for run in runs:
        by_instance.setdefault(tag(run, "dagster/partition"), []).append(run)
    assert sorted(by_instance, key=str) == sorted(instance_ids)
    retried = {tag(r, "dagster/parent_run_id") for r in runs}
    for instance_id, own in by_instance.items():
        stories = {r["runId"]: failure_story(instance, r["runId"]) for r in own if r["status"] != "SUCCESS"}
        assert [r["status"] for r in own].count("SUCCESS") == 1, (instance_id, own, stories)
        for run_id, story in stories.items():
            assert run_id in retried, (instance_id, run_id, story)
            assert not instance.all_logs(run_id, of_type=DagsterEventType.STEP_FAILURE), story


def backfill_with_a_daemon_kill(deployment: SplitDeployment, instance: DagsterInstance) -> None:
    server = deployment.webserver
    assert server is not None
    launched = server.graphql(
        LAUNCH_BACKFILL,
        {
            "params": {
                "selector": {
                    "partitionSetName": f"{JOB}_partition_set",
                    "repositorySelector": REPOSITORY_SELECTOR,
                },
                "partitionNames": BACKFILLED,
            }
        },
    )["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched
    backfill_id = launched["backfillId"]
    # A second run of the first instance, submitted beside the backfill: the queue must serialise the two.
    launch_run(server, BACKFILLED[0], "extra")

    def under_way() -> list[dict[str, Any]] | None:
        runs = runs_tagged(server, "dagster/backfill", backfill_id)
        return runs if any(r["status"] in ("STARTED", "SUCCESS") for r in runs) else None

    at_kill = wait_until("the backfill's first run", under_way, deployment)
    deployment.kill("daemon")
    assert sum(r["status"] == "SUCCESS" for r in at_kill) < len(BACKFILLED), "killed too late to matter"
    time.sleep(2)
    deployment.start("daemon")

    def backfill_done() -> list[dict[str, Any]] | None:
        status = server.graphql(BACKFILL_STATUS, {"id": backfill_id})["partitionBackfillOrError"]["status"]
        runs = runs_tagged(server, "dagster/backfill", backfill_id)
        succeeded = {tag(r, "dagster/partition") for r in runs if r["status"] == "SUCCESS"}
        finished = all(r["status"] in FINISHED for r in runs) and succeeded == set(BACKFILLED)
        return runs if finished and status.startswith("COMPLETED") else None

    runs = wait_until(
        "every backfilled instance to succeed after the daemon restart", backfill_done, deployment
    )
    assert_each_instance_succeeded_once(instance, runs, BACKFILLED)
    extra = wait_until(
        "the extra run",
        lambda: [r for r in runs_tagged(server, "e2e", "extra") if r["status"] in FINISHED],
        deployment,
    )
    assert_each_instance_succeeded_once(instance, extra, [BACKFILLED[0]])
    print(
        f"daemon killed with backfill runs {sorted(r['status'] for r in at_kill)}; "
        f"afterwards {sorted(r['status'] for r in runs)}"
    )


def run_worker_pid(instance: DagsterInstance, run_id: str) -> int:
    for record in instance.all_logs(run_id, of_type=DagsterEventType.ENGINE_EVENT):
        match = re.search(r"Started process for run \(pid: (\d+)\)", record.message or "")
        if match:
            return int(match.group(1))
    raise AssertionError(f"run {run_id} logged no run worker pid")


def kill_a_run_worker_mid_run(
    deployment: SplitDeployment, instance: DagsterInstance, proxy: SlowProxy, users_collection: Any
) -> str:
    server = deployment.webserver
    assert server is not None
    users_before = users_collection.count_documents({})
    proxy.only_after, proxy.delay_s = HELD_REQUEST, 600.0
    run_id = launch_run(server, WORKER_KILLED, "worker-kill")
    wait_until("the run worker to wait on the held reply", lambda: proxy.matched_requests > 0, deployment)
    pid = run_worker_pid(instance, run_id)
    code_location = psutil.Process(deployment.processes["code-location"].pid)
    assert pid in {p.pid for p in code_location.children(recursive=True)}, (
        "the run executes in the code location"
    )
    assert users_collection.count_documents({}) < users_before, "the run was killed before doing anything"
    os.kill(pid, signal.SIGKILL)
    proxy.only_after, proxy.delay_s = b"", 0.0

    def retried() -> list[dict[str, Any]] | None:
        retries = runs_tagged(server, "dagster/parent_run_id", run_id)
        return retries if retries and all(r["status"] in FINISHED for r in retries) else None

    retries = wait_until("the retry of the killed run", retried, deployment)
    failed = instance.get_run_by_id(run_id)
    assert failed is not None and failed.status.value == "FAILURE"
    messages = [e.message for e in instance.all_logs(run_id, of_type=DagsterEventType.ENGINE_EVENT)]
    assert any("was terminated by signal 9" in (m or "") for m in messages), messages
    assert [(tag(r, "dagster/retry_number"), tag(r, "dagster/partition"), r["status"]) for r in retries] == [
        ("1", WORKER_KILLED, "SUCCESS")
    ]
    return run_id


def assert_no_two_runs_of_one_instance_overlap(instance: DagsterInstance) -> None:
    for instance_id in INSTANCES:
        spans = []
        for record in instance.get_run_records(RunsFilter(tags={"dagster/partition": instance_id})):
            run_id = record.dagster_run.run_id
            if record.start_time is None:  # failed in STARTING (its launch died with the daemon): never ran
                assert record.dagster_run.status.value == "FAILURE", (instance_id, run_id)
                assert not instance.all_logs(run_id, of_type=DagsterEventType.STEP_START), (
                    instance_id,
                    run_id,
                )
                continue
            assert record.end_time is not None, (instance_id, run_id)
            spans.append((record.start_time, record.end_time))
        assert spans, instance_id
        for (_, previous_end), (next_start, _) in itertools.pairwise(sorted(spans)):
            assert previous_end <= next_start, f"two runs of {instance_id} overlapped: {sorted(spans)}"


# About 3 minutes on an idle 2-core machine; the margin is for a loaded one (every step is CPU-bound).
@pytest.mark.timeout(1200)
def test_split_deployment_survives_a_daemon_kill_mid_backfill_and_a_run_worker_kill(
    tmp_path: Path, mongo_uri: str, mongo_client: MongoClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    template, deployed, clean = new_prefix(), new_prefix(), new_prefix()
    try:
        seed(mongo_client, template, INSTANCES, now=int(time.time()) + SEED_AHEAD_S)
        for prefix in (deployed, clean):
            clone_databases(mongo_client, template, mongo_client, prefix)
        runs_begin = int(time.time())
        host, port = connection_str(mongo_uri).rstrip("/").rsplit(":", 1)
        with (
            clean_run(tmp_path, mongo_uri, clean) as clean_run_finished,
            SlowProxy(host, int(port)) as proxy,
            local_postgres() as pg_url,
        ):
            config = write_config(
                tmp_path / "config.yaml",
                # a short instance lease: the killed worker's lease must expire before its retry starts
                config_document(
                    f"mongodb://{proxy.host_port}/",
                    deployed,
                    INSTANCES,
                    orchestration={"instance_lease": "2s"},
                ),
            )
            with running_split_deployment(tmp_path / "home", pg_url, config) as deployment:
                # The test reads the same instance the services share.
                monkeypatch.setenv("DAGSTER_PG_URL", deployment.pg_url)
                with DagsterInstance.from_config(str(deployment.home)) as instance:
                    assert type(instance.run_storage).__name__ == "PostgresRunStorage"
                    backfill_with_a_daemon_kill(deployment, instance)
                    users = mongo_client[f"{deployed}{WORKER_KILLED}_users"]["users"]
                    kill_a_run_worker_mid_run(deployment, instance, proxy, users)
                    assert_no_two_runs_of_one_instance_overlap(instance)
            clean_run_finished()

        durations = load_config(config).user_management_config.model_dump().values()
        clock = RunClock(
            runs_begin, int(time.time()), (0, *sorted({int(d) // 1_000_000_000 for d in durations}))
        )
        assert_same_state(
            clock_snapshot(mongo_client, deployed, clock), clock_snapshot(mongo_client, clean, clock)
        )
    finally:
        for prefix in (template, deployed, clean):
            drop_prefix(mongo_client, prefix)
