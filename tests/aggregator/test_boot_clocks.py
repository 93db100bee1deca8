"""Each event is dated by the clock of the boot it was recorded in (docs/protocol.md, 1.1).

A kiosk has no battery clock. A power cut takes the hall's router down too, so a backlog that
spans a reboot is the common case: ratings of boot A (clock right) still waiting when the
kiosk comes back in boot B with its clock a month behind. The skew measured at the upload
during boot B was applied to every event of the batch, so A's ratings were dated a month
later (capped at today): on the wrong day and month, in the wrong rankings and case deadlines.
"""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import select

from aggregator.dashboard.tables import cases
from aggregator.schema import device_boots, ratings, rollup_daily, rollup_monthly
from tests.aggregator.device import Device, now_iso, usb_export

MONTH = 30 * 86400
TZ = dt.timezone(dt.timedelta(hours=8))


def _day(offset_s: float) -> str:
    """The local day (UTC+8, the settings' default) of real time now + ``offset_s``."""
    return (dt.datetime.now(TZ) + dt.timedelta(seconds=offset_s)).date().isoformat()


def _rating(d: Device, level: str, boot: str, device_offset_s: float) -> dict:
    """A rating of ``d`` recorded in ``boot`` with the device clock at now + offset."""
    body = {"level": level, "stars": {"very_dissatisfied": 1, "satisfied": 4}[level],
            "scale": 5, "channel": 4, "window_id": d.window_id, "unit_id": "U-01",
            "staff_id": "S-007", "staff_name": "王芳", "service_item": "SI-01", "case_no": None,
            "invitation_id": None, "flags": []}
    return d.event("rating", body, device_time=now_iso(device_offset_s), boot_id=boot)


def _post(d: Device, events: list, boot: str | None, clock_offset_s: float = 0.0):
    """A batch sent as a kiosk whose clock is ``-clock_offset_s`` off and knows it (its
    X-Timestamp corrected by X-Clock-Offset), from ``boot`` (no X-Boot-Id when None)."""
    headers = {"X-Clock-Offset": f"{clock_offset_s:.3f}"}
    if boot is not None:
        headers["X-Boot-Id"] = boot
    r = d.post_batch(events, headers=headers)
    assert r.status_code == 200, r.text
    assert {x["status"] for x in r.json()["results"]} == {"accepted"}, r.text
    return r


def _days(engine) -> dict[str, str]:
    with engine.connect() as conn:
        return dict(conn.execute(select(ratings.c.id, ratings.c.day)).all())


def test_backlog_spanning_a_reboot_dates_each_rating_by_its_own_boots_clock(device, org_setup):
    # Boot A, clock right: the kiosk reached the server once (its skew is measured), then the
    # network went down; a bad rating two days ago waits in the backlog. Power cut: boot B
    # starts a month behind; a rating yesterday; the network is back during B.
    _post(device, [device.event("app_start", {}, boot_id="boot-A")], "boot-A")
    a = _rating(device, "very_dissatisfied", "boot-A", -2 * 86400)
    b = _rating(device, "satisfied", "boot-B", -86400 - MONTH)
    _post(device, [a, b], "boot-B", clock_offset_s=MONTH)
    days = _days(org_setup.engine)
    assert days[a["id"]] == _day(-2 * 86400)   # was today: A's time + a month, capped
    assert days[b["id"]] == _day(-86400)
    with org_setup.engine.connect() as conn:
        daily = {(r.day, r.level): r.count for r in conn.execute(select(rollup_daily))}
        monthly = {(r.month, r.level): r.count for r in conn.execute(select(rollup_monthly))}
        case = conn.execute(select(cases.c.opened_day).where(cases.c.rating_id == a["id"])).scalar_one()
        boots = dict(conn.execute(select(device_boots.c.boot_id, device_boots.c.skew_s)).all())
    assert daily == {(_day(-2 * 86400), "very_dissatisfied"): 1, (_day(-86400), "satisfied"): 1}
    want_monthly: dict = {}
    for day, level in daily:
        want_monthly[(day[:7], level)] = want_monthly.get((day[:7], level), 0) + 1
    assert monthly == want_monthly
    assert case == _day(-2 * 86400)   # the case's deadlines count from the rating's day
    assert abs(boots["boot-A"]) < 60 and abs(boots["boot-B"] + MONTH) < 60


