import json
import re
import time

import requests
from sqlalchemy import func, select

from aggregator import qr
from aggregator.db import read
from aggregator.schema import ratings
from tests.qr_form import qr_post, with_form


def test_qr_page_renders_in_chinese_and_english(org_setup):
    r = requests.get(f"{org_setup.url}/r/W-001", timeout=10)
    assert r.status_code == 200 and "非常满意" in r.text and "民政窗口" in r.text
    r = requests.get(f"{org_setup.url}/r/W-001?lang=en", timeout=10)
    assert "Very satisfied" in r.text
    assert requests.get(f"{org_setup.url}/r/NOPE", timeout=10).status_code == 404


def test_qr_rating_is_stored_with_channel_3_and_a_second_one_is_kept_flagged(org_setup):
    form = {"level": "dissatisfied", "reasons": ["waiting_time", "bogus"], "comment": "排队太久",
            "phone": "13800001234", "consent": "1"}
    r = qr_post(org_setup.url, "W-001", data=form, timeout=10)
    # sent on to the thank-you page: a reload there sends nothing again
    assert r.status_code == 200 and "感谢" in r.text and r.url.endswith("done=1")
    assert r.history and r.history[0].status_code == 303
    with read(org_setup.engine) as conn:
        row = conn.execute(select(ratings)).mappings().one()
    assert row["channel"] == 3 and row["level"] == "dissatisfied" and row["stars"] == 2
    assert json.loads(row["reasons"]) == ["waiting_time"]
    assert row["comment"] == "排队太久" and row["phone"] == "13800001234"
    assert row["flagged"] is False or row["flagged"] == 0
    # A hall's visitors share its Wi-Fi address: a second rating from it within the minute
    # was refused (429) and lost. It is kept, flagged (lockout) as a kiosk's would be.
    again = qr_post(org_setup.url, "W-001", data={**form, "level": "very_dissatisfied",
                                                            "reasons": ["attitude"]}, timeout=10)
    assert again.status_code == 200 and "感谢" in again.text
    with read(org_setup.engine) as conn:
        rows = conn.execute(select(ratings.c.level, ratings.c.flags, ratings.c.flagged)
                            .order_by(ratings.c.server_time)).all()
    assert [(r.level, json.loads(r.flags), bool(r.flagged)) for r in rows] == [
        ("dissatisfied", [], False), ("very_dissatisfied", ["lockout"], True)]
    other_window = qr_post(org_setup.url, "W-002", data=form, timeout=10)
    assert other_window.status_code == 200
    missing = qr_post(org_setup.url, "W-002", data={}, timeout=10)
    assert missing.status_code == 400


def test_a_form_sent_twice_is_one_rating(org_setup):
    # Back and send again (or a reload of the answer) stored the same rating again: one
    # service made three rows.
    page = requests.get(f"{org_setup.url}/r/W-001", timeout=10).text
    form_id = re.search(r'name="form_id" value="([^"]+)"', page)[1]
    form = {"level": "satisfied", "form_id": form_id}
    for _ in range(3):
        assert qr_post(org_setup.url, "W-001", data=form, timeout=10).status_code == 200
    with read(org_setup.engine) as conn:
        assert len(conn.execute(select(ratings.c.id)).all()) == 1


def test_without_script_a_bad_ratings_reasons_of_every_bad_level_are_kept(org_setup):
    # Without JavaScript every chip shows; "asked for favours" (吃拿卡要) chosen with
    # 不满意 was dropped because that level's list does not offer it.
    r = qr_post(org_setup.url, "W-001", data={
        "level": "dissatisfied", "reasons": ["asked_for_favours", "attitude"]}, timeout=10)
    assert r.status_code == 200
    qr_post(org_setup.url, "W-002", data={"level": "satisfied",
                                                    "reasons": ["attitude"]}, timeout=10)
    with read(org_setup.engine) as conn:
        got = dict(conn.execute(select(ratings.c.level, ratings.c.reasons)).all())
    assert sorted(json.loads(got["dissatisfied"])) == ["asked_for_favours", "attitude"]
    assert got["satisfied"] is None   # a good rating carries no complaint


