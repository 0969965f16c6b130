"""The study side of a batch of deletions: each profile x study's LEAVE rules, then its erasure.

First every study is read and evaluated for the whole batch (one read of its participants, and of its rules
when someone took part), then every new LEAVE outcome is journaled (`pendingOutcomes`, with the rule failures)
in one write before any is applied, then each study's erasure steps run, one call each. The outcomes stay
journaled until the entry is closed, so a kill anywhere in between is resumed by applying them again, never
by evaluating the rules again on the state they produced. Applying again is idempotent (the same state
replaces itself, reports keep their pre-assigned ids, deletes find nothing), which is why no pair needs its
own "done" write. The ID-map entries of the batch's profiles go in one delete at the end, for every study
(lookup generation creates an entry for every profile x active study); pairs where the profile never took
part (no participant document, hence no rules, state or reports) need nothing else.

A LEAVE rule that calls an external service is journaled right before the call (`leaveCalled`): a pair marked
but without a journaled outcome is never evaluated again (its call may have happened), only erased.

A study's failure is one error of the list and never stops the other studies; only a lost database
connection propagates (the instance's run fails and the rerun resumes).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pymongo.errors import PyMongoError

from usermgmt_pipeline.case.journal import JournalEntry, field_name
from usermgmt_pipeline.case.studies import Study
from usermgmt_pipeline.tasks.checkpoints import Step
from usermgmt_pipeline.tasks.context import TaskContext, ids_only
from usermgmt_pipeline.tasks.iteration import database_unavailable
from usermgmt_pipeline.tasks.study_leave import LeaveOutcome, LeaveRulesRunner
from usermgmt_pipeline.tasks.study_runtime import ensure_leave_rules

Pair = tuple[JournalEntry, LeaveOutcome]


@dataclass
class Erasure:
    """Per entry key: what could not be erased (`{"study", "error"}`, as journaled in `studyErrors`) and the
    `profile:study` pairs erased."""

    errors: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    erased: dict[str, list[str]] = field(default_factory=dict)

    def fail(self, entry: JournalEntry, study_key: str, error: str) -> None:
        self.errors.setdefault(entry.key, []).append({"study": study_key, "error": error})


@dataclass
class _Batch:
    """The work of one batch across its studies."""

    to_apply: list[tuple[Study, list[Pair]]] = field(default_factory=list)
    new: list[Pair] = field(default_factory=list)
    no_data: list[tuple[JournalEntry, str]] = field(default_factory=list)


def erase_studies(ctx: TaskContext, entries: list[JournalEntry], studies: list[Study]) -> Erasure:
    """Each profile x study of these deletions, skipping the pairs journaled as done (see the module)."""
    erasure = Erasure({e.key: [] for e in entries}, {e.key: [] for e in entries})
    if not entries:
        return erasure
    runner = ensure_leave_rules(ctx)
    batch = _Batch()
    for study in studies:
        outcomes = _evaluate(ctx, runner, study, entries, erasure, batch)
        if outcomes:
            batch.to_apply.append((study, outcomes))
    if batch.new:
        _journal_outcomes(ctx, batch.new)
        ctx.hooks.visit(Step.DELETE_STUDY_RULES_EVALUATED, batch.new)
    for study, outcomes in batch.to_apply:
        _apply(ctx, runner, study, outcomes, erasure)
    _remove_id_map_entries(ctx, entries, studies, erasure, batch.no_data)
    return erasure


def _evaluate(
    ctx: TaskContext,
    runner: LeaveRulesRunner,
    study: Study,
    entries: list[JournalEntry],
    erasure: Erasure,
    batch: _Batch,
) -> list[Pair]:
    """One study's outcomes for the batch: journaled ones as they are, the others evaluated now."""
    pairs = [(e, p) for e in entries for p in e.profile_ids if f"{p}:{study.key}" not in e.studies_done]
    if not pairs:
        return []
    if study.identity_error:
        reason = f"its participant data cannot be located, the study-infos document does not decode ({study.identity_error})"
        for e, _profile_id in pairs:
            erasure.fail(e, study.key, reason)
        return []
    outcomes: list[Pair] = []
    to_evaluate: list[tuple[JournalEntry, str]] = []
    interrupted: list[tuple[JournalEntry, str]] = []
    for e, profile_id in pairs:
        stored = _journaled(e).get((profile_id, study.key))
        if stored is not None:
            outcomes.append((e, stored))
        elif f"{profile_id}:{study.key}" in e.leave_called:
            interrupted.append((e, profile_id))
        else:
            to_evaluate.append((e, profile_id))
    evaluated = _run_rules(ctx, runner, study, to_evaluate)
    evaluated += [runner.interrupted(study, profile_id) for _, profile_id in interrupted]
    for (e, profile_id), outcome in zip(to_evaluate + interrupted, evaluated, strict=True):
        if isinstance(outcome, Exception):
            if isinstance(outcome, PyMongoError) and database_unavailable(outcome):
                raise outcome
            erasure.fail(e, study.key, f"{type(outcome).__name__}: {outcome}")
        elif outcome.participant is None and not outcome.rule_error:
            batch.no_data.append((e, f"{profile_id}:{study.key}"))
        else:
            outcomes.append((e, outcome))
            batch.new.append((e, outcome))
    return outcomes


