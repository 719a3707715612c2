"""Business hours: `{"mon": [["08:00", "18:00"]], "sat": [["09:00", "13:00"]], ...}` in a timezone.

An empty schedule means always open; once any day is given, a day that is missing (or has no
ranges) is closed. A range whose end is before its start runs past midnight ("22:00"-"06:00").
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _parse(value: str) -> time:
    hours, minutes = value.split(":")
    if hours == "24" and minutes == "00":
        return time.max
    return time(int(hours), int(minutes))


def business_hours_validate(schedule) -> None:
    """Raises ValidationError with a readable message for a malformed schedule."""
    if not isinstance(schedule, dict):
        raise ValidationError(_('Business hours must be an object like {"mon": [["08:00", "18:00"]]}.'))
    for day, ranges in schedule.items():
        if day not in DAYS:
            raise ValidationError(_("Unknown day %(day)s: use mon, tue, wed, thu, fri, sat, sun.") % {"day": day})
        if not isinstance(ranges, list):
            raise ValidationError(_("%(day)s must be a list of [start, end] pairs.") % {"day": day})
        for pair in ranges:
            try:
                start, end = pair
                _parse(start), _parse(end)
            except (TypeError, ValueError):
                raise ValidationError(
                    _('%(day)s: %(pair)s is not a ["HH:MM", "HH:MM"] pair.') % {"day": day, "pair": pair}
                ) from None


def is_open(schedule: dict | None, tz_name: str, at: datetime) -> bool:
    """Whether `at` (an aware datetime) falls inside the schedule, read in `tz_name`."""
    if not schedule:
        return True
    local = at.astimezone(ZoneInfo(tz_name))
    now = local.time()
    today = DAYS[local.weekday()]
    yesterday = DAYS[(local.weekday() - 1) % 7]
    for start, end in schedule.get(today) or []:
        start, end = _parse(start), _parse(end)
        if start <= end and start <= now < end:
            return True
        if start > end and now >= start:  # the evening part of an overnight range
            return True
    for start, end in schedule.get(yesterday) or []:
        start, end = _parse(start), _parse(end)
        if start > end and now < end:  # the morning part of yesterday's overnight range
            return True
    return False


def _open_intervals(schedule: dict, tz: ZoneInfo, day) -> list[tuple[datetime, datetime]]:
    """The open intervals that start on local `day`, as aware datetimes (an overnight range ends
    on the next day; "24:00" is the next midnight). Wall-clock times, so DST days are honoured."""
    intervals = []
    for start, end in schedule.get(DAYS[day.weekday()]) or []:
        opens = datetime.combine(day, _parse(start), tz)
        end_time = _parse(end)
        if end_time == time.max:
            closes = datetime.combine(day + timedelta(days=1), time.min, tz)
        elif end_time <= _parse(start):
            closes = datetime.combine(day + timedelta(days=1), end_time, tz)
        else:
            closes = datetime.combine(day, end_time, tz)
        # In UTC: subtracting two datetimes of the same zone ignores a DST jump between them.
        intervals.append((opens.astimezone(UTC), closes.astimezone(UTC)))
    return intervals


def business_seconds_between(schedule: dict | None, tz_name: str, start: datetime, end: datetime) -> float:
    """Seconds between two aware datetimes that fall inside the schedule (read in `tz_name`): a
    customer who writes on Friday evening and is answered on Monday morning waited only the open
    hours in between. An empty schedule counts every second; `end` before `start` counts none."""
    if end <= start:
        return 0.0
    if not schedule:
        return (end - start).total_seconds()
    tz = ZoneInfo(tz_name)
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    day = start.astimezone(tz).date() - timedelta(days=1)  # yesterday's overnight range may still be open
    last_day = end.astimezone(tz).date()
    total = 0.0
    while day <= last_day:
        for opens, closes in _open_intervals(schedule, tz, day):
            overlap = (min(closes, end) - max(opens, start)).total_seconds()
            if overlap > 0:
                total += overlap
        day += timedelta(days=1)
    return total
