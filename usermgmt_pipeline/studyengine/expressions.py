"""The expression evaluator: 58 base expressions plus 15 ``incomingState:`` variants (docs/study-engine.md §3).

Each function mirrors the Go expression of the same name, including its argument-count checks (made
before resolving), left-to-right resolution, exact Go typing (:mod:`values`) and the documented
quirks. Errors are raised as :class:`StudyEngineError`; Go panic sites raise :class:`StudyEnginePanic`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from usermgmt_pipeline.go_unmarshal import GoDecodeError, json_to_interface
from usermgmt_pipeline.studyengine.calendar_time import (
    MONTH_NAMES,
    iso_week,
    local_time,
    next_iso_week_monday,
    next_start_of_month,
)
from usermgmt_pipeline.studyengine.errors import StudyEngineError, StudyEnginePanic
from usermgmt_pipeline.studyengine.event import ResponseItem, StudyEvent, SurveyItemResponse
from usermgmt_pipeline.studyengine.goformat import go_parse_float
from usermgmt_pipeline.studyengine.golayout import format_date_fns
from usermgmt_pipeline.studyengine.model import Expression, ExpressionArg
from usermgmt_pipeline.studyengine.participant import Participant
from usermgmt_pipeline.studyengine.runtime import EngineRuntime, EvalContext
from usermgmt_pipeline.studyengine.store import OLD_RESPONSES_LIMIT, StudyEngineStore
from usermgmt_pipeline.studyengine.values import (
    GoInt64,
    go_trunc,
    go_type_name,
    is_bool,
    is_float,
    is_str,
)

INCOMING_STATE_PREFIX = "incomingState:"

ExpressionFn = Callable[["ExpressionEvaluator", Expression, EvalContext], Any]


def find_survey_item(responses: list[SurveyItemResponse] | None, key: str) -> SurveyItemResponse:
    """The first top-level item response with ``key`` (groups are not searched)."""
    for item in responses or []:
        if item.key == key:
            return item
    raise StudyEngineError("item not found")


def find_response_object(item: SurveyItemResponse | None, path: str) -> ResponseItem:
    """Follow ``path`` ("rg.scg.1"): segment 0 is the root key, later ones direct children (first match)."""
    if item is None:
        raise StudyEngineError("missing survey item")
    if item.response is None:
        raise StudyEngineError("missing survey item response")
    current: ResponseItem = item.response
    for index, segment in enumerate(path.split(".")):
        if index == 0:
            if current.key != segment:
                raise StudyEngineError("response object is not found")
            continue
        for child in current.items or []:
            if child.key == segment:
                current = child
                break
        else:
            raise StudyEngineError("response object is not found")
    return current


class ExpressionEvaluator:
    """Evaluates expressions against an :class:`EvalContext` with the engine's runtime."""

    def __init__(self, runtime: EngineRuntime) -> None:
        self.runtime = runtime

    # ------------------------------------------------------------ core

    def evaluate(self, expression: Expression, ctx: EvalContext) -> Any:
        function = _EXPRESSIONS.get(expression.name)
        if function is None:
            raise StudyEngineError(f"expression name not known: {expression.name}")
        return function(self, expression, ctx)

    def resolve(self, arg: ExpressionArg, ctx: EvalContext) -> Any:
        if arg.dtype == "num":
            return arg.num
        if arg.dtype == "exp":
            if arg.exp is None:
                raise StudyEngineError("missing argument - expected expression, but was empty")
            return self.evaluate(arg.exp, ctx)
        return arg.str_value

    def must_get_str(self, arg: ExpressionArg, ctx: EvalContext) -> str:
        value = self.resolve(arg, ctx)
        if not is_str(value):
            raise StudyEngineError("could not cast arguments")
        return value

    def must_get_float(self, arg: ExpressionArg, ctx: EvalContext) -> float:
        value = self.resolve(arg, ctx)
        if not is_float(value):
            raise StudyEngineError("could not cast arguments")
        return value


def _count(expression: Expression, *allowed: int) -> None:
    if len(expression.data) not in allowed:
        raise StudyEngineError(f"{expression.name}: unexpected numbers of arguments")


