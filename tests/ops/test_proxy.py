"""Behind nginx (``AGGREGATOR_TRUST_PROXY=1``, as docs/operations.md deploys it), the client's
address is the one nginx saw, whatever ``X-Forwarded-For`` the client sends itself."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import requests
from sqlalchemy import select

from aggregator.dashboard import accounts
from aggregator.dashboard.tables import audit_log
from aggregator.db import make_engine, read, utcnow, write
from aggregator.schema import ratings
from tests.ops.helpers import needs_nginx, setup_org
from tests.qr_form import qr_post


@needs_nginx
def test_a_forged_x_forwarded_for_escapes_neither_the_qr_limit_nor_the_audit_log(
        tmp_path, processes):
    # nginx appends the address it saw to the client's own X-Forwarded-For. The server took
    # the first entry, which the client writes: a phone could send a new made-up address with
    # each QR rating and rate one window without limit (stuffing its satisfaction rate), and
    # a password guesser could escape the per-address sign-in lockout and leave made-up
    # addresses in the audit log.
    url = f"sqlite:///{tmp_path / 'aggregator.db'}"
    setup_org(url, 1)
    engine = make_engine(url)
    with write(engine) as conn:
        accounts.create_user(conn, "admin", "a-long-password", "admin", now=utcnow())
    server, _proc = processes.aggregator(url, workers=1)
    proxy = processes.nginx([urlsplit(server).port])

    form = {"level": "very_satisfied"}
    first = qr_post(proxy, "W-001", data=form, timeout=10,
                          headers={"X-Forwarded-For": "198.51.100.1"})
    assert first.status_code == 200, first.text[:300]
    second = qr_post(proxy, "W-001", data=form, timeout=10,
                           headers={"X-Forwarded-For": "198.51.100.2"})
    assert second.status_code == 200
    with read(engine) as conn:
        flagged = conn.execute(select(ratings.c.flagged).order_by(ratings.c.server_time)).scalars().all()
    # the second is kept flagged (lockout): the made-up address did not make it a new client
    assert [bool(f) for f in flagged] == [False, True], "a made-up X-Forwarded-For escaped the QR limit"

    s = requests.Session()
    page = s.get(f"{proxy}/dashboard/login", timeout=10)
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)[1]
    r = s.post(f"{proxy}/dashboard/login", timeout=10, headers={"X-Forwarded-For": "203.0.113.9"},
               data={"username": "admin", "password": "wrong", "csrf": csrf, "next": ""})
    assert r.status_code == 401
    with read(engine) as conn:
        ips = conn.execute(select(audit_log.c.ip).where(
            audit_log.c.action == "login_invalid")).scalars().all()
    assert ips == ["127.0.0.1"], ips   # where nginx saw the request come from
    engine.dispose()
