"""A bulletin (通报) and the ranking page of a period not over yet say which days they hold, and
the English bulletin has its own title and word order. Over SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import html as html_lib
import io
import re

from openpyxl import load_workbook

from aggregator.dashboard.periods import Period
from aggregator.db import utcnow

TZ = dt.timezone(dt.timedelta(hours=8))   # the demo site's (Settings.timezone_offset_hours)


def _text(html: str) -> str:
    return html_lib.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)))


def test_a_bulletin_of_a_month_under_way_says_which_days_it_holds(dash):
    # "2026年12月单位服务好差评情况通报 … 制表时间 2026-12-05" compared 5 days of December
    # with the whole of November, and said nothing of it.
    today = utcnow().astimezone(TZ).date()
    this = Period("month", today.year, today.month)
    s = dash.login("admin")
    for lang, want in (
            ("zh_CN", f"统计区间：{this.start} 至 {today}（本月尚未结束）"),
            ("en", f"Period: {this.start} to {today} (the month is not over yet)")):
        for extra in ({}, {"print": "1"}):
            html = s.get(f"{dash.url}/dashboard/rankings", params={
                "group": "unit", "period": this.key, "lang": lang, **extra}).text
            line = re.search(r"<p [^>]*data-under-way>(.*?)</p>", html, re.S)
            assert line and _text(line[1]).strip() == want, (lang, extra)
    # a completed month says nothing of the kind
    done = s.get(f"{dash.url}/dashboard/rankings", params={
        "group": "unit", "period": this.previous().key, "print": "1", "lang": "zh_CN"}).text
    assert "data-under-way" not in done and "尚未结束" not in done
    # nor does the quarter under way leave it out
    quarter = Period("quarter", today.year, (today.month - 1) // 3 + 1)
    html = s.get(f"{dash.url}/dashboard/rankings", params={"period": quarter.key,
                                                            "print": "1", "lang": "zh_CN"}).text
    assert f"统计区间：{quarter.start} 至 {today}（本季度尚未结束）" in _text(html)


def test_the_english_bulletin_has_its_own_title_and_word_order(dash):
    # It read "December 2026Units — service rating bulletin" and "Service ratings of Units
    # in December 2026:", the Chinese order with English words.
    s = dash.login("admin")
    month = Period("month", 2026, 11)
    html = s.get(f"{dash.url}/dashboard/rankings", params={
        "group": "unit", "period": month.key, "print": "1", "lang": "en"}).text
    heading = "Service rating bulletin — Units, November 2026"
    assert _text(re.search(r"<h1>(.*?)</h1>", html, re.S)[1]).strip() == heading
    assert heading in _text(re.search(r"<title>(.*?)</title>", html, re.S)[1])
    assert "The service ratings of the units in November 2026 were as follows:" in _text(html)
    book = load_workbook(io.BytesIO(s.get(f"{dash.url}/dashboard/rankings.xlsx", params={
        "group": "window", "period": month.key, "lang": "en"}).content))
    assert book.active["A1"].value == "Service rating bulletin — Windows, November 2026"
    # Chinese keeps its own
    zh = s.get(f"{dash.url}/dashboard/rankings", params={
        "group": "unit", "period": month.key, "print": "1", "lang": "zh_CN"}).text
    assert _text(re.search(r"<h1>(.*?)</h1>", zh, re.S)[1]).strip() == \
        "2026年11月单位服务好差评情况通报"
    assert "现将2026年11月各单位服务好差评情况通报如下：" in _text(zh)
