"""The assessment pages over HTTP on a real server (demo data), for what a person moved to
another unit, a view of published and unpublished units, publishing and un-publishing, a
staff member with few citizens' ratings and each refusal's own words make the pages show."""

from __future__ import annotations

import datetime as dt
import html
import re
import uuid

from sqlalchemy import select

from aggregator import constants as C
from aggregator import org
from aggregator import ratings as rating_store
from aggregator.constants import MIN_VOLUME
from aggregator.dashboard import assessment_store
from aggregator.dashboard.assessment_tables import assessment_published
from aggregator.dashboard.periods import Period
from aggregator.dashboard.tables import audit_log
from aggregator.db import read, utcnow, write
from tests.assessment.conftest import staff_accounts
from tests.dashboard.helpers import csrf_of

TZ = dt.timezone(dt.timedelta(hours=8))
STALE = "内容刚被他人修改"


def _today() -> dt.date:
    return dt.datetime.now(TZ).date()


def _this() -> Period:
    return Period("month", _today().year, _today().month)


def _post(s, dash, path, page="/dashboard/assessment", **data):
    return s.post(f"{dash.url}{path}?lang=zh_CN", allow_redirects=False,
                  data={"csrf": csrf_of(s, f"{dash.url}{page}"), **data})


def _text(page: str) -> str:
    page = re.sub(r"<(script|style)[^>]*>.*?</\1>", "", page, flags=re.S)
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


def _move(dash, staff_id, unit_id, window_id):
    with write(dash.engine) as conn:
        row = assessment_store.staff_row(conn, staff_id)
        org.save(conn, "staff", {"id": staff_id, "name": row["name"], "unit_id": unit_id,
                                 "window_id": window_id})


def _staff_rows(page: str) -> list[tuple[str, str | None, str]]:
    """(id, rank or None, composite text) of the staff table, top to bottom."""
    table = page[page.index('data-kind="staff"'):]
    table = table[:table.index("</table>")]
    out = []
    for row in re.findall(r'<tr id="staff-[^"]+" data-id="([^"]+)">(.*?)</tr>', table, re.S):
        rank = re.search(r'class="rankno[^"]*">(\d+)<', row[1])
        composite = re.search(r'class="composite">([^<]*)<', row[1])[1]
        out.append((row[0], rank[1] if rank else None, composite))
    return out


def test_ranks_cover_published_and_live_units_together(dash):
    # Why: with one unit published, its frozen rows came first and were numbered 1, 2, 3 …
    # above better live rows of the other units: the places were wrong.
    period = _this().previous().key
    sup = dash.login("jfb")
    assert _post(sup, dash, "/dashboard/assessment/publish", period=period,
                 unit="U-03").status_code == 303
    rows = _staff_rows(sup.get(f"{dash.url}/dashboard/assessment?period={period}").text)
    scored = [float(c) for _, rank, c in rows if rank]
    assert len(scored) > 6 and scored == sorted(scored, reverse=True)
    assert [int(rank) for _, rank, _ in rows if rank] == list(range(1, len(scored) + 1))
    tail = rows[len(scored):]
    assert all(rank is None and c == "—" for _, rank, c in tail)   # no composite: last, no place


def test_a_moved_person_is_listed_once_and_their_account_follows_them(dash):
    # Why: after a roster import moved S-001 from U-01 to U-02, the all-units table listed
    # them twice (U-01's frozen row and U-02's live one) and their own account was refused
    # ("not linked to your unit") because it still pointed at U-01.
    period = _this().previous().key
    staff_accounts(dash.engine, ["S-001"], utcnow())
    sup = dash.login("jfb")
    assert _post(sup, dash, "/dashboard/assessment/publish", period=period,
                 unit="U-01").status_code == 303
    _move(dash, "S-001", "U-02", "W-004")
    ids = [r[0] for r in _staff_rows(sup.get(
        f"{dash.url}/dashboard/assessment?period={period}").text)]
    assert ids.count("S-001") == 1
    me = dash.login("s-001")
    mine = me.get(f"{dash.url}/dashboard/assessment/me?period={period}")
    assert mine.status_code == 200
    assert re.search(r"data-composite>\s*\d", mine.text)      # the frozen result of U-01
    review = me.get(f"{dash.url}/dashboard/assessment/review")
    assert review.status_code == 200
    reviewees = set(re.findall(r'data-reviewee="([^"]+)"', review.text))
    assert "S-007" in reviewees and "S-002" not in reviewees   # the new unit's colleagues
    users = sup.get(f"{dash.url}/dashboard/users").text
    line = _text(re.search(r'<tr[^>]*data-user="s-001">(.*?)</tr>', users, re.S)[1])
    assert "U-02" in line and "U-01" not in line


def test_publishing_a_month_not_ended_is_refused_with_its_end_date(dash):
    # Why: a month still running was published (no undo) and its stars reached the kiosks.
    sup = dash.login("jfb")
    this = _this()
    r = _post(sup, dash, "/dashboard/assessment/publish", period=this.key, unit="U-04")
    assert r.status_code == 409
    text = _text(r.text)
    assert f"考核期 {this.key} 尚未结束，{this.end.isoformat()} 结束后才能发布结果" in text
    assert STALE not in text
    with read(dash.engine) as conn:
        assert conn.execute(select(assessment_published).where(
            assessment_published.c.period == this.key)).first() is None


