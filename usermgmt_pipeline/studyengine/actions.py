"""The 35 actions (docs/study-engine.md §4): each maps ``(action, state, event)`` to a new state or a failure.

Go returns the state *at the moment of failure* with the error (usually the input state; DO, IF,
UPDATE_REPORT_DATA and DRAW_STUDY_CODE_AS_LINKING_CODE can return a changed one), and IFTHEN carries on
with it. :class:`ActionFailure` carries that state. Actions never mutate their input: lists, maps and
reports are copied before a change, so a failed branch cannot leak half-done edits.

Decisions (docs/decisions.md): ``SEND_MESSAGE_NOW`` fails - the user-management job has no study message
sender, as in Go; ``EXTERNAL_EVENT_HANDLER`` applies a returned ``pState`` (replaces the participant
state; ``null`` keeps it) and ``reportsToCreate`` (a list or an object of reports, prepended in the
given order) instead of Go's panic / silent drop.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import partial
from typing import Any

from bson import Int64, ObjectId

from usermgmt_pipeline.errors import UsermgmtError
from usermgmt_pipeline.go_unmarshal import GoDecodeError, JSONObject
from usermgmt_pipeline.studyengine.errors import StudyEngineError, StudyEnginePanic
from usermgmt_pipeline.studyengine.event import StudyEvent
from usermgmt_pipeline.studyengine.expressions import ExpressionEvaluator
from usermgmt_pipeline.studyengine.external import build_payload
from usermgmt_pipeline.studyengine.goformat import go_format_f, go_format_padded_int
from usermgmt_pipeline.studyengine.model import Expression, ExpressionArg
from usermgmt_pipeline.studyengine.participant import AssignedSurvey, Participant, ParticipantMessage
from usermgmt_pipeline.studyengine.report import Report, ReportData
from usermgmt_pipeline.studyengine.runtime import EvalContext
from usermgmt_pipeline.studyengine.store import StudyEngineStore
from usermgmt_pipeline.studyengine.values import go_trunc, is_bool, is_float, is_str

SEND_MESSAGE_NOW_UNSUPPORTED = (
    "SEND_MESSAGE_NOW is not supported by the user-management job: "
    "message sender for study engine not registered"
)


@dataclass
class ActionData:
    """The state threaded through actions; ``reports`` is most-recent-first."""

    participant: Participant
    reports: list[Report] = field(default_factory=list)


class ActionFailure(UsermgmtError):
    """An action error together with the state Go returns alongside it."""

    def __init__(self, error: StudyEngineError, state: ActionData) -> None:
        super().__init__(str(error))
        self.error = error
        self.state = state


ActionFn = Callable[["ActionEvaluator", Expression, ActionData, StudyEvent], ActionData]
_ACTIONS: dict[str, ActionFn] = {}


def _action(name: str) -> Callable[[ActionFn], ActionFn]:
    def decorator(function: ActionFn) -> ActionFn:
        _ACTIONS[name] = function
        return function

    return decorator


def _with_participant(state: ActionData, **changes: Any) -> ActionData:
    return ActionData(participant=replace(state.participant, **changes), reports=state.reports)


class ActionEvaluator:
    def __init__(self, expressions: ExpressionEvaluator) -> None:
        self.expressions = expressions
        self.runtime = expressions.runtime
        # Errors IFTHEN swallows (Go only logs them); surfaced in ActionResult so the job can report them.
        self.swallowed_errors: list[str] = []

    def run(self, action: Expression, state: ActionData, event: StudyEvent) -> ActionData:
        """Go ``ActionEval``; raises :class:`ActionFailure` (or :class:`StudyEnginePanic`)."""
        if event.type == "SUBMIT":
            state = self._record_submission(state, event)
        function = _ACTIONS.get(action.name)
        if function is None:
            raise ActionFailure(StudyEngineError(f"action name not known: {action.name}"), state)
        try:
            return function(self, action, state, event)
        except StudyEnginePanic:
            raise
        except StudyEngineError as exc:
            raise ActionFailure(_named(action.name, exc), state) from exc

    def _record_submission(self, state: ActionData, event: StudyEvent) -> ActionData:
        if event.response.key == "":
            raise ActionFailure(StudyEngineError("no response key found"), state)
        submissions = dict(state.participant.last_submissions or {})
        submissions[event.response.key] = event.response.arrived_at or self.runtime.now()
        return _with_participant(state, last_submissions=submissions)

    def context(self, state: ActionData, event: StudyEvent) -> EvalContext:
        return EvalContext(event=event, participant=state.participant)

    def resolve(self, arg: ExpressionArg, state: ActionData, event: StudyEvent) -> Any:
        return self.expressions.resolve(arg, self.context(state, event))

    def resolve_str(self, arg: ExpressionArg, state: ActionData, event: StudyEvent, what: str) -> str:
        value = self.resolve(arg, state, event)
        if not is_str(value):
            raise StudyEngineError(f"could not parse {what}")
        return value

    def condition_holds(self, arg: ExpressionArg, state: ActionData, event: StudyEvent) -> bool:
        """IF/IFTHEN condition: non-exp -> ``num != 0``; exp -> only a bool ``true`` counts."""
        if not arg.is_expression:
            return arg.num != 0
        if arg.exp is None:
            raise StudyEnginePanic("condition argument has dtype exp but no expression")
        try:
            value = self.expressions.evaluate(arg.exp, self.context(state, event))
        except StudyEnginePanic:
            raise
        except StudyEngineError:
            return False
        return is_bool(value) and value

    def run_child(self, arg: ExpressionArg, state: ActionData, event: StudyEvent) -> ActionData:
        if arg.exp is None:
            raise StudyEnginePanic("action argument has dtype exp but no expression")
        return self.run(arg.exp, state, event)


def _named(name: str, error: StudyEngineError) -> StudyEngineError:
    message = str(error)
    return error if message.startswith(name) else StudyEngineError(f"{name}: {message}")


def _exactly(action: Expression, count: int) -> None:
    if len(action.data) != count:
        raise StudyEngineError(f"{action.name} must have exactly {count} argument(s)")


def _at_least(action: Expression, count: int) -> None:
    if len(action.data) < count:
        raise StudyEngineError(f"{action.name} must have at least {count} argument(s)")


def _format_value(value: Any) -> str:
    if is_str(value):
        return value
    if is_float(value):
        return go_format_f(value)
    if is_bool(value):
        return "true" if value else "false"
    return ""


# ---------------------------------------------------------------- control flow


@_action("IF")
def _if(ev: ActionEvaluator, action: Expression, state: ActionData, event: StudyEvent) -> ActionData:
    _at_least(action, 2)
    if ev.condition_holds(action.data[0], state, event):
        branch: ExpressionArg | None = action.data[1]
    elif len(action.data) == 3:
        branch = action.data[2]
    else:
        branch = None
    if branch is not None and branch.is_expression:
        return ev.run_child(branch, state, event)
    return state


@_action("DO")
def _do(ev: ActionEvaluator, action: Expression, state: ActionData, event: StudyEvent) -> ActionData:
    for arg in action.data:
        if arg.is_expression:
            state = ev.run_child(arg, state, event)
    return state


@_action("IFTHEN")
def _if_then(ev: ActionEvaluator, action: Expression, state: ActionData, event: StudyEvent) -> ActionData:
    _at_least(action, 1)
    if not ev.condition_holds(action.data[0], state, event):
        return state
    for arg in action.data[1:]:
        if arg.is_expression:
            try:
                state = ev.run_child(arg, state, event)
            except ActionFailure as failure:
                state = failure.state  # Go logs the child's error and carries on with its state
                ev.swallowed_errors.append(f"IFTHEN: {failure.error}")
    return state


# ---------------------------------------------------------------- participant state


@_action("UPDATE_STUDY_STATUS")
def _update_status(
    ev: ActionEvaluator, action: Expression, state: ActionData, event: StudyEvent
) -> ActionData:
    _exactly(action, 1)
    status = ev.resolve_str(action.data[0], state, event, "argument")
    return _with_participant(state, study_status=status)


@_action("START_NEW_STUDY_SESSION")
def _new_session(ev: ActionEvaluator, action: Expression, state: ActionData, event: StudyEvent) -> ActionData:
    # Real system time, not the engine clock (docs/study-engine.md §2.10); hex without padding + 4 random bytes.
    session = format(int(time.time()), "x") + os.urandom(4).hex()
    return _with_participant(state, current_study_session=session)


@_action("UPDATE_FLAG")
def _update_flag(ev: ActionEvaluator, action: Expression, state: ActionData, event: StudyEvent) -> ActionData:
    _exactly(action, 2)
    key = ev.resolve(action.data[0], state, event)
    value = ev.resolve(action.data[1], state, event)
    if not is_str(key):
        raise StudyEngineError("could not parse flag key")
    flags = dict(state.participant.flags or {})
    flags[key] = _format_value(value)
    return _with_participant(state, flags=flags)


@_action("REMOVE_FLAG")
def _remove_flag(ev: ActionEvaluator, action: Expression, state: ActionData, event: StudyEvent) -> ActionData:
    _exactly(action, 1)
    key = ev.resolve_str(action.data[0], state, event, "key")
    if state.participant.flags is None:
        return state
    flags = {k: v for k, v in state.participant.flags.items() if k != key}
    return _with_participant(state, flags=flags)


@_action("SET_LINKING_CODE")
def _set_linking_code(
    ev: ActionEvaluator, action: Expression, state: ActionData, event: StudyEvent
) -> ActionData:
    _exactly(action, 2)
    key = ev.resolve_str(action.data[0], state, event, "key")
    value = ev.resolve_str(action.data[1], state, event, "value")
    codes = dict(state.participant.linking_codes or {})
    codes[key] = value
    return _with_participant(state, linking_codes=codes)


@_action("DELETE_LINKING_CODE")
def _delete_linking_code(
    ev: ActionEvaluator, action: Expression, state: ActionData, event: StudyEvent
) -> ActionData:
    if not action.data:
        return _with_participant(state, linking_codes={})
    key = ev.resolve_str(action.data[0], state, event, "key")
    if state.participant.linking_codes is None:
        return state
    codes = {k: v for k, v in state.participant.linking_codes.items() if k != key}
    return _with_participant(state, linking_codes=codes)


@_action("ADD_NEW_SURVEY")
def _add_survey(ev: ActionEvaluator, action: Expression, state: ActionData, event: StudyEvent) -> ActionData:
    _exactly(action, 4)
    key, start, end, category = (ev.resolve(arg, state, event) for arg in action.data)
    if not is_str(key) or not is_str(category):
        raise StudyEngineError("could not parse arguments")
    survey = AssignedSurvey(
        survey_key=key,
        valid_from=go_trunc(start) if is_float(start) else 0,
        valid_until=go_trunc(end) if is_float(end) else 0,
        category=category,
    )
    surveys = [*(state.participant.assigned_surveys or []), survey]
    return _with_participant(state, assigned_surveys=surveys)


@_action("REMOVE_ALL_SURVEYS")
def _remove_all_surveys(
    ev: ActionEvaluator, action: Expression, state: ActionData, event: StudyEvent
) -> ActionData:
    if action.data:
        raise StudyEngineError("removeAllSurveys must not have arguments")
    return _with_participant(state, assigned_surveys=[])


@_action("REMOVE_SURVEY_BY_KEY")
def _remove_survey_by_key(
    ev: ActionEvaluator, action: Expression, state: ActionData, event: StudyEvent
) -> ActionData:
    _exactly(action, 2)
    key = ev.resolve(action.data[0], state, event)
    position = ev.resolve(action.data[1], state, event)
    if not is_str(key) or not is_str(position):
        raise StudyEngineError("could not parse arguments")
    surveys = state.participant.assigned_surveys
    if position == "first":
        result: list[AssignedSurvey] = []
        removed = False
        for survey in surveys or []:
            if survey.survey_key == key and not removed:
                removed = True
                continue
            result.append(survey)
        return _with_participant(state, assigned_surveys=result)
    if position == "last":
        indexes = [i for i, survey in enumerate(surveys or []) if survey.survey_key == key]
        if not indexes or surveys is None:
            return state  # no match: the list object itself is kept (null stays null)
        return _with_participant(state, assigned_surveys=surveys[: indexes[-1]] + surveys[indexes[-1] + 1 :])
    raise StudyEngineError("position not known")


@_action("REMOVE_SURVEYS_BY_KEY")
def _remove_surveys_by_key(
    ev: ActionEvaluator, action: Expression, state: ActionData, event: StudyEvent
) -> ActionData:
    _exactly(action, 1)
    key = ev.resolve_str(action.data[0], state, event, "arguments")
    surveys = [s for s in state.participant.assigned_surveys or [] if s.survey_key != key]
    return _with_participant(state, assigned_surveys=surveys)


@_action("ADD_MESSAGE")
def _add_message(ev: ActionEvaluator, action: Expression, state: ActionData, event: StudyEvent) -> ActionData:
    _exactly(action, 2)
    message_type = ev.resolve(action.data[0], state, event)
    timestamp = ev.resolve(action.data[1], state, event)
    if not is_str(message_type) or not is_float(timestamp):
        raise StudyEngineError("could not parse arguments")
    message = ParticipantMessage(id=str(ObjectId()), type=message_type, scheduled_for=go_trunc(timestamp))
    return _with_participant(state, messages=[*(state.participant.messages or []), message])


@_action("REMOVE_ALL_MESSAGES")
def _remove_all_messages(
    ev: ActionEvaluator, action: Expression, state: ActionData, event: StudyEvent
) -> ActionData:
    return _with_participant(state, messages=[])


@_action("REMOVE_MESSAGES_BY_TYPE")
def _remove_messages_by_type(
    ev: ActionEvaluator, action: Expression, state: ActionData, event: StudyEvent
) -> ActionData:
    _exactly(action, 1)
    message_type = ev.resolve_str(action.data[0], state, event, "arguments")
    messages = [m for m in state.participant.messages or [] if m.type != message_type]
    return _with_participant(state, messages=messages)


# ---------------------------------------------------------------- messaging


@_action("NOTIFY_RESEARCHER")
def _notify_researcher(
    ev: ActionEvaluator, action: Expression, state: ActionData, event: StudyEvent
) -> ActionData:
    _at_least(action, 1)
    message_type = ev.resolve_str(action.data[0], state, event, "arguments")
    payload: dict[str, str] = {}
    for index in range(1, len(action.data) - 1, 2):
        key = ev.resolve(action.data[index], state, event)
        value = ev.resolve(action.data[index + 1], state, event)
        if not is_str(key):
            raise StudyEngineError("could not parse key")
        if not is_str(value):
            raise StudyEngineError("could not parse value")
        payload[key] = value
    store = _store(ev)
    store.save_researcher_message(event.study_key, message_type, payload, state.participant.participant_id)
    return state


@_action("SEND_MESSAGE_NOW")
def _send_message_now(
    ev: ActionEvaluator, action: Expression, state: ActionData, event: StudyEvent
) -> ActionData:
    if event.participant_id_for_confidential_responses == "":
        raise StudyEngineError("SEND_MESSAGE_NOW: missing participantID for confidential responses")
    raise StudyEngineError(SEND_MESSAGE_NOW_UNSUPPORTED)


# ---------------------------------------------------------------- reports


def _new_report(ev: ActionEvaluator, key: str, state: ActionData) -> Report:
    now = ev.runtime.now()
    # Go: Now().Truncate(time.Minute).Unix()
    return Report(key=key, participant_id=state.participant.participant_id, timestamp=now - now % 60)


def _find_report(reports: list[Report], key: str) -> int:
    for index, report in enumerate(reports):
        if report.key == key:
            return index
    return -1


@_action("INIT_REPORT")
def _init_report(ev: ActionEvaluator, action: Expression, state: ActionData, event: StudyEvent) -> ActionData:
    _exactly(action, 1)
    key = ev.resolve_str(action.data[0], state, event, "arguments")
    return ActionData(participant=state.participant, reports=[_new_report(ev, key, state), *state.reports])


@_action("UPDATE_REPORT_DATA")
def _update_report_data(
    ev: ActionEvaluator, action: Expression, state: ActionData, event: StudyEvent
) -> ActionData:
    _at_least(action, 3)
    key = ev.resolve_str(action.data[0], state, event, "arguments")
    index = _find_report(state.reports, key)
    if index < 0:
        # The auto-initialised report stays in the returned state even if a later step fails.
        state = ActionData(
            participant=state.participant, reports=[_new_report(ev, key, state), *state.reports]
        )
        index = 0
    try:
        attribute = ev.resolve_str(action.data[1], state, event, "arguments")
        value = ev.resolve(action.data[2], state, event)
        dtype = ""
        if len(action.data) > 3:
            dtype = ev.resolve_str(action.data[3], state, event, "arguments")
    except StudyEnginePanic:
        raise
    except StudyEngineError as exc:
        raise ActionFailure(_named(action.name, exc), state) from exc
    text = str(go_trunc(value)) if is_float(value) and dtype == "int" else _format_value(value)
    entry = ReportData(key=attribute, value=text, dtype=dtype)
    report = state.reports[index]
    data = list(report.data or [])
    position = next((i for i, item in enumerate(data) if item.key == attribute), -1)
    if position < 0:
        data.append(entry)
    else:
        data[position] = entry
    reports = list(state.reports)
    reports[index] = replace(report, data=data)
    return ActionData(participant=state.participant, reports=reports)


@_action("REMOVE_REPORT_DATA")
def _remove_report_data(
    ev: ActionEvaluator, action: Expression, state: ActionData, event: StudyEvent
) -> ActionData:
    _exactly(action, 2)
    key = ev.resolve_str(action.data[0], state, event, "arguments")
    index = _find_report(state.reports, key)
    if index < 0:
        return state
    attribute = ev.resolve_str(action.data[1], state, event, "arguments")
    report = state.reports[index]
    data = list(report.data or [])
    position = next((i for i, item in enumerate(data) if item.key == attribute), -1)
    if position < 0:
        return state
    del data[position]
    reports = list(state.reports)
    reports[index] = replace(report, data=data)
    return ActionData(participant=state.participant, reports=reports)


@_action("CANCEL_REPORT")
def _cancel_report(
    ev: ActionEvaluator, action: Expression, state: ActionData, event: StudyEvent
) -> ActionData:
    _exactly(action, 1)
    key = ev.resolve_str(action.data[0], state, event, "arguments")
    index = _find_report(state.reports, key)
    if index < 0:
        return state
    return ActionData(
        participant=state.participant, reports=state.reports[:index] + state.reports[index + 1 :]
    )


# ---------------------------------------------------------------- DB-backed


def _store(ev: ActionEvaluator) -> StudyEngineStore:
    if ev.runtime.store is None:
        raise StudyEngineError("study DB service not available")
    return ev.runtime.store


def _delete_confidential(ev: ActionEvaluator, event: StudyEvent, key: str) -> None:
    if event.participant_id_for_confidential_responses == "":
        raise StudyEngineError("participant id must be defined")
    _store(ev).delete_confidential_responses(
        event.study_key, event.participant_id_for_confidential_responses, key
    )


@_action("REMOVE_CONFIDENTIAL_RESPONSE_BY_KEY")
def _remove_confidential_by_key(
    ev: ActionEvaluator, action: Expression, state: ActionData, event: StudyEvent
) -> ActionData:
    _exactly(action, 1)
    key = ev.resolve_str(action.data[0], state, event, "arguments")
    _delete_confidential(ev, event, key)
    return state


@_action("REMOVE_ALL_CONFIDENTIAL_RESPONSES")
def _remove_all_confidential(
    ev: ActionEvaluator, action: Expression, state: ActionData, event: StudyEvent
) -> ActionData:
    _delete_confidential(ev, event, "")
    return state


@_action("REMOVE_STUDY_CODE")
def _remove_study_code(
    ev: ActionEvaluator, action: Expression, state: ActionData, event: StudyEvent
) -> ActionData:
    if len(action.data) != 2:
        raise StudyEngineError("invalid number of arguments")
    list_key = ev.resolve_str(action.data[0], state, event, "arguments")
    code = ev.resolve_str(action.data[1], state, event, "arguments")
    _store(ev).delete_study_code(event.study_key, list_key, code)
    return state


@_action("DRAW_STUDY_CODE_AS_LINKING_CODE")
def _draw_study_code(
    ev: ActionEvaluator, action: Expression, state: ActionData, event: StudyEvent
) -> ActionData:
    _at_least(action, 1)
    list_key = ev.resolve_str(action.data[0], state, event, "arguments")
    code_key = list_key
    if len(action.data) > 1:
        code_key = ev.resolve_str(action.data[1], state, event, "arguments")
    state = _with_participant(state, linking_codes=dict(state.participant.linking_codes or {}))
    try:
        code = _store(ev).draw_study_code(event.study_key, list_key)
    except StudyEngineError as exc:
        raise ActionFailure(_named(action.name, exc), state) from exc  # the replaced map is kept
    codes = dict(state.participant.linking_codes or {})
    if code == "":
        codes.pop(code_key, None)
    else:
        codes[code_key] = code
    return _with_participant(state, linking_codes=codes)


def _counter_into(
    ev: ActionEvaluator, action: Expression, state: ActionData, event: StudyEvent, target: str
) -> ActionData:
    _at_least(action, 2)
    scope = ev.resolve_str(action.data[0], state, event, "scope")
    key = ev.resolve_str(action.data[1], state, event, "key")
    prefix = ""
    if len(action.data) > 2:
        prefix = ev.resolve_str(action.data[2], state, event, "prefix")
    padding = 0
    if len(action.data) > 3:
        value = ev.resolve(action.data[3], state, event)
        if not is_float(value):
            raise StudyEngineError("could not parse padding")
        padding = go_trunc(value)
    counter = _store(ev).increment_study_counter(event.study_key, scope)
    mapping = dict(getattr(state.participant, target) or {})
    mapping[key] = go_format_padded_int(prefix, padding, counter)
    return _with_participant(state, **{target: mapping})


@_action("GET_NEXT_STUDY_COUNTER_AS_FLAG")
def _counter_as_flag(
    ev: ActionEvaluator, action: Expression, state: ActionData, event: StudyEvent
) -> ActionData:
    return _counter_into(ev, action, state, event, "flags")


@_action("GET_NEXT_STUDY_COUNTER_AS_LINKING_CODE")
def _counter_as_linking_code(
    ev: ActionEvaluator, action: Expression, state: ActionData, event: StudyEvent
) -> ActionData:
    return _counter_into(ev, action, state, event, "linking_codes")


@_action("RESET_STUDY_COUNTER")
def _reset_counter(
    ev: ActionEvaluator, action: Expression, state: ActionData, event: StudyEvent
) -> ActionData:
    _at_least(action, 1)
    scope = ev.resolve_str(action.data[0], state, event, "scope")
    _store(ev).reset_study_counter(event.study_key, scope)
    return state


def _update_variable(
    ev: ActionEvaluator, action: Expression, state: ActionData, event: StudyEvent, kind: str
) -> ActionData:
    _exactly(action, 2)
    key = ev.resolve_str(action.data[0], state, event, "variableKey")
    raw = ev.resolve(action.data[1], state, event)
    value: Any
    if (kind == "boolean" and is_bool(raw)) or (kind == "float" and is_float(raw)):
        value = raw
    elif kind == "int" and is_float(raw):
        value = Int64(go_trunc(raw))
    elif kind == "string" and is_str(raw):
        value = raw
    elif kind == "date" and is_float(raw):
        value = datetime.fromtimestamp(go_trunc(raw), tz=UTC)
    else:
        raise StudyEngineError("could not parse value")
    _store(ev).update_study_variable_value(event.study_key, key, value)
    return state


for _kind in ("boolean", "int", "float", "string", "date"):
    _ACTIONS[f"UPDATE_STUDY_VARIABLE_{_kind.upper()}"] = partial(_update_variable, kind=_kind)


# ---------------------------------------------------------------- external


@_action("EXTERNAL_EVENT_HANDLER")
def _external_event_handler(
    ev: ActionEvaluator, action: Expression, state: ActionData, event: StudyEvent
) -> ActionData:
    _at_least(action, 1)
    name = ev.resolve_str(action.data[0], state, event, "arguments")
    service = ev.runtime.external.find(name)
    route = ""
    if len(action.data) > 1:
        route_value = ev.resolve(action.data[1], state, event)
        if not is_str(route_value):
            raise StudyEnginePanic("EXTERNAL_EVENT_HANDLER: route is not a string")
        route = route_value.removeprefix("/")
    reply = ev.runtime.external.call(service, route, build_payload(state.participant, event))
    return _apply_reply(reply, state, name)


def _apply_reply(reply: JSONObject, state: ActionData, name: str) -> ActionData:
    fields = dict(reply.pairs)  # a Go map: the last duplicate key wins
    participant = state.participant
    reports = state.reports
    try:
        if fields.get("pState") is not None:
            participant = Participant.from_json(fields["pState"], "pState")
        external_reports = fields.get("reportsToCreate")
        if isinstance(external_reports, list):
            reports = [
                Report.from_json(item, f"reportsToCreate[{i}]") for i, item in enumerate(external_reports)
            ]
            reports = [*reports, *state.reports]
        elif isinstance(external_reports, JSONObject):
            received = [
                Report.from_json(item, f"reportsToCreate.{key}") for key, item in external_reports.pairs
            ]
            reports = [*received, *state.reports]
        elif external_reports is not None:
            raise GoDecodeError("reportsToCreate is neither a list nor an object of reports")
    except GoDecodeError as exc:
        raise StudyEngineError(f"external service {name!r}: invalid reply: {exc}") from None
    return ActionData(participant=participant, reports=reports)
