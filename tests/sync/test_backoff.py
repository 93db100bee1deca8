"""Full-jitter backoff and Retry-After parsing, with an injected random source."""

from __future__ import annotations

from datetime import datetime, timezone

from sync.backoff import CAP_SECONDS, Backoff, full_jitter, parse_retry_after


def upper(lo, hi):
    return hi


def test_ceiling_doubles_from_one_second_to_fifteen_minutes():
    b = Backoff(uniform=upper)
    delays = [b.failure() for _ in range(14)]
    assert delays[:5] == [1, 2, 4, 8, 16]
    assert delays[-1] == CAP_SECONDS == 900


def test_full_jitter_draws_between_zero_and_the_ceiling():
    draws = []
    full_jitter(3, uniform=lambda lo, hi: draws.append((lo, hi)) or lo)
    assert draws == [(0, 8)]


def test_huge_failure_counts_do_not_overflow():
    assert full_jitter(10_000, uniform=upper) == CAP_SECONDS


def test_success_resets():
    b = Backoff(uniform=upper)
    b.failure(), b.failure(), b.failure()
    b.success()
    assert b.failure() == 1


def test_retry_after_is_a_floor():
    b = Backoff(uniform=lambda lo, hi: lo)
    assert b.failure(retry_after=30) == 30
    assert Backoff(uniform=upper, max_retry_after=60).failure(retry_after=10 ** 6) == 60


def test_parse_retry_after_seconds_and_http_date():
    now = datetime(2026, 11, 23, 1, 0, 0, tzinfo=timezone.utc)
    assert parse_retry_after("120") == 120
    assert parse_retry_after("Mon, 23 Nov 2026 01:02:00 GMT", now) == 120
    assert parse_retry_after("Mon, 23 Nov 2026 00:00:00 GMT", now) == 0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_a_date_beyond_any_calendar_is_no_retry_after():
    # A middlebox's "year 99999999999999999999" raised OverflowError, which no sync error
    # handler caught: every retry logged a traceback.
    assert parse_retry_after("Mon, 01 Jan 99999999999999999999 00:00:00 GMT") is None