def test_a_supervisor_can_unpublish_and_it_is_audited(dash):
    # Why: a period published by mistake (the wrong unit, before the leaders had commented)
    # could not be taken back.
    period = _this().previous().key
    sup = dash.login("jfb")
    assert _post(sup, dash, "/dashboard/assessment/publish", period=period,
                 unit="U-04").status_code == 303
    page = sup.get(f"{dash.url}/dashboard/assessment?period={period}&unit=U-04").text
    assert 'data-action="unpublish"' in page
    r = _post(sup, dash, "/dashboard/assessment/unpublish", period=period, unit="U-04")
    assert r.status_code == 303
    page = sup.get(f"{dash.url}{r.headers['location']}").text
    assert "已撤回发布" in _text(page) and 'data-action="unpublish"' not in page
    with read(dash.engine) as conn:
        logged = conn.execute(select(audit_log.c.action, audit_log.c.target).where(
            audit_log.c.action == "unpublish_assessment")).all()
    assert [tuple(x) for x in logged] == [("unpublish_assessment", period)]
    # a unit manager may not
    r = _post(dash.login("u01"), dash, "/dashboard/assessment/unpublish", period=period,
              unit="U-01")
    assert r.status_code == 403


def test_each_refusal_says_its_own_reason(dash):
    # Why: every 409 read "内容刚被他人修改" (someone just changed it), whatever the reason,
    # and a month still to come read "已截止" (closed).
    period = _this().previous().key
    sup, manager = dash.login("jfb"), dash.login("u02")
    assert _post(sup, dash, "/dashboard/assessment/publish", period=period,
                 unit="U-02").status_code == 303
    r = _post(manager, dash, "/dashboard/assessment/comments", period=period, kind="staff",
              target_id="S-008", score="90", comment="服务热情")
    assert r.status_code == 409
    text = _text(r.text)
    assert f"单位 U-02 已发布 {period} 的考核结果，不能再评价或点评" in text and STALE not in text
    future = (_this().end + dt.timedelta(days=1)).strftime("%Y-%m")
    r = _post(manager, dash, "/dashboard/assessment/comments", period=future, kind="staff",
              target_id="S-008", score="90", comment="服务热情")
    text = _text(r.text)
    assert r.status_code == 409 and STALE not in text and "已截止" not in text
    assert f"考核期 {future} 尚未开始" in text
    # this quarter is neither closed nor to come: the assessment is by month
    quarter = f"{_today().year}-Q{(_today().month - 1) // 3 + 1}"
    r = _post(manager, dash, "/dashboard/assessment/comments", period=quarter, kind="staff",
              target_id="S-008", score="90", comment="服务热情")
    text = _text(r.text)
    assert r.status_code == 400 and "已截止" not in text and "考核按月进行" in text


def _rate_once(dash, staff_id, window_id, unit_id, day):
    when = dt.datetime.combine(day, dt.time(10), TZ)
    row = {"id": str(uuid.uuid4()), "device_id": f"d-{window_id}", "window_id": window_id,
           "unit_id": unit_id, "staff_id": staff_id, "staff_name": staff_id,
           "service_item": None, "case_no": None, "invitation_id": None,
           "channel": C.CHANNEL_HALL_TABLET, "level": "dissatisfied", "stars": 2, "scale": 5,
           "reasons": None, "reasons_version": None, "comment": None, "phone": None,
           "callback_consent": False, "device_time": when, "server_time": when,
           "day": day.isoformat(), "flags": "[]", "flagged": False}
    with write(dash.engine) as conn:
        rating_store.store(conn, [row])


def test_a_staff_member_with_few_ratings_does_not_see_the_citizens_part(dash):
    # Why: from a part computed over one rating (and from the composite it enters) the
    # staff member could tell what that one citizen chose; staff never see single ratings.
    with write(dash.engine) as conn:
        org.save(conn, "staff", {"id": "S-NEW", "name": "新同事", "unit_id": "U-01",
                                 "window_id": "W-001"})
    staff_accounts(dash.engine, ["S-NEW"], utcnow())
    # an ended month (staff see no month under way), closed for reviews
    month = _this().previous().previous()
    _rate_once(dash, "S-NEW", "W-001", "U-01", month.start + dt.timedelta(days=9))
    page = dash.login("s-new").get(f"{dash.url}/dashboard/assessment/me?period={month.key}").text
    row = _text(re.search(r'<tr data-part="citizens">(.*?)</tr>', page, re.S)[1])
    assert "评价数不足" in row and str(MIN_VOLUME) in row, row
    assert not re.search(r"\d+\.\d", row), row                 # no score
    assert re.search(r"data-composite>\s*—", page)             # nor the composite
    # … and a manager still sees the part in the unit's table
    table = dash.login("u01").get(f"{dash.url}/dashboard/assessment?period={month.key}"
                                  "&unit=U-01").text
    new = table[table.index('data-id="S-NEW"'):]
    assert re.search(r'<td class="num">\s*\d+\.\d', new[:new.index("</tr>")])