def test_follow_up_qr_comment_waits_for_its_rating_then_attaches(device, org_setup):
    cfg = device.get("/api/v1/config").json()
    rating = device.rating("very_dissatisfied")
    token = qr.follow_up_token(cfg["follow_up_qr_key"], rating["id"], int(time.time()) + 600)
    page = requests.get(f"{org_setup.url}/r/W-001", params={"t": token}, timeout=10)
    assert page.status_code == 200 and token in page.text
    r = qr_post(org_setup.url, "W-001", data={"t": token, "comment": "态度差"},
                      timeout=10)
    assert r.status_code == 200
    assert device.post_batch([rating]).status_code == 200  # the rating arrives later
    with read(org_setup.engine) as conn:
        row = conn.execute(select(ratings).where(ratings.c.id == rating["id"])).mappings().one()
    assert row["comment"] == "态度差" and row["channel"] == 4
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert requests.get(f"{org_setup.url}/r/W-001", params={"t": forged},
                        timeout=10).status_code == 410
    expired = qr.follow_up_token(cfg["follow_up_qr_key"], rating["id"], int(time.time()) - 1)
    assert requests.get(f"{org_setup.url}/r/W-001", params={"t": expired},
                        timeout=10).status_code == 410


def test_phone_numbers_are_read_as_citizens_type_them():
    from aggregator.qr_page import phone_number

    assert phone_number("13800001234") == "13800001234"
    assert phone_number("１３８００００１２３４") == "13800001234"   # full-width (input method)
    assert phone_number("（010）8888-1234") == "010 8888-1234"
    assert phone_number("+86 138.0000.1234") == "+86 138 0000 1234"
    for wrong in ("abc", "1", "138-0000-x", "1" * 25):
        assert phone_number(wrong) is None, wrong


def test_a_phone_without_consent_or_unreadable_gets_the_form_back_and_stores_nothing(org_setup):
    for phone, consent, says in (("13800001234", "", "勾选"), ("138x", "1", "请检查手机号")):
        r = qr_post(org_setup.url, "W-001", data={
            "level": "very_dissatisfied", "reasons": ["attitude"], "comment": "态度差",
            "phone": phone, "consent": consent}, timeout=10)
        assert r.status_code == 400 and says in r.text
        assert "态度差</textarea>" in r.text and f'value="{phone}"' in r.text
    with read(org_setup.engine) as conn:
        assert conn.execute(select(ratings)).first() is None


def test_a_follow_up_link_adds_once_and_never_erases(device, org_setup):
    # The kiosk's link stays valid for days: anyone who photographed it could send the form
    # again and replace the citizen's comment, or the number to call back, or erase it.
    cfg = device.get("/api/v1/config").json()
    rating = device.rating("very_dissatisfied")
    assert device.post_batch([rating]).status_code == 200
    token = qr.follow_up_token(cfg["follow_up_qr_key"], rating["id"], int(time.time()) + 600)
    url = f"{org_setup.url}/r/W-001"
    empty = requests.post(url, data=with_form(url, {"t": token, "comment": "  "}), timeout=10)
    assert empty.status_code == 400 and "请填写意见或留下手机号" in empty.text
    first = requests.post(url, data=with_form(url, {"t": token, "comment": "态度差", "phone": "13800001234",
                                     "consent": "1"}), timeout=10)
    assert first.status_code == 200 and first.url.endswith("done=1")
    second = requests.post(url, data=with_form(url, {"t": token, "comment": "", "phone": "13999999999",
                                      "consent": "1"}), timeout=10)
    # a late note now (finding 5): it adds, never replaces the number given first
    assert second.status_code == 200
    with read(org_setup.engine) as conn:
        row = conn.execute(select(ratings).where(ratings.c.id == rating["id"])).mappings().one()
    assert (row["comment"], row["phone"]) == ("态度差", "13800001234")


