"""The ``aggregator`` command: serve, migrate, enroll-code, revoke-device, devices,
scan-alerts, demo, create-user, set-password, deactivate-user, activate-user, unlock-user, backup,
restore, import-kiosk-export, export-ratings."""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
from pathlib import Path
from urllib.parse import urlsplit

DEFAULT_DB = "sqlite:///var/aggregator.db"


def _database(args) -> str:
    given = args.database if args.database is not None else \
        os.environ.get("AGGREGATOR_DATABASE_URL")
    if given is not None and not given.strip():
        # an unset variable in a script (--database "$DB") wrote ./var/aggregator.db; an
        # empty AGGREGATOR_DATABASE_URL was reported as an empty --database
        named = "--database" if args.database is not None else "AGGREGATOR_DATABASE_URL"
        raise _refuse(f"{named} is empty; give the database URL, e.g. "
                      "sqlite:////var/lib/aggregator/aggregator.db")
    url = given or DEFAULT_DB
    if url.split("?")[0] in ("sqlite://", "sqlite:///", "sqlite:///:memory:"):
        from .db import hide_password

        raise _refuse(f"{hide_password(url)!r} is an in-memory database: what the command "
                      "does would be lost when it ends; give a file")
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    return url


def _refuse(text: str):
    from .errors import ConfigError

    return ConfigError(text)


def _engine(args, create: bool = False):
    """The command's database, migrated. Without ``create`` (every command but ``demo``), a
    SQLite file that is not there is an error: ``scan-alerts`` from cron, ``create-user`` or
    ``revoke-device`` without ``--database`` made a new, empty ``./var/aggregator.db`` and
    reported success on it ("no alerts", "user created", "no such device")."""
    from .db import make_engine
    from .migrations import migrate

    url = _database(args)
    if not create and url.startswith("sqlite:///"):
        path = Path(url[len("sqlite:///"):].split("?")[0])
        # An empty file is no database either: `devices` and `scan-alerts` migrated one (a
        # `touch`ed or truncated file) and reported an empty fleet and no alerts as success.
        empty = path.is_file() and path.stat().st_size == 0
        if not path.exists() or empty:
            raise _refuse(f"no aggregator database at {path.resolve()}"
                          + (" (an empty file)" if empty else "") + ": give the server's with "
                          "--database (or AGGREGATOR_DATABASE_URL); `aggregator migrate` "
                          "creates a new one")
    engine = make_engine(url)
    migrate(engine)
    return engine


def _local(iso: str, settings) -> str:
    """A stored UTC time as the hall's clock shows it (it was printed in UTC, 8 hours off)."""
    import datetime as dt

    zone = dt.timezone(dt.timedelta(hours=settings.timezone_offset_hours))
    return dt.datetime.fromisoformat(iso).astimezone(zone).strftime("%Y-%m-%d %H:%M (UTC%z)")


