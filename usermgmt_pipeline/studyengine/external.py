"""External study services: ``EXTERNAL_EVENT_HANDLER`` and ``externalEventEval`` (docs/study-engine.md §4.7).

Differences from Go, decided in docs/decisions.md: a non-2xx status is an error (Go ignores the status);
``ca_file`` verifies the *server* certificate (Go loads it where a client never looks, so it verified
against the system roots); the API key never appears in an exception, log line or repr. The request
URL is built with Go's ``url.JoinPath`` rules (hand-written below; ``urllib`` cleans paths differently).
Proxy environment variables are honoured only without TLS client settings, as Go's bare mTLS transport
ignores them. The timeout applies to each phase of the exchange (httpx semantics), 0 meaning none.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import httpx

from usermgmt_pipeline.go_unmarshal import JSONObject, parse_first_json_value
from usermgmt_pipeline.studyengine.errors import StudyEngineError
from usermgmt_pipeline.studyengine.event import StudyEvent
from usermgmt_pipeline.studyengine.goformat import GoJSONObject, go_json_dumps
from usermgmt_pipeline.studyengine.participant import Participant

MAX_REDIRECTS = 10  # Go's default client


@dataclass(frozen=True)
class ExternalServiceSettings:
    """One ``study_configs.external_services`` entry. ``api_key`` is excluded from the repr."""

    name: str
    url: str
    api_key: str = field(repr=False)
    timeout_seconds: float = 0
    cert_file: str | None = None
    key_file: str | None = None
    ca_file: str | None = None


def find_service(services: Sequence[ExternalServiceSettings], name: str) -> ExternalServiceSettings:
    """First entry whose name matches exactly (case-sensitive)."""
    for service in services:
        if service.name == name:
            return service
    raise StudyEngineError(f"no external service config found with name: {name}")


# ---------------------------------------------------------------- Go url.JoinPath


def go_path_clean(path: str) -> str:
    """Go ``path.Clean``: one leading slash at most, ``.``/``..`` resolved, no trailing slash."""
    if path == "":
        return "."
    rooted = path.startswith("/")
    parts: list[str] = []
    for segment in path.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if parts and parts[-1] != "..":
                parts.pop()
            elif not rooted:
                parts.append("..")
            continue
        parts.append(segment)
    cleaned = "/".join(parts)
    if rooted:
        return "/" + cleaned
    return cleaned or "."


def _go_path_join(*elements: str) -> str:
    non_empty = [element for element in elements if element]
    return go_path_clean("/".join(non_empty)) if non_empty else ""


_PATH_SAFE = "$&+,/:;=@-_.~"
_VALID_ENCODED_EXTRA = "!$&'()*+,;=:@[]%"


def _go_escape_path(path: str) -> str:
    return quote(path, safe=_PATH_SAFE)


def _go_valid_encoded(path: str) -> bool:
    return all(char in _VALID_ENCODED_EXTRA or _go_escape_path(char) == char for char in path)


def go_url_join_path(base: str, route: str) -> str:
    """Go ``url.JoinPath(base, route)`` (examples in docs/study-engine.md §4.7)."""
    parts = urlsplit(base)
    escaped_base = parts.path
    elements = [escaped_base, route]
    if not escaped_base.startswith("/"):
        elements[0] = "/" + elements[0]
        joined = _go_path_join(*elements)[1:]
    else:
        joined = _go_path_join(*elements)
    if route.endswith("/") and not joined.endswith("/"):
        joined += "/"
    unescaped = unquote(joined)
    escaped = (
        joined if _go_valid_encoded(joined) and unquote(joined) == unescaped else _go_escape_path(unescaped)
    )
    if escaped and not escaped.startswith("/") and parts.netloc:
        escaped = "/" + escaped
    return urlunsplit((parts.scheme, parts.netloc, escaped, parts.query, parts.fragment))


# ---------------------------------------------------------------- payload and call


def build_payload(state: Participant, event: StudyEvent) -> str:
    """The JSON request body (docs/study-engine.md §4.7), key order and escaping as Go's ``encoding/json``."""
    return go_json_dumps(
        GoJSONObject(
            [
                ("participantState", state.to_json()),
                ("eventType", event.type),
                ("studyKey", event.study_key),
                ("instanceID", event.instance_id),
                ("surveyResponses", event.response.to_json()),
                ("eventKey", event.event_key),
                ("payload", event.payload),
            ]
        )
    )


class ExternalServiceClient:
    """Performs the POST of docs/study-engine.md §4.7 for a configured service; returns the decoded JSON object."""

    def __init__(
        self,
        services: Sequence[ExternalServiceSettings],
        before_call: Callable[[str], None] | None = None,
    ) -> None:
        self._services = list(services)
        self._before_call = before_call

    def find(self, name: str) -> ExternalServiceSettings:
        return find_service(self._services, name)

    def call(self, service: ExternalServiceSettings, route: str, body: str) -> JSONObject:
        """POST ``body``; a transport/TLS error, non-2xx status or non-object JSON is an error."""
        url = go_url_join_path(service.url, route)
        headers = {"Content-Type": "application/json"}
        if service.api_key:
            headers["Api-Key"] = service.api_key
        timeout = httpx.Timeout(service.timeout_seconds if service.timeout_seconds > 0 else None)
        uses_tls_files = bool(service.cert_file or service.key_file or service.ca_file)
        verify = _ssl_context(service) if uses_tls_files else ssl.create_default_context()
        if self._before_call is not None:
            self._before_call(f"calling external service {service.name!r}")
        try:
            with httpx.Client(
                verify=verify,
                timeout=timeout,
                follow_redirects=True,
                max_redirects=MAX_REDIRECTS,
                trust_env=not uses_tls_files,
            ) as client:
                response = client.post(url, content=body.encode("utf-8"), headers=headers)
        except httpx.TimeoutException:
            raise StudyEngineError(f"external service {service.name!r}: request timed out") from None
        except httpx.HTTPError as exc:
            raise StudyEngineError(
                f"external service {service.name!r}: request failed: {type(exc).__name__}: {exc}"
            ) from None
        if not 200 <= response.status_code < 300:
            raise StudyEngineError(
                f"external service {service.name!r}: unexpected HTTP status {response.status_code}"
            )
        return _decode_reply(service.name, response.content)


def _ssl_context(service: ExternalServiceSettings) -> ssl.SSLContext:
    """Client certificate from cert/key files; the server verified against ``ca_file`` (our fix)."""
    try:
        context = (
            ssl.create_default_context(cafile=service.ca_file)
            if service.ca_file
            else (ssl.create_default_context())
        )
        if service.cert_file or service.key_file:
            if not (service.cert_file and service.key_file):
                raise StudyEngineError(
                    f"external service {service.name!r}: cert_file and key_file must be set together"
                )
            context.load_cert_chain(service.cert_file, service.key_file)
    except (OSError, ssl.SSLError) as exc:
        raise StudyEngineError(
            f"external service {service.name!r}: cannot load TLS files: {type(exc).__name__}: {exc}"
        ) from None
    return context


def _decode_reply(name: str, content: bytes) -> JSONObject:
    """One JSON object (trailing bytes ignored); ``null`` is an empty object; anything else an error."""
    text = content.decode("utf-8", errors="replace")
    try:
        value: Any = parse_first_json_value(text)
    except (json.JSONDecodeError, ValueError, RecursionError) as exc:
        raise StudyEngineError(f"external service {name!r}: response is not valid JSON: {exc}") from None
    if value is None:
        return JSONObject([])
    if not isinstance(value, JSONObject):
        raise StudyEngineError(f"external service {name!r}: response is not a JSON object")
    return value
