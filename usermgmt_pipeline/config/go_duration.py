"""Go `time.Duration`: parsing exactly like `time.ParseDuration` and printing like `Duration.String`.

Hand-written on purpose: no Python library parses Go duration strings with Go's exact grammar, unit set
(`ns`, `us`, `µs` U+00B5, `μs` U+03BC, `ms`, `s`, `m`, `h`), fraction rounding and overflow rules. The
Go job's config stores its thresholds as such strings, and a threshold that is read differently here
would select (and delete) different users, so this is a line-by-line port of Go's `time/format.go`.
"""

from __future__ import annotations

from typing import Any

from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema

NANOSECOND = 1
MICROSECOND = 1000 * NANOSECOND
MILLISECOND = 1000 * MICROSECOND
SECOND = 1000 * MILLISECOND
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE

_MAX_INT64 = (1 << 63) - 1
_UNITS: dict[str, int] = {
    "ns": NANOSECOND,
    "us": MICROSECOND,
    "\u00b5s": MICROSECOND,  # µ MICRO SIGN
    "\u03bcs": MICROSECOND,  # μ GREEK SMALL LETTER MU
    "ms": MILLISECOND,
    "s": SECOND,
    "m": MINUTE,
    "h": HOUR,
}


class GoDuration(int):
    """A Go `time.Duration`: an `int` counting nanoseconds that prints in Go's format (`168h0m0s`).

    Pydantic accepts a `GoDuration` or a Go duration string; a plain number is refused because Go's
    YAML decoder would read it as nanoseconds, which is never what a config author meant.
    """

    __slots__ = ()

    def __new__(cls, nanoseconds: int = 0) -> GoDuration:
        value = int(nanoseconds)
        if not -(1 << 63) <= value <= _MAX_INT64:
            raise OverflowError("a Go duration must fit in a signed 64-bit integer of nanoseconds")
        return super().__new__(cls, value)

    @property
    def seconds(self) -> float:
        return int(self) / SECOND

    def __str__(self) -> str:
        return format_go_duration(int(self))

    def __repr__(self) -> str:
        return f"GoDuration({str(self)!r})"

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(
            _validate_pydantic,
            serialization=core_schema.plain_serializer_function_ser_schema(str, when_used="json"),
        )


def _validate_pydantic(value: Any) -> GoDuration:
    if isinstance(value, GoDuration):
        return value
    if isinstance(value, str):
        return parse_go_duration(value)
    raise ValueError(
        'expected a Go duration string such as "168h", "90m" or "1h30m" '
        "(a plain number would mean nanoseconds in Go)"
    )


def _quote(text: str) -> str:
    """Go `time.quote`: double quotes, `\\xNN` for every byte of non-ASCII or control characters."""
    out = ['"']
    for char in text:
        if ord(char) >= 0x80 or char < " ":
            out.extend(f"\\x{byte:02x}" for byte in char.encode("utf-8", "surrogatepass"))
        else:
            if char in '"\\':
                out.append("\\")
            out.append(char)
    out.append('"')
    return "".join(out)


def _leading_int(s: str) -> tuple[int, str] | None:
    x = 0
    i = 0
    while i < len(s) and "0" <= s[i] <= "9":
        if x > (1 << 63) // 10:
            return None
        x = x * 10 + ord(s[i]) - 48
        if x > 1 << 63:
            return None
        i += 1
    return x, s[i:]


def _leading_fraction(s: str) -> tuple[int, float, str]:
    x = 0
    scale = 1.0
    overflow = False
    i = 0
    while i < len(s) and "0" <= s[i] <= "9":
        if not overflow:
            if x > _MAX_INT64 // 10:
                overflow = True
            else:
                y = x * 10 + ord(s[i]) - 48
                if y > 1 << 63:
                    overflow = True
                else:
                    x = y
                    scale *= 10
        i += 1
    return x, scale, s[i:]


def parse_go_duration(text: str) -> GoDuration:
    """Parse like Go `time.ParseDuration`; raise `ValueError` with Go's own error text.

    Grammar: `[-+]?([0-9]*(\\.[0-9]*)?[a-z]+)+`, or `0` alone (with optional sign). Examples: `1h30m`,
    `1.5h`, `300ms`, `-2µs`. No `d`/`w`/`y` units; `""`, `168` and `-` are invalid.
    """
    orig = text
    s = text
    neg = False
    if s and s[0] in "-+":
        neg = s[0] == "-"
        s = s[1:]
    if s == "0":
        return GoDuration(0)
    invalid = ValueError(f"time: invalid duration {_quote(orig)}")
    if s == "":
        raise invalid
    total = 0
    while s:
        if not (s[0] == "." or "0" <= s[0] <= "9"):
            raise invalid
        before = len(s)
        leading = _leading_int(s)
        if leading is None:
            raise invalid
        v, s = leading
        pre = before != len(s)
        post = False
        f, scale = 0, 1.0
        if s and s[0] == ".":
            s = s[1:]
            before = len(s)
            f, scale, s = _leading_fraction(s)
            post = before != len(s)
        if not pre and not post:
            raise invalid
        i = 0
        while i < len(s) and not (s[i] == "." or "0" <= s[i] <= "9"):
            i += 1
        if i == 0:
            raise ValueError(f"time: missing unit in duration {_quote(orig)}")
        unit_text, s = s[:i], s[i:]
        unit = _UNITS.get(unit_text)
        if unit is None:
            raise ValueError(f"time: unknown unit {_quote(unit_text)} in duration {_quote(orig)}")
        if v > (1 << 63) // unit:
            raise invalid
        v *= unit
        if f > 0:
            # Go computes this in float64 and truncates; the same here keeps nanosecond parity.
            v += int(float(f) * (float(unit) / scale))
            if v > 1 << 63:
                raise invalid
        total += v
        if total > 1 << 63:
            raise invalid
    if neg:
        return GoDuration(-total)
    if total > _MAX_INT64:
        raise invalid
    return GoDuration(total)


def _fmt_frac(v: int, prec: int) -> tuple[str, int]:
    digits: list[str] = []
    printed = False
    for _ in range(prec):
        digit = v % 10
        printed = printed or digit != 0
        if printed:
            digits.append(str(digit))
        v //= 10
    return ("." + "".join(reversed(digits)) if printed else ""), v


def format_go_duration(nanoseconds: int) -> str:
    """Go `Duration.String`: `72h3m0.5s`, `1.5µs`, `0s`; the leading unit is never larger than hours."""
    neg = nanoseconds < 0
    u = -nanoseconds if neg else nanoseconds
    if u < SECOND:
        if u == 0:
            return "0s"
        if u < MICROSECOND:
            prec, unit = 0, "ns"
        elif u < MILLISECOND:
            prec, unit = 3, "\u00b5s"
        else:
            prec, unit = 6, "ms"
        frac, u = _fmt_frac(u, prec)
        text = f"{u}{frac}{unit}"
    else:
        frac, u = _fmt_frac(u, 9)
        text = f"{u % 60}{frac}s"
        u //= 60
        if u > 0:
            text = f"{u % 60}m{text}"
            u //= 60
            if u > 0:
                text = f"{u}h{text}"
    return f"-{text}" if neg else text
