"""EXTERNAL_EVENT_HANDLER / externalEventEval against real HTTP and HTTPS (client-cert) servers on 127.0.0.1."""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import trustme

from usermgmt_pipeline.studyengine import (
    ExternalServiceSettings,
    Participant,
    StudyEngine,
    StudyEngineError,
    StudyEvent,
)
from usermgmt_pipeline_tests.studyengine.builders import expr
from usermgmt_pipeline_tests.studyengine.conftest import evaluate, fixed_clock

E = expr
API_KEY = "s3cr3t-api-key"


class Recorder:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.status = 200
        self.body = b"{}"
        self.delay = 0.0


def _serve(recorder: Recorder, tls: ssl.SSLContext | None) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            recorder.requests.append(
                {"path": self.path, "headers": dict(self.headers), "body": self.rfile.read(length)}
            )
            time.sleep(recorder.delay)
            self.send_response(recorder.status)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(recorder.body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    scheme = "https" if tls else "http"
    yield f"{scheme}://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def http_url(recorder: Recorder) -> Iterator[str]:
    yield from _serve(recorder, None)


@pytest.fixture
def tls_material(tmp_path: Path) -> dict[str, Any]:
    ca = trustme.CA()
    server_cert = ca.issue_cert("127.0.0.1")
    client_cert = ca.issue_cert("client.example")
    files = {"ca": tmp_path / "ca.pem", "cert": tmp_path / "client.pem", "key": tmp_path / "client.key"}
    ca.cert_pem.write_to_path(str(files["ca"]))
    client_cert.cert_chain_pems[0].write_to_path(str(files["cert"]))
    client_cert.private_key_pem.write_to_path(str(files["key"]))
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_cert.configure_cert(server_context)
    ca.configure_trust(server_context)
    server_context.verify_mode = ssl.CERT_REQUIRED
    return {"files": files, "server": server_context}


@pytest.fixture
def https_url(recorder: Recorder, tls_material: dict[str, Any]) -> Iterator[str]:
    yield from _serve(recorder, tls_material["server"])


LEAVE = StudyEvent(
    instance_id="inst", study_key="sk", type="LEAVE", participant_id_for_confidential_responses="cid"
)
STATE = Participant(participant_id="p<1>", study_status="active", flags={"b": "2", "a": "1&"}, entered_at=5)


def _engine(*services: ExternalServiceSettings) -> StudyEngine:
    return StudyEngine(store=None, external_services=list(services), clock=fixed_clock())


def _service(url: str, **kwargs: Any) -> ExternalServiceSettings:
    return ExternalServiceSettings(
        name="svc", url=url + "/api/", api_key=API_KEY, timeout_seconds=5, **kwargs
    )


EXPECTED_BODY = (
    '{"participantState":{"id":"000000000000000000000000","participantId":"p\\u003c1\\u003e",'
    '"currentStudySession":"","modifiedAt":0,"enteredAt":5,"studyStatus":"active",'
    '"flags":{"a":"1\\u0026","b":"2"},"linkingCodes":null,"assignedSurveys":null,"lastSubmissions":null,'
    '"messages":null},"eventType":"LEAVE","studyKey":"sk","instanceID":"inst",'
    '"surveyResponses":{"id":"000000000000000000000000","key":"","participantId":"","versionId":"",'
    '"openedAt":0,"submittedAt":0,"arrivedAt":0,"responses":null,"context":null},"eventKey":"","payload":null}'
)


def test_handler_posts_go_payload_and_applies_returned_state_and_reports(recorder, http_url) -> None:
    recorder.body = json.dumps(
        {
            "pState": {"participantId": "p<1>", "studyStatus": "exited", "flags": {"x": "y"}, "enteredAt": 5},
            "reportsToCreate": [
                {"key": "ext", "participantID": "p<1>", "timestamp": 7, "data": [{"key": "k", "value": "v"}]}
            ],
        }
    ).encode()
    rules = [
        E(
            "IFTHEN",
            E("checkEventType", "LEAVE"),
            E("INIT_REPORT", "own"),
            E("EXTERNAL_EVENT_HANDLER", "svc", "/leave"),
        )
    ]
    result = _engine(_service(http_url)).run_rules(rules, LEAVE, STATE)
    (request,) = recorder.requests
    assert request["path"] == "/api/leave"
    assert request["headers"]["Api-Key"] == API_KEY
    assert request["headers"]["Content-Type"] == "application/json"
    assert request["body"].decode() == EXPECTED_BODY
    assert result.participant == Participant(
        participant_id="p<1>", study_status="exited", flags={"x": "y"}, entered_at=5
    )
    assert [(r.key, r.timestamp) for r in result.reports] == [("ext", 7), ("own", 1609459200)]


def test_handler_without_api_key_sends_no_header_and_keeps_state_on_empty_reply(recorder, http_url) -> None:
    service = ExternalServiceSettings(name="svc", url=http_url, api_key="", timeout_seconds=5)
    recorder.body = b"null trailing bytes are ignored"
    result = _engine(service).run_rules([E("EXTERNAL_EVENT_HANDLER", "svc")], LEAVE, STATE)
    assert "Api-Key" not in recorder.requests[0]["headers"] and recorder.requests[0]["path"] == "/"
    assert result.participant == STATE


def test_external_event_eval_returns_the_value_field(recorder, http_url) -> None:
    recorder.body = b'{"value": 3}'
    engine = _engine(_service(http_url))
    assert evaluate(E("externalEventEval", "svc", "score", return_type="float"), STATE, LEAVE, engine) == 3.0
    recorder.body = b'{"value": {"a": [1, "x"]}}'
    assert evaluate(E("externalEventEval", "svc"), STATE, LEAVE, engine) == {"a": [1.0, "x"]}


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (500, b"{}", "unexpected HTTP status 500"),
        (200, b"not json", "not valid JSON"),
        (200, b"[1]", "not a JSON object"),
    ],
)
def test_handler_errors_never_leak_the_api_key(recorder, http_url, status, body, message) -> None:
    recorder.status, recorder.body = status, body
    with pytest.raises(StudyEngineError, match=message) as error:
        _engine(_service(http_url)).run_rules([E("EXTERNAL_EVENT_HANDLER", "svc")], LEAVE, STATE)
    assert API_KEY not in str(error.value) and API_KEY not in repr(_service(http_url))


