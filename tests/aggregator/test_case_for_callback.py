"""Who a phone rating names, and which flagged bad ratings still open a case.

Found by testing the phone page as citizens use it: a kiosk switched off without a sign-out
left its last staff member on the server, so the next morning's phone ratings (and their
cases) named yesterday's person; and a citizen who rated badly from the hall's Wi-Fi a minute
after someone else, leaving a number to be called back, was thanked and never called (the
rating was flagged, so no case opened, and the number was shown nowhere)."""

from __future__ import annotations

import datetime as dt
import time

import requests
from sqlalchemy import select, update

from aggregator import qr
from aggregator.dashboard.tables import cases
from aggregator.db import read, utcnow, write
from aggregator.schema import devices, ratings
from tests.qr_form import qr_post, with_form


def _rows(engine, table, *cols):
    with read(engine) as conn:
        return [tuple(r) for r in conn.execute(select(*cols).select_from(table)).all()]


def test_a_kiosk_start_clears_who_is_on_duty_for_the_phone_page(device, org_setup):
    sign_in = device.event("staff_sign_in", {"staff_id": "S-007", "staff_name": "王芳",
                                             "method": "badge"})
    assert device.post_batch([sign_in]).status_code == 200
    qr_post(org_setup.url, "W-001", data={"level": "satisfied"}, timeout=10)
    assert device.post_batch([device.event("app_start", {"version": "1"})]).status_code == 200
    assert _rows(org_setup.engine, devices, devices.c.staff_id) == [(None,)]
    qr_post(org_setup.url, "W-001", data={"level": "very_dissatisfied"}, timeout=10)
    with read(org_setup.engine) as conn:
        named = conn.execute(select(ratings.c.level, ratings.c.staff_id)
                             .order_by(ratings.c.server_time)).all()
    assert [tuple(r) for r in named] == [("satisfied", "S-007"), ("very_dissatisfied", None)]


def test_a_flagged_bad_phone_rating_with_a_number_to_call_opens_its_case(org_setup):
    url = f"{org_setup.url}/r/W-001"
    assert requests.post(url, data=with_form(url, {"level": "satisfied"}), timeout=10).status_code == 200
    # the same address within the minute: kept flagged; one asks to be called, one does not
    asked = {"level": "very_dissatisfied", "comment": "工作人员态度恶劣，请回电",
             "phone": "13912345678", "consent": "1"}
    assert requests.post(url, data=with_form(url, asked), timeout=10).status_code == 200
    assert requests.post(url, data=with_form(url, {"level": "dissatisfied"}), timeout=10).status_code == 200
    with read(org_setup.engine) as conn:
        found = conn.execute(select(ratings.c.level, ratings.c.flagged, cases.c.id)
                             .outerjoin(cases, cases.c.rating_id == ratings.c.id)
                             .order_by(ratings.c.server_time)).all()
    assert [(r.level, bool(r.flagged), r.id is not None) for r in found] == [
        ("satisfied", False, False), ("very_dissatisfied", True, True),
        ("dissatisfied", True, False)]


def test_a_flagged_kiosk_rating_whose_follow_up_asks_for_a_call_opens_its_case(device, org_setup):
    flagged = device.rating("very_dissatisfied", flags=["lockout"])
    quiet = device.rating("dissatisfied", flags=["lockout"])
    follow_up = device.event("follow_up", {"rating_id": flagged["id"], "reasons": ["attitude"],
                                           "reasons_version": 1, "phone": "13812341234",
                                           "callback_consent": True})
    no_number = device.event("follow_up", {"rating_id": quiet["id"], "reasons": ["attitude"],
                                           "reasons_version": 1, "phone": None,
                                           "callback_consent": False})
    assert device.post_batch([flagged, quiet, follow_up, no_number]).status_code == 200
    assert _rows(org_setup.engine, cases, cases.c.rating_id) == [(flagged["id"],)]


def test_a_kiosk_not_heard_from_for_half_an_hour_names_nobody_on_the_phone_page(device,
                                                                              org_setup):
    # switched off at night without a sign-out: no app_start comes until the morning
    sign_in = device.event("staff_sign_in", {"staff_id": "S-007", "staff_name": "王芳",
                                             "method": "badge"})
    assert device.post_batch([sign_in]).status_code == 200
    with write(org_setup.engine) as conn:
        conn.execute(update(devices).values(last_seen_at=utcnow() - dt.timedelta(minutes=31)))
    qr_post(org_setup.url, "W-001", data={"level": "satisfied"}, timeout=10)
    assert _rows(org_setup.engine, ratings, ratings.c.staff_id) == [(None,)]


def test_a_number_left_through_the_follow_up_code_opens_a_flagged_ratings_case(device,
                                                                             org_setup):
    cfg = device.get("/api/v1/config").json()
    flagged = device.rating("very_dissatisfied", flags=["lockout"])
    assert device.post_batch([flagged]).status_code == 200
    assert _rows(org_setup.engine, cases, cases.c.rating_id) == []
    token = qr.follow_up_token(cfg["follow_up_qr_key"], flagged["id"], int(time.time()) + 600)
    r = qr_post(org_setup.url, "W-001", timeout=10, data={
        "t": token, "comment": "请回电", "phone": "13812341234", "consent": "1"})
    assert r.status_code == 200
    assert _rows(org_setup.engine, cases, cases.c.rating_id) == [(flagged["id"],)]
