"""Upstream actions_test.go vectors (docs/study-engine.md §7.2) and LEAVE-specific action behaviour."""

from __future__ import annotations

import pytest

from usermgmt_pipeline.studyengine import StudyEngine, StudyEngineError, StudyEvent
from usermgmt_pipeline.studyengine.actions import SEND_MESSAGE_NOW_UNSUPPORTED, ActionData, ActionFailure
from usermgmt_pipeline.studyengine.event import SurveyResponse
from usermgmt_pipeline.studyengine.model import Expression
from usermgmt_pipeline.studyengine.participant import Participant, ParticipantMessage
from usermgmt_pipeline.studyengine.report import Report, ReportData
from usermgmt_pipeline_tests.studyengine.builders import expr
from usermgmt_pipeline_tests.studyengine.conftest import FIXED_NOW, fixed_clock

E = expr
NOW = FIXED_NOW
SUBMIT = StudyEvent(type="SUBMIT", response=SurveyResponse(key="test"))


def _engine() -> StudyEngine:
    return StudyEngine(store=None, external_services=[], clock=fixed_clock(NOW))


def _start() -> ActionData:
    return ActionData(
        participant=Participant(
            participant_id="participant1234", study_status="active", flags={"health": "test"}
        )
    )


def _run(action: Expression, state: ActionData | None = None, event: StudyEvent = SUBMIT) -> ActionData:
    return _engine().actions.run(action, state or _start(), event)


def USS(status: str) -> Expression:
    return E("UPDATE_STUDY_STATUS", status)


def test_upstream_A1_unknown_action_is_an_error() -> None:
    with pytest.raises(ActionFailure) as failure:
        _run(E("WRONG"))
    assert "action name not known" in str(failure.value.error)


@pytest.mark.parametrize(
    ("action", "status"),
    [
        pytest.param(E("IFTHEN", 0, USS("testflag_cond")), "active", id="actions_test#A2-IFTHEN-false"),
        pytest.param(
            E("IFTHEN", 1, USS("testflag_cond"), USS("testflag_cond2")),
            "testflag_cond2",
            id="actions_test#A3-IFTHEN-true",
        ),
        pytest.param(E("IF", 0, USS("testflag_cond")), "active", id="actions_test#A4-IF-false"),
        pytest.param(E("IF", 1, USS("testflag_cond")), "testflag_cond", id="actions_test#A5-IF-true"),
        pytest.param(
            E("IF", 0, USS("testflag_cond"), USS("testflag_cond2")),
            "testflag_cond2",
            id="actions_test#A6-IF-else",
        ),
    ],
)
def test_upstream_control_flow(action: Expression, status: str) -> None:
    assert _run(action).participant.study_status == status


def test_upstream_submit_prestep_records_last_submission() -> None:
    assert _run(USS("x")).participant.last_submissions == {"test": NOW}


def test_upstream_A7_A8_update_flag_formats_values_like_go() -> None:
    assert _run(E("UPDATE_FLAG", "key", "value")).participant.flags == {"health": "test", "key": "value"}
    flags = _run(E("UPDATE_FLAG", "keyNum", 14)).participant.flags
    assert flags is not None and flags["keyNum"] == "14.000000" and float(flags["keyNum"]) == 14


def test_upstream_A9_remove_flag() -> None:
    assert _run(E("REMOVE_FLAG", "health")).participant.flags == {}


def _add(key: str) -> Expression:
    return E("ADD_NEW_SURVEY", key, NOW - 10, NOW + 10, "normal")


def _keys(state: ActionData) -> list[str]:
    return [s.survey_key for s in state.participant.assigned_surveys or []]


def test_upstream_A10_add_new_survey() -> None:
    surveys = _run(_add("testSurveyKey")).participant.assigned_surveys
    assert surveys is not None and len(surveys) == 1
    assert (surveys[0].valid_from, surveys[0].valid_until, surveys[0].study_key, surveys[0].profile_id) == (
        NOW - 10,
        NOW + 10,
        "",
        "",
    )


def test_upstream_A11_remove_all_surveys() -> None:
    state = _run(_add("testSurveyKey"), _run(_add("testSurveyKey")))
    assert len(_keys(state)) == 2
    assert _run(E("REMOVE_ALL_SURVEYS"), state).participant.assigned_surveys == []


def _three(first: str, second: str, third: str) -> ActionData:
    return _run(_add(third), _run(_add(second), _run(_add(first))))


def test_upstream_A12_remove_last_survey_by_key() -> None:
    state = _three("testSurveyKey1", "testSurveyKey2", "testSurveyKey1")
    assert _keys(_run(E("REMOVE_SURVEY_BY_KEY", "testSurveyKey1", "last"), state)) == [
        "testSurveyKey1",
        "testSurveyKey2",
    ]


def test_upstream_A13_remove_first_survey_by_key() -> None:
    state = _three("testSurveyKey1", "testSurveyKey2", "testSurveyKey1")
    assert _keys(_run(E("REMOVE_SURVEY_BY_KEY", "testSurveyKey1", "first"), state)) == [
        "testSurveyKey2",
        "testSurveyKey1",
    ]


def test_upstream_A14_remove_surveys_by_key() -> None:
    state = _three("testSurveyKey1", "testSurveyKey1", "testSurveyKey2")
    assert _keys(_run(E("REMOVE_SURVEYS_BY_KEY", "testSurveyKey1"), state)) == ["testSurveyKey2"]


