"""Invariants the ingest/stats fast paths rely on (no timings here: see bench/bench_ingest.py)."""

from __future__ import annotations

import datetime as dt
import json

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import inspect, select

from aggregator import rollups, stats
from aggregator.db import driver_time, read, write
from aggregator.schema import events, metadata, ratings, rollup_daily
from aggregator.validation import hash_and_payload
from sync.protocol import event_hash

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=4),
    max_leaves=12)
TEXT = st.text(max_size=30)  # any characters: quotes, backslashes, ',"payload":' …


@settings(max_examples=300, deadline=None)
@given(payload=st.dictionaries(st.text(max_size=10), JSON, max_size=6), boot=TEXT, dev=TEXT,
       t=TEXT, prev=TEXT, sid=TEXT, typ=TEXT, seq=st.integers(1, 2**63 - 1),
       mono=st.integers(0, 2**63 - 1))
def test_hash_and_payload_match_the_protocol(payload, boot, dev, t, prev, sid, typ, seq, mono):
    ev = {"id": "e", "device_id": dev, "stream_id": sid, "seq": seq, "type": typ,
          "device_time": t, "boot_id": boot, "mono_ns": mono, "payload": payload,
          "prev_hash": prev}
    expected = event_hash(ev, prev)
    # without the sent hash, then with it (orjson's form is tried first and must agree)
    for sent in (None, expected, "0" * 64):
        if sent is not None:
            ev["hash"] = sent
        digest, text, nul = hash_and_payload(ev)
        assert digest == expected
        assert text == json.dumps(payload, sort_keys=True, separators=(",", ":"),
                                  ensure_ascii=False)
        assert nul == any("\x00" in s for s in _strings(ev))


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def test_nul_is_found_but_not_a_written_backslash_u0000():
    # PostgreSQL text cannot hold U+0000, so ingest refuses such an event on every backend;
    # the six characters \u0000 typed as text are not a NUL and must pass.
    base = {"id": "e", "device_id": "d", "stream_id": "s", "seq": 1, "type": "rating",
            "device_time": "t", "boot_id": "b", "mono_ns": 0, "prev_hash": "0" * 64}
    for text, nul in (("a\x00b", True), ("\\u0000", False), ("\\\x00", True),
                      ("\\\\u0000", False), ("plain", False)):
        ev = dict(base, payload={"staff_name": text})
        assert hash_and_payload(ev)[2] is nul, repr(text)


def test_driver_time_is_what_core_writes(database_url, settings):
    from aggregator import create_app
    engine = create_app(database_url, settings=settings).state.engine
    proc = ratings.c.server_time.type._cached_bind_processor(engine.dialect)
    for v in (dt.datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=dt.timezone(dt.timedelta(hours=8))),
              dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)):
        assert driver_time(engine, v) == (proc(v) if proc else v)
    engine.dispose()


@settings(max_examples=500, deadline=None)
@given(t=st.datetimes(min_value=dt.datetime(1900, 1, 1), max_value=dt.datetime(2200, 1, 1),
                      timezones=st.sampled_from([dt.timezone(dt.timedelta(minutes=m)) for m in
                                                 (0, 480, -300, 840, -720, 330, 345, -570)])),
       spec=st.sampled_from(["microseconds", "seconds", "milliseconds", "auto"]),
       sep=st.sampled_from(["T", " "]))
def test_driver_time_of_an_events_text_equals_the_slow_form(t, spec, sep):
    # The SQLite fast path copies minutes, seconds and microseconds from the device's text and
    # looks the UTC date and hour up per (date, hour, offset): every text must give exactly
    # what converting the parsed value gives, or device times would sort and read back wrong.
    text = t.isoformat(sep, spec)
    value = dt.datetime.fromisoformat(text)
    assert driver_time("sqlite", value, text) == driver_time("sqlite", value)
    assert driver_time("postgresql", value, text) is value


def test_migrated_tables_match_schema_metadata(server):
    insp = inspect(server.engine)
    for name, table in metadata.tables.items():
        assert set(c["name"] for c in insp.get_columns(name)) == set(table.c.keys()), name
        pk = insp.get_pk_constraint(name)["constrained_columns"]
        assert pk == [c.name for c in table.primary_key.columns], name


