"""Go ``fmt``/``strconv``/``encoding/json`` behaviour the engine's results depend on.

Hand-written because no Python library reproduces Go's exact text: ``%f`` spells NaN/Inf differently,
``strconv.ParseFloat`` accepts hex floats and ``_`` separators but rejects surrounding spaces, and
``encoding/json`` escapes HTML characters and formats floats its own way (docs/study-engine.md §3.5, §4.3, §4.6, §4.7).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from usermgmt_pipeline.studyengine.values import GoInt64


def go_format_f(value: float) -> str:
    """Go ``fmt.Sprintf("%f", v)``: six decimals, ``NaN``, ``+Inf``, ``-Inf``."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return f"{value:f}"


def go_format_padded_int(prefix: str, width: int, value: int) -> str:
    """Go ``fmt.Sprintf("%s%0*d", prefix, width, value)``; a negative width left-justifies with spaces."""
    if width < 0:
        return f"{prefix}{value:<{-width}d}"
    return f"{prefix}{value:0{width}d}"


_DEC_DIGITS = r"\d(?:_?\d)*"
_HEX_DIGITS = r"[0-9a-fA-F](?:_?[0-9a-fA-F])*"
_DECIMAL_RE = re.compile(
    rf"[+-]?(?:{_DEC_DIGITS}(?:\.(?:{_DEC_DIGITS})?)?|\.{_DEC_DIGITS})(?:[eE][+-]?{_DEC_DIGITS})?"
)
_HEX_RE = re.compile(
    rf"[+-]?0[xX]_?(?:{_HEX_DIGITS}(?:\.(?:{_HEX_DIGITS})?)?|\.{_HEX_DIGITS})[pP][+-]?{_DEC_DIGITS}"
)


def go_parse_float(text: str) -> float:
    """Go ``strconv.ParseFloat(s, 64)``; raises ``ValueError`` where Go returns an error (docs/study-engine.md §3.5)."""
    special = _parse_special(text)
    if special is not None:
        return special
    if _HEX_RE.fullmatch(text):
        try:
            result = float.fromhex(text.replace("_", ""))
        except OverflowError as exc:
            raise ValueError(f'strconv.ParseFloat: parsing "{text}": value out of range') from exc
    elif _DECIMAL_RE.fullmatch(text):
        result = float(text.replace("_", ""))
    else:
        raise ValueError(f'strconv.ParseFloat: parsing "{text}": invalid syntax')
    if math.isinf(result):
        raise ValueError(f'strconv.ParseFloat: parsing "{text}": value out of range')
    return result


def _parse_special(text: str) -> float | None:
    """Go's ``special()``: signed inf/infinity (any case); ``nan`` only unsigned."""
    lowered = text.lower()
    if lowered == "nan":
        return math.nan
    sign = 1.0
    body = lowered
    if body[:1] in ("+", "-"):
        sign = -1.0 if body[0] == "-" else 1.0
        body = body[1:]
    if body in ("inf", "infinity"):
        return sign * math.inf
    return None


def go_json_dumps(value: Any) -> str:
    """Go ``json.Marshal`` of a decoded-JSON-like value: sorted map keys, HTML-escaped strings."""
    parts: list[str] = []
    _encode(value, parts)
    return "".join(parts)


def _encode(value: Any, out: list[str]) -> None:
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, str):
        out.append(go_json_string(value))
    elif isinstance(value, GoInt64):
        out.append(str(value.value))
    elif isinstance(value, int):
        out.append(str(int(value)))
    elif isinstance(value, float):
        out.append(go_json_float(value))
    elif isinstance(value, GoJSONObject):
        out.append("{")
        for index, (key, item) in enumerate(value.items):
            if index:
                out.append(",")
            out.append(go_json_string(key))
            out.append(":")
            _encode(item, out)
        out.append("}")
    elif isinstance(value, Mapping):
        out.append("{")
        for index, key in enumerate(sorted(value, key=lambda k: str(k).encode("utf-8"))):
            if index:
                out.append(",")
            out.append(go_json_string(str(key)))
            out.append(":")
            _encode(value[key], out)
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _encode(item, out)
        out.append("]")
    else:
        raise TypeError(f"cannot JSON-encode {type(value).__name__}")


class GoJSONObject:
    """A JSON object whose keys keep their given order (Go struct fields), unlike sorted Go maps."""

    __slots__ = ("items",)

    def __init__(self, items: list[tuple[str, Any]]) -> None:
        self.items = items


_JSON_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def go_json_string(text: str) -> str:
    """Go's string encoding: HTML-safe (``<``, ``>``, ``&`` as ``\\u003c`` ...) and U+2028/2029 escaped."""
    out = ['"']
    for char in text:
        code = ord(char)
        if char in _JSON_ESCAPES:
            out.append(_JSON_ESCAPES[char])
        elif code < 0x20 or char in "<>&" or code in (0x2028, 0x2029):
            out.append(f"\\u{code:04x}")
        elif 0xD800 <= code <= 0xDFFF:
            out.append("\ufffd")  # Go replaces invalid UTF-8 (lone surrogates here) with U+FFFD
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def go_json_float(value: float) -> str:
    """Go ``encoding/json`` float64 text: shortest digits, ``e`` form below 1e-6 or from 1e21."""
    if math.isnan(value) or math.isinf(value):
        raise ValueError(f"json: unsupported value: {go_format_f(value)}")
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    magnitude = abs(value)
    if magnitude < 1e-6 or magnitude >= 1e21:
        text = repr(value)  # Python uses the e form here too, with Go's two-digit exponent minimum
        mantissa, _, exponent = text.partition("e")
        sign = exponent[0]
        digits = exponent[1:].lstrip("0") or "0"
        if len(digits) < 2 and sign == "+":
            digits = digits.rjust(2, "0")
        return f"{mantissa}e{sign}{digits}"
    text = format(Decimal(repr(value)), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text
