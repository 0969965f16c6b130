"""SIGINT and SIGTERM stop the CLI's whole job between two users (see `usermgmt_pipeline.tasks.stopping`).

Dagster, when it executes on the main thread, turns these signals into an exception raised inside the
running step at whatever line it is on: a user could be left with a token but no email, and the CLI then
went on with the next instance. So the CLI executes its runs on a worker thread (Dagster leaves the signal
handlers alone there), and the main thread only waits and turns a signal into a stop request.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from usermgmt_pipeline.tasks.stopping import request_stop, stop_reason

T = TypeVar("T")
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def stop_on_signals() -> Iterator[list[int]]:
    """While active, SIGINT/SIGTERM request a stop and are appended to the yielded list (main thread only)."""
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return

    def handle(signum: int, _frame: object) -> None:
        name = signal.Signals(signum).name
        if not received:
            print(
                f"user-management: {name} received: finishing the users in flight (the current batch), then stopping "
                "(no further user, task or instance is started)",
                file=sys.stderr,
                flush=True,
            )
        received.append(signum)
        request_stop(f"{name} received")

    previous = {signum: signal.signal(signum, handle) for signum in STOP_SIGNALS}
    try:
        yield received
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@contextmanager
def stop_between_users() -> Iterator[None]:
    """Around one task of a step that Dagster executes on the main thread (a run worker, a terminated run):
    SIGINT/SIGTERM request a stop instead of raising at an arbitrary line; the task then ends after the user in
    flight, and the caller reports the run as interrupted. On another thread (the CLI's runs) it does nothing:
    there the CLI's own handlers are in charge."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handle(signum: int, _frame: object) -> None:
        request_stop(f"{signal.Signals(signum).name} received")

    previous = {signum: signal.signal(signum, handle) for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def interrupted_by_signal() -> bool:
    """A signal stopped this process's task on the main thread (see `stop_between_users`)."""
    return threading.current_thread() is threading.main_thread() and stop_reason() is not None


def run_in_worker_thread(work: Callable[[], T]) -> T:
    """Run `work` on a worker thread and return its result (or raise its exception); the calling thread
    stays responsive to signals meanwhile."""
    outcome: dict[str, object] = {}

    def target() -> None:
        try:
            outcome["value"] = work()
        except BaseException as exc:  # handed to the calling thread
            outcome["error"] = exc

    worker = threading.Thread(target=target, name="user-management-runs")
    worker.start()
    while worker.is_alive():
        worker.join(0.2)
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["value"]  # type: ignore[return-value]