def test_a_boot_that_never_reached_the_server_is_dated_between_its_neighbours(device, org_setup):
    # Boot Z was measured (right clock) and uploaded a rating five days ago. Boot C never
    # reached the server: one rating with the clock at its build date, one with it ten days
    # ahead. Boot B (a month behind) uploads them. Sequence order is the truth: C's ratings
    # came after Z's and before B's.
    z = _rating(device, "satisfied", "boot-Z", -5 * 86400)
    _post(device, [z], "boot-Z")
    c_old = device.event("rating", dict(z["payload"]), device_time="2020-01-01T09:00:00+08:00",
                         boot_id="boot-C")
    c_right = _rating(device, "satisfied", "boot-C", -3 * 86400)
    c_ahead = _rating(device, "satisfied", "boot-C", 10 * 86400)
    b = _rating(device, "satisfied", "boot-B", -86400 - MONTH)
    # The batch starts with C: the lower bound is the stored rating of boot Z.
    _post(device, [c_old, c_right, c_ahead, b], "boot-B", clock_offset_s=MONTH)
    days = _days(org_setup.engine)
    assert days[c_old["id"]] == _day(-5 * 86400)    # clamped up to Z's rating (was 2020-01-31)
    assert days[c_right["id"]] == _day(-3 * 86400)  # its own clock: between the two, kept
    assert days[c_ahead["id"]] == _day(-86400)      # clamped down to B's rating (was today)
    assert days[b["id"]] == _day(-86400)


def test_a_kiosk_that_does_not_say_its_boot_is_dated_as_before(device, org_setup):
    # Old kiosks send no X-Boot-Id: the upload's skew dates every event of the batch.
    a = _rating(device, "satisfied", "boot-A", -40 * 86400)
    b = _rating(device, "satisfied", "boot-B", -86400 - MONTH)
    _post(device, [a, b], None, clock_offset_s=MONTH)
    days = _days(org_setup.engine)
    assert days[a["id"]] == _day(-10 * 86400)
    assert days[b["id"]] == _day(-86400)
    with org_setup.engine.connect() as conn:
        assert conn.execute(select(device_boots)).all() == []


def test_a_heartbeat_measures_its_boots_clock_and_a_bad_boot_id_is_a_400(device, org_setup):
    # Boot A only sent heartbeats (its batches all failed): its clock is known all the same.
    r = device.post_json("/api/v1/heartbeat", {"pending": 3, "boot_id": "boot-A"})
    assert r.status_code == 200, r.text
    a = _rating(device, "satisfied", "boot-A", -2 * 86400)
    not_rated = device.event("not_rated", {"invitation_id": "I-1", "window_id": "W-001",
                                           "staff_id": "S-007"},
                             device_time=now_iso(-2 * 86400), boot_id="boot-A")
    b = _rating(device, "satisfied", "boot-B", -MONTH)
    _post(device, [a, not_rated, b], "boot-B", clock_offset_s=MONTH)
    assert _days(org_setup.engine)[a["id"]] == _day(-2 * 86400)
    with org_setup.engine.connect() as conn:
        n = conn.execute(select(rollup_daily.c.day).where(rollup_daily.c.level == "not_rated")
                         ).scalar_one()
        boots = set(conn.execute(select(device_boots.c.boot_id)).scalars())
    assert n == _day(-2 * 86400)   # a not-rated invitation counts on its boot's day too
    assert boots == {"boot-A", "boot-B"}
    r = device.post_json("/api/v1/heartbeat", {"boot_id": "boot A"})
    assert r.status_code == 400 and r.json()["field"] == "boot_id", r.text
    r = device.post_batch([_rating(device, "satisfied", "boot-B", -MONTH)],
                          headers={"X-Boot-Id": "x" * 129})
    assert r.status_code == 400 and r.json()["field"] == "X-Boot-Id", r.text


