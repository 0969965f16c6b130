"""The SMTP bridge client against a real HTTP server on 127.0.0.1 (docs/tasks.md §3.5 contract)."""

from __future__ import annotations

import socket

import pytest
from pydantic import SecretStr

from usermgmt_pipeline.smtp_bridge import BridgeEmail, HeaderOverrides, SmtpBridgeClient, SmtpBridgeError
from usermgmt_pipeline_tests.orchestration.bridge_server import Reply, running_bridge

EMAIL = BridgeEmail(to=["ops@example.org"], subject="Run failed", content="<p>boom</p>", high_prio=True)


def client(url: str, **kwargs: object) -> SmtpBridgeClient:
    defaults: dict[str, object] = {
        "api_key": SecretStr("bridge-key-123"),
        "timeout_s": 2.0,
        "backoff_s": 0.01,
    }
    defaults.update(kwargs)
    return SmtpBridgeClient(url=url, **defaults)  # type: ignore[arg-type]


def test_posts_the_bridge_contract_with_api_key_header() -> None:
    overrides = HeaderOverrides(from_="noreply@example.org", reply_to=["support@example.org"])
    email = BridgeEmail(
        to=["a@example.org", "b@example.org"], subject="S", content="<b>C</b>", header_overrides=overrides
    )
    with running_bridge() as bridge:
        answer = client(bridge.url + "/api/").send(email)
    assert answer == {"message": "email sent"}
    [request] = bridge.requests
    assert request.path == "/api/send-email"
    assert request.headers["api-key"] == "bridge-key-123"
    assert request.headers["content-type"] == "application/json"
    assert request.body == {
        "to": ["a@example.org", "b@example.org"],
        "subject": "S",
        "content": "<b>C</b>",
        "highPrio": False,
        "headerOverrides": {
            "from": "noreply@example.org",
            "sender": "",
            "replyTo": ["support@example.org"],
            "noReplyTo": False,
        },
    }


def test_sends_no_api_key_header_when_no_key_is_configured() -> None:
    with running_bridge() as bridge:
        client(bridge.url, api_key=SecretStr("")).send(EMAIL)
    assert "api-key" not in bridge.requests[0].headers
    assert bridge.requests[0].body["headerOverrides"] is None


def test_retries_5xx_with_backoff_then_succeeds() -> None:
    sleeps: list[float] = []
    replies = [Reply(500, b'{"error": "failed to send email"}'), Reply(502, b"bad gateway")]
    with running_bridge(replies) as bridge:
        client(bridge.url, sleep=sleeps.append, backoff_s=0.5).send(EMAIL)
    assert len(bridge.requests) == 3
    assert sleeps == [0.5, 1.0]


def test_gives_up_after_the_configured_retries_on_5xx() -> None:
    replies = [Reply(500, b'{"error": "failed to send email"}')] * 3
    with (
        running_bridge(replies) as bridge,
        pytest.raises(SmtpBridgeError, match=r"after 3 attempts.*failed to send"),
    ):
        client(bridge.url, retries=2).send(EMAIL)
    assert len(bridge.requests) == 3


def test_error_key_is_a_failure_and_is_not_retried() -> None:
    with (
        running_bridge([Reply(400, b'{"error": "A valid API key missing"}')]) as bridge,
        pytest.raises(SmtpBridgeError, match="A valid API key missing") as raised,
    ):
        client(bridge.url).send(EMAIL)
    assert len(bridge.requests) == 1
    assert "bridge-key-123" not in str(raised.value)


def test_error_key_in_a_200_answer_is_still_a_failure() -> None:
    with (
        running_bridge([Reply(200, b'{"error": "missing \'to\' field"}')]) as bridge,
        pytest.raises(SmtpBridgeError, match="missing 'to' field"),
    ):
        client(bridge.url).send(EMAIL)


def test_invalid_json_answer_is_a_failure() -> None:
    with (
        running_bridge([Reply(200, b"<html>ok</html>")]) as bridge,
        pytest.raises(SmtpBridgeError, match="non-JSON-object"),
    ):
        client(bridge.url).send(EMAIL)
    assert len(bridge.requests) == 1


def test_json_that_is_not_an_object_is_a_failure() -> None:
    with running_bridge([Reply(200, b'["email sent"]')]) as bridge, pytest.raises(SmtpBridgeError):
        client(bridge.url).send(EMAIL)


def test_timeout_is_retried_and_reported() -> None:
    with (
        running_bridge([Reply(delay_s=1.0), Reply(delay_s=1.0)]) as bridge,
        pytest.raises(SmtpBridgeError, match="Timeout"),
    ):
        client(bridge.url, timeout_s=0.2, retries=1).send(EMAIL)
    assert len(bridge.requests) == 2


def test_timeout_then_success_delivers_once() -> None:
    with running_bridge([Reply(delay_s=1.0)]) as bridge:
        client(bridge.url, timeout_s=0.3, retries=2).send(EMAIL)
    assert len(bridge.requests) == 2


def test_connection_refused_is_retried_then_raised() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    sleeps: list[float] = []
    with pytest.raises(SmtpBridgeError, match="ConnectError"):
        client(f"http://127.0.0.1:{port}", retries=2, sleep=sleeps.append).send(EMAIL)
    assert len(sleeps) == 2


def test_empty_url_and_empty_recipients_are_refused_before_any_request() -> None:
    with pytest.raises(SmtpBridgeError, match=r"smtp_bridge_config\.url"):
        client("").send(EMAIL)
    with pytest.raises(SmtpBridgeError, match="recipient"):
        client("http://127.0.0.1:9").send(BridgeEmail(to=[], subject="s", content="c"))


def test_api_key_never_appears_in_repr() -> None:
    assert "bridge-key-123" not in repr(client("http://127.0.0.1:9"))
