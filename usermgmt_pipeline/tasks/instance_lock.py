"""One run per instance at a time, with or without Dagster (two CLI processes, a manual run beside a schedule).

Dagster's tag concurrency only serialises runs that go through the same Dagster instance's run queue, so each
task run takes a lease in our own database (`case.leases`): `<p>usermgmt-pipeline.locks`, `_id` = instance id,
with a fencing generation greater than any before (see `fencing`).

A lease is a heartbeat with an expiry (`orchestration.instance_lease`, default 60 s): the holder renews
`expiresAt` every quarter of it while it runs, and a lease is taken over only once `expiresAt` has passed.
Liveness is never judged by a process id: across PID namespaces (containers sharing a host name) a live
holder's pid does not exist locally. A second run watches the lease instead: a heartbeat that moves is a live
holder, and the second run refuses at once, saying who holds the instance. A heartbeat that has stopped is a
crashed holder (SIGKILL, OOM): the run waits for that lease to expire, saying so, and takes over, so an
operator's immediate rerun or a Dagster retry after a crash does not fail. A lease that expires further out
than its holder's lease length (clocks apart, or a lease written by hand) is not waited for. The one
exception needs no wait: a lease this very process took and failed to release (the database was down)
carries this process's random token.

The run that takes over has the higher generation; the one it took over from stops before its next
irreversible step (`Lease.check`), and its journal writes no longer match.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from usermgmt_pipeline.case.leases import LeaseStore
from usermgmt_pipeline.tasks.context import TaskContext
from usermgmt_pipeline.tasks.fencing import TAKEN_OVER, Lease
from usermgmt_pipeline.tasks.results import TaskFailedError, TaskResult
from usermgmt_pipeline.tasks.stopping import RunStoppedError

DEFAULT_LEASE_SECONDS = 60.0
PROCESS_TOKEN = uuid.uuid4().hex
"""Identifies this process in the leases it takes (a pid is not unique across containers)."""
_HELD_HERE: set[tuple[str, str]] = set()
"""(database, instance) leases this process holds right now; a lease with this process's token but not in
here is a leftover of an earlier run in this process whose release failed (e.g. the database was down)."""


class InstanceBusyError(TaskFailedError):
    """Another run holds this instance; nothing was done."""


def lease_seconds(ctx: TaskContext) -> float:
    lease = ctx.config.orchestration.instance_lease
    return int(lease) / 1e9 if lease else DEFAULT_LEASE_SECONDS


def _expires_at(lock: Mapping[str, Any]) -> float:
    return float(lock.get("expiresAt") or 0)


def _may_take_over(lock: Mapping[str, Any], held_key: tuple[str, str]) -> bool:
    if time.time() > _expires_at(lock):
        return True
    return lock.get("holder") == PROCESS_TOKEN and held_key not in _HELD_HERE


def _same_heartbeat(a: Mapping[str, Any], b: Mapping[str, Any] | None) -> bool:
    return b is not None and all(a.get(k) == b.get(k) for k in ("runID", "generation", "heartbeatAt"))


def _busy(ctx: TaskContext, task: str, current: Mapping[str, Any], why: str) -> InstanceBusyError:
    return InstanceBusyError(
        f"{task}[{ctx.instance_id}]: instance is being processed by run {current.get('runID')} "
        f"({current.get('task')}, pid {current.get('pid')} on {current.get('host')}); nothing was done. "
        f"{why}",
        TaskResult(task, ctx.instance_id),
    )


def _wait_out(
    ctx: TaskContext, task: str, store: LeaseStore, current: Mapping[str, Any], ours: float
) -> None:
    """Wait for the lease `current` to expire, unless its heartbeat shows a live holder (then refuse)."""
    holder_lease = float(current.get("leaseSeconds") or ours)
    expires_in = _expires_at(current) - time.time()
    if expires_in > holder_lease + 1:
        raise _busy(
            ctx,
            task,
            current,
            f"Wait for it to finish, or rerun later (its lease expires in {expires_in:.0f}s)",
        )
    poll = min(1.0, holder_lease / 8)
    quiet_for = holder_lease / 4 * 1.5 + poll  # more than one heartbeat interval of the holder
    watched_since = time.monotonic()
    said = False
    while time.time() <= _expires_at(current):
        if (reason := ctx.stop.reason) is not None:
            raise RunStoppedError(
                f"{task}[{ctx.instance_id}]: stopped ({reason}) while waiting for the instance lease",
                TaskResult(task, ctx.instance_id),
            )
        time.sleep(poll)
        seen = store.current()
        if seen is None:
            return
        if not _same_heartbeat(current, seen):
            raise _busy(ctx, task, seen, "Wait for it to finish, or rerun later")
        if not said and time.monotonic() - watched_since >= quiet_for:
            said = True
            ctx.logger.warning(
                "%s[%s]: run %s (%s, pid %s on %s) holds the instance but its heartbeat stopped %.0fs ago "
                "(crashed?); waiting %.0fs for its lease to expire, then taking over",
                task,
                ctx.instance_id,
                current.get("runID"),
                current.get("task"),
                current.get("pid"),
                current.get("host"),
                time.time() - float(current.get("heartbeatAt") or 0),
                max(0.0, _expires_at(current) - time.time()),
            )


def _acquire(
    ctx: TaskContext, task: str, store: LeaseStore, lease: float, held_key: tuple[str, str]
) -> Lease:
    generation = store.next_generation()
    while True:
        sent = time.monotonic()
        now = time.time()
        me = {
            "runID": ctx.options.run_id,
            "task": task,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "holder": PROCESS_TOKEN,
            "generation": generation,
            "leaseSeconds": lease,
            "since": now,
            "heartbeatAt": now,
            "expiresAt": now + lease,
        }
        if store.insert(me):
            break
        current = store.current()
        if current is None:
            continue
        if _may_take_over(current, held_key):
            if store.replace(current, me):
                break
            continue
        _wait_out(ctx, task, store, current, lease)
    held = Lease(
        ctx.instance_id,
        generation,
        lease,
        renew=lambda beat: store.renew(ctx.options.run_id, generation, beat, lease),
    )
    held.renewed(sent)
    return held


@contextmanager
def instance_lock(ctx: TaskContext, task: str) -> Iterator[Lease]:
    """Hold the instance for the body: `ctx.lease` is the fencing token its irreversible steps check."""
    store = LeaseStore(ctx.dbs.pipeline_db(), ctx.instance_id, ctx.dbs.timeout_s("global_infos_db"))
    held_key = (store.locks.database.name, ctx.instance_id)
    lease = lease_seconds(ctx)
    held = _acquire(ctx, task, store, lease, held_key)
    _HELD_HERE.add(held_key)
    stop = threading.Event()
    beat = threading.Thread(
        target=_heartbeat, args=(ctx, task, held, stop), name=f"lock-{ctx.instance_id}", daemon=True
    )
    previous, ctx.lease = ctx.lease, held
    beat.start()
    try:
        yield held
    finally:
        ctx.lease = previous
        _HELD_HERE.discard(held_key)
        stop.set()
        # No waiting for a renewal in flight: it filters on our generation, so one landing after the release
        # matches nothing (and, seeing `stop` set, is not taken for a lost lease), and against a server that
        # stopped answering it would only add its timeout.
        try:
            store.release(ctx.options.run_id, held.generation or 0)
        except Exception as exc:
            ctx.logger.warning(
                "could not release the instance lock (it expires by itself): %s", type(exc).__name__
            )
        beat.join(timeout=0.1)


def _heartbeat(ctx: TaskContext, task: str, held: Lease, stop: threading.Event) -> None:
    renewed = time.monotonic()
    while not stop.wait(held.lease_s / 4):
        sent = time.monotonic()
        try:
            kept = held.renew_now()  # under the database's own timeout: a slow renewal is still a renewal
        except Exception as exc:  # the lease then ages out; past its expiry we must stop
            if stop.is_set():
                return
            ctx.logger.warning("instance lock heartbeat failed: %s", type(exc).__name__)
            if time.monotonic() - renewed > held.lease_s:
                held.lose("the instance lease could not be renewed")
                return
            continue
        if kept:
            renewed = sent
            continue
        if stop.is_set():
            return  # our own release deleted the lease while this renewal was in flight
        held.lose(TAKEN_OVER)
        ctx.logger.error("%s[%s]: the instance lease was taken over", task, ctx.instance_id)
        return
