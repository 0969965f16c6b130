"""Deleting users: the journal-driven, resumable version of CASE's DeleteUser (docs/tasks.md §2.1-2.3).

Go's order (studies, tokens, renew tokens, user document, email) loses the deletion notice forever when it
dies after the user document is gone, and re-runs LEAVE rules when it dies before. Ours:

1. `selected`: a journal entry keyed `delete:<instance>:<user>` snapshots what the later steps need (account
   id, language, profile ids) and fixes the outgoing email's ObjectId.
2. `user_deleted`: the user document is deleted atomically *only if it still matches the task's selection*
   (a user who logged in meanwhile is left alone and the entry is abandoned); then its `userAttributes`.
   This is the commit point: from here on the journal, not the user selection, drives the work.
3. per profile x study (all studies, any status; see `study_erasure`): LEAVE rules are evaluated and
   every outcome journaled, then applied (participant state `accountDeleted`, reports under pre-assigned ids, confidential responses
   deleted, ID-map entries removed). A study that fails, or whose data cannot be located, never stops the
   others or the later steps: its error is journaled (`studyErrors`), with the pairs already erased
   (`studiesDone`), which its retries skip.
4. `erased`: temp tokens and renew tokens deleted.
5. `notified`: the deletion email queued under its fixed id (never twice: duplicate key or `sent-emails`).
   The entry is then `done`, or `studies_pending` while some study could not be erased: every later run
   retries those studies, and reports the user as failed with the exact reasons, until they succeed.

Each task first resumes its instance's unfinished entries, so a rerun after a kill at any point converges
on the state of an uninterrupted run: no half-deleted user, no lost notice, no LEAVE report created twice.

A batch of selected users goes through the skeleton of `batch_flow` (`DeletionFlow` fills it in: the atomic
delete is its selection re-check); the resumed entries go through the same steps after it
(`carry_deletions_forward`). The users come in batches (`orchestration.batch_size`) and every step is one bulk call for the batch (the
study side one call per step and study); only the LEAVE rules and the rendering run per user. Each user
still goes through the steps in this order, so a kill between two steps, or inside one after k of its n
users, leaves every user of the batch at a step boundary of its own.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bson import ObjectId

from usermgmt_pipeline.case.journal import UNFINISHED_DELETION, JournalEntry, State
from usermgmt_pipeline.case.studies import Study, StudyDecodeError, decode_study_for_erasure
from usermgmt_pipeline.case.users import User
from usermgmt_pipeline.errors import UsermgmtError
from usermgmt_pipeline.tasks.batch_flow import (
    Batch,
    EmailToQueue,
    emails_queued,
    fresh_entry,
    queue_emails_once,
    run_batch,
)
from usermgmt_pipeline.tasks.checkpoints import Step
from usermgmt_pipeline.tasks.context import TaskContext, ids_only
from usermgmt_pipeline.tasks.deletion_plan import AUDIT_ACCOUNT_DELETED
from usermgmt_pipeline.tasks.results import DONE, Outcome
from usermgmt_pipeline.tasks.study_erasure import Erasure, erase_studies


class PartialErasureError(UsermgmtError, RuntimeError):
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


@dataclass(frozen=True)
class DeletionSpec:
    """What a deleting task deletes and tells: its selection, its email, and the instance's studies."""

    task: str
    selection: Mapping[str, Any]
    message_type: str
    template: Mapping[str, Any]
    studies: list[Study]


def delete_users(ctx: TaskContext, spec: DeletionSpec, users: Sequence[User]) -> dict[str, Outcome]:
    """Delete one batch of selected users; returns each user's outcome by user id."""
    return run_batch(ctx, DeletionFlow(spec), users)


