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

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bson import ObjectId
from bson.errors import InvalidBSON

from usermgmt_pipeline.case.id_mapping import compute_participant_ids
from usermgmt_pipeline.case.studies import Study, StudyCollections
from usermgmt_pipeline.studyengine import (
    ExternalServiceSettings,
    Participant,
    StudyEngine,
    StudyEvent,
    parse_rules,
)
from usermgmt_pipeline.studyengine.godecode import GoDecodeError

ACCOUNT_DELETED = "accountDeleted"


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

    def evaluate(self, study: Study, profile_id: str) -> LeaveOutcome:
        ids = compute_participant_ids(study.identity, profile_id, self.global_secret)
        outcome = LeaveOutcome(study.key, profile_id, ids.participant_id, ids.confidential_id, None)
        try:
            stored = self.studies.participant(study.key, ids.participant_id)
            if stored is None:
                return outcome  # never took part: only the erasure steps apply
            participant = Participant.from_bson(stored)
        except (InvalidBSON, GoDecodeError) as exc:
            outcome.status_only = True
            outcome.rule_error = f"participant document does not decode ({exc}); LEAVE rules not run"
            return outcome
        try:
            rules_doc = self.studies.current_rules_document(study.key)
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
        encoded_state["studyStatus"] = ACCOUNT_DELETED
        outcome.participant = encoded_state
        return outcome

    def apply(self, outcome: LeaveOutcome) -> list[str]:
        """Save state, reports, then erase; returns the errors (each step runs even if an earlier one failed)."""
        errors: list[str] = []
        if outcome.status_only:
            try:
                self.studies.set_participant_status(
                    outcome.study_key, outcome.participant_id, ACCOUNT_DELETED
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
