"""Integrity alerts: raised cheaply during ingest, and periodically by ``scan``.

An alert has a ``dedupe_key`` so the same condition is raised once, however often it is seen.
Its ``detail`` is an English sentence (logs, the API, the command line); its ``detail_args``
(migration 46) the message name and values the sentence was made of, from which the dashboard
tells the detail in the page's language (``dashboard/i18n_alerts.py``).

>>> from aggregator.db import make_engine, write, utcnow
>>> from aggregator.migrations import migrate
>>> engine = make_engine("sqlite://"); _ = migrate(engine)
>>> with write(engine) as conn:
...     scan(conn, utcnow())
[]
"""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import and_, case, func, select, update
from sqlalchemy.engine import Connection

from . import boot_clocks
from . import constants as C
from .db import insert_ignore
from .schema import alerts, devices, ratings, rollup_daily, rollup_window_monthly, streams
from .settings import Settings

SEVERITY = {
    C.AL_CONFLICT: "high", C.AL_CHAIN_BREAK: "high", C.AL_SEQ_GAP: "medium",
    C.AL_NEW_STREAM: "medium", C.AL_DB_RECOVERED: "medium", C.AL_CLOCK: "low",
    C.AL_NO_STAFF: "low", C.AL_BURST: "medium", C.AL_ZERO_BAD: "high", C.AL_SILENT: "medium",
    C.AL_AFTER_REVOCATION: "medium", C.AL_BACKLOG: "medium", C.AL_FLAGGED_BAD: "high",
    C.AL_VOLUME: "high", C.AL_DEVICE_FAULT: "high",
}


def raise_alert(conn: Connection, kind: str, key: str, detail: str, now: dt.datetime,
                device_id: str | None = None, window_id: str | None = None, *,
                args: dict | None = None) -> bool:
    """Record an alert unless one with the same kind and key exists; True when new.

    ``args`` are the values of ``detail`` for the dashboard's templates: ``msg`` names the
    template (``alertd_<msg>``; the kind when absent), the rest are its fields, e.g.
    ``{"msg": "clock_behind", "device": "kiosk-W-004", "seconds": 845}``.
    """
    row = {"kind": kind, "severity": SEVERITY.get(kind, "medium"),
           "dedupe_key": _dedupe_key(kind, key), "device_id": device_id,
           "window_id": window_id, "detail": detail,
           "detail_args": json.dumps(args, ensure_ascii=False, default=_plain) if args else None,
           "created_at": now, "resolved_at": None}
    return bool(insert_ignore(conn, alerts, [row], returning="id"))


def _dedupe_key(kind: str, key: str) -> str:
    return f"{kind}:{key}"[:300]


def _reopen(conn: Connection, kind: str, key: str, detail: str, args: dict | None,
            now: dt.datetime | None = None) -> bool:
    """Open again the resolved alert of ``kind`` and ``key`` (with this detail; raised at
    ``now`` when given); True when there was one. A condition a scan saw over (a backlog read
    young after a reboot with a clock behind) and then back kept its key, so a new alert was
    never raised for it."""
    values = {"resolved_at": None, "detail": detail, "detail_args": json.dumps(
        args, ensure_ascii=False, default=_plain) if args else None}
    if now is not None:
        values["created_at"] = now
    done = conn.execute(update(alerts).where(
        alerts.c.dedupe_key == _dedupe_key(kind, key), alerts.c.resolved_at.is_not(None))
        .values(**values))
    return done.rowcount > 0


def _plain(value) -> str | int:
    """A value of ``args`` JSON cannot hold as it is: times as ISO text, numbers as numbers
    (a PostgreSQL sum is a Decimal)."""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return int(value) if hasattr(value, "as_integer_ratio") and value == int(value) else str(value)


def list_alerts(conn: Connection, kind: str | None = None, device_id: str | None = None,
                limit: int = 200) -> list[dict]:
    q = select(alerts).order_by(alerts.c.id.desc()).limit(limit)
    if kind:
        q = q.where(alerts.c.kind == kind)
    if device_id:
        q = q.where(alerts.c.device_id == device_id)
    out = []
    for r in conn.execute(q).mappings():
        d = dict(r)
        d["created_at"] = d["created_at"].isoformat()
        d["resolved_at"] = d["resolved_at"].isoformat() if d["resolved_at"] else None
        d["detail_args"] = json.loads(d["detail_args"]) if d["detail_args"] else None
        out.append(d)
    return out


