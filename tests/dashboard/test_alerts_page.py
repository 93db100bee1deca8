"""The alerts page (/dashboard/alerts) and resolving an alert with a reason.

Before it, only the overview's eight most serious open alerts and a count were shown, and
every alert the scan does not resolve itself (conflict, chain_break, burst, zero_bad, …)
stayed open for ever: nobody could see them all, and nobody could close them. Runs on SQLite
and, with AGGREGATOR_TEST_PG_URL, on PostgreSQL."""

import datetime as dt
import html
import json
import re
import uuid

from sqlalchemy import func, select, update

from aggregator import constants as C
from aggregator.alerts import raise_alert
from aggregator.dashboard import accounts
from aggregator.dashboard.tables import audit_log
from aggregator.db import read, utcnow, write
from aggregator.schema import alerts
from tests.dashboard.helpers import PASSWORD, browser_login, csrf_of, refusal_line, staff_account

PAGE = "/dashboard/alerts"


def _raise(dash, kind: str, *, window: str | None = None, device: str | None = None,
           severity: str | None = None, hours_ago: float = 0, args: dict | None = None) -> int:
    """A new alert (a unique key each call); its id."""
    key = uuid.uuid4().hex
    with write(dash.engine) as conn:
        raise_alert(conn, kind, key, f"test alert {key}", utcnow() - dt.timedelta(hours=hours_ago),
                    device_id=device, window_id=window, args=args)
        alert_id = conn.execute(select(alerts.c.id).where(
            alerts.c.dedupe_key == f"{kind}:{key}")).scalar_one()
        if severity:
            conn.execute(update(alerts).where(alerts.c.id == alert_id).values(severity=severity))
    return alert_id


def _alert(dash, alert_id: int) -> dict:
    with read(dash.engine) as conn:
        return dict(conn.execute(select(alerts).where(alerts.c.id == alert_id)).mappings().one())


def _audits(dash, alert_id: int) -> list[dict]:
    with read(dash.engine) as conn:
        return [dict(r) for r in conn.execute(select(audit_log).where(
            audit_log.c.action == "resolve_alert", audit_log.c.target == str(alert_id)))
            .mappings()]


def _ids(page_html: str) -> list[int]:
    """The alert ids of the page's rows, in their order."""
    return [int(i) for i in re.findall(r'<tr data-alert="(\d+)"', page_html)]


def _row(page_html: str, alert_id: int) -> str:
    found = re.search(rf'<tr data-alert="{alert_id}".*?</tr>', page_html, re.S)
    assert found, f"alert {alert_id} is not on the page"
    return html.unescape(re.sub(r"\s+", " ", found[0]))


def _resolve(s, dash, alert_id: int, note: str, lang: str = "zh_CN", page: str = PAGE):
    """The resolve form of ``alert_id`` sent from ``page``, as a browser sends it (its
    Referer is the page)."""
    csrf = csrf_of(s, f"{dash.url}{page}")
    return s.post(f"{dash.url}{PAGE}/{alert_id}/resolve?lang={lang}",
                  data={"csrf": csrf, "note": note}, headers={"Referer": f"{dash.url}{page}"},
                  allow_redirects=False)


def _open_count(s, dash) -> int:
    """The overview's number of open alerts, as its link to the alerts page says it."""
    page = s.get(dash.url + "/dashboard/").text
    link = re.search(r'<a href="/dashboard/alerts" data-all-alerts>([^<]*)</a>', page)
    assert link, "the overview's alert card does not link to the alerts page"
    return int(re.search(r"\d+", link[1])[0])


def test_unit_manager_sees_the_alerts_of_their_unit_only(dash):
    # The scope rule of the overview: the alert's window or device is in the user's units.
    # u02 must not read what U-01's kiosks raised (nor learn that they raised anything).
    mine = _raise(dash, C.AL_BURST, window="W-001", device="kiosk-W-001")
    device_only = _raise(dash, C.AL_DB_RECOVERED, device="kiosk-W-002")   # no window
    theirs = _raise(dash, C.AL_ZERO_BAD, window="W-004")
    u01 = dash.login("u01").get(f"{dash.url}{PAGE}?state=all").text
    u02 = dash.login("u02").get(f"{dash.url}{PAGE}?state=all").text
    assert {mine, device_only} <= set(_ids(u01)) and theirs not in _ids(u01)
    assert theirs in _ids(u02) and not {mine, device_only} & set(_ids(u02))
    # the row names the unit and the window, by name
    assert "城关街道便民服务中心" in _row(u01, mine) and "民政窗口" in _row(u01, mine)
    jfb = dash.login("jfb").get(f"{dash.url}{PAGE}?state=all").text
    assert {mine, device_only, theirs} <= set(_ids(jfb))


