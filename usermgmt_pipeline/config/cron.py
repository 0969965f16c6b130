"""Validation of the classic 5-field cron expressions used for the run schedule.

Hand-written because the domain core must not import Dagster, and `croniter` (which Dagster uses) also
accepts 6-field and `@daily`-style forms that we do not want in the config: a schedule that deletes
accounts should be spelled out in the one unambiguous form.
"""

from __future__ import annotations

_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    ("month", 1, 12, {name: number for number, name in enumerate(_MONTHS, start=1)}),
    ("day of week", 0, 7, {name: number for number, name in enumerate(_DAYS)}),
)


def _value(text: str, low: int, high: int, names: dict[str, int]) -> int | None:
    if text.lower() in names:
        return names[text.lower()]
    if text.isascii() and text.isdigit():
        number = int(text)
        if low <= number <= high:
            return number
    return None


def _item_problem(item: str, field: str, low: int, high: int, names: dict[str, int]) -> str | None:
    base, slash, step = item.partition("/")
    if slash and not (step.isascii() and step.isdigit() and int(step) > 0):
        return f"the {field} step must be a positive whole number"
    if base == "*":
        return None
    start_text, dash, end_text = base.partition("-")
    start = _value(start_text, low, high, names)
    end = _value(end_text, low, high, names) if dash else start
    if start is None or end is None:
        return f"the {field} field allows * or values from {low} to {high}"
    if start > end:
        return f"the {field} range runs backwards"
    return None


def cron_problem(expression: str) -> str | None:
    """None if `expression` is a valid `minute hour day-of-month month day-of-week` cron line."""
    parts = expression.split()
    if len(parts) != len(_FIELDS):
        return f"expected 5 fields (minute hour day-of-month month day-of-week), got {len(parts)}"
    for part, (field, low, high, names) in zip(parts, _FIELDS, strict=True):
        for item in part.split(","):
            problem = _item_problem(item, field, low, high, names)
            if problem is not None:
                return problem
    return None