class DeletionFlow:
    """The deletions' part of `run_batch`: the atomic delete, then `carry_deletions_forward`."""

    opened = Step.DELETE_JOURNAL_OPENED

    def __init__(self, spec: DeletionSpec) -> None:
        self.spec = spec

    def entry_for(self, ctx: TaskContext, user: User) -> JournalEntry:
        return fresh_entry(
            ctx,
            self.spec.task,
            journal_key(ctx.instance_id, user.id),
            user,
            State.SELECTED,
            account_id=user.account_id,
            language=user.preferred_language,
            profile_ids=[p.id for p in user.profiles],
            message_type=self.spec.message_type,
        )

    def reopen(self, batch: Batch, fresh: Mapping[str, JournalEntry]) -> None:
        """An earlier attempt found the user no longer selected; the selection picked them again: try afresh."""
        entries = batch.entries
        again = {user_id: fresh[user_id] for user_id, e in entries.items() if e.state == State.ABANDONED}
        snapshot = ("state", "account_id", "language", "profile_ids", "message_type", "started_at")
        batch.ctx.pipeline.update_each({e.key: {"$set": e.fields(*snapshot)} for e in again.values()})
        entries.update(again)

    def recheck(self, batch: Batch) -> None:
        """The commit point: each user document deleted atomically only if it still matches the selection,
        then its attributes; a user who logged in meanwhile is left alone and the entry abandoned."""
        ctx = batch.ctx
        deleted: list[JournalEntry] = []
        selected = [e for e in batch.pending() if e.state == State.SELECTED]
        for part in ctx.write_parts(Step.DELETE_USER_DELETED, selected):
            still = ctx.users.delete_many_if_selected(
                [ObjectId(e.user_id) for e in part], self.spec.selection
            )
            gone = [e for e in part if ObjectId(e.user_id) in still]
            kept = [e for e in part if ObjectId(e.user_id) not in still]
            _commit(ctx, gone)
            ctx.pipeline.update_many([e.key for e in kept], {"state": State.ABANDONED.value})
            for e in kept:
                key = e.step_key("selection-changed")
                ctx.audit(e.task, e.user_id, "delete", "selection-changed", key=key, account_id=e.account_id)
                batch.outcomes[e.key] = Outcome.skip(
                    "no longer selected at deletion time (logged in, confirmed or already deleted)"
                )
            deleted += gone
        ctx.hooks.visit(Step.DELETE_USER_DELETED, deleted)

    def steps(self, batch: Batch) -> None:
        carried = carry_deletions_forward(batch.ctx, batch.pending(), self.spec.template, self.spec.studies)
        batch.outcomes.update(carried)


def _commit(ctx: TaskContext, gone: list[JournalEntry]) -> None:
    """After the atomic delete: the account's history records it at once, then its attributes go."""
    deleted_at = int(time.time())
    for e in gone:
        e.deleted_at = deleted_at
        _account_deleted(ctx, e)  # counted by the run's mass-deletion guard too
    ctx.lease.check("delete:user-attributes")
    ctx.users.delete_attributes_many([ObjectId(e.user_id) for e in gone])
    ctx.pipeline.update_many(
        [e.key for e in gone],
        {"state": State.USER_DELETED.value, "attributesDeleted": True, "deletedAt": deleted_at},
    )
    ctx.flush_audit()  # the deletions are in the account histories at once, whatever happens next
    for e in gone:
        e.state, e.attributes_deleted = State.USER_DELETED, True


def _account_deleted(ctx: TaskContext, entry: JournalEntry) -> None:
    """The record of the commit point: the account document is gone (once per attempt, by any run).

    Written again when a rerun resumes the deletion (its key makes it a no-op if it was saved), dated when
    the journal says the account was deleted, so a record lost with a killed run's buffer is never missing.
    """
    ctx.audit(
        entry.task,
        entry.user_id,
        AUDIT_ACCOUNT_DELETED,
        "done",
        {"deletedUserID": entry.user_id},
        key=entry.step_key("account-deleted"),
        at=entry.deleted_at,
        account_id=entry.account_id,
    )


def resumable_deletions(ctx: TaskContext, task: str) -> list[JournalEntry]:
    """The unfinished entries the next real run finishes whatever its selection (read-only, for a dry run):
    those past the commit point, and those killed just before it whose user is gone already. An entry
    killed before the commit point whose user still exists is decided afresh by the selection."""
    entries = ctx.pipeline.unfinished(task, ctx.instance_id, UNFINISHED_DELETION)
    before_commit = [ObjectId(e.user_id) for e in entries if e.state == State.SELECTED]
    existing = ctx.users.existing_ids(before_commit) if before_commit else set()
    return [e for e in entries if e.state != State.SELECTED or ObjectId(e.user_id) not in existing]


