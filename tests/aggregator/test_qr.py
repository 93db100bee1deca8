import json
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


def test_qr_rating_is_stored_with_channel_3_and_rate_limited(org_setup):
    form = {"level": "dissatisfied", "reasons": ["waiting_time", "bogus"], "comment": "排队太久",
            "phone": "13800001234", "consent": "1"}
    r = requests.post(f"{org_setup.url}/r/W-001", data=form, timeout=10)
    assert r.status_code == 200 and "感谢" in r.text
    with read(org_setup.engine) as conn:
        row = conn.execute(select(ratings)).mappings().one()
    assert row["channel"] == 3 and row["level"] == "dissatisfied" and row["stars"] == 2
    assert json.loads(row["reasons"]) == ["waiting_time"]
    assert row["comment"] == "排队太久" and row["phone"] == "13800001234"
    again = requests.post(f"{org_setup.url}/r/W-001", data=form, timeout=10)
    assert again.status_code == 429 and "Retry-After" in again.headers
    other_window = requests.post(f"{org_setup.url}/r/W-002", data=form, timeout=10)
    assert other_window.status_code == 200
    missing = requests.post(f"{org_setup.url}/r/W-002", data={}, timeout=10)
    assert missing.status_code in (400, 429)


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
