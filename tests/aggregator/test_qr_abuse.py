"""The QR phone page against forgery and one phone's many ratings, on a real server on
loopback (behind a trusted proxy, as deployed, so a test can name the client's address)."""

import datetime as dt
import json
import logging
import re
import time
import uuid

import pytest
import requests
from sqlalchemy import func, select, update

from aggregator import Settings, qr
from aggregator.dashboard.tables import cases
from aggregator.db import read, utcnow, write
from aggregator.schema import pending_attachments, qr_limits, ratings
from tests.aggregator.conftest import ADMIN_TOKEN
from tests.qr_form import form_id, qr_post


@pytest.fixture
def settings():
    return Settings(admin_token=ADMIN_TOKEN, secret="test-secret", public_url="http://testserver",
                    trust_proxy=True)


def _ratings(engine):
    with read(engine) as conn:
        return [dict(r) for r in conn.execute(
            select(ratings.c.id, ratings.c.window_id, ratings.c.level, ratings.c.flagged,
                   ratings.c.staff_id, ratings.c.comment, ratings.c.phone, ratings.c.channel)
            .order_by(ratings.c.server_time)).mappings()]


def _a_minute_passes(engine, seconds=61):
    with write(engine) as conn:
        for key, at in conn.execute(select(qr_limits.c.client_key, qr_limits.c.last_at)).all():
            conn.execute(update(qr_limits).where(qr_limits.c.client_key == key)
                         .values(last_at=at - dt.timedelta(seconds=seconds)))


def test_a_post_without_a_form_of_our_page_stores_nothing_and_keeps_the_text(org_setup):
    # Any web site could make its visitors' browsers cast counted ratings of a window (a
    # no-cors fetch), with no page of ours ever loaded: the POST took any form id or none.
    url = org_setup.url
    form = {"level": "very_dissatisfied", "reasons": ["attitude"], "comment": "索要好处费"}
    for fid in (None, "0" * 32, "ab" * 16 + ".1.cd", form_id(url, "W-002")):   # W-002's form
        r = requests.post(f"{url}/r/W-001", data={**form, **({"form_id": fid} if fid else {})},
                          timeout=10, allow_redirects=False)
        assert r.status_code == 403, (fid, r.status_code)
        assert "页面已过期或不完整" in r.text and "索要好处费</textarea>" in r.text
        assert 'value="very_dissatisfied" required' in r.text.replace("\n", "")  \
            or re.search(r'value="very_dissatisfied"[^>]*checked', r.text)
        # the form it shows again can be sent: a second press stores the rating
        again = re.search(r'name="form_id" value="([^"]+)"', r.text)[1]
        assert qr.check_form_id("test-secret", "W-001", again, time.time()) == "ok"
    assert _ratings(org_setup.engine) == []
    # the page is kept by no shared cache (its form id is one rating's)
    page = requests.get(f"{url}/r/W-001", timeout=10)
    assert page.headers["cache-control"] == "private, no-cache"
    # a page of another site, with a form id it fetched itself: the browser's Origin says so
    fid = form_id(url, "W-001")
    r = requests.post(f"{url}/r/W-001", data={**form, "form_id": fid}, timeout=10,
                      headers={"Origin": "https://evil.example"}, allow_redirects=False)
    assert r.status_code == 403 and "请在本页面提交评价" in r.text
    assert _ratings(org_setup.engine) == []
    # our own page (the address it was reached at, or the public URL) is fine
    for origin in (url, "http://testserver"):
        r = requests.post(f"{url}/r/W-001", data={**form, "form_id": form_id(url, "W-001")},
                          headers={"Origin": origin}, timeout=10, allow_redirects=False)
        assert r.status_code == 303, r.text[:300]
    # a double tap of one form is still one rating
    fid = form_id(url, "W-002")
    for _ in range(2):
        assert requests.post(f"{url}/r/W-002", data={"level": "satisfied", "form_id": fid},
                             timeout=10, allow_redirects=False).status_code == 303
    assert [r["window_id"] for r in _ratings(org_setup.engine)] == ["W-001", "W-001", "W-002"]


def test_one_phone_changing_address_within_its_ipv6_64_counts_once(org_setup):
    # A phone owns a whole /64 and may use any address of it: each rating came from a new
    # address, so each was "first" and counted.
    for i in range(5):
        r = qr_post(org_setup.url, "W-001", {"level": "very_satisfied"}, allow_redirects=False,
                    headers={"X-Forwarded-For": f"2001:db8:1234:5678::{i + 1:x}"})
        assert r.status_code == 303
    r = qr_post(org_setup.url, "W-001", {"level": "very_satisfied"}, allow_redirects=False,
                headers={"X-Forwarded-For": "2001:db8:1234:9999::1"})   # another subscriber
    assert [r["flagged"] for r in _ratings(org_setup.engine)] == [False, True, True, True, True,
                                                                  False]


