"""One run per instance at a time, with or without Dagster (two CLI processes, a manual run beside a schedule).

Dagster's tag concurrency only serialises runs that go through the same Dagster instance's run queue. The
journal already makes every per-user step idempotent, but two runs racing on the same user would still
interleave (one marking a deletion abandoned while the other commits it). So each task run takes a lease in
our own database, `<p>usermgmt-pipeline.locks`, `_id` = instance id. A second run refuses at once with who
holds it.

A lease is a heartbeat with an expiry (`orchestration.instance_lease`, default 60 s): the holder renews
`expiresAt` every quarter of it while it runs, and a lease is taken over only once `expiresAt` has passed.
Liveness is never judged by a process id: across PID namespaces (containers sharing a host name) a live
holder's pid does not exist locally, and two runs once processed the same users that way. The price is that
a SIGKILLed holder blocks its instance until the lease expires. The one exception needs no guess: a lease
this very process took and failed to release (the database was down) carries this process's random token.

A holder that cannot renew its lease (taken over after a long stall, or the database unreachable for a whole
lease) stops before its next user, like on a signal, instead of working on beside the new holder.
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

from pymongo.errors import DuplicateKeyError

from usermgmt_pipeline.case.connections import op_deadline
from usermgmt_pipeline.tasks.context import TaskContext
from usermgmt_pipeline.tasks.results import TaskFailedError, TaskResult
from usermgmt_pipeline.tasks.stopping import lease_lost, lease_renewed

DEFAULT_LEASE_SECONDS = 60.0
PROCESS_TOKEN = uuid.uuid4().hex
"""Identifies this process in the leases it takes (a pid is not unique across containers)."""
_HELD_HERE: set[tuple[str, str]] = set()
"""(database, instance) leases this process holds right now; a lease with this process's token but not in
here is a leftover of an earlier run in this process whose release failed (e.g. the database was down)."""


class InstanceBusyError(TaskFailedError):
    """Another run holds this instance; nothing was done."""


def lease_seconds(ctx: TaskContext) -> float:
    lease = getattr(getattr(ctx.config, "orchestration", None), "instance_lease", None)
    return int(lease) / 1e9 if lease else DEFAULT_LEASE_SECONDS


def _expires_at(lock: Mapping[str, Any]) -> float:
    if "expiresAt" in lock:
        return float(lock["expiresAt"])
    return float(lock.get("heartbeatAt", 0)) + DEFAULT_LEASE_SECONDS  # a lease written before expiresAt


def _may_take_over(lock: Mapping[str, Any], held_key: tuple[str, str]) -> bool:
    if time.time() > _expires_at(lock):
        return True
    return lock.get("holder") == PROCESS_TOKEN and held_key not in _HELD_HERE


@contextmanager
def instance_lock(ctx: TaskContext, task: str) -> Iterator[None]:
    locks = ctx.dbs.pipeline_db()["locks"]
    held_key = (locks.database.name, ctx.instance_id)
    timeout = ctx.dbs.timeout_s("global_infos_db")
    lease = lease_seconds(ctx)
    now = time.time()
    me = {
        "runID": ctx.options.run_id,
        "task": task,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "holder": PROCESS_TOKEN,
        "since": now,
        "heartbeatAt": now,
        "expiresAt": now + lease,
    }
    with op_deadline(timeout):
        try:
            locks.insert_one({"_id": ctx.instance_id, **me})
        except DuplicateKeyError:
            current = locks.find_one({"_id": ctx.instance_id}) or {}
            taken = _may_take_over(current, held_key) and (
                locks.find_one_and_replace(
                    {
                        "_id": ctx.instance_id,
                        "runID": current.get("runID"),
                        "heartbeatAt": current.get("heartbeatAt"),
                    },
                    {"_id": ctx.instance_id, **me},
                )
                is not None
            )
            if not taken:
                expires_in = max(0.0, _expires_at(current) - time.time())
                raise InstanceBusyError(
                    f"{task}[{ctx.instance_id}]: instance is being processed by run {current.get('runID')} "
                    f"({current.get('task')}, pid {current.get('pid')} on {current.get('host')}); nothing was done. "
                    f"Wait for it to finish, or rerun later (if that run was killed, its lease expires in "
                    f"{expires_in:.0f}s)",
                    TaskResult(task, ctx.instance_id),
                ) from None
    _HELD_HERE.add(held_key)
    lease_renewed(ctx.options.run_id, ctx.instance_id)
    stop = threading.Event()

    def heartbeat() -> None:
        renewed = time.time()
        while not stop.wait(lease / 4):
            try:
                with op_deadline(timeout):  # a slow renewal is still a renewal
                    beat = time.time()
                    kept = locks.update_one(
                        {"_id": ctx.instance_id, "runID": ctx.options.run_id, "holder": PROCESS_TOKEN},
                        {"$set": {"heartbeatAt": beat, "expiresAt": beat + lease}},
                    )
                if kept.matched_count == 0:
                    if stop.is_set():
                        return  # our own release deleted the lease while this renewal was in flight
                    lease_lost(ctx.options.run_id, ctx.instance_id, "the instance lease was taken over")
                    ctx.logger.error("%s[%s]: the instance lease was taken over", task, ctx.instance_id)
                    return
                renewed = beat
            except Exception as exc:  # the lease then ages out; past its expiry we must stop
                if stop.is_set():
                    return
                ctx.logger.warning("instance lock heartbeat failed: %s", type(exc).__name__)
                if time.time() - renewed > lease:
                    lease_lost(ctx.options.run_id, ctx.instance_id, "the instance lease could not be renewed")
                    return

    beat = threading.Thread(target=heartbeat, name=f"lock-{ctx.instance_id}", daemon=True)
    beat.start()
    try:
        yield
    finally:
        _HELD_HERE.discard(held_key)
        stop.set()
        # No waiting for a renewal in flight: it filters on our run id, so one landing after the release
        # matches nothing (and, seeing `stop` set, is not taken for a lost lease, which would stop the run's
        # next task), and against a server that stopped answering it would only add its timeout.
        try:
            with op_deadline(timeout):
                locks.delete_one(
                    {"_id": ctx.instance_id, "runID": ctx.options.run_id, "holder": PROCESS_TOKEN}
                )
        except Exception as exc:
            ctx.logger.warning(
                "could not release the instance lock (it expires by itself): %s", type(exc).__name__
            )
        beat.join(timeout=0.1)
