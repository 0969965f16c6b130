"""Token, email, then user update: the shared flow of confirmation reminders and inactivity notices.

Crash safety (the original sends a second email with a second token when it dies between the email and the
user update). Per user and cycle we open a journal entry, keyed `<task>:<instance>:<user>:<cycle>`, whose
`$setOnInsert` fixes the ObjectIds of the temp token and of the outgoing email once. Every step is then an
idempotent write under those ids:

0. re-read the user with the task's selection as filter; if it no longer matches, nothing is written;
1. insert the temp token under its fixed `_id` (a rerun finds it and reuses its token string);
2. queue the email under its fixed `_id` (a duplicate key means it is already queued; if the messaging job
   already sent and removed it, `sent-emails` shows it and we do not queue again); journal -> email_queued;
3. set the user's timestamp, filtered by the task's selection (a user who logged in or confirmed meanwhile
   is not touched); journal -> done.

Whatever step a kill hits, the rerun selects the same user again (the timestamp is the last write) and
converges on exactly one email referencing exactly one token. The cycle is "once per account" for
reminders and the (lastLogin, lastTokenRefresh) pair for inactivity, so a user who comes back and lapses
again gets a new notice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bson import ObjectId

from usermgmt_pipeline.case.go_decode import GoDecodeError, go_int
from usermgmt_pipeline.case.messaging import outgoing_email_document
from usermgmt_pipeline.case.temp_tokens import new_token, token_document
from usermgmt_pipeline.case.users import User
from usermgmt_pipeline.emails.templates import render_email
from usermgmt_pipeline.tasks.checkpoints import checkpoint
from usermgmt_pipeline.tasks.context import TaskContext


@dataclass(frozen=True)
class NoticeSpec:
    task: str
    message_type: str
    token_purpose: str
    token_ttl_ns: int
    timestamp_field: str  # timestamps.<field> set at the end
    timestamp_value: int
    selection: Mapping[str, Any]

    def cycle(self, user: User) -> str:
        if self.timestamp_field == "reminderToConfirmSentAt":
            return "once"
        return f"{user.last_login}-{user.last_token_refresh}"


def send_notice(ctx: TaskContext, spec: NoticeSpec, user: User, template: Mapping[str, Any]) -> str | None:
    """Run the three steps for one user; returns None when done, or why the user was skipped."""
    key = f"{spec.task}:{ctx.instance_id}:{user.id}:{spec.cycle(user)}"
    entry = ctx.pipeline.open_entry(
        key,
        {
            "task": spec.task,
            "instanceID": ctx.instance_id,
            "userID": user.id,
            "state": "pending",
            "tokenDocId": ObjectId(),
            "emailDocId": ObjectId(),
            "startedAt": ctx.now_s(),
        },
    )
    if entry.get("state") == "selection-changed":
        # Selected again in the same cycle: resume under the same ids (the token and email inserts are
        # idempotent), otherwise the timestamp would be set without any email being queued.
        ctx.pipeline.update(key, {"state": "pending"})
        entry = {**entry, "state": "pending"}
    checkpoint("notify:journal-opened")
    if entry.get("state") == "pending" and ctx.users.find_selected(user.object_id, spec.selection) is None:
        # Re-check right before the first write: a user who confirmed or logged in since the cursor read it
        # gets neither a token nor an email.
        ctx.pipeline.update(key, {"state": "selection-changed"})
        ctx.audit(spec.task, user.id, spec.message_type, "selection-changed")
        return "no longer selected before the notice was sent (user confirmed or logged in meanwhile)"
    token = ctx.temp_tokens.insert_once(
        token_document(
            doc_id=entry["tokenDocId"],
            token=new_token(),
            purpose=spec.token_purpose,
            user_id=user.id,
            instance_id=ctx.instance_id,
            email=user.account_id,
            ttl_ns=spec.token_ttl_ns,
        )
    )
    checkpoint("notify:token-inserted")
    if entry.get("state") == "pending":
        already_sent = ctx.messaging.was_sent_since(user.id, spec.message_type, int(entry["startedAt"]))
        if not already_sent:
            email = render_email(
                template,
                instance_id=ctx.instance_id,
                language=user.preferred_language,
                payload={"token": token},
                constants=ctx.config.messaging_configs.global_email_template_constants,
            )
            ctx.messaging.queue_once(
                outgoing_email_document(
                    doc_id=entry["emailDocId"],
                    message_type=spec.message_type,
                    user_id=user.id,
                    to=user.account_id,
                    subject=email.subject,
                    header_overrides=email.header_overrides,
                    content=email.content,
                    added_at=ctx.now_s(),
                )
            )
        ctx.pipeline.update(key, {"state": "email_queued"})
    checkpoint("notify:email-queued")
    updated = ctx.users.set_timestamp_if_selected(
        user.object_id, spec.selection, spec.timestamp_field, spec.timestamp_value
    )
    checkpoint("notify:user-updated")
    ctx.pipeline.update(key, {"state": "done" if updated else "selection-changed"})
    ctx.audit(spec.task, user.id, spec.message_type, "done" if updated else "selection-changed")
    if not updated:
        return "selection changed after the email was queued (user confirmed or logged in meanwhile)"
    return None


def finish_interrupted_notices(ctx: TaskContext, spec: NoticeSpec) -> int:
    """Close journal entries of this task whose user the walk will not select again; returns how many.

    A kill between step 3 (user update) and the journal's `done` leaves an `email_queued` entry whose user no
    longer matches the selection, so no later run would ever close it. An entry whose user is still selected
    is left for the walk, which resumes it under its fixed ids.
    """
    closed = 0
    for entry in ctx.pipeline.unfinished(spec.task, ctx.instance_id, ("pending", "email_queued")):
        user_oid = ObjectId(entry["userID"])
        if ctx.users.find_selected(user_oid, spec.selection) is not None:
            continue
        raw = ctx.users.get_raw(user_oid)
        try:
            stamped = raw is not None and go_int(raw.get("timestamps") or {}, spec.timestamp_field, "") > 0
        except (GoDecodeError, AttributeError):
            stamped = False
        done = stamped and entry.get("state") == "email_queued"
        ctx.pipeline.update(entry["_id"], {"state": "done" if done else "selection-changed"})
        closed += 1
    return closed