def resume_deletions(
    ctx: TaskContext, task: str, template: Mapping[str, Any], studies: list[Study]
) -> Iterator[tuple[JournalEntry, Outcome]]:
    """Carry this task's unfinished journal entries forward, a batch at a time; yields each entry's outcome."""
    entries = ctx.pipeline.unfinished(task, ctx.instance_id, UNFINISHED_DELETION)
    size = ctx.batch_size
    for start in range(0, len(entries), size):
        chunk = entries[start : start + size]
        ctx.pipeline.claim([e.key for e in chunk])  # a frozen run can no longer write them
        for e in chunk:
            if e.state == State.USER_DELETED:  # killed before its record left the buffer, perhaps
                _account_deleted(ctx, e)
        try:
            carried = carry_deletions_forward(ctx, chunk, template, studies)
        except Exception as exc:
            carried = {e.key: Outcome.fail(exc) for e in chunk}
        for e in chunk:
            yield e, carried.get(e.key, DONE)


def carry_deletions_forward(
    ctx: TaskContext, entries: Sequence[JournalEntry], template: Mapping[str, Any], studies: list[Study]
) -> dict[str, Outcome]:
    """Carry journaled deletions forward from whatever state each is in; returns each entry's outcome by key.

    `entries` are the journal entries as stored (updated here in step with every journal write). A user
    whose study data could not all be erased ends in `studies_pending` with a PartialErasureError outcome.
    """
    outcomes: dict[str, Outcome] = {}
    _settle_commit(ctx, entries, outcomes)
    _delete_leftover_attributes(ctx, entries)
    erasing = [e for e in entries if e.state == State.USER_DELETED]
    retrying = [e for e in entries if e.state == State.STUDIES_PENDING]
    erasure = erase_studies(ctx, erasing + retrying, studies)
    errors = {e.key: erasure.errors.get(e.key, e.study_errors) for e in entries}
    for e in erasing + retrying:
        if errors[e.key]:
            reason = ids_only(_describe(errors[e.key]))
            ctx.audit(e.task, e.user_id, "study-erasure", "failed", {"reason": reason})
    _delete_tokens(ctx, erasing, errors, erasure)
    _close_retries(ctx, retrying, errors, erasure)
    _queue_deletion_emails(
        ctx, [e for e in entries if e.state == State.ERASED], template, errors, studies, outcomes
    )
    for e in entries:
        if e.key not in outcomes and errors[e.key]:
            outcomes[e.key] = Outcome.fail(
                PartialErasureError(
                    f"account deleted and notified, but study data is not fully erased: {_describe(errors[e.key])} "
                    "(retried on every run)"
                )
            )
    return outcomes


def _settle_commit(ctx: TaskContext, entries: Sequence[JournalEntry], outcomes: dict[str, Outcome]) -> None:
    """Entries killed around the commit point: before it the selection decides afresh; after the atomic
    delete but before the journal said so, the user is gone and the deletion carries on."""
    selected = [e for e in entries if e.state == State.SELECTED]
    existing = ctx.users.existing_ids([ObjectId(e.user_id) for e in selected])
    for e in selected:
        if ObjectId(e.user_id) in existing:
            e.state = State.ABANDONED
            outcomes[e.key] = Outcome.skip(
                "deletion had not started; the user is re-evaluated by the task's selection"
            )
        else:
            e.state = State.USER_DELETED
            _account_deleted(ctx, e)  # its record was still in the killed run's buffer
    for state in (State.ABANDONED, State.USER_DELETED):
        ctx.pipeline.update_many([e.key for e in selected if e.state == state], {"state": state.value})


def _delete_leftover_attributes(ctx: TaskContext, entries: Sequence[JournalEntry]) -> None:
    attributes = [e for e in entries if e.state == State.USER_DELETED and not e.attributes_deleted]
    for part in ctx.write_parts(Step.DELETE_USER_DELETED, attributes):
        ctx.users.delete_attributes_many([ObjectId(e.user_id) for e in part])
        ctx.pipeline.update_many(
            [e.key for e in part], {"attributesDeleted": True, "state": State.USER_DELETED.value}
        )
        for e in part:
            e.attributes_deleted = True
    ctx.hooks.visit(Step.DELETE_USER_DELETED, attributes)


def _partial(
    e: JournalEntry, errors: Mapping[str, list[dict[str, str]]], erasure: Erasure, changes: Mapping[str, Any]
) -> dict[str, Any]:
    """The write closing a partial erasure: its errors, and its pairs erased so far, never redone."""
    update: dict[str, Any] = {"$set": {**changes, "studyErrors": errors[e.key]}}
    if erased := erasure.erased.get(e.key):
        update["$addToSet"] = {"studiesDone": {"$each": erased}}
    return update


