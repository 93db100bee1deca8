"""What the overview and the rankings read instead of scanning (performance issue #8) must
give the same figures as the full rows it stands for: each test compares a fast path with
the rows counted by hand. SQLite and, with AGGREGATOR_TEST_PG_URL, PostgreSQL."""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict

import pytest
from sqlalchemy import event, select, text

from aggregator import constants as C
from aggregator import demo, rollups, stats
from aggregator.dashboard import overview, queue, rankings, web
from aggregator.dashboard.cases import overdue
from aggregator.dashboard.i18n import translator
from aggregator.dashboard.tables import cases
from aggregator.db import make_engine, read, utcnow, write
from aggregator.migrations import m0040_rollup_unit_daily, m0042_rollup_window_monthly, migrate
from aggregator.schema import rollup_daily


@pytest.fixture(scope="module")
def engine(database_url):
    """Two months of demo ratings (cases worked through every state), plus invitations that
    timed out and invited, flagged ratings written through ``rollups.add``, and alerts."""
    engine = make_engine(database_url)
    migrate(engine)
    demo.run(engine, months=2, seed=5)
    with write(engine) as conn:
        keys = conn.execute(select(rollup_daily.c.day, rollup_daily.c.window_id,
                                   rollup_daily.c.unit_id, rollup_daily.c.staff_id,
                                   rollup_daily.c.service_item)
                            .where(rollup_daily.c.level == "satisfied")
                            .order_by(rollup_daily.c.day, rollup_daily.c.window_id)
                            .limit(60)).all()
        places = [dict(day=k[0], window_id=k[1], unit_id=k[2], staff_id=k[3] or None,
                       service_item=k[4] or None) for k in keys]
        rollups.add(conn, [dict(p, level="very_satisfied", stars=5, invitation_id="inv",
                                flagged=i % 3 == 0) for i, p in enumerate(places)],
                    [p for p in places for _ in range(2)])
        now = utcnow()
        conn.execute(text(
            "INSERT INTO alerts (kind, severity, dedupe_key, device_id, window_id, detail, "
            "created_at, resolved_at) VALUES (:k, :s, :d, NULL, :w, 'x', :t, :r)"),
            # the open ones (even i) by severity are not in the order of their ids
            [{"k": "burst", "d": f"test-{i}", "w": w, "t": now, "r": now if i % 2 else None,
              "s": ("high", "medium", "medium", "low", "low", "high", "low", "low", "medium")[i]}
             for i, w in enumerate(["W-001", "W-004", "W-007"] * 3)])
    yield engine
    engine.dispose()


def _daily_rows(conn, day_from: dt.date, day_to: dt.date) -> list:
    r = rollup_daily.c
    return conn.execute(select(r.day, r.window_id, r.unit_id, r.staff_id, r.service_item,
                               r.level, r.flagged, r.count, r.stars_sum, r.invited)
                        .where(r.day >= day_from.isoformat(), r.day <= day_to.isoformat())
                        ).all()


def _span(conn) -> tuple[dt.date, dt.date]:
    lo, hi = conn.execute(select(text("MIN(day), MAX(day)")).select_from(rollup_daily)).one()
    return dt.date.fromisoformat(lo), dt.date.fromisoformat(hi)


def test_ingest_keeps_the_unit_daily_rollup_equal_to_the_daily_rows(engine):
    with read(engine) as conn:
        assert rollups.check_monthly(conn) == []
        assert conn.execute(text("SELECT COUNT(*) FROM rollup_unit_daily WHERE level = "
                                 "'not_rated'")).scalar() > 0


def test_rebuild_and_migration_40_refill_the_unit_daily_rollup(engine):
    # Rollups written directly (bench, restore scripts) are made whole again by
    # rebuild_monthly; a database from before migration 40 gets the table backfilled.
    with write(engine) as conn:
        conn.execute(text("DELETE FROM rollup_unit_daily WHERE unit_id = 'U-01'"))
        assert rollups.check_monthly(conn)
        rollups.rebuild_monthly(conn)
        assert rollups.check_monthly(conn) == []
        conn.execute(text("DROP TABLE rollup_unit_daily"))
        m0040_rollup_unit_daily.upgrade(conn)
        assert rollups.check_monthly(conn) == []


