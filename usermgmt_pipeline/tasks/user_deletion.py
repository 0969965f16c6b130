"""Deleting users: the journal-driven, resumable version of CASE's DeleteUser (docs/tasks.md §2.1-2.3).

Go's order (studies, tokens, renew tokens, user document, email) loses the deletion notice forever when it
dies after the user document is gone, and re-runs LEAVE rules when it dies before. Ours:

1. `selected`: a journal entry keyed `delete:<instance>:<user>` snapshots what the later steps need (account
   id, language, profile ids) and fixes the outgoing email's ObjectId.
2. `user_deleted`: the user document is deleted atomically *only if it still matches the task's selection*
   (a user who logged in meanwhile is left alone and the entry is abandoned); then its `userAttributes`.
   This is the commit point: from here on the journal, not the user selection, drives the work.
3. per profile x study (all studies, any status): LEAVE rules are evaluated and every outcome journaled,
   then applied (participant state `accountDeleted`, reports under pre-assigned ids, confidential responses
   deleted, ID-map entries removed). A study that fails, or whose data cannot be located, never stops the
   others or the later steps: its error is journaled (`studyErrors`), with the pairs already erased
   (`studiesDone`), which its retries skip.
4. `erased`: temp tokens and renew tokens deleted.
5. `notified`: the deletion email queued under its fixed id (never twice: duplicate key or `sent-emails`).
   The entry is then `done`, or `studies_pending` while some study could not be erased: every later run
   retries those studies, and reports the user as failed with the exact reasons, until they succeed.

Each task first resumes its instance's unfinished entries, so a rerun after a kill at any point converges
on the state of an uninterrupted run: no half-deleted user, no lost notice, no LEAVE report created twice.

The users come in batches (`orchestration.batch_size`) and every step is one bulk call for the batch (the
study side one call per step and study); only the LEAVE rules and the rendering run per user. Each user
still goes through the steps in this order, so a kill between two steps, or inside one after k of its n
users, leaves every user of the batch at a step boundary of its own.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from bson import ObjectId
from pymongo.errors import PyMongoError

from usermgmt_pipeline.case.messaging import outgoing_email_document
from usermgmt_pipeline.case.studies import Study, StudyDecodeError, decode_study_for_erasure
from usermgmt_pipeline.case.users import User
from usermgmt_pipeline.emails.templates import render_email
from usermgmt_pipeline.errors import UsermgmtError
from usermgmt_pipeline.tasks.checkpoints import checkpoint
from usermgmt_pipeline.tasks.context import TaskContext, ids_only
from usermgmt_pipeline.tasks.deletion_plan import ACCOUNT_DELETED
from usermgmt_pipeline.tasks.email_queue import queue_emails
from usermgmt_pipeline.tasks.iteration import database_unavailable
from usermgmt_pipeline.tasks.study_leave import LeaveOutcome
from usermgmt_pipeline.tasks.study_runtime import ensure_leave_rules

UNFINISHED = ("selected", "user_deleted", "erased", "studies_pending")


class PartialErasureError(UsermgmtError, RuntimeError):
    """The user is deleted and notified, but some study's data could not be erased yet (retried every run)."""


def journal_key(instance_id: str, user_id: str) -> str:
    return f"delete:{instance_id}:{user_id}"


def _step_key(entry: Mapping[str, Any], step: str) -> str:
    """The audit key of one step of one deletion attempt (see `TaskContext.audit`)."""
    return f"{entry['_id']}:{entry.get('startedAt')}:{step}"


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


Outcome = tuple[str, Any]
"""("ok", None) when done, ("ok", reason) when skipped, ("error", exception) when the user failed."""


def _visit(name: str, items: Sequence[Any]) -> None:
    """The step boundary `name`, once per user (or profile x study pair) that reached it."""
    for _item in items:
        checkpoint(name)


