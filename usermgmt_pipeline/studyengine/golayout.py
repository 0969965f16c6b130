"""``dateToStr``: the date-fns-like token mapping followed by Go's ``time.Format`` (docs/study-engine.md §3.4).

Hand-written: the engine turns a date-fns pattern into a Go layout by blind substring replacement and
then formats with Go's layout language, so literal letters and digits in the pattern become Go tokens
(``"at"`` -> ``"PMt"``). Reproducing those results needs Go's layout tokenizer (``time/format.go``
``nextStdChunk``), which is mirrored here for every Go token.
"""

from __future__ import annotations

from datetime import datetime

# Applied in this order, as global plain-substring replacements (docs/study-engine.md §3.4 step 1).
_DATE_FNS_TO_GO = (
    ("yyyy", "2006"),
    ("yy", "06"),
    ("MM", "01"),
    ("M", "1"),
    ("dd", "02"),
    ("d", "2"),
    ("HH", "15"),
    ("hh", "03"),
    ("mm", "04"),
    ("m", "4"),
    ("ss", "05"),
    ("s", "5"),
    ("aa", "PM"),
    ("a", "PM"),
)

_LONG_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
_LONG_DAYS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")


def date_fns_to_go_layout(pattern: str) -> str:
    for source, target in _DATE_FNS_TO_GO:
        pattern = pattern.replace(source, target)
    return pattern


def format_date_fns(moment: datetime, pattern: str) -> str:
    """The engine's ``dateToStr`` formatting of an aware datetime."""
    return go_time_format(moment, date_fns_to_go_layout(pattern))


def _starts_with_lower(text: str) -> bool:
    return bool(text) and "a" <= text[0] <= "z"


def _is_digit(text: str, index: int) -> bool:
    return index < len(text) and "0" <= text[index] <= "9"


def _next_chunk(layout: str) -> tuple[str, str | None, str]:
    """Go ``nextStdChunk``: (literal prefix, std token or None, rest)."""
    length = len(layout)
    for i, char in enumerate(layout):
        rest = layout[i:]
        if char == "J" and rest.startswith("Jan"):
            if rest.startswith("January"):
                return layout[:i], "January", layout[i + 7 :]
            if not _starts_with_lower(layout[i + 3 :]):
                return layout[:i], "Jan", layout[i + 3 :]
        elif char == "M" and length >= i + 3:
            if rest.startswith("Mon"):
                if rest.startswith("Monday"):
                    return layout[:i], "Monday", layout[i + 6 :]
                if not _starts_with_lower(layout[i + 3 :]):
                    return layout[:i], "Mon", layout[i + 3 :]
            if rest.startswith("MST"):
                return layout[:i], "MST", layout[i + 3 :]
        elif char == "0":
            if length >= i + 2 and "1" <= layout[i + 1] <= "6":
                return layout[:i], layout[i : i + 2], layout[i + 2 :]
            if rest.startswith("002"):
                return layout[:i], "002", layout[i + 3 :]
        elif char == "1":
            if rest.startswith("15"):
                return layout[:i], "15", layout[i + 2 :]
            return layout[:i], "1", layout[i + 1 :]
        elif char == "2":
            if rest.startswith("2006"):
                return layout[:i], "2006", layout[i + 4 :]
            return layout[:i], "2", layout[i + 1 :]
        elif char == "_":
            if length >= i + 2 and layout[i + 1] == "2":
                if layout[i + 1 : i + 5] == "2006":
                    return layout[: i + 1], "2006", layout[i + 5 :]
                return layout[:i], "_2", layout[i + 2 :]
            if rest.startswith("__2"):
                return layout[:i], "__2", layout[i + 3 :]
        elif char in "345":
            return layout[:i], char, layout[i + 1 :]
        elif char == "P" and rest.startswith("PM"):
            return layout[:i], "PM", layout[i + 2 :]
        elif char == "p" and rest.startswith("pm"):
            return layout[:i], "pm", layout[i + 2 :]
        elif char in "-Z":
            for token in ("070000", "07:00:00", "0700", "07:00", "07"):
                if rest.startswith(char + token):
                    return layout[:i], char + token, layout[i + 1 + len(token) :]
        elif char in ".," and i + 1 < length and layout[i + 1] in "09":
            digit = layout[i + 1]
            j = i + 1
            while j < length and layout[j] == digit:
                j += 1
            if not _is_digit(layout, j):
                return layout[:i], char + layout[i + 1 : j], layout[j:]
    return layout, None, ""


def go_time_format(moment: datetime, layout: str) -> str:
    """Go ``Time.Format(layout)`` for an aware datetime (nanoseconds taken from microseconds)."""
    out: list[str] = []
    while layout:
        prefix, token, layout = _next_chunk(layout)
        out.append(prefix)
        if token is None:
            break
        out.append(_render(moment, token))
    return "".join(out)


def _render(moment: datetime, token: str) -> str:
    hour12 = moment.hour % 12 or 12
    simple = {
        "January": _LONG_MONTHS[moment.month - 1],
        "Jan": _LONG_MONTHS[moment.month - 1][:3],
        "Monday": _LONG_DAYS[moment.isoweekday() % 7],
        "Mon": _LONG_DAYS[moment.isoweekday() % 7][:3],
        "01": f"{moment.month:02d}",
        "1": str(moment.month),
        "02": f"{moment.day:02d}",
        "2": str(moment.day),
        "_2": f"{moment.day:2d}",
        "002": f"{moment.timetuple().tm_yday:03d}",
        "__2": f"{moment.timetuple().tm_yday:3d}",
        "03": f"{hour12:02d}",
        "3": str(hour12),
        "15": f"{moment.hour:02d}",
        "04": f"{moment.minute:02d}",
        "4": str(moment.minute),
        "05": f"{moment.second:02d}",
        "5": str(moment.second),
        "06": f"{moment.year % 100:02d}",
        "2006": f"{moment.year:04d}",
        "PM": "PM" if moment.hour >= 12 else "AM",
        "pm": "pm" if moment.hour >= 12 else "am",
    }
    if token in simple:
        return simple[token]
    if token == "MST":
        name = moment.tzname()
        return name if name else _zone_offset(moment, "-0700")
    if token[0] in "-Z":
        return _zone_offset(moment, token)
    return _fraction(moment, token)


def _zone_offset(moment: datetime, token: str) -> str:
    offset = moment.utcoffset()
    seconds = int(offset.total_seconds()) if offset is not None else 0
    if token[0] == "Z" and seconds == 0:
        return "Z"
    sign = "-" if seconds < 0 else "+"
    seconds = abs(seconds)
    hours, minutes, secs = seconds // 3600, seconds // 60 % 60, seconds % 60
    body = token[1:]
    if body == "07":
        return f"{sign}{hours:02d}"
    if body == "0700":
        return f"{sign}{hours:02d}{minutes:02d}"
    if body == "07:00":
        return f"{sign}{hours:02d}:{minutes:02d}"
    if body == "070000":
        return f"{sign}{hours:02d}{minutes:02d}{secs:02d}"
    return f"{sign}{hours:02d}:{minutes:02d}:{secs:02d}"


def _fraction(moment: datetime, token: str) -> str:
    separator, digits = token[0], token[1:]
    nanos = f"{moment.microsecond * 1000:09d}"[: len(digits)]
    if digits[0] == "9":
        nanos = nanos.rstrip("0")
        if not nanos:
            return ""
    return separator + nanos