def test_a_revoked_kiosks_usb_export_is_dated_by_each_boots_clock(device, org_setup, tmp_path):
    # The export of a dead kiosk comes from no boot: it was dated by the last skew measured
    # (boot B's, a month behind), so a rating of boot A two days before the revocation counted
    # a month later, after the revocation: flagged after_revocation and out of the rates.
    import requests

    from aggregator.backup import import_kiosk_export

    r = device.post_json("/api/v1/heartbeat", {"boot_id": "boot-A"})   # A's clock: right
    assert r.status_code == 200, r.text
    _post(device, [device.event("app_start", {}, boot_id="boot-B")], "boot-B",
          clock_offset_s=MONTH)                                       # B's: a month behind
    a = _rating(device, "very_dissatisfied", "boot-A", -2 * 86400)
    r = requests.post(f"{org_setup.url}/api/v1/devices/{device.id}/revoke",
                      headers=org_setup.admin, json={}, timeout=10)
    assert r.status_code == 200, r.text
    b = _rating(device, "satisfied", "boot-B", -MONTH)  # recorded after the revocation
    folder = tmp_path / "export"
    usb_export(folder, device, [a, b])
    out = import_kiosk_export(org_setup.engine, folder, org_setup.settings)
    assert out["results"] == {"accepted": 2} and out["flagged_after_revocation"] == 1
    with org_setup.engine.connect() as conn:
        got = {r.id: (r.day, json.loads(r.flags)) for r in conn.execute(
            select(ratings.c.id, ratings.c.day, ratings.c.flags))}
    assert got == {a["id"]: (_day(-2 * 86400), []), b["id"]: (_day(0), ["after_revocation"])}


# -- a clock stepped within one boot: the monotonic clock dates the boot (X-Mono-Ns) ----------
# The most common case after a power cut: the kiosk boots before the hall's router with its
# clock at a build date, citizens rate offline, then NTP steps the clock right and the backlog
# uploads. The skew measured then is ~0, and the boot's earlier ratings were dated by their
# wrong wall time (January): wrong day, month, rankings and case deadlines.

BUILD = "2026-01-01T08:00:00+08:00"
DAY_NS = 86400 * 10**9


def _built(seconds: float) -> str:
    """The wall time of a kiosk clock that started at the build date ``seconds`` ago."""
    return (dt.datetime.fromisoformat(BUILD) + dt.timedelta(seconds=seconds)).isoformat()


def _payload(d: Device, level: str) -> dict:
    return {"level": level, "stars": {"very_dissatisfied": 1, "satisfied": 4}[level],
            "scale": 5, "channel": 4, "window_id": d.window_id, "unit_id": "U-01",
            "staff_id": "S-007", "staff_name": "王芳", "service_item": "SI-01", "case_no": None,
            "invitation_id": None, "flags": []}


def _wrong_clock_rating(d: Device, level: str, boot: str, mono_ns: int, boot_mono: int) -> dict:
    """A rating of ``boot`` at ``mono_ns``, its wall clock at the build date at ``boot_mono``."""
    return d.event("rating", _payload(d, level), device_time=_built((mono_ns - boot_mono) / 1e9),
                   boot_id=boot, mono_ns=mono_ns)


def _post_mono(d: Device, events: list, boot: str, mono_ns, clock_offset_s: float = 0.0):
    headers = {"X-Clock-Offset": f"{clock_offset_s:.3f}", "X-Boot-Id": boot,
               "X-Mono-Ns": str(mono_ns)}
    return d.post_batch(events, headers=headers)


