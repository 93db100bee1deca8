"""Odd input found by probing the running server: each was a 500 (or stored what it should not).

Why it matters: a batch answered 500 is resent by its kiosk for ever, so one bad event
blocked a kiosk's whole outbox; a heartbeat with NaN broke the admin device list for
everyone; and every 500 closed the connection a kiosk was keeping alive.
"""

from __future__ import annotations

import gzip
import json
import logging
import uuid

import requests
from sqlalchemy import select

from aggregator.db import read
from aggregator.schema import quarantine, ratings
from tests.aggregator.device import Device, enroll_code
from tests.qr_form import form_id


def _raw_batch(device: Device, events: list, replace: tuple[str, str] | None = None) -> bytes:
    text = json.dumps({"protocol": 1, "device_id": device.id, "batch_id": str(uuid.uuid4()),
                       "events": events})  # ASCII: a lone surrogate stays an escape
    if replace:
        text = text.replace(*replace)
    return gzip.compress(text.encode())


def test_an_event_with_a_lone_surrogate_is_rejected_and_the_rest_stored(device, org_setup):
    good = device.rating()
    bad = device.rating(staff_name="SURR")
    r = device.post_batch(body=_raw_batch(device, [good, bad], ("SURR", "\\ud800")))
    assert r.status_code == 200, r.text
    assert [x["status"] for x in r.json()["results"]] == ["accepted", "rejected"]
    with read(org_setup.engine) as conn:
        stored = conn.execute(select(quarantine.c.event, quarantine.c.event_id)).all()
        assert conn.execute(select(ratings.c.id)).scalars().all() == [good["id"]]
    assert len(stored) == 1 and stored[0][1] == bad["id"]
    assert "\\ud800" in stored[0][0]  # kept, escaped, for whoever looks at the quarantine


def test_a_follow_up_with_a_huge_reasons_version_is_rejected_not_a_500(device, org_setup):
    rating = device.rating("very_dissatisfied")
    follow = device.event("follow_up", {"rating_id": rating["id"], "reasons": ["attitude"],
                                        "reasons_version": 2**63})
    r = device.post_batch([rating, follow])
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["status"] for x in results] == ["accepted", "rejected"]
    assert results[1]["reason"].startswith("payload.reasons_version")


def test_repeated_reasons_count_once(device, org_setup):
    rating = device.rating("very_dissatisfied")
    follow = device.event("follow_up", {"rating_id": rating["id"],
                                        "reasons": ["attitude", "attitude", "waiting"],
                                        "reasons_version": 1})
    assert device.post_batch([rating, follow]).status_code == 200
    with read(org_setup.engine) as conn:
        reasons = conn.execute(select(ratings.c.reasons)).scalar_one()
    assert json.loads(reasons) == ["attitude", "waiting"]


def test_heartbeat_numbers_that_no_column_or_page_can_hold_are_refused(device, org_setup):
    path = "/api/v1/heartbeat"
    for body, field in ((b'{"clock_offset_s": NaN}', "NaN"),
                        (b'{"oldest_pending_age_s": Infinity}', "Infinity"),
                        (b'{"clock_offset_s": 1' + b"0" * 400 + b"}", "too large"),
                        (b'{"clock_offset_s": 1e400}', "too large"),
                        (b'{"pending": -1}', "negative"),
                        (json.dumps({"app_version": "9" * 33}).encode(), "over 32"),
                        (b'{"last_error": "\\udc00"}', "surrogate"),
                        (b'{"last_error": "a\\u0000b"}', "NUL")):
        h = {"Content-Type": "application/json", **device.headers("POST", path, body)}
        r = requests.post(org_setup.url + path, data=body, headers=h, timeout=10)
        assert r.status_code == 400, (body[:40], r.text)
        assert field in r.json()["detail"], (field, r.json())
    # The device list still answers (a stored NaN made it a 500 for every admin).
    r = requests.get(f"{org_setup.url}/api/v1/devices", headers=org_setup.admin, timeout=10)
    assert r.status_code == 200
    assert device.post_json(path, {"clock_offset_s": 1.5, "pending": 0}).status_code == 200


def test_a_device_id_no_header_can_carry_is_refused_and_the_code_kept(org_setup):
    code = enroll_code(org_setup)
    for bad in ("dev\nx", "设备-1", "dev x", "dev\u0000x"):
        r = Device(org_setup.url, device_id=bad).enroll(code)
        assert r.status_code == 400 and r.json()["field"] in ("device_id", "body"), r.text
    assert Device(org_setup.url).enroll(code).status_code == 200  # the code was not used up