def test_most_serious_first_then_newest(dash):
    # Newest first alone buried a chain break under a backlog of low alerts (overview.py).
    device = f"kiosk-sort-{uuid.uuid4().hex[:6]}"
    low = _raise(dash, C.AL_NO_STAFF, window="W-007", device=device, hours_ago=1)
    high_old = _raise(dash, C.AL_CHAIN_BREAK, window="W-007", device=device, hours_ago=30)
    medium = _raise(dash, C.AL_BURST, window="W-007", device=device, hours_ago=2)
    high_new = _raise(dash, C.AL_CONFLICT, window="W-007", device=device, hours_ago=3)
    page = dash.login("jfb").get(f"{dash.url}{PAGE}", params={"device": device}).text
    assert _ids(page) == [high_new, high_old, medium, low]
    assert [_alert(dash, i)["severity"] for i in _ids(page)] == ["high", "high", "medium", "low"]


def test_filters_by_kind_and_severity(dash):
    device = f"kiosk-filter-{uuid.uuid4().hex[:6]}"
    clock = _raise(dash, C.AL_CLOCK, window="W-008", device=device)          # low
    burst = _raise(dash, C.AL_BURST, window="W-008", device=device)          # medium
    zero = _raise(dash, C.AL_ZERO_BAD, window="W-008", device=device)        # high
    s = dash.login("jfb")
    get = lambda **q: _ids(s.get(f"{dash.url}{PAGE}", params={"device": device, **q}).text)  # noqa: E731
    assert set(get()) == {clock, burst, zero}
    assert get(kind="burst") == [burst]
    assert get(severity="high") == [zero]
    assert get(kind="burst", severity="high") == []
    # a value the page does not know is no filter (as the case queue's unknown tab)
    assert set(get(kind="no-such-kind", severity="urgent")) == {clock, burst, zero}
    # across the whole scope, a kind filter lists that kind only
    everything = s.get(f"{dash.url}{PAGE}", params={"state": "all", "kind": "zero_bad"}).text
    assert zero in _ids(everything)
    assert all(k == "zero_bad" for k in re.findall(r'data-alert-kind="([^"]+)"', everything))
    # the select keeps the choice, and the kinds are named in the page's language
    page = s.get(f"{dash.url}{PAGE}", params={"kind": "burst", "device": device}).text
    assert '<option value="burst" selected>短时间内连续评价</option>' in page


def test_fifty_a_page_with_links_keeping_the_filters(dash):
    device = f"kiosk-paging-{uuid.uuid4().hex[:6]}"
    made = [_raise(dash, C.AL_NO_STAFF, window="W-009", device=device, hours_ago=i / 60)
            for i in range(53)]
    s = dash.login("jfb")
    first = s.get(f"{dash.url}{PAGE}", params={"device": device}).text
    second = s.get(f"{dash.url}{PAGE}", params={"device": device, "page": 2}).text
    assert _ids(first) == made[:50]           # newest first: made[0] is the newest
    assert _ids(second) == made[50:]
    assert "1 / 2" in first and "2 / 2" in second
    # the next page's link keeps the tab and the device filter
    assert f'href="?state=open&amp;page=2&amp;device={device}"' in first
    assert f'href="?state=open&amp;page=1&amp;device={device}"' in second
    assert re.search(r'data-tab="open">[^<]*<span class="count red">53</span>', first)
    # a page past the end, or not a number, is no error
    assert _ids(s.get(f"{dash.url}{PAGE}", params={"device": device, "page": 9}).text) == []
    assert _ids(s.get(f"{dash.url}{PAGE}", params={"device": device, "page": "x"}).text) \
        == made[:50]


def test_supervisor_resolves_an_alert_with_a_note(dash):
    # A flagged_bad alert is never resolved by the scan: before this page it stayed open
    # for ever. The reason must be on record (audit log) and shown with the alert.
    alert_id = _raise(dash, C.AL_FLAGGED_BAD, window="W-002",
                      args={"msg": "flagged_bad", "window": "W-002", "day": "2026-05-04", "n": 4})
    u01 = dash.login("u01")
    before = _open_count(u01, dash)
    jfb = dash.login("jfb")
    note = "已核实为设备故障，已更换"
    r = _resolve(jfb, dash, alert_id, note, page=f"{PAGE}?kind=flagged_bad")
    assert r.status_code == 303, r.text[:300]
    # back to the page the form was on, its filter kept, saying what was done
    assert r.headers["location"] == f"{PAGE}?kind=flagged_bad&resolved={alert_id}"
    done = jfb.get(dash.url + r.headers["location"]).text
    assert f"预警 #{alert_id} 已解除" in done
    stored = _alert(dash, alert_id)
    assert stored["resolved_at"] is not None
    [entry] = _audits(dash, alert_id)
    assert entry["username"] == "jfb" and json.loads(entry["detail"])["note"] == note
    assert entry["user_id"] == dash.users["jfb"]
    # gone from the open tab and from the overview's count, of the unit's manager too
    assert alert_id not in _ids(jfb.get(f"{dash.url}{PAGE}?state=open").text)
    assert _open_count(u01, dash) == before - 1
    # the resolved tab shows when, by whom and why, in the hall's local time
    row = _row(u01.get(f"{dash.url}{PAGE}?state=resolved").text, alert_id)
    local = stored["resolved_at"].replace(tzinfo=dt.timezone.utc) \
        .astimezone(dt.timezone(dt.timedelta(hours=8))).strftime("%Y-%m-%d %H:%M")
    assert local in row
    assert "区纠风办 李明 解除" in row and note in row
    assert "自动解除" not in row


