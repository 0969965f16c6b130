"""Deleting a user whose profiles take part in three studies with different LEAVE rules (issue 5).

Study A changes the status and a flag, study B creates a report, study C calls an external handler (a real
HTTP server on 127.0.0.1) and removes the confidential responses by rule. Every resulting document is
asserted; then the same deletion with the external service unreachable still erases everything.
"""

from __future__ import annotations

import json
import threading
import typing
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from bson import Int64, ObjectId
from pymongo import MongoClient

from devtools.local_mongo import free_port
from usermgmt_pipeline.demo.documents import exp_arg, on_leave, str_arg
from usermgmt_pipeline.tasks.clean_up_unverified_users import clean_up_unverified_users
from usermgmt_pipeline_tests.tasks.helpers import (
    DELETE_UNVERIFIED_AFTER,
    CaseEnv,
    config_document,
    make_env,
    write_config,
)

RULES_A = [
    on_leave(
        exp_arg("UPDATE_STUDY_STATUS", str_arg("exited")),
        exp_arg("UPDATE_FLAG", str_arg("left"), str_arg("yes")),
    )
]
RULES_B = [
    on_leave(
        exp_arg("INIT_REPORT", str_arg("leaveReport")),
        exp_arg("UPDATE_REPORT_DATA", str_arg("leaveReport"), str_arg("reason"), str_arg("account deleted")),
    )
]
RULES_C = [
    on_leave(
        exp_arg("EXTERNAL_EVENT_HANDLER", str_arg("leave-hook"), str_arg("/participant-left")),
        exp_arg("REMOVE_ALL_CONFIDENTIAL_RESPONSES"),
    )
]


class Recorder(BaseHTTPRequestHandler):
    requests: typing.ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Recorder.requests.append({"path": self.path, "headers": dict(self.headers), "json": json.loads(body)})
        reply = json.dumps(
            {"reportsToCreate": [{"key": "externalAck", "data": [{"key": "ok", "value": "1"}]}]}
        )
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(reply.encode())

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def hook_server() -> Iterator[str]:
    Recorder.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hooks"
    server.shutdown()


def env_with_hook(
    tmp_path: Path, mongo_uri: str, mongo_client: MongoClient, db_prefix: str, url: str
) -> CaseEnv:
    env = make_env(tmp_path, mongo_uri, mongo_client, db_prefix)
    document = config_document(mongo_uri, db_prefix, run_tasks=["clean_up_unverified_users"])
    document["study_configs"]["external_services"] = [
        {"name": "leave-hook", "url": url, "apiKey": "hook-secret-key", "timeout": 5}
    ]
    env.config_path = write_config(tmp_path / "hook-config.yaml", document)
    from usermgmt_pipeline.config import load_config

    env.config = load_config(env.config_path, env={})
    return env


def seed_three_studies(env: CaseEnv) -> dict[str, Any]:
    env.add_templates()
    studies = {
        "a": env.add_study("study-a", method="sha256", rules=RULES_A),
        "b": env.add_study("study-b", method="", rules=RULES_B),
        "c": env.add_study("study-c", method="same", rules=RULES_C),
    }
    user = env.add_user(
        created_at=env.t0 - DELETE_UNVERIFIED_AFTER - 60, profiles=[(ObjectId(), True), (ObjectId(), False)]
    )
    profile_ids = [p["_id"] for p in user["profiles"]]
    for study in studies.values():
        for pid in profile_ids:
            env.add_participant(study, pid)
            env.add_confidential_response(study, pid)
            env.add_id_map_entry(study, pid)
    return {"user": user, "studies": studies, "profiles": profile_ids}


