"""Attacks: forged and replayed batches, a revoked device, a device posting as another,
enrolment-code reuse and expiry, brute force on the technician PIN and the dashboard login, role
escalation, CSRF, SQL-injection strings and script tags in every text field the dashboard shows.

Each attack is one "try"; each one that is not refused is a problem. What was stored before an
attack is still there after it (recorded = events sent honestly; on_server = still held).

(tests/aggregator/test_auth.py, test_enroll.py and tests/dashboard/test_scoping.py cover single
cases in CI; this runs them all against one server and counts.)
"""

from __future__ import annotations

import gzip
import json
import re
import tempfile
import time
import uuid
from pathlib import Path

import requests

from tests.qr_form import qr_post
from tests.reliability.harness import LiveServer, Row, count_5xx, server_events, tally

PAYLOADS = ("<script>alert('xss')</script>", "'; DROP TABLE ratings; --",
            "\" onmouseover=\"alert(1)", "' OR '1'='1", "<img src=x onerror=alert(1)>")


def _expect(row: Row, what: str, r: requests.Response, statuses, error: str | None = None):
    row.tried += 1
    ok = r.status_code in statuses
    if ok and error:
        try:
            ok = r.json().get("error") == error
        except ValueError:
            ok = False
    row.check(ok, f"{what}: got {r.status_code} {r.text[:160]}")


def _device_attacks(srv: LiveServer, row: Row) -> None:
    from nacl.signing import SigningKey

    from tests.aggregator.device import Device, now_iso

    a = Device(srv.url, window_id="W-REL-1")
    b = Device(srv.url, window_id="W-REL-2")
    for d in (a, b):
        assert d.enroll(srv.admin.enroll_code(d.window_id)["code"]).status_code == 200

    def rating(d):
        return d.rating("satisfied", unit_id="U-REL", staff_id="S-REL-1")

    honest = [rating(a) for _ in range(5)]
    r = a.post_batch(honest)
    assert r.status_code == 200, r.text
    # forged: signed with a key that is not the device's
    _expect(row, "forged signature", a.post_batch([rating(a)], key=SigningKey.generate()),
            (401,))
    a.seq, a.prev = 5, honest[-1]["hash"]
    # replayed request: the same bytes, headers and nonce again
    body = a.batch_body([rating(a)])
    h = {"Content-Type": "application/json", "Content-Encoding": "gzip",
         **a.headers("POST", "/api/v1/batches", body)}
    first = requests.post(srv.url + "/api/v1/batches", data=body, headers=h, timeout=10)
    row.check(first.status_code == 200, f"honest batch refused: {first.text[:100]}")
    held = len(server_events(srv.engine, a.id))
    # (answered with what the server holds of it, and nothing kept: a proxy may send twice)
    again = requests.post(srv.url + "/api/v1/batches", data=body, headers=h, timeout=10)
    row.tried += 1
    row.check(again.status_code == 200 and [x["status"] for x in again.json()["results"]]
              == ["duplicate"] and len(server_events(srv.engine, a.id)) == held,
              f"replayed request: got {again.status_code} {again.text[:160]}")
    # a used nonce with a new body (a device's key signing anything under it) is refused
    other = a.batch_body([rating(a)])
    _expect(row, "new body under a used nonce", requests.post(
        srv.url + "/api/v1/batches", data=other, timeout=10, headers={
            "Content-Type": "application/json", "Content-Encoding": "gzip",
            **a.headers("POST", "/api/v1/batches", other, nonce=h["X-Nonce"])}),
        (401,), "replayed")
    # replayed batch with a fresh signature: all duplicates, nothing counted twice
    r = a.post_batch(body=body)
    row.tried += 1
    row.check(r.status_code == 200 and all(x["status"] == "duplicate" for x in r.json()["results"]),
              f"re-signed replay not all duplicate: {r.text[:160]}")
    # stale timestamp (a captured request sent an hour later)
    _expect(row, "stale timestamp", a.post_batch([rating(a)], timestamp=now_iso(-3600)), (401,),
            "clock_skew")
    a.seq, a.prev = 6, server_events(srv.engine, a.id)[-1]["hash"]
    # b posts as a: a's id in the header, b's key
    ev = rating(a)
    body = a.batch_body([ev])
    h = {"Content-Type": "application/json", "Content-Encoding": "gzip",
         **a.headers("POST", "/api/v1/batches", body, key=b.key)}
    _expect(row, "device posting as another (header)", requests.post(
        srv.url + "/api/v1/batches", data=body, headers=h, timeout=10), (401,))
    # b signs honestly but the body claims to be a
    raw = gzip.compress(json.dumps({"protocol": 1, "device_id": a.id, "batch_id": str(
        uuid.uuid4()), "events": [ev]}).encode())
    _expect(row, "device posting as another (body)", b.post_batch(body=raw), (400, 401, 403))
    # b rates for a's window in its own stream
    r = b.post_batch([b.rating("very_satisfied", window_id="W-REL-1", unit_id="U-REL")])
    row.tried += 1
    row.check(r.status_code in (400, 403) or (r.status_code == 200 and r.json()["results"][0][
        "status"] == "rejected"), f"rating for another window accepted: {r.text[:160]}")
    a.seq, a.prev = 6, server_events(srv.engine, a.id)[-1]["hash"]
    # revoked: refused, and what it sent is kept
    before = len(server_events(srv.engine, a.id))
    srv.admin.revoke(a.id)
    _expect(row, "revoked device", a.post_batch([rating(a)]), (401,), "device_revoked")
    row.check(len(server_events(srv.engine, a.id)) == before, "revoking lost events")
    tally(row, [e["id"] for e in honest], [e["id"] for e in server_events(srv.engine, a.id)])
    # enrolment codes: reuse, expiry, unknown
    code = srv.admin.enroll_code("W-REL-3")["code"]
    c = Device(srv.url, window_id="W-REL-3")
    row.check(c.enroll(code).status_code == 200, "fresh code refused")
    _expect(row, "enrolment code reuse", Device(srv.url).enroll(code), (410,), "code_used")
    short = srv.admin.enroll_code("W-REL-3", ttl_hours=0.0003)["code"]  # about a second
    time.sleep(1.5)
    _expect(row, "expired enrolment code", Device(srv.url).enroll(short), (410,), "code_expired")
    _expect(row, "guessed enrolment code", Device(srv.url).enroll("AAA-BBB-CCC"), (404,),
            "unknown_code")
    _expect(row, "admin API without token", requests.get(srv.url + "/api/v1/devices",
                                                         timeout=10), (401, 403))


