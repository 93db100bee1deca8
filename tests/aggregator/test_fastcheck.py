"""The compiled checks (aggregator/_fastcheck.c) against the Python ones, their reference.

Every event (the bench's kiosk-like events and thousands of mutations of them) goes through
``_check_envelope`` and ``CheckedBatch`` twice, with the compiled path and with the Python
path; the outcomes (exceptions, or every output of ``CheckedBatch``) must be identical, types
included. The C code only accepts the usual event or hands it to Python, so a difference
means it accepted something Python refuses, or made a different row.
"""

from __future__ import annotations

import copy
import datetime as dt
import itertools
import random
import sys
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
for p in (str(ROOT / "tests" / "aggregator"), str(ROOT / "bench"), str(ROOT)):
    if p not in sys.path:
        sys.path.insert(0, p)

from device import Device  # noqa: E402

from aggregator import checked_batch as CB  # noqa: E402
from aggregator import constants as C  # noqa: E402
from aggregator import db  # noqa: E402
from aggregator import validation as V  # noqa: E402
from aggregator.settings import Settings  # noqa: E402
from sync.protocol import GENESIS_HASH, event_hash  # noqa: E402

FAST = V.fast

MISSING = object()
OUTPUTS = ("problems", "times", "event_rows", "answers", "rating_rows", "late", "flagged",
           "rollup", "dated")
BATCH_ID = "5b0c7a43-2b3e-4c1e-9d55-8b2b4bde0a11"


def typed(x):
    """A comparable form that also holds every type (and a datetime's offset and fields)."""
    if isinstance(x, dict):
        return ("dict", type(x), [(typed(k), typed(v)) for k, v in x.items()])
    if isinstance(x, (list, tuple)):
        return (type(x), [typed(v) for v in x])
    if isinstance(x, dt.datetime):
        return (type(x), x.isoformat(), type(x.tzinfo), x.utcoffset(), x.fold)
    return (type(x), x)


def outcome(fn):
    try:
        return ("ok", fn())
    except Exception as exc:  # the same exception, the same message, the same field
        return ("raised", type(exc), str(exc), getattr(exc, "field", None))


def both(fn):
    """(C, Python) outcomes of ``fn``."""
    c = outcome(fn)
    saved_v, saved_cb = V.fast, CB.fast
    V.fast = CB.fast = None
    try:
        p = outcome(fn)
    finally:
        V.fast, CB.fast = saved_v, saved_cb
    return c, p


def checked(events, device, now, clear_cache, dialect="sqlite", clocks=None):
    """(C outputs, Python outputs, how many events the C path handed to Python), or the two
    outcomes and None when either raised. ``clocks``: ``boot_clocks.BootClocks``."""
    def run():
        if clear_cache:
            db._UTC_HOURS.clear()
        doc = {"protocol": 1, "device_id": device["id"], "batch_id": BATCH_ID, "events": events}
        cb = CB.CheckedBatch(doc, device, now, Settings(), dialect, clocks)
        return typed({name: getattr(cb, name) for name in OUTPUTS}), cb.by_python
    c, p = both(run)
    if c[0] == "ok" and p[0] == "ok":
        return c[1][0], p[1][0], c[1][1]
    return c, p, None


def envelope(events, device_id):
    def run():
        doc = {"protocol": 1, "device_id": device_id, "batch_id": BATCH_ID, "events": events}
        V._check_envelope(doc, device_id)
        return True
    return both(run)


# Python raised TypeError (unhashable) for a rating whose "level" or "channel" was an array or
# object, and OverflowError for a device time in year 1 or 9999 with an offset, until this
# test found them (2026-12-02); both are rejected now. Should Python raise again, the C path
# must raise the same.


def rehash(ev):
    try:
        ev["hash"] = event_hash(ev, ev.get("prev_hash"))
    except (UnicodeEncodeError, TypeError, ValueError):
        pass
    return ev


# ------------------------------------------------------------------- mutations

COMMON = [MISSING, None, True, False, 0, 1, -1, 2, 1.5, 5.0, 1e20, 2**63 - 1, 2**63, 2**70,
          -2**63, "", "x", "x" * 32, "x" * 33, "x" * 64, "x" * 65, "x" * 100, "x" * 101,
          "x" * 128, "x" * 129, "王" * 64, "王" * 65, "é", "\u0000", "a\u0000b", "a\\u0000b",
          "\\\\u0000", "\ud800", [], ["a"], {}, {"a": 1}, "W-001", "U-01"]

