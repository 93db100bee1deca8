"""A refused dashboard form loses nothing: the callback's result is chosen, never defaulted,
and a refused form that posts to its own page's path (the settings, a new pledge) still links
back to it, where the browser's own Back brings what was typed."""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import select

from aggregator.dashboard.tables import case_callbacks
from aggregator.db import read
from tests.dashboard.helpers import browser_login, csrf_of, post_form, refusal_line

BACK = re.compile(r'<a class="button primary" href="([^"]*)" data-back>返回上一页</a>')


def _today() -> dt.date:
    return dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).date()


def _callbacks(dash, case_id: int) -> int:
    with read(dash.engine) as conn:
        return len(conn.execute(select(case_callbacks.c.id).where(
            case_callbacks.c.case_id == case_id)).all())


def test_the_callback_result_has_no_default_and_is_required(dash):
    # The result picker started on "满意": a hurried clerk recorded, unasked, the very result
    # the callback is there to find out. It starts empty and the browser asks for a choice.
    case_id = dash.case_id("U-01", skip=12)
    page = dash.login("u01").get(f"{dash.url}/dashboard/cases/{case_id}").text
    picker = re.search(r'<select name="result"([^>]*)>(.*?)</select>', page, re.S)
    assert "required" in picker[1]
    options = re.findall(r'<option value="([^"]*)"([^>]*)>([^<]*)</option>', picker[2])
    assert options[0] == ("", "", "请选择")
    assert not any("selected" in attrs for _, attrs, _ in options)


def test_a_callback_sent_without_a_result_is_refused_in_chinese_and_not_saved(dash):
    # Without the browser's check (an old page, a script) the server took "" to the generic
    # "回访结果须为…之一（现为「」）"; now it asks for the choice, and stores nothing.
    case_id = dash.case_id("U-01", skip=13)
    page = f"/dashboard/cases/{case_id}"
    manager = dash.login("u01")
    before = _callbacks(dash, case_id)
    r = post_form(manager, dash, f"{page}/callback", page, day=_today().isoformat(), result="",
                  note="已电话联系")
    assert r.status_code == 400
    assert refusal_line(r) == "请选择回访结果（满意、不满意、未接通或拒绝回访），本次未保存"
    assert _callbacks(dash, case_id) == before
    en = post_form(manager, dash, f"{page}/callback", page, "en", day=_today().isoformat())
    assert en.status_code == 400
    assert refusal_line(en).startswith("Choose the callback's result")
    assert _callbacks(dash, case_id) == before


def _refused_from(s, dash, path: str, **data):
    """``data`` posted to ``path`` from the page at ``path`` itself (its Referer)."""
    csrf = csrf_of(s, f"{dash.url}{path}")
    return s.post(f"{dash.url}{path}", data={"csrf": csrf, **data}, allow_redirects=False,
                  headers={"Referer": f"{dash.url}{path}"})


def test_refused_settings_and_new_pledge_link_back_to_their_own_page(dash):
    # Both forms post to their page's own path; the error page dropped "返回上一页" as if it
    # were a dead link's own address, and offered only "返回首页": what was typed was lost.
    admin = dash.login("admin")
    r = _refused_from(admin, dash, "/dashboard/settings", target_percent="80",
                      first_contact_days="1", answer_days="10", holidays="2027-02-30",
                      workdays="")
    assert r.status_code == 400, r.text[-400:]
    assert BACK.search(r.text)[1] == "/dashboard/settings"
    manager = dash.login("u01")
    r = _refused_from(manager, dash, "/dashboard/pledges", owner="window:W-001",
                      title="窗口服务承诺", items="   ")
    assert r.status_code == 400, r.text[-400:]
    assert BACK.search(r.text)[1] == "/dashboard/pledges"
    # a dead link's own address is still no way back (test_odd_urls.py)
    r = admin.get(f"{dash.url}/dashboard/cases/999999",
                  headers={"Referer": f"{dash.url}/dashboard/cases/999999"})
    assert r.status_code == 404 and not BACK.search(r.text)


def test_back_from_a_refused_settings_form_keeps_what_was_typed(page, dash_sqlite):
    # In the browser: the holidays typed, one of them no date, refused, then "返回上一页"
    # brings the form back as it was typed.
    dash = dash_sqlite
    browser_login(page, dash, "admin")
    page.wait_for_url("**/dashboard/")
    page.goto(f"{dash.url}/dashboard/settings")
    typed = "2027-01-01\n2027-02-30\n2027-10-01"
    page.fill("textarea[name=holidays]", typed)
    page.click("form[action='/dashboard/settings'] button.primary")
    page.wait_for_selector("[data-error-problem]")
    page.click("a[data-back]")
    page.wait_for_url("**/dashboard/settings")
    assert page.input_value("textarea[name=holidays]") == typed


def test_back_from_a_refused_new_pledge_keeps_its_title(page, dash_sqlite):
    dash = dash_sqlite
    browser_login(page, dash, "u01")
    page.wait_for_url("**/dashboard/")
    page.goto(f"{dash.url}/dashboard/pledges")
    form = "form[action='/dashboard/pledges']"
    page.click("summary:has-text('新增承诺')")
    page.fill(f"{form} input[name=title]", "亮身份、亮承诺、亮标准")
    page.fill(f"{form} textarea[name=items]", "   \n  ")   # blank: passes the browser's check
    page.click(f"{form} button.primary")
    page.wait_for_selector("[data-error-problem]")
    page.click("a[data-back]")
    page.wait_for_url("**/dashboard/pledges")
    assert page.input_value(f"{form} input[name=title]") == "亮身份、亮承诺、亮标准"
