"""Presentation defects of the supervisors' dashboard, in a real headless Chromium against the
real server on loopback: pages that must fit a 360 px phone, names where the pages showed
ids, pledge tags that wrapped one character per line, and the pages of windows whose old ids
hold a "/"."""

from __future__ import annotations

import re
from urllib.parse import quote, urljoin

from sqlalchemy import select

from aggregator import org
from aggregator.db import read, write
from aggregator.schema import staff, units, windows
from tests.dashboard.helpers import browser_login, csrf_of, staff_account

PHONE = {"viewport": {"width": 360, "height": 640}, "is_mobile": True, "has_touch": True}

# Boxes that stick out of the screen, with the scroll width of the page itself.
OUTSIDE = """(selector) => {
  const out = [['page', document.documentElement.scrollWidth]];
  for (const el of document.querySelectorAll(selector)) {
    const box = el.getBoundingClientRect();
    if (box.left < 0 || box.right > innerWidth) out.push([el.className, box.left, box.right]);
  }
  return out;
}"""

# The number of lines an element's text takes (one box per line of its text).
LINES = """(el) => {
  const range = document.createRange();
  range.selectNodeContents(el);
  return new Set([...range.getClientRects()].filter(r => r.width > 0)
                 .map(r => Math.round(r.top))).size;
}"""


def _name(dash, table, row_id: str) -> str:
    with read(dash.engine) as conn:
        return conn.execute(select(table.c.name).where(table.c.id == row_id)).scalar_one()


def _staff_account(dash, staff_id: str) -> str:
    return staff_account(dash, staff_id, "lay")


def _pledge(dash, owner: str, title: str, items: str) -> None:
    s = dash.login("u01")
    r = s.post(f"{dash.url}/dashboard/pledges", data={
        "csrf": csrf_of(s, f"{dash.url}/dashboard/pledges"), "owner": owner, "title": title,
        "items": items})
    assert r.status_code == 200, r.text[:300]


def test_peer_review_and_my_results_fit_a_360_px_phone(browser, dash_sqlite):
    # Staff members review colleagues and read their results on their own phones. At 360 px
    # the review cards kept a 400 px minimum and the results' figures a row of unbreakable
    # text: both pages scrolled sideways and cut the grade buttons and figures at the right.
    dash = dash_sqlite
    user = _staff_account(dash, "S-002")
    context = browser.new_context(**PHONE)
    page = context.new_page()
    try:
        browser_login(page, dash, user)
        page.wait_for_url("**/dashboard/assessment/me")
        page.goto(f"{dash.url}/dashboard/assessment/review")
        open_period = page.locator("select[name=period] option").first.get_attribute("value")
        for path in (f"/assessment/review?period={open_period}", "/assessment/review",
                     "/assessment/me"):
            page.goto(f"{dash.url}/dashboard{path}")
            boxes = ".review, .kpi, .card, fieldset.scale, label.pick, button[data-submit]"
            found = page.evaluate(OUTSIDE, boxes)
            assert found[0][1] <= 360 and found[1:] == [], (path, found)
        page.goto(f"{dash.url}/dashboard/assessment/review?period={open_period}")
        assert page.locator(".reviews article.review form").count() >= 1   # the forms showed
    finally:
        context.close()


def test_pledges_page_names_the_units(dash_sqlite):
    # The pledges page said "U-01 · 践诺率" and put "U-01" beside every owner: a supervisor
    # of four units had to know the units by their codes, and "社保窗口" is in every unit.
    dash = dash_sqlite
    _pledge(dash, "window:W-002", "一次办好", "材料一次告知")
    page = dash.login("jfb").get(f"{dash.url}/dashboard/pledges").text
    with read(dash.engine) as conn:
        names = dict(conn.execute(select(units.c.id, units.c.name)).all())
    for unit_id in ("U-01", "U-02", "U-03", "U-04"):
        strip = re.search(rf'<div data-unit="{unit_id}">(.*?)</div>', page, re.S)[1]
        assert f"{names[unit_id]} · 践诺率" in strip, strip
        assert unit_id not in strip, strip
    head = re.search(r'<div class="card-head"><h2>(.*?)</h2>', page, re.S)[1]
    assert names["U-01"] in head and "U-01" not in head, head