def test_a_follow_up_link_that_expired_while_typing_keeps_the_text_as_a_late_note(device, org_setup):
    # It was offered as a new rating (finding 5: a second, counted rating of one service).
    cfg = device.get("/api/v1/config").json()
    rating = device.rating("dissatisfied")
    expired = qr.follow_up_token(cfg["follow_up_qr_key"], rating["id"], int(time.time()) - 5)
    r = qr_post(org_setup.url, "W-001", data={"t": expired, "comment": "等了两个小时"},
                      timeout=10)
    assert r.status_code == 200 and r.url.endswith("done=1")
    assert device.post_batch([rating]).status_code == 200   # the rating comes later
    with read(org_setup.engine) as conn:
        assert conn.execute(select(ratings.c.comment)).scalars().all() == ["〔逾期补充〕等了两个小时"]


def test_the_limit_table_holds_no_address_and_forgets(org_setup):
    # It kept "<IP>|<window>" with the time of the rating, for ever: linkable to the rating.
    import datetime as dt

    from aggregator.db import utcnow, write
    from aggregator.schema import qr_limits

    with write(org_setup.engine) as conn:
        conn.execute(qr_limits.insert().values(client_key="c|old|W-009",
                                               last_at=utcnow() - dt.timedelta(hours=5)))
    qr_post(org_setup.url, "W-001", data={"level": "satisfied"}, timeout=10)
    with read(org_setup.engine) as conn:   # kept qr_memory_hours (4) now, then forgotten
        keys = [r.client_key for r in conn.execute(select(qr_limits.c.client_key))
                if r.client_key.startswith("c|")]
    assert len(keys) == 1 and keys[0].endswith("|W-001") and "127.0.0.1" not in keys[0]


def test_a_link_from_a_kiosk_whose_clock_runs_ahead_adds_once_after_its_use_is_forgotten(
        device, org_setup):
    # The link's week is counted by the kiosk's clock. One a month ahead made links valid for
    # five weeks, while their one use was remembered for eight days: after that, the same link
    # added again (a second comment, or another number to call back).
    import datetime as dt

    from aggregator import qr_page
    from aggregator.db import utcnow, write

    cfg = device.get("/api/v1/config").json()
    rating = device.rating("dissatisfied")
    assert device.post_batch([rating]).status_code == 200
    ahead = int(time.time()) + 30 * 86400 + 7 * 86400
    token = qr.follow_up_token(cfg["follow_up_qr_key"], rating["id"], ahead)
    url = f"{org_setup.url}/r/W-001"
    # Such a link claims more than the server's cap (8 days, qr.FOLLOW_UP_MAX_SECONDS): it
    # is refused outright now, and cannot add at all.
    first = requests.post(url, data={"t": token, "comment": "没人指导",
                                      "form_id": _form_id(requests.get(url, timeout=10).text)}, timeout=10)
    assert first.status_code == 410
    with write(org_setup.engine) as conn:   # nine days on, the page forgets what has expired
        qr_page._forget_old(conn, utcnow() + dt.timedelta(days=9), 60)
    again = requests.post(url, data={"t": token, "comment": "换一条",
                                      "form_id": _form_id(requests.get(url, timeout=10).text)}, timeout=10)
    assert again.status_code == 410
    with read(org_setup.engine) as conn:
        assert conn.execute(select(ratings.c.comment).where(
            ratings.c.id == rating["id"])).scalar() is None


def test_qr_ratings_in_a_burst_from_one_address_raise_an_alert(org_setup):
    # A kiosk's bursts raise an alert; the QR page's repeated ratings were only flagged, so a
    # phone rating one window again and again all day was seen by no one. Two flagged ones is
    # a hall sharing one Wi-Fi address; the third in a day raises a burst alert.
    from aggregator.schema import alerts

    url = f"{org_setup.url}/r/W-001"

    def burst_alerts():
        with read(org_setup.engine) as conn:
            return conn.execute(select(alerts.c.kind, alerts.c.window_id, alerts.c.detail)
                                .where(alerts.c.kind == "burst")).all()
    for _ in range(3):   # one clean rating, two flagged
        assert requests.post(url, data=with_form(url, {"level": "very_satisfied"}), timeout=10).status_code == 200
    assert burst_alerts() == []
    for _ in range(2):   # the third flagged one raises it, and only once
        assert requests.post(url, data=with_form(url, {"level": "very_satisfied"}), timeout=10).status_code == 200
    found = burst_alerts()
    assert len(found) == 1 and found[0].window_id == "W-001"
    assert "3 QR ratings" in found[0].detail


