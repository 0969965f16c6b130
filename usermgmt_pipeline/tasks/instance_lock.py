"""One run per instance at a time, with or without Dagster (two CLI processes, a manual run beside a schedule).

Dagster's tag concurrency only serialises runs that go through the same Dagster instance's run queue. The
journal already makes every per-user step idempotent, but two runs racing on the same user would still
interleave (one marking a deletion abandoned while the other commits it). So each task run takes a lease in
our own database, `<p>usermgmt-pipeline.locks`, `_id` = instance id. A second run refuses at once with who
holds it. A lease whose holder stopped heartbeating (60 s), or whose process is gone on this host (a
SIGKILLed worker), is taken over, so a rerun after a crash never waits.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import psutil
from pymongo.errors import DuplicateKeyError

from usermgmt_pipeline.case.connections import op_deadline
from usermgmt_pipeline.tasks.context import TaskContext
from usermgmt_pipeline.tasks.results import TaskFailedError, TaskResult

LEASE_SECONDS = 60
HEARTBEAT_SECONDS = 15
_HELD_HERE: set[tuple[str, str]] = set()
"""(database, instance) leases this process holds right now; a lease naming this pid but not in here is
a leftover of an earlier run in this process whose release failed (e.g. the database was down)."""


class InstanceBusyError(TaskFailedError):
    """Another run holds this instance; nothing was done."""


def _holder_is_gone(lock: Mapping[str, Any], held_key: tuple[str, str]) -> bool:
    if time.time() - float(lock.get("heartbeatAt", 0)) > LEASE_SECONDS:
        return True
    if lock.get("host") == socket.gethostname():
        pid = int(lock.get("pid", 0))
        if pid == os.getpid():
            return held_key not in _HELD_HERE
        return pid <= 0 or not psutil.pid_exists(pid)
    return False


@contextmanager
def instance_lock(ctx: TaskContext, task: str) -> Iterator[None]:
    locks = ctx.dbs.pipeline_db()["locks"]
    held_key = (locks.database.name, ctx.instance_id)
    timeout = ctx.dbs.timeout_s("global_infos_db")
    me = {
        "runID": ctx.options.run_id,
        "task": task,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "since": time.time(),
        "heartbeatAt": time.time(),
    }
    with op_deadline(timeout):
        try:
            locks.insert_one({"_id": ctx.instance_id, **me})
        except DuplicateKeyError:
            current = locks.find_one({"_id": ctx.instance_id}) or {}
            taken = _holder_is_gone(current, held_key) and (
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
                raise InstanceBusyError(
                    f"{task}[{ctx.instance_id}]: instance is being processed by run {current.get('runID')} "
                    f"({current.get('task')}, pid {current.get('pid')} on {current.get('host')}); nothing was done. "
                    "Wait for it to finish, or rerun later",
                    TaskResult(task, ctx.instance_id),
                ) from None
    _HELD_HERE.add(held_key)
    stop = threading.Event()

    def heartbeat() -> None:
        while not stop.wait(HEARTBEAT_SECONDS):
            try:
                with op_deadline(timeout):
                    locks.update_one(
                        {"_id": ctx.instance_id, "runID": ctx.options.run_id},
                        {"$set": {"heartbeatAt": time.time()}},
                    )
            except Exception as exc:  # the lease then simply ages out
                ctx.logger.warning("instance lock heartbeat failed: %s", type(exc).__name__)

    beat = threading.Thread(target=heartbeat, name=f"lock-{ctx.instance_id}", daemon=True)
    beat.start()
    try:
        yield
    finally:
        _HELD_HERE.discard(held_key)
        stop.set()
        beat.join(timeout=1)
        try:
            with op_deadline(timeout):
                locks.delete_one({"_id": ctx.instance_id, "runID": ctx.options.run_id})
        except Exception as exc:
            ctx.logger.warning(
                "could not release the instance lock (it expires by itself): %s", type(exc).__name__
            )