def test_rebuild_and_migration_42_refill_the_window_monthly_rollup(engine):
    # Same for the per-window monthly rollup the rankings by window, unit and region read.
    with write(engine) as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM rollup_window_monthly WHERE level = "
                                 "'not_rated'")).scalar() > 0
        conn.execute(text("UPDATE rollup_window_monthly SET stars_sum = stars_sum + 1 "
                          "WHERE window_id = 'W-001'"))
        conn.execute(text("DELETE FROM rollup_window_monthly WHERE unit_id = 'U-02'"))
        assert rollups.check_monthly(conn)
        rollups.rebuild_monthly(conn)
        assert rollups.check_monthly(conn) == []
        conn.execute(text("DROP TABLE rollup_window_monthly"))
        m0042_rollup_window_monthly.upgrade(conn)
        assert rollups.check_monthly(conn) == []


@pytest.mark.parametrize("include_flagged", [False, True])
def test_daily_trend_equals_the_daily_rollups_summed(engine, include_flagged):
    with read(engine) as conn:
        lo, hi = _span(conn)
        rows = _daily_rows(conn, lo, hi)
        for allowed in ({"U-01", "U-02", "U-03", "U-04"}, {"U-02"}):
            want: dict = defaultdict(lambda: [0, 0, 0])
            for day, _, unit, _, _, level, flagged, n, _, _ in rows:
                if unit not in allowed or level == C.NOT_RATED or (flagged and not include_flagged):
                    continue
                w = want[day]
                w[0] += int(n)
                w[1] += int(n) if C.STARS[level] >= C.SATISFIED_STARS else 0
                w[2] += int(n) if C.STARS[level] <= C.BAD_STARS else 0
            got = rankings.daily_trend(conn, allowed, lo, hi, include_flagged)
            assert len(got) == (hi - lo).days + 1
            assert {d["day"]: [d["rated"], d["satisfied"], d["bad"]] for d in got if d["rated"]} \
                == dict(want)


def _compute_by_hand(rows, column: str, include_flagged: bool, unit: str | None) -> dict:
    at = {"window": 1, "unit": 2, "staff": 3, "service_item": 4}[column]
    out: dict = defaultdict(lambda: dict.fromkeys(
        ("rated", "satisfied", "bad", "stars_sum", "flagged", "not_rated", "invited"), 0))
    for row in rows:
        level, flagged, n, stars, invited = row[5], row[6], int(row[7]), int(row[8]), int(row[9])
        if unit is not None and row[2] != unit:
            continue
        g = out[row[at] or None]
        if level == C.NOT_RATED:
            g["not_rated"] += n
            continue
        if flagged:
            g["flagged"] += n
            if not include_flagged:
                continue
        g["rated"] += n
        g["stars_sum"] += stars
        g["invited"] += invited
        g["satisfied"] += n if C.STARS[level] >= C.SATISFIED_STARS else 0
        g["bad"] += n if C.STARS[level] <= C.BAD_STARS else 0
    return dict(out)


@pytest.mark.parametrize("group_by", ["window", "unit", "staff", "service_item"])
def test_compute_equals_the_daily_rollups_summed_by_hand(engine, group_by):
    # stats.compute sums the levels in SQL (one row per key, unit and flagged); each figure
    # must still be what the rows give level by level, for whole months (monthly rollups),
    # parts of months (daily rollups) and both at once.
    with read(engine) as conn:
        lo, hi = _span(conn)
        last_month = hi.replace(day=1)
        month_before = (last_month - dt.timedelta(days=1)).replace(day=1)
        ranges = [(month_before, last_month - dt.timedelta(days=1)), (lo, hi),
                  (lo + dt.timedelta(days=3), last_month + dt.timedelta(days=5))]
        assert stats.compute(conn, group_by, lo, hi)["total"]["not_rated"] > 0
        for day_from, day_to in ranges:
            rows = _daily_rows(conn, day_from, day_to)
            for include_flagged in (False, True):
                for unit in (None, "U-02"):
                    got = stats.compute(conn, group_by, day_from, day_to, unit=unit,
                                        include_flagged=include_flagged)
                    want = _compute_by_hand(rows, group_by, include_flagged, unit)
                    assert {r["key"]: {k: r[k] for k in want[r["key"]]} for r in got["rows"]} \
                        == want, (day_from, day_to, include_flagged, unit)
                    assert got["total"]["rated"] == sum(g["rated"] for g in want.values())


# (group_by, filter, monthly rollup read): every grouping with no filter, a unit, a region
# (the dashboard's scopes) and both, and which monthly rollup each reads. region-grouped with
# a unit is what rankings.ranking turns into unit-grouped, but stats.compute accepts it too.
# The filters after the third select no ratings (a town has no region under it; no unit
# "U-none"): both paths must then give the same empty answer.
FILTERS = ({}, {"unit": "U-02"}, {"region": "R-D"}, {"region": "R-D", "unit": "U-03"},
           {"region": "R-T3"}, {"unit": "U-none"})
