"""Odd values in dashboard URLs get the 400/404 error page, never a 500 (found by probing)."""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest
import requests
from sqlalchemy import select

from aggregator.dashboard.tables import cases
from tests.dashboard.helpers import csrf_of
from tests.qr_form import qr_post


@pytest.mark.parametrize("path", [
    "/dashboard/?period=0000-01", "/dashboard/?period=0001-01", "/dashboard/?period=9999-12",
    "/dashboard/rankings?period=9999-Q4", "/dashboard/rankings.csv?period=0001-01",
    "/dashboard/windows/W-001?period=0001-01", "/dashboard/assessment?period=9999-12",
])
def test_a_period_outside_the_years_of_dates_is_a_400_page(dash, path):
    s = dash.login("admin")
    r = s.get(dash.url + path)
    assert r.status_code == 400, (path, r.status_code)
    assert "period" in r.text and "<html" in r.text.lower()


def test_huge_numbers_in_case_urls_are_404_or_400_pages(dash):
    s = dash.login("admin")
    huge = "9" * 25
    assert s.get(f"{dash.url}/dashboard/cases?page={huge}").status_code == 200
    for path in (f"/dashboard/cases/{huge}", f"/dashboard/api/cases/{huge}"):
        assert s.get(dash.url + path).status_code == 400, path
    case = dash.case_id("U-01")
    url = f"{dash.url}/dashboard/cases/{case}"
    for assignee in (huge, "²"):
        r = s.post(f"{url}/assign", data={"assignee": assignee, "csrf": csrf_of(s, url)})
        assert r.status_code == 400, (assignee, r.status_code)
    r = s.post(f"{dash.url}/dashboard/pledges/items/{huge}",
               data={"status": "done", "csrf": csrf_of(s, url)})
    assert r.status_code == 400


def test_exports_keep_a_name_that_looks_like_a_formula_as_text(dash):
    # OWASP "CSV injection": a staff name =HYPERLINK(…) became a live formula in the
    # rankings .xlsx and .csv that supervisors open in Excel.
    import io

    from openpyxl import load_workbook
    from sqlalchemy import select, update

    from aggregator.db import write
    from aggregator.schema import rollup_daily, staff

    with write(dash.engine) as conn:
        sid = conn.execute(select(rollup_daily.c.staff_id).where(
            rollup_daily.c.staff_id != "").limit(1)).scalar_one()
        old = conn.execute(select(staff.c.name).where(staff.c.id == sid)).scalar_one()
        conn.execute(update(staff).where(staff.c.id == sid)
                     .values(name='=HYPERLINK("http://evil.example","点我")'))
    try:
        s = dash.login("admin")
        with write(dash.engine) as conn:
            conn_day = conn.execute(select(rollup_daily.c.day).where(
                rollup_daily.c.staff_id == sid).limit(1)).scalar_one()
        period = conn_day[:7]
        book = load_workbook(io.BytesIO(s.get(
            f"{dash.url}/dashboard/rankings.xlsx?group=staff&period={period}").content))
        cells = [c for row in book.active.iter_rows() for c in row
                 if isinstance(c.value, str) and "HYPERLINK" in c.value]
        assert cells and all(c.data_type == "s" for c in cells)
        text = s.get(f"{dash.url}/dashboard/rankings.csv?group=staff&period={period}").text
        assert "'=HYPERLINK(" in text and ',=HYPERLINK(' not in text
    finally:
        with write(dash.engine) as conn:
            conn.execute(update(staff).where(staff.c.id == sid).values(name=old))


def test_a_form_sent_after_the_session_ended_returns_to_its_page_after_sign_in(dash):
    case = dash.case_id("U-01")
    page = f"{dash.url}/dashboard/cases/{case}"
    r = requests.post(f"{page}/action", data={"action": "verify"}, allow_redirects=False,
                      headers={"Referer": page})
    assert r.status_code == 303
    assert r.headers["location"].endswith("next=" + quote(f"/dashboard/cases/{case}", safe=""))
    elsewhere = requests.post(f"{page}/action", data={"action": "verify"},
                              allow_redirects=False, headers={"Referer": "http://evil.example/x"})
    assert elsewhere.headers["location"].endswith("next=" + quote("/dashboard/", safe=""))


def test_a_stale_form_says_the_page_expired_not_out_of_scope(dash):
    s = dash.login("u01")
    case = dash.case_id("U-01")
    r = s.post(f"{dash.url}/dashboard/cases/{case}/action",
               data={"action": "verify", "csrf": "stale"})
    assert r.status_code == 403 and "页面已过期" in r.text and "权限范围" not in r.text


def test_the_language_switch_keeps_the_page_and_its_query(dash):
    s = dash.login("admin")
    r = s.get(f"{dash.url}/dashboard/rankings?group=staff&period=2026-10")
    assert 'href="?group=staff&amp;period=2026-10&amp;lang=en"' in r.text
    login = requests.get(f"{dash.url}/dashboard/login?lang=en").text
    assert "Bad-rating cases with their deadlines" in login and "差评整改" not in login


