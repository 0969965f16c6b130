"""Named step boundaries of each user's processing, and a registry of hooks called at them.

The package installs no hook: `checkpoint` is a no-op in production. The crash-matrix tests install one in
their worker processes (usermgmt_pipeline_tests/crash_hook.py) that SIGKILLs the process at a chosen
boundary, exactly like an OOM kill or a node loss, so a rerun's recovery is tested at every boundary
without relying on timing. Test hooks never ship as behaviour a production setting could switch on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

T = TypeVar("T")

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
SplitHook = Callable[[str, int], int | None]
"""(checkpoint, n) -> after how many of the n items of that step's bulk write to stop, or None."""

_hooks: list[CheckpointHook] = []
_split_hooks: list[SplitHook] = []


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


def install_split_hook(hook: SplitHook) -> Callable[[], None]:
    """Let `hook` cut the bulk write before checkpoint `name` after k of its n items; returns its remover."""
    _split_hooks.append(hook)

    def remove() -> None:
        if hook in _split_hooks:
            _split_hooks.remove(hook)

    return remove


def in_parts(name: str, items: Sequence[T]) -> Iterator[Sequence[T]]:
    """The parts in which the bulk write that ends at checkpoint `name` writes `items`: all at once.

    A test's split hook may cut it after k items; the boundary is then the checkpoint `<name>@<k>`, so a
    crash hook can kill the process with k of the n users of a batch written and the rest not.
    """
    cut = next((k for hook in tuple(_split_hooks) if (k := hook(name, len(items))) is not None), None)
    if cut is None or not 0 < cut < len(items):
        yield items
        return
    yield items[:cut]
    checkpoint(f"{name}@{cut}")
    yield items[cut:]