def test_one_browser_rating_a_window_every_minute_counts_once(org_setup):
    # The lockout was 60 s: one phone rated 非常满意 once a minute all day, every rating
    # counted. A browser (its cookie) or an address without one counts once in hours.
    url = org_setup.url
    phone = requests.Session()
    for _ in range(3):
        assert qr_post(url, "W-001", {"level": "very_satisfied"}, session=phone,
                       headers={"X-Forwarded-For": "198.51.100.7"}).status_code == 200
        _a_minute_passes(org_setup.engine)
    cookie = phone.cookies.get("qr_b")
    assert cookie and qr.check_browser_cookie("test-secret", cookie)
    # a script that keeps no cookie is known by its address, for hours too
    for _ in range(3):
        assert qr_post(url, "W-002", {"level": "very_satisfied"},
                       headers={"X-Forwarded-For": "198.51.100.8"}).status_code == 200
        _a_minute_passes(org_setup.engine)
    # another browser on the same hall Wi-Fi, after the minute, counts: its own cookie
    other = requests.Session()
    assert qr_post(url, "W-001", {"level": "satisfied"}, session=other,
                   headers={"X-Forwarded-For": "198.51.100.7"}).status_code == 200
    got = [(r["window_id"], r["level"], r["flagged"]) for r in _ratings(org_setup.engine)]
    assert got == [("W-001", "very_satisfied", False), ("W-001", "very_satisfied", True),
                   ("W-001", "very_satisfied", True), ("W-002", "very_satisfied", False),
                   ("W-002", "very_satisfied", True), ("W-002", "very_satisfied", True),
                   ("W-001", "satisfied", False)]
    # never dropped, and the cookie is the page's own: HttpOnly, for /r/ only
    set_cookie = requests.get(f"{url}/r/W-001", timeout=10).headers["set-cookie"]
    assert "HttpOnly" in set_cookie and "Path=/r/" in set_cookie and "SameSite=lax" in set_cookie


def test_a_loop_from_one_address_stops_at_its_budget(org_setup, device):
    # 40 POSTs from one address stored 40 ratings and, each leaving a number to call, opened
    # 40 cases against the one member of staff on duty; a loop never stopped. Each stored one
    # asking to be called has its case (100 % 回访: the queue's catch-up opened them anyway);
    # the budget is what bounds them.
    sign_in = device.event("staff_sign_in", {"staff_id": "S-007", "staff_name": "王芳",
                                             "window_id": "W-001", "method": "badge"})
    assert device.post_batch([sign_in]).status_code == 200
    codes = []
    for i in range(65):   # the budget: 60 a day (a hall's Wi-Fi shares one address)
        r = qr_post(org_setup.url, "W-001", {
            "level": "very_dissatisfied", "reasons": ["attitude"], "comment": f"差{i}",
            "phone": f"1380000{i:04d}", "consent": "1"}, allow_redirects=False,
            headers={"X-Forwarded-For": "203.0.113.9"})
        codes.append(r.status_code)
    assert codes == [303] * 60 + [429] * 5
    assert "暂时不能再提交" in r.text and "差64</textarea>" in r.text   # Chinese, text kept
    stored = _ratings(org_setup.engine)
    assert len(stored) == 60 and [s["flagged"] for s in stored] == [False] + [True] * 59
    with read(org_setup.engine) as conn:
        opened = conn.execute(select(cases.c.rating_id)).scalars().all()
    assert sorted(opened) == sorted(s["id"] for s in stored)
    # another address is not held back by this one's budget
    assert qr_post(org_setup.url, "W-001", {"level": "satisfied"}, allow_redirects=False,
                   headers={"X-Forwarded-For": "203.0.113.10"}).status_code == 303


def _kiosk_rating(device, level="very_dissatisfied"):
    rating = device.rating(level)
    assert device.post_batch([rating]).status_code == 200
    return rating


def test_a_follow_up_link_changes_only_a_rating_of_its_own_window(org_setup, device):
    # attach updated a rating by id alone: a link signed with W-002's key, naming a W-001
    # rating, changed the W-001 rating's comment and number to call.
    key2 = qr.window_key("test-secret", "W-002")
    rating = _kiosk_rating(device)
    token = qr.follow_up_token(key2, rating["id"], int(time.time()) + 600)
    r = qr_post(org_setup.url, "W-002", {"t": token, "comment": "误评，撤回",
                                         "phone": "13900000000", "consent": "1"})
    assert r.status_code == 403 and "不属于本窗口" in r.text
    # and a link that came before its rating waits, then changes nothing of another window's
    later = device.rating("very_dissatisfied")
    token = qr.follow_up_token(key2, later["id"], int(time.time()) + 600)
    assert qr_post(org_setup.url, "W-002", {"t": token, "comment": "改掉"}).status_code == 200
    assert device.post_batch([later]).status_code == 200
    got = {r["id"]: (r["comment"], r["phone"]) for r in _ratings(org_setup.engine)}
    assert got == {rating["id"]: (None, None), later["id"]: (None, None)}