def cmd_serve(args) -> int:
    import uvicorn

    from . import logs
    from .db import make_engine
    from .errors import ConfigError
    from .migrations import migrate
    from .settings import Settings

    url = _database(args)
    try:   # a bad value: stop before all
        settings = Settings.from_env(public_url=args.public_url)
    except ConfigError as exc:   # a bad --public-url was reported as AGGREGATOR_PUBLIC_URL
        env = "AGGREGATOR_PUBLIC_URL "
        if args.public_url is None or not exc.detail.startswith(env):
            raise
        raise ConfigError("--public-url " + exc.detail[len(env):]) from None
    try:   # before the migrations and uvicorn, which said only "Name or service not known"
        found = socket.getaddrinfo(args.host, args.port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise ConfigError(f"--host {args.host!r} is not an address this machine can listen on "
                          f"({exc.strerror or exc})") from None
    _check_listen(args.host, args.port, found[0])
    logs.setup()   # before the migrations, which say what they do (one may take minutes)
    migrate(make_engine(url))
    if not os.environ.get("AGGREGATOR_SECRET"):
        print("aggregator: AGGREGATOR_SECRET is unset; QR follow-up tokens will not survive a "
              "restart", file=sys.stderr)
    if _loopback(urlsplit(settings.public_url).hostname) and not _loopback(args.host):
        # every kiosk's QR code points at this URL: phones would try to reach themselves
        print(f"aggregator: AGGREGATOR_PUBLIC_URL is {settings.public_url!r}, a loopback "
              f"address, while serving on --host {args.host}: the kiosks' QR codes would point "
              "at the citizen's own phone; set --public-url (or AGGREGATOR_PUBLIC_URL) to the "
              "address phones reach this server at", file=sys.stderr)
    # Before .app (and so .metrics) is imported: its histogram opens its file in
    # PROMETHEUS_MULTIPROC_DIR at import, and the folder deploy/aggregator.service names
    # (/run/aggregator/metrics) is not there at boot: the server never started.
    try:
        made = _metrics_dir(args.workers)
    except OSError as exc:
        import tempfile

        given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        print("aggregator serve: " + (
            f"PROMETHEUS_MULTIPROC_DIR={given}: cannot make or empty that folder "
            f"({exc.strerror or exc}); make it writable for the service's user, or unset the "
            "variable" if given else
            f"cannot make a folder for the workers' metrics in {tempfile.gettempdir()} "
            f"({exc.strerror or exc}); set PROMETHEUS_MULTIPROC_DIR to a writable folder"),
            file=sys.stderr)
        return 1
    try:
        # proxy_headers=False: the app reads X-Forwarded-For itself, from the proxies of
        # AGGREGATOR_TRUSTED_PROXIES only (aggregator/proxy.py). uvicorn's own reading put the
        # rightmost address it does not trust in the request's client, the client's made-up
        # entry whenever the real client was loopback too, before the app could look.
        if args.workers > 1:
            # Each worker builds its settings from the environment (``app_from_env``): what
            # the command line gave reaches them only that way (--public-url was dropped, and
            # kiosks got QR codes of http://127.0.0.1:8700).
            os.environ["AGGREGATOR_DATABASE_URL"] = url
            os.environ["AGGREGATOR_PUBLIC_URL"] = settings.public_url
            os.environ.setdefault("AGGREGATOR_SECRET", settings.secret)
            uvicorn.run("aggregator.cli:app_from_env", factory=True, host=args.host,
                        port=args.port, workers=args.workers, proxy_headers=False,
                        log_config=logs.uvicorn_log_config())
        else:
            from .app import create_app

            app = create_app(url, settings=settings, run_migrations=False)
            _settle_heap()
            uvicorn.run(app, host=args.host, port=args.port, proxy_headers=False,
                        log_config=logs.uvicorn_log_config())
    finally:  # each start made its own; without this every restart left one in /tmp
        if made:
            import shutil
            shutil.rmtree(made, ignore_errors=True)
    return 0


def _loopback(host: str | None) -> bool:
    """Whether ``host`` (a name or an address) is this machine only (127.0.0.0/8, ::1,
    localhost)."""
    import ipaddress

    host = (host or "").strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_listen(host: str, port: int, addrinfo: tuple) -> None:
    """ConfigError unless ``host``:``port`` can be listened on now: a port in use or an
    address of another machine ended uvicorn with exit 3 and six JSON log lines."""
    family, kind, proto, _, address = addrinfo
    try:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)   # as uvicorn does
            probe.bind(address)
    except OSError as exc:
        why = exc.strerror or str(exc)
        shown = f"[{host}]" if ":" in host else host
        from .errors import ConfigError

        raise ConfigError(f"cannot listen on {shown}:{port}: {why[:1].lower()}{why[1:]}") \
            from None


