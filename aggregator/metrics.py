"""``/metrics`` in the Prometheus text format (prometheus-client).

Two kinds of series:

- **Counted in the process** around ``POST /api/v1/batches``: by a small ASGI middleware
  ``aggregator_batches_total{code}`` and the histogram ``aggregator_batch_seconds`` (request
  to answer, commit included); by the endpoint ``aggregator_events_total{status}`` (accepted,
  duplicate, conflict, rejected; from the answer it sends, ``count_events``). The ingest rate is
  ``rate(aggregator_events_total{status="accepted"}[5m])``. With several uvicorn workers
  ``aggregator serve`` sets ``PROMETHEUS_MULTIPROC_DIR`` so every worker's counts are summed
  on whichever worker answers the scrape.
- **Read from the database at scrape time**, so they are the same whichever worker or
  instance is scraped: devices by state, the backlog each device reported in its last
  heartbeat (a series only for devices with a backlog, so 50,000 idle kiosks cost no series;
  plus the total and the oldest age),
  offline devices (not heard from for ``silent_hours``), open alerts by kind, open and
  overdue bad-rating cases; and, on SQLite, the free space under the database file.

Usage::

    metrics.install(app)          # done by create_app
    curl -s 127.0.0.1:8700/metrics
"""

from __future__ import annotations

import collections
import datetime as dt
import os
import time

from fastapi import FastAPI, Request
from fastapi.responses import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import and_, func, or_, select
from starlette.concurrency import run_in_threadpool

from .dashboard.tables import case_callbacks, cases
from .db import database_disk_free, read, utcnow
from .fleet import stored_heartbeat
from .schema import alerts, devices

BATCH_PATH = "/api/v1/batches"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

# Process-level series live in their own registry; in multiprocess mode prometheus-client
# writes them to PROMETHEUS_MULTIPROC_DIR and MultiProcessCollector sums them at scrape time.
PROCESS = CollectorRegistry(auto_describe=True)
BATCHES = Counter("aggregator_batches", "Batch uploads answered, by HTTP status code",
                  ["code"], registry=PROCESS)
EVENTS = Counter("aggregator_events", "Events in answered batches, by result status",
                 ["status"], registry=PROCESS)
LATENCY = Histogram("aggregator_batch_seconds", "Time from batch request to answer "
                    "(authentication, ingest and commit)", buckets=LATENCY_BUCKETS,
                    registry=PROCESS)


