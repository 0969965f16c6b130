"""The crash-matrix hook: SIGKILL this process at a named checkpoint (test-only, installed by the workers).

The tests name the crash point in `USERMGMT_TEST_CRASH_AT=<checkpoint>[:<n>]` for a worker process; the
worker (never the package) reads it and installs the hook. The n-th visit (default the 1st) kills.
`<checkpoint>@<k>` kills inside a batch: the bulk write ending at that checkpoint writes its first k users'
documents, then the process dies before the rest.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Mapping

from usermgmt_pipeline.tasks.checkpoints import CheckpointHook, install_checkpoint_hook, install_split_hook

CRASH_AT_VAR = "USERMGMT_TEST_CRASH_AT"
FREEZE_AT_VAR = "USERMGMT_TEST_FREEZE_AT"
"""`<checkpoint>[:<n>]`: SIGSTOP the process there, as a paused VM or container (every thread stands still,
the lease heartbeat included) until the test sends SIGCONT."""


def crash_hook(spec: str, sig: signal.Signals = signal.SIGKILL) -> CheckpointHook:
    """A hook that sends `sig` (SIGKILL: a crash; SIGSTOP: a freeze) to this process at the n-th visit of the
    checkpoint named by `spec`."""
    # Checkpoint names contain ':' themselves, so only a trailing all-digit part is the visit count.
    head, _, tail = spec.rpartition(":")
    target, nth = (head, tail) if tail.isdigit() else (spec, "1")
    remaining = int(nth)

    def hook(name: str) -> None:
        nonlocal remaining
        if name != target:
            return
        remaining -= 1
        if remaining == 0:  # the n-th visit only: a frozen process resumed goes on past it
            os.kill(os.getpid(), sig)

    return hook


def install_crash_hook_from_env(env: Mapping[str, str] | None = None) -> Callable[[], None] | None:
    """Install the crash hook when `USERMGMT_TEST_CRASH_AT` names a checkpoint; returns its remover."""
    spec = (os.environ if env is None else env).get(CRASH_AT_VAR, "")
    if not spec:
        return None
    remove_kill = install_checkpoint_hook(crash_hook(spec))
    head, _, visit = spec.rpartition(":")
    target = head if visit.isdigit() else spec
    step, at, cut_text = target.rpartition("@")
    if not (at and cut_text.isdigit()):
        return remove_kill
    cut = int(cut_text)
    remove_split = install_split_hook(lambda name, n: cut if name == step else None)

    def remove() -> None:
        remove_kill()
        remove_split()

    return remove


def install_freeze_hook_from_env(env: Mapping[str, str] | None = None) -> Callable[[], None] | None:
    """Install the freeze hook when `USERMGMT_TEST_FREEZE_AT` names a checkpoint; returns its remover."""
    spec = (os.environ if env is None else env).get(FREEZE_AT_VAR, "")
    return install_checkpoint_hook(crash_hook(spec, signal.SIGSTOP)) if spec else None