COMPARED = [(g, f, "rollup_window_monthly" if g in ("window", "unit", "region")
             else "rollup_monthly")
            for g in ("window", "unit", "region", "staff", "service_item") for f in FILTERS]


@pytest.mark.parametrize("group_by,narrow,table", COMPARED)
def test_compute_reads_the_window_monthly_rollup_and_gives_what_the_monthly_gave(
        engine, group_by, narrow, table):
    # Rankings by window, unit or region read rollup_window_monthly (≈ 7 rows per
    # window-month instead of ≈ 108 with staff and items, issue #8); every output must be
    # what rollup_monthly gives, which is what stats.compute read for every grouping before.
    seen: list[str] = []

    def record(conn, cursor, statement, *args):
        seen.append(statement)

    with read(engine) as conn:
        lo, hi = _span(conn)
        last_month = hi.replace(day=1)
        month_before = (last_month - dt.timedelta(days=1)).replace(day=1)
        ranges = [(last_month, (last_month + dt.timedelta(days=32)).replace(day=1)
                   - dt.timedelta(days=1)),
                  (month_before, last_month - dt.timedelta(days=1)), (lo, hi),
                  (month_before - dt.timedelta(days=40), hi + dt.timedelta(days=40)),
                  (lo + dt.timedelta(days=3), last_month + dt.timedelta(days=5)),
                  (lo + dt.timedelta(days=3), lo + dt.timedelta(days=9))]
        for day_from, day_to in ranges:
            for include_flagged in (False, True):
                args = dict(narrow, include_flagged=include_flagged, prior=7.0)
                event.listen(engine, "before_cursor_execute", record)
                try:
                    got = stats.compute(conn, group_by, day_from, day_to, **args)
                finally:
                    event.remove(engine, "before_cursor_execute", record)
                monthly = stats.plan(conn, day_from, day_to)[0]
                tables = {t for q in seen for t in re.findall(r"FROM (rollup_\w+)", q)}
                if monthly:  # the old path's table only where the new one cannot serve
                    assert tables & {"rollup_window_monthly", "rollup_monthly"} == {table}, \
                        (group_by, day_from, day_to, tables)
                seen.clear()
                stats.WINDOW_MONTH_COLUMNS, kept = set(), stats.WINDOW_MONTH_COLUMNS
                try:
                    want = stats.compute(conn, group_by, day_from, day_to, **args)
                finally:
                    stats.WINDOW_MONTH_COLUMNS = kept
                assert got == want, (day_from, day_to, include_flagged)
                if FILTERS.index(narrow) < 4:  # not comparing two empty answers only
                    assert got["rows"] and got["total"]["rated"] > 0


def test_case_counts_equal_the_cases_counted_one_by_one(engine):
    with read(engine) as conn:
        every = [dict(r) for r in conn.execute(select(cases)).mappings()]
        for allowed in ({"U-01", "U-02", "U-03", "U-04"}, {"U-03"}):
            mine = [c for c in every if c["unit_id"] in allowed]
            for today in (dt.date.today(), dt.date.today() + dt.timedelta(days=20)):
                got = queue.counts(conn, allowed, today)
                for state in ("new", "verified", "rectifying", "answered", "appealed", "closed"):
                    assert got[state] == sum(1 for c in mine if c["state"] == state), state
                assert got["open"] == sum(1 for c in mine if c["state"] != "closed")
                assert got["overdue"] == sum(1 for c in mine if overdue(c, today))
                assert got["overdue"] > 0 or today == dt.date.today()
                assert queue.open_counts(conn, allowed, today) == \
                    {"open": got["open"], "overdue": got["overdue"]}
        scope = {"U-01", "U-02"}
        open_ids = list(conn.execute(text(
            "SELECT alerts.id FROM alerts LEFT JOIN windows ON windows.id = alerts.window_id "
            "LEFT JOIN devices ON devices.id = alerts.device_id WHERE alerts.resolved_at IS NULL "
            "AND (windows.unit_id IN ('U-01', 'U-02') OR devices.unit_id IN ('U-01', 'U-02')) "
            # the most serious first, then the newest (newest alone buried a chain break
            # under a backlog's low no_staff alerts)
            "ORDER BY CASE alerts.severity WHEN 'high' THEN 0 WHEN 'medium' THEN 1 ELSE 2 END, "
            "alerts.id DESC")).scalars())
        assert len(open_ids) >= 3  # the fixture's
        assert overview.count_open_alerts(conn, scope) == len(open_ids)
        assert [a["id"] for a in overview.open_alerts(conn, scope, limit=len(open_ids))] == open_ids
        assert [a["id"] for a in overview.open_alerts(conn, scope, limit=2)] == open_ids[:2]