class BatchMetrics:
    """ASGI middleware: count batch answers by HTTP status, and their latency."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] != BATCH_PATH or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = {"code": 500}

        async def watch(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)
        try:
            await self.app(scope, receive, watch)
        finally:
            LATENCY.observe(time.perf_counter() - start)
            BATCHES.labels(code=str(status["code"])).inc()


def count_events(results: list[dict]) -> None:
    """Add the events of a batch answer to ``aggregator_events_total``, by status.

    Called by the batch endpoint with the answer it built. (Until 2026-12-02 the middleware
    parsed the sent answer again, ~35 KB for a full batch, on the event loop.)"""
    counts = collections.Counter(r["status"] for r in results)
    for name, n in counts.items():
        EVENTS.labels(status=name).inc(n)


class DatabaseCollector:
    """Fleet and case-queue gauges read from the database at each scrape."""

    def __init__(self, engine, settings):
        self.engine, self.settings = engine, settings

    def describe(self):
        return []

    def collect(self):
        now = utcnow()
        with read(self.engine) as conn:
            yield from _device_families(conn, now, self.settings.silent_hours)
            yield _alert_family(conn)
            yield from _case_families(conn, now, self.settings.timezone_offset_hours)
        yield from _disk_family(self.engine)


def _device_families(conn, now: dt.datetime, silent_hours: int):
    cut = now - dt.timedelta(hours=silent_hours)
    states = {"active": 0, "offline": 0, "revoked": 0}
    backlog = GaugeMetricFamily("aggregator_device_backlog_events", "Events waiting on the "
                                "kiosk, as reported in its last heartbeat",
                                labels=["device", "window"])
    total = oldest = 0
    for r in conn.execute(select(devices.c.id, devices.c.window_id, devices.c.revoked_at,
                                 devices.c.last_seen_at, devices.c.last_heartbeat)):
        if r.revoked_at is not None:
            states["revoked"] += 1
            continue
        states["offline" if r.last_seen_at is None or r.last_seen_at < cut else "active"] += 1
        beat = stored_heartbeat(r.last_heartbeat) or {}   # its fields of the right type only
        pending = beat.get("pending")
        if pending:
            backlog.add_metric([r.id, r.window_id], pending)
            total += pending
            age = beat.get("oldest_pending_age_s")
            if age is not None:
                oldest = max(oldest, float(age))
    family = GaugeMetricFamily("aggregator_devices", "Enrolled devices by state (offline: "
                               f"not heard from for {silent_hours} h)", labels=["state"])
    for state, n in states.items():
        family.add_metric([state], n)
    yield family
    yield GaugeMetricFamily("aggregator_devices_offline", "Devices not heard from for "
                            f"{silent_hours} h (not revoked)", value=states["offline"])
    yield backlog
    yield GaugeMetricFamily("aggregator_backlog_events", "Sum of the backlogs the devices "
                            "reported", value=total)
    yield GaugeMetricFamily("aggregator_backlog_oldest_seconds", "Age of the oldest unsent "
                            "event any device reported", value=oldest)


def _alert_family(conn):
    family = GaugeMetricFamily("aggregator_alerts_open", "Unresolved alerts by kind",
                               labels=["kind"])
    for kind, n in conn.execute(select(alerts.c.kind, func.count())
                                .where(alerts.c.resolved_at.is_(None))
                                .group_by(alerts.c.kind).order_by(alerts.c.kind)):
        family.add_metric([kind], n)
    return family


def _case_families(conn, now: dt.datetime, tz_hours: int):
    today = now.astimezone(dt.timezone(dt.timedelta(hours=tz_hours))).date().isoformat()
    open_ = conn.execute(select(func.count()).select_from(cases)
                         .where(cases.c.state != "closed")).scalar()
    yield GaugeMetricFamily("aggregator_cases_open", "Bad-rating cases not closed", value=open_)
    family = GaugeMetricFamily("aggregator_cases_overdue", "Bad-rating cases past a deadline "
                               "(first contact or answer of an open case; a callback owed, "
                               "closed or not); an appealed case's clocks stop",
                               labels=["deadline"])
    # as the dashboard counts (``queue.overdue_count``): an appealed case waits for a supervisor
    working = and_(cases.c.state != "closed", cases.c.state != "appealed")
    called = select(case_callbacks.c.id).where(case_callbacks.c.case_id == cases.c.id) \
        .correlate(cases).exists()
    callback_late = and_(cases.c.state != "appealed", cases.c.callback_due.is_not(None),
                         cases.c.callback_due < today, ~called)
    first = conn.execute(select(func.count()).select_from(cases).where(
        working, cases.c.first_contact_at.is_(None),
        cases.c.first_contact_due < today)).scalar()
    answer = conn.execute(select(func.count()).select_from(cases).where(
        working, cases.c.answered_at.is_(None),
        cases.c.answer_due < today)).scalar()
    callback = conn.execute(select(func.count()).select_from(cases).where(callback_late)).scalar()
    either = conn.execute(select(func.count()).select_from(cases).where(or_(
        and_(working, or_(
            and_(cases.c.first_contact_at.is_(None), cases.c.first_contact_due < today),
            and_(cases.c.answered_at.is_(None), cases.c.answer_due < today))),
        callback_late))).scalar()
    family.add_metric(["first_contact"], first)
    family.add_metric(["answer"], answer)
    family.add_metric(["callback"], callback)
    family.add_metric(["any"], either)
    yield family


def _disk_family(engine):
    """Free space under the SQLite database file: when it runs out, every upload is refused
    (503 storage_full) until an operator frees some. PostgreSQL's disk is its server's to
    watch (its own exporters), so no series there."""
    free = database_disk_free(engine)
    if free is not None:
        yield GaugeMetricFamily("aggregator_database_disk_free_bytes", "Free bytes (for an "
                                "unprivileged writer) on the filesystem of the SQLite database",
                                value=free)


def _process_registry():
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return registry
    return PROCESS


def install(app: FastAPI) -> None:
    """Add ``GET /metrics`` and the batch middleware to ``app``."""
    db_registry = CollectorRegistry(auto_describe=False)
    db_registry.register(DatabaseCollector(app.state.engine, app.state.settings))

    @app.get("/metrics", tags=["ops"], include_in_schema=True)
    async def metrics(request: Request):
        """Prometheus text format: batches, events, latency, devices, backlog, alerts, cases."""
        def render():
            return generate_latest(_process_registry()) + generate_latest(db_registry)
        return Response(await run_in_threadpool(render), media_type=CONTENT_TYPE_LATEST)

    app.add_middleware(BatchMetrics)