def _delete_tokens(
    ctx: TaskContext,
    erasing: list[JournalEntry],
    errors: Mapping[str, list[dict[str, str]]],
    erasure: Erasure,
) -> None:
    """Temp tokens and renew tokens of the deleted users; the entries move on to `erased`."""
    for part in ctx.write_parts(Step.DELETE_TOKENS_DELETED, erasing):
        ctx.temp_tokens.delete_all_for_users(ctx.instance_id, [e.user_id for e in part])
        ctx.lease.check(Step.DELETE_TOKENS_DELETED)
        ctx.users.delete_renew_tokens_many([e.user_id for e in part])
        erased = {"state": State.ERASED.value}
        ctx.pipeline.update_many([e.key for e in part if not errors[e.key]], erased)
        ctx.pipeline.update_each({e.key: _partial(e, errors, erasure, erased) for e in part if errors[e.key]})
        for e in part:
            e.state = State.ERASED
    ctx.hooks.visit(Step.DELETE_TOKENS_DELETED, erasing)


_STUDY_PROGRESS = ("pendingOutcomes", "studyErrors", "leaveCalled")
"""Journal fields of a deletion's study work in progress, removed when it is complete."""


def _close_retries(
    ctx: TaskContext,
    retrying: list[JournalEntry],
    errors: Mapping[str, list[dict[str, str]]],
    erasure: Erasure,
) -> None:
    """Entries in `studies_pending` whose studies were retried: still failing, or now done."""
    still_failing = [e for e in retrying if errors[e.key]]
    ctx.pipeline.update_each({e.key: _partial(e, errors, erasure, {}) for e in still_failing})
    now_erased = [e for e in retrying if not errors[e.key]]
    ctx.pipeline.update_many([e.key for e in now_erased], {"state": State.DONE.value}, unset=_STUDY_PROGRESS)
    for e in now_erased:
        e.state = State.DONE
        pending_studies = sorted({err["study"] for err in e.study_errors})
        details = {"studiesErased": pending_studies}
        ctx.audit(e.task, e.user_id, "delete", "done", details, key=e.step_key("studies-erased"))


def _queue_deletion_emails(
    ctx: TaskContext,
    erased: list[JournalEntry],
    template: Mapping[str, Any],
    errors: Mapping[str, list[dict[str, str]]],
    studies: list[Study],
    outcomes: dict[str, Outcome],
) -> None:
    """Queue the deletion notice of every `erased` entry (never twice), then close the entries."""
    if not erased:
        return
    for e in erased:
        if not e.account_id:
            outcomes[e.key] = Outcome.fail(
                RuntimeError(
                    "the deletion email cannot be sent: the journal's account id does not unseal (was "
                    "study_configs.global_secret changed since the account was deleted?)"
                )
            )
    sendable = [e for e in erased if e.key not in outcomes]
    emails = [EmailToQueue(e, e.message_type, e.account_id, e.language, {}) for e in sendable]
    outcomes.update(queue_emails_once(ctx, Step.DELETE_EMAIL_QUEUED, template, emails))
    queued = [e for e in erased if e.key not in outcomes]
    partial = [e for e in queued if errors[e.key]]
    complete = [e for e in queued if not errors[e.key]]
    snapshot = ("accountID", "language")
    ctx.pipeline.update_many(
        [e.key for e in complete],
        {"state": State.DONE.value},
        unset=("pendingOutcomes", "leaveCalled", *snapshot),
    )
    ctx.pipeline.update_many([e.key for e in partial], {"state": State.STUDIES_PENDING.value}, unset=snapshot)
    ctx.hooks.visit(Step.DELETE_EMAIL_QUEUED, queued)
    for e in queued:
        failed_studies = sorted({err["study"] for err in errors[e.key]})
        details: dict[str, Any] = {
            "profiles": len(e.profile_ids),
            "studiesErased": sorted({s.key for s in studies} - set(failed_studies)),
            **emails_queued(e, e.message_type),
        }
        if failed_studies:
            details["studiesNotErased"] = failed_studies
        outcome = "partial" if failed_studies else "done"
        key = e.step_key(f"delete-{outcome}")
        ctx.audit(e.task, e.user_id, "delete", outcome, details, key=key, account_id=e.account_id)
        e.state = State.STUDIES_PENDING if failed_studies else State.DONE


def _describe(errors: list[dict[str, str]]) -> str:
    return "; ".join(f"study {e['study']}: {e['error']}" for e in errors)