def _plan(conn, sql: str) -> str:
    if conn.dialect.name == "sqlite":
        return " ".join(str(r[-1]) for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql))
    conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
    return " ".join(r[0] for r in conn.exec_driver_sql("EXPLAIN " + sql))


def test_open_case_and_alert_counts_can_use_the_partial_indexes(engine):
    # The overview counts only open cases and unresolved alerts; the partial indexes keep
    # that the size of the work queue however many closed cases pile up. They are usable
    # only while the queries say "state <> 'closed'" literally (not as a bound parameter).
    allowed = {"U-01", "U-02"}
    assert str(queue.NOT_CLOSED.compile(dialect=engine.dialect)) == "cases.state != 'closed'"
    with engine.connect() as conn:
        today = dt.date.today()
        for q in (
            select(cases.c.state, text("COUNT(*)")).where(
                cases.c.unit_id.in_(sorted(allowed)), queue.NOT_CLOSED).group_by(cases.c.state),
            select(text("COUNT(*)")).select_from(cases).where(
                cases.c.unit_id.in_(sorted(allowed)), queue._overdue_clause(today)),
            select(text("COUNT(*)")).select_from(cases).where(
                cases.c.unit_id.in_(sorted(allowed)), queue.NOT_CLOSED),
        ):
            sql = str(q.compile(conn, compile_kwargs={"literal_binds": True}))
            # PostgreSQL's planner chooses by cost, and on a test's few rows another index
            # can be as cheap (it did in a clean-clone run): its plan is asserted on SQLite,
            # whose choice is by rule; docs/dashboard.md has PostgreSQL's EXPLAIN ANALYZE.
            if engine.dialect.name == "sqlite":
                assert "ix_cases_open" in _plan(conn, sql), sql
        conn.rollback()
        sql = ("SELECT COUNT(*) FROM alerts WHERE resolved_at IS NULL AND "
               "(window_id IN ('W-001', 'W-004') OR device_id IN ('kiosk-W-001'))")
        if engine.dialect.name == "sqlite":
            assert "ix_alerts_open" in _plan(conn, sql)
        conn.rollback()


def _render(source: str, **data) -> str:
    return web.TEMPLATES.from_string(
        '{% from "_macros.html" import ranking_table, rate_bar, change with context %}' + source
    ).render(t=translator("en"), **data)


def test_ranking_rows_render_the_rate_bar_and_change_like_the_macros():
    # The row loop writes rate_bar() and change() out (no macro call per row, issue #8);
    # the overview's KPI still calls change(). Both must render the same.
    changes = [None, 0.012, -0.034, 0.0001, 0.0]
    rates = [None, 0.5, 0.95, 0.95, 1.0]
    rows = [{"key": f"W-{i}", "name": f"window {i}", "rank": i + 1, "rated": 10 * i,
             "bad": i, "rate": rate, "smoothed": 4.5, "score": rate, "mean": 4.5,
             "rate_change": v, "prev_rank": i or None,
             "below_target": rate is not None and rate < 0.8}
            for i, (rate, v) in enumerate(zip(rates, changes))]
    html = _render("{{ ranking_table(report, '/w/') }}", report={
        "group_by": "window", "rows": rows, "target": 0.8})
    # (since 2026-12-05 the ranking score and the mean stars stand between the rate and the
    # change, and the change is in points, its unit in the column's head)
    cells = re.findall(r'<td class="ratecell"><b>[^<]*</b>(.*?)</td>\s*<td class="num" data-score>'
                       r'[^<]*</td>\s*<td class="num">[^<]*</td>\s*<td class="num">(.*?)</td>',
                       html, re.S)
    assert len(cells) == len(rows)
    for row, (bar, change) in zip(rows, cells):
        assert bar == _render("{{ rate_bar(rate, 0.8) }}", rate=row["rate"])
        assert change == _render("{{ change(v, unit=False) }}", v=row["rate_change"])
    assert html.count('<tr class="below">') == 1 and html.count("rankno lead") == 3
    assert 'class="fill warn"' in html and '<span class="down">▼ -3.40</span>' in html
