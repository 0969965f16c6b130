"""Errors raised by the study engine.

Go returns ``(value, error)`` from every expression and action; the port raises instead. Where the Go
engine would *panic* (docs/study-engine.md §3.6) - which kills the whole Go job - we raise :class:`StudyEnginePanic`, a
subclass of :class:`StudyEngineError`. Unlike ordinary errors it is never swallowed by ``IFTHEN``, ``or``,
``sum`` or condition checks: Go would never have finished the rule run either, so the run for that study
fails - but the process survives and the caller can still run its mandatory erasure steps.
"""

from __future__ import annotations

from usermgmt_pipeline.errors import UsermgmtError


class StudyEngineError(UsermgmtError):
    """A rule, expression, action, store or external-service failure; the message names the culprit."""


class StudyEnginePanic(StudyEngineError):
    """A situation in which the Go engine panics (docs/study-engine.md §3.6); it aborts the whole rule run."""