def _settle_heap() -> None:
    """Move the objects alive after start-up (modules, routes, SQLAlchemy tables) out of the
    garbage collector's reach, and collect less often: a parsed batch is ~10,000 dicts and
    lists, which triggered collections that walked the start-up heap and the batch itself
    (together 5-10 % of an event's CPU time on ingest). The server makes few reference
    cycles; what it allocates is freed by reference counting."""
    import gc

    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


def _metrics_dir(workers: int) -> str | None:
    """Workers sum their /metrics counters through files in PROMETHEUS_MULTIPROC_DIR: a
    fresh temp dir when several workers run and none is given; one given is made if missing
    and emptied (prometheus-client requires both), for any number of workers. Returns the
    temp dir it made, for ``cmd_serve`` to remove at the end; OSError when the given one
    cannot be made or emptied."""
    import tempfile

    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if given:
        Path(given).mkdir(parents=True, exist_ok=True)
        for stale in Path(given).glob("*.db"):
            stale.unlink()
        return None
    if workers == 1:
        return None
    made = tempfile.mkdtemp(prefix="aggregator-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = made
    return made


def app_from_env():
    """App factory for multi-worker ``serve`` (each worker builds its own engine)."""
    from .app import create_app
    from .settings import Settings

    app = create_app(os.environ["AGGREGATOR_DATABASE_URL"], settings=Settings.from_env(),
                     run_migrations=False)
    _settle_heap()
    return app


def cmd_migrate(args) -> int:
    from .db import make_engine
    from .migrations import migrate

    # each migration's start and end (one may take minutes on a large table)
    done = migrate(make_engine(_database(args)),
                   say=lambda line: print(f"aggregator migrate: {line}", file=sys.stderr))
    print(f"applied migrations: {done}" if done else "database is up to date")
    return 0


def cmd_enroll_code(args) -> int:
    from . import enroll, qr
    from .db import utcnow, write
    from .settings import Settings

    settings = Settings.from_env()
    ttl = args.ttl_hours if args.ttl_hours is not None else settings.enroll_ttl_hours
    with write(_engine(args)) as conn:
        code = enroll.create_code(conn, args.window, utcnow(), ttl, device_id=args.device)
    only = f" (device {code['device_id']} only)" if code["device_id"] else ""
    print(f"enrolment code for window {code['window_id']}{only}: {code['code']}")
    print(f"valid until {_local(code['expires_at'], settings)}, one use only")
    print(qr.ascii_qr(code["code"]))
    return 0


def cmd_revoke(args) -> int:
    from . import enroll
    from .db import utcnow, write
    from .settings import Settings

    with write(_engine(args)) as conn:
        out = enroll.revoke(conn, args.device, utcnow())
    print(f"device {out['device_id']} revoked at {_local(out['revoked_at'], Settings.from_env())}; "
          "its data is kept")
    return 0


def cmd_devices(args) -> int:
    from . import fleet
    from .db import read, utcnow
    from .settings import Settings

    settings = Settings.from_env()
    with read(_engine(args)) as conn:
        rows = fleet.devices(conn, utcnow(), settings, unit=args.unit)
    if args.json:
        keep = ("id", "unit_id", "window_id", "status", "fault", "last_seen_at",
                "last_seen_local", "revoked_at", "revoked_at_local", "backlog", "app_version")
        print(json.dumps([{k: d[k].isoformat() if hasattr(d[k], "isoformat") else d[k]
                           for k in keep} for d in rows], ensure_ascii=False, indent=1))
    else:
        print(fleet.table(rows, settings.timezone_offset_hours))
    return 0


def cmd_shrink_photos(args) -> int:
    from .db import write
    from .staff_photos import MAX_SIZE, shrink_stored

    with write(_engine(args)) as conn:
        done = shrink_stored(conn)
    print(f"{done['checked']} photos checked; {done['shrunk']} scaled to fit "
          f"{MAX_SIZE[0]}x{MAX_SIZE[1]} or turned upright, {done['staff_updated']} staff now "
          "show the new ones (their kiosks fetch them with the next config)")
    for bad in done["unreadable"]:
        print(f"left as it is, unreadable: {bad['sha256']}: {bad['problem']}")
    return 0


def cmd_scan(args) -> int:
    from . import alerts
    from .db import utcnow, write
    from .settings import Settings

    with write(_engine(args)) as conn:
        raised = alerts.scan(conn, utcnow(), Settings.from_env())
    print(json.dumps({"raised": raised}, ensure_ascii=False, indent=1))
    return 0


def cmd_demo(args) -> int:
    from sqlalchemy import func, select

    from . import demo
    from .schema import windows

    engine = _engine(args, create=True)
    with engine.connect() as conn:
        held = conn.execute(select(func.count()).select_from(windows)).scalar()
    if held:
        # On a working database it renamed windows and units to the demo's, added thousands of
        # made-up ratings and walked real new cases on as a demo user.
        raise _refuse(f"{_shown_url(args)} already holds {held} windows: the demo loads only "
                      "into a new database (give another --database)")
    summary = demo.run(engine, months=args.months, seed=args.seed,
                       enroll_code_file=args.enroll_code_file)
    print(json.dumps(summary, ensure_ascii=False, indent=1))
    return 0


def _new_password(args) -> str | None:
    """The password from stdin's first line, or typed twice at a prompt (None: they differ)."""
    import getpass

    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    try:
        if _terminal():
            password = getpass.getpass(f"password for {args.username[:64]}: ")
            again = getpass.getpass("again: ")
        else:   # getpass printed Python's GetPassWarning and prompts into the output
            password, again = (_stdin_line() for _ in range(2))
    except EOFError:   # no terminal and nothing on standard input
        print(f"aggregator {args.command}: no password given (type it at a terminal, or pass "
              "--password-stdin); nothing changed", file=sys.stderr)
        return None
    if password != again:
        print(f"aggregator {args.command}: the passwords differ; nothing changed",
              file=sys.stderr)
        return None
    return password


def _terminal() -> bool:
    """A terminal to type a password at (what ``getpass`` opens)."""
    try:
        os.close(os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY))
    except OSError:
        return False
    return True