# The scan's look-backs (docs/aggregator.md, "Alerts").
LOOKBACK_DAYS = 7            # flagged bad and volume: the days checked again (uploads come late)
BASELINE_DAYS = 28           # a window's usual daily number: the mean of its non-empty days
BASELINE_MIN_DAYS = 5        # ... of at least this many (a new window has no usual number yet)
QR_BASELINE_DAYS = 7         # QR ratings: the mean of the 7 days before (empty days count 0)
QR_DAYS = 2                  # QR ratings are stored by the server at once: today and yesterday
ZERO_BAD_MONTHS = (3, 6)     # zero bad's longer spans: this month and the 2 (5) months before
MAX_AGE_S = 10 * 366 * 86400  # a heartbeat's oldest_pending_age_s beyond this is taken as this
RESOLVED_KINDS = (C.AL_SEQ_GAP, C.AL_SILENT, C.AL_BACKLOG, C.AL_DEVICE_FAULT)


def working_hours(start: dt.datetime, end: dt.datetime, calendar, tz: dt.tzinfo,
                  enough: float | None = None) -> float:
    """Hours between ``start`` and ``end`` that fall on working days of ``calendar`` (days of
    the site's time zone ``tz``); counted from ``end`` back, stopping once ``enough``.

    >>> from aggregator.dashboard.calendar import WorkCalendar
    >>> utc8 = dt.timezone(dt.timedelta(hours=8))
    >>> fri = dt.datetime(2026, 11, 6, 18, tzinfo=utc8)          # Friday 18:00
    >>> working_hours(fri, fri + dt.timedelta(hours=62), WorkCalendar(), utc8)  # to Monday 08:00
    14.0
    """
    total, hi = 0.0, end
    day = end.astimezone(tz).date()
    while hi > start and (enough is None or total < enough):
        lo = max(start, dt.datetime.combine(day, dt.time(), tz))
        if calendar.is_working_day(day):
            total += (hi - lo).total_seconds() / 3600
        hi, day = lo, day - dt.timedelta(days=1)
    return total


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def _as_time(value) -> dt.datetime | None:
    """An ISO time of ``detail_args`` (UTC when it has no offset); None when it is none."""
    try:
        when = dt.datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)


def _backlog(device: dict, now: dt.datetime, hours: float, calendar,
             tz) -> tuple[dt.datetime, int] | None:
    """Since when ``device``'s ratings wait to be uploaded and how many, when that is
    ``hours`` of working days or more; else None. Read from its newest heartbeat (``pending``,
    ``oldest_pending_age_s``; the stored text may be cut or invalid: then nothing is known),
    and only when that heartbeat came after its last upload: an upload drains the backlog."""
    from . import fleet

    beat = fleet.stored_heartbeat(device["last_heartbeat"]) or {}
    seen, uploaded = device["last_seen_at"], device["last_upload_at"]
    if not beat.get("pending") or seen is None or (uploaded is not None and seen <= uploaded):
        return None
    age = beat.get("oldest_pending_age_s")
    if age is not None:
        since = seen - dt.timedelta(seconds=min(age, MAX_AGE_S))
    else:   # a kiosk that does not say: its ratings wait at least since its last upload
        since = uploaded or device["enrolled_at"]
    if working_hours(since, now, calendar, tz, hours) < hours:
        return None
    return since, beat["pending"]


def _fault(device: dict) -> tuple[str, str] | None:
    """What ``device``'s newest heartbeat says keeps it from recording (``fleet.FAULTS``)
    and its error text; None when nothing does. Such a kiosk answers every press with
    "please try again" while it heartbeats, so it was never silent and raised nothing."""
    from . import fleet

    beat = fleet.stored_heartbeat(device["last_heartbeat"]) or {}
    fault = fleet.recording_fault(beat)
    if fault is None:
        return None
    return fault, beat.get("last_error") or f"{beat.get('disk_free_bytes')} bytes free"