def _ingest(device, n_days=3):
    """Ratings over days of two months (device times in Jan and Feb 2026)."""
    tz = dt.timezone(dt.timedelta(hours=8))
    evs = []
    levels = ["very_satisfied", "satisfied", "basic_satisfied", "dissatisfied",
              "very_dissatisfied"]
    for k in range(40):
        day = dt.datetime(2026, 1, 30, 10, tzinfo=tz) + dt.timedelta(days=k % n_days)
        flags = ["lockout"] if k % 11 == 0 else []
        evs.append(device.rating(levels[k % 5], device_time=day.isoformat(), flags=flags,
                                 invitation_id="inv-%d" % k if k % 3 == 0 else None))
    r = device.post_batch(evs)
    assert r.status_code == 200, r.text
    assert {x["status"] for x in r.json()["results"]} == {"accepted"}
    return evs


def test_monthly_rollups_equal_daily_and_ranking_is_exact(device, org_setup):
    _ingest(device)
    engine = org_setup.engine
    with read(engine) as conn:
        assert rollups.check_monthly(conn) == []
        months = conn.execute(select(rollup_daily.c.day)).scalars().all()
    assert {d[:7] for d in months} == {"2026-01", "2026-02"}
    # every range: whole months, partial months, cross-month; compare with a daily-only sum
    ranges = [(dt.date(2026, 1, 1), dt.date(2026, 2, 28)), (dt.date(2026, 1, 31),
              dt.date(2026, 2, 1)), (dt.date(2026, 1, 30), dt.date(2026, 1, 30)),
              (dt.date(2026, 2, 1), dt.date(2026, 2, 28)), (dt.date(2025, 12, 15),
              dt.date(2026, 3, 3))]
    for lo, hi in ranges:
        for flagged in (False, True):
            with read(engine) as conn:
                got = stats.compute(conn, "window", lo, hi, include_flagged=flagged)
                want = _daily_only(conn, lo, hi, flagged)
            assert {r["key"]: (r["rated"], r["stars_sum"], r["flagged"], r["invited"])
                    for r in got["rows"]} == want, (lo, hi)


def _daily_only(conn, lo, hi, include_flagged):
    out = {}
    for r in conn.execute(select(rollup_daily).where(rollup_daily.c.day >= lo.isoformat(),
                                                     rollup_daily.c.day <= hi.isoformat())
                          ).mappings():
        g = out.setdefault(r["window_id"], [0, 0, 0, 0])
        if r["flagged"]:
            g[2] += r["count"]
            if not include_flagged:
                continue
        g[0] += r["count"]
        g[1] += r["stars_sum"]
        g[3] += r["invited"]
    return {k: tuple(v) for k, v in out.items()}


def test_plan_uses_months_only_when_exact(device, org_setup):
    _ingest(device)
    with read(org_setup.engine) as conn:
        # January has rows on the 30th and 31st only: 1 … 31 and 15 … 31 are whole months
        assert stats.plan(conn, dt.date(2026, 1, 1), dt.date(2026, 1, 31)) == (["2026-01"], [])
        assert stats.plan(conn, dt.date(2026, 1, 15), dt.date(2026, 2, 28)) == \
            (["2026-01", "2026-02"], [])
        # the 30th is left out: January must come from its days
        assert stats.plan(conn, dt.date(2026, 1, 31), dt.date(2026, 1, 31)) == \
            ([], [(dt.date(2026, 1, 31), dt.date(2026, 1, 31))])


def test_rebuild_monthly_restores_consistency(device, org_setup):
    _ingest(device)
    with write(org_setup.engine) as conn:
        conn.exec_driver_sql("DELETE FROM rollup_monthly")
        assert rollups.check_monthly(conn)
        rollups.rebuild_monthly(conn)
        assert rollups.check_monthly(conn) == []


def test_resent_and_mixed_batches_keep_counts_exact(device, org_setup):
    """Duplicates, in-batch repeats and a gap filled later: each event and rating stored
    once, rollups counted once, high water right."""
    a, b, c, d = (device.rating() for _ in range(4))
    assert device.post_batch([a, c]).json()["high_water"] == {device.stream_id: 1}
    answer = device.post_batch([a, b, b, d]).json()
    assert [x["status"] for x in answer["results"]] == \
        ["duplicate", "accepted", "duplicate", "accepted"]
    assert answer["high_water"] == {device.stream_id: 4}
    with read(org_setup.engine) as conn:
        assert len(conn.execute(select(events.c.id)).all()) == 4
        assert len(conn.execute(select(ratings.c.id)).all()) == 4
        assert sum(conn.execute(select(rollup_daily.c.count)).scalars()) == 4
        assert rollups.check_monthly(conn) == []
        stored = conn.execute(select(events.c.payload).where(events.c.id == a["id"])).scalar()
    assert json.loads(stored) == a["payload"]