def test_admin_json_with_nan_huge_numbers_or_surrogates_is_refused(org_setup):
    url = f"{org_setup.url}/api/v1/regions"
    h = {**org_setup.admin, "Content-Type": "application/json"}
    for body in (b'{"id": "R-P1", "name": NaN, "level": "town", "parent_id": "R-1"}',
                 b'{"id": "R-P1", "name": 1e400, "level": "town", "parent_id": "R-1"}',
                 b'{"id": "R-P1", "name": 1' + b"0" * 400 + b', "level": "town"}',
                 b'{"id": "R-P1", "name": "\\ud800", "level": "town", "parent_id": "R-1"}'):
        r = requests.post(url, data=body, headers=h, timeout=10)
        assert r.status_code == 400, (body[:50], r.text)
    names = [row["name"] for row in requests.get(url, headers=org_setup.admin, timeout=10).json()]
    assert "nan" not in names and "inf" not in names


def test_stats_dates_outside_the_years_of_dates_are_refused(org_setup):
    r = requests.get(f"{org_setup.url}/api/v1/stats?from=2026-01-01&to=9999-12-31",
                     headers=org_setup.admin, timeout=10)
    assert r.status_code == 400 and r.json()["field"] == "to", r.text


def test_qr_token_with_non_ascii_digits_is_an_expired_link_not_a_500(org_setup):
    for token in ("a.%C2%B2.b", "a.%D9%A1%D9%A2.b", "%C3%A9.1.b"):
        r = requests.get(f"{org_setup.url}/r/W-001?t={token}", timeout=10)
        assert r.status_code == 410, (token, r.status_code)


def test_qr_rating_counts_a_repeated_reason_once_and_drops_nul(org_setup):
    body = ("level=very_dissatisfied&" + "reasons=attitude&" * 20 + "comment=a%00b&form_id="
            + form_id(org_setup.url, "W-001"))
    r = requests.post(f"{org_setup.url}/r/W-001", data=body, timeout=10,
                      headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 200, r.text[:300]
    with read(org_setup.engine) as conn:
        row = conn.execute(select(ratings.c.reasons, ratings.c.comment)).one()
    assert json.loads(row[0]) == ["attitude"] and row[1] == "ab"


def test_an_unexpected_error_is_one_logged_500_and_the_connection_lives(org_setup):
    def boom():
        raise RuntimeError("a bug")

    org_setup.app.add_api_route("/boom-for-test", boom)
    org_setup.app.add_api_route("/dashboard/boom-for-test", boom)
    seen: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = seen.append
    logger = logging.getLogger("aggregator")
    level = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        with requests.Session() as s:
            r = s.get(f"{org_setup.url}/boom-for-test", timeout=10)
            assert r.status_code == 500 and r.json()["error"] == "internal"
            # the same keep-alive connection answers the next request (it was closed)
            assert s.get(f"{org_setup.url}/healthz", timeout=10).status_code == 200
            page = s.get(f"{org_setup.url}/dashboard/boom-for-test", timeout=10)
            assert page.status_code == 500 and "<html" in page.text.lower()
            assert page.headers["x-frame-options"] == "DENY"
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    access = [getattr(rec, "fields", {}) for rec in seen if rec.getMessage() == "request"]
    assert any(a.get("path") == "/boom-for-test" and a.get("status") == 500 for a in access)
    assert sum(rec.getMessage() == "unhandled error" for rec in seen) == 2  # one per request


def test_no_page_can_be_framed_by_another_site(org_setup):
    # Clickjacking: any site could frame the dashboard and the phone page.
    for path in ("/dashboard/login", "/r/W-001", "/healthz", "/public/units"):
        r = requests.get(org_setup.url + path, timeout=10)
        assert r.headers["x-frame-options"] == "DENY", path
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"], path
        assert r.headers["x-content-type-options"] == "nosniff"


def test_forwarded_headers_count_only_from_a_trusted_proxy():
    # The instances listen on all addresses for nginx on another host: a client that reached
    # one directly wrote X-Forwarded-For itself, and each made-up address was a new client to
    # the QR limit and the sign-in lockout. (Any private address was trusted until
    # AGGREGATOR_TRUSTED_PROXIES: tests/dashboard/test_auth_proxy.py.)
    from types import SimpleNamespace

    from starlette.requests import Request

    from aggregator.proxy import client_ip, is_https
    from aggregator.settings import Settings

    app = SimpleNamespace(state=SimpleNamespace(settings=Settings(
        trust_proxy=True, trusted_proxies="127.0.0.1,::1,10.0.0.5,192.168.1.0/24")))

    def request(peer: str) -> Request:
        return Request({"type": "http", "app": app, "client": (peer, 40000), "scheme": "http",
                        "path": "/", "query_string": b"", "server": ("10.0.0.11", 8700),
                        "headers": [(b"x-forwarded-for", b"198.51.100.7"),
                                    (b"x-forwarded-proto", b"https")]})
    for proxy in ("127.0.0.1", "10.0.0.5", "192.168.1.2", "::1"):
        assert client_ip(request(proxy)) == "198.51.100.7" and is_https(request(proxy))
    direct = request("1.2.3.4")   # a public address (the documentation ranges count as private)
    assert client_ip(direct) == "1.2.3.4" and not is_https(direct)
    other = request("10.0.0.6")   # private, but not a proxy: an intranet PC
    assert client_ip(other) == "10.0.0.6" and not is_https(other)