def _at_least(expression: Expression, minimum: int) -> None:
    if len(expression.data) < minimum:
        raise StudyEngineError(f"{expression.name}: unexpected numbers of arguments")


def _state(expression: Expression, ctx: EvalContext, incoming: bool) -> Participant:
    return ctx.event.merge_with_participant if incoming else ctx.participant


_EXPRESSIONS: dict[str, ExpressionFn] = {}


_F = TypeVar("_F", bound=Callable[..., Any])


def _register(name: str, *, with_incoming: bool = False) -> Callable[[_F], _F]:
    """Returns the function unchanged, so its own signature stays checked. With ``with_incoming`` it takes
    ``incoming`` as a fourth argument and is registered twice, as ``name`` and ``incomingState:name``."""

    def decorator(function: _F) -> _F:
        if with_incoming:
            _EXPRESSIONS[name] = lambda ev, exp, ctx: function(ev, exp, ctx, False)
            _EXPRESSIONS[INCOMING_STATE_PREFIX + name] = lambda ev, exp, ctx: function(ev, exp, ctx, True)
        else:
            _EXPRESSIONS[name] = function
        return function

    return decorator


# ---------------------------------------------------------------- event checks


@_register("checkEventType")
def _check_event_type(ev: ExpressionEvaluator, exp: Expression, ctx: EvalContext) -> bool:
    _count(exp, 1)
    return ctx.event.type == ev.must_get_str(exp.data[0], ctx)


@_register("checkEventKey")
def _check_event_key(ev: ExpressionEvaluator, exp: Expression, ctx: EvalContext) -> bool:
    _count(exp, 1)
    return ctx.event.event_key == ev.must_get_str(exp.data[0], ctx)


@_register("hasEventPayload")
def _has_event_payload(ev: ExpressionEvaluator, exp: Expression, ctx: EvalContext) -> bool:
    return bool(ctx.event.payload)


@_register("getEventPayloadValueAsStr")
def _payload_str(ev: ExpressionEvaluator, exp: Expression, ctx: EvalContext) -> str:
    _count(exp, 1)
    value = (ctx.event.payload or {}).get(ev.must_get_str(exp.data[0], ctx))
    return value if is_str(value) else ""


@_register("getEventPayloadValueAsNum")
def _payload_num(ev: ExpressionEvaluator, exp: Expression, ctx: EvalContext) -> float:
    _count(exp, 1)
    value = (ctx.event.payload or {}).get(ev.must_get_str(exp.data[0], ctx))
    return value if is_float(value) else 0.0


@_register("hasEventPayloadKey")
def _has_payload_key(ev: ExpressionEvaluator, exp: Expression, ctx: EvalContext) -> bool:
    _count(exp, 1)
    return ev.must_get_str(exp.data[0], ctx) in (ctx.event.payload or {})


@_register("hasEventPayloadKeyWithValue")
def _has_payload_key_with_value(ev: ExpressionEvaluator, exp: Expression, ctx: EvalContext) -> bool:
    _count(exp, 2)
    key = ev.must_get_str(exp.data[0], ctx)
    expected = ev.must_get_str(exp.data[1], ctx)
    value = (ctx.event.payload or {}).get(key)
    return is_str(value) and value == expected


# ---------------------------------------------------------------- response checkers


@_register("checkSurveyResponseKey")
def _check_response_key(ev: ExpressionEvaluator, exp: Expression, ctx: EvalContext) -> bool:
    _count(exp, 1)
    return ctx.event.response.key == ev.must_get_str(exp.data[0], ctx)


def _item_path_and_targets(
    ev: ExpressionEvaluator, exp: Expression, ctx: EvalContext
) -> tuple[ResponseItem | None, list[str]]:
    _at_least(exp, 3)
    item_key = ev.must_get_str(exp.data[0], ctx)
    path = ev.must_get_str(exp.data[1], ctx)
    targets = [ev.must_get_str(arg, ctx) for arg in exp.data[2:]]
    try:
        item = find_survey_item(ctx.event.response.responses, item_key)
        return find_response_object(item, path), targets
    except StudyEngineError:
        return None, targets


