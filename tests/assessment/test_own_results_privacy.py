"""A staff member's own results page (/dashboard/assessment/me) over HTTP on a real server:
only ended months; no peer part (nor the composite it enters) while colleagues may still
review; no star level or weights when the composite is withheld under ``MIN_VOLUME``
ratings. Each of these let a staff member work out what one citizen or one colleague chose.
"""

from __future__ import annotations

import datetime as dt
import html
import re

from aggregator.constants import MIN_VOLUME
from aggregator.dashboard import assessment_store
from aggregator.dashboard.periods import Period
from aggregator.db import utcnow, write
from tests.dashboard.helpers import csrf_of, store_ratings

TZ = dt.timezone(dt.timedelta(hours=8))
LEADER = {"id": 9000, "username": "boss", "display_name": "张主任"}


def _this() -> Period:
    today = dt.datetime.now(TZ).date()
    return Period("month", today.year, today.month)


def _text(page: str) -> str:
    page = re.sub(r"<(script|style)[^>]*>.*?</\1>", "", page, flags=re.S)
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


def _part(page: str, key: str) -> str:
    return _text(re.search(rf'<tr data-part="{key}">(.*?)</tr>', page, re.S)[1])


def _composite(page: str) -> str:
    return _text(re.search(r"data-composite>(.*?)</div>", page, re.S)[1]).strip()


def _review(dash, username: str, reviewee: str, period: Period, scores) -> None:
    s = dash.login(username)
    r = s.post(f"{dash.url}/dashboard/assessment/review", allow_redirects=False, data={
        "csrf": csrf_of(s, f"{dash.url}/dashboard/assessment/review"), "period": period.key,
        "reviewee_id": reviewee,
        **{f"score_{c}": str(v) for c, v in zip(("skill", "conduct", "results"), scores)}})
    assert r.status_code == 303, _text(r.text)


def test_own_results_of_the_month_under_way_are_refused_in_the_pages_language(small_dash):
    # Why: the month under way was computed live, so reloading the page after each citizen
    # showed the count +1 and the score move: the staff member learnt that citizen's rating.
    # Staff never see single ratings; the public page shows completed months for the same
    # reason.
    this = _this()
    store_ratings(small_dash.engine, "W-A1", "U-A", ["satisfied"] * (MIN_VOLUME + 2),
                  dt.datetime.now(dt.timezone.utc), staff="A1")
    s = small_dash.login("a1")
    for lang, words in (("zh_CN", f"考核期 {this.key} 尚未结束，{this.end.isoformat()} 结束后"
                                  "才能查看本期个人结果"),
                        ("en", f"Period {this.key} has not ended; your results of it can be "
                               f"seen after {this.end.isoformat()}")):
        r = s.get(f"{small_dash.url}/dashboard/assessment/me?period={this.key}&lang={lang}")
        assert r.status_code == 400, r.status_code
        assert words in _text(r.text)
        assert 'data-part="citizens"' not in r.text and "data-composite" not in r.text
    coming = (this.end + dt.timedelta(days=1)).strftime("%Y-%m")
    assert s.get(f"{small_dash.url}/dashboard/assessment/me?period={coming}").status_code == 400
    # the picker starts at the last completed month
    page = s.get(f"{small_dash.url}/dashboard/assessment/me").text
    options = re.findall(r'<option value="([^"]+)"', page)
    assert options[0] == this.previous().key and this.key not in options


def test_peer_averages_are_held_back_while_colleagues_may_still_review(small_dash):
    # Why: last month takes reviews until the unit publishes it. Each new review moved the
    # averages on the reviewee's page (and the composite they enter): four times the new
    # average less three times the old was that colleague's review, criterion by criterion.
    last = _this().previous()
    with write(small_dash.engine) as conn:   # a leader's part, so a composite would exist
        assessment_store.save_comment(conn, last, LEADER, "staff", "A1", 80.0, "好", {"U-A"},
                                      utcnow(), last.end + dt.timedelta(days=1))
    for name, scores in (("a2", (5, 5, 4)), ("a3", (4, 5, 5)), ("a4", (5, 4, 5))):
        _review(small_dash, name, "A1", last, scores)
    me = small_dash.login("a1")
    url = f"{small_dash.url}/dashboard/assessment/me?period={last.key}"
    before = me.get(url).text
    _review(small_dash, "a5", "A1", last, (1, 2, 3))
    after = me.get(url).text
    for page in (before, after):
        peers = _part(page, "peers")
        assert "同事互评尚在受理" in peers and not re.search(r"\d", peers), peers
        assert _composite(page) == "—"
        assert "data-peers-pending" in page and 'class="stars"' not in page
        assert "比技能" not in page          # no per-criterion averages
    assert _part(before, "peers") == _part(after, "peers")
    # once the unit publishes, reviews close and the page shows them
    sup = small_dash.login("sup")
    r = sup.post(f"{small_dash.url}/dashboard/assessment/publish", allow_redirects=False, data={
        "csrf": csrf_of(sup, f"{small_dash.url}/dashboard/assessment"), "period": last.key,
        "unit": "U-A"})
    assert r.status_code == 303
    published = me.get(url).text
    assert re.search(r"\d+\.\d", _part(published, "peers"))
    assert re.fullmatch(r"\d+\.\d", _composite(published))


def test_no_star_level_or_weights_when_the_composite_is_withheld(small_dash):
    # Why: under MIN_VOLUME ratings the citizens' part and the composite were hidden, but the
    # star level read off that composite and the weights used were shown: a star more or
    # less after one rating still told what that citizen chose.
    month = _this().previous().previous()       # ended and closed for reviews
    when = dt.datetime.combine(month.start + dt.timedelta(days=9), dt.time(10), TZ)
    store_ratings(small_dash.engine, "W-B1", "U-B", ["satisfied"] * 20, when, staff="B1")
    store_ratings(small_dash.engine, "W-A1", "U-A", ["very_satisfied"] * 3, when, staff="A1")
    with write(small_dash.engine) as conn:
        assessment_store.save_comment(conn, month, LEADER, "staff", "A1", 80.0, "好", {"U-A"},
                                      utcnow(), month.end)
    page = small_dash.login("a1").get(
        f"{small_dash.url}/dashboard/assessment/me?period={month.key}&lang=en").text
    assert _composite(page) == "—" and "data-withheld" in page
    assert 'class="stars"' not in page
    weights = [_text(re.search(rf'<tr data-part="{k}">(?:.*?<td[^>]*>){{3}}(.*?)</td>', page,
                               re.S)[1]).strip() for k in ("citizens", "peers", "leaders")]
    assert weights == ["—", "—", "—"], weights
    # the leader's own score stays: the staff member reads it in the comment anyway
    assert "80.0" in _part(page, "leaders")
