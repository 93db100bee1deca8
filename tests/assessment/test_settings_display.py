"""How the assessment pages and export show the settings (weights as shares of their sum,
thresholds as set), a weight out of range refused by the settings form, and a composite of 0
counted as assessed: over HTTP on a real server."""

from __future__ import annotations

import datetime as dt
import html
import io
import re

from openpyxl import load_workbook

from aggregator.dashboard.periods import Period
from tests.dashboard.helpers import csrf_of

TZ = dt.timezone(dt.timedelta(hours=8))


def _this() -> Period:
    today = dt.datetime.now(TZ).date()
    return Period("month", today.year, today.month)


def _text(page: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))).strip()


def _save(dash, admin, **values):
    return admin.post(f"{dash.url}/dashboard/assessment/settings?lang=zh_CN",
                      allow_redirects=False, data={
                          "csrf": csrf_of(admin, f"{dash.url}/dashboard/assessment/settings"),
                          "criteria": "skill|比技能|Skill", "min_reviewers": "3",
                          "award_scope": "unit", "award_min_ratings": "30",
                          "thresholds": "60 70 80 90", **values})


def test_weights_show_as_shares_and_thresholds_as_set(small_dash):
    # Why: weights 3/1/1 read "300% + 100% + 100%" on the page, the staff page and the
    # export; a threshold of 62.5 read "62" (the star is earned from 62.5).
    admin = small_dash.login("admin")
    assert _save(small_dash, admin, w_citizens="3", w_peers="1", w_leaders="1",
                 thresholds="62.5 70 80 90").status_code == 303
    period = _this().key
    page = admin.get(f"{small_dash.url}/dashboard/assessment?period={period}&lang=en").text
    formula = _text(re.search(r'<div class="formula">(.*?)</div>', page, re.S)[1])
    assert formula == ("Composite = Citizens 60% + Peers 20% + Leaders 20% "
                       "· star thresholds 62.5 / 70 / 80 / 90"), formula
    book = load_workbook(io.BytesIO(admin.get(
        f"{small_dash.url}/dashboard/assessment.xlsx?period={period}&lang=en").content))
    assert [c.value for c in book.active[2]][:4] == [
        "Composite =", "Citizens 60% + Peers 20% + Leaders 20%", "star thresholds",
        "62.5 / 70 / 80 / 90"]
    mine = small_dash.login("a1").get(f"{small_dash.url}/dashboard/assessment/me?lang=en").text
    assert "Citizens 60% + Peers 20% + Leaders 20%" in _text(mine)


def test_a_weight_out_of_range_is_refused_by_the_settings_form(small_dash):
    # Why: 1e308 for each weight was saved; their sum overflowed and every assessment page
    # answered 500 from then on.
    admin = small_dash.login("admin")
    r = _save(small_dash, admin, w_citizens="1e308", w_peers="1e308", w_leaders="1e308")
    assert r.status_code == 400
    assert "「群众评议」的权重须为 0 至 1000 之间的数（现为 1e+308）" in _text(r.text)
    page = admin.get(f"{small_dash.url}/dashboard/assessment?lang=en")
    assert page.status_code == 200
    assert "Citizens 60% + Peers 20% + Leaders 20%" in _text(page.text)   # unchanged


def test_a_composite_of_zero_counts_as_assessed(small_dash):
    # Why: the count took the rows whose composite is "truthy", so a composite of 0.0 (a
    # leader's score of 0) was left out of "assessed n / m".
    period = _this().key
    m = small_dash.login("ua")
    for target, score in (("A1", "0"), ("A2", "50")):
        r = m.post(f"{small_dash.url}/dashboard/assessment/comments", allow_redirects=False,
                   data={"csrf": csrf_of(m, f"{small_dash.url}/dashboard/assessment"),
                         "period": period, "kind": "staff", "target_id": target,
                         "score": score, "comment": "点评"})
        assert r.status_code == 303
    page = m.get(f"{small_dash.url}/dashboard/assessment?period={period}&lang=en").text
    counts = dict(re.findall(r"<div><span>(\w+) assessed</span><b>\s*(\d+ / \d+)\s*</b>", page))
    assert counts == {"Windows": "0 / 2", "Staff": "2 / 5"}, counts