@_register("responseHasKeysAny")
def _response_has_keys_any(ev: ExpressionEvaluator, exp: Expression, ctx: EvalContext) -> bool:
    found, targets = _item_path_and_targets(ev, exp, ctx)
    if found is None:
        return False
    children = {child.key for child in found.items or []}
    return any(target in children for target in targets)


@_register("responseHasOnlyKeysOtherThan")
def _response_has_only_keys_other_than(ev: ExpressionEvaluator, exp: Expression, ctx: EvalContext) -> bool:
    found, targets = _item_path_and_targets(ev, exp, ctx)
    if found is None or not found.items:
        return False
    # BUG kept (docs/study-engine.md §3.2): only the first target key decides.
    return targets[0] not in {child.key for child in found.items}


def _find_object(ev: ExpressionEvaluator, exp: Expression, ctx: EvalContext) -> ResponseItem:
    item_key = ev.must_get_str(exp.data[0], ctx)
    path = ev.must_get_str(exp.data[1], ctx)
    item = find_survey_item(ctx.event.response.responses, item_key)
    return find_response_object(item, path)


@_register("getResponseValueAsNum")
def _response_value_num(ev: ExpressionEvaluator, exp: Expression, ctx: EvalContext) -> float:
    _count(exp, 2)
    found = _find_object(ev, exp, ctx)
    try:
        return go_parse_float(found.value)
    except ValueError as exc:
        raise StudyEngineError(str(exc)) from None


@_register("getResponseValueAsStr")
def _response_value_str(ev: ExpressionEvaluator, exp: Expression, ctx: EvalContext) -> str:
    _count(exp, 2)
    return _find_object(ev, exp, ctx).value


@_register("getSelectedKeys")
def _selected_keys(ev: ExpressionEvaluator, exp: Expression, ctx: EvalContext) -> str:
    _count(exp, 2)
    return ";".join(child.key for child in _find_object(ev, exp, ctx).items or [])


@_register("countResponseItems")
def _count_response_items(ev: ExpressionEvaluator, exp: Expression, ctx: EvalContext) -> float:
    _count(exp, 2)
    return float(len(_find_object(ev, exp, ctx).items or []))


@_register("hasResponseKey")
def _has_response_key(ev: ExpressionEvaluator, exp: Expression, ctx: EvalContext) -> bool:
    _count(exp, 2)
    item_key = ev.must_get_str(exp.data[0], ctx)
    path = ev.must_get_str(exp.data[1], ctx)
    try:
        find_response_object(find_survey_item(ctx.event.response.responses, item_key), path)
    except StudyEngineError:
        return False
    return True


@_register("hasResponseKeyWithValue")
def _has_response_key_with_value(ev: ExpressionEvaluator, exp: Expression, ctx: EvalContext) -> bool:
    _count(exp, 3)
    item_key = ev.must_get_str(exp.data[0], ctx)
    path = ev.must_get_str(exp.data[1], ctx)
    expected = ev.must_get_str(exp.data[2], ctx)
    try:
        found = find_response_object(find_survey_item(ctx.event.response.responses, item_key), path)
    except StudyEngineError:
        return False
    return found.value == expected


# ---------------------------------------------------------------- old responses