def _stdin_line() -> str:
    line = sys.stdin.readline()
    if not line:
        raise EOFError
    return line.rstrip("\r\n")


def _must_change(args, role: str) -> bool:
    """Whether the password set here must be changed at the next sign-in: by default for
    every role but admin. The operator at the server's command line sets a password for
    another person (a supervisor, a manager, a staff member), who must then choose their own;
    an admin account made or reset here is, in practice, the operator's own (the first
    account, or the way back in), and whoever runs these commands holds the database
    anyway, so the mark would stop nobody. ``--must-change-password`` marks an admin too."""
    given = getattr(args, "must_change_password", None)
    return role != "admin" if given is None else given


def _username(args) -> str:
    """The user name given (positional or --username), checked before any prompt: one that
    was not text (bytes that were not UTF-8) crashed the password prompt."""
    from .dashboard import accounts

    name = getattr(args, "name", None) or args.username
    if not name:
        raise _refuse("give the user name (USERNAME or --username)")
    return accounts.check_username(name)


def cmd_create_user(args) -> int:
    from .dashboard import accounts
    from .db import utcnow, write

    args.username = _username(args)
    password = _new_password(args)
    if password is None:
        return 2
    with write(_engine(args)) as conn:
        user = accounts.create_user(conn, args.username, password, args.role,
                                    region_id=args.region, unit_id=args.unit,
                                    staff_id=args.staff, language=args.language, now=utcnow(),
                                    must_change_password=_must_change(args, args.role))
    where = user["region_id"] or user["unit_id"] or "all units"
    print(f"user {user['username']} created: {user['role']}, scope {where}"
          + ("; they must change the password at their first sign-in"
             if user["must_change_password"] else ""))
    return 0


