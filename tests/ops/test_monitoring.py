"""Monitoring and fleet operations on a served aggregator: ``/healthz``, ``/metrics`` in the
Prometheus text format, the device page's config version and the remote "sync now"."""

from __future__ import annotations

import datetime as dt
import os

import requests
from prometheus_client.parser import text_string_to_metric_families

from aggregator.dashboard import accounts
from aggregator.dashboard.devices import take_sync_now
from aggregator.db import driver_time, make_engine, utcnow, write
from tests.aggregator.device import Device
from tests.dashboard.helpers import Dashboard, csrf_of
from tests.ops.helpers import setup_org

PASSWORD = "Ops-Passw0rd-2026"


def scrape(base: str) -> dict:
    """{(name, frozenset(labels)): value} of every sample /metrics serves (parsed with
    prometheus-client's own parser, so a format error fails the test)."""
    r = requests.get(base + "/metrics", timeout=10)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    out = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(samples: dict, name: str, **labels) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def login(base: str, username: str) -> tuple[requests.Session, str]:
    s = Dashboard(base, engine=None, users={}).login(username, PASSWORD)
    return s, csrf_of(s, f"{base}/dashboard/devices")


def test_metrics_health_config_version_and_sync_now(database_url, processes):
    codes = setup_org(database_url, 2)
    engine = make_engine(database_url)
    with write(engine) as conn:
        accounts.create_user(conn, "manager", PASSWORD, "unit_manager", unit_id="U-01",
                             language="en", now=utcnow())
        accounts.create_user(conn, "viewer", PASSWORD, "viewer", unit_id="U-01",
                             language="en", now=utcnow())
    base, _ = processes.aggregator(database_url, workers=2)
    assert requests.get(base + "/healthz", timeout=5).json()["status"] == "ok"

    kiosk, quiet = Device(base, window_id="W-001"), Device(base, window_id="W-002")
    assert kiosk.enroll(codes[0]).status_code == 200
    assert quiet.enroll(codes[1]).status_code == 200
    before = scrape(base)
    evs = [kiosk.event("config_applied", {"etag": "e1", "version": 1})]
    evs += [kiosk.rating("very_dissatisfied" if k % 4 == 0 else "very_satisfied")
            for k in range(40)]
    r = kiosk.post_batch(evs[:30])
    assert r.status_code == 200
    r = kiosk.post_batch(evs)  # a retry with more: 30 duplicates, 11 new
    assert r.status_code == 200
    assert kiosk.post_json("/api/v1/heartbeat", {"app_version": "0.2.0", "pending": 12,
                                                 "oldest_pending_age_s": 95.5,
                                                 "config_version": 1}).status_code == 200
    with write(engine) as conn:  # the other kiosk went silent three days ago; a case is late
        conn.exec_driver_sql(
            "UPDATE devices SET last_seen_at = ? WHERE id = ?" if engine.dialect.name == "sqlite"
            else "UPDATE devices SET last_seen_at = %s WHERE id = %s",
            (driver_time(engine, utcnow() - dt.timedelta(days=3)), quiet.id))
        conn.exec_driver_sql("UPDATE cases SET answer_due = '2000-01-01' WHERE id = "
                             "(SELECT min(id) FROM cases)")

    # /metrics (two workers: the batch counters are summed across them)
    m = scrape(base)
    prev = value(before, "aggregator_events_total", status="accepted") or 0
    assert value(m, "aggregator_events_total", status="accepted") - prev == 41
    assert value(m, "aggregator_events_total", status="duplicate") == 30
    assert value(m, "aggregator_batches_total", code="200") == 2
    assert value(m, "aggregator_batch_seconds_count") == 2
    assert value(m, "aggregator_device_backlog_events", device=kiosk.id, window="W-001") == 12
    assert value(m, "aggregator_backlog_events") == 12
    assert value(m, "aggregator_backlog_oldest_seconds") == 95.5
    assert value(m, "aggregator_devices", state="active") == 1
    assert value(m, "aggregator_devices_offline") == 1
    assert value(m, "aggregator_cases_open") == 10
    assert value(m, "aggregator_cases_overdue", deadline="answer") == 1
    assert value(m, "aggregator_cases_overdue", deadline="any") == 1
    free = value(m, "aggregator_database_disk_free_bytes")
    if engine.dialect.name == "sqlite":   # the filesystem of the database file, as df sees it
        st = os.statvfs(os.path.dirname(engine.url.database))
        assert free is not None and abs(free - st.f_bavail * st.f_frsize) < 0.05 * (
            st.f_blocks * st.f_frsize)
    else:
        assert free is None

    # The device page shows each kiosk's config version; a manager asks one to sync now.
    s, csrf = login(base, "manager")
    page = s.get(f"{base}/dashboard/devices").text
    assert 'data-config-version="1"' in page
    assert "Sync now" in page and "data-sync-pending" not in page
    r = s.post(f"{base}/dashboard/devices/{kiosk.id}/sync-now", data={"csrf": csrf},
               allow_redirects=False)
    assert r.status_code == 303, r.text[:300]
    assert "data-sync-pending" in s.get(f"{base}/dashboard/devices").text
    # Without the CSRF token, or as a viewer, nothing is asked.
    assert s.post(f"{base}/dashboard/devices/{quiet.id}/sync-now", data={}).status_code == 403
    v, v_csrf = login(base, "viewer")
    assert v.post(f"{base}/dashboard/devices/{quiet.id}/sync-now",
                  data={"csrf": v_csrf}).status_code == 403
    # The request is handed over exactly once (in the kiosk's next heartbeat answer).
    with write(engine) as conn:
        assert take_sync_now(conn, quiet.id, utcnow()) is False
        assert take_sync_now(conn, kiosk.id, utcnow()) is True
        assert take_sync_now(conn, kiosk.id, utcnow()) is False
    assert "data-sync-pending" not in s.get(f"{base}/dashboard/devices").text
    engine.dispose()
