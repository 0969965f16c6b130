"""The crash-matrix hook: SIGKILL this process at a named checkpoint (test-only, installed by the workers).

The tests name the crash point in `USERMGMT_TEST_CRASH_AT=<checkpoint>[:<n>]` for a worker process; the
worker (never the package) reads it and installs the hook. The n-th visit (default the 1st) kills.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Mapping

from usermgmt_pipeline.tasks.checkpoints import CheckpointHook, install_checkpoint_hook

CRASH_AT_VAR = "USERMGMT_TEST_CRASH_AT"


def crash_hook(spec: str) -> CheckpointHook:
    """A hook that SIGKILLs the process at the n-th visit of the checkpoint named by `spec`."""
    # Checkpoint names contain ':' themselves, so only a trailing all-digit part is the visit count.
    head, _, tail = spec.rpartition(":")
    target, nth = (head, tail) if tail.isdigit() else (spec, "1")
    remaining = int(nth)

    def hook(name: str) -> None:
        nonlocal remaining
        if name != target:
            return
        remaining -= 1
        if remaining <= 0:
            os.kill(os.getpid(), signal.SIGKILL)

    return hook


def install_crash_hook_from_env(env: Mapping[str, str] | None = None) -> Callable[[], None] | None:
    """Install the crash hook when `USERMGMT_TEST_CRASH_AT` names a checkpoint; returns its remover."""
    spec = (os.environ if env is None else env).get(CRASH_AT_VAR, "")
    return install_checkpoint_hook(crash_hook(spec)) if spec else None
