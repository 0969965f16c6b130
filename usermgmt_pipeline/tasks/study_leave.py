"""What deleting a profile does in each study: LEAVE rules, then the mandatory erasure steps (docs/tasks.md §2.2).

Go skips a study entirely when its rules fail or it has no rules document, leaving the participant active
and the confidential data and ID-map entries in place, while the account is deleted anyway. We always run
the erasure (status `accountDeleted`, confidential responses deleted, ID-map entries removed) and report the
rule failure. The rule evaluation result (new participant state, reports with pre-assigned ids) is
journaled before it is applied, so a crash never creates a LEAVE report twice.

A participant document that does not decode (Go's driver would refuse it, or ours cannot read it at all)
cannot go through the rules; it is reported as a rule failure and erased all the same, its status set by a
targeted update instead of Go's full replace.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bson import ObjectId
from bson.errors import InvalidBSON
from pymongo.errors import PyMongoError

from usermgmt_pipeline.case.id_mapping import ParticipantIds, compute_participant_ids
from usermgmt_pipeline.case.studies import Study, StudyCollections
from usermgmt_pipeline.go_unmarshal import GoDecodeError
from usermgmt_pipeline.studyengine import (
    ExternalServiceSettings,
    Participant,
    StudyEngine,
    StudyEvent,
    parse_rules,
)
from usermgmt_pipeline.tasks.iteration import database_unavailable

STATUS_ACCOUNT_DELETED = "accountDeleted"


@dataclass
class LeaveOutcome:
    """The journaled, not-yet-applied result of one profile in one study."""

    study_key: str
    profile_id: str
    participant_id: str
    confidential_id: str
    participant: dict[str, Any] | None
    reports: list[dict[str, Any]] = field(default_factory=list)
    rule_error: str = ""
    # The stored document does not decode: only its `studyStatus` is set (`participant` is None).
    status_only: bool = False

    def to_journal(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_journal(cls, doc: Mapping[str, Any]) -> LeaveOutcome:
        fields: dict[str, Any] = {k: doc.get(k) for k in cls.__dataclass_fields__}
        return cls(**fields)


def external_service_settings(config: Any) -> list[ExternalServiceSettings]:
    settings = []
    for service in config.study_configs.external_services:
        mtls = service.mtls_config
        settings.append(
            ExternalServiceSettings(
                name=service.name,
                url=service.url,
                api_key=service.api_key.get_secret_value(),
                timeout_seconds=float(service.timeout),
                cert_file=mtls.cert_file if mtls else None,
                key_file=mtls.key_file if mtls else None,
                ca_file=mtls.ca_file if mtls else None,
            )
        )
    return settings


class LeaveRulesRunner:
    """Evaluates a study's current LEAVE rules for one participant with the ported CASE study engine."""

    def __init__(
        self, engine: StudyEngine, studies: StudyCollections, instance_id: str, global_secret: str
    ) -> None:
        self.engine = engine
        self.rule_failures: list[tuple[str, str, str]] = []  # (profile id, study key, error), for the result
        self.studies = studies
        self.instance_id = instance_id
        self.global_secret = global_secret
        self._on_external_call: Callable[[], None] | None = None

    def gate_external_call(self, step: str) -> None:
        """Called by the engine right before each external service request (it may raise to prevent it)."""
        if self._on_external_call is not None:
            self._on_external_call()

    def evaluate(self, study: Study, profile_id: str) -> LeaveOutcome:
        ids = compute_participant_ids(study.identity, profile_id, self.global_secret)
        return self._evaluate(study, profile_id, ids, None, [])

    def evaluate_many(
        self,
        study: Study,
        profile_ids: Sequence[str],
        *,
        before_rules: Callable[[str], None] = lambda step: None,
        before_external_call: Callable[[int], None] | None = None,
    ) -> list[LeaveOutcome | Exception]:
        """`evaluate` for many profiles of one study, in order: one read of their participants, and the
        study's rules read once. A profile whose evaluation failed gets its exception; a failed read of
        all of them raises.

        `before_rules(step)` is called before any rule runs, `before_external_call(i)` right before each
        external service request of the i-th profile's rules; either may raise to stop (the lease)."""
        ids: list[ParticipantIds | Exception] = []
        for profile_id in profile_ids:
            try:
                ids.append(compute_participant_ids(study.identity, profile_id, self.global_secret))
            except Exception as exc:
                ids.append(exc)
        wanted = [i.participant_id for i in ids if not isinstance(i, Exception)]
        try:
            stored: Mapping[str, Mapping[str, Any]] | None = self.studies.participants(study.key, wanted)
        except InvalidBSON:
            stored = None  # one of them does not decode: read them one by one to find which
        rules: list[Mapping[str, Any] | None] = []
        outcomes: list[LeaveOutcome | Exception] = []
        if wanted:
            before_rules("LEAVE evaluation")
        for index, (profile_id, participant_ids) in enumerate(zip(profile_ids, ids, strict=True)):
            if isinstance(participant_ids, Exception):
                outcomes.append(participant_ids)
                continue
            if before_external_call is not None:
                self._on_external_call = lambda i=index: before_external_call(i)
            try:
                outcomes.append(self._evaluate(study, profile_id, participant_ids, stored, rules))
            except Exception as exc:
                outcomes.append(exc)
            finally:
                self._on_external_call = None
        return outcomes

    def interrupted(self, study: Study, profile_id: str) -> LeaveOutcome | Exception:
        """The outcome of a pair whose LEAVE evaluation was started by an attempt that never journaled it.

        That attempt may have called external services, so the rules are not run again (at most once): the
        participant, if there is one, is erased with its status set, and the rules are reported as not run.
        """
        try:
            ids = compute_participant_ids(study.identity, profile_id, self.global_secret)
            if self.studies.participants(study.key, [ids.participant_id]).get(ids.participant_id) is None:
                return LeaveOutcome(study.key, profile_id, ids.participant_id, ids.confidential_id, None)
        except InvalidBSON:
            pass  # it exists but does not decode: erased by status all the same
        except Exception as exc:
            return exc
        return LeaveOutcome(
            study.key,
            profile_id,
            ids.participant_id,
            ids.confidential_id,
            None,
            rule_error="LEAVE evaluation was interrupted (its run was killed or lost its instance) and is not "
            "run again, so no external call or report is made twice; data erased",
            status_only=True,
        )

    def _evaluate(
        self,
        study: Study,
        profile_id: str,
        ids: ParticipantIds,
        stored_by_id: Mapping[str, Mapping[str, Any]] | None,
        rules_cache: list[Mapping[str, Any] | None],
    ) -> LeaveOutcome:
        """One profile's LEAVE outcome; `stored_by_id` holds the participants read already (None: read it),
        `rules_cache` the study's rules document once read (shared by the profiles of one batch)."""
        outcome = LeaveOutcome(study.key, profile_id, ids.participant_id, ids.confidential_id, None)
        try:
            if stored_by_id is None:
                stored = self.studies.participant(study.key, ids.participant_id)
            else:
                stored = stored_by_id.get(ids.participant_id)
            if stored is None:
                return outcome  # never took part: only the erasure steps apply
            participant = Participant.from_bson(stored)
        except (InvalidBSON, GoDecodeError) as exc:
            outcome.status_only = True
            outcome.rule_error = f"participant document does not decode ({exc}); LEAVE rules not run"
            return outcome
        try:
            if not rules_cache:
                rules_cache.append(self.studies.current_rules_document(study.key))
            rules_doc = rules_cache[0]
            if rules_doc is None:
                raise LookupError(f"study {study.key} has no studyRules document")
            result = self.engine.run_rules(
                parse_rules(rules_doc),
                StudyEvent(
                    instance_id=self.instance_id,
                    study_key=study.key,
                    type="LEAVE",
                    participant_id_for_confidential_responses=ids.confidential_id,
                ),
                participant,
            )
            participant = result.participant
            if result.swallowed_errors:  # Go logs these and goes on; we apply the result and report them
                outcome.rule_error = "; ".join(result.swallowed_errors)
            for report in result.reports:
                encoded = report.to_bson()
                encoded["responseID"] = "LEAVE"
                outcome.reports.append({"_id": ObjectId(), **encoded})
        except Exception as exc:  # a failing rule must not keep the participant's data
            outcome.rule_error = f"{type(exc).__name__}: {exc}"
        encoded_state = participant.to_bson()
        encoded_state["studyStatus"] = STATUS_ACCOUNT_DELETED
        if "_id" in stored:  # written back to the document just read, whatever id the rules' state carries
            encoded_state["_id"] = stored["_id"]
        outcome.participant = encoded_state
        return outcome

    def apply_many(
        self,
        study_key: str,
        outcomes: Sequence[LeaveOutcome],
        before_write: Callable[[str], None] = lambda step: None,
    ) -> list[list[str]]:
        """`apply` for many outcomes of one study, each step one call for all of them; returns each
        outcome's errors (each step runs for every outcome even if an earlier one failed).

        `before_write(step)` is called right before each write (the lease's check: it raises to stop).
        Not the ID-map entries: the caller removes those of a whole batch, every study at once."""
        errors: list[list[str]] = [[] for _ in outcomes]
        studies = self.studies
        status_only = [i for i, o in enumerate(outcomes) if o.status_only]
        with_state = [i for i, o in enumerate(outcomes) if o.participant is not None]
        reports = [(i, report) for i in with_state for report in outcomes[i].reports or []]
        confidential = [i for i, o in enumerate(outcomes) if o.confidential_id]
        steps: list[tuple[str, list[int], Callable[[], Mapping[int, str] | int], list[str]]] = [
            (
                "setting the participant's status",
                status_only,
                lambda: studies.set_participant_status_many(
                    study_key, [outcomes[i].participant_id for i in status_only], STATUS_ACCOUNT_DELETED
                ),
                ["setting the participant's status"] * len(status_only),
            ),
            (
                "saving participant state",
                with_state,
                lambda: studies.save_participant_states(
                    study_key, [outcomes[i].participant or {} for i in with_state]
                ),
                ["saving participant state"] * len(with_state),
            ),
            (
                "saving reports",
                [i for i, _ in reports],
                lambda: studies.insert_reports_once(study_key, [report for _, report in reports]),
                [f"saving report {report.get('key')!r}" for _, report in reports],
            ),
            (
                "deleting confidential responses",
                confidential,
                lambda: studies.delete_confidential_responses_of(
                    study_key, [outcomes[i].confidential_id for i in confidential]
                ),
                ["deleting confidential responses"] * len(confidential),
            ),
        ]
        for what, indexes, call, labels in steps:
            if indexes:
                before_write(what)
                _run_step(errors, indexes, call, labels)
        return errors

    def apply(self, outcome: LeaveOutcome) -> list[str]:
        """Save state, reports, then erase; returns the errors (each step runs even if an earlier one failed)."""
        errors: list[str] = []
        if outcome.status_only:
            try:
                self.studies.set_participant_status(
                    outcome.study_key, outcome.participant_id, STATUS_ACCOUNT_DELETED
                )
            except Exception as exc:
                errors.append(f"setting the participant's status failed: {type(exc).__name__}: {exc}")
        if outcome.participant is not None:
            try:
                self.studies.save_participant_state(outcome.study_key, outcome.participant)
            except Exception as exc:
                errors.append(f"saving participant state failed: {type(exc).__name__}: {exc}")
            for report in outcome.reports:
                try:
                    self.studies.insert_report_once(outcome.study_key, report)
                except Exception as exc:
                    errors.append(f"saving report {report.get('key')!r} failed: {type(exc).__name__}: {exc}")
        try:
            if outcome.confidential_id:
                self.studies.delete_confidential_responses(outcome.study_key, outcome.confidential_id)
        except Exception as exc:
            errors.append(f"deleting confidential responses failed: {type(exc).__name__}: {exc}")
        try:
            self.studies.remove_id_map_entries_for_profile(outcome.profile_id, outcome.study_key)
        except Exception as exc:
            errors.append(f"removing confidential-ID map entries failed: {type(exc).__name__}: {exc}")
        return errors


def _run_step(
    errors: list[list[str]],
    indexes: Sequence[int],
    call: Callable[[], Mapping[int, str] | int],
    labels: list[str],
) -> None:
    """One erasure step for several outcomes (`indexes`); a refusal or failure is an error of the outcome it
    concerns (`labels` name what failed, per item of the call). A lost database propagates: the outcomes stay
    journaled and the rerun applies them."""
    try:
        refused = call()
    except Exception as exc:
        if isinstance(exc, PyMongoError) and database_unavailable(exc):
            raise
        refused = dict.fromkeys(range(len(indexes)), f"{type(exc).__name__}: {exc}")
    if isinstance(refused, Mapping):
        for position, reason in refused.items():
            errors[indexes[position]].append(f"{labels[position]} failed: {reason}")
