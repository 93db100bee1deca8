"""Publishing and taking back ask before they act, in a real browser (Debian's Chromium), on
the Chinese and the English page."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from sqlalchemy import select

from aggregator.dashboard.assessment_tables import assessment_published
from aggregator.dashboard.i18n import translator
from aggregator.dashboard.periods import Period
from aggregator.db import read
from tests.dashboard.helpers import browser_login, csrf_of

TZ = dt.timezone(dt.timedelta(hours=8))
TEMPLATES = Path(__file__).parents[2] / "aggregator" / "dashboard" / "templates"


def _published(dash, period: str) -> bool:
    with read(dash.engine) as conn:
        return conn.execute(select(assessment_published.c.unit_id).where(
            assessment_published.c.period == period)).first() is not None


def test_take_back_asks_first_in_english_and_chinese(small_dash, page):
    # Why: the question sat in onsubmit="return confirm('…')"; the English one holds an
    # apostrophe ("period's"), which ended the JS string: the handler did not compile and
    # "Take back" took the period back without asking.
    today = dt.datetime.now(TZ).date()
    last = Period("month", today.year, today.month).previous().key
    sup = small_dash.login("sup")
    r = sup.post(f"{small_dash.url}/dashboard/assessment/publish", allow_redirects=False, data={
        "csrf": csrf_of(sup, f"{small_dash.url}/dashboard/assessment"), "period": last,
        "unit": "U-A"})
    assert r.status_code == 303 and _published(small_dash, last)
    dialogs, errors, answer = [], [], {"accept": False}
    page.on("dialog", lambda d: (dialogs.append(d.message),
                                 d.accept() if answer["accept"] else d.dismiss()))
    page.on("pageerror", lambda e: errors.append(str(e)))
    browser_login(page, small_dash, "sup")
    for lang in ("en", "zh_CN"):
        dialogs.clear()
        page.goto(f"{small_dash.url}/dashboard/assessment?period={last}&unit=U-A&lang={lang}")
        page.click("button[data-action=unpublish]")
        page.wait_for_load_state()
        assert dialogs == [translator(lang)("unpublish_confirm")], (lang, dialogs)
        assert _published(small_dash, last), lang        # dismissed: still published
        assert not errors, errors
    answer["accept"] = True
    page.click("button[data-action=unpublish]")
    page.wait_for_url(re.compile(r".*saved=unpublished.*"))
    assert not _published(small_dash, last)


def test_no_template_puts_a_translated_text_inside_inline_javascript():
    # Why: a translation is text, not JS: a quote in it (English "period's") breaks the
    # handler. Questions go in data-confirm, which dashboard.js reads.
    for path in TEMPLATES.glob("*.html"):
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"""(?<![\w-])on\w+="[^"]*\{\{\s*t\(""", text), path.name
