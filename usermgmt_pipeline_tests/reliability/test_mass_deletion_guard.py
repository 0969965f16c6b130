"""A threshold typo (`delete_unverified_users_after: "1s"`) on a populated instance trips the guard first."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from pymongo import MongoClient

from usermgmt_pipeline.tasks.results import MassDeletionGuardError
from usermgmt_pipeline_tests.reliability.conftest import NOW_NS
from usermgmt_pipeline_tests.reliability.harness import INSTANCE, REPO_ROOT, run_task, snapshot

Clone = Callable[..., tuple[str, Path]]


def test_a_one_second_threshold_trips_the_guard_before_any_deletion(
    cloned_instance: Clone, mongo_client: MongoClient
) -> None:
    prefix, config = cloned_instance(delete_unverified_after="1s")
    before = snapshot(mongo_client, prefix)

    with pytest.raises(MassDeletionGuardError) as tripped:
        run_task(config, "clean_up_unverified_users", NOW_NS)

    extra = tripped.value.result.extra
    assert extra["guard_candidates"] == 5 and extra["guard_total_users"] == 35
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