def _form_id(page: str) -> str:
    return re.search(r'name="form_id" value="([^"]+)"', page)[1]


def test_a_used_follow_up_link_says_so_at_once_and_what_is_typed_later_stays(device, org_setup):
    # A used link still offered the comment form; the citizen typed a second complaint, a
    # number and consent, and the answer (409 "already added") threw all of it away. Opened
    # again, it now says "already added" with the window's own page a tap away; a form from
    # before the use (another tab) gets its text back as a new rating of the window, as an
    # expired link's does; and the very form that used the link, sent again (a double tap,
    # Back), is thanked instead of being offered as a second rating.
    cfg = device.get("/api/v1/config").json()
    rating = device.rating("very_dissatisfied")
    assert device.post_batch([rating]).status_code == 200
    token = qr.follow_up_token(cfg["follow_up_qr_key"], rating["id"], int(time.time()) + 600)
    url = f"{org_setup.url}/r/W-001"
    tabs = [requests.get(url, params={"t": token}, timeout=10).text for _ in range(2)]
    first = {"t": token, "form_id": _form_id(tabs[0]), "comment": "态度差"}
    r = requests.post(url, data=first, timeout=10)
    assert r.status_code == 200 and r.url.endswith("done=1")
    again = requests.get(url, params={"t": token}, timeout=10)
    # a used link's text is a late note of its rating, never a new rating (finding 5)
    assert again.status_code == 409 and "逾期补充" in again.text and 'name="level"' not in again.text
    twice = requests.post(url, data=first, timeout=10)
    assert twice.status_code == 200 and twice.url.endswith("done=1")
    # The same form sent again with its number put right was thanked as a double tap, and
    # the number to call back was lost; then it was offered as a new rating, a second rating
    # of one service. It is told an addition is not changed, its text kept, and no new rating
    # is offered.
    fixed = requests.post(url, data=with_form(url, {**first, "phone": "13800001111", "consent": "1"}),
                          timeout=10)
    assert fixed.status_code == 409 and "补充后不能更改" in fixed.text
    assert 'value="13800001111"' in fixed.text and 'name="level"' not in fixed.text
    # nothing to send: its button only brought the same refusal back (the text stays copyable)
    assert "<button" not in fixed.text and 'value="13800001111" readonly' in fixed.text
    again_fixed = requests.post(url, data=with_form(url, {**first, "phone": "13800001111", "consent": "1"}),
                                timeout=10)
    assert again_fixed.status_code == 409 and "补充后不能更改" in again_fixed.text
    other = requests.post(url, data={"t": token, "form_id": _form_id(tabs[1]),
                                     "comment": "还让我跑了三次", "phone": "13800009999",
                                     "consent": "1"}, timeout=10)
    # another tab's text: a late note of the same rating (it was a second, counted rating)
    assert other.status_code == 200 and other.url.endswith("done=1")
    with read(org_setup.engine) as conn:
        rows = conn.execute(select(ratings.c.channel, ratings.c.comment, ratings.c.phone)
                            .order_by(ratings.c.channel)).all()
    assert [tuple(r) for r in rows] == [(4, "态度差\n〔逾期补充〕还让我跑了三次", "13800009999")]