@_register("checkConditionForOldResponses")
def _check_old_responses(ev: ExpressionEvaluator, exp: Expression, ctx: EvalContext) -> bool:
    store = ev.runtime.store
    if store is None:
        raise StudyEngineError("checkConditionForOldResponses: DB connection not available in the context")
    if not ctx.event.instance_id or not ctx.event.study_key:
        raise StudyEngineError("checkConditionForOldResponses: instanceID or study key missing from context")
    if not 1 <= len(exp.data) <= 5:
        raise StudyEngineError(
            f"checkConditionForOldResponses: unexpected numbers of arguments: {len(exp.data)}"
        )
    condition = exp.data[0].exp
    if not exp.data[0].is_expression or condition is None:
        raise StudyEngineError("checkConditionForOldResponses: first argument must be an expression")

    mode, needed = "all", 1
    survey_key, since, until = "", 0, 0
    if len(exp.data) > 1:
        check = ev.resolve(exp.data[1], ctx)
        if is_str(check):
            mode = check
        elif is_float(check):
            mode, needed = "count", go_trunc(check)
        else:
            raise StudyEngineError(f"checkConditionForOldResponses: type unknown {go_type_name(check)}")
    if len(exp.data) > 2:
        survey_key = ev.must_get_str(exp.data[2], ctx)
    if len(exp.data) > 3:
        value = ev.resolve(exp.data[3], ctx)
        since = go_trunc(value) if is_float(value) else 0  # a non-number is silently ignored
    if len(exp.data) > 4:
        value = ev.resolve(exp.data[4], ctx)
        until = go_trunc(value) if is_float(value) else 0

    responses = store.find_survey_responses(
        ctx.event.study_key, ctx.participant.participant_id, survey_key, since, until, OLD_RESPONSES_LIMIT
    )
    checked, matches = 0, 0
    for response in responses:
        old_ctx = EvalContext(event=StudyEvent(type="", response=response), participant=ctx.participant)
        result = ev.evaluate(condition, old_ctx)
        if not is_bool(result):
            raise StudyEnginePanic(
                f"checkConditionForOldResponses: condition returned {go_type_name(result)}, not bool"
            )
        checked += 1
        if mode == "all" and not result:
            return False
        if mode == "any" and result:
            return True
        if mode == "count" and result:
            matches += 1
            if matches >= needed:
                return True
    return mode == "all" and checked > 0


# ---------------------------------------------------------------- study code lists, counters, variables


@_register("isStudyCodePresent")
def _is_study_code_present(ev: ExpressionEvaluator, exp: Expression, ctx: EvalContext) -> bool:
    _count(exp, 2)
    list_key = ev.must_get_str(exp.data[0], ctx)
    code = ev.must_get_str(exp.data[1], ctx)
    store = _require_store(ev)
    try:
        return store.study_code_exists(ctx.event.study_key, list_key, code)
    except StudyEngineError:
        return False  # Go: a DB error reads as "not present", without error


def _require_store(ev: ExpressionEvaluator) -> StudyEngineStore:
    if ev.runtime.store is None:
        raise StudyEngineError("DB connection not available in the context")
    return ev.runtime.store


@_register("getCurrentStudyCounterValue")
def _current_counter(ev: ExpressionEvaluator, exp: Expression, ctx: EvalContext) -> float:
    _count(exp, 1)
    scope = ev.must_get_str(exp.data[0], ctx)
    return float(_require_store(ev).get_study_counter_value(ctx.event.study_key, scope))


@_register("getNextStudyCounterValue")
def _next_counter(ev: ExpressionEvaluator, exp: Expression, ctx: EvalContext) -> float:
    _count(exp, 1)
    scope = ev.must_get_str(exp.data[0], ctx)
    return float(_require_store(ev).increment_study_counter(ctx.event.study_key, scope))


def _study_variable(ev: ExpressionEvaluator, exp: Expression, ctx: EvalContext, expected_type: str) -> Any:
    _count(exp, 1)
    key = ev.must_get_str(exp.data[0], ctx)
    variable = _require_store(ev).get_study_variable(ctx.event.study_key, key)
    if variable.type != expected_type:
        raise StudyEngineError(f"{exp.name}: wrong type: variable {key!r} is {variable.type!r}")
    return variable.value


@_register("getStudyVariableBoolean")
def _variable_boolean(ev: ExpressionEvaluator, exp: Expression, ctx: EvalContext) -> bool:
    value = _study_variable(ev, exp, ctx, "boolean")
    if not is_bool(value):
        raise StudyEngineError("could not cast arguments")
    return value


@_register("getStudyVariableInt")
def _variable_int(ev: ExpressionEvaluator, exp: Expression, ctx: EvalContext) -> float:
    value = _study_variable(ev, exp, ctx, "int")
    if isinstance(value, int) and not is_bool(value):
        return float(value)
    if is_float(value):
        return value
    raise StudyEngineError("could not cast arguments")


@_register("getStudyVariableFloat")
def _variable_float(ev: ExpressionEvaluator, exp: Expression, ctx: EvalContext) -> float:
    value = _study_variable(ev, exp, ctx, "float")
    if not is_float(value):
        raise StudyEngineError("could not cast arguments")
    return value