def _resolve(conn: Connection, now: dt.datetime, devs: dict, s: Settings, calendar, tz) -> int:
    """Resolve the open gap, silence and backlog alerts whose condition is over; how many.

    Read from the values each alert keeps (``detail_args``); alerts without them (raised
    before migration 46) stay open. Reads the open alerts (``ix_alerts_open``), the streams of
    their devices, and ``devs`` (every device, read by ``scan`` anyway).
    """
    rows = conn.execute(select(alerts.c.id, alerts.c.kind, alerts.c.detail_args).where(
        alerts.c.resolved_at.is_(None), alerts.c.kind.in_(RESOLVED_KINDS))).all()
    if not rows:
        return 0
    parsed = []
    for r in rows:
        try:
            args = json.loads(r.detail_args) if r.detail_args else None
        except ValueError:
            args = None
        if isinstance(args, dict) and isinstance(args.get("device"), str):
            parsed.append((r.id, r.kind, args))
    gap_devices = sorted({a["device"] for _, kind, a in parsed if kind == C.AL_SEQ_GAP})
    found = {}
    for i in range(0, len(gap_devices), 500):
        for st in conn.execute(select(streams).where(
                streams.c.device_id.in_(gap_devices[i:i + 500]))).mappings():
            found[(st["device_id"], st["stream_id"])] = st
    done = []
    for id_, kind, args in parsed:
        d = devs.get(args["device"])
        if kind == C.AL_SEQ_GAP:
            st = found.get((args["device"], args.get("stream")))
            after = args.get("after")
            over = (st is None or st["gap_since"] is None
                    or (isinstance(after, int) and st["high_water"] > after))
        elif d is None or d["revoked_at"] is not None:
            over = True     # nothing more to wait for
        elif kind == C.AL_SILENT:
            since = _as_time(args.get("since_at"))
            over = since is not None and d["last_seen_at"] is not None \
                and d["last_seen_at"] > since
        elif kind == C.AL_DEVICE_FAULT:   # its newest heartbeat no longer says so
            over = _fault(d) is None
        else:   # backlog: over when none is left, or an upload since (a new one is new)
            over = (_backlog(d, now, s.silent_hours, calendar, tz) is None
                    or _iso(d["last_upload_at"]) != args.get("last_upload_at"))
        if over:
            done.append(id_)
    for i in range(0, len(done), 500):
        conn.execute(update(alerts).where(alerts.c.id.in_(done[i:i + 500]),
                                          alerts.c.resolved_at.is_(None))
                     .values(resolved_at=now))
    return len(done)


