"""Upstream expressions_test.go vectors without a DB (docs/study-engine.md §7.1), by upstream number."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest

from usermgmt_pipeline.studyengine import StudyEngine, StudyEngineError, StudyEvent
from usermgmt_pipeline.studyengine.event import ResponseItem, SurveyItemResponse, SurveyResponse
from usermgmt_pipeline.studyengine.model import ExpressionArg
from usermgmt_pipeline.studyengine.participant import AssignedSurvey, Participant, ParticipantMessage
from usermgmt_pipeline.studyengine.values import GoInt64
from usermgmt_pipeline_tests.studyengine.builders import expr, num_arg, string_arg
from usermgmt_pipeline_tests.studyengine.conftest import evaluate, fixed_clock

NOW = 1700000000
E = expr


def _engine() -> StudyEngine:
    return StudyEngine(store=None, external_services=[], clock=fixed_clock(NOW))


def _surveys(*specs: tuple[str, int, int]) -> Participant:
    return Participant(
        assigned_surveys=[AssignedSurvey(survey_key=k, valid_from=f, valid_until=u) for k, f, u in specs]
    )


def _item(key: str, *children: ResponseItem, value: str = "", dtype: str = "") -> ResponseItem:
    return ResponseItem(key=key, value=value, dtype=dtype, items=list(children) or None)


def _response(response_key: str, items: dict[str, ResponseItem]) -> StudyEvent:
    responses = [SurveyItemResponse(key=k, response=v) for k, v in items.items()]
    return StudyEvent(type="SUBMIT", response=SurveyResponse(key=response_key, responses=responses))


RW = _response(
    "weekly",
    {
        "weekly.Q1": _item("rg", _item("1", value="something"), _item("2")),
        "weekly.Q2": _item("rg", _item("1", value="123.23", dtype="date")),
    },
)
RC = _response(
    "weekly",
    {
        "weekly.Q1": _item("rg", _item("mcg", _item("1"), _item("2"), _item("3"))),
        "weekly.Q2": _item("rg", _item("mcg")),
    },
)
RS = _response("weekly", {"weekly.Q1": _item("rg", _item("1", value="something"), _item("2"))})


def _mcg(item_key: str, group: str, *keys: str) -> StudyEvent:
    return _response("wwekly", {item_key: _item("rg", _item(group, *(_item(k) for k in keys)))})


A = ("weekly.G1.Q1", "rg.mcg", "1", "2")
ERR = object()

flags1 = Participant(flags={"key1": "value1"})
subs = {"test": NOW - 10}
msgs = [
    ParticipantMessage(type="testMessage2", scheduled_for=100),
    ParticipantMessage(type="testMessage", scheduled_for=200),
]

# (upstream number, expression, participant, event, expected)
VECTORS = [
    ("01", E("checkEventType", "ENTER"), None, StudyEvent(type="ENTER"), True),
    ("02", E("checkEventType", "ENTER"), None, StudyEvent(type="enter"), False),
    ("03", E("checkSurveyResponseKey", "weekly"), None, StudyEvent(type="SUBMIT"), False),
    (
        "04",
        E("checkSurveyResponseKey", "weekly"),
        None,
        StudyEvent(response=SurveyResponse(key="intake")),
        False,
    ),
    (
        "05",
        E("checkSurveyResponseKey", "weekly"),
        None,
        StudyEvent(response=SurveyResponse(key="weekly")),
        True,
    ),
    ("06", E("hasStudyStatus", "exited"), Participant(study_status="active"), None, False),
    ("07", E("hasStudyStatus", "active"), Participant(study_status="active"), None, True),
    ("08", E("hasEventPayload"), None, StudyEvent(payload={"test": "test"}), True),
    ("09", E("hasEventPayload"), None, StudyEvent(payload={}), False),
    ("10", E("hasEventPayload"), None, StudyEvent(payload=None), False),
    ("20", E("getStudyEntryTime"), Participant(entered_at=NOW), None, float(NOW)),
    ("21", E("hasSurveyKeyAssigned", "test1"), _surveys(("test1", 0, 0), ("test2", 0, 0)), None, True),
    ("22", E("hasSurveyKeyAssigned", "test1"), _surveys(("test2", 0, 0)), None, False),
    ("23", E("hasSurveyKeyAssigned"), _surveys(("test2", 0, 0)), None, ERR),
    ("24", E("hasSurveyKeyAssigned", E("")), _surveys(("test2", 0, 0)), None, ERR),
    (
        "25",
        E("getSurveyKeyAssignedFrom", "test1"),
        _surveys(("test1", 10, 100), ("test2", 10, 100)),
        None,
        10.0,
    ),
    ("26", E("getSurveyKeyAssignedFrom", "test1"), _surveys(("test2", 10, 100)), None, -1.0),
    ("27", E("getSurveyKeyAssignedFrom"), _surveys(("test1", 10, 100)), None, ERR),
    ("28", E("getSurveyKeyAssignedFrom", E("")), _surveys(("test1", 10, 100)), None, ERR),
    (
        "29",
        E("getSurveyKeyAssignedUntil", "test1"),
        _surveys(("test1", 10, 100), ("test2", 10, 100)),
        None,
        100.0,
    ),
    ("30", E("getSurveyKeyAssignedUntil", "test1"), _surveys(("test2", 10, 100)), None, -1.0),
    ("31", E("getSurveyKeyAssignedUntil"), _surveys(("test1", 10, 100)), None, ERR),
    ("32", E("getSurveyKeyAssignedUntil", E("")), _surveys(("test1", 10, 100)), None, ERR),
    ("33", E("hasParticipantFlag", "key1", "value1"), Participant(), None, False),
    ("34", E("hasParticipantFlag", "key1", "value1"), Participant(flags={"key2": "value1"}), None, False),
    ("35", E("hasParticipantFlag", "key1", "value1"), Participant(flags={"key1": "value2"}), None, False),
    ("36", E("hasParticipantFlag", "key1", "value1"), flags1, None, True),
    ("37", E("hasParticipantFlag"), flags1, None, ERR),
    ("38", E("hasParticipantFlag", 22, "value1"), flags1, None, ERR),
    ("39", E("hasParticipantFlag", "key1", 22), flags1, None, ERR),
    ("40", E("hasParticipantFlagKey", "key1"), Participant(), None, False),
    ("41", E("hasParticipantFlagKey", "key1"), Participant(flags={"key2": "1"}), None, False),
    ("42", E("hasParticipantFlagKey", "key1"), Participant(flags={"key2": "1", "key1": "1"}), None, True),
    ("43", E("getLastSubmissionDate", "test"), Participant(), None, 0.0),
    ("44", E("getLastSubmissionDate", "test"), Participant(last_submissions=subs), None, float(NOW - 10)),
    (
        "45",
        E("getLastSubmissionDate"),
        Participant(last_submissions={"test": NOW - 10, "test2": NOW - 20}),
        None,
        float(NOW - 10),
    ),
    ("46", E("getLastSubmissionDate", "wrong"), Participant(last_submissions=subs), None, 0.0),
    (
        "47",
        E("lastSubmissionDateOlderThan", E("timestampWithOffset", -10)),
        Participant(last_submissions={"s1": NOW - 2}),
        None,
        False,
    ),
    (
        "48",
        E("lastSubmissionDateOlderThan", E("timestampWithOffset", -10), "s2"),
        Participant(last_submissions={"s1": NOW - 2, "s2": NOW - 20}),
        None,
        True,
    ),
    (
        "49",
        E("lastSubmissionDateOlderThan", 10),
        Participant(last_submissions={"s1": NOW - 2, "s2": NOW - 20}),
        None,
        False,
    ),
    (
        "50",
        E("lastSubmissionDateOlderThan", E("timestampWithOffset", -10)),
        Participant(last_submissions={"s1": NOW - 25, "s2": NOW - 20}),
        None,
        True,
    ),
    ("51", E("hasMessageTypeAssigned", "testMessage"), Participant(messages=[]), None, False),
    ("52", E("hasMessageTypeAssigned", "testMessage"), Participant(messages=msgs[:1]), None, False),
    ("53", E("hasMessageTypeAssigned", "testMessage"), Participant(messages=msgs), None, True),
    ("54", E("getMessageNextTime", "testMessage"), Participant(), None, ERR),
    ("55", E("getMessageNextTime", "testMessage"), Participant(messages=msgs[:1]), None, ERR),
    (
        "56",
        E("getMessageNextTime", "testMessage"),
        Participant(
            messages=[
                ParticipantMessage(type="testMessage2", scheduled_for=50),
                ParticipantMessage(type="testMessage", scheduled_for=100),
            ]
        ),
        None,
        GoInt64(100),
    ),
    (
        "57",
        E("getMessageNextTime", "testMessage"),
        Participant(
            messages=[
                ParticipantMessage(type="testMessage1", scheduled_for=100),
                ParticipantMessage(type="testMessage", scheduled_for=200),
                ParticipantMessage(type="testMessage", scheduled_for=400),
            ]
        ),
        None,
        GoInt64(200),
    ),
    ("58", E("hasResponseKey", "weekly.Q3", "rg.1"), None, RW, False),
    ("59", E("hasResponseKey", "weekly.Q1", "rg.wrong"), None, RW, False),
    ("60", E("hasResponseKey", "weekly.Q1", "rg.1.1"), None, RW, False),
    ("61", E("hasResponseKey", "weekly.Q1", "rg.2"), None, RW, True),
    ("62", E("hasResponseKeyWithValue", "weekly.Q3", "rg.1", "something"), None, RW, False),
    ("63", E("hasResponseKeyWithValue", "weekly.Q1", "rg.wrong", "something"), None, RW, False),
    ("64", E("hasResponseKeyWithValue", "weekly.Q1", "rg.2", "something"), None, RW, False),
    ("65", E("hasResponseKeyWithValue", "weekly.Q1", "rg.1", "something"), None, RW, True),
    ("66", E("getResponseValueAsNum", "weekly.Q3", "rg.1"), None, RW, ERR),
    ("67", E("getResponseValueAsNum", "weekly.Q1", "rg.wrong"), None, RW, ERR),
    ("68", E("getResponseValueAsNum", "weekly.Q1", "rg.2"), None, RW, ERR),
    ("69", E("getResponseValueAsNum", "weekly.Q1", "rg.1"), None, RW, ERR),
    ("70", E("getResponseValueAsNum", "weekly.Q2", "rg.1"), None, RW, 123.23),
    ("71", E("countResponseItems", "weekly.Q3", "rg.mcg"), None, RC, ERR),
    ("72", E("countResponseItems", "weekly.Q1", "rg.wrong"), None, RC, ERR),
    ("73", E("countResponseItems", "weekly.Q2", "rg.mcg"), None, RC, 0.0),
    ("74", E("countResponseItems", "weekly.Q1", "rg.mcg"), None, RC, 3.0),
    ("75", E("getResponseValueAsStr", "weekly.Q3", "rg.1"), None, RS, ERR),
    ("76", E("getResponseValueAsStr", "weekly.Q1", "rg.wrong"), None, RS, ERR),
    ("77", E("getResponseValueAsStr", "weekly.Q1", "rg.2"), None, RS, ""),
    ("78", E("getResponseValueAsStr", "weekly.Q1", "rg.1"), None, RS, "something"),
    ("81", E("responseHasOnlyKeysOtherThan", *A), None, _mcg("weekly.G1.Q2", "mcg", "0"), False),
    ("82", E("responseHasOnlyKeysOtherThan", *A), None, _mcg("weekly.G1.Q1", "scg", "0"), False),
    ("83", E("responseHasOnlyKeysOtherThan", *A), None, _mcg("weekly.G1.Q1", "mcg", "0", "1", "3"), False),
    ("84", E("responseHasOnlyKeysOtherThan", *A), None, _mcg("weekly.G1.Q1", "mcg"), False),
    ("85", E("responseHasOnlyKeysOtherThan", *A), None, _mcg("weekly.G1.Q1", "mcg", "0", "1", "2"), False),
    ("86", E("responseHasOnlyKeysOtherThan", *A), None, _mcg("weekly.G1.Q1", "mcg", "0", "3"), True),
    ("87", E("responseHasKeysAny", *A), None, _mcg("weekly.G1.Q2", "mcg", "0"), False),
    ("88", E("responseHasKeysAny", *A), None, _mcg("weekly.G1.Q1", "scg", "0"), False),
    ("89", E("responseHasKeysAny", *A), None, _mcg("weekly.G1.Q1", "mcg", "0", "3"), False),
    ("90", E("responseHasKeysAny", *A), None, _mcg("weekly.G1.Q1", "mcg", "0", "1", "2"), True),
    ("91", E("responseHasKeysAny", *A), None, _mcg("weekly.G1.Q1", "mcg", "0", "1"), True),
]

_LOGIC = [
    ("092", "eq", 23, 23, True), ("093", "eq", 13, 23, False), ("094", "eq", "enter", "enter", True),
    ("095", "eq", "enter", "time...", False),
    ("096", "lt", 2, 2, False), ("097", "lt", 2, 1, False), ("098", "lt", 1, 2, True), ("099", "lt", "a", "b", True),
    ("100", "lt", "b", "b", False), ("101", "lt", "b", "a", False),
    ("102", "lte", 2, 2, True), ("103", "lte", 2, 1, False), ("104", "lte", 1, 2, True), ("105", "lte", "a", "b", True),
    ("106", "lte", "b", "b", True), ("107", "lte", "b", "a", False),
    ("108", "gt", 2, 2, False), ("109", "gt", 2, 1, True), ("110", "gt", 1, 2, False), ("111", "gt", "a", "b", False),
    ("112", "gt", "b", "b", False), ("113", "gt", "b", "a", True),
    ("114", "gte", 2, 2, True), ("115", "gte", 2, 1, True), ("116", "gte", 1, 2, False), ("117", "gte", "a", "b", False),
    ("118", "gte", "b", "b", True), ("119", "gte", "b", "a", True),
    ("120", "and", 0, 0, False), ("121", "and", 1, 0, False), ("122", "and", 0, 1, False), ("123", "and", 1, 1, True),
    ("124", "or", 0, 0, False), ("125", "or", 1, 0, True), ("126", "or", 0, 1, True), ("127", "or", 1, 1, True),
    ("130", "sum", 0, 1, 1.0), ("131", "sum", 1, 1, 2.0), ("132", "sum", -1, 2, 1.0),
]  # fmt: skip


def _assert_value(result: object, expected: object) -> None:
    assert type(result) is type(expected)
    assert result == expected


@pytest.mark.parametrize(
    ("expression", "participant", "event", "expected"),
    [pytest.param(e, p, ev, x, id=f"expressions_test#{n}-{e.name}") for n, e, p, ev, x in VECTORS],
)
def test_upstream_expression_vector(expression, participant, event, expected) -> None:
    if expected is ERR:
        with pytest.raises(StudyEngineError):
            evaluate(expression, participant, event, _engine())
    else:
        _assert_value(evaluate(expression, participant, event, _engine()), expected)


@pytest.mark.parametrize(
    ("name", "a", "b", "expected"),
    [pytest.param(op, a, b, x, id=f"expressions_test#{n}-{op}") for n, op, a, b, x in _LOGIC],
)
def test_upstream_logic_vector(name: str, a: object, b: object, expected: object) -> None:
    _assert_value(evaluate(E(name, a, b)), expected)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        pytest.param(E("not", 0), True, id="expressions_test#128-not"),
        pytest.param(E("not", 1), False, id="expressions_test#129-not"),
        pytest.param(E("sum", 1, 1, 1), 3.0, id="expressions_test#133-sum"),
        pytest.param(E("sum", E("or", 1, 1), E("or", 1, 1)), 2.0, id="expressions_test#134-sum"),
        pytest.param(E("sum", E("or", 0, 0), E("or", 0, 0)), 0.0, id="expressions_test#135-sum"),
        pytest.param(E("sum", E("or", 1, 1), E("or", 0, 0)), 1.0, id="expressions_test#136-sum"),
        pytest.param(E("sum", E("or", 0, 0), E("or", 1, 1)), 1.0, id="expressions_test#137-sum"),
        pytest.param(E("neg", 1), -1.0, id="expressions_test#139-neg"),
        pytest.param(E("neg", -1), 1.0, id="expressions_test#140-neg"),
    ],
)
def test_upstream_logic_and_math_vector(expression, expected) -> None:
    _assert_value(evaluate(expression), expected)


def test_upstream_138_neg_zero_is_negative_zero() -> None:
    result = evaluate(E("neg", 0))
    assert result == 0.0 and math.copysign(1, result) == -1


@pytest.mark.parametrize(
    ("arg", "expected"),
    [
        pytest.param(num_arg(0), ERR, id="expressions_test#79-mustGetStr-num"),
        pytest.param(string_arg("hello"), "hello", id="expressions_test#80-mustGetStr-str"),
    ],
)
def test_upstream_must_get_str(arg: ExpressionArg, expected: object) -> None:
    engine = _engine()
    from usermgmt_pipeline.studyengine.runtime import EvalContext

    ctx = EvalContext(event=StudyEvent(type=""), participant=Participant())
    if expected is ERR:
        with pytest.raises(StudyEngineError):
            engine.expressions.must_get_str(arg, ctx)
    else:
        assert engine.expressions.must_get_str(arg, ctx) == expected


# ---------------------------------------------------------------- time (T = fixed engine clock)

T = NOW
r = T - 31536000
TWO = [
    ("141", E("timestampWithOffset", 0), float(T)),
    ("142", E("timestampWithOffset", 10), float(T + 10)),
    ("143", E("timestampWithOffset", -10), float(T - 10)),
    ("144", E("timestampWithOffset", "0"), ERR),
    ("145", E("timestampWithOffset", 0, r), float(r)),
    ("146", E("timestampWithOffset", 10, r), float(r + 10)),
    ("147", E("timestampWithOffset", -10, r), float(r - 10)),
    ("148", E("timestampWithOffset", "0", r), ERR),
    ("149", E("timestampWithOffset", 10, "1"), ERR),
    ("150", E("timestampWithOffset", "0", "1"), ERR),
    ("151", E("timestampWithOffset", E("timestampWithOffset", -T)), float(T)),
    ("152", E("timestampWithOffset", E("timestampWithOffset", -T), E("timestampWithOffset", -T)), 0.0),
    ("153", E("timestampWithOffset", E("or", 1, 1), E("timestampWithOffset", -T)), ERR),
    ("154", E("timestampWithOffset", E("timestampWithOffset", -T), E("or", 1, 1)), ERR),
    ("155", E("getISOWeekForTs", "test"), ERR),
    ("156", E("getISOWeekForTs", 1577836800), 1.0),
    (
        "157",
        E("getISOWeekForTs", E("timestampWithOffset", 0)),
        float(datetime.fromtimestamp(T, UTC).isocalendar()[1]),
    ),
    ("158", E("getTsForNextStartOfMonth", "wrong"), ERR),
    ("159", E("getTsForNextStartOfMonth", 0), ERR),
    ("160", E("getTsForNextStartOfMonth", 3, "test"), ERR),
    ("161", E("getTsForNextStartOfMonth", "January"), float(datetime(2024, 1, 1, tzinfo=UTC).timestamp())),
    ("162", E("getTsForNextStartOfMonth", 1, 1694304000), 1704067200.0),
    ("163", E("getTsForNextStartOfMonth", 1, E("timestampWithOffset", 0)), 1704067200.0),
    ("164", E("getTsForNextISOWeek", "test"), ERR),
    ("165", E("getTsForNextISOWeek", 0), ERR),
    ("166", E("getTsForNextISOWeek", 3, "test"), ERR),
    ("172", E("timestampWithOffset", -10), float(T - 10)),
]


@pytest.mark.parametrize(
    ("expression", "expected"), [pytest.param(e, x, id=f"expressions_test#{n}-{e.name}") for n, e, x in TWO]
)
def test_upstream_time_vector(expression, expected) -> None:
    if expected is ERR:
        with pytest.raises(StudyEngineError):
            evaluate(expression, engine=_engine())
    else:
        _assert_value(evaluate(expression, engine=_engine()), expected)


@pytest.mark.parametrize(
    "expression",
    [
        pytest.param(E("getTsForNextISOWeek", 1), id="expressions_test#167-getTsForNextISOWeek"),
        pytest.param(E("getTsForNextISOWeek", 1, 1694304000), id="expressions_test#168-getTsForNextISOWeek"),
        pytest.param(
            E("getTsForNextISOWeek", 1, E("timestampWithOffset", 0)),
            id="expressions_test#169-getTsForNextISOWeek",
        ),
    ],
)
def test_upstream_next_iso_week_lands_in_week_one_of_next_year(expression) -> None:
    # Clock 2023-11-14 and ref 2023-09-10: both are in 2023, so the target is ISO 2024-W01.
    result = evaluate(expression, engine=_engine())
    assert datetime.fromtimestamp(result, UTC).isocalendar()[:2] == (2024, 1)


def test_upstream_170_default_clock_is_system_time() -> None:
    engine = StudyEngine(store=None, external_services=[])
    before = int(datetime.now(UTC).timestamp())
    assert before <= engine.runtime.now() <= before + 1


def test_upstream_171_clock_override() -> None:
    assert (
        StudyEngine(store=None, external_services=[], clock=fixed_clock(1730419200)).runtime.now()
        == 1730419200
    )


# ---------------------------------------------------------------- misc

flags3 = Participant(flags={"testKey": "3"})
MISC = [
    ("173", E("generateRandomNumber", "wrong", "wrong"), ERR),
    ("174", E("generateRandomNumber", 10), ERR),
    ("176", E("parseValueAsNum", "wrong"), ERR),
    ("177", E("parseValueAsNum", "15"), 15.0),
    ("178", E("parseValueAsNum", 65), 65.0),
    ("179", E("parseValueAsNum", E("wrong")), ERR),
    ("180", E("parseValueAsNum", E("timestampWithOffset", -10)), float(NOW - 10)),
    ("181", E("parseValueAsNum", E("gt", -10, 10)), ERR),
    ("182", E("parseValueAsNum", E("getParticipantFlagValue", "testKey")), 3.0),
]


@pytest.mark.parametrize(
    ("expression", "expected"), [pytest.param(e, x, id=f"expressions_test#{n}-{e.name}") for n, e, x in MISC]
)
def test_upstream_misc_vector(expression, expected) -> None:
    if expected is ERR:
        with pytest.raises(StudyEngineError):
            evaluate(expression, flags3, engine=_engine())
    else:
        _assert_value(evaluate(expression, flags3, engine=_engine()), expected)


def test_upstream_175_random_numbers_stay_in_inclusive_range() -> None:
    results = {evaluate(E("generateRandomNumber", 10, 20)) for _ in range(100)}
    assert results <= {float(v) for v in range(10, 21)}