@_register("getStudyVariableString")
def _variable_string(ev: ExpressionEvaluator, exp: Expression, ctx: EvalContext) -> str:
    value = _study_variable(ev, exp, ctx, "string")
    if not is_str(value):
        raise StudyEngineError("could not cast arguments")
    return value


@_register("getStudyVariableDate")
def _variable_date(ev: ExpressionEvaluator, exp: Expression, ctx: EvalContext) -> float:
    _study_variable(ev, exp, ctx, "date")
    # Faithful to Go against a real DB (docs/study-engine.md §3.2): the driver decodes a BSON date held in an untyped
    # field as primitive.DateTime, never time.Time, so the cast always fails.
    raise StudyEngineError("could not cast arguments")


# ---------------------------------------------------------------- participant state


@_register("getStudyEntryTime", with_incoming=True)
def _study_entry_time(ev: ExpressionEvaluator, exp: Expression, ctx: EvalContext, incoming: bool) -> float:
    return float(_state(exp, ctx, incoming).entered_at)


def _literal_survey_key(ev: ExpressionEvaluator, exp: Expression, ctx: EvalContext) -> str:
    if len(exp.data) != 1 or not exp.data[0].is_string:
        raise StudyEngineError(f"{exp.name}: unexpected number or wrong type of argument")
    return ev.must_get_str(exp.data[0], ctx)


@_register("hasSurveyKeyAssigned", with_incoming=True)
def _has_survey(ev: ExpressionEvaluator, exp: Expression, ctx: EvalContext, incoming: bool) -> bool:
    key = _literal_survey_key(ev, exp, ctx)
    return any(s.survey_key == key for s in _state(exp, ctx, incoming).assigned_surveys or [])


@_register("getSurveyKeyAssignedFrom", with_incoming=True)
def _survey_from(ev: ExpressionEvaluator, exp: Expression, ctx: EvalContext, incoming: bool) -> float:
    key = _literal_survey_key(ev, exp, ctx)
    for survey in _state(exp, ctx, incoming).assigned_surveys or []:
        if survey.survey_key == key:
            return float(survey.valid_from)
    return -1.0


@_register("getSurveyKeyAssignedUntil", with_incoming=True)
def _survey_until(ev: ExpressionEvaluator, exp: Expression, ctx: EvalContext, incoming: bool) -> float:
    key = _literal_survey_key(ev, exp, ctx)
    for survey in _state(exp, ctx, incoming).assigned_surveys or []:
        if survey.survey_key == key:
            return float(survey.valid_until)
    return -1.0


@_register("hasStudyStatus", with_incoming=True)
def _has_status(ev: ExpressionEvaluator, exp: Expression, ctx: EvalContext, incoming: bool) -> bool:
    _count(exp, 1)
    return _state(exp, ctx, incoming).study_status == ev.must_get_str(exp.data[0], ctx)


def _non_numeric_str(ev: ExpressionEvaluator, exp: Expression, ctx: EvalContext, index: int) -> str:
    return ev.must_get_str(exp.data[index], ctx)


def _reject_num_literals(exp: Expression) -> None:
    if any(arg.is_number for arg in exp.data):
        raise StudyEngineError(f"{exp.name}: unexpected argument types")


@_register("hasParticipantFlag", with_incoming=True)
def _has_flag(ev: ExpressionEvaluator, exp: Expression, ctx: EvalContext, incoming: bool) -> bool:
    _count(exp, 2)
    _reject_num_literals(exp)
    key = ev.must_get_str(exp.data[0], ctx)
    expected = ev.must_get_str(exp.data[1], ctx)
    flags = _state(exp, ctx, incoming).flags or {}
    return key in flags and flags[key] == expected


@_register("hasParticipantFlagKey", with_incoming=True)
def _has_flag_key(ev: ExpressionEvaluator, exp: Expression, ctx: EvalContext, incoming: bool) -> bool:
    _count(exp, 1)
    _reject_num_literals(exp)
    return ev.must_get_str(exp.data[0], ctx) in (_state(exp, ctx, incoming).flags or {})


