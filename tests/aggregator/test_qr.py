import json
import re
import time

import requests
from sqlalchemy import select

from aggregator import qr
from aggregator.db import read
from aggregator.schema import ratings


def test_qr_page_renders_in_chinese_and_english(org_setup):
    r = requests.get(f"{org_setup.url}/r/W-001", timeout=10)
    assert r.status_code == 200 and "非常满意" in r.text and "民政窗口" in r.text
    r = requests.get(f"{org_setup.url}/r/W-001?lang=en", timeout=10)
    assert "Very satisfied" in r.text
    assert requests.get(f"{org_setup.url}/r/NOPE", timeout=10).status_code == 404


def test_qr_rating_is_stored_with_channel_3_and_a_second_one_is_kept_flagged(org_setup):
    form = {"level": "dissatisfied", "reasons": ["waiting_time", "bogus"], "comment": "排队太久",
            "phone": "13800001234", "consent": "1"}
    r = requests.post(f"{org_setup.url}/r/W-001", data=form, timeout=10)
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
    again = requests.post(f"{org_setup.url}/r/W-001", data={**form, "level": "very_dissatisfied",
                                                            "reasons": ["attitude"]}, timeout=10)
    assert again.status_code == 200 and "感谢" in again.text
    with read(org_setup.engine) as conn:
        rows = conn.execute(select(ratings.c.level, ratings.c.flags, ratings.c.flagged)
                            .order_by(ratings.c.server_time)).all()
    assert [(r.level, json.loads(r.flags), bool(r.flagged)) for r in rows] == [
        ("dissatisfied", [], False), ("very_dissatisfied", ["lockout"], True)]
    other_window = requests.post(f"{org_setup.url}/r/W-002", data=form, timeout=10)
    assert other_window.status_code == 200
    missing = requests.post(f"{org_setup.url}/r/W-002", data={}, timeout=10)
    assert missing.status_code == 400


def test_a_form_sent_twice_is_one_rating(org_setup):
    # Back and send again (or a reload of the answer) stored the same rating again: one
    # service made three rows.
    page = requests.get(f"{org_setup.url}/r/W-001", timeout=10).text
    form_id = re.search(r'name="form_id" value="([0-9a-f]{32})"', page)[1]
    form = {"level": "satisfied", "form_id": form_id}
    for _ in range(3):
        assert requests.post(f"{org_setup.url}/r/W-001", data=form, timeout=10).status_code == 200
    with read(org_setup.engine) as conn:
        assert len(conn.execute(select(ratings.c.id)).all()) == 1


def test_without_script_a_bad_ratings_reasons_of_every_bad_level_are_kept(org_setup):
    # Without JavaScript every chip shows; "asked for favours" (吃拿卡要) chosen with
    # 不满意 was dropped because that level's list does not offer it.
    r = requests.post(f"{org_setup.url}/r/W-001", data={
        "level": "dissatisfied", "reasons": ["asked_for_favours", "attitude"]}, timeout=10)
    assert r.status_code == 200
    requests.post(f"{org_setup.url}/r/W-002", data={"level": "satisfied",
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
    r = requests.post(f"{org_setup.url}/r/W-001", data={"t": token, "comment": "态度差"},
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
        r = requests.post(f"{org_setup.url}/r/W-001", data={
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
    empty = requests.post(url, data={"t": token, "comment": "  "}, timeout=10)
    assert empty.status_code == 400 and "请填写意见或留下手机号" in empty.text
    first = requests.post(url, data={"t": token, "comment": "态度差", "phone": "13800001234",
                                     "consent": "1"}, timeout=10)
    assert first.status_code == 200 and first.url.endswith("done=1")
    second = requests.post(url, data={"t": token, "comment": "", "phone": "13999999999",
                                      "consent": "1"}, timeout=10)
    assert second.status_code == 409 and "已补充过意见" in second.text
    with read(org_setup.engine) as conn:
        row = conn.execute(select(ratings).where(ratings.c.id == rating["id"])).mappings().one()
    assert (row["comment"], row["phone"]) == ("态度差", "13800001234")


def test_a_follow_up_link_that_expired_while_typing_keeps_the_text_as_a_new_rating(device, org_setup):
    cfg = device.get("/api/v1/config").json()
    rating = device.rating("dissatisfied")
    expired = qr.follow_up_token(cfg["follow_up_qr_key"], rating["id"], int(time.time()) - 5)
    r = requests.post(f"{org_setup.url}/r/W-001", data={"t": expired, "comment": "等了两个小时"},
                      timeout=10)
    assert r.status_code == 410 and "等了两个小时</textarea>" in r.text and 'name="level"' in r.text
    assert 'name="t"' not in r.text   # the form is the window's own rating form now


def test_the_limit_table_holds_no_address_and_forgets(org_setup):
    # It kept "<IP>|<window>" with the time of the rating, for ever: linkable to the rating.
    import datetime as dt

    from aggregator.db import utcnow, write
    from aggregator.schema import qr_limits

    with write(org_setup.engine) as conn:
        conn.execute(qr_limits.insert().values(client_key="c|old|W-009",
                                               last_at=utcnow() - dt.timedelta(minutes=2)))
    requests.post(f"{org_setup.url}/r/W-001", data={"level": "satisfied"}, timeout=10)
    with read(org_setup.engine) as conn:
        keys = [r.client_key for r in conn.execute(select(qr_limits.c.client_key))]
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
    first = requests.post(url, data={"t": token, "comment": "没人指导"}, timeout=10)
    assert first.status_code == 200 and first.url.endswith("done=1")
    with write(org_setup.engine) as conn:   # nine days on, the page forgets what has expired
        qr_page._forget_old(conn, utcnow() + dt.timedelta(days=9), 60)
    again = requests.post(url, data={"t": token, "comment": "换一条"}, timeout=10)
    assert again.status_code == 409
    with read(org_setup.engine) as conn:
        assert conn.execute(select(ratings.c.comment).where(
            ratings.c.id == rating["id"])).scalar() == "没人指导"


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
        assert requests.post(url, data={"level": "very_satisfied"}, timeout=10).status_code == 200
    assert burst_alerts() == []
    for _ in range(2):   # the third flagged one raises it, and only once
        assert requests.post(url, data={"level": "very_satisfied"}, timeout=10).status_code == 200
    found = burst_alerts()
    assert len(found) == 1 and found[0].window_id == "W-001"
    assert "3 QR ratings" in found[0].detail