def cmd_set_password(args) -> int:
    from .dashboard import accounts
    from .db import write

    args.username = _username(args)
    password = _new_password(args)
    if password is None:
        return 2
    with write(_engine(args)) as conn:
        user = accounts.require_user(conn, args.username)
        must = _must_change(args, user["role"])
        accounts.set_password(conn, user, password, must_change=must)
    print(f"password of {user['username']} changed; their sessions ended and sign-in locks "
          "lifted" + ("; they must change it at their next sign-in" if must else ""))
    return 0


def cmd_set_active(args) -> int:
    import datetime as dt

    from .dashboard import accounts
    from .db import write

    active = args.command == "activate-user"
    args.username = _username(args)
    with write(_engine(args)) as conn:
        user = accounts.set_active(conn, args.username, active,
                                   dt.datetime.now(dt.timezone.utc))
    print(f"user {user['username']} " + ("may sign in again (sign-in locks lifted)" if active
                                         else "deactivated and signed out; the audit log keeps "
                                         "what they did"))
    return 0


def cmd_unlock_user(args) -> int:
    from .dashboard import accounts
    from .db import write

    args.username = _username(args)
    with write(_engine(args)) as conn:
        user = accounts.require_user(conn, args.username)
        lifted = accounts.unlock(conn, user["username"])
    print(f"sign-in locks of {user['username']} lifted ({lifted} cleared); a lock of a whole "
          "address (too many failures for any names from it) ends by itself")
    return 0


def cmd_backup(args) -> int:
    from . import backup
    from .db import make_engine

    out = backup.backup(make_engine(_database(args)), Path(args.output))
    print(json.dumps(out, ensure_ascii=False))
    return 0


def cmd_restore(args) -> int:
    from . import backup
    from .db import make_engine

    out = backup.restore(make_engine(_database(args)), Path(args.input), force=args.force)
    print(json.dumps(out, ensure_ascii=False))
    return 0


def cmd_import_export(args) -> int:
    from . import backup
    from .settings import Settings

    out = backup.import_kiosk_export(_engine(args), Path(args.folder), Settings.from_env())
    print(json.dumps(out, ensure_ascii=False))
    bad = out.get("bad_lines", [])
    for line in bad[:10]:   # each is kept in the quarantine table
        print(f"aggregator import-kiosk-export: {line['reason']}; kept in the quarantine "
              "table", file=sys.stderr)
    if out.get("bad_line_count", 0) > 10:
        print(f"aggregator import-kiosk-export: and {out['bad_line_count'] - 10} more lines "
              "(each in the quarantine table, with its reason)", file=sys.stderr)
    taken = out["results"].get("accepted", 0) + out["results"].get("duplicate", 0)
    if out["events"] and not taken:
        # Every event rejected (a wrong device id, a damaged export) said rc 0, as a success.
        why = next(iter(out.get("rejected_reasons") or {}), None) or (bad[0]["reason"] if bad else "")
        print(f"aggregator import-kiosk-export: none of the {out['events']} events of "
              f"{args.folder} was taken in" + (f" (e.g. {why})" if why else ""), file=sys.stderr)
        return 1
    return 0


