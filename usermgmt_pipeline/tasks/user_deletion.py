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
   deleted, ID-map entries removed) and the pair recorded as done. A study that fails, or whose data cannot
   be located, never stops the others or the later steps: its error is journaled (`studyErrors`).
4. `erased`: temp tokens and renew tokens deleted.
5. `notified`: the deletion email queued under its fixed id (never twice: duplicate key or `sent-emails`).
   The entry is then `done`, or `studies_pending` while some study could not be erased: every later run
   retries those studies, and reports the user as failed with the exact reasons, until they succeed.

Each task first resumes its instance's unfinished entries, so a rerun after a kill at any point converges
on the state of an uninterrupted run: no half-deleted user, no lost notice, no LEAVE report created twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bson import ObjectId
from pymongo.errors import PyMongoError

from usermgmt_pipeline.case.messaging import outgoing_email_document
from usermgmt_pipeline.case.studies import Study, StudyDecodeError, decode_study_for_erasure
from usermgmt_pipeline.case.users import User
from usermgmt_pipeline.emails.templates import render_email
from usermgmt_pipeline.tasks.checkpoints import checkpoint
from usermgmt_pipeline.tasks.context import TaskContext, ids_only
from usermgmt_pipeline.tasks.deletion_plan import ACCOUNT_DELETED
from usermgmt_pipeline.tasks.iteration import database_unavailable
from usermgmt_pipeline.tasks.study_leave import LeaveOutcome
from usermgmt_pipeline.tasks.study_runtime import ensure_leave_rules

UNFINISHED = ("selected", "user_deleted", "erased", "studies_pending")


class PartialErasureError(RuntimeError):
    """The user is deleted and notified, but some study's data could not be erased yet (retried every run)."""


def journal_key(instance_id: str, user_id: str) -> str:
    return f"delete:{instance_id}:{user_id}"


def all_studies(ctx: TaskContext, problems: list[str] | None = None) -> list[Study]:
    """Every study whose key decodes, any status; what is wrong with the others is logged and added to `problems`.

    A study whose other fields are broken is still returned (see `decode_study_for_erasure`): skipping it
    would leave its participants' data behind without a word.
    """
    studies = []
    for doc in ctx.studies.studies(""):
        try:
            study, problem = decode_study_for_erasure(doc)
        except StudyDecodeError as exc:
            study, problem = None, f"{exc}: without a key it names no collection and no ID-map entry"
        if study is not None:
            studies.append(study)
            if study.identity_error:
                problem = (
                    f"{problem}: its participant IDs cannot be derived, so deleted users' data in it stays "
                    "until the document is fixed (ID-map entries are removed)"
                )
            elif problem:
                problem = f"{problem}: erased all the same (key, secretKey and idMappingMethod decode)"
            elif name_problem := ctx.studies.collection_name_problem(study.key):
                problem = f"{name_problem}: it holds no participant data, only its ID-map entries are removed"
        if problem:
            ctx.logger.error("deletion[%s]: study problem: %s", ctx.instance_id, problem)
            if problems is not None:
                problems.append(problem)
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
        # Counted by the run's mass-deletion guard; outside the account's history, whose "delete" record says it.
        ctx.audit(task, "", ACCOUNT_DELETED, "done", {"deletedUserID": user.id})
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

    errors: list[dict[str, str]] = list(entry.get("studyErrors") or [])
    if state == "user_deleted":
        errors = _process_studies(ctx, key, entry, studies)
        if errors:
            ctx.audit(task, user_id, "study-erasure", "failed", {"reason": ids_only(_describe(errors))})
        ctx.temp_tokens.delete_all_for_user(ctx.instance_id, user_id)
        ctx.users.delete_renew_tokens(user_id)
        state = "erased"
        ctx.pipeline.update(key, {"state": state, **({"studyErrors": errors} if errors else {})})
        checkpoint("delete:tokens-deleted")
    elif state == "studies_pending":
        pending_studies = sorted({e["study"] for e in errors})
        errors = _process_studies(ctx, key, entry, studies)
        if errors:
            ctx.pipeline.update(key, {"studyErrors": errors})
            ctx.audit(task, user_id, "study-erasure", "failed", {"reason": ids_only(_describe(errors))})
        else:
            ctx.pipeline.update(
                key, {"state": "done"}, unset=("pendingStudy", "studyErrors", "retryOutcomes")
            )
            ctx.audit(task, user_id, "delete", "done", {"studiesErased": pending_studies})

    if state == "erased":
        _queue_deletion_email(ctx, entry, template)
        if errors:
            ctx.pipeline.update(key, {"state": "studies_pending"}, unset=("accountID", "language"))
        else:
            ctx.pipeline.update(key, {"state": "done"}, unset=("pendingStudy", "accountID", "language"))
        checkpoint("delete:email-queued")
        failed_studies = sorted({e["study"] for e in errors})
        details = {
            "profiles": len(entry.get("profileIDs") or []),
            "studiesErased": sorted({s.key for s in studies} - set(failed_studies)),
            "emailsQueued": [{"messageType": entry["messageType"], "emailID": str(entry["emailDocId"])}],
        }
        if errors:
            details["studiesNotErased"] = failed_studies
        ctx.audit(task, user_id, "delete", "partial" if errors else "done", details)
    if errors:
        raise PartialErasureError(
            f"account deleted and notified, but study data is not fully erased: {_describe(errors)} "
            "(retried on every run)"
        )
    return None


