"""Named step boundaries of each user's processing, and a test-only crash hook at them.

The crash-matrix tests set `USERMGMT_TEST_CRASH_AT=<checkpoint>[:<n>]` in a worker process; when that
checkpoint is reached for the n-th time (default 1st) the process SIGKILLs itself, exactly like an OOM kill
or a node loss, so the rerun's recovery is tested at every boundary without relying on timing.
"""

from __future__ import annotations

import os
import signal

CHECKPOINTS = (
    "notify:journal-opened",
    "notify:token-inserted",
    "notify:email-queued",
    "notify:user-updated",
    "delete:journal-opened",
    "delete:user-deleted",
    "delete:study-rules-evaluated",
    "delete:study-erased",
    "delete:tokens-deleted",
    "delete:email-queued",
    "lookup:batch-inserted",
    "migrate:participant-saved",
)

_spec = os.environ.get("USERMGMT_TEST_CRASH_AT", "")
# Checkpoint names contain ':' themselves, so only a trailing all-digit part is the visit count.
_head, _, _tail = _spec.rpartition(":")
_target, _nth = (_head, _tail) if _tail.isdigit() else (_spec, "1")
_remaining = int(_nth)


def checkpoint(name: str) -> None:
    """Mark a step boundary; a no-op unless the crash hook targets this checkpoint."""
    global _remaining
    if not _target or name != _target:
        return
    _remaining -= 1
    if _remaining <= 0:
        os.kill(os.getpid(), signal.SIGKILL)
