"""Queueing a batch's emails, shared by the notice and deletion tasks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from usermgmt_pipeline.tasks.context import TaskContext


def queue_emails(
    ctx: TaskContext, checkpoint_name: str, docs: Sequence[Mapping[str, Any]]
) -> dict[int, Exception]:
    """Queue `docs` (each under its pre-assigned `_id`: a duplicate is an email already queued) in one call;
    returns the failures by index into `docs`.

    The bulk insert ends at `checkpoint_name`, so a crash test can cut it after k of its documents.
    """
    failures: dict[int, Exception] = {}
    offset = 0
    for part in ctx.write_parts(checkpoint_name, docs):
        for index, reason in ctx.messaging.queue_many_once(list(part)).items():
            failures[offset + index] = RuntimeError(f"queueing the email failed: {reason}")
        offset += len(part)
    return failures
