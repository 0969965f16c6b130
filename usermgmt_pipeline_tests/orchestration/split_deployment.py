"""The docker-compose deployment as local processes: the code location (`dagster code-server start`), the
webserver and the daemon, each in its own process group, on a PostgreSQL-backed instance, all on loopback.

Commands and environments come from docker-compose.yaml (compose_services); the instance is deploy/dagster.yaml
with only its polling intervals shortened, so the test finishes in minutes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

import httpx
import psycopg2
import yaml
from dagster._grpc.client import DagsterGrpcClient

from usermgmt_pipeline_tests.orchestration.compose_services import (
    LocalService,
    binds,
    load_compose,
    local_service,
    service,
)
from usermgmt_pipeline_tests.orchestration.dagster_server import BIN, DagsterServer, free_port

DAGSTER_HOME = "/opt/dagster/home"
# Inherited from the test runner, these would hide what the compose file sets (or fails to set).
NOT_INHERITED = frozenset({"DAGSTER_HOME", "CONFIG_FILE_PATH", "DAGSTER_PG_URL"})


def instance_yaml_for_test(shipped: str) -> str:
    """deploy/dagster.yaml with shorter polling; first asserts the settings the test relies on are shipped."""
    doc: dict[str, Any] = yaml.safe_load(shipped)
    assert doc["telemetry"] == {"enabled": False}
    assert doc["storage"]["postgres"]["postgres_url"] == {"env": "DAGSTER_PG_URL"}
    coordinator = doc["run_coordinator"]
    assert coordinator["class"] == "QueuedRunCoordinator"
    assert {
        "key": "dagster/partition",
        "limit": 1,
        "value": {"applyLimitPerUniqueValue": True},
    } in coordinator["config"]["tag_concurrency_limits"]
    assert doc["run_monitoring"]["enabled"] is True
    assert doc["run_retries"] == {"enabled": True, "max_retries": 1, "retry_on_asset_or_op_failure": False}
    coordinator["config"]["dequeue_interval_seconds"] = 1
    doc["run_monitoring"].update(poll_interval_seconds=2, start_timeout_seconds=60)
    return yaml.safe_dump(doc, sort_keys=False)


def workspace_yaml_for_test(shipped: str, addresses: Mapping[str, str]) -> str:
    """deploy/workspace.yaml with each gRPC server's `host:port` replaced by its loopback address."""
    doc: dict[str, Any] = yaml.safe_load(shipped)
    for entry in doc["load_from"]:
        grpc = entry["grpc_server"]
        host, port = addresses[f"{grpc['host']}:{grpc['port']}"].split(":")
        grpc.update(host=host, port=int(port))
    return yaml.safe_dump(doc, sort_keys=False)


@dataclass
class SplitDeployment:
    home: Path
    pg_url: str  # as the Dagster processes use it (postgresql+psycopg2://…)
    services: dict[str, LocalService]
    base_env: dict[str, str]
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    logs: list[IO[bytes]] = field(default_factory=list)
    webserver: DagsterServer | None = None

    def start(self, name: str) -> subprocess.Popen[bytes]:
        spec = self.services[name]
        log = open(self.home / f"{name}.log", "ab")  # noqa: SIM115 - closed in stop_all
        self.logs.append(log)
        process = subprocess.Popen(
            spec.argv,
            cwd=self.home,
            env={**self.base_env, **spec.env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: a kill takes its children (run workers) too
        )
        self.processes[name] = process
        return process

    def kill(self, name: str) -> None:
        """SIGKILL the service's whole process group, as a container crash would."""
        process = self.processes.pop(name)
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)

    def log(self, name: str) -> str:
        path = self.home / f"{name}.log"
        return path.read_text(errors="replace")[-6000:] if path.exists() else ""

    def stop_all(self) -> None:
        for name in list(self.processes)[::-1]:
            process = self.processes.pop(name)
            try:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=20)
            except ProcessLookupError:
                continue
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        for log in self.logs:
            log.close()