def test_upstream_A15_to_A17_messages() -> None:
    state = _run(E("ADD_MESSAGE", "testMessage", NOW - 10))
    assert [(m.type, m.scheduled_for) for m in state.participant.messages or []] == [
        ("testMessage", NOW - 10)
    ]
    state = _run(E("ADD_MESSAGE", "testMessage2", E("timestampWithOffset", 0)), state)
    messages = state.participant.messages or []
    assert len(messages) == 2 and messages[1].type == "testMessage2" and len(messages[1].id) == 24
    assert _run(E("REMOVE_ALL_MESSAGES"), state).participant.messages == []


def test_upstream_A18_remove_messages_by_type() -> None:
    types = ["testMessage1", "testMessage1", "testMessage2", "testMessage3", "testMessage4"]
    state = ActionData(participant=Participant(messages=[ParticipantMessage(type=t) for t in types]))
    assert len(_run(E("REMOVE_MESSAGES_BY_TYPE", "testMessage1"), state).participant.messages or []) == 3


# ---------------------------------------------------------------- TestReportActions


def _with_reports(*reports: Report) -> ActionData:
    return ActionData(participant=Participant(participant_id="participant1234"), reports=list(reports))


def test_upstream_R1_init_report() -> None:
    reports = _run(E("INIT_REPORT", "key1"), _with_reports()).reports
    assert [(r.key, r.timestamp, r.participant_id, r.data) for r in reports] == [
        ("key1", NOW, "participant1234", None)
    ]


@pytest.mark.parametrize("value", ["v1", "v2"], ids=["actions_test#R2", "actions_test#R4"])
def test_upstream_R2_R4_update_report_data_autoinitialises_newest(value: str) -> None:
    reports = _run(E("UPDATE_REPORT_DATA", "key2", "d1", value), _with_reports(Report(key="key1"))).reports
    assert [r.key for r in reports] == ["key2", "key1"]
    assert reports[0].data == [ReportData(key="d1", value=value)]


def test_upstream_R3_update_report_data_with_empty_exp_fails_but_keeps_new_report() -> None:
    action = Expression(name="UPDATE_REPORT_DATA", data=[*E("x", "key2", "d1").data, E("x", 0).data[0]])
    action.data[2].dtype, action.data[2].exp = "exp", None
    with pytest.raises(ActionFailure) as failure:
        _run(action, _with_reports(Report(key="key1")))
    assert [r.key for r in failure.value.state.reports] == ["key2", "key1"]


def test_upstream_R5_remove_report_data_leaves_empty_list() -> None:
    state = _with_reports(Report(key="key2", data=[ReportData("d1", "v2")]), Report(key="key1"))
    reports = _run(E("REMOVE_REPORT_DATA", "key2", "d1"), state).reports
    assert len(reports) == 2 and reports[0].data == []


def test_upstream_R6_cancel_report() -> None:
    reports = _run(E("CANCEL_REPORT", "key2"), _with_reports(Report(key="key2"), Report(key="key1"))).reports
    assert [r.key for r in reports] == ["key1"]


# ---------------------------------------------------------------- behaviour on LEAVE

LEAVE = StudyEvent(
    instance_id="i1", study_key="s1", type="LEAVE", participant_id_for_confidential_responses="cid"
)


def test_send_message_now_fails_without_message_sender() -> None:
    with pytest.raises(ActionFailure) as failure:
        _run(E("SEND_MESSAGE_NOW", "goodbye"), event=LEAVE)
    assert SEND_MESSAGE_NOW_UNSUPPORTED in str(failure.value.error)


def test_send_message_now_inside_ifthen_is_swallowed_but_at_top_level_aborts() -> None:
    rules = [E("IFTHEN", E("checkEventType", "LEAVE"), E("SEND_MESSAGE_NOW", "bye"), USS("left"))]
    result = _engine().run_rules(rules, LEAVE, Participant(study_status="active"))
    assert result.participant.study_status == "left"
    with pytest.raises(StudyEngineError, match=r"rule #0 \(SEND_MESSAGE_NOW\).*not supported"):
        _engine().run_rules([E("SEND_MESSAGE_NOW", "bye")], LEAVE, Participant())


def test_do_stops_at_first_error_keeping_earlier_effects() -> None:
    action = E("DO", USS("a"), E("UPDATE_FLAG", 1, "x"), USS("b"))
    with pytest.raises(ActionFailure) as failure:
        _run(action, event=LEAVE)
    assert failure.value.state.participant.study_status == "a"


def test_leave_rules_with_no_matching_handler_return_state_unchanged() -> None:
    participant = Participant(participant_id="p", study_status="active", flags={"a": "b"})
    rules = [
        E("IFTHEN", E("checkEventType", "ENTER"), USS("x")),
        E("IFTHEN", E("checkEventType", "SUBMIT"), USS("y")),
    ]
    result = _engine().run_rules(rules, LEAVE, participant)
    assert result.participant == participant and result.reports == []


def test_if_with_exp_dtype_but_no_expression_is_a_panic_error() -> None:
    from usermgmt_pipeline.studyengine import StudyEnginePanic
    from usermgmt_pipeline.studyengine.model import ExpressionArg

    rule = Expression(name="IFTHEN", data=[ExpressionArg(dtype="exp")])
    with pytest.raises(StudyEnginePanic):
        _engine().run_rules([rule], LEAVE, Participant())