def test_a_clock_stepped_right_during_the_boot_dates_what_came_before_by_the_monotonic_clock(
        device, org_setup):
    # Boot N: the clock started at the build date 3 days and an hour ago; a bad rating two
    # days ago, a good one a day ago (both offline, wall clock wrong); NTP stepped the clock
    # right; a rating a minute ago; the upload now, from boot N, with its monotonic clock.
    now_mono = 3 * DAY_NS + 3600 * 10**9
    bad = _wrong_clock_rating(device, "very_dissatisfied", "boot-N", now_mono - 2 * DAY_NS, 0)
    good = _wrong_clock_rating(device, "satisfied", "boot-N", now_mono - DAY_NS, 0)
    right = device.event("rating", dict(good["payload"]), device_time=now_iso(-60),
                         boot_id="boot-N", mono_ns=now_mono - 60 * 10**9)
    assert bad["device_time"].startswith("2026-01-02")
    r = _post_mono(device, [bad, good, right], "boot-N", now_mono)
    assert r.status_code == 200 and {x["status"] for x in r.json()["results"]} == {"accepted"}, r.text
    days = _days(org_setup.engine)
    # before: 2026-01-02 and 2026-01-03, their wall times
    assert days == {bad["id"]: _day(-2 * 86400), good["id"]: _day(-86400), right["id"]: _day(-60)}
    with org_setup.engine.connect() as conn:
        daily = {(r.day, r.level): r.count for r in conn.execute(select(rollup_daily))}
        months = {r.month for r in conn.execute(select(rollup_monthly))}
        case = conn.execute(select(cases.c.opened_day).where(cases.c.rating_id == bad["id"])
                            ).scalar_one()
        boot = conn.execute(select(device_boots)).one()
    assert daily == {(_day(-2 * 86400), "very_dissatisfied"): 1,
                     (_day(-86400), "satisfied"): 1, (_day(-60), "satisfied"): 1}
    assert months == {_day(-2 * 86400)[:7], _day(-60)[:7]}
    assert case == _day(-2 * 86400)   # the case's deadlines count from the true day
    assert boot.mono_ns == now_mono and boot.mono_at is not None


def test_an_absurd_mono_ns_never_dates_a_rating_in_the_future_and_a_bad_header_is_a_400(
        device, org_setup):
    # An event whose mono_ns lies after the request's by more than the clock window is not
    # believed (its skew dates it); one a little after (within the window) counts at server
    # time, never later.
    now_mono = 10 * DAY_NS
    far = device.event("rating", _payload(device, "satisfied"), device_time=now_iso(-3600),
                       boot_id="boot-N", mono_ns=now_mono + 40 * DAY_NS)
    near = device.event("rating", _payload(device, "satisfied"), device_time=now_iso(-3600),
                        boot_id="boot-N", mono_ns=now_mono + 100 * 10**9)
    r = _post_mono(device, [far, near], "boot-N", now_mono)
    assert r.status_code == 200 and {x["status"] for x in r.json()["results"]} == {"accepted"}, r.text
    days = _days(org_setup.engine)
    assert days[far["id"]] == _day(-3600)   # by its skew, as before
    assert days[near["id"]] == _day(0)      # server time, not 100 s in the future
    for bad in ("-5", "12x", "1e9", "9" * 20, "+5"):
        r = _post_mono(device, [_rating(device, "satisfied", "boot-N", 0)], "boot-N", bad)
        assert r.status_code == 400 and r.json()["field"] == "X-Mono-Ns", (bad, r.text)
    for bad in (-1, "5", 1.5, True):
        r = device.post_json("/api/v1/heartbeat", {"boot_id": "boot-N", "mono_ns": bad})
        assert r.status_code == 400 and r.json()["field"] == "mono_ns", (bad, r.text)


def test_the_newest_reference_of_a_boot_wins_and_dates_its_backlog_after_a_reboot(
        device, org_setup):
    # Boot A sent two heartbeats; the second's reference dates A's backlog, uploaded from
    # boot B. A reference pair arriving late (older server time) does not replace a newer.
    from aggregator import boot_clocks
    from aggregator.db import write

    for mono in (10**12, 5 * DAY_NS):
        r = device.post_json("/api/v1/heartbeat", {"boot_id": "boot-A", "mono_ns": mono})
        assert r.status_code == 200, r.text
    with write(org_setup.engine) as conn:
        boot_clocks.record(conn, device.id, "boot-A", 0.0, dt.datetime.now(dt.timezone.utc),
                           7, dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5))
    with org_setup.engine.connect() as conn:
        assert conn.execute(select(device_boots.c.mono_ns)).scalar_one() == 5 * DAY_NS
    # recorded a day before the newer reference, with the wall clock at the build date; by
    # the older reference it would lie days in the future (not believed), by the skew in January
    a = _wrong_clock_rating(device, "satisfied", "boot-A", 4 * DAY_NS, 0)
    b = _rating(device, "satisfied", "boot-B", -60)
    r = _post_mono(device, [a, b], "boot-B", 120 * 10**9)
    assert r.status_code == 200, r.text
    days = _days(org_setup.engine)
    assert days == {a["id"]: _day(-86400), b["id"]: _day(-60)}


