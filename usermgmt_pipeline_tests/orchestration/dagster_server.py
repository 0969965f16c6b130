"""Start `dagster-webserver` and `dagster-daemon` on 127.0.0.1 for end-to-end tests, and talk GraphQL to them."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from dagster import DagsterInstance

BIN = Path(sys.executable).parent
LOCATION = "usermgmt_pipeline"
REPOSITORY = "__repository__"

# GraphQL the end-to-end tests send to the webserver.
REPOSITORY_SELECTOR = {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY}
LAUNCH_BACKFILL = """
mutation($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
  }
}"""
LAUNCH_RUN = """
mutation($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on RunConfigValidationInvalid { errors { message } }
  }
}"""
RUNS = """
query($filter: RunsFilter) {
  runsOrError(filter: $filter) { ... on Runs { results { runId status tags { key value } } } }
}"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class DagsterServer:
    url: str
    home: Path

    def graphql(self, query: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
        response = httpx.post(
            f"{self.url}/graphql", json={"query": query, "variables": variables or {}}, timeout=60
        )
        response.raise_for_status()
        body = response.json()
        assert "errors" not in body, body["errors"]
        return body["data"]


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Kill the whole process group (the webserver and daemon spawn code servers and run workers)."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
    except ProcessLookupError:
        return
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


@contextmanager
def running_dagster(home: Path, env: Mapping[str, str], dagster_yaml: str) -> Iterator[DagsterServer]:
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(dagster_yaml)
    workspace = home / "workspace.yaml"
    workspace.write_text(
        f"load_from:\n  - python_module:\n      module_name: usermgmt_pipeline.definitions\n"
        f"      location_name: {LOCATION}\n"
    )
    # Create the SQLite storages once, before two processes race to create the same tables.
    with DagsterInstance.from_config(str(home)):
        pass
    full_env = {**os.environ, **env, "DAGSTER_HOME": str(home), "DAGSTER_DISABLE_TELEMETRY": "1"}
    port = free_port()
    logs = [open(home / name, "wb") for name in ("daemon.log", "webserver.log")]  # noqa: SIM115
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for command, log in (
            ([str(BIN / "dagster-daemon"), "run", "-w", str(workspace)], logs[0]),
            (
                [str(BIN / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(port), "-w", str(workspace)],
                logs[1],
            ),
        ):
            processes.append(
                subprocess.Popen(
                    command,
                    cwd=home,
                    env=full_env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        server = DagsterServer(url=f"http://127.0.0.1:{port}", home=home)
        deadline = time.monotonic() + 120
        while True:
            try:
                data = server.graphql(
                    "{ workspaceOrError { ... on Workspace { locationEntries { name "
                    "locationOrLoadError { __typename } } } } }"
                )
                entries = data["workspaceOrError"]["locationEntries"]
                if entries and entries[0]["locationOrLoadError"]["__typename"] == "RepositoryLocation":
                    break
            except (httpx.HTTPError, AssertionError, KeyError, TypeError):
                pass
            if time.monotonic() > deadline or any(p.poll() is not None for p in processes):
                raise RuntimeError(
                    "dagster webserver did not come up:\n" + (home / "webserver.log").read_text()
                )
            time.sleep(0.5)
        yield server
    finally:
        for process in reversed(processes):
            _stop(process)
        for log in logs:
            log.close()