TIMES = ["2026-11-24T00:31:12.345678+08:00", "2026-11-24T00:31:12+08:00",
         "2026-11-24T00:31:12.3+08:00", "2026-11-24T00:31:12.34+08:00",
         "2026-11-24T00:31:12.345+08:00", "2026-11-24T00:31:12.3456+08:00",
         "2026-11-24T00:31:12.1234567+08:00", "2026-11-24T00:31:12.345678+00:00",
         "2026-11-24T00:31:12.345678Z", "2026-11-24T00:31:12Z", "2026-11-24T00:31:12.345678",
         "2026-11-24T00:31:12", "2026-11-24T00:31:12.345678-05:30",
         "2026-11-24T00:31:12.345678+05:45", "2026-11-24T00:31:12.345678+08:00:00",
         "2026-11-24T00:31:12.345678+0800", "2026-11-24 00:31:12.345678+08:00",
         "2026-11-24t00:31:12.345678+08:00", "2026-11-24T23:59:59.999999-12:00",
         "2026-11-24T00:00:00.000000+14:00", "2026-12-31T23:31:12.345678-08:00",
         "2026-11-24", "2026-11-24T00:31+08:00", "20261124T003112+0800", "garbage",
         "2026-11-24T00:31:12.345678+08:00\n", "2026-11-24T00:31:12.345678+08:00 ",
         "2026-11-24T00:31:12.345678+08:00" + " " * 40, "2026-02-30T00:31:12.345678+08:00",
         "2026-11-24T24:31:12.345678+08:00", "２026-11-24T00:31:12.345678+08:00",
         "2026-11-24T00:31:12,345678+08:00", "2026-11-24T00:31:12.345678+24:00",
         "2026-11-24T00:31:12.345678-00:00", "2026-11-24T00:31:12.345678+08:30",
         "2026-11-24T10:31:12.345678+08:00", "2026-11-25T00:31:12.345678+08:00"] + [
             "2026-11-24T00:31:12." + "1" * n + "+08:00" for n in (7, 12, 37, 38, 39, 40)] + [
             "0001-01-01T00:00:00.000000+08:00", "0001-01-01T07:59:59.999999+08:00",
             "0001-01-01T08:00:00.000000+08:00", "0001-01-03T00:00:00.000000+08:00",
             "0001-01-01T00:00:00.000000-08:00", "9999-12-31T23:59:59.999999-08:00",
             "9999-12-31T23:59:59.999999+08:00", "9999-12-30T00:00:00.000000+00:00",
             "1969-12-31T23:59:59.999999+00:00", "1900-02-28T23:00:00.000000-01:00",
             "2000-02-29T23:30:00.000000-00:30", "2024-02-29T16:00:00.000000+00:00",
             "2026-11-24T00:31:12.345678+23:59", "2026-11-24T00:31:12.345678-23:59",
             "2026-11-24T00:31:12.345678+08:00:30", "2026-11-24T00:31:12.345678+08:00:30.5"]

HEX_GOOD = "ab" * 32
PREV = [GENESIS_HASH, HEX_GOOD, HEX_GOOD.upper(), HEX_GOOD[:63], HEX_GOOD + "a",
        HEX_GOOD + "\n", "g" * 64, GENESIS_HASH + "\n", " " + HEX_GOOD[1:], None, 5]

STREAMS = [str(uuid.uuid4()), str(uuid.uuid4()).upper(), "{%s}" % uuid.uuid4(),
           "urn:uuid:%s" % uuid.uuid4(), uuid.uuid4().hex, "not-a-uuid",
           str(uuid.uuid4()) + "\n", "x" * 65, "", str(uuid.uuid4())[:35]]

IDS = [str(uuid.uuid4()), str(uuid.uuid4()).upper(), uuid.uuid4().hex, "{%s}" % uuid.uuid4(),
       "nope", "", str(uuid.uuid4()) + "x"]

PAYLOAD_FIELDS = ["level", "stars", "scale", "channel", "window_id", "unit_id", "staff_id",
                  "service_item", "invitation_id", "staff_name", "case_no", "flags", "extra",
                  "rating_id", "reasons", "reasons_version", "phone", "callback_consent",
                  "completed", "comment"]

FLAGS = [MISSING, None, [], ["burst"], ["lockout", "burst", "lockout"], ["王"], [1], [None],
         "burst", ["x" * 32], ["x" * 33], [[]], ["no_staff", "outside_invitation"], [True],
         ["\u0000"], ["a\\u0000"], ["appeal_accepted"], ["burst", "after_revocation"]]


def setp(ev, name, value):
    ev = copy.deepcopy(ev)
    if not isinstance(ev.get("payload"), dict):
        return ev
    if value is MISSING:
        ev["payload"].pop(name, None)
    else:
        ev["payload"][name] = value
    return ev


