"""Stopping a job between two users (or batches of users), never inside one.

An operator's Ctrl-C or an orchestrator's SIGTERM must stop the whole job, yet a user's steps (token, email,
timestamp; or the erasure of every study) are only consistent once they are all done. So whoever receives
the signal (the CLI) only *requests* a stop; the user walk checks it before it reads the next user and
before a task starts, so the user (or batch of users) in flight is finished, and fails the task with
`RunStoppedError`. Nothing here
knows about signals or Dagster.

A run whose instance lease is lost (see `fencing`) is stopped too, but only that run, and not only between
users: its lease is checked before every irreversible step.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from usermgmt_pipeline.tasks.results import TaskFailedError, TaskResult

if TYPE_CHECKING:
    from usermgmt_pipeline.tasks.context import TaskContext

_requested = threading.Event()
_reason: list[str] = []


class RunStoppedError(TaskFailedError):
    """A stop was requested: the users handled so far are complete, no further user was started."""


class LeaseLostError(RunStoppedError):
    """The run lost its instance to another run; it stopped before its next irreversible step, and the run
    that took over finishes the users it left."""


def request_stop(reason: str) -> None:
    """Ask every task in this process to stop before its next user (the first reason is kept)."""
    if not _requested.is_set():
        _reason[:] = [reason]
        _requested.set()


def stop_reason() -> str | None:
    """Why a stop was requested, or None."""
    return _reason[0] if _requested.is_set() else None


def clear_stop_request() -> None:
    """Forget a stop request (a process that runs jobs again afterwards, e.g. a test)."""
    _requested.clear()
    _reason.clear()


def lease_lost_error(task: str, instance_id: str, reason: str, result: TaskResult) -> LeaseLostError:
    return LeaseLostError(
        f"{task}[{instance_id}]: stopped: {reason}. Another run holds the instance now and finishes "
        "its users; this run performed no further step for any user",
        result,
    )


def raise_if_stop_requested(ctx: TaskContext, task: str, result: TaskResult) -> None:
    """Called before a task and before each user: raise `RunStoppedError` with the counts so far."""
    if (lost := ctx.lease.lost) is not None:
        raise lease_lost_error(task, ctx.instance_id, lost, result)
    reason = stop_reason()
    if reason is not None:
        raise RunStoppedError(
            f"{task}[{ctx.instance_id}]: stopped ({reason}) after {result.done + result.skipped + result.failed} "
            "users; every user handled so far is complete and none was started after the stop. "
            "Rerun to finish",
            result,
        )