def test_unit_manager_and_viewer_may_not_resolve(dash):
    # The manager of the unit an alert accuses must not dismiss it (DESIGN: units must not
    # be able to manipulate results); a viewer only reads.
    alert_id = _raise(dash, C.AL_ZERO_BAD, window="W-003")
    for name in ("u01", "viewer"):
        s = dash.login(name)
        page = s.get(f"{dash.url}{PAGE}").text
        assert alert_id in _ids(page)
        assert "data-resolve" not in page   # no form offered
        r = _resolve(s, dash, alert_id, "本单位已自查，无问题")
        assert r.status_code == 403, (name, r.status_code)
        assert "只有监管人员和系统管理员可以解除预警" in refusal_line(r)
    assert _alert(dash, alert_id)["resolved_at"] is None
    assert _audits(dash, alert_id) == []
    assert "data-resolve" in _row(dash.login("admin").get(f"{dash.url}{PAGE}").text, alert_id)


def test_a_second_resolve_is_refused_with_409(dash):
    alert_id = _raise(dash, C.AL_CHAIN_BREAK, window="W-001", device="kiosk-W-001")
    s = dash.login("jfb")
    assert _resolve(s, dash, alert_id, "已核实").status_code == 303
    first = _alert(dash, alert_id)["resolved_at"]
    r = _resolve(dash.login("admin"), dash, alert_id, "再次解除")
    assert r.status_code == 409
    assert f"预警 #{alert_id} 已于" in refusal_line(r) and "无需再次解除" in refusal_line(r)
    assert f"alert {alert_id} was resolved already" in r.text
    assert _alert(dash, alert_id)["resolved_at"] == first
    assert len(_audits(dash, alert_id)) == 1


def test_the_note_is_required_and_at_most_500_characters(dash):
    alert_id = _raise(dash, C.AL_VOLUME, window="W-002")
    s = dash.login("jfb")
    for empty in ("", "   \r\n  "):
        r = _resolve(s, dash, alert_id, empty)
        assert r.status_code == 400, r.status_code
        assert refusal_line(r).startswith("处理说明不能为空")
        assert "note:" in r.text   # the English detail names the field
    r = _resolve(s, dash, alert_id, "甲" * 501, lang="en")
    assert r.status_code == 400
    assert refusal_line(r) == "The note must be at most 500 characters long, got 501"
    assert _alert(dash, alert_id)["resolved_at"] is None and _audits(dash, alert_id) == []
    # A line break is one character in the browser's field (maxlength) but CR LF when sent:
    # 500 characters as typed are taken, not refused as 501.
    typed = "甲" * 498 + "\r\n" + "乙"
    assert _resolve(s, dash, alert_id, typed).status_code == 303
    assert json.loads(_audits(dash, alert_id)[0]["detail"])["note"] == "甲" * 498 + "\n乙"


def test_an_alert_outside_the_scope_or_unknown_is_not_found(dash):
    # As for cases: another region's alert is not revealed (404), and stays open.
    with write(dash.engine) as conn:
        if accounts.get_user_by_name(conn, "sup-t2") is None:
            accounts.create_user(conn, "sup-t2", PASSWORD, "supervisor", region_id="R-T2",
                                 now=utcnow())
    alert_id = _raise(dash, C.AL_ZERO_BAD, window="W-001")
    s = dash.login("sup-t2")
    assert alert_id not in _ids(s.get(f"{dash.url}{PAGE}?state=all").text)
    assert _resolve(s, dash, alert_id, "越权解除").status_code == 404
    assert _alert(dash, alert_id)["resolved_at"] is None
    with read(dash.engine) as conn:
        unknown = conn.execute(select(func.max(alerts.c.id))).scalar() + 1000
    assert _resolve(dash.login("jfb"), dash, unknown, "不存在").status_code == 404
    assert _resolve(dash.login("jfb"), dash, 0, "不存在").status_code in (400, 404, 422)


