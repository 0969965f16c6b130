"""Go `time.ParseDuration` / `Duration.String` parity; vectors from Go's `time/time_test.go`."""

from __future__ import annotations

import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from usermgmt_pipeline.config import GoDuration, format_go_duration, parse_go_duration

NS, US, MS, S, M, H = 1, 1_000, 1_000_000, 1_000_000_000, 60_000_000_000, 3_600_000_000_000

PARSE_VECTORS = [
    ("0", 0),
    ("5s", 5 * S),
    ("30s", 30 * S),
    ("1478s", 1478 * S),
    ("-5s", -5 * S),
    ("+5s", 5 * S),
    ("-0", 0),
    ("+0", 0),
    ("5.0s", 5 * S),
    ("5.6s", 5 * S + 600 * MS),
    ("5.s", 5 * S),
    (".5s", 500 * MS),
    ("1.0s", 1 * S),
    ("1.00s", 1 * S),
    ("1.004s", 1 * S + 4 * MS),
    ("1.0040s", 1 * S + 4 * MS),
    ("100.00100s", 100 * S + 1 * MS),
    ("10ns", 10 * NS),
    ("11us", 11 * US),
    ("12\u00b5s", 12 * US),
    ("12\u03bcs", 12 * US),
    ("13ms", 13 * MS),
    ("14s", 14 * S),
    ("15m", 15 * M),
    ("16h", 16 * H),
    ("3h30m", 3 * H + 30 * M),
    ("1h30m", 90 * M),
    ("1.5h", 90 * M),
    ("300ms", 300 * MS),
    ("10.5s4m", 4 * M + 10 * S + 500 * MS),
    ("-2m3.4s", -(2 * M + 3 * S + 400 * MS)),
    ("1h2m3s4ms5us6ns", 1 * H + 2 * M + 3 * S + 4 * MS + 5 * US + 6 * NS),
    ("39h9m14.425s", 39 * H + 9 * M + 14 * S + 425 * MS),
    ("52763797000ns", 52763797000 * NS),
    ("0.3333333333333333333h", 20 * M),
    ("9007199254740993ns", (1 << 53) + 1),
    ("9223372036854775807ns", (1 << 63) - 1),
    ("9223372036854775.807us", (1 << 63) - 1),
    ("9223372036s854ms775us807ns", (1 << 63) - 1),
    ("-9223372036854775808ns", -(1 << 63)),
    ("-9223372036854775.808us", -(1 << 63)),
    ("-9223372036s854ms775us808ns", -(1 << 63)),
    ("-2562047h47m16.854775808s", -(1 << 63)),
    ("0.100000000000000000000h", 6 * M),
    ("0.830103483285477580700h", 49 * M + 48 * S + 372539827 * NS),
    ("168h", 168 * H),
]

ERROR_VECTORS = [
    ("", 'time: invalid duration ""'),
    ("3", 'time: missing unit in duration "3"'),
    ("168", 'time: missing unit in duration "168"'),
    ("-", 'time: invalid duration "-"'),
    ("s", 'time: invalid duration "s"'),
    (".", 'time: invalid duration "."'),
    ("-.", 'time: invalid duration "-."'),
    (".s", 'time: invalid duration ".s"'),
    ("+.s", 'time: invalid duration "+.s"'),
    ("1d", 'time: unknown unit "d" in duration "1d"'),
    ("7d", 'time: unknown unit "d" in duration "7d"'),
    ("1w", 'time: unknown unit "w" in duration "1w"'),
    ("1.5.h", 'time: missing unit in duration "1.5.h"'),
    ("1 h", 'time: unknown unit " h" in duration "1 h"'),
    ("\ufffd", 'time: invalid duration "\\xef\\xbf\\xbd"'),
    ("\ufffd hello \ufffd world", 'time: invalid duration "\\xef\\xbf\\xbd hello \\xef\\xbf\\xbd world"'),
    ("1\u00c5", 'time: unknown unit "\\xc3\\x85" in duration "1\\xc3\\x85"'),
    ('1"s', 'time: unknown unit "\\"s" in duration "1\\"s"'),
    ("9223372036854775810ns", 'time: invalid duration "9223372036854775810ns"'),
    ("9223372036854775808ns", 'time: invalid duration "9223372036854775808ns"'),
    ("-9223372036854775809ns", 'time: invalid duration "-9223372036854775809ns"'),
    ("9223372036854776us", 'time: invalid duration "9223372036854776us"'),
    ("3000000h", 'time: invalid duration "3000000h"'),
    ("9223372036854775.808us", 'time: invalid duration "9223372036854775.808us"'),
    ("9223372036854ms775us808ns", 'time: invalid duration "9223372036854ms775us808ns"'),
    ("99999999999999999999999h", 'time: invalid duration "99999999999999999999999h"'),
]