def assert_erased(env: CaseEnv, seeded: dict[str, Any]) -> None:
    for study in seeded["studies"].values():
        key = study["key"]
        for pid in seeded["profiles"]:
            participant_id, confidential_id = env.ids(study, pid)
            doc = env.study_db[f"{key}_participants"].find_one({"participantID": participant_id})
            assert doc["studyStatus"] == "accountDeleted", key
            assert isinstance(doc["modifiedAt"], Int64)
            assert (
                env.study_db[f"{key}_confidentialResponses"].count_documents(
                    {"participantID": confidential_id}
                )
                == 0
            )
        assert env.id_map.count_documents({"studyKey": key}) == 0
    assert env.users.count_documents({"_id": seeded["user"]["_id"]}) == 0
    assert (
        env.outgoing.count_documents({"userId": str(seeded["user"]["_id"]), "messageType": "account-deleted"})
        == 1
    )


def test_deletion_runs_each_studys_leave_rules_and_erases_every_study(
    tmp_path: Path, mongo_uri: str, mongo_client: MongoClient, db_prefix: str, hook_server: str
) -> None:
    env = env_with_hook(tmp_path, mongo_uri, mongo_client, db_prefix, hook_server)
    seeded = seed_three_studies(env)

    result = clean_up_unverified_users(env.context())

    assert (result.done, result.failed, result.extra["leave_rule_failures"]) == (1, 0, 0)
    assert_erased(env, seeded)
    a, b = seeded["studies"]["a"], seeded["studies"]["b"]
    for pid in seeded["profiles"]:
        pa, _ = env.ids(a, pid)
        doc_a = env.study_db["study-a_participants"].find_one({"participantID": pa}, {"_id": 0})
        assert doc_a["flags"] == {"left": "yes"}
        assert list(doc_a)[:6] == [
            "participantID",
            "currentStudySession",
            "modifiedAt",
            "enteredAt",
            "studyStatus",
            "flags",
        ]
        pb, _ = env.ids(b, pid)
        [report] = list(env.study_db["study-b_reports"].find({"participantID": pb}))
        assert report["key"] == "leaveReport" and report["responseID"] == "LEAVE"
        assert report["data"] == [{"key": "reason", "value": "account deleted"}]
        assert isinstance(report["timestamp"], Int64)
        assert "modifiedAt" not in report
    assert env.study_db["study-a_reports"].count_documents({}) == 0
    # Study C: one external call per profile, with the Go payload and the API key header.
    assert len(Recorder.requests) == 2
    for request in Recorder.requests:
        assert request["path"] == "/hooks/participant-left"
        assert request["headers"]["Api-Key"] == "hook-secret-key"
        assert request["json"]["eventType"] == "LEAVE"
        assert request["json"]["studyKey"] == "study-c"
        assert request["json"]["participantState"]["studyStatus"] == "active"
    acks = list(env.study_db["study-c_reports"].find({"key": "externalAck"}))
    assert len(acks) == 2 and all(r["responseID"] == "LEAVE" for r in acks)


def test_unreachable_external_service_still_erases_and_reports_the_rule_failure(
    tmp_path: Path, mongo_uri: str, mongo_client: MongoClient, db_prefix: str
) -> None:
    env = env_with_hook(tmp_path, mongo_uri, mongo_client, db_prefix, f"http://127.0.0.1:{free_port()}/hooks")
    seeded = seed_three_studies(env)

    result = clean_up_unverified_users(env.context())

    assert result.done == 1
    assert result.extra["leave_rule_failures"] == 2  # study C, once per profile
    assert all("study study-c" in detail for detail in result.extra["leave_rule_failure_details"])
    assert "hook-secret-key" not in json.dumps(result.extra)
    assert_erased(env, seeded)
    journal = env.journal.find_one({"userID": str(seeded["user"]["_id"])})
    assert journal["state"] == "done" and len(journal["ruleFailures"]) >= 1
    assert (
        env.client[f"{db_prefix}usermgmt-pipeline"]["audit"].count_documents(
            {"userID": str(seeded["user"]["_id"]), "action": "leave-rules:study-c", "outcome": "failed"}
        )
        == 2
    )
