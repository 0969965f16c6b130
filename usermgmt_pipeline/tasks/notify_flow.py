"""Token, email, then user update: the shared flow of confirmation reminders and inactivity notices.

Crash safety (the original sends a second email with a second token when it dies between the email and the
user update). Per user and cycle we open a journal entry, keyed `<task>:<instance>:<user>:<cycle>`, whose
first insert fixes the ObjectIds of the temp token and of the outgoing email once. Every step is then an
idempotent write under those ids:

0. re-read the user with the task's selection as filter; if it no longer matches, nothing is written;
1. insert the temp token under its fixed `_id` (a rerun finds it and reuses its token string);
2. queue the email under its fixed `_id` (a duplicate key means it is already queued; if the messaging job
   already sent and removed it, `sent-emails` shows it and we do not queue again); journal -> email_queued;
3. set the user's timestamp, filtered by the task's selection (a user who logged in or confirmed meanwhile
   is not touched); journal -> done.

The batch goes through the skeleton of `batch_flow` (`NoticeFlow` fills it in). The users come in batches
(`orchestration.batch_size`) and each step is one bulk call for the whole batch
(journal `insert_many` with the existing entries read back, one `_id` `$in` re-check, one unordered
`insert_many` each for tokens and emails, one sent-email query, one `update_many` of the users); only the
rendering is per user. Each user still goes through the steps in order, and a kill between two steps, or
inside one after k of its n users, leaves every user of the batch at a step boundary of its own.

Whatever step a kill hits, the rerun selects the same user again (the timestamp is the last write) and
converges on exactly one email referencing exactly one token. The cycle is "once per account" for
reminders and the (lastLogin, lastTokenRefresh) pair for inactivity, so a user who comes back and lapses
again gets a new notice. A user selected again although the cycle's entry is `done` had the timestamp
cleared meanwhile (a lifted mark for deletion): the next notice of the cycle gets its own entry
(`<key>:2`, `:3`, ...), so it is sent as Go sends it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from bson import ObjectId

from usermgmt_pipeline.case.document_fields import GoDecodeError, go_int
from usermgmt_pipeline.case.journal import UNFINISHED_NOTICE, JournalEntry, State
from usermgmt_pipeline.case.temp_tokens import new_token, token_document
from usermgmt_pipeline.case.users import User
from usermgmt_pipeline.emails.task_email import TaskEmail
from usermgmt_pipeline.tasks.batch_flow import (
    Batch,
    EmailToQueue,
    emails_queued,
    fresh_entry,
    queue_emails_once,
    run_batch,
)
from usermgmt_pipeline.tasks.checkpoints import Step
from usermgmt_pipeline.tasks.context import TaskContext
from usermgmt_pipeline.tasks.results import DONE, Outcome


@dataclass(frozen=True)
class NoticeSpec:
    task: str
    email: TaskEmail  # declared by the task, with the purpose of the token it carries
    token_ttl_ns: int
    timestamp_field: str  # timestamps.<field> set at the end
    timestamp_value: int
    selection: Mapping[str, Any]

    @property
    def message_type(self) -> str:
        return self.email.message_type

    @property
    def token_purpose(self) -> str:
        if self.email.token_purpose is None:
            raise ValueError(f"{self.task}: a notice's email must declare its token's purpose")
        return self.email.token_purpose

    def cycle(self, user: User) -> str:
        if self.timestamp_field == "reminderToConfirmSentAt":
            return "once"
        return f"{user.last_login}-{user.last_token_refresh}"


def send_notices(
    ctx: TaskContext, spec: NoticeSpec, users: Sequence[User], template: Mapping[str, Any]
) -> dict[str, Outcome]:
    """Run the steps for one batch of users; returns each user's outcome by user id."""
    return run_batch(ctx, NoticeFlow(spec, template), users)