def scan(conn: Connection, now: dt.datetime, settings: Settings | None = None) -> list[dict]:
    """Raise the periodic alerts, resolve those whose condition is over, and forget the boot
    clocks no longer needed (``boot_clocks.forget_old``).

    Raised: open gaps, silent devices (hours of working days), devices heard from that
    cannot record (``fleet.recording_fault``), devices heard from whose ratings wait to be
    uploaded, a window's day with flagged bad ratings, a window's day far
    above its usual number of ratings (all, and QR), implausibly zero bad ratings. Resolved
    (``resolved_at``): a gap filled, a silent device heard from again or revoked, a device
    that records again, a backlog uploaded.

    What it reads: the devices, the open alerts (``ix_alerts_open``) and their streams, the
    streams with a gap; ``rollup_daily`` of the last 35 days once (the key starts with the
    day); ``rollup_window_monthly`` of the last 6 months; and the ratings of the last 9 days
    of the windows with at least ``volume_alert_min_extra`` ratings on one of the last 2
    (``ix_ratings_window_day``), for QR ratings.

    Returns the alerts raised now (not those already open).
    """
    s = settings or Settings()
    raised: list[dict] = []
    tz = dt.timezone(dt.timedelta(hours=s.timezone_offset_hours))
    # the site's working-day calendar (holidays, 调休 workdays), parsed once per stored text
    from .dashboard.cases import stored_settings  # the dashboard imports this package

    calendar = stored_settings(conn)[1]

    def add(kind, key, detail, device_id=None, window_id=None, args=None, reopen=False,
            fresh=False):
        if raise_alert(conn, kind, key, detail, now, device_id, window_id, args=args) \
                or (reopen and _reopen(conn, kind, key, detail, args, now if fresh else None)):
            raised.append({"kind": kind, "key": key, "detail": detail,
                           "device_id": device_id, "window_id": window_id})

    devs = {r["id"]: dict(r) for r in conn.execute(select(devices)).mappings()}
    _resolve(conn, now, devs, s, calendar, tz)

    gap_cut = now - dt.timedelta(hours=s.gap_alert_hours)
    for r in conn.execute(select(streams).where(and_(
            streams.c.gap_since.is_not(None), streams.c.gap_since < gap_cut))).mappings():
        add(C.AL_SEQ_GAP, f"{r['device_id']}:{r['stream_id']}:{r['high_water']}",
            f"device {r['device_id']} stream {r['stream_id']}: events after seq "
            f"{r['high_water']} missing for more than {s.gap_alert_hours} h "
            f"(highest seq seen {r['max_seq']})", device_id=r["device_id"],
            args={"device": r["device_id"], "stream": r["stream_id"], "after": r["high_water"],
                  "hours": s.gap_alert_hours, "max_seq": r["max_seq"]})

    for r in devs.values():
        if r["revoked_at"] is not None:
            continue
        seen = r["last_seen_at"] or r["enrolled_at"]
        # hours of working days only: a hall closed at the weekend or on a holiday is not silent
        if working_hours(seen, now, calendar, tz, s.silent_hours) >= s.silent_hours:
            add(C.AL_SILENT, f"{r['id']}:{seen.isoformat()}",
                f"device {r['id']} (window {r['window_id']}) silent since {seen.isoformat()}",
                device_id=r["id"], window_id=r["window_id"],
                args={"device": r["id"], "window": r["window_id"], "since_at": seen})
            continue
        fault = _fault(r)
        if fault is not None:
            problem, error = fault
            # one per device: a fault over (the scan resolved it) and back is opened again,
            # as raised now (it is a new stretch of ratings lost)
            add(C.AL_DEVICE_FAULT, r["id"],
                f"device {r['id']} (window {r['window_id']}) is heard from but cannot record "
                f"ratings ({problem}): {error}", device_id=r["id"], window_id=r["window_id"],
                args={"device": r["id"], "window": r["window_id"], "problem": problem,
                      "error": error[:300]},
                reopen=True, fresh=True)
        backlog = _backlog(r, now, s.silent_hours, calendar, tz)
        if backlog is not None:
            since, pending = backlog
            add(C.AL_BACKLOG, f"{r['id']}:{_iso(r['last_upload_at'])}",
                f"device {r['id']} (window {r['window_id']}) is heard from but holds {pending} "
                f"ratings not uploaded, waiting since {since.isoformat()}",
                device_id=r["id"], window_id=r["window_id"],
                args={"device": r["id"], "window": r["window_id"], "pending": pending,
                      "since_at": since, "last_upload_at": _iso(r["last_upload_at"])},
                reopen=True)   # keyed by the last upload: the same backlog, back again

    today = now.astimezone(tz).date()
    days = _window_days(conn, today)
    _flagged_bad(conn, days, today, s, add)
    _volume(days, today, s, add)
    _volume_qr(conn, days, today, s, add)
    _zero_bad(conn, days, today, s, add)
    boot_clocks.forget_old(conn, now)   # housekeeping of the same hourly job
    return raised


def _window_days(conn: Connection, today: dt.date) -> dict[str, dict[str, dict]]:
    """Per window and day of the last ``LOOKBACK_DAYS + BASELINE_DAYS`` days (site calendar):
    ``n`` unflagged ratings (timed-out invitations not counted), ``bad`` of them bad,
    ``flagged_bad`` bad ratings flagged. One range read of ``rollup_daily``'s key."""
    first = (today - dt.timedelta(days=LOOKBACK_DAYS + BASELINE_DAYS - 1)).isoformat()
    clean = and_(rollup_daily.c.flagged == 0, rollup_daily.c.level != C.NOT_RATED)
    bad = rollup_daily.c.level.in_(sorted(C.BAD_LEVELS))
    q = (select(rollup_daily.c.window_id, rollup_daily.c.day,
                func.sum(case((clean, rollup_daily.c.count), else_=0)).label("n"),
                func.sum(case((and_(clean, bad), rollup_daily.c.count), else_=0)).label("bad"),
                func.sum(case((and_(rollup_daily.c.flagged != 0, bad), rollup_daily.c.count),
                              else_=0)).label("flagged_bad"))
         .where(rollup_daily.c.day >= first, rollup_daily.c.day <= today.isoformat())
         .group_by(rollup_daily.c.window_id, rollup_daily.c.day))
    out: dict[str, dict[str, dict]] = {}
    for r in conn.execute(q).mappings():
        out.setdefault(r["window_id"], {})[r["day"]] = {
            "n": int(r["n"] or 0), "bad": int(r["bad"] or 0),
            "flagged_bad": int(r["flagged_bad"] or 0)}
    return out


def _recent(today: dt.date, n: int) -> list[str]:
    return [(today - dt.timedelta(days=k)).isoformat() for k in range(n)]


