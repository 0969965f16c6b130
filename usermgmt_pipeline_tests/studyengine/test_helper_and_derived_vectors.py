"""Upstream helpers_test.go vectors (docs/study-engine.md §7.3) and the derived vectors of docs/study-engine.md §7.4, §3.5, §4.6, §4.7."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest

from usermgmt_pipeline.studyengine import ExternalServiceSettings, StudyEngineError
from usermgmt_pipeline.studyengine.calendar_time import next_iso_week_monday, next_start_of_month
from usermgmt_pipeline.studyengine.event import ResponseItem, SurveyItemResponse
from usermgmt_pipeline.studyengine.expressions import find_response_object, find_survey_item
from usermgmt_pipeline.studyengine.external import find_service, go_url_join_path
from usermgmt_pipeline.studyengine.goformat import go_format_f, go_format_padded_int, go_parse_float
from usermgmt_pipeline.studyengine.golayout import format_date_fns
from usermgmt_pipeline.studyengine.values import go_trunc


def _items(*keys: str) -> list[SurveyItemResponse]:
    return [SurveyItemResponse(key=k) for k in keys]


@pytest.mark.parametrize(
    ("responses", "found"),
    [
        pytest.param([], False, id="helpers_test#H1"),
        pytest.param(_items("t.G1.1", "t.G1.2", "t.G1.3", "t.G2.1"), False, id="helpers_test#H2"),
        pytest.param(_items("t.G1.1", "t.G1.2", "t.G1.3", "t.G1.4", "t.G2.1"), True, id="helpers_test#H3"),
    ],
)
def test_upstream_find_survey_item(responses: list[SurveyItemResponse], found: bool) -> None:
    if found:
        assert find_survey_item(responses, "t.G1.4").key == "t.G1.4"
    else:
        with pytest.raises(StudyEngineError):
            find_survey_item(responses, "t.G1.4")


def _root(key: str, group: str, child: ResponseItem) -> SurveyItemResponse:
    return SurveyItemResponse(
        key="test", response=ResponseItem(key=key, items=[ResponseItem(key=group, items=[child])])
    )


@pytest.mark.parametrize(
    "item",
    [
        pytest.param(None, id="helpers_test#H4"),
        pytest.param(SurveyItemResponse(key="test"), id="helpers_test#H5"),
        pytest.param(_root("rgwrong", "scg", ResponseItem(key="1")), id="helpers_test#H6"),
        pytest.param(_root("rg", "scg", ResponseItem(key="2")), id="helpers_test#H7"),
    ],
)
def test_upstream_find_response_object_misses(item: SurveyItemResponse | None) -> None:
    with pytest.raises(StudyEngineError):
        find_response_object(item, "rg.scg.1")


def test_upstream_H8_find_response_object() -> None:
    assert (
        find_response_object(_root("rg", "scg", ResponseItem(key="1", value="testvalue")), "rg.scg.1").value
        == "testvalue"
    )


SERVICES = [ExternalServiceSettings("test1", "url1", ""), ExternalServiceSettings("test2", "url2", "")]


def test_upstream_H9_H10_service_by_name() -> None:
    with pytest.raises(StudyEngineError, match="no external service config found with name: wrong"):
        find_service(SERVICES, "wrong")
    assert find_service(SERVICES, "test2").url == "url2"


T1 = datetime(2023, 12, 25, 14, 30, 45, tzinfo=UTC)
FORMATS = [
    ("helpers_test#F1", T1, "yyyy-MM-dd HH:mm:ss", "2023-12-25 14:30:45"),
    ("helpers_test#F2", T1, "yyyy-MM-dd", "2023-12-25"),
    ("helpers_test#F3", T1, "HH:mm:ss", "14:30:45"),
    ("helpers_test#F4", T1, "hh:mm:ss a", "02:30:45 PM"),
    ("helpers_test#F5", T1, "MM/dd/yy", "12/25/23"),
    ("helpers_test#F6", T1, "dd.MM.yyyy", "25.12.2023"),
    ("helpers_test#F7", T1, "yyyy-MM-ddTHH:mm:ss", "2023-12-25T14:30:45"),
    ("helpers_test#F8", T1, "yyyy-MM-dd hh:mm a", "2023-12-25 02:30 PM"),
    ("helpers_test#F9", datetime(2023, 1, 1, 0, 0, tzinfo=UTC), "hh:mm a", "12:00 AM"),
    ("helpers_test#F10", datetime(2023, 1, 1, 12, 0, tzinfo=UTC), "hh:mm a", "12:00 PM"),
    ("helpers_test#F11", datetime(2023, 1, 1, 14, 30, 45, tzinfo=UTC), "M/d/yyyy", "1/1/2023"),
    ("derived#fmt-dd/MM/yyyy", T1, "dd/MM/yyyy", "25/12/2023"),
    ("derived#fmt-d.M.yy", T1, "d.M.yy", "25.12.23"),
    ("derived#fmt-at", T1, "yyyy-MM-dd at HH:mm", "2023-12-25 PMt 14:30"),
    ("derived#fmt-Monday", T1, "Monday dd", "12on25PMy 25"),
    ("derived#fmt-EEE", T1, "EEE dd", "EEE 25"),
    ("derived#fmt-H", T1, "H:mm", "H:30"),
    ("derived#fmt-SSS", T1, "yyyy-MM-dd HH:mm:ss.SSS", "2023-12-25 14:30:45.SSS"),
    ("derived#fmt-do", T1, "do MMM", "25o 1212"),
    ("derived#fmt-Q1", T1, "Q1 yyyy", "Q12 2023"),
    ("derived#fmt-MMMM", T1, "MMMM", "1212"),
    ("derived#fmt-hh-a", T1, "hh a", "02 PM"),
]


@pytest.mark.parametrize(
    ("moment", "pattern", "expected"), [pytest.param(m, p, x, id=i) for i, m, p, x in FORMATS]
)
def test_date_to_str_formatting(moment: datetime, pattern: str, expected: str) -> None:
    assert format_date_fns(moment, pattern) == expected


ISO_WEEKS = [
    (1694304000, 37, 1694390400), (1694304000, 1, 1704067200), (1694304000, 53, 1798416000),
    (1703980800, 52, 1704067200), (1609459200, 53, 1609113600), (1609459200, 1, 1609718400),
    (1700000000, 1, 1704147200), (1700000000, 52, 1703542400), (1735603200, 1, 1735516800),
]  # fmt: skip


@pytest.mark.parametrize(
    ("ref", "week", "expected"), [pytest.param(*v, id=f"derived#isoweek-{v[0]}-{v[1]}") for v in ISO_WEEKS]
)
def test_next_iso_week(ref: int, week: int, expected: int) -> None:
    assert next_iso_week_monday(week, ref, UTC) == expected


MONTHS = [(1704067200, 1, 1704067200), (1609459200, 1, 1609459200), (1700000000, 12, 1701388800),
          (1700000000, 9, 1725148800), (1703980800, 12, 1733011200)]  # fmt: skip


@pytest.mark.parametrize(
    ("ref", "month", "expected"), [pytest.param(*v, id=f"derived#month-{v[0]}-{v[1]}") for v in MONTHS]
)
def test_next_start_of_month(ref: int, month: int, expected: int) -> None:
    assert next_start_of_month(month, ref, UTC) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [(14, "14.000000"), (2.5, "2.500000"), (-0.0000004, "-0.000000"), (1e21, "1000000000000000000000.000000"),
     (math.nan, "NaN"), (math.inf, "+Inf")],
)  # fmt: skip
def test_go_percent_f(value: float, expected: str) -> None:
    assert go_format_f(value) == expected


def test_go_percent_d_truncates() -> None:
    assert (str(go_trunc(2.9)), str(go_trunc(-2.9))) == ("2", "-2")


@pytest.mark.parametrize(
    ("prefix", "width", "value", "expected"),
    [
        ("P-", 4, 42, "P-0042"),
        ("", 0, 7, "7"),
        ("X", 3, 12345, "X12345"),
        ("X", -3, 12, "X12 "),
        ("", 4, -5, "-005"),
    ],
)
def test_counter_padding(prefix: str, width: int, value: int, expected: str) -> None:
    assert go_format_padded_int(prefix, width, value) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("15", 15.0), ("1e3", 1000.0), ("+3.5", 3.5), (".5", 0.5), ("5.", 5.0), ("inf", math.inf),
     ("1_000", 1000.0), ("0x1p-2", 0.25), ("+Inf", math.inf), ("infinity", math.inf)],
)  # fmt: skip
def test_go_parse_float_accepts(text: str, expected: float) -> None:
    assert go_parse_float(text) == expected


def test_go_parse_float_nan() -> None:
    assert math.isnan(go_parse_float("NaN"))


@pytest.mark.parametrize("text", [" 15", "", "1,5", "0x10", "1e400", "1__0", "+nan"])
def test_go_parse_float_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        go_parse_float(text)


@pytest.mark.parametrize(
    ("base", "route", "expected"),
    [
        ("https://svc.example.org/api/", "", "https://svc.example.org/api"),
        ("https://svc.example.org/api", "leave", "https://svc.example.org/api/leave"),
        ("https://svc.example.org/api/", "leave/", "https://svc.example.org/api/leave/"),
        ("https://svc.example.org", "", "https://svc.example.org"),
        ("https://svc.example.org", "x", "https://svc.example.org/x"),
        ("https://svc.example.org/a/b?k=v", "../c", "https://svc.example.org/a/c?k=v"),
        ("https://svc.example.org/a", "x y?z", "https://svc.example.org/a/x%20y%3Fz"),
    ],
)
def test_go_url_join_path(base: str, route: str, expected: str) -> None:
    assert go_url_join_path(base, route) == expected
