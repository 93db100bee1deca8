"""The assessment pages over HTTP on a real server: what a staff account may see, the peer
review's one-per-period rule and anonymity on the pages, leader comments reaching the person
commented on, pledges on the public page, the XLSX export."""

from __future__ import annotations

import datetime as dt
import io
import re

from openpyxl import load_workbook

from aggregator.dashboard import assessment_store
from aggregator.dashboard.assessment_config import AssessmentSettings
from aggregator.dashboard.periods import Period
from aggregator.db import utcnow, write
from tests.dashboard.helpers import csrf_of


def _today() -> dt.date:
    return dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).date()


def _form(session, dash, path):
    return csrf_of(session, f"{dash.url}{path}")


def _review(session, dash, reviewee, scores=(5, 4, 5)):
    token = _form(session, dash, "/dashboard/assessment/review")
    period = re.search(r'name="period" value="([^"]+)"',
                       session.get(f"{dash.url}/dashboard/assessment/review").text)
    return session.post(f"{dash.url}/dashboard/assessment/review", allow_redirects=False, data={
        "csrf": token, "period": period[1] if period else "", "reviewee_id": reviewee,
        **dict(zip(("score_skill", "score_conduct", "score_results"), map(str, scores)))})


def test_staff_account_sees_only_peer_review_and_own_results(dash):
    s = dash.login("s-001")
    home = s.get(f"{dash.url}/dashboard/", allow_redirects=False)
    assert home.status_code == 303 and home.headers["location"].endswith("/assessment/me")
    for path in ("/dashboard/rankings", "/dashboard/cases", "/dashboard/units/U-01",
                 "/dashboard/windows/W-001", "/dashboard/devices", "/dashboard/roster",
                 "/dashboard/pledges", "/dashboard/rankings.xlsx",
                 "/dashboard/assessment.xlsx", "/dashboard/api/rankings?group=service_item",
                 "/dashboard/api/units/U-01", f"/dashboard/cases/{dash.case_id('U-01')}"):
        assert s.get(f"{dash.url}{path}").status_code == 403, path
    me = s.get(f"{dash.url}/dashboard/assessment/me")
    assert me.status_code == 200
    nav = re.findall(r'data-nav="([a-z_]+)"', me.text)
    assert nav == ["peer_review", "my_results"]
    # their own password they change like everyone (the link under their name)
    assert "data-account" in me.text
    assert s.get(f"{dash.url}/dashboard/account").status_code == 200
    review = s.get(f"{dash.url}/dashboard/assessment/review")
    reviewees = set(re.findall(r'data-reviewee="([^"]+)"', review.text))
    assert reviewees == {f"S-{n:03d}" for n in range(1, 7)}   # own unit only, self apart
    # A staff account cannot act as a leader or publish.
    token = _form(s, dash, "/dashboard/assessment/review")
    r = s.post(f"{dash.url}/dashboard/assessment/comments", data={
        "csrf": token, "period": "2020-01", "kind": "staff", "target_id": "S-002",
        "score": "100", "comment": "x"})
    assert r.status_code == 403


def test_review_once_per_colleague_and_period_over_http(dash):
    s = dash.login("s-005")
    assert _review(s, dash, "S-006").status_code == 303
    again = _review(s, dash, "S-006", (1, 1, 1))
    # Why: one review per reviewer per colleague per period; a second is refused, not merged.
    assert again.status_code == 409
    page = s.get(f"{dash.url}/dashboard/assessment/review").text
    assert 'data-reviewee="S-006"' in page and 'data-done="1"' in page
    outsider = _review(s, dash, "S-007")                    # S-007 works in U-02
    assert outsider.status_code == 404


def test_reviewee_sees_averages_never_reviewers(dash):
    # a month closed for reviews (own results show colleagues' averages only then)
    month = Period("month", _today().year, _today().month).previous().previous()
    reviewers = ("s-001", "s-002", "s-003")
    with write(dash.engine) as conn:
        for name in reviewers:
            assessment_store.submit_review(
                conn, month, assessment_store.staff_row(conn, name.upper()), "S-004",
                {"skill": 4, "conduct": 4, "results": 4}, AssessmentSettings(), utcnow(),
                month.end + dt.timedelta(days=1))
    me = dash.login("s-004").get(f"{dash.url}/dashboard/assessment/me?period={month.key}").text
    assert 'data-part="peers"' in me and "75.0" in me
    for name in reviewers:
        sid = name.upper()
        assert sid not in me and name not in me
    # … and nor does the manager's table say who reviewed whom.
    table = dash.login("u01").get(
        f"{dash.url}/dashboard/assessment?unit=U-01&period={month.key}").text
    assert "3 人互评" in table and "s-001" not in table