def sett(ev, name, value):
    ev = copy.deepcopy(ev)
    if value is MISSING:
        ev.pop(name, None)
    else:
        ev[name] = value
    return ev


def mutations(base: list[dict], device_id: str, rng: random.Random):
    """(event, rehashed?) pairs."""
    for ev in base:
        yield ev
        for name in list(ev) + ["extra"]:
            for value in COMMON:
                yield sett(ev, name, value)
                if name != "hash":
                    yield rehash(sett(ev, name, value))
        for name in PAYLOAD_FIELDS:
            for value in COMMON:
                yield rehash(setp(ev, name, value))
        for t in TIMES:
            yield rehash(sett(ev, "device_time", t))
        for p in PREV:
            for seq in (1, 2):
                yield rehash(sett(sett(ev, "prev_hash", p), "seq", seq))
        for s in STREAMS:
            yield rehash(sett(ev, "stream_id", s))
        for i in IDS:
            yield rehash(sett(ev, "id", i))
        yield sett(ev, "hash", ev["hash"].upper())
        yield sett(ev, "hash", ev["hash"] + "\n")
        yield sett(ev, "hash", ev["hash"][:-1] + ("0" if ev["hash"][-1] != "0" else "1"))
        yield sett(ev, "device_id", device_id + "x")
        for f in FLAGS:
            yield rehash(setp(ev, "flags", f))
        for typ in sorted(C.EVENT_TYPES) + ["unknown", "Rating", "rating "]:
            yield rehash(sett(ev, "type", typ))
        # key order of the event and of the payload does not matter
        yield dict(reversed(list(ev.items())))
        e2 = copy.deepcopy(ev)
        e2["payload"] = dict(reversed(list(e2["payload"].items())))
        yield e2
        # random multi-field mutations
        for _ in range(40):
            e2 = copy.deepcopy(ev)
            for _ in range(rng.randint(1, 3)):
                if rng.random() < 0.5:
                    e2 = setp(e2, rng.choice(PAYLOAD_FIELDS), rng.choice(COMMON))
                else:
                    e2 = sett(e2, rng.choice(list(e2) or ["id"]), rng.choice(COMMON))
            yield rehash(e2) if rng.random() < 0.8 else e2


def rating_combos(d: Device):
    """Every level × stars × scale × channel combination (valid or not)."""
    for level in list(C.STARS) + ["nope"]:
        for stars in (1, 2, 3, 4, 5, True, 5.0):
            for scale in (MISSING, 4, 5, 3, True):
                for channel in (MISSING, 3, 4, 5):
                    p = {"level": level, "stars": stars, "window_id": "W-001"}
                    if scale is not MISSING:
                        p["scale"] = scale
                    if channel is not MISSING:
                        p["channel"] = channel
                    yield d.event("rating", p)


def payload_events(d: Device):
    """The event types with their own payload checks, valid and not."""
    rid = str(uuid.uuid4())
    yield d.event("follow_up", {"rating_id": rid, "reasons": ["attitude"], "phone": "+86 138"
                                                                                   "0000000"})
    yield d.event("follow_up", {"rating_id": "x"})
    yield d.event("not_rated", {"invitation_id": "I-1", "window_id": "W-001"})
    yield d.event("not_rated", {"window_id": 5})
    yield d.event("staff_sign_in", {"staff_id": "S-1", "staff_name": "张三"})
    yield d.event("staff_sign_out", {"staff_id": 7})
    for typ in sorted(C.EVENT_TYPES):
        yield d.event(typ, {})
        yield d.event(typ, {"anything": [1, 2.5, None, "王"]})


def devices():
    yield {"id": None, "unit_id": "U-9", "skew_s": 0.0}
    yield {"id": None, "unit_id": None, "skew_s": 3.25}
    yield {"id": None, "unit_id": "", "skew_s": -7200.0}
    yield {"id": None, "unit_id": "U-1", "skew_s": 1e9}
    yield {"id": None, "unit_id": "U-1", "skew_s": -86399.9999996}


def base_events(d: Device):
    import bench_ingest as B  # the bench's kiosk-like mix
    evs = B.make_events(d, 60)
    evs.append(d.rating("dissatisfied", flags=["burst", "lockout"]))
    evs.append(d.rating("satisfied", unit_id=None, invitation_id="I-7", case_no="C-1"))
    evs.append(d.rating("basic_satisfied", device_time="2026-11-24T00:31:12+08:00"))
    evs.append(d.rating("very_satisfied", device_time="2026-11-24T00:31:12.5-05:00"))
    evs.append(d.rating("very_satisfied", device_time="2026-11-24T00:31:12.345678+05:30"))
    d.new_stream()
    evs.append(d.rating("very_satisfied"))  # seq 1 with genesis
    return evs