def test_the_case_list_keeps_its_unit_filter_in_tabs_and_pages(dash):
    s = dash.login("admin")
    r = s.get(f"{dash.url}/dashboard/cases?unit=U-02&state=all")
    assert 'href="?state=open&amp;unit=U-02"' in r.text and "data-unit-filter" in r.text
    # the tabs count the unit's cases, not the whole scope's
    import datetime as dt
    import re

    from aggregator.dashboard import queue
    from aggregator.db import read

    with read(dash.engine) as conn:
        today = dt.date.today()
        mine, every = (queue.counts(conn, units, today)["open"]
                       for units in ({"U-02"}, {"U-01", "U-02"}))
    assert mine < every
    shown = re.search(r'href="\?state=open&amp;unit=U-02">[^<]*<span class="count[^"]*">(\d+)',
                      r.text)
    assert shown and int(shown[1]) == mine


def test_case_history_shows_the_sites_local_time():
    import datetime as dt

    from aggregator.dashboard.web import localtime

    tz = dt.timezone(dt.timedelta(hours=8))
    when = dt.datetime(2026, 9, 10, 1, 0, tzinfo=dt.timezone.utc)
    assert localtime(when, tz, "%m-%d %H:%M") == "09-10 09:00"
    assert localtime("2026-12-04T13:10:00+00:00", tz) == "2026-12-04 21:10"


def test_unit_breadcrumb_names_the_region_and_links_it_only_when_it_may_be_opened(dash):
    for user, linked in (("u01", False), ("admin", True)):
        page = dash.login(user).get(f"{dash.url}/dashboard/units/U-01").text
        crumbs = page[page.index('class="crumbs"'):page.index("</p>", page.index('class="crumbs"'))]
        assert ('href="/dashboard/regions/' in crumbs) is linked, user
        assert "R-T1" not in crumbs.replace('/regions/R-T1"', "")  # the name, not the id


def test_unit_heatmap_shows_sunday_and_evening_ratings(dash):
    # The chart covered Monday to Saturday, 08-18 h: a hall's Sunday or evening ratings were
    # silently left out.
    import datetime as dt
    import uuid

    from sqlalchemy import insert, select

    from aggregator.db import write
    from aggregator.schema import ratings

    with write(dash.engine) as conn:
        row = dict(conn.execute(select(ratings).where(ratings.c.unit_id == "U-01")
                                .limit(1)).mappings().one())
        sunday = dt.date.fromisoformat(row["day"])
        sunday += dt.timedelta(days=(6 - sunday.weekday()) % 7)
        when = dt.datetime.combine(sunday, dt.time(21, 30), dt.timezone(dt.timedelta(hours=8)))
        row |= {"id": str(uuid.uuid4()), "device_time": when, "server_time": when,
                "rated_at": when, "day": sunday.isoformat()}   # the hour is rated_at's
        conn.execute(insert(ratings).values(**row))
    page = dash.login("admin").get(
        f"{dash.url}/dashboard/units/U-01?period={sunday.isoformat()[:7]}").text
    heat = page[page.index('class="chart heat"'):]
    heat = heat[:heat.index("</svg>")]
    import re

    cell = re.search(r"周日 21:00 — (\d+) /", heat)
    assert cell and int(cell[1]) >= 1


def test_a_user_who_chose_english_gets_english_error_pages(dash):
    from aggregator.dashboard import accounts, sample
    from aggregator.db import utcnow, write

    with write(dash.engine) as conn:
        if accounts.get_user_by_name(conn, "admin-en") is None:
            accounts.create_user(conn, "admin-en", sample.PASSWORD, "admin", now=utcnow(),
                                 language="en")
    r = dash.login("admin-en").get(f"{dash.url}/dashboard/cases/999999")
    assert r.status_code == 404 and "No such case, or it is outside your scope." in r.text


def test_the_ranking_tabs_keep_the_flagged_switch(dash):
    # The group tabs dropped include_flagged: switching from windows to staff silently
    # counted without the flagged presses again.
    r = dash.login("admin").get(f"{dash.url}/dashboard/rankings?group=window&period=2026-10"
                                "&include_flagged=1")
    assert 'href="?group=staff&period=2026-10&amp;include_flagged=1"' in r.text


def test_a_nul_in_a_form_or_a_url_is_a_400_that_names_it_and_stores_nothing(dash):
    # PostgreSQL's text cannot hold a NUL: a case note with one was a 500 there (and SQLite
    # stored what PostgreSQL would refuse, so the same form did different things).
    s = dash.login("admin")
    case = dash.case_id("U-01")
    url = f"{dash.url}/dashboard/cases/{case}"
    r = s.post(f"{url}/action", data={"action": "verify", "note": "a\x00b",
                                      "csrf": csrf_of(s, url)})
    assert r.status_code == 400 and "note" in r.text and "<html" in r.text.lower()
    with dash.engine.connect() as conn:
        row = conn.execute(select(cases.c.state, cases.c.note).where(cases.c.id == case)).one()
    assert row.state == "new" and row.note is None
    r = requests.post(f"{dash.url}/dashboard/login",
                      data={"username": "ad\x00min", "password": "x", "csrf": "x"})
    assert r.status_code == 400 and "username" in r.text
    for path in ("/dashboard/cases?unit=U%00", "/dashboard/units/U%0001"):
        r = s.get(dash.url + path)
        assert r.status_code == 400 and "NUL" in r.text, (path, r.status_code)
    # the phone page answers with its own page (tests/aggregator/test_qr.py)