def cmd_export_ratings(args) -> int:
    from sqlalchemy import select

    from .dashboard import audit, export_scope, rating_export
    from .dashboard.i18n import translator
    from .db import read, utcnow, write
    from .schema import units
    from .settings import Settings

    settings = Settings.from_env()
    first, last = rating_export.parse_days(None, args.date_from, args.date_to, None)
    fmt = args.format or ("xlsx" if args.output.lower().endswith(".xlsx") else "csv")
    output = _export_output(args.output)
    engine, now, t = _engine(args), utcnow(), translator(args.lang)
    # Written beside the output and renamed into place: a scheduled hand-over never finds a
    # half-written file under the name it picks up.
    part = output.with_name(f".{output.name}.part")
    try:
        with read(engine) as conn:
            # the server's command line sees every unit; an unknown code is named and refused
            where = export_scope.Part.of(args.unit, args.region)
            every = set(conn.execute(select(units.c.id)).scalars())
            chosen = export_scope.units_of(conn, {"role": "admin"}, every, where)
            sel = rating_export.Selection(first, last, chosen, args.target,
                                          args.include_flagged, now,
                                          where.id if where else None)
            n = rating_export.count(conn, sel)
            rating_export.check_size(fmt, n)
            try:
                out = open(part, "wb")
            except OSError as exc:   # it named the hidden temporary file
                raise _refuse(f"--output {args.output}: cannot write there "
                              f"({exc.strerror or exc})") from None
            with out:
                rating_export.write_file(conn, sel, fmt, t, settings.timezone_offset_hours, out)
        os.replace(part, output)
    finally:
        part.unlink(missing_ok=True)
    with write(engine) as conn:
        audit.record(conn, None, "export_ratings", now, target=f"{first}/{last}",
                     detail=rating_export.audit_detail(sel, fmt, n, where, "cli")
                     | {"output": str(output.resolve())})
    covered = args.unit or (f"region {args.region}, {len(chosen)} units" if args.region
                            else f"{len(chosen)} units")
    print(f"{n} ratings of {first} to {last} ({covered}, "
          f"{'flagged included' if args.include_flagged else 'flagged left out'}, level codes "
          f"in the {args.target} order) written to {output}")
    return 0


def _export_output(given: str) -> Path:
    """The file ``export-ratings --output`` names, checked before the export is computed
    (".", "" and a folder were a traceback, or named the hidden temporary file, at the end)."""
    output = Path(given)
    if not given.strip():
        raise _refuse("--output is empty; give the file to write, e.g. ratings.xlsx")
    if output.is_dir() or not output.name or output.name == ".." or given.endswith(os.sep):
        raise _refuse(f"--output {given} is a folder; give the file to write in it, e.g. "
                      f"{output / 'ratings.xlsx'}")
    if not output.parent.is_dir():
        raise _refuse(f"--output {given}: folder {output.parent} does not exist")
    return output


def _months(value: str) -> int:
    number = _positive(value)
    if number > 120:   # 100000 months overflowed the calendar (a traceback)
        raise argparse.ArgumentTypeError(f"must be at most 120 (ten years), got {value!r}")
    return number


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value!r}")
    return number