# The flags a press gets on the kiosk for how it was pressed. Not ``no_staff`` (nobody signed
# in), nor the server's ``appeal_accepted`` and ``after_revocation``: three appeals accepted
# for one day read as "a press just before the citizen's?".
PRESS_FLAGS = frozenset({C.FLAG_LOCKOUT, C.FLAG_OUTSIDE_INVITATION, C.FLAG_BURST})


def _flagged_bad(conn: Connection, days: dict, today: dt.date, s: Settings, add) -> None:
    """A window's day with ``flagged_bad_alert_count`` bad ratings flagged for how they were
    pressed (``PRESS_FLAGS``) or more: a bad rating flagged lockout (a second press within
    the lockout) or outside_invitation is left out of the rates and opens no case, so staff
    pressing 非常满意 just before the citizen hid the citizen's bad rating without a trace.
    The rollups count every flag; only the days they put over the line are read again from
    the ratings (``ix_ratings_window_day``) to count the press flags alone."""
    for window, by_day in days.items():
        for day in _recent(today, LOOKBACK_DAYS):
            if by_day.get(day, {}).get("flagged_bad", 0) < s.flagged_bad_alert_count:
                continue
            flags = conn.execute(select(ratings.c.flags).where(
                ratings.c.window_id == window, ratings.c.day == day,
                ratings.c.flagged.is_(True), ratings.c.stars <= C.BAD_STARS)).scalars()
            n = sum(1 for f in flags if PRESS_FLAGS & set(_flag_list(f)))
            if n >= s.flagged_bad_alert_count:
                add(C.AL_FLAGGED_BAD, f"{window}:{day}",
                    f"window {window}: {n} bad ratings on {day} were flagged and left out of "
                    f"the rates (a press just before the citizen's?)", window_id=window,
                    args={"window": window, "day": day, "n": n})


def _flag_list(text: str | None) -> list:
    try:
        flags = json.loads(text or "[]")
    except ValueError:
        return []
    return flags if isinstance(flags, list) else []


def _usual(counts: list[int], min_days: int) -> float | None:
    """The mean of the non-empty days of ``counts``; None with fewer than ``min_days``."""
    busy = [c for c in counts if c]
    return sum(busy) / len(busy) if len(busy) >= max(min_days, 1) else None


def _far_above(n: int, usual: float, s: Settings) -> bool:
    return n > s.volume_alert_factor * usual and n - usual >= s.volume_alert_min_extra


def _volume(days: dict, today: dt.date, s: Settings, add) -> None:
    """A window's day whose unflagged ratings are far above its usual number: padding paced
    to pass the lockout and burst rules (one 非常满意 every 12 s is 2,400 a day)."""
    for window, by_day in days.items():
        for k in range(LOOKBACK_DAYS):
            day = today - dt.timedelta(days=k)
            n = by_day.get(day.isoformat(), {}).get("n", 0)
            if n < s.volume_alert_min_extra:
                continue
            before = [by_day.get(d, {}).get("n", 0)
                      for d in _recent(day - dt.timedelta(days=1), BASELINE_DAYS)]
            usual = _usual(before, BASELINE_MIN_DAYS)
            if usual is not None and _far_above(n, usual, s):
                add(C.AL_VOLUME, f"{window}:{day.isoformat()}",
                    f"window {window}: {n} unflagged ratings on {day}, against a usual "
                    f"{usual:.1f} a day (the days with ratings of the {BASELINE_DAYS} before)",
                    window_id=window,
                    args={"window": window, "day": day.isoformat(), "n": n,
                          "mean": round(usual, 1), "days": BASELINE_DAYS})