def delete_users(
    ctx: TaskContext,
    task: str,
    users: Sequence[User],
    selection: Mapping[str, Any],
    message_type: str,
    template: Mapping[str, Any],
    studies: list[Study],
) -> dict[str, Outcome]:
    """Delete one batch of selected users; returns each user's outcome by user id."""
    users = list({user.id: user for user in users}.values())  # a cursor may repeat a user
    keys = {user.id: journal_key(ctx.instance_id, user.id) for user in users}
    snapshots = {
        user.id: {
            "accountID": user.account_id,
            "language": user.preferred_language,
            "profileIDs": [p.id for p in user.profiles],
            "messageType": message_type,
        }
        for user in users
    }
    fresh = {
        keys[user.id]: {
            "task": task,
            "instanceID": ctx.instance_id,
            "userID": user.id,
            "state": "selected",
            **snapshots[user.id],
            "emailDocId": ObjectId(),
            "startedAt": ctx.now_s(),
        }
        for user in users
    }
    opened: dict[str, Mapping[str, Any]] = {}
    for part in ctx.write_parts("delete:journal-opened", list(fresh)):
        opened.update(ctx.pipeline.open_entries({key: fresh[key] for key in part}))
    entries = {user.id: dict(opened[keys[user.id]]) for user in users}
    # An earlier attempt found the user no longer selected; the selection picked them again: try afresh.
    again = {
        keys[user.id]: {"state": "selected", **snapshots[user.id], "startedAt": ctx.now_s()}
        for user in users
        if entries[user.id]["state"] == "abandoned"
    }
    ctx.pipeline.update_each({key: {"$set": changes} for key, changes in again.items()})
    for user in users:
        entries[user.id].update(again.get(keys[user.id], {}))
    _visit("delete:journal-opened", users)

    outcomes: dict[str, Outcome] = {}
    to_delete = [user for user in users if entries[user.id]["state"] == "selected"]
    deleted_users: list[User] = []
    for user_part in ctx.write_parts("delete:user-deleted", to_delete):
        deleted = ctx.users.delete_many_if_selected([user.object_id for user in user_part], selection)
        gone = [user for user in user_part if user.object_id in deleted]
        kept = [user for user in user_part if user.object_id not in deleted]
        deleted_at = int(time.time())
        for user in gone:
            # Counted by the run's mass-deletion guard, and the account's history shows it from now on.
            entries[user.id]["deletedAt"] = deleted_at
            _account_deleted(ctx, task, entries[user.id])
        ctx.lease.check("delete:user-attributes")
        ctx.users.delete_attributes_many([user.object_id for user in gone])
        ctx.pipeline.update_many(
            [keys[user.id] for user in gone],
            {"state": "user_deleted", "attributesDeleted": True, "deletedAt": deleted_at},
        )
        ctx.flush_audit()  # the deletions are in the account histories at once, whatever happens next
        ctx.pipeline.update_many([keys[user.id] for user in kept], {"state": "abandoned"})
        for user in gone:
            entries[user.id].update(state="user_deleted", attributesDeleted=True)
        for user in kept:
            ctx.audit(
                task,
                user.id,
                "delete",
                "selection-changed",
                key=_step_key(entries[user.id], "selection-changed"),
            )
            outcomes[user.id] = (
                "ok",
                "no longer selected at deletion time (logged in, confirmed or already deleted)",
            )
        deleted_users += gone
    _visit("delete:user-deleted", deleted_users)

    carried = carry_deletions_forward(
        ctx, [entries[user.id] for user in users if user.id not in outcomes], template, studies
    )
    for user in users:
        if user.id not in outcomes:
            outcomes[user.id] = carried[keys[user.id]]
    return outcomes


def _account_deleted(ctx: TaskContext, task: str, entry: Mapping[str, Any]) -> None:
    """The record of the commit point: the account document is gone (once per attempt, by any run).

    Written again when a rerun resumes the deletion (its key makes it a no-op if it was saved), dated when
    the journal says the account was deleted, so a record lost with a killed run's buffer is never missing.
    """
    deleted_at = entry.get("deletedAt")
    ctx.audit(
        task,
        entry["userID"],
        ACCOUNT_DELETED,
        "done",
        {"deletedUserID": entry["userID"]},
        key=_step_key(entry, "account-deleted"),
        at=int(deleted_at) if isinstance(deleted_at, int) else None,
    )