class NoticeFlow:
    """The notices' part of `run_batch`: token, email, then the user's timestamp."""

    opened = Step.NOTIFY_JOURNAL_OPENED

    def __init__(self, spec: NoticeSpec, template: Mapping[str, Any]) -> None:
        self.spec = spec
        self.template = template

    def entry_for(self, ctx: TaskContext, user: User) -> JournalEntry:
        key = f"{self.spec.task}:{ctx.instance_id}:{user.id}:{self.spec.cycle(user)}"
        return fresh_entry(ctx, self.spec.task, key, user, State.PENDING, token_doc_id=ObjectId())

    def reopen(self, batch: Batch, fresh: Mapping[str, JournalEntry]) -> None:
        """The cycle's next notice for users whose entry is `done`; a `selection-changed` entry resumes.

        `done` means this cycle's notice was sent and the timestamp set, so the user is selected again only
        because the timestamp was cleared since (e.g. a mark for deletion lifted without a login). Go then
        sends a new notice, and so do we, under ids of its own (`<key>:2`, `:3`, ...). Selected again in the
        same cycle after `selection-changed`: resume under the same ids (the token and email inserts are
        idempotent), otherwise the timestamp would be set without any email being queued.
        """
        entries, pipeline = batch.entries, batch.ctx.pipeline
        notice = 1
        while done := [user_id for user_id, entry in entries.items() if entry.state == State.DONE]:
            notice += 1
            following = {
                user_id: replace(fresh[user_id], key=f"{fresh[user_id].key}:{notice}") for user_id in done
            }
            opened = pipeline.open_entries(list(following.values()))
            entries.update({user_id: opened[entry.key] for user_id, entry in following.items()})
        reopened = [entry for entry in entries.values() if entry.state == State.SELECTION_CHANGED]
        pipeline.update_many([entry.key for entry in reopened], {"state": State.PENDING.value})
        for entry in reopened:
            entry.state = State.PENDING

    def recheck(self, batch: Batch) -> None:
        """A user who confirmed or logged in since the walk read them gets neither a token nor an email."""
        ctx = batch.ctx
        pending = [entry for entry in batch.pending() if entry.state == State.PENDING]
        still = ctx.users.selected_ids([ObjectId(entry.user_id) for entry in pending], self.spec.selection)
        gone = [entry for entry in pending if ObjectId(entry.user_id) not in still]
        ctx.pipeline.update_many([entry.key for entry in gone], {"state": State.SELECTION_CHANGED.value})
        for entry in gone:
            self._audit(batch, entry, "selection-changed")
            batch.outcomes[entry.key] = Outcome.skip(
                "no longer selected before the notice was sent (user confirmed or logged in meanwhile)"
            )

    def steps(self, batch: Batch) -> None:
        tokens = self._insert_tokens(batch, batch.pending())
        active = [entry for entry in batch.pending() if entry.key in tokens]
        batch.ctx.hooks.visit(Step.NOTIFY_TOKEN_INSERTED, active)
        self._queue_emails(batch, active, tokens)
        active = [entry for entry in active if entry.key not in batch.outcomes]
        batch.ctx.hooks.visit(Step.NOTIFY_EMAIL_QUEUED, active)
        self._set_timestamps(batch, active)

    def _insert_tokens(self, batch: Batch, entries: list[JournalEntry]) -> dict[str, str]:
        """Each entry's token under its fixed id (a rerun finds it and reuses its token string), by key."""
        ctx = batch.ctx
        docs = [
            token_document(
                doc_id=entry.token_doc_id,
                token=new_token(),
                purpose=self.spec.token_purpose,
                user_id=entry.user_id,
                instance_id=ctx.instance_id,
                email=batch.user(entry).account_id,
                ttl_ns=self.spec.token_ttl_ns,
            )
            for entry in entries
        ]
        stored: list[str | Exception] = []
        for part in ctx.write_parts(Step.NOTIFY_TOKEN_INSERTED, docs):
            stored += ctx.temp_tokens.insert_many_once(list(part))
        tokens: dict[str, str] = {}
        for entry, token in zip(entries, stored, strict=True):
            if isinstance(token, Exception):
                batch.outcomes[entry.key] = Outcome.fail(token)
            else:
                tokens[entry.key] = token
        return tokens

    def _queue_emails(self, batch: Batch, entries: list[JournalEntry], tokens: Mapping[str, str]) -> None:
        to_email = [entry for entry in entries if entry.state == State.PENDING]
        emails = [
            EmailToQueue(
                entry,
                self.spec.message_type,
                batch.user(entry).account_id,
                batch.user(entry).preferred_language,
                self.spec.email.payload(tokens[entry.key]),
            )
            for entry in to_email
        ]
        failures = queue_emails_once(batch.ctx, Step.NOTIFY_EMAIL_QUEUED, self.template, emails)
        batch.outcomes.update(failures)
        queued = [entry.key for entry in to_email if entry.key not in failures]
        batch.ctx.pipeline.update_many(queued, {"state": State.EMAIL_QUEUED.value})

    def _set_timestamps(self, batch: Batch, entries: list[JournalEntry]) -> None:
        """The user's timestamp, filtered by the selection (a user who logged in or confirmed meanwhile is
        not touched), then the entry closed."""
        ctx, spec = batch.ctx, self.spec
        updated: set[ObjectId] = set()
        for part in ctx.write_parts(Step.NOTIFY_USER_UPDATED, [batch.user(e).object_id for e in entries]):
            updated |= ctx.users.set_timestamp_many_if_selected(
                list(part), spec.selection, spec.timestamp_field, spec.timestamp_value
            )
        ctx.hooks.visit(Step.NOTIFY_USER_UPDATED, entries)
        done = [entry for entry in entries if batch.user(entry).object_id in updated]
        changed = [entry for entry in entries if batch.user(entry).object_id not in updated]
        ctx.pipeline.update_many([entry.key for entry in done], {"state": State.DONE.value})
        ctx.pipeline.update_many([entry.key for entry in changed], {"state": State.SELECTION_CHANGED.value})
        for entry in done:
            self._audit(batch, entry, "done", emails_queued(entry, spec.message_type))
            batch.outcomes[entry.key] = DONE
        for entry in changed:
            self._audit(batch, entry, "selection-changed", emails_queued(entry, spec.message_type))
            batch.outcomes[entry.key] = Outcome.skip(
                "selection changed after the email was queued (user confirmed or logged in meanwhile)"
            )

    def _audit(
        self, batch: Batch, entry: JournalEntry, outcome: str, details: dict[str, Any] | None = None
    ) -> None:
        batch.ctx.audit(
            self.spec.task,
            entry.user_id,
            self.spec.message_type,
            outcome,
            details,
            key=entry.step_key(outcome),
            account_id=batch.user(entry).account_id,
        )