@_register("getParticipantFlagValue", with_incoming=True)
def _flag_value(ev: ExpressionEvaluator, exp: Expression, ctx: EvalContext, incoming: bool) -> str:
    _count(exp, 1)
    _reject_num_literals(exp)
    return (_state(exp, ctx, incoming).flags or {}).get(ev.must_get_str(exp.data[0], ctx), "")


@_register("hasLinkingCode", with_incoming=True)
def _has_linking_code(ev: ExpressionEvaluator, exp: Expression, ctx: EvalContext, incoming: bool) -> bool:
    _count(exp, 1)
    _reject_num_literals(exp)
    return ev.must_get_str(exp.data[0], ctx) in (_state(exp, ctx, incoming).linking_codes or {})


@_register("getLinkingCodeValue", with_incoming=True)
def _linking_code_value(ev: ExpressionEvaluator, exp: Expression, ctx: EvalContext, incoming: bool) -> str:
    _count(exp, 1)
    _reject_num_literals(exp)
    codes = _state(exp, ctx, incoming).linking_codes or {}
    return codes.get(ev.must_get_str(exp.data[0], ctx), "")


@_register("getLastSubmissionDate", with_incoming=True)
def _last_submission(ev: ExpressionEvaluator, exp: Expression, ctx: EvalContext, incoming: bool) -> float:
    submissions = _state(exp, ctx, incoming).last_submissions or {}
    if not exp.data:
        return float(max(submissions.values(), default=0))
    key = ev.resolve(exp.data[0], ctx)
    if not is_str(key):
        raise StudyEnginePanic(f"getLastSubmissionDate: argument is {go_type_name(key)}, not string")
    return float(submissions.get(key, 0))


@_register("lastSubmissionDateOlderThan", with_incoming=True)
def _older_than(ev: ExpressionEvaluator, exp: Expression, ctx: EvalContext, incoming: bool) -> bool:
    _count(exp, 1, 2)
    reference = go_trunc(ev.must_get_float(exp.data[0], ctx))
    submissions = _state(exp, ctx, incoming).last_submissions or {}
    if len(exp.data) == 2:
        key = ev.must_get_str(exp.data[1], ctx)
        if key not in submissions:
            return False
        return submissions[key] < reference
    return all(last <= reference for last in submissions.values())


@_register("hasMessageTypeAssigned", with_incoming=True)
def _has_message_type(ev: ExpressionEvaluator, exp: Expression, ctx: EvalContext, incoming: bool) -> bool:
    _count(exp, 1)
    message_type = ev.resolve(exp.data[0], ctx)
    if not is_str(message_type):
        return False
    return any(m.type == message_type for m in _state(exp, ctx, incoming).messages or [])


@_register("getMessageNextTime", with_incoming=True)
def _message_next_time(ev: ExpressionEvaluator, exp: Expression, ctx: EvalContext, incoming: bool) -> GoInt64:
    _count(exp, 1)
    message_type = ev.resolve(exp.data[0], ctx)
    if not is_str(message_type):
        raise StudyEnginePanic(f"getMessageNextTime: argument is {go_type_name(message_type)}, not string")
    running = 0
    for message in _state(exp, ctx, incoming).messages or []:
        if message.type == message_type and (running == 0 or running > message.scheduled_for):
            running = message.scheduled_for
    if running == 0:
        raise StudyEngineError("getMessageNextTime: no message for this type found")
    return GoInt64(running)


@_register("getCurrentStudySession", with_incoming=True)
def _current_session(ev: ExpressionEvaluator, exp: Expression, ctx: EvalContext, incoming: bool) -> str:
    return _state(exp, ctx, incoming).current_study_session


# ---------------------------------------------------------------- logic and comparison


def _compare(
    ev: ExpressionEvaluator, exp: Expression, ctx: EvalContext, op: Callable[[Any, Any], bool]
) -> bool:
    _count(exp, 2)
    first = ev.resolve(exp.data[0], ctx)
    second = ev.resolve(exp.data[1], ctx)
    if is_str(first):
        if not is_str(second):
            raise StudyEngineError(f"{exp.name}: could not cast arguments")
        return op(first.encode("utf-8"), second.encode("utf-8"))
    if is_float(first):
        if not is_float(second):
            raise StudyEngineError(f"{exp.name}: could not cast arguments")
        return op(first, second)
    raise StudyEngineError(f"{exp.name}: unexpected argument type {go_type_name(first)}")