def test_leader_comment_list_names_its_targets(dash_sqlite):
    # The list of leader comments under the assessment tables began each line with "S-002"
    # or "W-001": the manager reading it could not tell whom a comment was about.
    dash = dash_sqlite
    s = dash.login("u01")
    page = s.get(f"{dash.url}/dashboard/assessment").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page)[1]
    period = re.search(r'name="period" value="([^"]+)"', page)[1]
    for kind, target in (("staff", "S-002"), ("window", "W-001")):
        r = s.post(f"{dash.url}/dashboard/assessment/comments", data={
            "csrf": csrf, "period": period, "kind": kind, "target_id": target, "score": "88",
            "comment": f"点评{target}"})
        assert r.status_code == 200, r.text[:300]
    page = s.get(f"{dash.url}/dashboard/assessment?period={period}").text
    listed = re.search(r'<ul class="comments">(.*?)</ul>', page, re.S)[1]
    for table, target in ((staff, "S-002"), (windows, "W-001")):
        line = re.search(rf"<li>((?:(?!</li>).)*点评{target}.*?)</li>", listed, re.S)[1]
        assert _name(dash, table, target) in line, line


def test_pledge_tags_and_edit_links_keep_to_one_line_at_1280_px(browser, dash_sqlite):
    # A pledge item of 140 characters took the table's width: its status tag "已兑现" and the
    # row's "编辑" stood one character per line at 1280 px.
    dash = dash_sqlite
    _pledge(dash, "window:W-001", "为民服务" * 30, "窗口" + "很长的承诺内容" * 20 + "\n第二条")
    s = dash.login("u01")
    url = f"{dash.url}/dashboard/pledges"
    item = re.findall(r'action="/dashboard/pledges/items/(\d+)"', s.get(url).text)[0]
    r = s.post(f"{dash.url}/dashboard/pledges/items/{item}", data={
        "csrf": csrf_of(s, url), "status": "kept", "evidence": "群众回访记录 2026-11-20"})
    assert r.status_code == 200
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    try:
        browser_login(page, dash, "u01")
        page.wait_for_url("**/dashboard/")
        page.goto(url)
        tags = page.locator(".pledge .pstate, .pledge .tag, .pledge details.edit > summary")
        assert tags.count() >= 6
        lines = [(t.inner_text(), t.evaluate(LINES)) for t in tags.all()]
        assert all(n == 1 for _, n in lines), lines
        assert "已兑现" in [text for text, _ in lines]
    finally:
        context.close()


ODD_WINDOWS = {"民政/9": "民政综合窗口", "W#7": "一号窗口", "W 8": "二号窗口"}