def _technician_pin(row: Row, guesses: int) -> None:
    from kiosk.pin import hash_pin
    from kiosk.technician import TechnicianLock

    now = [0.0]
    lock = TechnicianLock(hash_pin("739146", iterations=1000), clock=lambda: now[0])
    opened = checked = 0
    for n in range(guesses):  # one guess a second, sequentially through the PIN space
        attempt = lock.check(f"{n:06d}")
        row.tried += 1
        checked += attempt.locked_for == 0 or attempt.tries_left > 0
        opened += attempt.ok
        now[0] += 1.0
    row.check(opened == 0, f"technician PIN brute force opened the lock {opened} times")
    row.check(lock.remaining() > 0, "technician lock not locked after a brute force")


def _dashboard(srv: LiveServer, row: Row, login_tries: int) -> None:
    from aggregator import demo
    from aggregator.dashboard import sample
    from aggregator.db import utcnow
    from tests.dashboard.helpers import Dashboard, csrf_of

    demo.run(srv.engine, months=1, seed=3, follow_up=False)
    info = sample.seed(srv.engine, utcnow())
    dash = Dashboard(srv.url, srv.engine, info["users"])
    # script tags and SQL in every text field an admin can set, then every page that shows them
    admin = srv.admin
    tag = PAYLOADS[0]
    admin.save("windows", [{"id": "W-001", "name": "民政" + PAYLOADS[4], "unit_id": "U-01"}])
    admin.save("staff", [{"id": "S-XSS", "name": "王" + tag, "staff_no": PAYLOADS[1][:20],
                          "unit_id": "U-01", "window_id": "W-001", "pledge": PAYLOADS[2],
                          "post": PAYLOADS[3]}])
    r = qr_post(srv.url, "W-001", {"level": "very_dissatisfied", "comment": tag,
                                    "phone": "13800001234", "consent": "1"})
    # stored (the pages below must show it escaped), not refused
    row.check(r.status_code == 200, f"QR page with a script tag: {r.status_code}")
    s = dash.login("admin")
    for path in ("/dashboard/", "/dashboard/roster", "/dashboard/units/U-01",
                 "/dashboard/windows/W-001", "/dashboard/cases?state=all",
                 "/dashboard/rankings?group=staff", "/dashboard/rankings?group=window",
                 "/dashboard/devices", "/public/units/U-01"):
        page = s.get(srv.url + path, timeout=30)
        row.tried += 1
        row.check(page.status_code == 200, f"{path}: {page.status_code}")
        for p in (tag, PAYLOADS[4], PAYLOADS[2]):
            row.check(p not in page.text, f"{path}: unescaped {p!r}")
    case_ids = re.findall(r"/dashboard/cases/(\d+)", s.get(srv.url + "/dashboard/cases?state=all",
                                                         timeout=30).text)
    for cid in case_ids[:5]:
        page = s.get(f"{srv.url}/dashboard/cases/{cid}", timeout=30)
        row.tried += 1
        row.check(tag not in page.text, f"case {cid}: unescaped script tag")
    row.check(admin.devices() is not None, "tables gone after SQL strings")
    # role escalation
    u01 = dash.login("u01")
    for path in ("/dashboard/units/U-02", "/dashboard/api/units/U-02",
                 "/dashboard/rankings?unit=U-02", "/dashboard/regions/R-D",
                 "/dashboard/settings"):
        _expect(row, f"unit manager reads {path}", u01.get(srv.url + path, allow_redirects=False,
                                                           timeout=30), (403, 404))
    other = dash.case_id("U-02")
    _expect(row, "unit manager reads another unit's case",
            u01.get(f"{srv.url}/dashboard/api/cases/{other}", timeout=30), (404,))
    phone_case = dash.phone_case()
    for user in ("viewer", "u01"):
        page = dash.login(user).get(f"{srv.url}/dashboard/cases/{phone_case}", timeout=30)
        row.tried += 1
        row.check(sample.PHONE not in page.text,
                  f"{user} (below supervisor, not assignee) sees the rater's phone")
    viewer = dash.login("viewer")
    csrf = csrf_of(viewer, srv.url + "/dashboard/cases")
    _expect(row, "viewer changes a case", viewer.post(
        f"{srv.url}/dashboard/cases/{phone_case}/action", data={"action": "verify", "csrf": csrf},
        allow_redirects=False, timeout=30), (403, 404))
    # CSRF: no token, wrong token, login without the double-submit cookie
    case = dash.case_id("U-01")
    _expect(row, "CSRF without token", u01.post(f"{srv.url}/dashboard/cases/{case}/action",
                                                data={"action": "verify"},
                                                allow_redirects=False, timeout=30), (403,))
    _expect(row, "CSRF wrong token", u01.post(f"{srv.url}/dashboard/cases/{case}/action",
                                              data={"action": "verify", "csrf": "x" * 43},
                                              allow_redirects=False, timeout=30), (403,))
    _expect(row, "CSRF on the password change", u01.post(
        f"{srv.url}/dashboard/account/password", data={
            "current": sample.PASSWORD, "new": "Attacker-Chosen-1", "again": "Attacker-Chosen-1"},
        allow_redirects=False, timeout=30), (403,))
    _expect(row, "login without CSRF cookie", requests.post(
        srv.url + "/dashboard/login", data={"username": "admin", "password": "x", "csrf": "y"},
        allow_redirects=False, timeout=30), (403,))
    # brute force on the login: after five failures even the right password is refused
    dash.clear_lockouts()
    b = requests.Session()
    token = re.search(r'name="csrf" value="([^"]+)"', b.get(srv.url + "/dashboard/login").text)[1]
    opened = 0
    for n in range(login_tries):
        r = b.post(srv.url + "/dashboard/login", data={"username": "jfb", "password": f"guess{n}",
                                                        "csrf": token}, allow_redirects=False,
                   timeout=30)
        row.tried += 1
        opened += r.status_code == 303
    row.check(opened == 0, f"login brute force got in {opened} times")
    r = b.post(srv.url + "/dashboard/login", data={"username": "jfb", "password": sample.PASSWORD,
                                                    "csrf": token}, allow_redirects=False,
               timeout=30)
    _expect(row, "right password while locked", r, (429,))
    dash.clear_lockouts()


def run(brute_force: int = 50, workdir: Path | None = None) -> Row:
    row = Row("attacks")
    workdir = Path(workdir or tempfile.mkdtemp(prefix="rel-attacks-"))
    with LiveServer(workdir / "aggregator.db") as srv:
        _device_attacks(srv, row)
        _technician_pin(row, brute_force * 20)
        _dashboard(srv, row, brute_force)
        count_5xx(row, srv.counter)
    row.note = f"{brute_force} login guesses, {brute_force * 20} PIN guesses; " \
               f"{len(PAYLOADS)} injection strings" + ("; " + row.note if row.note else "")
    return row
