"""A staff member moved to another unit mid-period (roster import), publishing only ended
periods, un-publishing, the newest published period a kiosk shows, and a part weighted 0 in
the frozen results. At the store, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from aggregator import org
from aggregator.dashboard import assessment_publish as publishing
from aggregator.dashboard import assessment_store as store
from aggregator.dashboard.assessment_config import AssessmentSettings
from aggregator.dashboard.assessment_tables import (
    assessment_published,
    assessment_results,
    leader_comments,
)
from aggregator.dashboard.periods import Period
from aggregator.db import read, utcnow, write
from aggregator.errors import BadRequest
from tests.assessment.test_peer_review import ALL, _ratings

BOSS = {"id": 900, "username": "boss", "display_name": "张主任"}
BOTH = {"U-A", "U-B"}


def _month(today: dt.date) -> Period:
    return Period("month", today.year, today.month)


def _move(engine, staff_id: str, unit_id: str, window_id: str) -> None:
    """What a roster import does to a person who changed units: a new unit and window."""
    with write(engine) as conn:
        row = store.staff_row(conn, staff_id)
        org.save(conn, "staff", {"id": staff_id, "name": row["name"], "unit_id": unit_id,
                                 "window_id": window_id})


def _review(engine, reviewer, reviewee, period, today):
    with write(engine) as conn:
        store.submit_review(conn, period, store.staff_row(conn, reviewer), reviewee, ALL,
                            AssessmentSettings(), utcnow(), today)


def _comment(engine, period, target, score, today, text="点评"):
    with write(engine) as conn:
        store.save_comment(conn, period, BOSS, "staff", target, score, text, BOTH, utcnow(),
                           today)


def _publish(engine, period, units, today, settings=None):
    with write(engine) as conn:
        return publishing.publish(conn, period, units, BOSS, settings or AssessmentSettings(), 20.0,
                             utcnow(), today)


def test_a_comment_stays_closed_after_its_period_is_published_and_the_person_moves(
        small_org, today):
    # Why: published results are frozen. The check looked at the unit the person is in now
    # (not yet published there), so the old unit's published comment could still be changed.
    engine, _ = small_org
    period = _month(today).previous()
    _comment(engine, period, "A1", 80, today, "原单位点评")
    _publish(engine, period, {"U-A"}, today)
    _move(engine, "A1", "U-B", "W-B1")
    with pytest.raises(store.PeriodClosed):
        _comment(engine, period, "A1", 10, today, "调走后改分")
    with read(engine) as conn:
        stored = conn.execute(select(leader_comments.c.score, leader_comments.c.comment)).all()
    assert [tuple(r) for r in stored] == [(80.0, "原单位点评")]


def test_a_person_moved_mid_period_keeps_peer_and_leader_parts_in_the_new_unit(
        small_org, today):
    # Why: their colleagues' reviews and the leader's comment of the period were given; the
    # new unit's table showed the person without them (and the old unit no longer lists them).
    engine, _ = small_org
    period = _month(today)
    for reviewer in ("A2", "A3", "A4"):
        _review(engine, reviewer, "A1", period, today)
    _comment(engine, period, "A1", 80, today)
    _move(engine, "A1", "U-B", "W-B1")
    s = AssessmentSettings()
    with read(engine) as conn:
        new = store.compute(conn, period, {"U-B"}, s, 20.0)
        old = store.compute(conn, period, {"U-A"}, s, 20.0)
        both = store.compute(conn, period, BOTH, s, 20.0)
    a1 = next(r for r in new["staff"] if r["id"] == "A1")
    assert (a1["peers"], a1["reviewers"], a1["leaders"], a1["composite"]) == \
        (100.0, 3, 80.0, 90.0)
    assert "A1" not in [r["id"] for r in old["staff"]]
    assert [r["id"] for r in both["staff"]].count("A1") == 1


def test_a_person_moved_after_the_old_unit_published_keeps_the_frozen_result_only(
        small_org, today):
    # Why: one result per person and period. The new unit counted them again (a second
    # score) and its publish failed on the frozen row of the old unit.
    engine, _ = small_org
    period = _month(today).previous()
    _comment(engine, period, "A1", 80, today)
    _publish(engine, period, {"U-A"}, today)
    _move(engine, "A1", "U-B", "W-B1")
    with read(engine) as conn:
        live = store.compute(conn, period, {"U-B"}, AssessmentSettings(), 20.0)
    assert [r["id"] for r in live["staff"]] == ["B1"]
    assert _publish(engine, period, {"U-B"}, today) >= 1
    with read(engine) as conn:
        frozen = store.published(conn, period.key, BOTH)
    assert [r["id"] for r in frozen["staff"]].count("A1") == 1
    assert next(r for r in frozen["staff"] if r["id"] == "A1")["unit_id"] == "U-A"


def test_a_period_is_published_only_after_it_has_ended(small_org):
    # Why: the results of a month still running are not results, and kiosks showed them.
    engine, _ = small_org
    today = dt.date(2026, 12, 4)
    with pytest.raises(store.PeriodNotEnded) as err:
        _publish(engine, Period("month", 2026, 12), {"U-A"}, today)
    assert err.value.detail_args == {"msg": "period_not_ended", "period": "2026-12",
                                     "end": "2026-12-31"}
    with pytest.raises(BadRequest) as err:   # the assessment is monthly (below)
        _publish(engine, Period("quarter", 2026, 3), {"U-A"}, today)
    assert err.value.detail_args["msg"] == "period_month_only"
    assert _publish(engine, Period("month", 2026, 11), {"U-A"}, today) > 0
    with read(engine) as conn:
        assert store.latest_published(conn, "U-A") == "2026-11"


def _store_published_quarter(engine, key: str) -> None:
    """A quarter as an older version published it (the pages took one): 5 stars and the red
    flag for W-A1, scored on the citizens alone."""
    with write(engine) as conn:
        conn.execute(assessment_published.insert().values(
            period=key, unit_id="U-A", published_at=utcnow(), published_by="boss"))
        conn.execute(assessment_results.insert().values(
            period=key, kind="window", target_id="W-A1", unit_id="U-A", region_id="R-A",
            name="窗口W-A1", citizens=100.0, rated=40, peers=None, reviewers=0, leaders=None,
            composite=100.0, weights='{"citizens": 1.0}', stars=5, award=True))


def test_the_newest_published_period_is_the_one_that_ended_last(small_org):
    # Why: the kiosk shows the newest published month; of months published out of order,
    # the one that ended last.
    engine, _ = small_org
    today = dt.date(2026, 12, 4)
    _publish(engine, Period("month", 2026, 9), {"U-A"}, today)
    _publish(engine, Period("month", 2026, 8), {"U-A"}, today)
    with read(engine) as conn:
        assert store.latest_published(conn, "U-A") == "2026-09"
        assert store.for_kiosk(conn, "W-A1", "U-A")["period"] == "2026-09"


def test_a_stored_quarter_never_reaches_the_kiosk(small_org):
    # Why: a quarter (2026-Q3) could be published from the pages, scored on the citizens
    # alone (reviews and comments are kept by month), and, ending after the newest published
    # month, its stars and red flag went to the kiosks. The pages refuse quarters now; one
    # already stored is passed over.
    engine, _ = small_org
    today = dt.date(2026, 12, 4)
    _publish(engine, Period("month", 2026, 8), {"U-A"}, today)
    _store_published_quarter(engine, "2026-Q3")
    with read(engine) as conn:
        assert store.latest_published(conn, "U-A") == "2026-08"
        kiosk = store.for_kiosk(conn, "W-A1", "U-A")
    assert kiosk["period"] == "2026-08" and kiosk["award"] is False


def test_unpublishing_reopens_the_period_and_the_kiosk_drops_its_stars(small_org, today):
    # Why: a supervisor who published the wrong unit or too early had no way back.
    engine, _ = small_org
    period = _month(today).previous()
    _publish(engine, period, {"U-A"}, today)
    with read(engine) as conn:
        assert store.for_kiosk(conn, "W-A1", "U-A")["period"] == period.key
        version = org.config_version(conn)
    with write(engine) as conn:
        assert publishing.unpublish(conn, period, {"U-A"}, AssessmentSettings()) == 1
    with read(engine) as conn:
        assert store.published(conn, period.key, {"U-A"}) is None
        assert store.for_kiosk(conn, "W-A1", "U-A")["period"] is None
        assert org.config_version(conn) != version      # kiosks pull the change
    _comment(engine, period, "A1", 70, today)            # open again for comments
    with write(engine) as conn, pytest.raises(store.NotPublished):
        publishing.unpublish(conn, period, {"U-A"}, AssessmentSettings())


def test_a_part_weighted_zero_is_not_called_missing_in_the_published_results(
        small_org, today):
    # Why: with leaders weighted 0 by the settings, the frozen table said "权重重新分配:
    # 领导点评 缺项" for everyone, while the live table (rightly) did not.
    engine, _ = small_org
    period = _month(today).previous()
    s = AssessmentSettings(weights={"citizens": 0.5, "peers": 0.5, "leaders": 0.0},
                           min_reviewers=1)
    _ratings(engine, "W-A1", "A1", 5, "very_satisfied", period.end)
    _review(engine, "A2", "A1", period, today)
    with read(engine) as conn:
        live = next(r for r in store.compute(conn, period, {"U-A"}, s, 20.0)["staff"]
                    if r["id"] == "A1")
    _publish(engine, period, {"U-A"}, today, s)
    with read(engine) as conn:
        frozen = next(r for r in store.published(conn, period.key, {"U-A"})["staff"]
                      if r["id"] == "A1")
    assert (live["missing"], live["renormalised"]) == ([], False)
    assert (frozen["missing"], frozen["renormalised"]) == ([], False)
    assert frozen["weights_used"] == live["weights_used"] == {"citizens": 0.5, "peers": 0.5}
    # a part weighted > 0 and absent is still missing (A3: no rating, no review)
    with read(engine) as conn:
        a3 = next(r for r in store.published(conn, period.key, {"U-A"})["staff"]
                  if r["id"] == "A3")
    assert (a3["missing"], a3["composite"]) == (["citizens", "peers"], None)