def test_windows_whose_id_holds_a_hash_a_space_or_a_slash_get_their_page_and_ratings(org_setup):
    # Windows made before ids were checked for such characters (org.URL_BREAKING) can hold
    # them ("1#窗口" is a common name). The form posted to
    # "/r/W#7" (the browser cut it at "#", a 404: the rating was lost), and "/r/民政%2F9", as
    # the kiosk's QR code has it, was a 404 itself.
    from urllib.parse import quote, urljoin

    from aggregator import org
    from aggregator.db import write

    odd = ["W#7", "W 8", "民政/9"]
    with write(org_setup.engine) as conn:
        for wid in odd:
            org.store(conn, "windows", {**org.clean("windows", {"id": "W-X", "name": "1#窗口",
                                                          "unit_id": "U-01"}), "id": wid})
    for wid in odd:
        page = requests.get(f"{org_setup.url}/r/{quote(wid, safe='')}", timeout=10)
        assert page.status_code == 200 and "1#窗口" in page.text, wid
        action = re.search(r'<form method="post" action="([^"]*)"', page.text)[1]
        assert action == f"/r/{quote(wid, safe='')}?lang=zh", wid
        r = requests.post(urljoin(org_setup.url, action), timeout=10, allow_redirects=False,
                          data={"level": "satisfied", "form_id": _form_id(page.text)})
        assert r.status_code == 303, (wid, r.status_code)
        assert r.headers["location"] == f"/r/{quote(wid, safe='')}?lang=zh&done=1"
        gone = requests.get(f"{org_setup.url}/r/{quote(wid, safe='')}", params={"t": "x.1.y"},
                            timeout=10)   # the expired link's "rate this window" leads back
        assert gone.status_code == 410 and f'href="/r/{quote(wid, safe="")}?lang=zh"' in gone.text
    with read(org_setup.engine) as conn:
        stored = sorted(conn.execute(select(ratings.c.window_id)).scalars())
    assert stored == sorted(odd)


def test_a_comment_in_paragraphs_is_stored_whole_with_line_feeds(org_setup):
    # A browser counts a line break as one character for the field's 500, but sends CR LF;
    # the server kept the first 500 characters it got, so a comment of 27 lines lost its last
    # two without a word, and CR LF was stored.
    lines = [f"第{i:02d}段，办事过程中遇到的问题说明。" for i in range(1, 28)]
    text = "\n".join(lines)[:500]
    assert len(text) == 500 and len(text.replace("\n", "\r\n")) > 500
    r = qr_post(org_setup.url, "W-001", timeout=10, data={
        "level": "basic_satisfied", "comment": text.replace("\n", "\r\n")})
    assert r.status_code == 200
    with read(org_setup.engine) as conn:
        assert conn.execute(select(ratings.c.comment)).scalar() == text


def test_an_unknown_or_closed_window_gives_a_hotline_to_call_or_promises_none(org_setup):
    # The page said "请…拨打监督电话" and gave no number. A closed window's unit is known:
    # its hotline; else the server's (AGGREGATOR_HOTLINE); with none, no call is promised.
    from aggregator import Settings, org, qr_page
    from aggregator.db import write

    with write(org_setup.engine) as conn:
        org.save(conn, "units", {"id": "U-01", "name": "城关便民服务中心", "region_id": "R-1a",
                                 "hotline": "0931-8888888"})
        org.save(conn, "windows", {"id": "W-002", "name": "社保窗口", "unit_id": "U-01",
                                   "active": False})
    closed = requests.get(f"{org_setup.url}/r/W-002", timeout=10)
    assert closed.status_code == 404 and "拨打监督电话 0931-8888888" in closed.text
    unknown = requests.get(f"{org_setup.url}/r/NOPE?lang=en", timeout=10)
    assert unknown.status_code == 404 and "complaint hotline 12345" in unknown.text
    none = qr_page._unknown("zh", None, Settings(secret="s", hotline="")).body.decode()
    assert "电话" not in none and "未找到该窗口" in none