def _run_rules(
    ctx: TaskContext, runner: LeaveRulesRunner, study: Study, pairs: list[tuple[JournalEntry, str]]
) -> list[LeaveOutcome | Exception]:
    def before_external_call(index: int) -> None:
        entry, profile_id = pairs[index]
        _mark_external_call(ctx, entry, f"{profile_id}:{study.key}")

    try:
        return runner.evaluate_many(
            study,
            [profile_id for _, profile_id in pairs],
            before_rules=ctx.lease.check,
            before_external_call=before_external_call,
        )
    except Exception as exc:
        return [exc] * len(pairs)


def _mark_external_call(ctx: TaskContext, entry: JournalEntry, pair: str) -> None:
    """Journal, right before the LEAVE rules of `pair` ("profile:study") call an external service, that they do.

    External calls happen at most once per pair: a run that finds a pair marked but without a journaled
    outcome (its evaluator was killed, or frozen and taken over) does not evaluate it again, it erases the
    data and reports the rules as not run (`LeaveRulesRunner.interrupted`). Being a journal write, the mark
    is also the fence of the call: a run whose entries a newer run has claimed stops here, before calling.
    """
    ctx.lease.check("an external service call")
    ctx.pipeline.add_to_set([entry.key], field_name("leave_called"), pair)
    if pair not in entry.leave_called:
        entry.leave_called.append(pair)


def _journaled(entry: JournalEntry) -> dict[tuple[str, str], LeaveOutcome]:
    """Outcomes evaluated but not (fully) applied, by (profile, study): applied again, never re-evaluated."""
    outcomes = (LeaveOutcome.from_journal(doc) for doc in entry.pending_outcomes)
    return {(o.profile_id, o.study_key): o for o in outcomes}


def _journal_outcomes(ctx: TaskContext, new: list[Pair]) -> None:
    """Journal the batch's new LEAVE outcomes (and their rule failures) next to those already journaled:
    one statement per entry, in one bulk call."""
    added: dict[str, tuple[JournalEntry, list[LeaveOutcome]]] = {}
    for e, outcome in new:
        added.setdefault(e.key, (e, []))[1].append(outcome)
    updates: dict[str, dict[str, object]] = {}
    for key, (e, outcomes) in added.items():
        e.pending_outcomes = [*e.pending_outcomes, *(o.to_journal() for o in outcomes)]
        update: dict[str, object] = {"$set": {field_name("pending_outcomes"): e.pending_outcomes}}
        if failures := [f"{o.study_key}: {o.rule_error}" for o in outcomes if o.rule_error]:
            update["$addToSet"] = {"ruleFailures": {"$each": failures}}
        updates[key] = update
    ctx.pipeline.update_each(updates)


def _apply(
    ctx: TaskContext, runner: LeaveRulesRunner, study: Study, outcomes: list[Pair], erasure: Erasure
) -> None:
    """One study's erasure steps for the batch (one call each), then each pair's result in the audit."""
    step_errors = runner.apply_many(study.key, [o for _, o in outcomes], before_write=ctx.lease.check)
    applied: list[str] = []
    for (e, outcome), failures in zip(outcomes, step_errors, strict=True):
        if outcome.rule_error:
            _rule_failure(ctx, runner, study, e, outcome)
        if failures:
            for failure in failures:
                erasure.fail(e, study.key, failure)
            continue
        pair = f"{outcome.profile_id}:{study.key}"
        erasure.erased[e.key].append(pair)
        applied.append(pair)
        if not outcome.rule_error:
            ctx.audit(
                e.task,
                e.user_id,
                f"leave-rules:{study.key}",
                "applied",
                {"study": study.key, "reports": len(outcome.reports or [])},
                key=e.step_key(f"leave:{outcome.profile_id}:{study.key}:applied"),
            )
    ctx.hooks.visit(Step.DELETE_STUDY_ERASED, applied)


def _rule_failure(
    ctx: TaskContext, runner: LeaveRulesRunner, study: Study, e: JournalEntry, outcome: LeaveOutcome
) -> None:
    ctx.logger.error(
        "deletion[%s]: LEAVE rules of study %s failed for participant %s: %s (erasure done anyway)",
        ctx.instance_id,
        study.key,
        outcome.participant_id,
        outcome.rule_error,
    )
    runner.rule_failures.append((e.user_id, study.key, outcome.rule_error))
    ctx.audit(
        e.task,
        e.user_id,
        f"leave-rules:{study.key}",
        "failed",
        {"study": study.key, "error": ids_only(outcome.rule_error)},
        key=e.step_key(f"leave:{outcome.profile_id}:{study.key}:failed"),
    )


def _remove_id_map_entries(
    ctx: TaskContext,
    entries: list[JournalEntry],
    studies: list[Study],
    erasure: Erasure,
    no_data: list[tuple[JournalEntry, str]],
) -> None:
    """Every map entry of these profiles in every study, in one delete: those of the pairs just erased, of the
    pairs that never took part, and of the pairs whose participant data cannot be reached (yet); the entries
    need only the profile id and the study key. Done for the whole batch every time, also for pairs erased by
    an attempt that was killed before it got here, so none is ever left behind. Only the pairs that are
    complete count as erased."""
    keys = [study.key for study in studies]
    ctx.lease.check("delete:id-map-entries")
    try:
        ctx.studies.remove_id_map_entries_of(sorted({p for e in entries for p in e.profile_ids}), keys)
    except Exception as exc:
        if isinstance(exc, PyMongoError) and database_unavailable(exc):
            raise
        failure = f"removing confidential-ID map entries failed: {type(exc).__name__}: {exc}"
        for e in entries:
            for key in keys:
                erasure.fail(e, key, failure)
        return
    for e, pair in no_data:
        erasure.erased[e.key].append(pair)
    ctx.hooks.visit(Step.DELETE_STUDY_ERASED, no_data)
