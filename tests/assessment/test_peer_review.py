"""Peer review (互评) and leader comments (领导点评) at the store: one review per reviewer per
colleague per period, anonymity of the reviewers, self-review kept apart, publishing with
star levels and the award. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest
from sqlalchemy import func, select

from aggregator import constants as C
from aggregator import ratings as rating_store
from aggregator.dashboard import assessment_publish as publishing
from aggregator.dashboard import assessment_store as store
from aggregator.dashboard.assessment_config import AssessmentSettings
from aggregator.dashboard.assessment_tables import peer_reviews
from aggregator.dashboard.periods import Period
from aggregator.db import read, utcnow, write
from aggregator.errors import BadRequest, NotFound

ALL = {"skill": 5, "conduct": 5, "results": 5}


def _period(today):
    return Period("month", today.year, today.month)


def _review(engine, reviewer, reviewee, today, scores=ALL, settings=None):
    with write(engine) as conn:
        me = store.staff_row(conn, reviewer)
        return store.submit_review(conn, _period(today), me, reviewee, scores,
                                   settings or AssessmentSettings(), utcnow(), today)


def _ratings(engine, window, staff_id, n, level, day):
    tz = dt.timezone(dt.timedelta(hours=8))
    when = dt.datetime.combine(day, dt.time(10), tz)
    rows = [{"id": str(uuid.uuid4()), "device_id": f"d-{window}", "window_id": window,
             "unit_id": "U-A", "staff_id": staff_id, "staff_name": staff_id,
             "service_item": None, "case_no": None, "invitation_id": None,
             "channel": C.CHANNEL_HALL_TABLET, "level": level, "stars": C.STARS[level],
             "scale": 5, "reasons": None, "reasons_version": None, "comment": None,
             "phone": None, "callback_consent": False, "device_time": when, "server_time": when,
             "day": day.isoformat(), "flags": "[]", "flagged": False} for _ in range(n)]
    with write(engine) as conn:
        rating_store.store(conn, rows)


def test_second_review_of_the_same_colleague_in_a_period_is_refused(small_org, today):
    engine, _ = small_org
    _review(engine, "A1", "A2", today)
    # Why: a reviewer who could re-submit (or overwrite) could keep lowering a colleague.
    with pytest.raises(store.AlreadyReviewed):
        _review(engine, "A1", "A2", today, {"skill": 1, "conduct": 1, "results": 1})
    with read(engine) as conn:
        n = conn.execute(select(func.count()).select_from(peer_reviews)).scalar()
        parts = store.peer_parts(conn, _period(today).key, {"U-A"},
                                 AssessmentSettings(min_reviewers=1))
    assert n == 1
    assert parts["A2"]["score"] == 100.0   # the first review stands, never overwritten
    # … while the next period takes a new review of the same colleague
    prev = _period(today).previous()
    with write(engine) as conn:
        store.submit_review(conn, prev, store.staff_row(conn, "A1"), "A2", ALL,
                            AssessmentSettings(), utcnow(), today)


def test_peer_part_is_anonymous_and_needs_enough_reviewers(small_org, today):
    engine, _ = small_org
    s = AssessmentSettings(min_reviewers=3)
    _review(engine, "A1", "A3", today, {"skill": 5, "conduct": 4, "results": 3})
    _review(engine, "A2", "A3", today, {"skill": 3, "conduct": 4, "results": 5})
    with read(engine) as conn:
        two = store.peer_parts(conn, _period(today).key, {"U-A"}, s)["A3"]
    # Two reviewers: with a mean and one's own review, either could work out the other's.
    assert two == {"by_criterion": {}, "reviewers": 2, "score": None}
    _review(engine, "A4", "A3", today, {"skill": 4, "conduct": 4, "results": 4})
    with read(engine) as conn:
        three = store.peer_parts(conn, _period(today).key, {"U-A"}, s)["A3"]
    assert three["reviewers"] == 3
    assert three["by_criterion"] == {"skill": 4.0, "conduct": 4.0, "results": 4.0}
    assert three["score"] == 75.0                       # mean 4 of 1-5 → 75 of 0-100
    assert set(three) == {"by_criterion", "reviewers", "score"}   # nothing names a reviewer


def test_self_review_is_kept_apart_from_the_peer_part(small_org, today):
    engine, _ = small_org
    s = AssessmentSettings(min_reviewers=1)
    _review(engine, "A1", "A1", today, ALL)   # a glowing self-review …
    _review(engine, "A2", "A1", today, {"skill": 3, "conduct": 3, "results": 3})
    with read(engine) as conn:
        peers = store.peer_parts(conn, _period(today).key, {"U-A"}, s)["A1"]
        own = store.peer_parts(conn, _period(today).key, {"U-A"}, s, self_review=True)["A1"]
        live = store.compute(conn, _period(today), {"U-A"}, s, prior=20)
    assert peers["score"] == 50.0 and peers["reviewers"] == 1   # … does not lift the peer part
    assert own["score"] == 100.0
    assert next(r for r in live["staff"] if r["id"] == "A1")["peers"] == 50.0


def test_review_only_within_the_unit_and_with_valid_scores(small_org, today):
    engine, _ = small_org
    with pytest.raises(NotFound):
        _review(engine, "A1", "B1", today)              # another unit's staff member
    with pytest.raises(BadRequest) as err:
        _review(engine, "A1", "A2", today, {"skill": 6, "conduct": 5, "results": 5})
    assert err.value.field == "skill"
    with pytest.raises(store.PeriodClosed):             # long past periods are closed
        with write(engine) as conn:
            store.submit_review(conn, Period("month", 2020, 1), store.staff_row(conn, "A1"),
                                "A2", ALL, AssessmentSettings(), utcnow(), today)


def test_leader_comment_one_per_leader_target_period_and_scoped(small_org, today):
    engine, _ = small_org
    boss = {"id": 900, "username": "boss", "display_name": "张主任"}
    with write(engine) as conn:
        store.save_comment(conn, _period(today), boss, "staff", "A1", 80, "耐心细致",
                           {"U-A"}, utcnow(), today)
        store.save_comment(conn, _period(today), boss, "staff", "A1", 90, "一次告知做得好",
                           {"U-A"}, utcnow(), today)          # replaces, not a second one
        store.save_comment(conn, _period(today), {**boss, "id": 901}, "staff", "A1", 70,
                           "材料清单要更清楚", {"U-A"}, utcnow(), today)
        with pytest.raises(NotFound):
            store.save_comment(conn, _period(today), boss, "window", "W-B1", 80, "x",
                               {"U-A"}, utcnow(), today)
        with pytest.raises(BadRequest):
            store.save_comment(conn, _period(today), boss, "staff", "A1", 101, "x",
                               {"U-A"}, utcnow(), today)
    with read(engine) as conn:
        rows = store.comments(conn, {"U-A"}, _period(today).key, [("staff", "A1")])
        parts = store.leader_parts(conn, _period(today).key, {"U-A"})
    assert sorted(r["score"] for r in rows) == [70.0, 90.0]
    assert parts[("staff", "A1")] == {"score": 80.0, "comments": 2}


def test_publish_freezes_stars_and_gives_the_award_to_the_best_window(small_org, today):
    engine, users = small_org
    s = AssessmentSettings(min_reviewers=1, award_min_ratings=5)
    period = _period(today)
    _ratings(engine, "W-A1", "A1", 40, "very_satisfied", today)
    _ratings(engine, "W-A2", "A3", 40, "satisfied", today)
    _ratings(engine, "W-A2", "A3", 10, "dissatisfied", today)
    for reviewer in ("A2", "A3", "A4"):
        _review(engine, reviewer, "A1", today)
    boss = {"id": 900, "username": "boss", "display_name": "张主任"}
    with write(engine) as conn:
        store.save_comment(conn, period, boss, "window", "W-A1", 95, "群众满意度高", {"U-A"},
                           utcnow(), today)
        # published the day after the period ended (a period still running is refused)
        n = publishing.publish(conn, period, {"U-A"}, boss, s, 20.0, utcnow(),
                               period.end + dt.timedelta(days=1))
    assert n == 5 + 2
    with read(engine) as conn:
        frozen = store.published(conn, period.key, {"U-A"})
        kiosk = store.for_kiosk(conn, "W-A1", "U-A")
        other = store.for_kiosk(conn, "W-A2", "U-A")
    w1 = next(r for r in frozen["windows"] if r["id"] == "W-A1")
    assert w1["award"] and w1["stars"] == 5
    assert json.loads(json.dumps(w1["weights_used"])) == w1["weights_used"]
    assert kiosk == {"period": period.key, "window_stars": 5, "award": True,
                     "staff_stars": {r["id"]: r["stars"] for r in frozen["staff"]
                                     if r["stars"] is not None}}
    assert other["award"] is False
    # Published means frozen: no more reviews or comments for this period and unit.
    with pytest.raises(store.PeriodClosed):
        _review(engine, "A5", "A1", today)


def test_a_period_ends_at_midnight_of_the_sites_day_not_of_utc(small_org):
    # 04:00 in Beijing on the 1st is still the last day of the month before in UTC: by the
    # UTC date the month before would not have ended (and this one had not begun).
    engine, _ = small_org
    boss = {"id": 900, "username": "boss", "display_name": "张主任"}
    first = dt.date(2026, 12, 1)
    now = dt.datetime(2026, 11, 30, 20, tzinfo=dt.timezone.utc)   # 04:00 on 1 Dec in Beijing
    with write(engine) as conn:
        assert publishing.publish(conn, Period("month", 2026, 11), {"U-A"}, boss,
                                  AssessmentSettings(), 20.0, now, first) >= 0
        with pytest.raises(store.PeriodNotEnded, match="has not ended"):
            publishing.publish(conn, _period(first), {"U-A"}, boss, AssessmentSettings(), 20.0,
                               now, first)
        with pytest.raises(BadRequest, match="has not begun"):
            publishing.publish(conn, Period("month", 2027, 1), {"U-A"}, boss,
                               AssessmentSettings(), 20.0, now, first)
