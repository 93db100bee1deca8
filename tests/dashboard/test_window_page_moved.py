"""A window page counts the window's own ratings of the period in the units the viewer may
see, where they were made, also after the window moved to another unit: the figures of the
ranking that links it, and no 403 for the old unit's manager. Over SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import re
import uuid

import pytest
from sqlalchemy import func, select

from aggregator import constants as C
from aggregator import org
from aggregator import ratings as rating_store
from aggregator.dashboard import accounts
from aggregator.dashboard.periods import Period
from aggregator.db import read, utcnow, write
from aggregator.schema import ratings, windows
from tests.dashboard.helpers import PASSWORD

TZ = dt.timezone(dt.timedelta(hours=8))


@pytest.fixture(scope="module")
def moved(dash):
    """W-001 (U-01 in the demo) moved to U-02 today, then rated 12 times there (2 bad).
    Returns (dash, this month, last month)."""
    now = utcnow()
    with write(dash.engine) as conn:
        name = conn.execute(select(windows.c.name).where(windows.c.id == "W-001")).scalar_one()
        org.save(conn, "windows", {"id": "W-001", "name": name, "unit_id": "U-02"})
        rating_store.store(conn, [{
            "id": str(uuid.uuid4()), "device_id": None, "window_id": "W-001", "unit_id": "U-02",
            "staff_id": None, "staff_name": None, "service_item": None, "case_no": None,
            "invitation_id": None, "channel": C.CHANNEL_HALL_TABLET, "level": level,
            "stars": C.STARS[level], "scale": 5, "reasons": None, "reasons_version": None,
            "comment": None, "phone": None, "callback_consent": False, "device_time": now,
            "server_time": now, "rated_at": now, "day": now.astimezone(TZ).date().isoformat(),
            "flags": "[]", "flagged": False}
            for level in ["very_satisfied"] * 10 + ["dissatisfied"] * 2])
        if accounts.get_user_by_name(conn, "u03") is None:
            accounts.create_user(conn, "u03", PASSWORD, "unit_manager", unit_id="U-03",
                                 now=now)
    today = now.astimezone(TZ).date()
    this = Period("month", today.year, today.month)
    return dash, this, this.previous()


def _counted(dash, period: Period, unit: str | None = None) -> int:
    """W-001's counted ratings of ``period`` from the ratings table (in ``unit``)."""
    r = ratings.c
    q = select(func.count()).where(r.window_id == "W-001", r.flagged.is_(False),
                                   r.day >= period.start.isoformat(),
                                   r.day <= period.end.isoformat())
    if unit:
        q = q.where(r.unit_id == unit)
    with read(dash.engine) as conn:
        return conn.execute(q).scalar_one()


def _table_counts(html: str, group: str) -> list[int]:
    """The rated counts of a page's ``group`` table, row by row."""
    table = re.search(rf'data-group="{group}">(.*?)</table>', html, re.S)[1]
    return [int(n.replace(",", "")) for n in re.findall(
        r'<td class="num">([\d,]+)</td>\s*<td class="num">[\d,]+</td>', table)]


def test_a_moved_windows_page_shows_the_figures_of_the_ranking_that_links_it(moved):
    # After W-001 moved from U-01 to U-02, the admin's ranking listed it with its ratings of
    # both units (721) and its page with the 32 made in U-02; last month's page showed none
    # (668 made in U-01): the page read the window's unit today.
    dash, this, last = moved
    s = dash.login("admin")
    for period, units in ((this, ("U-01", "U-02")), (last, ("U-01",))):
        want = _counted(dash, period)
        assert want == sum(_counted(dash, period, u) for u in units) > 0
        ranked = {r["key"]: r for r in s.get(f"{dash.url}/dashboard/api/rankings", params={
            "group": "window", "period": period.key}).json()["rows"]}
        assert ranked["W-001"]["rated"] == want
        html = s.get(f"{dash.url}/dashboard/windows/W-001", params={"period": period.key}).text
        assert _table_counts(html, "window") == [want], period
        # its staff (and the row of nobody) add up to it
        assert sum(_table_counts(html, "staff")) == want, period
    # the page names the units its figures come from
    html = s.get(f"{dash.url}/dashboard/windows/W-001", params={"period": this.key}).text
    rated_in = re.search(r"<p [^>]*data-rated-in>(.*?)</p>", html, re.S)[1]
    assert "城关街道便民服务中心" in rated_in and "东城街道便民服务中心" in rated_in


def test_the_old_units_manager_opens_the_window_their_ranking_links(moved):
    # u01's ranking of last month lists W-001 (its ratings in U-01) and links it; the link
    # answered 403, the window being in U-02 now.
    dash, this, last = moved
    s = dash.login("u01")
    page = s.get(f"{dash.url}/dashboard/rankings",
                 params={"group": "window", "period": last.key}).text
    # on the period of the ranking that links it (the link opened the current month, where
    # the window has no rating in U-01: a 403 again)
    assert f'href="/dashboard/windows/W-001?period={last.key}"' in page
    row = {r["key"]: r for r in s.get(f"{dash.url}/dashboard/api/rankings", params={
        "group": "window", "period": last.key}).json()["rows"]}["W-001"]
    r = s.get(f"{dash.url}/dashboard/windows/W-001", params={"period": last.key})
    assert r.status_code == 200
    assert _table_counts(r.text, "window") == [row["rated"]] == [_counted(dash, last, "U-01")]
    # the new unit's manager sees only what was made in U-02
    r = dash.login("u02").get(f"{dash.url}/dashboard/windows/W-001",
                              params={"period": this.key})
    assert r.status_code == 200 and _table_counts(r.text, "window") == [12]
    # a unit where it never was: still refused
    r = dash.login("u03").get(f"{dash.url}/dashboard/windows/W-001",
                              params={"period": last.key})
    assert r.status_code == 403
