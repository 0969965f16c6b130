"""The one shape of every journaled per-user flow: open entries -> re-check the selection -> steps -> close.

The notices (`notify_flow`) and the deletions (`user_deletion`) both work on a batch of selected users. Each
user gets a journal entry (`case.journal`) whose first insert fixes the ids of everything the steps will write,
so that every step is an idempotent write and a rerun after a crash converges on one email, one token and one
deletion. `run_batch` is that skeleton; a `JournalFlow` fills in what differs: the entry a user gets, how an
entry found finished is reopened, the selection re-check (the notices' query, the deletions' atomic delete)
and the steps after it. Each step's bulk write goes through `TaskContext.write_parts`, which asks the lease
first; every journal write is conditional on the lease generation (`PipelineStore`).

`queue_emails_once` is the email step both flows end with.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from bson import ObjectId

from usermgmt_pipeline.case.journal import JournalEntry, State
from usermgmt_pipeline.case.messaging import outgoing_email_document
from usermgmt_pipeline.case.users import User
from usermgmt_pipeline.emails.templates import render_email
from usermgmt_pipeline.tasks.checkpoints import Step
from usermgmt_pipeline.tasks.context import TaskContext
from usermgmt_pipeline.tasks.results import DONE, Outcome


@dataclass
class Batch:
    """One batch in flight: the users as the walk read them, their journal entries (by user id) and each
    entry's outcome once it has one (by entry key)."""

    ctx: TaskContext
    users: Mapping[str, User]
    entries: dict[str, JournalEntry]
    outcomes: dict[str, Outcome] = field(default_factory=dict)

    def pending(self) -> list[JournalEntry]:
        """The entries that have no outcome yet, in the batch's order."""
        return [entry for entry in self.entries.values() if entry.key not in self.outcomes]

    def user(self, entry: JournalEntry) -> User:
        return self.users[entry.user_id]


class JournalFlow(Protocol):
    """What one kind of journaled work fills into `run_batch`."""

    opened: Step

    def entry_for(self, ctx: TaskContext, user: User) -> JournalEntry:
        """The fresh entry of this user's attempt (an existing entry under its key wins)."""
        ...

    def reopen(self, batch: Batch, fresh: Mapping[str, JournalEntry]) -> None:
        """Make entries found finished workable again where the user is selected again."""
        ...

    def recheck(self, batch: Batch) -> None:
        """The selection re-checked right before the first irreversible write; the outcome of each entry no
        longer selected is recorded."""
        ...

    def steps(self, batch: Batch) -> None:
        """The steps after the re-check for the entries without an outcome, up to closing each entry."""
        ...


def fresh_entry(
    ctx: TaskContext, task: str, key: str, user: User, state: State, **snapshot: Any
) -> JournalEntry:
    """A new attempt's entry for `user`: started now, its email's id fixed (and whatever `snapshot` adds)."""
    return JournalEntry(
        key=key,
        task=task,
        instance_id=ctx.instance_id,
        user_id=user.id,
        state=state,
        started_at=ctx.now_s(),
        email_doc_id=ObjectId(),
        **snapshot,
    )


def run_batch(ctx: TaskContext, flow: JournalFlow, users: Sequence[User]) -> dict[str, Outcome]:
    """One batch of selected users through `flow`; returns each user's outcome by user id."""
    by_id = {user.id: user for user in users}  # a cursor may repeat a user
    fresh = {user_id: flow.entry_for(ctx, user) for user_id, user in by_id.items()}
    opened = open_entries(ctx, flow.opened, list(fresh.values()))
    batch = Batch(ctx, by_id, {user_id: opened[entry.key] for user_id, entry in fresh.items()})
    flow.reopen(batch, fresh)
    ctx.hooks.visit(flow.opened, list(by_id))
    flow.recheck(batch)
    flow.steps(batch)
    return {user_id: batch.outcomes.get(entry.key, DONE) for user_id, entry in batch.entries.items()}


def open_entries(ctx: TaskContext, step: Step, fresh: Sequence[JournalEntry]) -> dict[str, JournalEntry]:
    """Insert the new entries, read back (and claim) the existing ones; by key."""
    opened: dict[str, JournalEntry] = {}
    for part in ctx.write_parts(step, fresh):
        opened.update(ctx.pipeline.open_entries(part))
    return opened


@dataclass(frozen=True)
class EmailToQueue:
    """One entry's email: queued under the entry's pre-assigned id, to the address and in the language given."""

    entry: JournalEntry
    message_type: str
    to: str
    language: str
    payload: Mapping[str, Any]


def queue_emails_once(
    ctx: TaskContext, step: Step, template: Mapping[str, Any], emails: Sequence[EmailToQueue]
) -> dict[str, Outcome]:
    """Render and queue each email unless the messaging service already sent it (`sent-emails` since the
    attempt started: never twice); a duplicate id is an email already queued. Returns the failures by key."""
    failures: dict[str, Outcome] = {}
    sent: set[tuple[str, str]] = set()
    for message_type in sorted({e.message_type for e in emails}):
        since = {e.entry.user_id: e.entry.started_at for e in emails if e.message_type == message_type}
        sent |= {(message_type, user_id) for user_id in ctx.messaging.sent_since(since, message_type)}
    docs: list[dict[str, Any]] = []
    owners: list[str] = []
    for email in emails:
        if (email.message_type, email.entry.user_id) in sent:
            continue
        try:
            docs.append(_outgoing(ctx, template, email))
        except Exception as exc:
            failures[email.entry.key] = Outcome.fail(exc)
            continue
        owners.append(email.entry.key)
    offset = 0
    for part in ctx.write_parts(step, docs):
        for index, reason in ctx.messaging.queue_many_once(list(part)).items():
            error = RuntimeError(f"queueing the email failed: {reason}")
            failures[owners[offset + index]] = Outcome.fail(error)
        offset += len(part)
    return failures


def _outgoing(ctx: TaskContext, template: Mapping[str, Any], email: EmailToQueue) -> dict[str, Any]:
    rendered = render_email(
        template,
        instance_id=ctx.instance_id,
        language=email.language,
        payload=dict(email.payload),
        constants=ctx.config.messaging_configs.global_email_template_constants,
    )
    return outgoing_email_document(
        doc_id=email.entry.email_doc_id,
        message_type=email.message_type,
        user_id=email.entry.user_id,
        to=email.to,
        subject=rendered.subject,
        header_overrides=rendered.header_overrides,
        content=rendered.content,
        added_at=ctx.now_s(),
    )


def emails_queued(entry: JournalEntry, message_type: str) -> dict[str, Any]:
    """Audit details: the email queued for this attempt (by this or an earlier, interrupted run)."""
    return {"emailsQueued": [{"messageType": message_type, "emailID": str(entry.email_doc_id)}]}
