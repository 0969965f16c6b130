"""Named step boundaries of each user's processing, and the hooks a task context calls at them.

The package installs no hook: in production `StepHooks.checkpoint` does nothing. The crash-matrix tests give a
context hooks of their own, or (in worker processes, which build their contexts through the CLI or Dagster)
add them to the process's default hooks (`PROCESS_HOOKS`, what a context gets unless given others). A hook
SIGKILLs (or SIGSTOPs) the process at a chosen boundary, exactly like an OOM kill, a node loss or a paused VM,
so a rerun's recovery is tested at every boundary without relying on timing. Test hooks never ship as
behaviour a production setting could switch on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from enum import StrEnum
from typing import TypeVar

T = TypeVar("T")


class Step(StrEnum):
    """Every step boundary, named as the crash tests name them."""

    NOTIFY_JOURNAL_OPENED = "notify:journal-opened"
    NOTIFY_TOKEN_INSERTED = "notify:token-inserted"
    NOTIFY_EMAIL_QUEUED = "notify:email-queued"
    NOTIFY_USER_UPDATED = "notify:user-updated"
    DELETE_JOURNAL_OPENED = "delete:journal-opened"
    DELETE_USER_DELETED = "delete:user-deleted"
    DELETE_STUDY_RULES_EVALUATED = "delete:study-rules-evaluated"
    DELETE_STUDY_ERASED = "delete:study-erased"
    DELETE_TOKENS_DELETED = "delete:tokens-deleted"
    DELETE_EMAIL_QUEUED = "delete:email-queued"
    LOOKUP_BATCH_INSERTED = "lookup:batch-inserted"
    MIGRATE_PARTICIPANT_SAVED = "migrate:participant-saved"


CHECKPOINTS = tuple(step.value for step in Step)
NOTICE_STEPS = (
    Step.NOTIFY_JOURNAL_OPENED,
    Step.NOTIFY_TOKEN_INSERTED,
    Step.NOTIFY_EMAIL_QUEUED,
    Step.NOTIFY_USER_UPDATED,
)
"""The boundaries of the notice flow (`notify_flow`), which every notifying task passes."""
DELETION_STEPS = (
    Step.DELETE_JOURNAL_OPENED,
    Step.DELETE_USER_DELETED,
    Step.DELETE_STUDY_RULES_EVALUATED,
    Step.DELETE_STUDY_ERASED,
    Step.DELETE_TOKENS_DELETED,
    Step.DELETE_EMAIL_QUEUED,
)
"""The boundaries of the deletion flow (`user_deletion`), which every account-deleting task passes."""

CheckpointHook = Callable[[str], None]
SplitHook = Callable[[str, int], int | None]
"""(checkpoint, n) -> after how many of the n items of that step's bulk write to stop, or None."""


class StepHooks:
    """The hooks called at step boundaries (`checkpoint`) and asked where to cut a bulk write (`parts`)."""

    def __init__(self) -> None:
        self._hooks: list[CheckpointHook] = []
        self._split_hooks: list[SplitHook] = []

    def add(self, hook: CheckpointHook) -> Callable[[], None]:
        """Call `hook(name)` at every checkpoint from now on; returns the function that removes it again."""
        self._hooks.append(hook)
        return lambda: self._hooks.remove(hook) if hook in self._hooks else None

    def add_split(self, hook: SplitHook) -> Callable[[], None]:
        """Let `hook` cut the bulk write before checkpoint `name` after k of its n items; returns its remover."""
        self._split_hooks.append(hook)
        return lambda: self._split_hooks.remove(hook) if hook in self._split_hooks else None

    def checkpoint(self, name: str) -> None:
        """Mark a step boundary; calls the hooks (none outside the tests)."""
        for hook in tuple(self._hooks):
            hook(name)

    def visit(self, name: str, items: Sequence[object]) -> None:
        """The boundary `name`, once per user (or profile x study pair) that reached it: the crash tests
        count visits per user."""
        for _item in items:
            self.checkpoint(name)

    def parts(self, name: str, items: Sequence[T]) -> Iterator[Sequence[T]]:
        """The parts in which the bulk write that ends at checkpoint `name` writes `items`: all at once.

        A test's split hook may cut it after k items; the boundary is then the checkpoint `<name>@<k>`, so a
        crash hook can kill the process with k of the n users of a batch written and the rest not.
        """
        hooks = tuple(self._split_hooks)
        cut = next((k for hook in hooks if (k := hook(name, len(items))) is not None), None)
        if cut is None or not 0 < cut < len(items):
            yield items
            return
        yield items[:cut]
        self.checkpoint(f"{name}@{cut}")
        yield items[cut:]


PROCESS_HOOKS = StepHooks()
"""The hooks of every context that is given none: empty unless a test's worker process adds some."""


def install_checkpoint_hook(hook: CheckpointHook) -> Callable[[], None]:
    """Add `hook` to the process's default hooks (a worker process whose contexts the CLI builds)."""
    return PROCESS_HOOKS.add(hook)


def install_split_hook(hook: SplitHook) -> Callable[[], None]:
    return PROCESS_HOOKS.add_split(hook)
