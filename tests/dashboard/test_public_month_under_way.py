"""The public page of a unit (/public/units/{id}, no sign-in) publishes completed months only:
the month under way is named, without figures. Over SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import html as html_lib
import re
import uuid

import requests

from aggregator import constants as C
from aggregator import ratings as rating_store
from aggregator.dashboard.periods import Period
from aggregator.db import utcnow, write

TZ = dt.timezone(dt.timedelta(hours=8))


def _bad_rating_now(engine) -> None:
    now = utcnow()
    with write(engine) as conn:
        rating_store.store(conn, [{
            "id": str(uuid.uuid4()), "device_id": None, "window_id": "W-002", "unit_id": "U-01",
            "staff_id": None, "staff_name": None, "service_item": None, "case_no": None,
            "invitation_id": None, "channel": C.CHANNEL_HALL_TABLET, "level": "dissatisfied",
            "stars": 2, "scale": 5, "reasons": None, "reasons_version": None, "comment": None,
            "phone": None, "callback_consent": False, "device_time": now, "server_time": now,
            "rated_at": now, "day": now.astimezone(TZ).date().isoformat(), "flags": "[]",
            "flagged": False}])


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_a_rating_made_now_changes_nothing_on_the_public_page(dash):
    # The page showed the month under way live: a staff member who reloaded it after serving
    # someone saw 382 ratings, 7 bad become 383, 8, and knew that citizen had rated them
    # badly (evaluator privacy). Only completed months are published now.
    before = requests.get(f"{dash.url}/public/units/U-01").text
    _bad_rating_now(dash.engine)
    after = requests.get(f"{dash.url}/public/units/U-01").text
    assert before == after


def test_the_month_under_way_is_named_without_figures(dash):
    today = utcnow().astimezone(TZ).date()
    this = Period("month", today.year, today.month)
    for lang, pending in (("zh_CN", "本月数据将于月底后公布"),
                          ("en", "This month's figures are published after it ends")):
        html = requests.get(f"{dash.url}/public/units/U-01", params={"lang": lang}).text
        row = re.search(r"<tr data-pending>(.*?)</tr>", html, re.S)[1]
        assert html_lib.unescape(_text(row)).strip() == f"{this.label(lang)} {pending}"
        # the headline and the table: the six months before, the last completed one first
        # (since 2026-12-05 only those from the unit's first rating on: the demo's ratings
        # begin last month, and the months before read "0 0 —")
        table = html[html.index("<tr data-pending>"):html.index("</table>",
                                                                  html.index("<tr data-pending>"))]
        months = [m for m, _ in re.findall(r"<tr><td>([^<]+)</td>(.*?)</tr>", table, re.S)]
        want, p = [], this.previous()
        for _ in range(6):
            want.append(p.label(lang))
            p = p.previous()
        assert months and months == want[:len(months)]
        head = html[html.index('class="kpis'):html.index("</section>", html.index('class="kpis'))]
        assert this.label(lang) not in head and this.previous().label(lang) in head
