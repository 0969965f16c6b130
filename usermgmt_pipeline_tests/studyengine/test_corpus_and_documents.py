"""Real rule files (read from the CASE corpus at CASE_CORPUS_DIR), rule decoding, and document shapes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from bson import Int64, ObjectId

from usermgmt_pipeline.go_unmarshal import GoDecodeError
from usermgmt_pipeline.studyengine import (
    Participant,
    Report,
    StudyEngine,
    StudyEngineError,
    StudyEvent,
    parse_rules,
)
from usermgmt_pipeline.studyengine.event import SurveyResponse
from usermgmt_pipeline.studyengine.report import ReportData
from usermgmt_pipeline_tests.corpus import RULES_DIR
from usermgmt_pipeline_tests.studyengine.conftest import fixed_clock

RULE_FILES = sorted(RULES_DIR.glob("*.json"))
WRAPPED_SHAPE = "case-framework_case-admin__testStudyRules.json"  # top level holds ExpressionArg wrappers


def _participant() -> Participant:
    return Participant(participant_id="p1", study_status="active", flags={"a": "b"}, entered_at=1600000000)


@pytest.mark.corpus
def test_corpus_is_present() -> None:
    assert len(RULE_FILES) == 11


@pytest.mark.corpus
@pytest.mark.parametrize("path", RULE_FILES, ids=lambda p: p.name)
def test_corpus_rules_parse_and_leave_matches_nothing_in_generated_rule_sets(path: Path) -> None:
    rules = parse_rules({"serialisedRules": path.read_text(encoding="utf-8")})
    assert rules
    engine = StudyEngine(store=None, external_services=[], clock=fixed_clock())
    leave = StudyEvent(
        instance_id="i", study_key="s", type="LEAVE", participant_id_for_confidential_responses="c"
    )
    if path.name == WRAPPED_SHAPE:
        # Go decodes {"dtype","exp"} wrappers as expressions with an empty name -> "action name not known".
        with pytest.raises(StudyEngineError, match="action name not known"):
            engine.run_rules(rules, leave, _participant())
        return
    if all(
        rule.name == "IFTHEN" and rule.data[0].exp and rule.data[0].exp.name == "checkEventType"
        for rule in rules
    ):
        result = engine.run_rules(rules, leave, _participant())
        assert result.participant == _participant() and result.reports == []
        enter = engine.run_rules(rules, StudyEvent(type="ENTER", study_key="s"), _participant())
        assert enter.participant.assigned_surveys  # ENTER handlers assign surveys
        submit = StudyEvent(
            type="SUBMIT", study_key="s", response=SurveyResponse(key="intake", arrived_at=1700000000)
        )
        assert engine.run_rules(rules, submit, _participant()).participant.last_submissions == {
            "intake": 1700000000
        }
    else:
        # custom rule sets run for every event; they need no DB for these participants or fail cleanly
        try:
            engine.run_rules(rules, leave, _participant())
        except StudyEngineError as exc:
            assert "DB connection not available" in str(exc)


def test_rules_json_uses_go_decoding_rules() -> None:
    text = json.dumps(
        [{"NAME": "UPDATE_FLAG", "Data": [{"DType": "str", "STR": "k"}, {"dtype": "num", "num": 2}], "x": 1}]
    )
    (rule,) = parse_rules({"serialisedRules": text, "rules": [{"name": "ignored"}]})
    assert rule.name == "UPDATE_FLAG" and rule.data[0].str_value == "k" and rule.data[1].num == 2.0
    assert parse_rules({"serialisedRules": "", "rules": [{"name": "IFTHEN"}]})[0].name == "IFTHEN"
    assert parse_rules({}) == [] and parse_rules({"serialisedRules": "null"}) == []
    for bad in ("[", '[{"name": 5}]', '[{"data": [{"num": "5"}]}]'):
        with pytest.raises(StudyEngineError):
            parse_rules({"serialisedRules": bad})


def test_participant_bson_round_trip_matches_go_save() -> None:
    oid = ObjectId()
    stored = {
        "_id": oid, "participantID": "p", "modifiedAt": 3.0, "enteredAt": 7, "studyStatus": "active",
        "flags": {"f": "1"}, "linkingCodes": None, "assignedSurveys": [{"surveyKey": "s", "validFrom": 1}],
        "lastSubmission": {"w": 9}, "unknownField": "dropped", "isMainProfile": False,
    }  # fmt: skip
    doc = Participant.from_bson(stored).to_bson()
    assert list(doc) == [
        "_id", "participantID", "currentStudySession", "modifiedAt", "enteredAt", "studyStatus", "flags",
        "linkingCodes", "assignedSurveys", "lastSubmission", "messages", "isMainProfile",
    ]  # fmt: skip
    assert type(doc["modifiedAt"]) is Int64 and doc["modifiedAt"] == 3 and type(doc["enteredAt"]) is Int64
    assert doc["assignedSurveys"] == [
        {"studyKey": "", "surveyKey": "s", "validFrom": 1, "validUntil": 0, "category": "", "profileID": ""}
    ]
    assert type(doc["assignedSurveys"][0]["validFrom"]) is Int64 and type(doc["lastSubmission"]["w"]) is Int64
    assert doc["linkingCodes"] is None and doc["messages"] is None and doc["isMainProfile"] is False


def test_participant_decode_errors_like_go() -> None:
    with pytest.raises(GoDecodeError, match="enteredAt"):
        Participant.from_bson({"enteredAt": 1.5})
    with pytest.raises(GoDecodeError, match=r"flags\.a"):
        Participant.from_bson({"flags": {"a": 1}})


def test_report_bson_shape() -> None:
    assert Report(key="k", participant_id="p", response_id="LEAVE", timestamp=5).to_bson() == {
        "key": "k", "participantID": "p", "responseID": "LEAVE", "timestamp": Int64(5), "data": None,
    }  # fmt: skip
    doc = Report(key="k", data=[ReportData("a", "1", "int"), ReportData("b", "x")]).to_bson()
    assert doc["data"] == [{"key": "a", "value": "1", "dtype": "int"}, {"key": "b", "value": "x"}]
    assert type(doc["timestamp"]) is Int64
