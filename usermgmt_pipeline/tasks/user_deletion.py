"""Deleting one user: the journal-driven, resumable version of CASE's DeleteUser (docs/tasks.md §2.1-2.3).

Go's order (studies, tokens, renew tokens, user document, email) loses the deletion notice forever when it
dies after the user document is gone, and re-runs LEAVE rules when it dies before. Ours:

1. `selected`: a journal entry keyed `delete:<instance>:<user>` snapshots what the later steps need (account
   id, language, profile ids) and fixes the outgoing email's ObjectId.
2. `user_deleted`: the user document is deleted atomically *only if it still matches the task's selection*
   (a user who logged in meanwhile is left alone and the entry is abandoned); then its `userAttributes`.
   This is the commit point: from here on the journal, not the user selection, drives the work.
3. per profile x study (all studies, any status): LEAVE rules are evaluated and the outcome journaled, then
   applied (participant state `accountDeleted`, reports under pre-assigned ids, confidential responses
   deleted, ID-map entries removed) and the pair recorded as done. A failure is recorded and retried on
   the next run; the other studies are still processed.
4. `erased`: temp tokens and renew tokens deleted.
5. `notified`: the deletion email queued under its fixed id (never twice: duplicate key or `sent-emails`).

Each task first resumes its instance's unfinished entries, so a rerun after a kill at any point converges
on the state of an uninterrupted run: no half-deleted user, no lost notice, no LEAVE report created twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bson import ObjectId

from usermgmt_pipeline.case.messaging import outgoing_email_document
from usermgmt_pipeline.case.studies import Study, StudyDecodeError, decode_study
from usermgmt_pipeline.case.users import User
from usermgmt_pipeline.emails.templates import render_email
from usermgmt_pipeline.tasks.checkpoints import checkpoint
from usermgmt_pipeline.tasks.context import TaskContext, ids_only
from usermgmt_pipeline.tasks.study_leave import LeaveOutcome
from usermgmt_pipeline.tasks.study_runtime import ensure_leave_rules

UNFINISHED = ("selected", "user_deleted", "erased")


def journal_key(instance_id: str, user_id: str) -> str:
    return f"delete:{instance_id}:{user_id}"


def all_studies(ctx: TaskContext) -> list[Study]:
    studies = []
    for doc in ctx.studies.studies(""):
        try:
            studies.append(decode_study(doc))
        except StudyDecodeError as exc:
            ctx.logger.error("deletion[%s]: ignoring undecodable study: %s", ctx.instance_id, exc)
    return studies


def delete_user(
    ctx: TaskContext,
    task: str,
    user: User,
    selection: Mapping[str, Any],
    message_type: str,
    template: Mapping[str, Any],
    studies: list[Study],
) -> str | None:
    """Delete one selected user; None when fully done, or why the user was skipped. Raises on failure."""
    key = journal_key(ctx.instance_id, user.id)
    entry = ctx.pipeline.open_entry(
        key,
        {
            "task": task,
            "instanceID": ctx.instance_id,
            "userID": user.id,
            "state": "selected",
            "accountID": user.account_id,
            "language": user.preferred_language,
            "profileIDs": [p.id for p in user.profiles],
            "messageType": message_type,
            "emailDocId": ObjectId(),
            "studiesDone": [],
            "startedAt": ctx.now_s(),
        },
    )
    if entry["state"] == "abandoned":  # an earlier attempt found the user no longer selected; try afresh
        ctx.pipeline.update(
            key,
            {
                "state": "selected",
                "accountID": user.account_id,
                "language": user.preferred_language,
                "profileIDs": [p.id for p in user.profiles],
                "messageType": message_type,
                "startedAt": ctx.now_s(),
            },
        )
        entry = {**entry, "state": "selected"}
    checkpoint("delete:journal-opened")
    if entry["state"] == "selected":
        if not ctx.users.delete_if_selected(user.object_id, selection):
            ctx.pipeline.update(key, {"state": "abandoned"})
            ctx.audit(task, user.id, "delete", "selection-changed")
            return "no longer selected at deletion time (logged in, confirmed or already deleted)"
        ctx.pipeline.update(key, {"state": "user_deleted"})
    return resume_deletion(ctx, key, template, studies)


def resume_deletion(
    ctx: TaskContext, key: str, template: Mapping[str, Any], studies: list[Study]
) -> str | None:
    """Carry a journaled deletion forward from whatever state it is in; raise if a step still fails."""
    entry = ctx.pipeline.get(key)
    if entry is None:
        raise LookupError(f"journal entry {key} vanished")
    task, user_id = entry["task"], entry["userID"]
    user_oid = ObjectId(user_id)
    state = entry["state"]
    if state == "selected":
        if ctx.users.exists(user_oid):
            # Killed before the commit point: nothing was changed; the selection decides afresh.
            ctx.pipeline.update(key, {"state": "abandoned"})
            return "deletion had not started; the user is re-evaluated by the task's selection"
        state = "user_deleted"  # killed between the atomic delete and the journal update
        ctx.pipeline.update(key, {"state": state})
    if state == "user_deleted" and entry.get("attributesDeleted") is not True:
        ctx.users.delete_attributes(user_oid)
        ctx.pipeline.update(key, {"attributesDeleted": True, "state": "user_deleted"})
        checkpoint("delete:user-deleted")

    errors: list[str] = []
    if state == "user_deleted":
        errors = _process_studies(ctx, key, entry, studies)
        if errors:
            ctx.audit(task, user_id, "study-erasure", "failed")
            raise RuntimeError("; ".join(errors) + " (will be retried on the next run)")
        ctx.temp_tokens.delete_all_for_user(ctx.instance_id, user_id)
        ctx.users.delete_renew_tokens(user_id)
        state = "erased"
        ctx.pipeline.update(key, {"state": state})
        checkpoint("delete:tokens-deleted")

    if state == "erased":
        _queue_deletion_email(ctx, entry, template)
        ctx.pipeline.update(key, {"state": "done"}, unset=("pendingStudy", "accountID", "language"))
        checkpoint("delete:email-queued")
        details = {
            "profiles": len(entry.get("profileIDs") or []),
            "studiesErased": sorted({s.key for s in studies}),
            "emailsQueued": [{"messageType": entry["messageType"], "emailID": str(entry["emailDocId"])}],
        }
        ctx.audit(task, user_id, "delete", "done", details)
    return None


def _process_studies(ctx: TaskContext, key: str, entry: Mapping[str, Any], studies: list[Study]) -> list[str]:
    """Each profile x study, skipping pairs the journal records as done.

    Pairs where the profile never took part (no participant document, hence no rules, state or reports)
    only need their ID-map entries removed; those are batched into one delete per profile, which matters
    because lookup generation creates an entry for every profile x active study.
    """
    runner = ensure_leave_rules(ctx)
    done = set(entry.get("studiesDone") or [])
    errors: list[str] = []
    pending = entry.get("pendingStudy")
    for profile_id in entry.get("profileIDs") or []:
        never_took_part: list[str] = []
        for study in studies:
            pair = f"{profile_id}:{study.key}"
            if pair in done:
                continue
            if pending and pending.get("profile_id") == profile_id and pending.get("study_key") == study.key:
                outcome = LeaveOutcome.from_journal(pending)
            else:
                outcome = runner.evaluate(study, profile_id)
                if outcome.participant is None and not outcome.rule_error:
                    never_took_part.append(study.key)
                    continue
                ctx.pipeline.update(key, {"pendingStudy": outcome.to_journal()})
                checkpoint("delete:study-rules-evaluated")
            step_errors = runner.apply(outcome)
            if outcome.rule_error:
                ctx.logger.error(
                    "deletion[%s]: LEAVE rules of study %s failed for participant %s: %s (erasure done anyway)",
                    ctx.instance_id,
                    study.key,
                    outcome.participant_id,
                    outcome.rule_error,
                )
                ctx.pipeline.add_to_set(key, "ruleFailures", f"{study.key}: {outcome.rule_error}")
                runner.rule_failures.append((entry["userID"], study.key, outcome.rule_error))
                ctx.audit(
                    entry["task"],
                    entry["userID"],
                    f"leave-rules:{study.key}",
                    "failed",
                    {"study": study.key, "error": ids_only(outcome.rule_error)},
                )
            if step_errors:
                errors.extend(f"study {study.key}: {e}" for e in step_errors)
                continue
            ctx.pipeline.mark_done(key, "studiesDone", [pair], clear="pendingStudy")
            if not outcome.rule_error:
                ctx.audit(
                    entry["task"],
                    entry["userID"],
                    f"leave-rules:{study.key}",
                    "applied",
                    {"study": study.key, "reports": len(outcome.reports or [])},
                )
            checkpoint("delete:study-erased")
        if never_took_part:
            try:
                ctx.studies.remove_id_map_entries_for_profile_in(profile_id, never_took_part)
            except Exception as exc:
                errors.append(f"removing confidential-ID map entries failed: {type(exc).__name__}: {exc}")
                continue
            ctx.pipeline.mark_done(key, "studiesDone", [f"{profile_id}:{k}" for k in never_took_part])
            checkpoint("delete:study-erased")
    return errors


def _queue_deletion_email(ctx: TaskContext, entry: Mapping[str, Any], template: Mapping[str, Any]) -> None:
    user_id = entry["userID"]
    message_type = entry["messageType"]
    if ctx.messaging.was_sent_since(user_id, message_type, int(entry["startedAt"])):
        return
    email = render_email(
        template,
        instance_id=ctx.instance_id,
        language=entry.get("language") or "",
        payload={},
        constants=ctx.config.messaging_configs.global_email_template_constants,
    )
    ctx.messaging.queue_once(
        outgoing_email_document(
            doc_id=entry["emailDocId"],
            message_type=message_type,
            user_id=user_id,
            to=entry.get("accountID") or "",
            subject=email.subject,
            header_overrides=email.header_overrides,
            content=email.content,
            added_at=ctx.now_s(),
        )
    )
