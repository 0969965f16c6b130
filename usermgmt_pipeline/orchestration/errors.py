"""The cause of a failed step or run, as an operator reads it: the step's own error, not Dagster's wrappers.

Dagster wraps the exception a step raised (`DagsterExecutionStepExecutionError`, ...), and a `Failure` we
raise reads `dagster._core.definitions.events.Failure: <description>`; the operator needs the description.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Dagster's wrappers around the exception a step raised: their message only says where it happened.
_WRAPPER_ERRORS = frozenset({"DagsterExecutionStepExecutionError", "DagsterUserCodeExecutionError"})
# Raised by our own steps to fail them with a description: the description is the whole cause.
_DESCRIBED_ERRORS = frozenset({"Failure"})


def error_cause(error: Any) -> str:
    """The cause ("could not connect to study_db: authentication failed") of a `SerializableErrorInfo`."""
    while error.cause is not None and error.cls_name in _WRAPPER_ERRORS:
        error = error.cause
    message = str(error.message).strip()
    prefix, sep, rest = message.partition(": ")
    if sep and prefix.endswith(error.cls_name):
        # `a.b.ClassName: text` as Python formats an exception of a module: the class name is enough
        message = rest.strip() if error.cls_name in _DESCRIBED_ERRORS else f"{error.cls_name}: {rest.strip()}"
    return message


def event_log_fields(event: Any, debug: bool) -> Mapping[str, Any]:
    """A Dagster event's attributes in a JSON log line: the failure's cause in one line; at debug level also
    the whole error with its stack trace and the serialized event."""
    fields: dict[str, Any] = {}
    error = getattr(getattr(event, "event_specific_data", None), "error", None)
    if error is not None:
        cause = error_cause(error)
        fields["error"] = cause.splitlines()[0] if cause else error.cls_name
        if debug:
            fields["error_detail"] = error.to_string()
    if debug:
        fields["dagster_event"] = str(event)
    return fields
