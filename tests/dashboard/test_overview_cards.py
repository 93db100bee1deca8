"""The overview's cards say what their figures are: flagged ratings beside the volume (not
under the bad ratings), and an empty alert list in words."""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import update

from aggregator.db import utcnow
from aggregator.schema import alerts
from tests.dashboard.helpers import store_ratings


def _card(html, label):
    """The KPI card whose label is ``label``."""
    kpis = re.search(r'<section class="kpis">(.*?)</section>', html, re.S).group(1)
    cards = re.split(r'(?=<(?:div|a) class="kpi[ "])', kpis)
    return next(c for c in cards if f'<div class="kpi-label">{label}</div>' in c)


def test_flagged_ratings_are_told_beside_the_volume_not_under_the_bad_ones(dash):
    # "本期差评 36 · 可疑 5" read as 5 suspicious bad ratings, while the 5 were flagged
    # ratings of every level (in the demo all 满意 or 非常满意), left out of every figure.
    now = utcnow() - dt.timedelta(minutes=5)
    store_ratings(dash.engine, "W-001", "U-01", ["very_satisfied"] * 3, now, staff="S-001",
                  flags=["lockout"])
    html = dash.login("u01").get(dash.url + "/dashboard/").text
    bad = _card(html, "本期差评")
    assert "可疑" not in bad, bad
    volume = _card(html, "评价量")
    n = int(re.search(r'data-flagged="(\d+)"', volume).group(1))
    assert n >= 3
    assert f"另有可疑评价 {n} 条（未计入）" in volume
    assert re.search(r'<a class="kpi-note" href="/dashboard/alerts"', volume), volume
    english = _card(dash.login("u01").get(dash.url + "/dashboard/?lang=en").text, "Ratings")
    assert f"plus {n} flagged ratings (not counted)" in english
    # counted in with "include flagged": the card says so
    counted = _card(dash.login("u01").get(dash.url + "/dashboard/?include_flagged=1").text,
                    "评价量")
    assert f"其中可疑评价 {n} 条（已计入）" in counted


def test_an_overview_without_open_alerts_says_so(dash):
    # The alert card of a scope with no open alert showed a lone "—".
    with dash.engine.begin() as conn:
        conn.execute(update(alerts).values(resolved_at=utcnow()))
    html = dash.login("u01").get(dash.url + "/dashboard/").text
    card = re.search(r'<ul class="alerts">.*?</ul>', html, re.S).group(0)
    assert "无未处理预警" in card and "—" not in card, card
    english = dash.login("u01").get(dash.url + "/dashboard/?lang=en").text
    assert "No open alerts" in re.search(r'<ul class="alerts">.*?</ul>', english, re.S).group(0)
