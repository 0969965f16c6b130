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

The users come in batches (`orchestration.batch_size`) and each step is one bulk call for the whole batch
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
from dataclasses import dataclass
from typing import Any

from bson import ObjectId

from usermgmt_pipeline.case.go_decode import GoDecodeError, go_int
from usermgmt_pipeline.case.messaging import outgoing_email_document
from usermgmt_pipeline.case.temp_tokens import new_token, token_document
from usermgmt_pipeline.case.users import User
from usermgmt_pipeline.emails.templates import render_email
from usermgmt_pipeline.tasks.checkpoints import checkpoint, in_parts
from usermgmt_pipeline.tasks.context import TaskContext
from usermgmt_pipeline.tasks.email_queue import queue_emails


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


Outcome = tuple[str, Any]
"""("ok", None) when done, ("ok", reason) when skipped, ("error", exception) when the user failed."""


def _visit(name: str, users: Sequence[User]) -> None:
    """The step boundary `name`, once per user who reached it (the crash tests count visits per user)."""
    for _user in users:
        checkpoint(name)


def _open_next_notices_of_cycle(
    ctx: TaskContext,
    keys: dict[str, str],
    fresh: Mapping[str, Mapping[str, Any]],
    entries: dict[str, dict[str, Any]],
) -> None:
    """Move each user whose cycle entry is `done` on to the cycle's next notice (`<key>:2`, `:3`, ...).

    `done` means this cycle's notice was sent and the timestamp set, so the user is selected again only
    because the timestamp was cleared since (e.g. a mark for deletion lifted without a login). Go then sends
    a new notice, and so do we, under ids of its own; a crash while sending it resumes the same entry.
    """
    base = dict(keys)
    notice = 1
    while done := [user_id for user_id, entry in entries.items() if entry.get("state") == "done"]:
        notice += 1
        for user_id in done:
            keys[user_id] = f"{base[user_id]}:{notice}"
        opened = ctx.pipeline.open_entries({keys[user_id]: fresh[base[user_id]] for user_id in done})
        for user_id in done:
            entries[user_id] = dict(opened[keys[user_id]])


def send_notices(
    ctx: TaskContext, spec: NoticeSpec, users: Sequence[User], template: Mapping[str, Any]
) -> dict[str, Outcome]:
    """Run the steps for one batch of users; returns each user's outcome by user id."""
    users = list({user.id: user for user in users}.values())  # a cursor may repeat a user
    outcomes: dict[str, Outcome] = {}
    keys = {user.id: f"{spec.task}:{ctx.instance_id}:{user.id}:{spec.cycle(user)}" for user in users}
    fresh = {
        keys[user.id]: {
            "task": spec.task,
            "instanceID": ctx.instance_id,
            "userID": user.id,
            "state": "pending",
            "tokenDocId": ObjectId(),
            "emailDocId": ObjectId(),
            "startedAt": ctx.now_s(),
        }
        for user in users
    }
    opened: dict[str, Mapping[str, Any]] = {}
    for part in in_parts("notify:journal-opened", list(fresh)):
        opened.update(ctx.pipeline.open_entries({key: fresh[key] for key in part}))
    entries = {user.id: dict(opened[keys[user.id]]) for user in users}
    _open_next_notices_of_cycle(ctx, keys, fresh, entries)
    # Selected again in the same cycle: resume under the same ids (the token and email inserts are
    # idempotent), otherwise the timestamp would be set without any email being queued.
    reopened = [user.id for user in users if entries[user.id].get("state") == "selection-changed"]
    ctx.pipeline.update_many([keys[user_id] for user_id in reopened], {"state": "pending"})
    for user_id in reopened:
        entries[user_id]["state"] = "pending"
    _visit("notify:journal-opened", users)

    # Re-check right before the first write: a user who confirmed or logged in since the cursor read it
    # gets neither a token nor an email.
    pending = [user for user in users if entries[user.id].get("state") == "pending"]
    still_selected = ctx.users.selected_ids([user.object_id for user in pending], spec.selection)
    gone = [user for user in pending if user.object_id not in still_selected]
    ctx.pipeline.update_many([keys[user.id] for user in gone], {"state": "selection-changed"})
    for user in gone:
        ctx.audit(spec.task, user.id, spec.message_type, "selection-changed", account_id=user.account_id)
        outcomes[user.id] = (
            "ok",
            "no longer selected before the notice was sent (user confirmed or logged in meanwhile)",
        )
    active = [user for user in users if user.id not in outcomes]

    token_docs = [
        token_document(
            doc_id=entries[user.id]["tokenDocId"],
            token=new_token(),
            purpose=spec.token_purpose,
            user_id=user.id,
            instance_id=ctx.instance_id,
            email=user.account_id,
            ttl_ns=spec.token_ttl_ns,
        )
        for user in active
    ]
    stored: list[str | Exception] = []
    for token_part in in_parts("notify:token-inserted", token_docs):
        stored += ctx.temp_tokens.insert_many_once(list(token_part))
    tokens: dict[str, str] = {}
    for user, token in zip(active, stored, strict=True):
        if isinstance(token, Exception):
            outcomes[user.id] = ("error", token)
        else:
            tokens[user.id] = token
    active = [user for user in active if user.id in tokens]
    _visit("notify:token-inserted", active)

    to_email = [user for user in active if entries[user.id].get("state") == "pending"]
    already_sent = ctx.messaging.sent_since(
        {user.id: int(entries[user.id]["startedAt"]) for user in to_email}, spec.message_type
    )
    email_docs: list[dict[str, Any]] = []
    email_users: list[User] = []
    for user in to_email:
        if user.id in already_sent:
            continue
        try:
            email = render_email(
                template,
                instance_id=ctx.instance_id,
                language=user.preferred_language,
                payload={"token": tokens[user.id]},
                constants=ctx.config.messaging_configs.global_email_template_constants,
            )
        except Exception as exc:
            outcomes[user.id] = ("error", exc)
            continue
        email_users.append(user)
        email_docs.append(
            outgoing_email_document(
                doc_id=entries[user.id]["emailDocId"],
                message_type=spec.message_type,
                user_id=user.id,
                to=user.account_id,
                subject=email.subject,
                header_overrides=email.header_overrides,
                content=email.content,
                added_at=ctx.now_s(),
            )
        )
    for index, failure in queue_emails(ctx, "notify:email-queued", email_docs).items():
        outcomes[email_users[index].id] = ("error", failure)
    queued = [user for user in to_email if user.id not in outcomes]
    ctx.pipeline.update_many([keys[user.id] for user in queued], {"state": "email_queued"})
    active = [user for user in active if user.id not in outcomes]
    _visit("notify:email-queued", active)

    updated: set[ObjectId] = set()
    for id_part in in_parts("notify:user-updated", [user.object_id for user in active]):
        updated |= ctx.users.set_timestamp_many_if_selected(
            list(id_part), spec.selection, spec.timestamp_field, spec.timestamp_value
        )
    _visit("notify:user-updated", active)
    done = [user for user in active if user.object_id in updated]
    changed = [user for user in active if user.object_id not in updated]
    ctx.pipeline.update_many([keys[user.id] for user in done], {"state": "done"})
    ctx.pipeline.update_many([keys[user.id] for user in changed], {"state": "selection-changed"})
    for user in done:
        ctx.audit(
            spec.task,
            user.id,
            spec.message_type,
            "done",
            _queued(spec, entries[user.id]),
            account_id=user.account_id,
        )
        outcomes[user.id] = ("ok", None)
    for user in changed:
        ctx.audit(
            spec.task,
            user.id,
            spec.message_type,
            "selection-changed",
            _queued(spec, entries[user.id]),
            account_id=user.account_id,
        )
        outcomes[user.id] = (
            "ok",
            "selection changed after the email was queued (user confirmed or logged in meanwhile)",
        )
    return outcomes


