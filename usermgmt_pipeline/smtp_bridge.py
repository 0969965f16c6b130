"""HTTP client for the CASE SMTP bridge (`services/smtp-bridge`, docs/tasks.md §3.5).

The Go job never calls the bridge (it only queues emails); we use it for one thing the original lacks:
telling the operators that a run failed or that the mass-deletion guard stopped a run. The request and
response contract is the bridge's own, so the same bridge a CASE deployment already runs can be used.

Why retries here: an alert that is lost because the bridge restarted is worse than a duplicate alert, so
transport errors and 5xx answers are retried with exponential backoff; a 4xx or an `error` answer means the
request itself is wrong (bad key, bad payload) and retrying cannot help.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
from pydantic import SecretStr

from usermgmt_pipeline.errors import UsermgmtError

log = logging.getLogger(__name__)

SEND_PATH = "send-email"


class SmtpBridgeError(UsermgmtError, RuntimeError):
    """The bridge did not accept the email. The message never contains the API key."""


@dataclass(frozen=True)
class HeaderOverrides:
    """`headerOverrides` of the bridge request; empty `from_`/`sender` keep the bridge defaults."""

    from_: str = ""
    sender: str = ""
    reply_to: Sequence[str] | None = None
    no_reply_to: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "from": self.from_,
            "sender": self.sender,
            "replyTo": list(self.reply_to) if self.reply_to is not None else None,
            "noReplyTo": self.no_reply_to,
        }


@dataclass(frozen=True)
class BridgeEmail:
    to: Sequence[str]
    subject: str
    content: str
    high_prio: bool = False
    header_overrides: HeaderOverrides | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "to": list(self.to),
            "subject": self.subject,
            "content": self.content,
            "highPrio": self.high_prio,
            "headerOverrides": self.header_overrides.to_json() if self.header_overrides else None,
        }


def send_email_url(base_url: str) -> str:
    """Go `url.JoinPath(base, "send-email")`: append one path segment, whatever the trailing slash."""
    if not base_url:
        raise SmtpBridgeError("messaging_configs.smtp_bridge_config.url is empty")
    url = httpx.URL(base_url)
    return str(url.copy_with(path=url.path.rstrip("/") + "/" + SEND_PATH))


@dataclass
class SmtpBridgeClient:
    """Sends one email per call; `retries` extra attempts after the first, backoff doubling from `backoff_s`."""

    url: str
    api_key: SecretStr = field(default_factory=lambda: SecretStr(""))
    timeout_s: float = 30.0
    retries: int = 3
    backoff_s: float = 0.5
    transport: httpx.BaseTransport | None = None
    sleep: Callable[[float], None] = time.sleep

    def __post_init__(self) -> None:
        if not isinstance(self.api_key, SecretStr):
            self.api_key = SecretStr(str(self.api_key))

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        key = self.api_key.get_secret_value()
        if key:  # the Go client only sends the header when a key is configured
            headers["Api-Key"] = key
        return headers

    def send(self, email: BridgeEmail) -> dict[str, Any]:
        """POST the email; returns the bridge's JSON answer or raises `SmtpBridgeError`."""
        if not email.to:
            raise SmtpBridgeError("no recipient: the bridge rejects an email without 'to'")
        url = send_email_url(self.url)
        attempts = self.retries + 1
        last_problem = ""
        with httpx.Client(timeout=self.timeout_s, transport=self.transport) as client:
            for attempt in range(1, attempts + 1):
                try:
                    response = client.post(url, json=email.to_json(), headers=self._headers())
                except httpx.TransportError as exc:
                    last_problem = f"{type(exc).__name__}: {exc}"
                else:
                    if response.status_code < 500:
                        return _accepted(response)
                    last_problem = f"HTTP {response.status_code}: {_error_text(response)}"
                if attempt < attempts:
                    delay = self.backoff_s * 2 ** (attempt - 1)
                    log.warning(
                        "SMTP bridge attempt %d/%d failed (%s); retrying in %.1fs",
                        attempt,
                        attempts,
                        last_problem,
                        delay,
                    )
                    self.sleep(delay)
        raise SmtpBridgeError(f"SMTP bridge at {url} failed after {attempts} attempts: {last_problem}")


def _json_object(response: httpx.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _error_text(response: httpx.Response) -> str:
    body = _json_object(response)
    if body is not None and "error" in body:
        return str(body["error"])
    return "response is not a JSON object" if body is None else "no error message"


def _accepted(response: httpx.Response) -> dict[str, Any]:
    """The bridge's rule (failed if not a JSON object or it has `error`), plus: a 4xx is never a success."""
    body = _json_object(response)
    if body is None:
        raise SmtpBridgeError(f"SMTP bridge answered HTTP {response.status_code} with a non-JSON-object body")
    if "error" in body:
        raise SmtpBridgeError(
            f"SMTP bridge rejected the email (HTTP {response.status_code}): {body['error']}"
        )
    if response.status_code >= 400:
        raise SmtpBridgeError(f"SMTP bridge answered HTTP {response.status_code} without an error message")
    return body