FORMAT_VECTORS = [
    ("0s", 0),
    ("1ns", 1 * NS),
    ("1.1\u00b5s", 1100 * NS),
    ("2.2ms", 2200 * US),
    ("3.3s", 3300 * MS),
    ("4m5s", 4 * M + 5 * S),
    ("4m5.001s", 4 * M + 5001 * MS),
    ("5h6m7.001s", 5 * H + 6 * M + 7001 * MS),
    ("8m0.000000001s", 8 * M + 1 * NS),
    ("2562047h47m16.854775807s", (1 << 63) - 1),
    ("-2562047h47m16.854775808s", -(1 << 63)),
    ("168h0m0s", 168 * H),
    ("1h30m0s", 90 * M),
]


@pytest.mark.parametrize(("text", "nanoseconds"), PARSE_VECTORS)
def test_parse_go_duration_matches_go(text: str, nanoseconds: int) -> None:
    parsed = parse_go_duration(text)
    assert isinstance(parsed, GoDuration)
    assert int(parsed) == nanoseconds


@pytest.mark.parametrize(("text", "message"), ERROR_VECTORS)
def test_parse_go_duration_rejects_like_go_with_gos_message(text: str, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_go_duration(text)
    assert str(caught.value) == message


@pytest.mark.parametrize(("text", "nanoseconds"), FORMAT_VECTORS)
def test_go_duration_str_matches_go_string(text: str, nanoseconds: int) -> None:
    assert str(GoDuration(nanoseconds)) == text
    assert format_go_duration(nanoseconds) == text


def test_go_duration_is_an_int_with_seconds_repr_and_pickle() -> None:
    duration = parse_go_duration("1m30.5s")
    assert duration == 90_500_000_000
    assert duration.seconds == 90.5
    assert repr(duration) == "GoDuration('1m30.5s')"
    assert pickle.loads(pickle.dumps(duration)) == duration
    assert type(pickle.loads(pickle.dumps(duration))) is GoDuration


def test_go_duration_refuses_values_outside_int64() -> None:
    with pytest.raises(OverflowError):
        GoDuration(1 << 63)


def test_go_duration_pydantic_field_accepts_strings_and_refuses_bare_numbers() -> None:
    class Holder(BaseModel):
        d: GoDuration

    assert Holder(d="2h").d == 2 * H
    assert Holder(d=GoDuration(5)).d == 5
    assert Holder(d="2h").model_dump_json() == '{"d":"2h0m0s"}'
    with pytest.raises(ValidationError, match="nanoseconds"):
        Holder(d=168)
    with pytest.raises(ValidationError, match="unknown unit"):
        Holder(d="7d")


@settings(max_examples=1500, deadline=None)
@given(st.text(alphabet="0123456789.+-nsuµμmhd x", max_size=24))
def test_parse_go_duration_only_raises_value_error_and_round_trips(text: str) -> None:
    try:
        parsed = parse_go_duration(text)
    except ValueError:
        return
    assert parse_go_duration(str(parsed)) == parsed


@settings(max_examples=500, deadline=None)
@given(st.integers(min_value=-(1 << 63), max_value=(1 << 63) - 1))
def test_every_int64_duration_string_parses_back_to_itself(nanoseconds: int) -> None:
    assert parse_go_duration(format_go_duration(nanoseconds)) == nanoseconds
