"""Business hours: `{"mon": [["08:00", "18:00"]], "sat": [["09:00", "13:00"]], ...}` in a timezone.

An empty schedule means always open; once any day is given, a day that is missing (or has no
ranges) is closed. A range whose end is before its start runs past midnight ("22:00"-"06:00").
"""

from __future__ import annotations

from datetime import datetime, time
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