def test_a_nul_in_the_phone_pages_address_gets_the_page_not_json(org_setup):
    # "%00" in the window code or the query was refused with the API's English JSON 400 on a
    # citizen's phone (the check that keeps a NUL out of PostgreSQL's text). No window holds
    # a NUL: the page of an unknown window; elsewhere in the query it is not stored.
    url = org_setup.url
    for method, path, status, words in (
            ("get", "/r/W-001%00", 404, "未找到该窗口"), ("post", "/r/W%00-001", 404, "未找到该窗口"),
            ("get", "/r/W-001?lang=%00", 200, "民政窗口"), ("get", "/r/W-001?done=%00", 200, "感谢"),
            ("get", "/r/W-001?t=%00", 410, "二维码已失效")):
        r = requests.request(method, url + path, timeout=10, data={"level": "satisfied"})
        assert r.status_code == status and r.headers["content-type"].startswith("text/html"), \
            (path, r.status_code, r.text[:200])
        assert words in r.text, path
    with read(org_setup.engine) as conn:
        assert conn.execute(select(func.count()).select_from(ratings)).scalar() == 0


def test_the_follow_up_page_asks_for_a_comment_or_a_phone_not_two_optional_fields(device,
                                                                                  org_setup):
    # Both fields said "选填" (optional) and the button "提交评价", yet sending both empty is
    # refused: the words now say one of the two is needed, and that a comment is sent.
    cfg = device.get("/api/v1/config").json()
    token = qr.follow_up_token(cfg["follow_up_qr_key"], device.rating("dissatisfied")["id"],
                               int(time.time()) + 600)
    page = requests.get(f"{org_setup.url}/r/W-001", params={"t": token}, timeout=10).text
    assert "选填" not in page and "至少填写一项" in page and ">提交意见</button>" in page
    en = requests.get(f"{org_setup.url}/r/W-001", params={"t": token, "lang": "en"}, timeout=10)
    assert "optional" not in en.text and "at least one" in en.text


def _at_once(url: str, forms: list[dict]) -> list[int]:
    """The status of each form, all POSTed at the same moment (threads behind a barrier)."""
    import threading

    barrier, codes = threading.Barrier(len(forms)), []

    def send(form):
        barrier.wait()
        codes.append(requests.post(url, data=form, allow_redirects=False, timeout=30).status_code)
    threads = [threading.Thread(target=send, args=(form,)) for form in forms]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return codes


def test_ratings_sent_at_once_are_each_stored_once_and_none_fails(org_setup):
    # On PostgreSQL the limit check read the client's key, then inserted it: two phones on the
    # hall's Wi-Fi rating at the same moment (or one double tap) both found no key, the second
    # insert broke the unique key, and its citizen got a JSON 500 and lost the rating (30 of
    # 40 such POSTs). Every distinct form is one rating; a form sent twice is still one.
    from aggregator.db import write
    from aggregator.schema import qr_limits

    stored = 0
    for round_ in range(6):
        url = f"{org_setup.url}/r/{('W-001', 'W-002')[round_ % 2]}"
        with write(org_setup.engine) as conn:   # the next citizens, a minute later
            conn.execute(qr_limits.delete())
        ids = [_form_id(requests.get(url, timeout=10).text) for _ in range(4)]
        forms = [{"level": "very_dissatisfied", "comment": "态度差", "form_id": i} for i in ids]
        codes = _at_once(url, forms + forms[:1])   # the first form double-tapped
        assert codes == [303] * 5, codes
        stored += len(ids)
        with read(org_setup.engine) as conn:
            rows = conn.execute(select(ratings.c.flagged)).scalars().all()
        assert len(rows) == stored   # each form once
        assert sum(not f for f in rows) == round_ + 1   # one counts per round, the rest flagged


def test_a_follow_up_sent_twice_at_once_is_thanked_twice_and_adds_once(device, org_setup):
    # The same race on the follow-up link's one use: a double tap on 提交意见 answered one of
    # the two taps with a 500 on PostgreSQL (the browser shows the last answer). Two tabs at
    # once: one adds, the other gets its text back (409), neither a 500.
    cfg = device.get("/api/v1/config").json()
    url = f"{org_setup.url}/r/W-001"
    for tabs_differ in (False, True) * 3:
        rating = device.rating("very_dissatisfied")
        assert device.post_batch([rating]).status_code == 200
        token = qr.follow_up_token(cfg["follow_up_qr_key"], rating["id"], int(time.time()) + 600)
        tabs = [{"t": token, "comment": f"排队太久{n}",
                 "form_id": _form_id(requests.get(url, params={"t": token}, timeout=10).text)}
                for n in range(2)]
        codes = _at_once(url, tabs if tabs_differ else [tabs[0], tabs[0]])
        # the other tab's text is a late note of the rating now (finding 5), never a 500
        assert sorted(codes) == [303, 303], codes
        with read(org_setup.engine) as conn:
            comment = conn.execute(select(ratings.c.comment).where(
                ratings.c.id == rating["id"])).scalar()
        assert comment in ("排队太久0\n〔逾期补充〕排队太久1", "排队太久1\n〔逾期补充〕排队太久0") \
            if tabs_differ else comment == "排队太久0"


