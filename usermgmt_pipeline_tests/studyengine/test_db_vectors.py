"""DB-backed vectors (docs/study-engine.md §7.1 #11-19, #183-187; §7.2 V1-V5) through MongoStudyEngineStore on a real server."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from bson import Int64
from pymongo.database import Database

from usermgmt_pipeline.case.study_engine_collections import MongoStudyEngineStore
from usermgmt_pipeline.studyengine import (
    Participant,
    StudyEngine,
    StudyEngineError,
    StudyEnginePanic,
    StudyEvent,
)
from usermgmt_pipeline.studyengine.actions import ActionData
from usermgmt_pipeline_tests.studyengine.builders import expr
from usermgmt_pipeline_tests.studyengine.conftest import evaluate, fixed_clock

E = expr
C = E("responseHasKeysAny", "S1.Q1", "rg.scg", "1")


def _old_response(key: str, pid: str, submitted: int, item: str, code: str) -> dict:
    group = {"key": "scg", "items": [{"key": code}]}
    return {"key": key, "participantID": pid, "submittedAt": Int64(submitted), "arrivedAt": Int64(0),
            "responses": [{"key": item, "response": {"key": "rg", "items": [group]}}]}  # fmt: skip


@pytest.fixture
def old_responses(study_db: Database) -> None:
    study_db["testStudy_surveyResponses"].insert_many(
        [
            _old_response("S1", "P1", 10, "S1.Q1", "1"),
            _old_response("S1", "P1", 13, "S1.Q1", "1"),
            _old_response("S1", "P2", 13, "S1.Q1", "1"),
            _old_response("S2", "P1", 15, "S2.Q1", "1"),
            _old_response("S1", "P1", 17, "S1.Q1", "1"),
            _old_response("S1", "P1", 22, "S1.Q1", "2"),
        ]
    )


def _engine(store: MongoStudyEngineStore | None) -> StudyEngine:
    return StudyEngine(store=store, external_services=[], clock=fixed_clock())


P1 = Participant(participant_id="P1")
FULL = StudyEvent(instance_id="testInstance", study_key="testStudy", type="")


@pytest.mark.parametrize(
    ("event", "participant", "expression"),
    [
        pytest.param(
            StudyEvent(type=""), Participant(), E("checkConditionForOldResponses"), id="expressions_test#11"
        ),
        pytest.param(
            StudyEvent(type="", study_key="testStudy"),
            Participant(),
            E("checkConditionForOldResponses"),
            id="expressions_test#12",
        ),
        pytest.param(FULL, Participant(), E("checkConditionForOldResponses"), id="expressions_test#13"),
        pytest.param(FULL, P1, E("checkConditionForOldResponses"), id="expressions_test#14"),
    ],
)
def test_upstream_old_responses_errors(store, old_responses, event, participant, expression) -> None:
    with pytest.raises(StudyEngineError):
        evaluate(expression, participant, event, _engine(store))


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        pytest.param(E("checkConditionForOldResponses", C), False, id="expressions_test#15"),
        pytest.param(E("checkConditionForOldResponses", C, "any"), True, id="expressions_test#16"),
        pytest.param(E("checkConditionForOldResponses", C, 3), True, id="expressions_test#17"),
        pytest.param(E("checkConditionForOldResponses", C, 4), False, id="expressions_test#18"),
        pytest.param(E("checkConditionForOldResponses", C, 4, "S2"), False, id="expressions_test#19"),
    ],
)
def test_upstream_old_responses(store, old_responses, expression, expected: bool) -> None:
    assert evaluate(expression, P1, FULL, _engine(store)) is expected


def test_old_responses_without_store_is_an_error() -> None:
    with pytest.raises(StudyEngineError, match="DB connection not available"):
        evaluate(E("checkConditionForOldResponses", C), P1, FULL, _engine(None))


VARIABLES = [("boolVar", "boolean", True), ("intVar", "int", 42), ("floatVar", "float", 3.5),
             ("stringVar", "string", "hello"), ("dateVar", "date", datetime.fromtimestamp(1700000000, UTC))]  # fmt: skip


@pytest.fixture
def variables(study_db: Database) -> None:
    now = datetime.now(UTC)
    study_db["studyVariables"].insert_many(
        [{"studyKey": "s1", "key": k, "type": t, "value": v, "valueUpdatedAt": now} for k, t, v in VARIABLES]
    )


EV_S1 = StudyEvent(instance_id="i1", study_key="s1", type="")


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        pytest.param(E("getStudyVariableBoolean", "boolVar"), True, id="expressions_test#183"),
        pytest.param(E("getStudyVariableInt", "intVar"), 42.0, id="expressions_test#184"),
        pytest.param(E("getStudyVariableFloat", "floatVar"), 3.5, id="expressions_test#185"),
        pytest.param(E("getStudyVariableString", "stringVar"), "hello", id="expressions_test#186"),
    ],
)
def test_upstream_study_variables(store, variables, expression, expected) -> None:
    result = evaluate(expression, Participant(), EV_S1, _engine(store))
    assert type(result) is type(expected) and result == expected


def test_upstream_187_date_variable_errors_against_a_real_db_as_in_go(store, variables) -> None:
    # The upstream vector passes only with a mock returning a native time; Go's driver decodes the BSON
    # date as primitive.DateTime, so against a real DB the cast fails (docs/study-engine.md §3.2). We copy that.
    with pytest.raises(StudyEngineError, match="could not cast"):
        evaluate(E("getStudyVariableDate", "dateVar"), Participant(), EV_S1, _engine(store))


def test_study_variable_type_mismatch_and_missing_are_errors(store, variables) -> None:
    with pytest.raises(StudyEngineError, match="wrong type"):
        evaluate(E("getStudyVariableFloat", "intVar"), Participant(), EV_S1, _engine(store))
    with pytest.raises(StudyEngineError, match="not found"):
        evaluate(E("getStudyVariableInt", "nope"), Participant(), EV_S1, _engine(store))


@pytest.mark.parametrize(
    ("action", "key", "stored"),
    [
        pytest.param(
            E("UPDATE_STUDY_VARIABLE_BOOLEAN", "boolVar", E("eq", 1, 1)),
            "boolVar",
            True,
            id="actions_test#V1",
        ),
        pytest.param(E("UPDATE_STUDY_VARIABLE_INT", "intVar", 7), "intVar", Int64(7), id="actions_test#V2"),
        pytest.param(
            E("UPDATE_STUDY_VARIABLE_FLOAT", "floatVar", 3.14), "floatVar", 3.14, id="actions_test#V3"
        ),
        pytest.param(
            E("UPDATE_STUDY_VARIABLE_STRING", "stringVar", "abc"), "stringVar", "abc", id="actions_test#V4"
        ),
        pytest.param(
            E("UPDATE_STUDY_VARIABLE_DATE", "dateVar", 1710000000),
            "dateVar",
            datetime.fromtimestamp(1710000000, UTC).replace(tzinfo=None),
            id="actions_test#V5",
        ),
    ],
)
def test_upstream_update_study_variable(store, study_db, variables, action, key, stored) -> None:
    _engine(store).actions.run(action, ActionData(participant=Participant()), EV_S1)
    document = study_db["studyVariables"].find_one({"studyKey": "s1", "key": key})
    assert type(document["value"]) is type(stored) and document["value"] == stored
    assert isinstance(document["valueUpdatedAt"], datetime)


LEAVE = StudyEvent(
    instance_id="i1", study_key="s1", type="LEAVE", participant_id_for_confidential_responses="cid1"
)


def test_counters_start_as_int32_and_format_into_flags(store, study_db) -> None:
    engine = _engine(store)
    state = ActionData(participant=Participant())
    state = engine.actions.run(E("GET_NEXT_STUDY_COUNTER_AS_FLAG", "sc", "code", "P-", 4), state, LEAVE)
    state = engine.actions.run(E("GET_NEXT_STUDY_COUNTER_AS_LINKING_CODE", "sc", "lc"), state, LEAVE)
    assert state.participant.flags == {"code": "P-0001"} and state.participant.linking_codes == {"lc": "2"}
    raw = study_db.client.get_database(study_db.name).command("find", "studyCounters")["cursor"]["firstBatch"]
    assert type(raw[0]["value"]) is int and raw[0]["value"] == 2  # int, not Int64: stored as BSON int32
    assert evaluate(E("getCurrentStudyCounterValue", "sc"), Participant(), LEAVE, engine) == 2.0
    engine.actions.run(E("RESET_STUDY_COUNTER", "sc"), state, LEAVE)
    assert evaluate(E("getCurrentStudyCounterValue", "sc"), Participant(), LEAVE, engine) == 0.0


def test_study_codes_draw_check_and_remove(store, study_db) -> None:
    study_db["studyCodeLists"].insert_many(
        [
            {"studyKey": "s1", "listKey": "L", "code": "c1", "addedAt": datetime.now(UTC)},
            {"studyKey": "s1", "listKey": "M", "code": "m1", "addedAt": datetime.now(UTC)},
        ]
    )
    engine = _engine(store)
    assert evaluate(E("isStudyCodePresent", "L", "c1"), Participant(), LEAVE, engine) is True
    state = engine.actions.run(
        E("DRAW_STUDY_CODE_AS_LINKING_CODE", "L", "code"), ActionData(Participant()), LEAVE
    )
    assert state.participant.linking_codes == {"code": "c1"}
    state = engine.actions.run(E("DRAW_STUDY_CODE_AS_LINKING_CODE", "L", "code"), state, LEAVE)
    assert state.participant.linking_codes == {}  # list empty: the code is removed
    engine.actions.run(E("REMOVE_STUDY_CODE", "M", "m1"), state, LEAVE)
    assert study_db["studyCodeLists"].count_documents({}) == 0


def test_notify_researcher_and_confidential_deletes(store, study_db) -> None:
    study_db["s1_confidentialResponses"].insert_many(
        [
            {"participantID": "cid1", "key": "a"},
            {"participantID": "cid1", "key": "b"},
            {"participantID": "other", "key": "a"},
        ]
    )
    engine = _engine(store)
    rules = [
        E("IFTHEN", E("checkEventType", "LEAVE"),
          E("NOTIFY_RESEARCHER", "left", "reason", "deleted", "dangling"),
          E("NOTIFY_RESEARCHER", "bare"),
          E("REMOVE_CONFIDENTIAL_RESPONSE_BY_KEY", "a")),
    ]  # fmt: skip
    engine.run_rules(rules, LEAVE, Participant(participant_id="pid1"))
    messages = list(study_db["s1_researcherMessages"].find({}, {"_id": 0}))
    assert messages == [{"type": "left", "payload": {"reason": "deleted"}, "participantID": "pid1"},
                        {"type": "bare", "participantID": "pid1"}]  # fmt: skip
    assert sorted(d["key"] for d in study_db["s1_confidentialResponses"].find({"participantID": "cid1"})) == [
        "b"
    ]
    engine.run_rules([E("REMOVE_ALL_CONFIDENTIAL_RESPONSES")], LEAVE, Participant())
    assert [d["participantID"] for d in study_db["s1_confidentialResponses"].find()] == ["other"]


def test_confidential_delete_needs_the_confidential_id(store) -> None:
    event = StudyEvent(instance_id="i1", study_key="s1", type="LEAVE")
    with pytest.raises(StudyEngineError, match="participant id must be defined"):
        _engine(store).run_rules([E("REMOVE_ALL_CONFIDENTIAL_RESPONSES")], event, Participant())
    with pytest.raises(StudyEngineError, match="participant id must be defined"):
        store.delete_confidential_responses("s1", "", "")


def test_driver_error_on_confidential_delete_is_a_normal_error(mongo_client, db_prefix) -> None:
    from pymongo import MongoClient

    dead = MongoClient("mongodb://127.0.0.1:1", serverSelectionTimeoutMS=200, connectTimeoutMS=200)
    store = MongoStudyEngineStore(dead[f"{db_prefix}x_studyDB"], op_timeout_s=0.5)
    with pytest.raises(StudyEngineError, match="deleting confidential responses failed"):
        store.delete_confidential_responses("s1", "cid", "")
    dead.close()


def test_stored_values_go_cannot_decode_reach_the_rules_as_ordinary_engine_errors(store, study_db) -> None:
    """The decoder's `GoDecodeError` is the data layer's; to the engine it is the error Go's store returns."""
    study_db["studyCounters"].insert_one({"studyKey": "testStudy", "scope": "s", "value": "seven"})
    study_db["testStudy_surveyResponses"].insert_one(
        {"key": "S1", "participantID": "P1", "arrivedAt": "late"}
    )
    with pytest.raises(StudyEngineError, match="value") as counter:
        store.get_study_counter_value("testStudy", "s")
    with pytest.raises(StudyEngineError, match="arrivedAt") as responses:
        store.find_survey_responses("testStudy", "P1", "S1", 0, 0, 10)
    assert not isinstance(counter.value, StudyEnginePanic)
    assert not isinstance(responses.value, StudyEnginePanic)
