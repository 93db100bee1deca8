"""How rates and targets are written on pages and in the CSV: a figure must never read as
meeting a target it misses."""

from __future__ import annotations

import csv
import io

from aggregator.dashboard import exports, web
from aggregator.dashboard.i18n import translator

# 15,999 satisfied of 20,000: 79.995 %, below a target of 80 %.
JUST_BELOW = 15_999 / 20_000


def _row(rate: float) -> dict:
    return {"key": "U-01", "name": "示范单位", "rank": 1, "rated": 20_000, "satisfied": 15_999,
            "bad": 4_001, "rate": rate, "smoothed": 4.0, "score": rate, "mean": 4.0,
            "prev_rate": None,
            "rate_change": None, "prev_rank": None, "below_target": rate < 0.8, "flagged": 0}


def test_a_rate_just_below_the_target_is_not_shown_as_the_target():
    # Found by the numbers audit (2026-12-03): 79.995 % was rounded to "80.00%" and printed
    # beside "未达标", so a unit read as meeting the target in the same row that said it missed.
    report = {"group_by": "unit", "rows": [_row(JUST_BELOW)], "target": 0.8}
    html = web.TEMPLATES.from_string(
        '{% from "_macros.html" import ranking_table with context %}'
        "{{ ranking_table(report, '/u/') }}").render(t=translator("zh"), report=report)
    assert "<b>79.99%</b>" in html and "80.00%" not in html
    assert '<tr class="below">' in html
    assert web.TEMPLATES.filters["pct"](JUST_BELOW, 1) == "79.9%"
    text = exports.to_csv(report, translator("zh")).decode("utf-8-sig")
    rate_column = list(csv.reader(io.StringIO(text)))[1][exports.COLUMNS.index("rate")]
    assert rate_column == "79.99%"


def test_shares_are_cut_without_binary_fraction_errors():
    # 0.29 * 100 is 28.999999999999996 in binary floating point: a plain floor wrote "28.9%".
    share = exports.share_text
    assert [share(0.29, 1), share(0.57, 2), share(1.0, 2), share(0.0, 0), share(None)] == \
        ["29.0%", "57.00%", "100.00%", "0%", "—"]
    assert [share(n / 3, 2) for n in (1, 2)] == ["33.33%", "66.66%"]


def test_a_target_is_written_as_it_was_set():
    # Targets were shown with pct(0): a target of 85.5 % read "86%" (and, cut, would read "85%").
    assert [exports.target_text(t) for t in (0.8, 0.855, 0.9, 1.0)] == \
        ["80%", "85.5%", "90%", "100%"]


def test_a_share_a_hair_below_a_cut_is_never_shown_as_the_cut():
    # The cut added 1e-6 to the percentage before flooring, to mend binary fractions: a share
    # less than 1e-10 below a cut was pushed over it, 100 % less a hair read "100.00%" and
    # 80 % less a hair "80.00%", the target. It now cuts the shortest decimal of the float.
    share = exports.share_text
    assert [share(1 - 1e-11), share(0.8 - 1e-11), share(0.8 - 1e-11, 1)] == \
        ["99.99%", "79.99%", "79.9%"]
    assert [share(2_999_999 / 3_000_000), share(1_600_000 / 2_000_001)] == \
        ["99.99%", "79.99%"]


def test_the_share_and_target_doctests_pass():
    import doctest

    from aggregator import stats

    assert doctest.testmod(exports).failed == 0
    assert doctest.testmod(stats).failed == 0