def _create_database(pg_url: str, user: str, name: str) -> str:
    """The database the compose file names, on the test's PostgreSQL; returns `host:port` of that server."""
    parts = urlsplit(pg_url)
    conn = psycopg2.connect(pg_url)
    try:
        conn.autocommit = True  # CREATE DATABASE refuses to run in a transaction
        with conn.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if cursor.fetchone() is None:
                cursor.execute(f'CREATE DATABASE "{name}" OWNER "{user}"')
    finally:
        conn.close()
    return f"{parts.hostname}:{parts.port}"


def _wait_for_code_server(port: int, process: subprocess.Popen[bytes], deployment: SplitDeployment) -> None:
    client = DagsterGrpcClient(port=port, host="127.0.0.1")
    deadline = time.monotonic() + 120
    while True:
        try:
            client.ping("ready")
            return
        except Exception:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    "code location did not start:\n" + deployment.log("code-location")
                ) from None
            time.sleep(0.5)


def _wait_for_webserver(deployment: SplitDeployment) -> None:
    server = deployment.webserver
    assert server is not None
    deadline = time.monotonic() + 120
    while True:
        try:
            data = server.graphql(
                "{ workspaceOrError { ... on Workspace { locationEntries { name "
                "locationOrLoadError { __typename ... on PythonError { message } } } } } }"
            )
            entries = data["workspaceOrError"]["locationEntries"]
            if entries and entries[0]["locationOrLoadError"]["__typename"] == "RepositoryLocation":
                return
            if entries and entries[0]["locationOrLoadError"]["__typename"] == "PythonError":
                raise RuntimeError(f"code location failed to load: {entries[0]['locationOrLoadError']}")
        except (httpx.HTTPError, AssertionError, KeyError, TypeError):
            pass
        if time.monotonic() > deadline or deployment.processes["webserver"].poll() is not None:
            raise RuntimeError("webserver did not come up:\n" + deployment.log("webserver"))
        time.sleep(0.5)


@contextmanager
def running_split_deployment(home: Path, pg_url: str, config_path: Path) -> Iterator[SplitDeployment]:
    """docker-compose.yaml's code-location, webserver and daemon as local processes, against `pg_url`
    (the test's PostgreSQL standing in for the `postgres` service) and the user-management `config_path`."""
    compose = load_compose()
    postgres_env = service(compose, "postgres")["environment"]
    pg_address = _create_database(pg_url, postgres_env["POSTGRES_USER"], postgres_env["POSTGRES_DB"])
    grpc_port, web_port = free_port(), free_port()
    addresses = {"postgres:5432": pg_address, "code-location:4000": f"127.0.0.1:{grpc_port}"}
    # The password is ignored by the test server (trust authentication) but required by the compose file.
    variables = {"DAGSTER_PG_PASSWORD": "unused-by-the-test-server", "USERMGMT_CONFIG": str(config_path)}
    home.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {DAGSTER_HOME: home}
    for name in ("code-location", "webserver", "daemon"):
        for bind in binds(compose, name, variables):
            if not bind.target.startswith(DAGSTER_HOME + "/"):
                paths[bind.target] = bind.source
                continue
            shipped = bind.source.read_text(encoding="utf-8")
            target = home / bind.target.removeprefix(DAGSTER_HOME + "/")
            if target.name == "dagster.yaml":
                target.write_text(instance_yaml_for_test(shipped))
            elif target.name == "workspace.yaml":
                target.write_text(workspace_yaml_for_test(shipped, addresses))
            else:
                target.write_text(shipped)
    ports = {"code-location": grpc_port, "webserver": web_port, "daemon": None}
    services = {
        name: local_service(
            compose, name, variables=variables, bin_dir=BIN, paths=paths, addresses=addresses, port=port
        )
        for name, port in ports.items()
    }
    base_env = {k: v for k, v in os.environ.items() if k not in NOT_INHERITED}
    deployment = SplitDeployment(
        home=home, pg_url=services["webserver"].env["DAGSTER_PG_URL"], services=services, base_env=base_env
    )
    try:
        _wait_for_code_server(grpc_port, deployment.start("code-location"), deployment)
        deployment.start("webserver")
        deployment.webserver = DagsterServer(url=f"http://127.0.0.1:{web_port}", home=home)
        deployment.start("daemon")
        _wait_for_webserver(deployment)
        yield deployment
    finally:
        deployment.stop_all()