_register("eq")(lambda ev, exp, ctx: _compare(ev, exp, ctx, lambda a, b: a == b))
_register("lt")(lambda ev, exp, ctx: _compare(ev, exp, ctx, lambda a, b: a < b))
_register("lte")(lambda ev, exp, ctx: _compare(ev, exp, ctx, lambda a, b: a <= b))
_register("gt")(lambda ev, exp, ctx: _compare(ev, exp, ctx, lambda a, b: a > b))
_register("gte")(lambda ev, exp, ctx: _compare(ev, exp, ctx, lambda a, b: a >= b))


@_register("and")
def _and(ev: ExpressionEvaluator, exp: Expression, ctx: EvalContext) -> bool:
    _at_least(exp, 2)
    for arg in exp.data:
        value = ev.resolve(arg, ctx)
        if (is_bool(value) and not value) or (is_float(value) and value == 0):
            return False
    return True


@_register("or")
def _or(ev: ExpressionEvaluator, exp: Expression, ctx: EvalContext) -> bool:
    _at_least(exp, 2)
    for arg in exp.data:
        try:
            value = ev.resolve(arg, ctx)
        except StudyEnginePanic:
            raise
        except StudyEngineError:
            continue  # Go logs and skips an argument that fails to resolve
        if (is_bool(value) and value) or (is_float(value) and value > 0):
            return True
    return False


@_register("not")
def _not(ev: ExpressionEvaluator, exp: Expression, ctx: EvalContext) -> bool:
    _count(exp, 1)
    value = ev.resolve(exp.data[0], ctx)
    if is_bool(value):
        return not value
    if is_float(value):
        return value == 0
    return False


# ---------------------------------------------------------------- math


@_register("sum")
def _sum(ev: ExpressionEvaluator, exp: Expression, ctx: EvalContext) -> float:
    total = 0.0
    for arg in exp.data:
        try:
            value = ev.resolve(arg, ctx)
        except StudyEnginePanic:
            raise
        except StudyEngineError:
            continue
        if is_float(value):
            total += value
        elif is_bool(value):
            total += 1.0 if value else 0.0
        elif value is None:
            raise StudyEnginePanic("sum: argument is nil")
    return total


def _no_nil(name: str, value: Any) -> Any:
    if value is None:
        raise StudyEnginePanic(f"{name}: argument is nil")
    return value


@_register("neg")
def _neg(ev: ExpressionEvaluator, exp: Expression, ctx: EvalContext) -> float:
    _count(exp, 1)
    value = _no_nil("neg", ev.resolve(exp.data[0], ctx))
    if not is_float(value):
        raise StudyEngineError("neg: could not cast argument")
    return -1 * value


# ---------------------------------------------------------------- time


def _float_arg(ev: ExpressionEvaluator, exp: Expression, ctx: EvalContext, index: int) -> float:
    value = _no_nil(exp.name, ev.resolve(exp.data[index], ctx))
    if not is_float(value):
        raise StudyEngineError(f"{exp.name}: could not cast argument {index + 1}")
    return value


@_register("timestampWithOffset")
def _timestamp_with_offset(ev: ExpressionEvaluator, exp: Expression, ctx: EvalContext) -> float:
    _count(exp, 1, 2)
    delta = go_trunc(_float_arg(ev, exp, ctx, 0))
    reference = go_trunc(_float_arg(ev, exp, ctx, 1)) if len(exp.data) == 2 else ev.runtime.now()
    return float(reference + delta)


@_register("getISOWeekForTs")
def _iso_week_for_ts(ev: ExpressionEvaluator, exp: Expression, ctx: EvalContext) -> float:
    _count(exp, 1)
    return float(iso_week(go_trunc(_float_arg(ev, exp, ctx, 0)), ev.runtime.time_zone))