def delete_user(
    ctx: TaskContext,
    task: str,
    user: User,
    selection: Mapping[str, Any],
    message_type: str,
    template: Mapping[str, Any],
    studies: list[Study],
) -> str | None:
    """Delete one selected user (a batch of one): None when done, or why the user was skipped. Raises on failure."""
    kind, value = delete_users(ctx, task, [user], selection, message_type, template, studies)[user.id]
    if kind == "error":
        raise value
    reason: str | None = value
    return reason


def resumable_deletions(ctx: TaskContext, task: str) -> list[Mapping[str, Any]]:
    """The unfinished entries the next real run finishes whatever its selection (read-only, for a dry run):
    those past the commit point, and those killed just before it whose user is gone already. An entry
    killed before the commit point whose user still exists is decided afresh by the selection."""
    entries = list(ctx.pipeline.unfinished(task, ctx.instance_id, UNFINISHED))
    before_commit = [ObjectId(e["userID"]) for e in entries if e.get("state") == "selected"]
    existing = ctx.users.existing_ids(before_commit) if before_commit else set()
    return [e for e in entries if e.get("state") != "selected" or ObjectId(e["userID"]) not in existing]


def resume_deletions(
    ctx: TaskContext, task: str, template: Mapping[str, Any], studies: list[Study]
) -> Iterator[tuple[Mapping[str, Any], Outcome]]:
    """Carry this task's unfinished journal entries forward, a batch at a time; yields each entry's outcome."""
    entries = [dict(e) for e in ctx.pipeline.unfinished(task, ctx.instance_id, UNFINISHED)]
    size = ctx.batch_size
    for start in range(0, len(entries), size):
        chunk = entries[start : start + size]
        ctx.pipeline.claim([e["_id"] for e in chunk])  # a frozen run can no longer write them
        for e in chunk:
            if e["state"] != "selected":
                _account_deleted(ctx, task, e)
        try:
            carried = carry_deletions_forward(ctx, chunk, template, studies)
        except Exception as exc:
            carried = {entry["_id"]: ("error", exc) for entry in chunk}
        for entry in chunk:
            yield entry, carried.get(entry["_id"], ("ok", None))


