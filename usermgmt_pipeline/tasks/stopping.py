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


class RunStoppedError(TaskFailedError):
    """A stop was requested: the users handled so far are complete, no further user was started."""


class LeaseLostError(RunStoppedError):
    """The run lost its instance to another run; it stopped before its next irreversible step, and the run
    that took over finishes the users it left."""


class StopToken:
    """A stop request that every task holding it sees before its next batch (the first reason is kept)."""

    def __init__(self) -> None:
        self._requested = threading.Event()
        self._reason = ""

    def request(self, reason: str) -> None:
        if not self._requested.is_set():
            self._reason = reason
            self._requested.set()

    @property
    def reason(self) -> str | None:
        return self._reason if self._requested.is_set() else None

    def clear(self) -> None:
        """Forget a stop request (a process that runs jobs again afterwards, e.g. a test)."""
        self._requested.clear()
        self._reason = ""


PROCESS_STOP = StopToken()
"""The token of every context given none: what the process's signal handlers (the CLI, a run worker) request."""


def request_stop(reason: str) -> None:
    """Ask every task in this process to stop before its next user (the first reason is kept)."""
    PROCESS_STOP.request(reason)


def stop_reason() -> str | None:
    """Why a stop was requested of this process, or None."""
    return PROCESS_STOP.reason


def clear_stop_request() -> None:
    PROCESS_STOP.clear()


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
    reason = ctx.stop.reason
    if reason is not None:
        raise RunStoppedError(
            f"{task}[{ctx.instance_id}]: stopped ({reason}) after {result.done + result.skipped + result.failed} "
            "users; every user handled so far is complete and none was started after the stop. "
            "Rerun to finish",
            result,
        )