def test_an_unexpected_error_shows_the_phone_page_in_chinese_not_json(org_setup, monkeypatch):
    # A bug behind the phone page answered the API's {"error":"internal"}: English JSON on a
    # citizen's phone, and what they had typed was gone. Now the page's own words: the form
    # with its text when sending failed, "scan again later" when the page itself could not be
    # shown.
    from aggregator import qr_page

    def broken(*args):
        raise RuntimeError("a bug")
    monkeypatch.setattr(qr_page, "_forget_old", broken)
    r = qr_post(org_setup.url, "W-001", timeout=10, data={
        "level": "dissatisfied", "comment": "等了很久"})
    assert r.status_code == 500 and r.headers["content-type"].startswith("text/html")
    assert "系统暂时无法保存您填写的内容" in r.text and "等了很久</textarea>" in r.text
    monkeypatch.setattr(qr_page, "_window", broken)
    for method in ("get", "post"):
        r = requests.request(method, f"{org_setup.url}/r/W-001", timeout=10)
        assert r.status_code == 500 and "评价系统暂时无法使用" in r.text, method
        assert r.headers["content-type"].startswith("text/html")


def test_a_changed_answer_from_a_form_already_sent_is_refused_with_its_text_kept(org_setup):
    # A citizen sent 满意, pressed Back (the browser keeps the same form), chose 非常不满意
    # with a comment, a number and consent, and was thanked: the insert of the form's rating
    # id was ignored, and the bad rating, the comment and the call back were lost without a
    # word. A sent rating is not changed (一次一评), so the citizen is told so, with what is on
    # record, what they typed still in the form, and the hotline to call about a problem.
    url = f"{org_setup.url}/r/W-001"
    form_id = _form_id(requests.get(url, timeout=10).text)
    first = {"level": "satisfied", "form_id": form_id}
    assert requests.post(url, data=first, allow_redirects=False, timeout=10).status_code == 303
    changed = {"level": "very_dissatisfied", "reasons": ["attitude"], "form_id": form_id,
               "comment": "工作人员态度恶劣，请回电", "phone": "13800001234", "consent": "1"}
    r = requests.post(url, data=changed, allow_redirects=False, timeout=10)
    assert r.status_code == 409
    assert "您已提交过评价（满意），评价提交后不能更改" in r.text and "没有保存" in r.text
    # no button sending the same form to the same refusal; what was typed stays to be copied
    assert "<button" not in r.text and "工作人员态度恶劣，请回电</textarea>" in r.text
    assert re.search(r'value="very_dissatisfied"[^>]* checked disabled>', r.text)
    assert "拨打监督电话 12345" in r.text
    assert "工作人员态度恶劣，请回电</textarea>" in r.text and 'value="13800001234"' in r.text
    assert 'value="very_dissatisfied" required onchange="showReasons(this.value)" checked' \
        in r.text
    en = requests.post(f"{url}?lang=en", data=changed, allow_redirects=False, timeout=10)
    assert en.status_code == 409 and "already sent your rating (Satisfied)" in en.text
    # the same answer again (a reload, a double tap) is still one rating, quietly
    assert requests.post(url, data=first, allow_redirects=False, timeout=10).status_code == 303
    from aggregator.dashboard.tables import cases

    with read(org_setup.engine) as conn:
        stored = conn.execute(select(ratings.c.level, ratings.c.comment, ratings.c.phone)).all()
        assert conn.execute(select(cases.c.id)).first() is None
    assert [tuple(r) for r in stored] == [("satisfied", None, None)]


