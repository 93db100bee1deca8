"""The case queue leads with the work a unit can do, and says where each deadline stands:
appealed cases (clocks stopped, a supervisor's to decide) come after the actionable ones, a
deadline already met shows as done, one due today or tomorrow is tagged, and on a phone the
deadline shows next to the case number."""

from __future__ import annotations

import datetime as dt
import html
import re

from sqlalchemy import update

from aggregator.dashboard.tables import cases
from aggregator.db import utcnow, write
from tests.dashboard.helpers import TZ, browser_login


def _today() -> dt.date:
    return dt.datetime.now(TZ).date()


def _day(days: int) -> str:
    return (_today() + dt.timedelta(days=days)).isoformat()


def _set(dash, case_id: int, **values) -> None:
    with write(dash.engine) as conn:
        conn.execute(update(cases).where(cases.c.id == case_id).values(**values))


def _rows(text: str) -> dict[int, str]:
    """The queue page's rows, by case id, in the page's order (dicts keep it)."""
    return {int(m[1]): m[2] for m in re.finditer(
        r'<tr class="[^"]*" data-case="(\d+)">(.*?)</tr>', text, re.S)}


def _queue(s, dash) -> tuple[dict[int, str], dict[int, int]]:
    """Every row of u01's 未办结 tab, all pages in order, and the page of each case."""
    rows, pages, p = {}, {}, 1
    while True:
        text = s.get(f"{dash.url}/dashboard/cases?state=open&page={p}").text
        for case_id, row in _rows(text).items():
            rows[case_id], pages[case_id] = row, p
        if "下一页 →" not in text:
            return rows, pages
        p += 1


def _crafted(dash) -> dict[str, int]:
    """Cases of U-01 put in the states the tests need (the module's own dashboard)."""
    ids = {name: dash.case_id("U-01", skip=20 + i) for i, name in enumerate(
        ("appealed", "appealed_2", "contacted", "due_today", "due_tomorrow"))}
    _set(dash, ids["appealed"], state="appealed", appeal_from="new",
         first_contact_due=_day(-30), answer_due=_day(-20))
    _set(dash, ids["appealed_2"], state="appealed", appeal_from="new",
         first_contact_due=_day(-29), answer_due=_day(-19))
    # rectifying: first contact made on time, a while ago; the answer is due later
    _set(dash, ids["contacted"], state="rectifying",
         first_contact_at=dt.datetime(2026, 11, 25, 2, 0, tzinfo=dt.timezone.utc),
         first_contact_due=_day(-9), answer_due=_day(5))
    _set(dash, ids["due_today"], state="new", first_contact_due=_day(0), answer_due=_day(9))
    _set(dash, ids["due_tomorrow"], state="verified", first_contact_at=utcnow(),
         first_contact_due=_day(-1), answer_due=_day(1))
    return ids


def test_appealed_cases_come_after_every_case_the_unit_can_work(dash):
    # A unit manager's 未办结 tab opened on 申诉中 cases, whose clocks are stopped and which
    # only a supervisor can act on, above the cases due that very day.
    ids = _crafted(dash)
    listed, _ = _queue(dash.login("u01"), dash)
    rows = list(listed)
    states = [re.search(r'class="state s-(\w+)"', listed[i])[1] for i in rows]
    first_appealed = states.index("appealed")
    assert set(states[first_appealed:]) == {"appealed"}, states
    assert first_appealed < len(states) - 1   # both crafted ones, and after every other
    assert rows.index(ids["due_tomorrow"]) < rows.index(ids["appealed"])
    # the late ones still lead
    late = [i for i, r in listed.items() if 'class="tag red">超期' in r]
    assert late and rows[:len(late)] == late


def test_a_met_deadline_shows_as_done_and_one_due_soon_is_tagged(dash):
    # #476 (整改中) showed "首次联系时限 2026-11-26", a past date for a step already done, with
    # no mark; a deadline falling due today or tomorrow looked like any other.
    ids = _crafted(dash)
    listed, _ = _queue(dash.login("u01"), dash)
    contacted = listed[ids["contacted"]]
    done = re.search(r'<td class="muted" data-due-done="first_contact" title="([^"]*)">([^<]*)</td>',
                     contacted)
    assert done and html.unescape(done[2]) == "已联系 11-25"
    assert _day(-9) in done[1]   # the deadline it met, on hover
    assert f">{_day(-9)}<" not in contacted and f">{_day(-9)} " not in contacted
    assert 'data-due-soon="today">今日到期' in listed[ids["due_today"]]
    assert 'data-due-soon="tomorrow">明日到期' in listed[ids["due_tomorrow"]]
    # an appealed case's clocks are stopped: never "due today", never overdue
    assert "data-due-soon" not in listed[ids["appealed"]]
    assert "tag red" not in listed[ids["appealed"]]


def test_on_a_phone_the_queue_shows_each_cases_deadline_by_its_number(browser, dash):
    # At 390 px the table scrolled inside its card and showed 工单号, 状态, 等级 and part of
    # the unit: the deadline and overdue columns were off the screen, with no cue.
    ids = _crafted(dash)
    _, pages = _queue(dash.login("u01"), dash)
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True,
                                  has_touch=True)
    page = context.new_page()
    try:
        browser_login(page, dash, "u01")
        page.wait_for_url("**/dashboard/")
        for case_id, words in ((ids["due_today"], "今日到期"),
                               (ids["due_tomorrow"], "明日到期")):
            page.goto(f"{dash.url}/dashboard/cases?state=open&page={pages[case_id]}")
            cue = page.locator(f"tr[data-case='{case_id}'] [data-phone-due]")
            assert cue.is_visible() and words in cue.inner_text()
            box = cue.bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= 390, box
        page.goto(f"{dash.url}/dashboard/cases?state=open")
        late = page.locator("tr.overdue [data-phone-due]").first
        assert late.is_visible() and "超期" in late.inner_text()
        assert late.bounding_box()["x"] + late.bounding_box()["width"] <= 390
        # on a wide screen the deadline columns show it: no second copy
        page.set_viewport_size({"width": 1440, "height": 900})
        assert not page.locator("[data-phone-due]").first.is_visible()
    finally:
        context.close()
