"""Named step boundaries of each user's processing, and a registry of hooks called at them.

The package installs no hook: `checkpoint` is a no-op in production. The crash-matrix tests install one in
their worker processes (usermgmt_pipeline_tests/crash_hook.py) that SIGKILLs the process at a chosen
boundary, exactly like an OOM kill or a node loss, so a rerun's recovery is tested at every boundary
without relying on timing. Test hooks never ship as behaviour a production setting could switch on.
"""

from __future__ import annotations

from collections.abc import Callable

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

CheckpointHook = Callable[[str], None]

_hooks: list[CheckpointHook] = []


def install_checkpoint_hook(hook: CheckpointHook) -> Callable[[], None]:
    """Call `hook(name)` at every checkpoint from now on; returns the function that removes it again."""
    _hooks.append(hook)

    def remove() -> None:
        if hook in _hooks:
            _hooks.remove(hook)

    return remove


def checkpoint(name: str) -> None:
    """Mark a step boundary; calls the installed hooks (none outside the tests)."""
    for hook in tuple(_hooks):
        hook(name)
