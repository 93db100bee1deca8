"""A unit publishes a period once (take it back to publish again), and a page of published
and live units shows one red flag per unit or region: over HTTP on a real server."""

from __future__ import annotations

import datetime as dt
import html
import re

from sqlalchemy import select

from aggregator import org
from aggregator.dashboard import assessment_config
from aggregator.dashboard.assessment_tables import assessment_published, assessment_results
from aggregator.dashboard.periods import Period
from aggregator.db import read, write
from tests.dashboard.helpers import csrf_of, store_ratings

TZ = dt.timezone(dt.timedelta(hours=8))


def _last() -> Period:
    today = dt.datetime.now(TZ).date()
    return Period("month", today.year, today.month).previous()


def _publish(dash, session, period: str, unit: str = ""):
    return session.post(f"{dash.url}/dashboard/assessment/publish?lang=zh_CN",
                        allow_redirects=False, data={
                            "csrf": csrf_of(session, f"{dash.url}/dashboard/assessment"),
                            "period": period, "unit": unit})


def _frozen(dash, period: str, target: str) -> list[tuple]:
    r = assessment_results.c
    with read(dash.engine) as conn:
        return [tuple(x) for x in conn.execute(select(r.unit_id, r.composite).where(
            r.period == period, r.target_id == target)).all()]


def test_a_published_unit_is_not_published_again(small_dash):
    # Why: Publish stayed on the page after publishing, and publishing again recomputed the
    # unit: the frozen result of a person who had since moved to another unit was deleted
    # (they were no longer in the unit), the new unit then listed them live and could publish
    # a second, different result of the same month.
    last = _last()
    when = dt.datetime.combine(last.start + dt.timedelta(days=9), dt.time(10), TZ)
    store_ratings(small_dash.engine, "W-A1", "U-A", ["very_satisfied"] * 12, when, staff="A1")
    sup = small_dash.login("sup")
    assert _publish(small_dash, sup, last.key, "U-A").status_code == 303
    frozen = _frozen(small_dash, last.key, "A1")
    assert [u for u, _ in frozen] == ["U-A"]
    page = sup.get(f"{small_dash.url}/dashboard/assessment?period={last.key}&unit=U-A").text
    assert 'data-action="publish"' not in page and 'data-action="unpublish"' in page
    with write(small_dash.engine) as conn:
        org.save(conn, "staff", {"id": "A1", "name": "人员1", "unit_id": "U-B",
                                 "window_id": "W-B1"})
    again = _publish(small_dash, sup, last.key, "U-A")
    assert again.status_code == 409
    text = html.unescape(re.sub(r"<[^>]+>", " ", again.text))
    assert f"考核期 {last.key} 的结果已发布；如需重新发布，请先撤回发布" in text
    assert _frozen(small_dash, last.key, "A1") == frozen
    other = sup.get(f"{small_dash.url}/dashboard/assessment?period={last.key}&unit=U-B").text
    assert 'id="staff-A1"' not in other
    # "all units" publishes the ones not published yet and leaves U-A's results as they are
    with read(small_dash.engine) as conn:
        was = conn.execute(select(assessment_published.c.published_at).where(
            assessment_published.c.unit_id == "U-A")).scalar()
    assert _publish(small_dash, sup, last.key).status_code == 303
    with read(small_dash.engine) as conn:
        rows = dict(conn.execute(select(assessment_published.c.unit_id,
                                        assessment_published.c.published_at).where(
            assessment_published.c.period == last.key)).all())
    assert set(rows) == {"U-A", "U-B"} and rows["U-A"] == was
    assert _frozen(small_dash, last.key, "A1") == frozen
    assert _publish(small_dash, sup, last.key).status_code == 409   # nothing left to publish


def test_a_region_with_a_published_unit_shows_one_red_flag(small_dash):
    # Why: with the award given by region, the live rows' flag was reckoned among every
    # unit's live rows, published ones too: U-A's published flag and U-B's provisional one
    # stood side by side, two red flags in one region.
    last = _last()
    when = dt.datetime.combine(last.start + dt.timedelta(days=9), dt.time(10), TZ)
    store_ratings(small_dash.engine, "W-A1", "U-A", ["satisfied"] * 35, when, staff="A1")
    store_ratings(small_dash.engine, "W-B1", "U-B", ["very_satisfied"] * 35, when, staff="B1")
    with write(small_dash.engine) as conn:
        s = assessment_config.load(conn)
        s.award_scope = "region"
        assessment_config.save(conn, s)
    sup = small_dash.login("sup")
    assert _publish(small_dash, sup, last.key, "U-A").status_code == 303
    page = sup.get(f"{small_dash.url}/dashboard/assessment?period={last.key}").text
    flags = re.findall(r'<tr id="window-([^"]+)"(?:(?!</tr>).)*data-award', page, re.S)
    assert flags == ["W-A1"], flags