def test_leader_comment_reaches_the_person_commented_on(dash):
    m = dash.login("u01")
    page = m.get(f"{dash.url}/dashboard/assessment").text
    period = re.search(r'name="period" value="([^"]+)"', page)[1]
    token = _form(m, dash, "/dashboard/assessment")
    r = m.post(f"{dash.url}/dashboard/assessment/comments", allow_redirects=False, data={
        "csrf": token, "period": period, "kind": "staff", "target_id": "S-003", "score": "88",
        "comment": "首问负责落实到位"})
    assert r.status_code == 303
    mine = dash.login("s-003").get(f"{dash.url}/dashboard/assessment/me").text
    assert "首问负责落实到位" in mine and "88.0" in mine
    other = dash.login("s-006").get(f"{dash.url}/dashboard/assessment/me").text
    assert "首问负责落实到位" not in other
    # Another unit's manager cannot comment on U-01's staff.
    u02 = dash.login("u02")
    r = u02.post(f"{dash.url}/dashboard/assessment/comments", data={
        "csrf": _form(u02, dash, "/dashboard/assessment"), "period": period, "kind": "staff",
        "target_id": "S-003", "score": "10", "comment": "x"})
    assert r.status_code == 404


def test_pledges_fulfilment_on_the_public_page(dash):
    m = dash.login("u01")
    token = _form(m, dash, "/dashboard/pledges")
    r = m.post(f"{dash.url}/dashboard/pledges", allow_redirects=False, data={
        "csrf": token, "owner": "window:W-001", "title": "民政窗口三项承诺",
        "items": "一次告知\n限时办结\n延时服务"})
    assert r.status_code == 303
    page = m.get(f"{dash.url}/dashboard/pledges").text
    items = re.findall(r'id="item-(\d+)"', page)[-3:]
    for item, status, evidence in zip(items, ("kept", "kept", "broken"),
                                      ("材料清单上墙", "全部按时办结", "")):
        r = m.post(f"{dash.url}/dashboard/pledges/items/{item}", allow_redirects=False,
                   data={"csrf": token, "status": status, "evidence": evidence})
        assert r.status_code == (400 if status == "broken" else 303)   # evidence required
    m.post(f"{dash.url}/dashboard/pledges/items/{items[2]}", data={
        "csrf": token, "status": "broken", "evidence": "周六延时服务未落实"})
    public = m.get(f"{dash.url}/public/units/U-01").text
    assert 'data-pledge-rate="0.6667"' in public
    assert "周六延时服务未落实" in public and "民政窗口三项承诺" in public
    # Another unit's manager cannot touch these items.
    u02 = dash.login("u02")
    r = u02.post(f"{dash.url}/dashboard/pledges/items/{items[0]}", data={
        "csrf": _form(u02, dash, "/dashboard/pledges"), "status": "broken", "evidence": "x"})
    assert r.status_code == 404


def test_assessment_export_is_a_workbook_with_parts_and_weights(dash):
    m = dash.login("jfb")
    r = m.get(f"{dash.url}/dashboard/assessment.xlsx?unit=U-01")
    assert r.status_code == 200 and r.content[:2] == b"PK"
    sheet = load_workbook(io.BytesIO(r.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    head = rows.index(next(x for x in rows if x and x[0] == "名次"))
    table = rows[head + 1:]
    assert rows[head][5:12] == ("群众评议", "评价量", "同事互评", "互评人数", "领导点评",
                                "综合得分", "实际权重")
    assert len([x for x in table if x[1] == "窗口"]) == 3
    assert len([x for x in table if x[1] == "人员"]) == 6
    # Demo data has ratings but no reviews for most: the weights used say so.
    assert any("权重重新分配" in (x[11] or "") for x in table)
    # A unit manager of another unit gets 403 for U-01.
    assert dash.login("u02").get(f"{dash.url}/dashboard/assessment.xlsx?unit=U-01") \
        .status_code == 403


def test_the_formula_uses_a_plain_plus_in_english_and_the_full_width_one_in_chinese(dash):
    # The weights line ("Citizens 60% ＋ Peers 20% ＋ …") showed the full-width Chinese plus
    # sign in English text, where it reads as a typo and spaces out wrongly.
    for user, path in (("u01", "/dashboard/assessment?unit=U-01"),
                       ("s-001", "/dashboard/assessment/me")):
        s = dash.login(user)
        en = s.get(f"{dash.url}{path}&lang=en" if "?" in path else f"{dash.url}{path}?lang=en")
        assert en.status_code == 200 and "＋" not in en.text, path
        assert re.search(r"\d+% \+ ", en.text), path
        zh = s.get(f"{dash.url}{path}&lang=zh_CN" if "?" in path
                   else f"{dash.url}{path}?lang=zh_CN")
        assert re.search(r"\d+% ＋ ", zh.text), path


def test_rows_without_a_composite_have_no_place_on_the_page_or_in_the_file(dash):
    # A period without ratings or reviews numbered every window and person 1, 2, 3… on the
    # page and in the XLSX, as if they had been ranked.
    m = dash.login("jfb")
    page = m.get(f"{dash.url}/dashboard/assessment?unit=U-01&period=2025-01").text
    assert "rankno" not in page and page.count("data-no-rank") == 9
    r = m.get(f"{dash.url}/dashboard/assessment.xlsx?unit=U-01&period=2025-01")
    rows = list(load_workbook(io.BytesIO(r.content)).active.iter_rows(values_only=True))
    head = rows.index(next(x for x in rows if x and x[0] == "名次"))
    table = rows[head + 1:]
    assert len(table) == 9 and all(x[0] is None and x[10] is None for x in table)
    ranked = m.get(f"{dash.url}/dashboard/assessment?unit=U-01").text
    assert re.findall(r'class="rankno[^"]*">(\d+)<', ranked)[:3] == ["1", "2", "3"]