def test_a_mono_dated_event_bounds_a_boot_never_measured(device, org_setup):
    # Boot A (reference by heartbeat) recorded a rating three days ago with its clock at the
    # build date; boot C never reached the server, its clock at another wrong date after A's;
    # boot B uploads both. C's rating came after A's: it is clamped up to A's true day.
    r = device.post_json("/api/v1/heartbeat", {"boot_id": "boot-A", "mono_ns": 4 * DAY_NS})
    assert r.status_code == 200, r.text
    a = _wrong_clock_rating(device, "satisfied", "boot-A", DAY_NS, 0)
    c = device.event("rating", dict(a["payload"]), device_time=_built(5 * 86400),
                     boot_id="boot-C", mono_ns=10**9)
    b = _rating(device, "satisfied", "boot-B", -60)
    _post(device, [a, c, b], "boot-B")
    days = _days(org_setup.engine)
    assert days[a["id"]] == _day(-3 * 86400)
    assert days[c["id"]] == _day(-3 * 86400)   # was 2026-01-06: A's wall time was its bound


def test_a_usb_export_is_dated_by_the_recorded_reference(device, org_setup, tmp_path):
    # A dead kiosk's export comes from no boot: its boot's recorded reference dates it.
    import requests

    from aggregator.backup import import_kiosk_export

    r = device.post_json("/api/v1/heartbeat", {"boot_id": "boot-A", "mono_ns": 3 * DAY_NS})
    assert r.status_code == 200, r.text
    a = _wrong_clock_rating(device, "very_dissatisfied", "boot-A", DAY_NS, 0)
    r = requests.post(f"{org_setup.url}/api/v1/devices/{device.id}/revoke",
                      headers=org_setup.admin, json={}, timeout=10)
    assert r.status_code == 200, r.text
    folder = tmp_path / "export"
    usb_export(folder, device, [a])
    out = import_kiosk_export(org_setup.engine, folder, org_setup.settings)
    assert out["results"] == {"accepted": 1} and out["flagged_after_revocation"] == 0
    assert _days(org_setup.engine) == {a["id"]: _day(-2 * 86400)}   # was 2026-01-02


def test_the_hourly_scan_forgets_boots_unseen_for_half_a_year_but_never_a_devices_newest(
        org_setup):
    # A kiosk rebooted every night adds a boot a day: without forgetting, a fleet's table
    # grows by a million rows a year. A boot's clock dates that boot's events still to come;
    # the newest stays however old (a kiosk offline all that time uploads its backlog by it).
    import requests

    now = dt.datetime.now(dt.timezone.utc)
    ago = {"k1": {"b1": 300, "b2": 181, "b3": 1}, "k2": {"b1": 400, "b2": 250},
           "k3": {"b1": 179, "b2": 100}}
    with org_setup.engine.begin() as conn:
        conn.execute(device_boots.insert(), [
            {"device_id": dev, "boot_id": boot, "skew_s": 0.0,
             "first_at": now - dt.timedelta(days=days + 1),
             "last_at": now - dt.timedelta(days=days)}
            for dev, boots in ago.items() for boot, days in boots.items()])
    r = requests.post(f"{org_setup.url}/api/v1/alerts/scan", headers=org_setup.admin,
                      timeout=30)
    assert r.status_code == 200, r.text
    with org_setup.engine.connect() as conn:
        kept = set(conn.execute(select(device_boots.c.device_id, device_boots.c.boot_id)))
    assert kept == {("k1", "b3"), ("k2", "b2"), ("k3", "b1"), ("k3", "b2")}, kept
