"""Calendar arithmetic of the time expressions, in the engine's configurable zone (docs/study-engine.md §2.10, §3.2).

Go works in ``time.Local``; the port takes the zone explicitly (default UTC). ``AddDate`` keeps the
wall-clock time, so day steps are done on the local wall clock and re-localised, as Go's ``time.Date``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo

MONTH_NAMES = {
    "january": 1, "jan": 1, "february": 2, "feb": 2, "march": 3, "mar": 3, "april": 4, "apr": 4,
    "may": 5, "june": 6, "jun": 6, "july": 7, "jul": 7, "august": 8, "aug": 8,
    "september": 9, "sep": 9, "october": 10, "oct": 10, "november": 11, "nov": 11,
    "december": 12, "dec": 12,
}  # fmt: skip


def local_time(unix_seconds: int, zone: tzinfo) -> datetime:
    """Go ``time.Unix(s, 0).In(zone)``."""
    return datetime.fromtimestamp(unix_seconds, tz=UTC).astimezone(zone)


def unix_seconds(moment: datetime) -> int:
    """Go ``Time.Unix()`` (floors sub-second parts)."""
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return delta.days * 86400 + delta.seconds


def iso_week(unix: int, zone: tzinfo) -> int:
    return local_time(unix, zone).isocalendar()[1]


def _add_days(moment: datetime, days: int, zone: tzinfo) -> datetime:
    wall = moment.replace(tzinfo=None) + timedelta(days=days)
    return wall.replace(tzinfo=zone)


def next_start_of_month(month: int, ref_unix: int, zone: tzinfo) -> int:
    """00:00 local on the 1st of ``month``: this year unless that instant is already behind ``ref``."""
    ref = local_time(ref_unix, zone)
    year = ref.year
    start_this_year = datetime(year, month, 1, tzinfo=zone)
    if ref.month > month or (ref.month == month and unix_seconds(ref) > unix_seconds(start_this_year)):
        year += 1
    return unix_seconds(datetime(year, month, 1, tzinfo=zone))


def next_iso_week_monday(week: int, ref_unix: int, zone: tzinfo) -> int:
    """Step whole days from ``ref`` until the ISO week matches, then to "Monday" (Sunday bug kept)."""
    moment = local_time(ref_unix, zone)
    while moment.isocalendar()[1] != week:
        moment = _add_days(moment, 1, zone)
    go_weekday = moment.isoweekday() % 7  # Go: Sunday == 0, so a Sunday moves forward a day
    moment = _add_days(moment, -(go_weekday - 1), zone)
    return unix_seconds(moment)