def _volume_qr(conn: Connection, days: dict, today: dt.date, s: Settings, add) -> None:
    """A window's day whose unflagged QR ratings (channel 3) are far above its usual number:
    the phone page padded from rotating addresses, each under the per-address limit.

    QR ratings are stored by the server at once, so only today and yesterday are checked,
    each against the mean of the ``QR_BASELINE_DAYS`` before (empty days count 0: most windows
    have few). The ratings table has no rollup by channel, so it reads the ratings of those 9
    days (``ix_ratings_window_day``), and only of the windows with ``volume_alert_min_extra``
    unflagged ratings or more on one of the days checked (fewer QR ratings cannot be that
    many above the usual)."""
    checked = _recent(today, QR_DAYS)
    windows = sorted(w for w, by_day in days.items()
                     if any(by_day.get(d, {}).get("n", 0) >= s.volume_alert_min_extra
                            for d in checked))
    if not windows:
        return
    first = (today - dt.timedelta(days=QR_DAYS + QR_BASELINE_DAYS - 1)).isoformat()
    qr: dict[str, dict[str, int]] = {}
    for i in range(0, len(windows), 500):
        q = (select(ratings.c.window_id, ratings.c.day, func.count().label("n"))
             .where(ratings.c.window_id.in_(windows[i:i + 500]), ratings.c.day >= first,
                    ratings.c.day <= today.isoformat(), ratings.c.channel == C.CHANNEL_QR,
                    ratings.c.flagged.is_(False), ratings.c.level != C.NOT_RATED)
             .group_by(ratings.c.window_id, ratings.c.day))
        for r in conn.execute(q).mappings():
            qr.setdefault(r["window_id"], {})[r["day"]] = int(r["n"])
    for window, by_day in qr.items():
        for day in checked:
            n = by_day.get(day, 0)
            before = [by_day.get(d, 0) for d in _recent(
                dt.date.fromisoformat(day) - dt.timedelta(days=1), QR_BASELINE_DAYS)]
            usual = sum(before) / QR_BASELINE_DAYS
            if _far_above(n, usual, s):
                add(C.AL_VOLUME, f"qr:{window}:{day}",
                    f"window {window}: {n} unflagged QR ratings on {day}, against a usual "
                    f"{usual:.1f} a day (the {QR_BASELINE_DAYS} days before)", window_id=window,
                    args={"msg": "volume_qr", "window": window, "day": day, "n": n,
                          "mean": round(usual, 1), "days": QR_BASELINE_DAYS})


def _zero_bad(conn: Connection, days: dict, today: dt.date, s: Settings, add) -> None:
    """A window with ``zero_bad_min_ratings`` unflagged ratings and not one bad: in the 30
    days to today, else (a quieter window) in this month and the 2 before, else this month
    and the 5 before (read from ``rollup_window_monthly``: one row per window, month, level
    and flag). The longest span with not one bad rating is told, once it reaches the
    minimum; one alert per window and month."""
    last30 = set(_recent(today, 30))
    spans: dict[str, list[tuple[int, int, int]]] = {}   # window -> [(days, n, bad)]
    for window, by_day in days.items():
        n = sum(v["n"] for d, v in by_day.items() if d in last30)
        bad = sum(v["bad"] for d, v in by_day.items() if d in last30)
        spans[window] = [(30, n, bad)]
    starts = []
    for months in ZERO_BAD_MONTHS:
        y, m = divmod(today.year * 12 + today.month - 1 - (months - 1), 12)
        starts.append(dt.date(y, m + 1, 1))
    mon = rollup_window_monthly
    clean = and_(mon.c.flagged == 0, mon.c.level != C.NOT_RATED)
    bad = mon.c.level.in_(sorted(C.BAD_LEVELS))
    cols = []
    for k, start in enumerate(starts):
        inside = mon.c.month >= start.isoformat()[:7]
        cols += [func.sum(case((and_(clean, inside), mon.c.count), else_=0)).label(f"n{k}"),
                 func.sum(case((and_(clean, inside, bad), mon.c.count),
                               else_=0)).label(f"bad{k}")]
    q = (select(mon.c.window_id, *cols)
         .where(mon.c.month >= starts[-1].isoformat()[:7], mon.c.month <= today.isoformat()[:7])
         .group_by(mon.c.window_id))
    for r in conn.execute(q).mappings():
        spans.setdefault(r["window_id"], [(30, 0, 0)])
        for k, start in enumerate(starts):
            spans[r["window_id"]].append(((today - start).days + 1, int(r[f"n{k}"] or 0),
                                          int(r[f"bad{k}"] or 0)))
    for window, found in spans.items():
        told = None
        for span, n, bad in found:   # shortest first: once one has a bad rating, so do longer
            if bad:
                break
            if n >= s.zero_bad_min_ratings:
                told = span, n
        if told is None:
            continue
        span, n = told
        add(C.AL_ZERO_BAD, f"{window}:{today.isoformat()[:7]}",
            f"window {window}: {n} ratings in the {span} days to {today} "
            f"and not one bad rating", window_id=window,
            args={"window": window, "n": n, "to": today, "days": span})