def send_notice(ctx: TaskContext, spec: NoticeSpec, user: User, template: Mapping[str, Any]) -> str | None:
    """One user's notice (a batch of one): None when done, or why the user was skipped. Raises on failure."""
    kind, value = send_notices(ctx, spec, [user], template)[user.id]
    if kind == "error":
        raise value
    reason: str | None = value
    return reason


def finish_interrupted_notices(ctx: TaskContext, spec: NoticeSpec) -> int:
    """Close journal entries of this task whose user the walk will not select again; returns how many.

    A kill between step 3 (user update) and the journal's `done` leaves an `email_queued` entry whose user no
    longer matches the selection, so no later run would ever close it. An entry whose user is still selected
    is left for the walk, which resumes it under its fixed ids. Checked a batch of entries at a time.
    """
    closed = 0
    entries = list(ctx.pipeline.unfinished(spec.task, ctx.instance_id, ("pending", "email_queued")))
    size = ctx.batch_size
    for start in range(0, len(entries), size):
        chunk = entries[start : start + size]
        still_selected = ctx.users.selected_ids([ObjectId(e["userID"]) for e in chunk], spec.selection)
        rest = [e for e in chunk if ObjectId(e["userID"]) not in still_selected]
        raws = ctx.users.get_raw_many([ObjectId(e["userID"]) for e in rest])
        done: list[str] = []
        changed: list[str] = []
        for entry in rest:
            raw = raws.get(ObjectId(entry["userID"]))
            try:
                stamped = (
                    raw is not None and go_int(raw.get("timestamps") or {}, spec.timestamp_field, "") > 0
                )
            except (GoDecodeError, AttributeError):
                stamped = False
            (done if stamped and entry.get("state") == "email_queued" else changed).append(entry["_id"])
        ctx.pipeline.update_many(done, {"state": "done"})
        ctx.pipeline.update_many(changed, {"state": "selection-changed"})
        closed += len(rest)
    return closed


def _queued(spec: NoticeSpec, entry: Mapping[str, Any]) -> dict[str, Any]:
    """Audit details: the notice queued for this cycle (by this or an earlier, interrupted attempt)."""
    return {"emailsQueued": [{"messageType": spec.message_type, "emailID": str(entry["emailDocId"])}]}