def finish_interrupted_notices(ctx: TaskContext, spec: NoticeSpec) -> int:
    """Close journal entries of this task whose user the walk will not select again; returns how many.

    A kill between step 3 (user update) and the journal's `done` leaves an `email_queued` entry whose user no
    longer matches the selection, so no later run would ever close it. An entry whose user is still selected
    is left for the walk, which resumes it under its fixed ids. Checked a batch of entries at a time.
    """
    closed = 0
    entries = ctx.pipeline.unfinished(spec.task, ctx.instance_id, UNFINISHED_NOTICE)
    size = ctx.batch_size
    for start in range(0, len(entries), size):
        chunk = entries[start : start + size]
        still_selected = ctx.users.selected_ids([ObjectId(e.user_id) for e in chunk], spec.selection)
        rest = [e for e in chunk if ObjectId(e.user_id) not in still_selected]
        raws = ctx.users.get_raw_many([ObjectId(e.user_id) for e in rest])
        done: list[str] = []
        changed: list[str] = []
        for entry in rest:
            raw = raws.get(ObjectId(entry.user_id))
            try:
                stamped = (
                    raw is not None and go_int(raw.get("timestamps") or {}, spec.timestamp_field, "") > 0
                )
            except (GoDecodeError, AttributeError):
                stamped = False
            (done if stamped and entry.state == State.EMAIL_QUEUED else changed).append(entry.key)
        ctx.pipeline.update_many(done, {"state": State.DONE.value})
        ctx.pipeline.update_many(changed, {"state": State.SELECTION_CHANGED.value})
        closed += len(rest)
    return closed