def _describe(errors: list[dict[str, str]]) -> str:
    return "; ".join(f"study {e['study']}: {e['error']}" for e in errors)


def _process_studies(
    ctx: TaskContext, key: str, entry: Mapping[str, Any], studies: list[Study]
) -> list[dict[str, str]]:
    """Each profile x study, skipping pairs the journal records as done; returns what could not be erased
    (`{"study", "error"}` documents, as journaled in `studyErrors`).

    Pairs where the profile never took part (no participant document, hence no rules, state or reports)
    only need their ID-map entries removed; those are batched into one delete per profile, which matters
    because lookup generation creates an entry for every profile x active study. A study's failure is one
    error of the list and never stops the other studies; only a lost database connection propagates (the
    instance's run fails and the rerun resumes here).
    """
    runner = ensure_leave_rules(ctx)
    done = set(entry.get("studiesDone") or [])
    errors: list[dict[str, str]] = []
    # Outcomes evaluated but not (fully) applied: a failed study's stays in `retryOutcomes` (the next study's
    # overwrites `pendingStudy`), so a retry applies it again and never evaluates the rules (and reports) twice.
    retry_outcomes = {(o.get("profile_id"), o.get("study_key")): o for o in entry.get("retryOutcomes") or []}
    journaled = dict(retry_outcomes)
    pending = entry.get("pendingStudy")
    if pending:
        journaled[(pending.get("profile_id"), pending.get("study_key"))] = pending
    for profile_id in entry.get("profileIDs") or []:
        never_took_part: list[str] = []
        not_erasable: list[str] = []
        for study in studies:
            pair = f"{profile_id}:{study.key}"
            if pair in done:
                continue
            if study.identity_error:
                not_erasable.append(study.key)
                errors.append(
                    {
                        "study": study.key,
                        "error": "its participant data cannot be located, the study-infos document does not "
                        f"decode ({study.identity_error})",
                    }
                )
                continue
            try:
                if (profile_id, study.key) in journaled:
                    outcome = LeaveOutcome.from_journal(journaled[(profile_id, study.key)])
                else:
                    outcome = runner.evaluate(study, profile_id)
                    if outcome.participant is None and not outcome.rule_error:
                        never_took_part.append(study.key)
                        continue
                    ctx.pipeline.update(key, {"pendingStudy": outcome.to_journal()})
                    checkpoint("delete:study-rules-evaluated")
            except Exception as exc:
                if isinstance(exc, PyMongoError) and database_unavailable(exc):
                    raise
                not_erasable.append(study.key)
                errors.append({"study": study.key, "error": f"{type(exc).__name__}: {exc}"})
                continue
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
                errors.extend({"study": study.key, "error": e} for e in step_errors)
                if (profile_id, study.key) not in retry_outcomes:
                    ctx.pipeline.push(key, "retryOutcomes", outcome.to_journal())
                continue
            ctx.pipeline.mark_done(key, "studiesDone", [pair], clear="pendingStudy")
            if (profile_id, study.key) in retry_outcomes:
                ctx.pipeline.pull(key, "retryOutcomes", {"profile_id": profile_id, "study_key": study.key})
            if not outcome.rule_error:
                ctx.audit(
                    entry["task"],
                    entry["userID"],
                    f"leave-rules:{study.key}",
                    "applied",
                    {"study": study.key, "reports": len(outcome.reports or [])},
                )
            checkpoint("delete:study-erased")
        if never_took_part or not_erasable:
            # The map entries need only the profile id and the study key, so they go even where the
            # participant data cannot be reached (yet); only the pairs that are complete are marked done.
            try:
                ctx.studies.remove_id_map_entries_for_profile_in(profile_id, never_took_part + not_erasable)
            except Exception as exc:
                if isinstance(exc, PyMongoError) and database_unavailable(exc):
                    raise
                failure = f"removing confidential-ID map entries failed: {type(exc).__name__}: {exc}"
                errors.extend({"study": k, "error": failure} for k in never_took_part)
                continue
            if never_took_part:
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
