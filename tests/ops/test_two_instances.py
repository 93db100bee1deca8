"""Two aggregator instances (each ``--workers 2``) on one PostgreSQL behind nginx, all real
processes on loopback: the deployment docs/operations.md describes for a city or province."""

from __future__ import annotations

import threading

import requests

from aggregator import rollups
from aggregator.db import make_engine, read
from tests.aggregator.device import Device
from tests.ops.helpers import ADMIN_TOKEN, needs_nginx, needs_pg, setup_org, wait_http

LEVELS = ["very_satisfied", "satisfied", "basic_satisfied", "dissatisfied", "very_dissatisfied"]


def post(device: Device, base: str, body: bytes) -> requests.Response:
    path = "/api/v1/batches"
    h = {"Content-Type": "application/json", "Content-Encoding": "gzip",
         **device.headers("POST", path, body)}
    return requests.post(base + path, data=body, headers=h, timeout=60)


def post_at_once(device: Device, bases: list[str], body: bytes) -> list[requests.Response]:
    """The same frozen batch to every base URL at the same moment (one thread each)."""
    barrier = threading.Barrier(len(bases))
    out: list = [None] * len(bases)

    def send(i):
        barrier.wait()
        out[i] = post(device, bases[i], body)
    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(bases))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def counts(url: str, device_id: str | None = None) -> dict:
    engine = make_engine(url)
    where = f" WHERE device_id = '{device_id}'" if device_id else ""
    with read(engine) as conn:
        out = {
            "events": conn.exec_driver_sql(f"SELECT count(*) FROM events{where}").scalar(),
            "ratings": conn.exec_driver_sql(f"SELECT count(*) FROM ratings{where}").scalar(),
            "rollup": conn.exec_driver_sql(
                'SELECT COALESCE(SUM("count"), 0) FROM rollup_daily '
                "WHERE level <> 'not_rated'").scalar(),
        }
    engine.dispose()
    return out


@needs_pg
@needs_nginx
def test_two_instances_behind_nginx_store_a_batch_once_and_keep_rollups_exact(
        pg_url, processes):
    codes = setup_org(pg_url, 9)
    a, proc_a = processes.aggregator(pg_url, workers=2, name="a", wait=False)
    b, proc_b = processes.aggregator(pg_url, workers=2, name="b", wait=False)
    wait_http(a + "/healthz", proc_a, proc_a.log)  # both started at once: migrations raced
    wait_http(b + "/healthz", proc_b, proc_b.log)
    proxy = processes.nginx([int(a.rsplit(":", 1)[1]), int(b.rsplit(":", 1)[1])])
    assert requests.get(proxy + "/healthz", timeout=5).json()["database"] == "postgresql"

    # 1. The same batch sent to both instances at once, five times over: one row per event.
    twin = Device(proxy, window_id="W-001")
    assert twin.enroll(codes[0]).status_code == 200
    sent = 0
    for round_ in range(5):
        events = [twin.rating(LEVELS[k % 5]) for k in range(60)]
        sent += len(events)
        body = twin.batch_body(events)
        answers = post_at_once(twin, [a, b, proxy], body)
        assert [r.status_code for r in answers] == [200, 200, 200], [r.text for r in answers]
        for i in range(len(events)):
            statuses = sorted(r.json()["results"][i]["status"] for r in answers)
            # Exactly one copy stored; the others see it as a duplicate (a success).
            assert statuses == ["accepted", "duplicate", "duplicate"], (round_, i, statuses)
        for r in answers:
            assert r.json()["high_water"] == {twin.stream_id: sent}
    c = counts(pg_url, twin.id)
    assert (c["events"], c["ratings"]) == (sent, sent)

    # 2. Eight kiosks posting through nginx at the same time, each batch sent twice (a lost
    # answer's retry): rollups equal the ratings, monthly equals daily.
    per_device, batches = 8, 6
    devices = []
    for k in range(1, per_device + 1):
        d = Device(proxy, window_id=f"W-{k + 1:03d}")
        assert d.enroll(codes[k]).status_code == 200
        devices.append(d)
    errors: list[str] = []

    def kiosk(d: Device, seed: int):
        for j in range(batches):
            evs = [d.rating(LEVELS[(seed + j + n) % 5], invitation_id=None) for n in range(50)]
            body = d.batch_body(evs)
            for _ in range(2):
                r = post(d, proxy, body)
                if r.status_code != 200:
                    errors.append(r.text[:300])
                    return
    threads = [threading.Thread(target=kiosk, args=(d, k)) for k, d in enumerate(devices)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]

    total = sent + per_device * batches * 50
    c = counts(pg_url)
    assert c == {"events": total, "ratings": total, "rollup": total}
    engine = make_engine(pg_url)
    with read(engine) as conn:
        assert rollups.check_monthly(conn) == []
        by_rating = dict(conn.exec_driver_sql(
            "SELECT window_id || '/' || level, count(*) FROM ratings "
            "GROUP BY window_id, level").all())
        by_rollup = {k: int(v) for k, v in conn.exec_driver_sql(
            "SELECT window_id || '/' || level, SUM(\"count\") FROM rollup_daily "
            "WHERE level <> 'not_rated' GROUP BY window_id, level").all()}
        stars = conn.exec_driver_sql(
            "SELECT (SELECT SUM(stars) FROM ratings), (SELECT SUM(stars_sum) FROM "
            "rollup_daily), (SELECT SUM(stars_sum) FROM rollup_monthly)").one()
    engine.dispose()
    assert by_rollup == by_rating
    assert stars[0] == stars[1] == stars[2]

    # Both instances took part: each one's /metrics counted accepted events.
    accepted = []
    for base in (a, b):
        text = requests.get(base + "/metrics", timeout=10).text
        line = [x for x in text.splitlines()
                if x.startswith('aggregator_events_total{status="accepted"}')]
        accepted.append(float(line[0].split()[-1]) if line else 0.0)
    assert sum(accepted) == total
    assert all(n > 0 for n in accepted), accepted

    # The stats API through the proxy sees every rating.
    r = requests.get(proxy + "/api/v1/stats", params={"group_by": "unit", "from": "2000-01-01",
                                                      "to": "2100-01-01"},
                     headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=30)
    assert r.status_code == 200, r.text
    row = r.json()["rows"][0]
    assert row["rated"] + row["flagged"] == total
