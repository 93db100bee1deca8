"""The working-day calendar that case deadlines run on."""

import datetime as dt

import pytest

from aggregator.dashboard.calendar import WorkCalendar
from aggregator.dashboard.config import DashboardSettings

# 2024-10-01..07 National Day holidays; 2024-10-12 (Saturday) a make-up working day.
NATIONAL_DAY = [f"2024-10-0{d}" for d in range(1, 8)]


@pytest.mark.parametrize("start, n, holidays, workdays, expected", [
    ("2024-09-02", 1, [], [], "2024-09-03"),            # Monday → Tuesday
    ("2024-09-06", 1, [], [], "2024-09-09"),            # Friday → Monday (weekend skipped)
    ("2024-09-07", 1, [], [], "2024-09-09"),            # rated on Saturday → Monday
    ("2024-09-08", 1, [], [], "2024-09-09"),            # rated on Sunday → Monday
    ("2024-09-02", 5, [], [], "2024-09-09"),            # a working week
    ("2024-09-02", 15, [], [], "2024-09-23"),           # three working weeks
    ("2024-09-30", 1, NATIONAL_DAY, [], "2024-10-08"),  # across the Golden Week
    ("2024-09-27", 2, NATIONAL_DAY, [], "2024-10-08"),  # Fri + Mon 30th, then after the break
    ("2024-10-11", 1, [], ["2024-10-12"], "2024-10-12"),  # a make-up Saturday counts
    ("2024-09-30", 15, NATIONAL_DAY, ["2024-10-12"], "2024-10-25"),
    ("2024-12-31", 1, ["2025-01-01"], [], "2025-01-02"),  # across the year and New Year
    ("2024-09-02", 0, [], [], "2024-09-02"),
])
def test_add_working_days(start, n, holidays, workdays, expected):
    cal = WorkCalendar(holidays, workdays)
    assert cal.add_working_days(start, n).isoformat() == expected


@pytest.mark.parametrize("day, working", [
    ("2024-10-01", False), ("2024-10-08", True), ("2024-10-12", True), ("2024-10-13", False),
    ("2024-09-07", False), ("2024-09-09", True),
])
def test_is_working_day(day, working):
    assert WorkCalendar(NATIONAL_DAY, ["2024-10-12"]).is_working_day(day) is working


def test_working_days_between_counts_after_start_up_to_end():
    cal = WorkCalendar(NATIONAL_DAY)
    assert cal.working_days_between("2024-09-27", "2024-10-08") == 2
    assert cal.working_days_between("2024-10-08", "2024-10-08") == 0


def test_negative_days_are_refused():
    with pytest.raises(ValueError):
        WorkCalendar().add_working_days(dt.date(2024, 9, 2), -1)


def test_settings_build_the_calendar_and_reject_bad_dates():
    s = DashboardSettings.from_dict({"holidays": ["2024-10-01"], "answer_days": 5})
    assert not s.calendar().is_working_day("2024-10-01")
    with pytest.raises(Exception, match="holidays"):
        DashboardSettings.from_dict({"holidays": ["10/01/2024"]})
    with pytest.raises(Exception, match="unknown dashboard setting"):
        DashboardSettings.from_dict({"answer_dayz": 5})