def test_a_window_whose_id_holds_a_slash_opens_from_its_link(browser, dash_sqlite):
    # Windows made before ids were checked (org.URL_BREAKING) can hold "/" or "#". The unit
    # page linked "/dashboard/windows/民政/9", which the server answered with 404, and
    # "W#7" led to the page of "W"; the window's figures could not be opened at all.
    dash = dash_sqlite
    with write(dash.engine) as conn:
        for wid, name in ODD_WINDOWS.items():
            org.store(conn, "windows", {**org.clean("windows", {
                "id": "W-X", "name": name, "unit_id": "U-01"}), "id": wid})
    s = dash.login("jfb")
    for path in ("/dashboard/units/U-01", "/dashboard/rankings?group=window"):
        page = s.get(dash.url + path).text
        for wid, name in ODD_WINDOWS.items():
            # the link opens the window on the table's period (?period=…)
            href = re.search(rf'<a href="(/dashboard/windows/{re.escape(quote(wid, safe=""))}'
                             rf'\?period=[0-9-]+)">{re.escape(name)}', page)
            assert href, (path, wid)   # "… · unit" in rankings
            href = href[1]
            r = s.get(urljoin(dash.url, href))
            assert r.status_code == 200, (path, wid, r.status_code)
            assert f"<h1>{_name(dash, units, 'U-01')} · {name}</h1>" in r.text
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    try:   # in the browser: the link opens the page, and its period picker stays on it
        browser_login(page, dash, "jfb")
        page.wait_for_url("**/dashboard/")
        page.goto(f"{dash.url}/dashboard/units/U-01")
        page.get_by_role("link", name="民政综合窗口").click()
        page.wait_for_url("**/dashboard/windows/*")
        assert page.locator("h1").inner_text().endswith("民政综合窗口")
        other = page.locator("select[name=period] option").nth(1).get_attribute("value")
        page.select_option("select[name=period]", other)
        page.wait_for_url(f"**period={other}")
        assert page.locator("h1").inner_text().endswith("民政综合窗口")
    finally:
        context.close()
    # on a phone the page's heading "unit · window" kept to one line and widened the page
    context = browser.new_context(**PHONE)
    page = context.new_page()
    try:
        browser_login(page, dash, "jfb")
        page.wait_for_url("**/dashboard/")
        page.goto(f"{dash.url}/dashboard/windows/{quote('民政/9', safe='')}")
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
    finally:
        context.close()


def test_window_page_tables_keep_names_whole_and_stay_in_their_cards_at_1280_px(browser,
                                                                                 dash_sqlite):
    # The half-width ranking tables of a window page ran past their cards' edges at 1280 px,
    # and the name column's minimum (4.5em, padding included) broke "民政窗口" in two.
    dash = dash_sqlite
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    try:
        browser_login(page, dash, "jfb")
        page.wait_for_url("**/dashboard/")
        page.goto(f"{dash.url}/dashboard/windows/W-003")
        spill = page.evaluate("""() => [...document.querySelectorAll('.card table.rank')]
            .map(t => t.getBoundingClientRect().right - t.closest('.card').getBoundingClientRect().right)
            .filter(d => d > 0.5)""")
        assert spill == []
        names = page.locator("table.rank td:nth-child(2) a, table.rank td:nth-child(2)")
        four = [(n.inner_text().split("\n")[0], n.evaluate(LINES)) for n in names.all()
                if len(n.inner_text().split("\n")[0].strip()) == 4]
        assert four and all(lines == 1 for _, lines in four), four
    finally:
        context.close()


def test_a_unit_and_a_region_whose_ids_hold_a_slash_open_from_their_links(dash_sqlite):
    # Units and regions made before ids were checked can hold "/". Their links were encoded
    # (%2F), but the routes took no "/" (unlike the window route): every unit and region page,
    # the unit's JSON and its public page answered 404, so their figures could not be seen.
    dash = dash_sqlite
    with write(dash.engine) as conn:
        org.store(conn, "regions", {**org.clean("regions", {
            "id": "R-X", "name": "老城东区", "level": "town", "parent_id": "R-D"}), "id": "R/9"})
        org.store(conn, "units", {**org.clean("units", {
            "id": "U-X", "name": "东区便民服务中心", "region_id": "R-D"}),
            "id": "U/9", "region_id": "R/9"})
    s = dash.login("jfb")
    unit = s.get(dash.url + "/dashboard/units/U%2F9")
    assert unit.status_code == 200 and "东区便民服务中心" in unit.text
    assert 'href="/dashboard/regions/R%2F9"' in unit.text      # its region, in the crumbs
    region = s.get(dash.url + "/dashboard/regions/R%2F9")
    assert region.status_code == 200 and "老城东区" in region.text
    assert 'href="/dashboard/units/U%2F9?period=' in region.text
    api = s.get(dash.url + "/dashboard/api/units/U%2F9")
    assert api.status_code == 200, api.text
    public = s.get(dash.url + "/public/units")
    assert 'href="/public/units/U%2F9"' in public.text
    page = s.get(dash.url + "/public/units/U%2F9")
    assert page.status_code == 200 and "东区便民服务中心" in page.text
