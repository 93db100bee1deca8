"""Free text on the dashboard's pages in the page's language: the overview's alert details
(i18n_alerts.py), the error page's explanation, the device list's times."""

from __future__ import annotations

import datetime as dt
import re

from aggregator.dashboard import web
from aggregator.dashboard.i18n import translator
from aggregator.db import utcnow, write
from aggregator.errors import Conflict, Gone
from aggregator.schema import alerts


def _details(html: str) -> list[str]:
    """The text of each alert's detail in the overview's alert list."""
    listed = re.search(r'<ul class="alerts">(.*?)</ul>', html, re.S)[1]
    return [re.sub(r"<[^>]+>", "", d) for d in
            re.findall(r'<div class="small muted"[^>]*>(.*?)</div>', listed)]


def test_overview_tells_alert_details_in_the_pages_language(dash):
    # The overview named each alert's kind in Chinese but told its detail in English
    # ("device kiosk-W-004 clock is +845 s off") to a supervisor reading the Chinese page.
    zh = _details(dash.login("jfb").get(dash.url + "/dashboard/").text)
    assert "设备 kiosk-W-004 时钟慢 845 秒（约 14 分钟）" in zh, zh
    silent = [d for d in zh if d.startswith("设备 kiosk-W-005（")]
    # the window by its name as well as its number, the time in the site's time zone
    assert silent and re.fullmatch(r"设备 kiosk-W-005（\S+窗口 W-005）自 \d{4}-\d\d-\d\d \d\d:\d\d "
                                   r"起未与服务器联系", silent[0]), silent
    assert not [d for d in zh if "device " in d or " off" in d], zh
    en = _details(dash.login("jfb").get(dash.url + "/dashboard/?lang=en").text)
    assert "device kiosk-W-004 clock is 845 s (about 14 min) behind server time" in en, en
    assert not [d for d in en if re.search(r"[\u4e00-\u9fff]", d.split("(")[0])], en


def test_overview_shows_the_stored_text_of_an_alert_raised_before_its_values_were_kept(dash):
    # Alerts raised before migration 46 have only their English sentence: the overview shows
    # it rather than nothing.
    with write(dash.engine) as conn:
        conn.execute(alerts.insert().values(
            kind="no_staff", severity="low", dedupe_key="no_staff:test-legacy",
            device_id="kiosk-W-001", window_id="W-001", created_at=utcnow(),
            detail="device kiosk-W-001 window W-001: ratings flagged no_staff on 2026-01-05"))
    try:
        zh = _details(dash.login("jfb").get(dash.url + "/dashboard/").text)
        assert "device kiosk-W-001 window W-001: ratings flagged no_staff on 2026-01-05" in zh
    finally:
        with write(dash.engine) as conn:
            conn.execute(alerts.delete().where(alerts.c.dedupe_key == "no_staff:test-legacy"))


def _error_page(lang: str, exc) -> str:
    html = web.TEMPLATES.get_template("error.html").render(
        t=translator(lang), lang=lang, P=web.PREFIX, error=exc, user=None, ctx=None,
        path="/dashboard/cases/1", query="", switch_href="?lang=en", csrf="", tz=dt.timezone.utc)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html[html.index("<h1"):]))


def test_error_page_explains_a_conflict_in_the_pages_language():
    # Accepting an appeal while someone else changed the rating is a 409; its page had no
    # line in the reader's language, only the server's English ("rating 5 changed meanwhile").
    zh = _error_page("zh_CN", Conflict("rating 5 changed meanwhile; try again"))
    assert "内容刚被他人修改，本次操作未保存：请刷新页面后重试。" in zh, zh
    assert "rating 5 changed meanwhile" in zh  # kept, set apart, for whoever looks into it
    en = _error_page("en", Conflict("rating 5 changed meanwhile; try again"))
    assert "Someone else changed this meanwhile" in en, en
    # a status with no sentence of its own still gets one in the page's language
    odd = Gone("x")
    odd.status = 418
    assert "本次操作未完成。" in _error_page("zh_CN", odd)


def test_device_list_tells_times_in_the_pages_language(dash):
    # The device list showed "3.5 h", "2 d" and "+845 s" on the Chinese page.
    zh = dash.login("jfb").get(dash.url + "/dashboard/devices").text
    row = re.search(r"<code>kiosk-W-004</code>.*?</tr>", zh, re.S)[0]
    assert re.search(r">\d+ 分钟前<", row) and ">+845 秒<" in row, row
    silent = re.search(r"<code>kiosk-W-005</code>.*?</tr>", zh, re.S)[0]
    assert re.search(r">3\d(\.\d)? 小时前<", silent), silent
    en = dash.login("jfb").get(dash.url + "/dashboard/devices?lang=en").text
    row = re.search(r"<code>kiosk-W-004</code>.*?</tr>", en, re.S)[0]
    assert re.search(r">\d+ min ago<", row) and ">+845 s<" in row, row