def test_handler_timeout_is_an_error(recorder, http_url) -> None:
    recorder.delay = 1.5
    service = ExternalServiceSettings(name="svc", url=http_url, api_key=API_KEY, timeout_seconds=0.3)
    with pytest.raises(StudyEngineError, match="timed out"):
        _engine(service).run_rules([E("EXTERNAL_EVENT_HANDLER", "svc")], LEAVE, STATE)


def test_unknown_service_is_an_error() -> None:
    with pytest.raises(StudyEngineError, match="no external service config found with name: nope"):
        _engine().run_rules([E("EXTERNAL_EVENT_HANDLER", "nope")], LEAVE, STATE)


def test_mtls_presents_client_cert_and_verifies_server_with_ca_file(
    recorder, https_url, tls_material
) -> None:
    files = tls_material["files"]
    recorder.body = b'{"pState": {"studyStatus": "tls-ok"}}'
    service = _service(
        https_url, cert_file=str(files["cert"]), key_file=str(files["key"]), ca_file=str(files["ca"])
    )
    result = _engine(service).run_rules([E("EXTERNAL_EVENT_HANDLER", "svc", "x")], LEAVE, STATE)
    assert result.participant.study_status == "tls-ok" and recorder.requests[0]["path"] == "/api/x"


def test_mtls_with_wrong_ca_fails(recorder, https_url, tls_material, tmp_path: Path) -> None:
    files = tls_material["files"]
    other_ca = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other_ca))
    service = _service(
        https_url, cert_file=str(files["cert"]), key_file=str(files["key"]), ca_file=str(other_ca)
    )
    with pytest.raises(StudyEngineError, match="request failed"):
        _engine(service).run_rules([E("EXTERNAL_EVENT_HANDLER", "svc")], LEAVE, STATE)
    assert recorder.requests == []
