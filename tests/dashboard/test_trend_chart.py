"""The overview's daily trend chart (charts.trend): its volume axis and its rate line."""

from __future__ import annotations

import datetime as dt
import re

from aggregator.dashboard import charts


def _points(counts: list[int]) -> list[dict]:
    day = dt.date(2026, 11, 1)
    return [{"day": (day + dt.timedelta(days=i)).isoformat(), "rated": n,
             "rate": (1.0 if n else None)} for i, n in enumerate(counts)]


def _volume_labels(svg: str) -> list[str]:
    # the right-hand axis: the labels at x = width - right + 6 (880 - 48 + 6)
    return re.findall(r'<text x="838" y="[\d.]+" class="ax">([^<]*)</text>', svg)


def test_the_volume_axis_has_whole_distinct_ticks_for_small_units():
    # A unit with one rating a day read "0, 0, 0, 1, 1" on the right axis (vmax / 4 printed
    # without decimals), and a maximum of 3 repeated labels.
    for most in list(range(1, 60)) + [99, 100, 101, 428, 1234, 20_001]:
        labels = _volume_labels(charts.trend(_points([0, most, 1]), 0.8))
        assert len(labels) == 5, most
        ticks = [int(x) for x in labels]        # whole numbers: int("0.5") fails
        assert ticks[0] == 0 and ticks == sorted(set(ticks)), (most, ticks)
        assert ticks[-1] >= most, (most, ticks)
        assert len({b - a for a, b in zip(ticks, ticks[1:])}) == 1, (most, ticks)
        assert ticks[-1] <= 2 * max(most, 2), (most, ticks)   # the bars use the height


def test_the_tallest_bar_reaches_its_tick():
    svg = charts.trend(_points([3, 1, 0]), 0.8)
    heights = [float(h) for h in re.findall(r'<rect [^>]*height="([\d.]+)" class="bar"', svg)]
    assert _volume_labels(svg) == ["0", "1", "2", "3", "4"]
    assert heights[0] == 3 * heights[1]


def test_a_day_with_a_rate_between_days_without_one_is_drawn():
    # A line of one point is not drawn: a unit rated on one day of the month showed no rate.
    svg = charts.trend(_points([0, 12, 0, 13, 14, 0]), 0.8)
    assert svg.count('class="dot"') == 1 and 'class="line"' in svg


def _line_points(svg: str) -> list[tuple[float, float]]:
    path = re.search(r'<path d="([^"]+)" class="line"/>', svg).group(1)
    return [tuple(map(float, xy.split(","))) for xy in re.findall(r"[ML]([\d.]+,[\d.]+)", path)]


def test_a_day_of_too_few_ratings_is_greyed_off_the_line_and_the_axis():
    # One 不满意 on a day of one rating drew the line down to 0 % and stretched the rate
    # axis to 0 %, flattening the other days: the overview read as a collapse.
    points = _points([120, 1, 130, 125])
    for p, rate in zip(points, (0.97, 0.0, 0.95, 0.96)):
        p["rate"] = rate
    svg = charts.trend(points, 0.8)
    assert ">0%<" not in svg and ">80%<" in svg                 # the axis keeps its range
    xs = [x for x, _ in _line_points(svg)]
    assert len(xs) == 3 and re.search(r'd="M[\d.,]+ M', svg)   # day 2 breaks the line
    few = re.findall(r'<circle [^>]*class="few"[^>]*><title>([^<]*)</title>', svg)
    assert few == ["2026-11-02: 0% (1)"]                         # greyed, told on hover
    # a day of the minimum volume is on the line like any other
    points[1]["rated"] = 10
    assert len(_line_points(charts.trend(points, 0.8))) == 4


def test_the_overview_chart_says_which_days_it_shows(dash):
    # The daily chart had no dates but its axis: "the last 30 days" was nowhere.
    today = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).date()
    first = today - dt.timedelta(days=29)
    html = dash.login("jfb").get(f"{dash.url}/dashboard/").text
    if today.day >= 28:      # the month itself is shown from its 28th on (overview.build)
        first = today.replace(day=1)
        n = today.day
    else:
        n = 30
    start = first.isoformat()[5:] if first.year == today.year else first.isoformat()
    assert f"近 {n} 天（{start} 至 {today.isoformat()[5:]}）" in html
    english = dash.login("jfb").get(f"{dash.url}/dashboard/?lang=en").text
    assert f"last {n} days ({start} to {today.isoformat()[5:]})" in english
    assert "灰点：当天评价少于 10 条，不连线" in html


def test_a_quarters_trend_shows_every_day_of_the_quarter(dash):
    # The trend stopped at 60 days, so a quarter's chart began in its second month: a
    # supervisor reading "2026-Q3" saw no July at all.
    today = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).date()
    quarter = (today.month - 1) // 3 + 1
    last = f"{today.year}-Q{quarter - 1}" if quarter > 1 else f"{today.year - 1}-Q4"
    r = dash.login("jfb").get(f"{dash.url}/dashboard/?period={last}")
    assert r.status_code == 200
    days = re.findall(r'<rect [^>]*class="bar"><title>(\d{4}-\d{2}-\d{2}):', r.text)
    first = dt.date.fromisoformat(days[0])
    assert first.day == 1 and first.month % 3 == 1 and len(days) in (90, 91, 92)
    assert days == [(first + dt.timedelta(days=i)).isoformat() for i in range(len(days))]


def test_a_period_to_come_shows_its_own_days_empty(dash):
    # The overview of a month that has not begun (?period=2027-03) drew the last 30 days
    # under that month's heading: a supervisor read them as its figures.
    today = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).date()
    year = today.year + 1
    r = dash.login("jfb").get(f"{dash.url}/dashboard/?period={year}-03")
    assert r.status_code == 200
    bars = re.findall(r'<rect [^>]*class="bar"><title>(\d{4}-\d{2}-\d{2}): (\d+)</title>', r.text)
    assert [day for day, _ in bars] == [f"{year}-03-{d:02d}" for d in range(1, 32)]
    assert {n for _, n in bars} == {"0"}