def test_a_callback_left_before_its_flagged_kiosk_rating_arrives_opens_its_case_at_ingest(
        device, org_setup):
    # A kiosk offline; its bad rating flagged (no staff signed in); the citizen scans the
    # follow-up code and leaves a number to be called. The phone's follow-up waits for the
    # rating; when the kiosk's batch came, the number was attached but no case opened (the
    # batch's row had no number): it appeared only when someone opened the case list, and
    # its deadlines ran from then.
    from aggregator.dashboard.tables import cases

    cfg = device.get("/api/v1/config").json()
    rating = device.rating("very_dissatisfied", flags=["no_staff"])
    token = qr.follow_up_token(cfg["follow_up_qr_key"], rating["id"], int(time.time()) + 600)
    r = qr_post(org_setup.url, "W-001", timeout=10, data={
        "t": token, "comment": "没人办理", "phone": "13800001234", "consent": "1"})
    assert r.status_code == 200 and r.url.endswith("done=1")
    quiet = device.rating("very_dissatisfied", flags=["no_staff"])   # no number: no case
    quiet_token = qr.follow_up_token(cfg["follow_up_qr_key"], quiet["id"], int(time.time()) + 600)
    assert qr_post(org_setup.url, "W-001", data={"t": quiet_token, "comment": "没人"},
                         timeout=10).status_code == 200
    assert device.post_batch([rating, quiet]).status_code == 200
    with read(org_setup.engine) as conn:
        row = conn.execute(select(ratings.c.flagged, ratings.c.phone).where(
            ratings.c.id == rating["id"])).one()
        opened = conn.execute(select(cases.c.rating_id, cases.c.state)).all()
    assert bool(row.flagged) and row.phone == "13800001234"
    assert [tuple(c) for c in opened] == [(rating["id"], "new")]


def test_the_language_switch_keeps_what_was_chosen_and_typed_and_stores_nothing(org_setup):
    # The English/中文 switch was a link: a citizen who had picked "不满意", ticked a reason
    # and written a comment got the page empty in the other language, and gave up.
    url = f"{org_setup.url}/r/W-001"
    entered = {"level": "dissatisfied", "reasons": ["waiting_time"], "comment": "排队一个小时",
               "phone": "13800005678", "consent": "1"}
    with read(org_setup.engine) as conn:
        before = conn.execute(select(func.count()).select_from(ratings)).scalar()
    form = with_form(url, entered)
    r = requests.post(f"{url}?lang=en", data={**form, "switch_lang": "en"}, timeout=10,
                      allow_redirects=False)
    assert r.status_code == 200 and "Very satisfied" in r.text
    assert re.search(r'value="dissatisfied" required[^>]*checked', r.text)
    assert re.search(r'value="waiting_time"[^>]*checked', r.text)
    assert ">排队一个小时</textarea>" in r.text and 'value="13800005678"' in r.text
    assert re.search(r'name="consent" value="1"[^>]*checked', r.text)
    # the same form, the same rating when it is sent: its form id is kept
    assert f'name="form_id" value="{form["form_id"]}"' in r.text
    with read(org_setup.engine) as conn:
        assert conn.execute(select(func.count()).select_from(ratings)).scalar() == before
    # and back to Chinese, still all there; a forged form id is not echoed
    back = requests.post(f"{url}?lang=zh", data={**entered, "form_id": "x.1.y",
                                                   "switch_lang": "zh"}, timeout=10)
    assert back.status_code == 200 and "非常满意" in back.text and ">排队一个小时</textarea>" in back.text
    assert 'name="form_id" value="x.1.y"' not in back.text
    # the switch is a button of the form (works without script), after the send button
    assert back.text.index('type="submit">') < back.text.index("data-lang-switch")
    sent = requests.post(url, data=form, timeout=10)
    assert sent.status_code == 200 and "感谢" in sent.text
    with read(org_setup.engine) as conn:
        assert conn.execute(select(func.count()).select_from(ratings)).scalar() == before + 1