def _port(value: str) -> int:
    # uvicorn took 99999 without a word and listened somewhere else
    number = _positive(value)
    if number > 65535:
        raise argparse.ArgumentTypeError(f"must be a TCP port from 1 to 65535, got {value!r}")
    return number


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="aggregator", description=(
        "Central aggregation server of the counter satisfaction kiosk (窗口服务好差评)."))
    from . import __version__

    p.add_argument("--version", action="version", version=f"aggregator {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    db_help = f"database URL, sqlite:///path or postgresql://… (default {DEFAULT_DB})"

    def command(name, func, help_text):
        c = sub.add_parser(name, help=help_text, description=help_text)
        c.add_argument("--database", help=db_help)
        c.set_defaults(func=func)
        return c

    c = command("serve", cmd_serve, "run the HTTP server")
    c.add_argument("--host", default="127.0.0.1")
    c.add_argument("--port", type=_port, default=8700)
    c.add_argument("--workers", type=_positive, default=1)
    c.add_argument("--public-url", help="base URL for QR codes (env AGGREGATOR_PUBLIC_URL)")
    command("migrate", cmd_migrate, "apply database migrations")
    c = command("enroll-code", cmd_enroll_code, "make a one-time enrolment code for a window")
    c.add_argument("--window", required=True, help="window id")
    c.add_argument("--ttl-hours", type=float, default=None,
                   help="hours the code stays valid (default AGGREGATOR_ENROLL_TTL_HOURS, 24)")
    c.add_argument("--device", help="a code that enrols this known device again (a kiosk moved "
                                    "to another window, or whose key was lost); without it a "
                                    "code enrols only a new device")
    c = command("revoke-device", cmd_revoke, "stop a device (its data is kept)")
    c.add_argument("--device", required=True, help="device id")
    c = command("devices", cmd_devices, "list the enrolled devices: unit, window, status "
                "(online, offline, revoked), last seen in the hall's local time, backlog, "
                "app version")
    c.add_argument("--unit", help="only this unit's devices (unit id)")
    c.add_argument("--json", action="store_true", help="print JSON")
    command("scan-alerts", cmd_scan, "raise periodic integrity alerts now")
    command("shrink-photos", cmd_shrink_photos, "scale the staff photos stored before uploads "
            "were scaled (2026-12-02) to what kiosks show, upright; the roster then names them")
    c = command("demo", cmd_demo, "load a demo district with months of synthetic ratings")
    c.add_argument("--months", type=_months, default=3)
    c.add_argument("--seed", type=int, default=1)
    c.add_argument("--enroll-code-file", help="write an enrolment code for window 1 here")
    c = command("create-user", cmd_create_user, "add a dashboard user (password from a prompt "
                "or --password-stdin)")
    c.add_argument("--username", required=True)
    c.add_argument("--role", required=True,
                   choices=("admin", "supervisor", "unit_manager", "viewer", "staff"))
    c.add_argument("--region", help="region id: the subtree a supervisor (or viewer) oversees")
    c.add_argument("--unit", help="unit id of a unit manager (or viewer)")
    c.add_argument("--staff", help="staff id of a staff account (peer review, own results)")
    c.add_argument("--language", default="zh_CN", choices=("zh_CN", "en"))
    c.add_argument("--password-stdin", action="store_true",
                   help="read the password from the first line of stdin")
    c.add_argument("--must-change-password", action=argparse.BooleanOptionalAction,
                   help="whether the user must change the password at the first sign-in "
                        "(default: yes for every role but admin)")
    c = command("set-password", cmd_set_password, "give a dashboard user a new password "
                "(from a prompt or --password-stdin), end their sessions and lift their "
                "sign-in locks")
    c.add_argument("--username", required=True)
    c.add_argument("--password-stdin", action="store_true",
                   help="read the password from the first line of stdin")
    c.add_argument("--must-change-password", action=argparse.BooleanOptionalAction,
                   help="whether the user must change it at the next sign-in (default: yes "
                        "for every role but admin)")
    c = command("deactivate-user", cmd_set_active, "stop a dashboard user signing in (ends "
                "their sessions at once; the audit log keeps what they did)")
    c.add_argument("--username", required=True)
    c = command("activate-user", cmd_set_active, "let a deactivated dashboard user sign in "
                "again (and lift their sign-in locks)")
    c.add_argument("--username", required=True)
    c = command("unlock-user", cmd_unlock_user, "lift the sign-in locks of a dashboard user "
                "(after too many wrong passwords, from anywhere)")
    c.add_argument("name", nargs="?", metavar="USERNAME")
    c.add_argument("--username", help="the same as USERNAME")
    c = command("backup", cmd_backup, "copy the database to a file while it runs (SQLite: "
                "online backup API; PostgreSQL: pg_dump --format=custom)")
    c.add_argument("--output", required=True, help="backup file to write")
    c = command("restore", cmd_restore, "replace the database with a backup, then migrate it "
                "(stop the servers first)")
    c.add_argument("--input", required=True, help="backup file made by 'aggregator backup'")
    c.add_argument("--force", action="store_true",
                   help="replace a database that already holds ratings")
    c = command("import-kiosk-export", cmd_import_export, "take in a kiosk's USB export "
                "(events it may never have sent), signed with the device's key; known events "
                "count as duplicates; exit 1 when none was taken in")
    c.add_argument("folder", help="the kiosk-export-… folder with manifest.json")
    c = command("export-ratings", cmd_export_ratings, "write every rating of some local days "
                "(all units, one region or one unit) to a CSV or XLSX file for the 好差评 "
                "system, levels coded in the target's order; never the citizen's phone number "
                "(docs/aggregator.md)")
    c.add_argument("--from", dest="date_from", required=True, metavar="YYYY-MM-DD",
                   help="first local day")
    c.add_argument("--to", dest="date_to", required=True, metavar="YYYY-MM-DD",
                   help="last local day (inclusive)")
    where = c.add_mutually_exclusive_group()
    where.add_argument("--unit", metavar="CODE", help="only this unit (unit id)")
    where.add_argument("--region", metavar="CODE",
                       help="only the units of this region and the regions below it (region id)")
    c.add_argument("--target", required=True, choices=("national", "provincial"),
                   help="national: GB/T 39046-2020, 1 = 非常满意; provincial: 1 = 非常不满意")
    c.add_argument("--format", choices=("csv", "xlsx"),
                   help="default: xlsx for an output ending in .xlsx, else csv")
    c.add_argument("--output", required=True, help="file to write")
    c.add_argument("--include-flagged", action="store_true",
                   help="include flagged (suspicious) ratings; left out by default")
    c.add_argument("--lang", default="zh_CN", choices=("zh_CN", "en"),
                   help="language of the headers and names (default zh_CN)")
    return p


def main(argv=None) -> int:
    try:
        args = parser().parse_args(argv)
        from .errors import AggregatorError
    except KeyboardInterrupt:   # Ctrl-C while the modules load: a traceback
        print("aggregator: interrupted", file=sys.stderr)
        return 130

    try:
        return args.func(args)
    except AggregatorError as exc:
        print(f"aggregator {args.command}: {exc.detail}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"aggregator {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:   # `aggregator enroll-code | head -1`: the reader had enough
        sys.stderr.close()
        return 0
    except OSError as exc:   # a read-only place, a folder where a file belongs, a full disk
        where = f" ({exc.filename})" if exc.filename else ""
        print(f"aggregator {args.command}: {exc.strerror or exc}{where}", file=sys.stderr)
        return 1
    except Exception as exc:  # database unreachable and the like: a message, not a trace
        if type(exc).__module__.startswith(("sqlalchemy", "psycopg")):
            print(f"aggregator {args.command}: database {_shown_url(args)}: "
                  f"{_database_problem(exc)}", file=sys.stderr)
            return 1
        if isinstance(exc, ModuleNotFoundError):   # postgresql+asyncpg://… and the like
            print(f"aggregator {args.command}: database {_shown_url(args)} needs the Python "
                  f"module {exc.name!r}, which is not installed (use postgresql:// or "
                  "sqlite:///)", file=sys.stderr)
            return 2
        raise


def _shown_url(args) -> str:
    """The database the command used, its password hidden (in the user part or a
    ``password=`` parameter, and in a URL that does not parse)."""
    from .db import hide_password

    return hide_password(getattr(args, "database", None)
                         or os.environ.get("AGGREGATOR_DATABASE_URL") or DEFAULT_DB)


def _database_problem(exc: Exception) -> str:
    """The driver's own words (without SQLAlchemy's statement dump and link), and a hint for
    a file that is not a database."""
    from .db import hide_password

    orig = getattr(exc, "orig", None) or exc
    text = hide_password(str(orig).strip())
    if "file is not a database" in text or "database disk image is malformed" in text:
        text += (" (not an aggregator database, or damaged: `aggregator restore` puts a "
                 "backup in its place)")
    from .db import is_disk_full

    if is_disk_full(exc):
        text += " (the disk holding the database is full)"
    return text


if __name__ == "__main__":
    sys.exit(main())