def test_resolving_needs_the_csrf_token(dash):
    alert_id = _raise(dash, C.AL_ZERO_BAD, window="W-002")
    s = dash.login("jfb")
    r = s.post(f"{dash.url}{PAGE}/{alert_id}/resolve", data={"note": "无令牌"},
               allow_redirects=False)
    assert r.status_code == 403
    assert _alert(dash, alert_id)["resolved_at"] is None


def test_english_page_and_an_alert_resolved_by_the_scan(dash):
    by_scan = _raise(dash, C.AL_SILENT, window="W-005", device="kiosk-W-005",
                     args={"device": "kiosk-W-005", "window": "W-005",
                           "since_at": "2026-05-01T02:00:00+00:00"})
    with write(dash.engine) as conn:   # as alerts.scan does: resolved_at, no audit row
        conn.execute(update(alerts).where(alerts.c.id == by_scan).values(resolved_at=utcnow()))
    s = dash.login("jfb")
    en = s.get(f"{dash.url}{PAGE}?state=resolved&lang=en").text
    row = _row(en, by_scan)
    assert "Device silent" in row and "resolved by the scan" in row
    # the detail in English, its time in the hall's (UTC+8), the window by name
    assert "device kiosk-W-005 (社保窗口 W-005) silent since 2026-05-01 10:00" in row
    for words in ("Open", "Resolved", "All kinds", "All severities", "Raised at"):
        assert words in en, words
    assert '<html lang="en">' in en
    zh = _row(s.get(f"{dash.url}{PAGE}?state=resolved&lang=zh_CN").text, by_scan)
    assert "自动解除" in zh and "设备长时间未通信" in zh


def test_overview_nav_and_devices_page_link_to_it(dash):
    s = dash.login("jfb")
    overview = s.get(dash.url + "/dashboard/").text
    assert 'data-nav="alerts"' in overview and 'data-all-alerts' in overview
    alert_id = _raise(dash, C.AL_CLOCK, window="W-010", device="kiosk-W-010")
    devices = s.get(dash.url + "/dashboard/devices").text
    assert 'href="/dashboard/alerts?device=kiosk-W-010"' in devices
    page = s.get(dash.url + "/dashboard/alerts?device=kiosk-W-010").text
    assert alert_id in _ids(page) and all(
        _alert(dash, i)["device_id"] == "kiosk-W-010" for i in _ids(page))
    assert 'class="on" data-nav="alerts"' in page   # the menu shows where one is


def test_staff_account_never_sees_the_alerts(dash):
    # Staff see only the peer review and their own results (mount.not_staff).
    alert_id = _raise(dash, C.AL_ZERO_BAD, window="W-001")
    s = dash.login(staff_account(dash, "S-001", "alerts"))
    r = s.get(f"{dash.url}{PAGE}?state=all", allow_redirects=False)
    assert r.status_code == 403 and f'data-alert="{alert_id}"' not in r.text
    assert 'data-nav="alerts"' not in s.get(dash.url + "/dashboard/assessment/me").text
    r = _resolve(s, dash, alert_id, "员工解除", page="/dashboard/assessment/me")
    assert r.status_code == 403
    assert _alert(dash, alert_id)["resolved_at"] is None


def test_a_supervisor_resolves_an_alert_in_a_browser_without_javascript(browser, dash_sqlite):
    # The page must work without JavaScript (the dashboard's rule: dashboard.js only
    # enhances): the form opens from a <details>, and the browser checks the required note.
    dash = dash_sqlite
    alert_id = _raise(dash, C.AL_ZERO_BAD, window="W-003",
                      args={"window": "W-003", "n": 612, "days": 30, "to": "2026-05-31"})
    context = browser.new_context(viewport={"width": 1440, "height": 900},
                                  java_script_enabled=False)
    page = context.new_page()
    try:
        browser_login(page, dash, "jfb")
        page.wait_for_url("**/dashboard/")
        page.click("a[data-all-alerts]")
        page.wait_for_url("**/dashboard/alerts")
        row = page.locator(f'tr[data-alert="{alert_id}"]')
        assert "长期零差评" in row.inner_text()
        assert "计生窗口 W-003 截至 2026-05-31 的 30 天内有 612 条评价，没有一条差评" \
            in row.inner_text()
        row.locator("summary").click()
        row.get_by_label("处理说明（必填）").fill("已核实：该窗口近期评价正常，差评按钮经检测可用")
        row.get_by_role("button", name="确认解除").click()
        page.wait_for_url(f"**/dashboard/alerts?resolved={alert_id}")
        assert f"预警 #{alert_id} 已解除" in page.locator("[data-resolved-ok]").inner_text()
        assert page.locator(f'tr[data-alert="{alert_id}"]').count() == 0   # not open any more
        page.click("a[data-tab=resolved]")
        done = page.locator(f'tr[data-alert="{alert_id}"]').inner_text()
        assert "区纠风办 李明 解除" in done and "差评按钮经检测可用" in done
    finally:
        context.close()
