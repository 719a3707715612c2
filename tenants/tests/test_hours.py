"""Time inside business hours, as the dashboard counts first-response and resolution times."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from tenants.hours import business_seconds_between

SP = "America/Sao_Paulo"  # UTC-3, no DST since 2019
WEEKDAYS = {day: [["08:00", "18:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}
HOUR = 3600


def sp(*args):
    return datetime(*args, tzinfo=ZoneInfo(SP))


def test_without_a_schedule_every_second_counts():
    assert business_seconds_between({}, SP, sp(2026, 3, 6, 20, 0), sp(2026, 3, 9, 9, 0)) == 61 * HOUR


def test_inside_one_open_range():
    assert business_seconds_between(WEEKDAYS, SP, sp(2026, 3, 4, 9, 0), sp(2026, 3, 4, 9, 30)) == 1800


def test_friday_evening_to_monday_morning_counts_only_monday():
    # 2026-03-06 is a Friday: the weekend and the nights do not count.
    assert business_seconds_between(WEEKDAYS, SP, sp(2026, 3, 6, 19, 0), sp(2026, 3, 9, 9, 15)) == 75 * 60


def test_across_several_days():
    # Wednesday 17:00 → Friday 10:00: 1 h + 10 h + 2 h.
    assert business_seconds_between(WEEKDAYS, SP, sp(2026, 3, 4, 17, 0), sp(2026, 3, 6, 10, 0)) == 13 * HOUR


def test_split_ranges_skip_the_lunch_break():
    schedule = {"mon": [["08:00", "12:00"], ["13:00", "18:00"]]}
    assert business_seconds_between(schedule, SP, sp(2026, 3, 2, 11, 0), sp(2026, 3, 2, 14, 0)) == 2 * HOUR


def test_overnight_range_counts_after_midnight():
    schedule = {"fri": [["22:00", "06:00"]]}
    # Friday 23:00 → Saturday 07:00: until 06:00 only.
    assert business_seconds_between(schedule, SP, sp(2026, 3, 6, 23, 0), sp(2026, 3, 7, 7, 0)) == 7 * HOUR
    # Starting on Saturday 01:00, inside Friday's range.
    assert business_seconds_between(schedule, SP, sp(2026, 3, 7, 1, 0), sp(2026, 3, 7, 2, 0)) == HOUR


def test_until_midnight():
    schedule = {"sat": [["20:00", "24:00"]]}
    assert business_seconds_between(schedule, SP, sp(2026, 3, 7, 19, 0), sp(2026, 3, 8, 3, 0)) == 4 * HOUR


def test_read_in_the_tenants_timezone():
    # 11:00-12:00 UTC is 08:00-09:00 in São Paulo: open there.
    start, end = datetime(2026, 3, 4, 11, 0, tzinfo=UTC), datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
    assert business_seconds_between(WEEKDAYS, SP, start, end) == HOUR
    assert business_seconds_between(WEEKDAYS, "Asia/Tokyo", start, end) == 0  # 20:00-21:00 there


def test_a_dst_day_counts_real_seconds():
    # Berlin springs forward on 2026-03-29 at 02:00: the range 00:00-06:00 lasts 5 real hours.
    schedule = {"sun": [["00:00", "06:00"]]}
    berlin = ZoneInfo("Europe/Berlin")
    start, end = datetime(2026, 3, 29, 0, 0, tzinfo=berlin), datetime(2026, 3, 29, 8, 0, tzinfo=berlin)
    assert business_seconds_between(schedule, "Europe/Berlin", start, end) == 5 * HOUR


@pytest.mark.parametrize("schedule", [{}, WEEKDAYS])
def test_end_before_start_counts_nothing(schedule):
    assert business_seconds_between(schedule, SP, sp(2026, 3, 4, 10, 0), sp(2026, 3, 4, 9, 0)) == 0