def test_english_pages_built_from_parts_use_english_punctuation(dash):
    # The bulletin's sentences, the case history and the public page joined their parts with
    # "：" "，" "（）", which read as misprints on the English pages.
    s = dash.login("admin")
    case = dash.case_id("U-01")
    pages = {"bulletin": f"/dashboard/rankings?print=1&lang=en&period={_last_month()}",
             "case": f"/dashboard/cases/{case}?lang=en", "cases": "/dashboard/cases?unit=U-01&lang=en",
             "public": "/public/units/U-01?lang=en"}
    for name, path in pages.items():
        r = s.get(dash.url + path)
        assert r.status_code == 200, (name, r.status_code)
        body = r.text.split("<body", 1)[1]
        wide = sorted({ch for ch in re.sub(r"<[^>]+>", "", body) if ch in "：，。（）、；　"})
        assert wide == [], (name, wide)
    zh = s.get(f"{dash.url}/dashboard/rankings?print=1&lang=zh_CN&period={_last_month()}").text
    assert "，" in zh and "（" in zh   # the Chinese bulletin keeps its own punctuation


def _last_month() -> str:
    import datetime as dt

    return (dt.date.today().replace(day=1) - dt.timedelta(days=1)).strftime("%Y-%m")


def test_the_csv_gives_rates_as_percentages_equal_to_the_xlsx(dash):
    # The CSV wrote 0.9777777 where the page and the XLSX say 97.78%; readers took it for a
    # score. "97.78%" is also what Excel and WPS read back as the number 0.9778.
    import csv
    import io

    from openpyxl import load_workbook

    s = dash.login("admin")
    base = f"{dash.url}/dashboard/rankings"
    rows = list(csv.reader(io.StringIO(s.get(f"{base}.csv?period={_last_month()}").text.lstrip("\ufeff"))))
    header, first = rows[0], rows[1]
    sheet = load_workbook(io.BytesIO(s.get(f"{base}.xlsx?period={_last_month()}").content)).active
    xlsx_rate = next(r for r in sheet.iter_rows(values_only=True) if r[1] == first[1])[6]
    rate = first[header.index("满意率")]
    assert rate.endswith("%") and abs(float(rate[:-1]) / 100 - xlsx_rate) < 0.00005, (rate, xlsx_rate)


def test_window_and_staff_rankings_across_units_name_the_unit(dash):
    # Every hall has a "民政窗口": the district's window bulletin listed it four times with
    # nothing to tell which hall ranked first.
    s = dash.login("admin")
    rows = s.get(f"{dash.url}/dashboard/api/rankings?group=window&period={_last_month()}").json()["rows"]
    names = [r["name"] for r in rows]
    assert len(names) > 1 and all(" · " in n for n in names), names
    assert len(set(names)) == len(names)
    manager = dash.login("u01")   # one unit: the names stay as they are
    rows = manager.get(f"{dash.url}/dashboard/api/rankings?group=window&period={_last_month()}").json()["rows"]
    assert rows and not any(" · " in r["name"] for r in rows)


def test_ratings_without_a_service_item_are_named_in_the_pages_language(dash):
    # a QR rating has no service item; it is this month's
    assert qr_post(dash.url, "W-001", data={"level": "satisfied"}).status_code == 200
    s = dash.login("admin")
    rows = s.get(f"{dash.url}/dashboard/api/rankings?group=service_item").json()["rows"]
    assert any(r["key"] is None for r in rows), "the sample needs ratings without an item"
    zh = s.get(f"{dash.url}/dashboard/rankings?group=service_item").text
    assert "（未登记）" in zh and "(none)" not in zh   # it said "(none)" on the Chinese page


@pytest.mark.parametrize("referer, back", [
    ("{url}/dashboard/rankings?period=2026-10", "/dashboard/rankings?period=2026-10"),
    ("https://elsewhere.example/dashboard/rankings", None),   # another site: no link there
    ("{url}/metrics", None),                                  # not a dashboard page
    ("{url}/dashboard/cases/{huge}", None),                   # the page itself
    (None, None),
])
def test_the_error_page_links_back_to_the_dashboard_page_it_came_from(dash, referer, back):
    # It offered only "返回首页" (the overview), wherever the refused form or dead link was.
    s = dash.login("admin")
    huge = "9" * 25
    headers = {"Referer": referer.format(url=dash.url, huge=huge)} if referer else {}
    r = s.get(f"{dash.url}/dashboard/cases/{huge}", headers=headers)
    assert r.status_code == 400 and "返回首页" in r.text
    link = re.search(r'<a class="button primary" href="([^"]*)" data-back>返回上一页</a>', r.text)
    assert (link and link[1].replace("&amp;", "&")) == back if back else link is None