def carry_deletions_forward(
    ctx: TaskContext, entries: Sequence[dict[str, Any]], template: Mapping[str, Any], studies: list[Study]
) -> dict[str, Outcome]:
    """Carry journaled deletions forward from whatever state each is in; returns each entry's outcome by key.

    `entries` are the journal entries as stored (updated here in step with every journal write). A user
    whose study data could not all be erased ends in `studies_pending` with a PartialErasureError outcome.
    """
    outcomes: dict[str, Outcome] = {}
    selected = [e for e in entries if e["state"] == "selected"]
    existing = ctx.users.existing_ids([ObjectId(e["userID"]) for e in selected])
    for e in selected:
        if ObjectId(e["userID"]) in existing:
            # Killed before the commit point: nothing was changed; the selection decides afresh.
            e["state"] = "abandoned"
            outcomes[e["_id"]] = (
                "ok",
                "deletion had not started; the user is re-evaluated by the task's selection",
            )
        else:
            # Killed between the atomic delete and the journal update: the user is gone, carry on from there.
            e["state"] = "user_deleted"
            _account_deleted(ctx, e["task"], e)
    for state in ("abandoned", "user_deleted"):
        ctx.pipeline.update_many([e["_id"] for e in selected if e["state"] == state], {"state": state})

    attributes = [
        e for e in entries if e["state"] == "user_deleted" and e.get("attributesDeleted") is not True
    ]
    for part in ctx.write_parts("delete:user-deleted", attributes):
        ctx.users.delete_attributes_many([ObjectId(e["userID"]) for e in part])
        ctx.pipeline.update_many(
            [e["_id"] for e in part], {"attributesDeleted": True, "state": "user_deleted"}
        )
        for e in part:
            e["attributesDeleted"] = True
    _visit("delete:user-deleted", attributes)

    errors: dict[str, list[dict[str, str]]] = {e["_id"]: list(e.get("studyErrors") or []) for e in entries}
    erasing = [e for e in entries if e["state"] == "user_deleted"]
    retrying = [e for e in entries if e["state"] == "studies_pending"]
    study_errors, erased_pairs = _erase_studies(ctx, erasing + retrying, studies)
    errors.update(study_errors)

    def partial(e: Mapping[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
        """The write closing a partial erasure: its errors, and its pairs erased so far, never redone."""
        update: dict[str, Any] = {"$set": {**changes, "studyErrors": errors[e["_id"]]}}
        if erased_pairs[e["_id"]]:
            update["$addToSet"] = {"studiesDone": {"$each": erased_pairs[e["_id"]]}}
        return update

    for e in erasing + retrying:
        if errors[e["_id"]]:
            ctx.audit(
                e["task"],
                e["userID"],
                "study-erasure",
                "failed",
                {"reason": ids_only(_describe(errors[e["_id"]]))},
            )
    for part in ctx.write_parts("delete:tokens-deleted", erasing):
        ctx.temp_tokens.delete_all_for_users(ctx.instance_id, [e["userID"] for e in part])
        ctx.users.delete_renew_tokens_many([e["userID"] for e in part])
        ctx.pipeline.update_many([e["_id"] for e in part if not errors[e["_id"]]], {"state": "erased"})
        ctx.pipeline.update_each(
            {e["_id"]: partial(e, {"state": "erased"}) for e in part if errors[e["_id"]]}
        )
        for e in part:
            e["state"] = "erased"
    _visit("delete:tokens-deleted", erasing)

    still_failing = [e for e in retrying if errors[e["_id"]]]
    ctx.pipeline.update_each({e["_id"]: partial(e, {}) for e in still_failing})
    now_erased = [e for e in retrying if not errors[e["_id"]]]
    ctx.pipeline.update_many([e["_id"] for e in now_erased], {"state": "done"}, unset=_STUDY_PROGRESS)
    for e in now_erased:
        e["state"] = "done"
        pending_studies = sorted({err["study"] for err in e.get("studyErrors") or []})
        ctx.audit(
            e["task"],
            e["userID"],
            "delete",
            "done",
            {"studiesErased": pending_studies},
            key=_step_key(e, "studies-erased"),
        )

    _queue_deletion_emails(
        ctx, [e for e in entries if e["state"] == "erased"], template, errors, studies, outcomes
    )

    for e in entries:
        key = e["_id"]
        if key in outcomes:
            continue
        if errors[key]:
            outcomes[key] = (
                "error",
                PartialErasureError(
                    f"account deleted and notified, but study data is not fully erased: {_describe(errors[key])} "
                    "(retried on every run)"
                ),
            )
        else:
            outcomes[key] = ("ok", None)
    return outcomes


_STUDY_PROGRESS = ("pendingOutcomes", "pendingStudy", "retryOutcomes", "studyErrors", "leaveCalled")
"""Journal fields of a deletion's study work in progress (`pendingStudy` and `retryOutcomes` are written
by versions before the batches; an entry they left is resumed all the same)."""


def _queue_deletion_emails(
    ctx: TaskContext,
    erased: list[dict[str, Any]],
    template: Mapping[str, Any],
    errors: Mapping[str, list[dict[str, str]]],
    studies: list[Study],
    outcomes: dict[str, Outcome],
) -> None:
    """Queue the deletion notice of every `erased` entry (never twice), then close the entries."""
    if not erased:
        return
    already_sent: set[str] = set()
    for message_type in sorted({e["messageType"] for e in erased}):
        already_sent |= ctx.messaging.sent_since(
            {e["userID"]: int(e["startedAt"]) for e in erased if e["messageType"] == message_type},
            message_type,
        )
    docs: list[dict[str, Any]] = []
    senders: list[dict[str, Any]] = []
    for e in erased:
        if e["userID"] in already_sent:
            continue
        try:
            email = render_email(
                template,
                instance_id=ctx.instance_id,
                language=e.get("language") or "",
                payload={},
                constants=ctx.config.messaging_configs.global_email_template_constants,
            )
        except Exception as exc:
            outcomes[e["_id"]] = ("error", exc)
            continue
        senders.append(e)
        docs.append(
            outgoing_email_document(
                doc_id=e["emailDocId"],
                message_type=e["messageType"],
                user_id=e["userID"],
                to=e.get("accountID") or "",
                subject=email.subject,
                header_overrides=email.header_overrides,
                content=email.content,
                added_at=ctx.now_s(),
            )
        )
    for index, failure in queue_emails(ctx, "delete:email-queued", docs).items():
        outcomes[senders[index]["_id"]] = ("error", failure)
    queued = [e for e in erased if e["_id"] not in outcomes]
    partial = [e for e in queued if errors[e["_id"]]]
    complete = [e for e in queued if not errors[e["_id"]]]
    ctx.pipeline.update_many(
        [e["_id"] for e in complete],
        {"state": "done"},
        unset=("pendingOutcomes", "pendingStudy", "leaveCalled", "accountID", "language"),
    )
    ctx.pipeline.update_many(
        [e["_id"] for e in partial], {"state": "studies_pending"}, unset=("accountID", "language")
    )
    _visit("delete:email-queued", queued)
    for e in queued:
        failed_studies = sorted({err["study"] for err in errors[e["_id"]]})
        details: dict[str, Any] = {
            "profiles": len(e.get("profileIDs") or []),
            "studiesErased": sorted({s.key for s in studies} - set(failed_studies)),
            "emailsQueued": [{"messageType": e["messageType"], "emailID": str(e["emailDocId"])}],
        }
        if failed_studies:
            details["studiesNotErased"] = failed_studies
        outcome = "partial" if failed_studies else "done"
        ctx.audit(e["task"], e["userID"], "delete", outcome, details, key=_step_key(e, f"delete-{outcome}"))
        e["state"] = "studies_pending" if failed_studies else "done"


def _describe(errors: list[dict[str, str]]) -> str:
    return "; ".join(f"study {e['study']}: {e['error']}" for e in errors)


def _journaled_outcomes(entry: Mapping[str, Any]) -> dict[tuple[str, str], Mapping[str, Any]]:
    """Outcomes evaluated but not (fully) applied, by (profile, study): applied again, never re-evaluated."""
    journaled: dict[tuple[str, str], Mapping[str, Any]] = {}
    legacy = [entry.get("pendingStudy")] if entry.get("pendingStudy") else []
    for outcome in [*(entry.get("retryOutcomes") or []), *legacy, *(entry.get("pendingOutcomes") or [])]:
        journaled[(outcome.get("profile_id"), outcome.get("study_key"))] = outcome
    return journaled


def _erase_studies(
    ctx: TaskContext, entries: Sequence[dict[str, Any]], studies: list[Study]
) -> tuple[dict[str, list[dict[str, str]]], dict[str, list[str]]]:
    """Each profile x study of these deletions, skipping the pairs journaled as done. Returns per entry what
    could not be erased (`{"study", "error"}` documents, as journaled in `studyErrors`) and the
    `profile:study` pairs erased.

    First every study is read and evaluated for the whole batch (one read of its participants, and of its
    rules when someone took part), then every new LEAVE outcome is journaled (`pendingOutcomes`, with the
    rule failures) in one write before any is applied, then each study's erasure steps run, one call each.
    The outcomes stay journaled until the entry is closed, so a kill anywhere in between is resumed by
    applying them again, never by evaluating the rules again on the state they produced. Applying again is
    idempotent (the same state replaces itself, reports keep their pre-assigned ids, deletes find nothing),
    which is why no pair needs its own "done" write. The ID-map entries of the batch's profiles go in one
    delete at the end, for every study (lookup generation creates an entry for every profile x active
    study); pairs where the profile never took part (no participant document, hence no rules, state or
    reports) need nothing else. A study's failure is one error of the list and never stops the other
    studies; only a lost database connection propagates (the instance's run fails and the rerun resumes).
    """
    errors: dict[str, list[dict[str, str]]] = {e["_id"]: [] for e in entries}
    erased: dict[str, list[str]] = {e["_id"]: [] for e in entries}
    if not entries:
        return errors, erased
    runner = ensure_leave_rules(ctx)
    done = {e["_id"]: set(e.get("studiesDone") or []) for e in entries}
    journaled = {e["_id"]: _journaled_outcomes(e) for e in entries}
    no_data: list[tuple[dict[str, Any], str]] = []  # (entry, "profile:study"): only the map entries to remove

    def fail(entry: Mapping[str, Any], study_key: str, error: str) -> None:
        errors[entry["_id"]].append({"study": study_key, "error": error})

    to_apply: list[tuple[Study, list[tuple[dict[str, Any], LeaveOutcome]]]] = []
    new: list[tuple[dict[str, Any], LeaveOutcome]] = []
    for study in studies:
        pairs = [
            (e, profile_id)
            for e in entries
            for profile_id in e.get("profileIDs") or []
            if f"{profile_id}:{study.key}" not in done[e["_id"]]
        ]
        if not pairs:
            continue
        if study.identity_error:
            for e, _profile_id in pairs:
                fail(
                    e,
                    study.key,
                    "its participant data cannot be located, the study-infos document does not decode "
                    f"({study.identity_error})",
                )
            continue
        outcomes: list[tuple[dict[str, Any], LeaveOutcome]] = []
        to_evaluate: list[tuple[dict[str, Any], str]] = []
        interrupted: list[tuple[dict[str, Any], str]] = []
        for e, profile_id in pairs:
            stored = journaled[e["_id"]].get((profile_id, study.key))
            if stored is not None:
                outcomes.append((e, LeaveOutcome.from_journal(stored)))
            elif f"{profile_id}:{study.key}" in (e.get("leaveCalled") or []):
                interrupted.append((e, profile_id))
            else:
                to_evaluate.append((e, profile_id))

        def before_external_call(
            index: int, study_key: str = study.key, evaluating: list[tuple[dict[str, Any], str]] = to_evaluate
        ) -> None:
            e, profile_id = evaluating[index]
            _mark_external_call(ctx, e, f"{profile_id}:{study_key}")

        try:
            evaluated = runner.evaluate_many(
                study,
                [profile_id for _, profile_id in to_evaluate],
                before_rules=ctx.lease.check,
                before_external_call=before_external_call,
            )
        except Exception as exc:
            evaluated = [exc] * len(to_evaluate)
        evaluated += [runner.interrupted(study, profile_id) for _, profile_id in interrupted]
        to_evaluate += interrupted
        for (e, profile_id), outcome in zip(to_evaluate, evaluated, strict=True):
            if isinstance(outcome, Exception):
                if isinstance(outcome, PyMongoError) and database_unavailable(outcome):
                    raise outcome
                fail(e, study.key, f"{type(outcome).__name__}: {outcome}")
            elif outcome.participant is None and not outcome.rule_error:
                no_data.append((e, f"{profile_id}:{study.key}"))
            else:
                outcomes.append((e, outcome))
                new.append((e, outcome))
        if outcomes:
            to_apply.append((study, outcomes))

    if new:
        _journal_outcomes(ctx, journaled, new)
        _visit("delete:study-rules-evaluated", new)

    for study, outcomes in to_apply:
        step_errors = runner.apply_many(study.key, [o for _, o in outcomes], before_write=ctx.lease.check)
        applied: list[str] = []
        for (e, outcome), failures in zip(outcomes, step_errors, strict=True):
            if outcome.rule_error:
                ctx.logger.error(
                    "deletion[%s]: LEAVE rules of study %s failed for participant %s: %s (erasure done anyway)",
                    ctx.instance_id,
                    study.key,
                    outcome.participant_id,
                    outcome.rule_error,
                )
                runner.rule_failures.append((e["userID"], study.key, outcome.rule_error))
                ctx.audit(
                    e["task"],
                    e["userID"],
                    f"leave-rules:{study.key}",
                    "failed",
                    {"study": study.key, "error": ids_only(outcome.rule_error)},
                    key=_step_key(e, f"leave:{outcome.profile_id}:{study.key}:failed"),
                )
            if failures:
                for failure in failures:
                    fail(e, study.key, failure)
                continue
            pair = f"{outcome.profile_id}:{study.key}"
            erased[e["_id"]].append(pair)
            applied.append(pair)
            if not outcome.rule_error:
                ctx.audit(
                    e["task"],
                    e["userID"],
                    f"leave-rules:{study.key}",
                    "applied",
                    {"study": study.key, "reports": len(outcome.reports or [])},
                    key=_step_key(e, f"leave:{outcome.profile_id}:{study.key}:applied"),
                )
        _visit("delete:study-erased", applied)

    # Every map entry of these profiles in every study, in one delete: those of the pairs just erased, of the
    # pairs that never took part, and of the pairs whose participant data cannot be reached (yet); the
    # entries need only the profile id and the study key. Done for the whole batch every time, also for
    # pairs erased by an attempt that was killed before it got here, so none is ever left behind. Only the
    # pairs that are complete count as erased.
    keys = [study.key for study in studies]
    ctx.lease.check("delete:id-map-entries")
    try:
        ctx.studies.remove_id_map_entries_of(
            sorted({p for e in entries for p in e.get("profileIDs") or []}), keys
        )
    except Exception as exc:
        if isinstance(exc, PyMongoError) and database_unavailable(exc):
            raise
        failure = f"removing confidential-ID map entries failed: {type(exc).__name__}: {exc}"
        for e in entries:
            for key in keys:
                fail(e, key, failure)
        no_data = []
    for e, pair in no_data:
        erased[e["_id"]].append(pair)
    _visit("delete:study-erased", no_data)
    return errors, erased


def _mark_external_call(ctx: TaskContext, entry: dict[str, Any], pair: str) -> None:
    """Journal, right before the LEAVE rules of `pair` ("profile:study") call an external service, that they do.

    External calls happen at most once per pair: a run that finds a pair marked but without a journaled
    outcome (its evaluator was killed, or frozen and taken over) does not evaluate it again, it erases the
    data and reports the rules as not run (`LeaveRulesRunner.interrupted`). Being a journal write, the mark
    is also the fence of the call: a run whose entries a newer run has claimed stops here, before calling.
    """
    ctx.lease.check("an external service call")
    ctx.pipeline.add_to_set([entry["_id"]], "leaveCalled", pair)
    if pair not in (called := entry.setdefault("leaveCalled", [])):
        called.append(pair)


def _journal_outcomes(
    ctx: TaskContext,
    journaled: Mapping[str, Mapping[tuple[str, str], Mapping[str, Any]]],
    new: Sequence[tuple[Mapping[str, Any], LeaveOutcome]],
) -> None:
    """Journal the batch's new LEAVE outcomes (and their rule failures) next to those already journaled:
    one statement per entry, in one bulk call."""
    added: dict[str, list[LeaveOutcome]] = {}
    for e, outcome in new:
        added.setdefault(e["_id"], []).append(outcome)
    updates: dict[str, dict[str, Any]] = {}
    for key, outcomes in added.items():
        update: dict[str, Any] = {
            "$set": {"pendingOutcomes": [*journaled[key].values(), *(o.to_journal() for o in outcomes)]},
            "$unset": {"pendingStudy": "", "retryOutcomes": ""},  # superseded by `pendingOutcomes`
        }
        if failures := [f"{o.study_key}: {o.rule_error}" for o in outcomes if o.rule_error]:
            update["$addToSet"] = {"ruleFailures": {"$each": failures}}
        updates[key] = update
    ctx.pipeline.update_each(updates)