def test_the_compiled_checks_are_built():
    # setup.py builds them only when a C compiler and Python's headers are there (Makefile:
    # gcc, python3-dev); without them the server is correct but slower, and this file would
    # compare Python with itself.
    assert FAST is not None, "aggregator._fastcheck is not built: install gcc and python3-dev, " \
        "then pip install -e . again (make venv)"


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_bench_batch_all_in_c(dialect):
    d = Device("http://x")
    import bench_ingest as B
    evs = B.make_events(d, 2000)
    dev = {"id": d.id, "unit_id": "U-9", "skew_s": 0.0}
    now = dt.datetime.now(dt.timezone.utc)
    for batch in B.pack(evs):
        assert envelope(batch, d.id) == (("ok", True), ("ok", True))
        c, p, deferred = checked(batch, dev, now, False, dialect)
        assert c == p
        assert deferred == 0


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
@pytest.mark.parametrize("seed", range(5))
def test_differential(seed, dialect):
    rng = random.Random(seed)
    d = Device("http://x")
    base = base_events(d)
    if seed == 0:
        base = base[:12] + base[-6:]
    else:
        base = rng.sample(base, 6)
    events = list(mutations(base, d.id, rng))
    events += list(rating_combos(d)) + list(payload_events(d))
    rng.shuffle(events)
    dev = list(devices())[seed]
    dev["id"] = d.id
    nows = [dt.datetime.now(dt.timezone.utc), dt.datetime(2026, 11, 23, 17, tzinfo=dt.timezone.utc),
            dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)]
    n_shape_ok = n_checked = n_accepted_c = n_deferred = n_raised = 0
    shaped = []
    for ev in events:
        c, p = envelope([ev], d.id)
        assert c == p, (ev, c, p)
        if c[0] == "ok":
            n_shape_ok += 1
            shaped.append(ev)
    # whole envelopes of many events: the first slow one names the problem
    for k in range(0, len(events), 37):
        c, p = envelope(events[k:k + 37], d.id)
        assert c == p
    # CheckedBatch over batches of shape-valid events (as ingest sees them) and, once, of
    # any events (Python raises on a missing field; so must the C path)
    for k in range(0, len(shaped), 50):
        chunk = shaped[k:k + 50]
        now = nows[(k // 50) % len(nows)]
        c, p, deferred = checked(chunk, dev, now, bool((k // 50) % 2), dialect)
        assert c == p, chunk
        if deferred is None:  # Python raises on one of them (see RAISING): event by event
            n_raised += 1
            kept = []
            for ev in chunk:
                c, p, deferred = checked([ev], dev, now, False, dialect)
                assert c == p, ev
                if deferred is not None:
                    kept.append(ev)
            chunk = kept
            c, p, deferred = checked(chunk, dev, now, bool((k // 50) % 2), dialect)
            assert c == p, chunk
        n_checked += len(chunk)
        n_deferred += deferred
        n_accepted_c += len(chunk) - deferred
    for ev in events[:300]:
        c, p, _ = checked([ev], dev, nows[0], False, dialect)
        assert c == p, ev
    print(f"seed {seed}: {len(events)} events, {n_shape_ok} shape-valid, {n_checked} checked, "
          f"{n_accepted_c} accepted by C, {n_deferred} deferred to Python, "
          f"{n_raised} batches where both raised")
    assert len(events) > 3000 and n_accepted_c > 200


def test_repeated_streams_and_cache():
    """A batch mixing streams (a bad stream id cached as False, good ones as True)."""
    d = Device("http://x")
    dev = {"id": d.id, "unit_id": "U-1", "skew_s": 0.0}
    evs = []
    for k in range(120):
        if k % 7 == 0:
            d.new_stream()
        if k % 11 == 0:
            evs.append(rehash(sett(d.rating(), "stream_id", "{%s}" % d.stream_id)))
        elif k % 13 == 0:
            evs.append(rehash(sett(d.rating(), "stream_id", "bad")))
        else:
            evs.append(d.rating(random.choice(list(C.STARS))))
    for a, b in itertools.pairwise(range(0, 121, 40)):
        c, p, _ = checked(evs[a:b], dev, dt.datetime.now(dt.timezone.utc), False)
        assert c == p


# Each event is dated by its own boot's skew (boot_clocks, 2026-12): the C RowMaker takes the
# skew of each measured boot from a dict, and the events of a boot never measured are dated
# afterwards in Python (``dated``); both paths must give the same rows and rollups.
def boot_clock_sets(streams):
    from aggregator.boot_clocks import BootClocks

    td = dt.timedelta
    floor = dt.datetime(2026, 11, 20, 1, tzinfo=dt.timezone.utc)
    yield BootClocks({"b0": td(0), "b1": td(days=-30), "b2": td(seconds=3.25)}, 0.0, {"bX"}, {})
    yield BootClocks({"b0": td(seconds=-7200), "b1": td(days=400), "bX": td(microseconds=1)},
                     5.5, set(), {})
    yield BootClocks({"b1": td(days=-1)}, -86399.9999996, {"b0", "b2", "bX"},
                     {s: floor for s in streams})
    yield BootClocks({}, 1e9, {"b0", "b1", "b2", "bX"}, {})


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
@pytest.mark.parametrize("seed", range(3))
def test_differential_per_boot_skews(seed, dialect):
    rng = random.Random(100 + seed)
    d = Device("http://x")
    events = base_events(d)
    events = events + list(mutations(rng.sample(events, 6), d.id, rng))[:400]
    for ev in events:  # a boot each, rehashed so that the event stays valid
        if isinstance(ev, dict) and isinstance(ev.get("boot_id"), str):
            ev["boot_id"] = rng.choice(("b0", "b1", "b2", "bX"))
            rehash(ev)
    shaped = [ev for ev in events if envelope([ev], d.id)[0][0] == "ok"]
    streams = {ev["stream_id"] for ev in shaped}
    dev = {"id": d.id, "unit_id": "U-1", "skew_s": 0.0}
    now = dt.datetime(2026, 11, 23, 17, tzinfo=dt.timezone.utc)
    n_dated = 0
    for clocks in boot_clock_sets(streams):
        for k in range(0, len(shaped), 40):
            chunk = shaped[k:k + 40]
            c, p, deferred = checked(chunk, dev, now, bool(k % 80), dialect, clocks)
            assert c == p, chunk
            if deferred is not None:
                doc = {"protocol": 1, "device_id": d.id, "batch_id": BATCH_ID, "events": chunk}
                n_dated += len(CB.CheckedBatch(doc, dev, now, Settings(), dialect, clocks).dated)
    assert n_dated > 20


# rated_at (migration 49): the C row builder makes the corrected time from the microseconds it
# already has for the day (a string on SQLite, a datetime with the device time's offset on
# PostgreSQL), or the Python way when the day is (a skew beyond a year); both paths must give
# the same value and type, and that value must be the device time minus its skew, never later
# than server time, whose local date is the day.
@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_rated_at_is_the_corrected_time_in_both_paths(dialect):
    from aggregator.ratings import COLUMNS

    d = Device("http://x")
    now = dt.datetime(2026, 11, 23, 17, tzinfo=dt.timezone.utc)
    times = ["2026-11-23T20:31:12.345678+08:00", "2026-11-24T00:59:59.999999+08:00",
             "2026-11-23T09:00:00.5-05:00", "2026-11-23T16:59:59.999999+00:00",
             "2026-11-24T01:00:00.000001+08:00", "2024-02-29T23:30:00.000000+05:45",
             "1970-01-01T00:00:00.000000+00:00", "1969-12-31T23:59:59.999999+00:00"]
    rated, day = COLUMNS.index("rated_at"), COLUMNS.index("day")
    seen = set()
    for skew_s in (0.0, 28800.25, -3.5, 86399.9999996, -86400 * 200, 1e9):
        evs = [d.rating("satisfied", device_time=t) for t in times]
        dev = {"id": d.id, "unit_id": "U-1", "skew_s": skew_s}
        c, p, deferred = checked(evs, dev, now, True, dialect)
        assert c == p and deferred == 0, (skew_s, c, p)
        doc = {"protocol": 1, "device_id": d.id, "batch_id": BATCH_ID, "events": evs}
        cb = CB.CheckedBatch(doc, dev, now, Settings(), dialect)
        skew = dt.timedelta(seconds=skew_s)
        for i, t in enumerate(times):
            when = min(dt.datetime.fromisoformat(t) - skew, now)
            row = cb.rating_rows[i]
            assert row[rated] == db.driver_time(dialect, when), (skew_s, t, row[rated])
            assert when.astimezone(dt.timezone(dt.timedelta(hours=8))).date().isoformat() \
                == row[day]
            if dialect == "postgresql":
                assert row[rated].utcoffset() == when.utcoffset()
            seen.add("clamped" if when == now else "moved" if skew else "as read")
    assert seen == {"clamped", "moved", "as read"}
