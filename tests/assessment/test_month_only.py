"""The assessment is monthly: every page, form and export of it refuses a quarter (400, in
the page's language), while the rest of the dashboard still reports on quarters."""

from __future__ import annotations

import datetime as dt
import html
import re

from sqlalchemy import func, select

from aggregator.dashboard.assessment_tables import assessment_published, leader_comments
from aggregator.db import read
from tests.dashboard.helpers import csrf_of

TZ = dt.timezone(dt.timedelta(hours=8))


def _ended_quarter() -> str:
    today = dt.datetime.now(TZ).date()
    q = (today.month - 1) // 3   # the quarter before this one
    return f"{today.year}-Q{q}" if q else f"{today.year - 1}-Q4"


def _text(page: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


def test_a_quarter_is_refused_on_every_assessment_page_form_and_export(small_dash):
    # Why: a quarter could be opened, published and shown on the kiosks. Reviews and
    # comments are kept by month, so its composite was the citizens' part alone (peers and
    # leaders "missing"), and its stars and red flag replaced the month's on the kiosks.
    quarter, url = _ended_quarter(), small_dash.url
    sup, staff = small_dash.login("sup"), small_dash.login("a1")
    token = csrf_of(sup, f"{url}/dashboard/assessment")
    staff_token = csrf_of(staff, f"{url}/dashboard/assessment/review")
    asked = [
        sup.get(f"{url}/dashboard/assessment?period={quarter}&lang=en"),
        sup.get(f"{url}/dashboard/assessment.xlsx?period={quarter}&lang=en"),
        sup.post(f"{url}/dashboard/assessment/publish?lang=en", allow_redirects=False,
                 data={"csrf": token, "period": quarter, "unit": "U-A"}),
        sup.post(f"{url}/dashboard/assessment/unpublish?lang=en", allow_redirects=False,
                 data={"csrf": token, "period": quarter, "unit": "U-A"}),
        sup.post(f"{url}/dashboard/assessment/comments?lang=en", allow_redirects=False,
                 data={"csrf": token, "period": quarter, "kind": "staff", "target_id": "A1",
                       "score": "90", "comment": "好"}),
        staff.get(f"{url}/dashboard/assessment/review?period={quarter}&lang=en"),
        staff.post(f"{url}/dashboard/assessment/review?lang=en", allow_redirects=False,
                   data={"csrf": staff_token, "period": quarter, "reviewee_id": "A2",
                         "score_skill": "5", "score_conduct": "5", "score_results": "5"}),
        staff.get(f"{url}/dashboard/assessment/me?period={quarter}&lang=en"),
    ]
    for r in asked:
        assert r.status_code == 400, (r.request.method, r.url, r.status_code)
        assert f"The assessment is by month: the period must be a month (YYYY-MM, e.g. " \
               f"2026-05), not {quarter}" in _text(r.text), r.url
    zh = sup.get(f"{url}/dashboard/assessment?period={quarter}&lang=zh_CN")
    assert zh.status_code == 400 and f"考核按月进行，考核期应为年-月（如 2026-05），不受理 {quarter}" \
        in _text(zh.text)
    with read(small_dash.engine) as conn:
        assert conn.execute(select(func.count()).select_from(assessment_published)).scalar() == 0
        assert conn.execute(select(func.count()).select_from(leader_comments)).scalar() == 0
    # the rest of the dashboard still takes quarters (Period.parse is unchanged)
    assert sup.get(f"{url}/dashboard/rankings?period={quarter}").status_code == 200