@_register("getTsForNextStartOfMonth")
def _next_start_of_month(ev: ExpressionEvaluator, exp: Expression, ctx: EvalContext) -> float:
    _count(exp, 1, 2)
    month_value = ev.resolve(exp.data[0], ctx)
    if is_float(month_value):
        month = go_trunc(month_value)
        if not 1 <= month <= 12:
            raise StudyEngineError(f"getTsForNextStartOfMonth: invalid month {month}")
    elif is_str(month_value):
        if month_value.lower() not in MONTH_NAMES:
            raise StudyEngineError(f"getTsForNextStartOfMonth: unknown month name {month_value!r}")
        month = MONTH_NAMES[month_value.lower()]
    else:
        raise StudyEngineError("getTsForNextStartOfMonth: could not cast argument 1")
    reference = go_trunc(_float_arg(ev, exp, ctx, 1)) if len(exp.data) == 2 else ev.runtime.now()
    return float(next_start_of_month(month, reference, ev.runtime.time_zone))


@_register("getTsForNextISOWeek")
def _next_iso_week(ev: ExpressionEvaluator, exp: Expression, ctx: EvalContext) -> float:
    _count(exp, 1, 2)
    week = go_trunc(_float_arg(ev, exp, ctx, 0))
    if not 1 <= week <= 53:
        raise StudyEngineError(f"getTsForNextISOWeek: invalid week {week}")
    reference = go_trunc(_float_arg(ev, exp, ctx, 1)) if len(exp.data) == 2 else ev.runtime.now()
    return float(next_iso_week_monday(week, reference, ev.runtime.time_zone))


@_register("dateToStr")
def _date_to_str(ev: ExpressionEvaluator, exp: Expression, ctx: EvalContext) -> str:
    _count(exp, 2)
    timestamp = ev.resolve(exp.data[0], ctx)
    if is_float(timestamp):
        seconds = go_trunc(timestamp)
    elif isinstance(timestamp, GoInt64):
        seconds = timestamp.value
    else:
        raise StudyEngineError("dateToStr: could not cast argument 1")
    pattern = ev.must_get_str(exp.data[1], ctx)
    return format_date_fns(local_time(seconds, ev.runtime.time_zone), pattern)


# ---------------------------------------------------------------- misc


@_register("parseValueAsNum")
def _parse_value_as_num(ev: ExpressionEvaluator, exp: Expression, ctx: EvalContext) -> float:
    _count(exp, 1)
    value = _no_nil("parseValueAsNum", ev.resolve(exp.data[0], ctx))
    if is_float(value):
        return value
    if is_str(value):
        try:
            return go_parse_float(value)
        except ValueError as exc:
            raise StudyEngineError(f"parseValueAsNum: {exc}") from None
    raise StudyEngineError(f"parseValueAsNum: unexpected type {go_type_name(value)}")


@_register("generateRandomNumber")
def _random_number(ev: ExpressionEvaluator, exp: Expression, ctx: EvalContext) -> float:
    _count(exp, 2)
    low = go_trunc(_float_arg(ev, exp, ctx, 0))
    high = go_trunc(_float_arg(ev, exp, ctx, 1))
    if high < low:
        raise StudyEnginePanic("generateRandomNumber: max is smaller than min")
    return float(ev.runtime.rng.randint(low, high))


# ---------------------------------------------------------------- external


@_register("externalEventEval")
def _external_event_eval(ev: ExpressionEvaluator, exp: Expression, ctx: EvalContext) -> Any:
    from usermgmt_pipeline.studyengine.external import build_payload

    _at_least(exp, 1)
    name = ev.must_get_str(exp.data[0], ctx)
    service = ev.runtime.external.find(name)
    route = ""
    if len(exp.data) > 1:
        route_value = ev.resolve(exp.data[1], ctx)
        if not is_str(route_value):
            raise StudyEnginePanic(f"externalEventEval: route is {go_type_name(route_value)}, not string")
        route = route_value.removeprefix("/")
    reply = ev.runtime.external.call(service, route, build_payload(ctx.participant, ctx.event))
    value = None
    for key, item in reply.pairs:
        if key == "value":
            value = item
    try:
        result = json_to_interface(value)
    except GoDecodeError as exc:
        raise StudyEngineError(str(exc)) from exc
    if exp.return_type == "float" and not is_float(result):
        raise StudyEnginePanic(f"externalEventEval: returnType float but value is {go_type_name(result)}")
    return result