def test_a_link_claiming_to_live_longer_than_the_cap_is_refused(org_setup):
    # The server took a token's expiry on trust: a leaked key made links valid for ten years.
    key = qr.window_key("test-secret", "W-001")
    far = qr.follow_up_token(key, str(uuid.uuid4()), int(time.time()) + 30 * 86400)
    assert requests.get(f"{org_setup.url}/r/W-001", params={"t": far}, timeout=10) \
        .status_code == 410
    week = qr.follow_up_token(key, str(uuid.uuid4()), int(time.time()) + 7 * 86400)
    assert requests.get(f"{org_setup.url}/r/W-001", params={"t": week}, timeout=10) \
        .status_code == 200


def test_attachments_whose_rating_never_came_are_dropped_after_half_a_year(org_setup, caplog):
    # Links naming ratings that never come parked a row each in pending_attachments, for ever;
    # dropped after the link's 8 days, the complaint and the number to call back of a kiosk
    # offline longer were lost when its rating came.
    key = qr.window_key("test-secret", "W-001")
    ids = [str(uuid.uuid4()) for _ in range(2)]
    for rid, extra in zip(ids, ({"phone": "13800001111", "consent": "1"}, {})):
        token = qr.follow_up_token(key, rid, int(time.time()) + 600)
        assert qr_post(org_setup.url, "W-001", {"t": token, "comment": "等", **extra}) \
            .status_code == 200
    with write(org_setup.engine) as conn:   # 9 days: kept (a kiosk offline that long still sends)
        conn.execute(update(pending_attachments).values(
            created_at=utcnow() - dt.timedelta(days=9)))
    token = qr.follow_up_token(key, str(uuid.uuid4()), int(time.time()) + 600)
    assert qr_post(org_setup.url, "W-001", {"t": token, "comment": "再"}).status_code == 200
    with read(org_setup.engine) as conn:
        assert set(ids) <= set(conn.execute(select(pending_attachments.c.rating_id)).scalars())
    with write(org_setup.engine) as conn:   # half a year: its rating is not coming
        conn.execute(update(pending_attachments).values(
            created_at=utcnow() - dt.timedelta(days=181)))
    token = qr.follow_up_token(key, str(uuid.uuid4()), int(time.time()) + 600)
    with caplog.at_level(logging.WARNING, logger="aggregator.ratings"):
        assert qr_post(org_setup.url, "W-001", {"t": token, "comment": "新"}).status_code == 200
    with read(org_setup.engine) as conn:
        left = conn.execute(select(pending_attachments.c.rating_id)).scalars().all()
    assert ids[0] not in left and ids[1] not in left and len(left) == 1
    assert any(ids[0] in rec.getMessage() and "call back" in rec.getMessage()
               for rec in caplog.records)


def test_a_used_or_expired_link_adds_a_late_note_never_a_second_rating(org_setup, device):
    # The text sent with a used (or expired) link was offered "as a new rating": a second,
    # counted rating of one service, credited to whoever was on duty when it was sent.
    url = org_setup.url
    key = qr.window_key("test-secret", "W-001")
    rating = _kiosk_rating(device)
    token = qr.follow_up_token(key, rating["id"], int(time.time()) + 7 * 86400)
    first, second = form_id(url, "W-001", token=token), form_id(url, "W-001", token=token)
    assert requests.post(f"{url}/r/W-001", data={"t": token, "form_id": first,
                                                  "comment": "态度很差"}, timeout=10).status_code == 200
    page = requests.get(f"{url}/r/W-001", params={"t": token}, timeout=10)
    assert page.status_code == 409 and "逾期补充" in page.text and 'name="level"' not in page.text
    r = requests.post(f"{url}/r/W-001", data={"t": token, "form_id": second,
                                               "comment": "还让我跑了三次"}, timeout=10)
    assert r.status_code == 200 and r.url.endswith("done=1")
    # an expired link of another rating: a late note too
    old = _kiosk_rating(device)
    expired = qr.follow_up_token(key, old["id"], int(time.time()) - 5)
    fid = form_id(url, "W-001", token=expired)
    r = requests.post(f"{url}/r/W-001", data={"t": expired, "form_id": fid, "comment": "等了两小时"},
                      timeout=10)
    assert r.status_code == 200
    # sent again (a double tap): nothing more; another note: refused, the text kept
    assert requests.post(f"{url}/r/W-001", data={"t": expired, "form_id": fid,
                                                  "comment": "等了两小时"}, timeout=10).status_code == 200
    r = requests.post(f"{url}/r/W-001", data={"t": expired, "form_id": form_id(
        url, "W-001", token=expired), "comment": "再补一句"}, timeout=10)
    assert r.status_code == 409 and "再补一句</textarea>" in r.text
    got = {r["id"]: r["comment"] for r in _ratings(org_setup.engine)}
    assert got == {rating["id"]: "态度很差\n〔逾期补充〕还让我跑了三次", old["id"]: "〔逾期补充〕等了两小时"}
    with read(org_setup.engine) as conn:
        assert conn.execute(select(func.count()).select_from(ratings)
                            .where(ratings.c.channel == 3)).scalar() == 0
    assert json.loads(json.dumps(got))   # plain text, as the dashboard shows it
