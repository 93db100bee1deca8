"""The ``kiosk`` command: run the app, check a config, show status, export, set a PIN, simulate.

Exit codes: 0 success, 1 the operation failed, 2 bad arguments or a bad config file.
"""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import os
import re
import sqlite3
import sys
from pathlib import Path

from . import __version__
from .config import _line_map, _where, data_dir, load_config, load_config_text
from .errors import ConfigError, KioskError, StoreError, StoreFullError
from .fonts import font_gap_warnings, log_font_gaps
from .pin import hash_pin
from .technician import MIN_PIN_ITERATIONS, factory_pin, weak_pin_hash

log = logging.getLogger("kiosk.cli")

DEFAULT_CONFIG = "config.yaml"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="kiosk",
        description="Counter satisfaction kiosk (窗口服务好差评评价器): one touchscreen per service window.",
    )
    p.add_argument("--version", action="version", version=f"kiosk {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    run = sub.add_parser("run", help="start the touchscreen app")
    run.add_argument("--config", default=DEFAULT_CONFIG, help="config file (default: %(default)s)")
    run.add_argument("--windowed", action="store_true", help="not fullscreen, whatever the config says")

    chk = sub.add_parser("check-config", help="validate a config file; exit 2 with the errors")
    chk.add_argument("path", nargs="?", help="config file to check (or --config)")
    chk.add_argument("--config", help=f"config file to check, as for the other commands "
                                      f"(default: {DEFAULT_CONFIG})")

    st = sub.add_parser("status", help="device id, pending events, last ack, database size")
    st.add_argument("--config", default=DEFAULT_CONFIG)
    st.add_argument("--json", action="store_true", help="print JSON")

    ex = sub.add_parser("export", help="write all events as JSON Lines + CSV + manifest to a folder")
    ex.add_argument("--config", help=f"config file naming the data folder (default: {DEFAULT_CONFIG}; "
                                     "not read with --db)")
    ex.add_argument("--to", required=True, help="target folder, e.g. the USB stick's mount point")
    ex.add_argument("--db", help="export this database file instead (e.g. one moved aside as "
                                 "corrupt, or a dead kiosk's on another machine); signed with "
                                 "the device key in its folder")
    ex.add_argument("--device-id", help="with --db: the device id its events were made with, "
                                        "when its meta table is damaged and the kiosk's files "
                                        "beside it do not tell")
    ex.add_argument("--stream-id", help="with --db: likewise, its stream id (the server's "
                                        "db_recovered alert names the old stream)")

    sp = sub.add_parser("set-pin", help="set the technician PIN (or a staff member's) in the config file")
    sp.add_argument("--config", default=DEFAULT_CONFIG)
    sp.add_argument("--staff", metavar="STAFF_NO", help="set this staff member's PIN instead")
    sp.add_argument("--pin-stdin", action="store_true", help="read the PIN from standard input")
    sp.add_argument("--print-only", action="store_true", help="print the hash, do not edit the file")

    en = sub.add_parser("enroll", help="enrol this kiosk to an aggregation server")
    en.add_argument("--config", default=DEFAULT_CONFIG)
    en.add_argument("--server", required=True, help="server URL, e.g. http://127.0.0.1:8700")
    en.add_argument("--code", required=True, help="one-time enrolment code from `aggregator enroll-code`")

    sim = sub.add_parser("simulate", help="run N virtual kiosks against a server (no window)")
    sim.add_argument("--server", required=True)
    sim.add_argument("--devices", type=int, default=10)
    sim.add_argument("--ratings", type=int, default=100, help="ratings per device")
    sim.add_argument("--rate", type=float, default=None, help="ratings per second per device (default: as fast as possible)")
    sim.add_argument("--workdir", default=None, help="where the virtual kiosks keep their databases")
    sim.add_argument("--admin-token", default=None, help="aggregator admin token used to issue enrolment codes")
    sim.add_argument("--allow-remote-server", action="store_true",
                     help="run against a server not on this machine (only one that holds no real "
                          "data: the simulated unit enters its rankings)")
    return p


def _positive(value: int, name: str) -> None:
    if value < 1:   # exit 2, as argparse does for every other bad argument
        print(f"kiosk: error: {name} must be at least 1, got {value}", file=sys.stderr)
        raise SystemExit(2)


def _not_a_database(path: Path) -> str | None:
    """Why the existing ``path`` cannot be a kiosk database, or None. An empty file was opened
    as a new database: `status` reported a healthy kiosk with a new device id, and `export`
    exported a made-up one."""
    from .store_readonly import foreign_schema

    if not path.is_file() or path.stat().st_size == 0:
        return f"{path} is {'empty' if path.is_file() else 'not a file'}, not a kiosk database"
    foreign = foreign_schema(path)
    if foreign:   # an aggregator's database: "migrating failed: table events already exists"
        return f"{path} is not a kiosk database: {foreign}"
    return None


def _unreadable_in_place(store, shown: Path) -> str | None:
    """Why a store opened read-only (a full disk, a read-only file system) holds nothing it
    could read, or None. Its empty view was shown as a kiosk without events."""
    if store.read_only is None or store.readable:
        return None
    where = "read-only" if not isinstance(store.read_only, StoreFullError) else "on a full disk"
    why = str(store.read_only).split(": ", 1)[-1]
    return (f"{shown} is {where} and cannot be read in place ({why}); copy it "
            f"(with its -wal file) to a writable disk, or use `kiosk export --db {shown} --to "
            f"FOLDER`, which reads a copy")


def _open_store(cfg, *, check: bool):
    from .store import RatingStore

    return RatingStore(data_dir(cfg) / "kiosk.db", check=check)


# What a hall's kiosk must be told; their defaults make only the demo window.
HALL_SETTINGS = ("window.id", "window.unit_id")


def cmd_check_config(args) -> int:
    if args.path and args.config and args.path != args.config:
        print(f"kiosk check-config: two files given ({args.path} and --config {args.config}); "
              "give one", file=sys.stderr)
        return 2
    path = args.path or args.config or DEFAULT_CONFIG
    cfg = load_config(path)
    given = _line_map(Path(path).read_text(encoding="utf-8"))
    if not given:
        # It passed: the kiosk then ran as the demo window W-001 of unit U-001, without a
        # server, with the technician PIN 000000.
        raise ConfigError(
            f"{path}: sets nothing (empty, or comments only); a kiosk would run as the demo "
            f"window {cfg.window.id} of unit {cfg.window.unit_id}, without a server. Set at "
            "least " + ", ".join(HALL_SETTINGS) + " and sync.server (the documented "
            "config.yaml lists every setting)")
    problem = data_dir_problem(data_dir(cfg))
    if problem:
        # It passed: `kiosk run` then ran read-only for ever, recording no rating at all.
        raise ConfigError(f"{_where(path, given, 'storage.data_dir')}storage.data_dir "
                          f"{cfg.storage.data_dir!r} cannot hold the kiosk's database: {problem}")
    warnings = [f"{name} 未设置，正在使用演示默认值 {_value(cfg, name)!r} ({name} is not set: "
                f"the demo default {_value(cfg, name)!r} is used)"
                for name in HALL_SETTINGS if name not in given]
    warnings += pin_warnings(cfg, given)
    warnings += photo_warnings(cfg)
    warnings += font_gap_warnings(cfg, given)
    server = stored_device_config(cfg)
    if server is not None:
        warnings += [f"{SERVER_CONFIG}: {w}" for w in font_gap_warnings(server)]
    for warning in warnings:
        print(f"{path}: warning: {warning}", file=sys.stderr)
    print(f"{path}: OK — window {cfg.window.id}, {len(cfg.roster)} staff, "
          f"{len(cfg.service_items)} service items, mode {cfg.trigger.mode}"
          + (f"; {len(warnings)} warning(s) above" if warnings else ""))
    return 0


# How the font-coverage warnings name the last device config the server sent.
SERVER_CONFIG = "服务器下发的配置 (the server's device config)"


def stored_device_config(cfg) -> dict | None:
    """The last device config the server sent, as the kiosk database keeps it, read without
    writing a byte; None when there is none or it cannot be read."""
    from .store_readonly import open_read_only

    conn = open_read_only(data_dir(cfg) / "kiosk.db")
    if conn is None:
        return None
    try:
        row = conn.execute("SELECT body FROM device_config WHERE id = 1").fetchone()
        return json.loads(row[0]) if row else None
    except (sqlite3.DatabaseError, ValueError, TypeError):
        return None
    finally:
        conn.close()


def _value(cfg, name: str):
    section, key = name.split(".")
    return getattr(getattr(cfg, section), key)


def pin_warnings(cfg, lines: dict[str, int]) -> list[str]:
    """PINs anyone may know (warnings, not errors: the kiosk runs): the factory technician
    PIN 000000 (no hash set), and hashes of the demo roster (its PINs are printed in
    config.yaml) or made with too few iterations to keep a 4-digit PIN secret. The documented
    config.yaml, copied to /etc/kiosk as the guide says, passed with all of them."""
    def at(key: str) -> str:
        return f"line {lines[key]}: " if key in lines else ""

    out = []
    if factory_pin(cfg.technician.pin_hash):
        out.append(f"{at('technician.pin_hash')}technician.pin_hash 为空：技术员密码是出厂密码 "
                   "000000，谁都能打开维护界面（导出全部评价、退出到桌面）；请用 `kiosk set-pin` "
                   "设置 (technician.pin_hash is empty: the technician PIN is the factory PIN "
                   "000000, which opens the maintenance panel to anyone; set one with "
                   "`kiosk set-pin`)")
    hashes = [("technician.pin_hash", cfg.technician.pin_hash, "kiosk set-pin")]
    hashes += [(f"roster[{i}].pin_hash", member.get("pin_hash") or "",
                f"kiosk set-pin --staff {member.get('staff_no') or 'STAFF_NO'}")
               for i, member in enumerate(cfg.roster)]
    for key, pin_hash, command in hashes:
        why = weak_pin_hash(pin_hash)
        if why == "demo_salt":
            out.append(f"{at(key)}{key} 是演示密码（演示盐 demo-salt，密码写在示例 config.yaml "
                       f"的注释里）；请用 `{command}` 重新设置 ({key} is a demo PIN's hash (the "
                       f"demo salt; its PIN is printed in the sample config.yaml); set a new one "
                       f"with `{command}`)")
        elif why == "few_iterations":
            rounds = int(pin_hash.split("$")[1])
            out.append(f"{at(key)}{key} 只用了 {rounds:,} 次迭代（至少 {MIN_PIN_ITERATIONS:,} "
                       f"次）：短密码可从哈希很快算出；请用 `{command}` 重新设置 ({key} was made "
                       f"with {rounds:,} iterations, fewer than {MIN_PIN_ITERATIONS:,}: a short "
                       f"PIN is found from it in moments; set it again with `{command}`)")
    return out


def data_dir_problem(folder: Path) -> str | None:
    """Why the kiosk could never keep its database in ``folder``, or None: the folder, or
    the nearest of its parents that exists, must be a directory this user can create in.
    Tried for real (a folder made and removed at once): a permission check says nothing of
    /proc or of a read-only file system, and nothing at all to root."""
    folder = probe = Path(os.path.abspath(folder))
    while not os.path.lexists(probe) and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        what = "a file" if probe.is_file() else "not a folder"
        made = f", so {folder} can never be made" if probe != folder else ""
        return f"{probe} is {what}{made}; give a folder"
    import tempfile

    try:
        os.rmdir(tempfile.mkdtemp(prefix=".kiosk-check-", dir=probe))
    except OSError as exc:
        return (f"nothing can be created in {probe} ({exc.strerror or exc}"
                f"{', user ' + str(os.geteuid()) if hasattr(os, 'geteuid') else ''}); give a "
                "folder the kiosk's user can write in")
    return None


def photo_warnings(cfg) -> list[str]:
    """Roster photos the badge screen cannot show (it shows the avatar instead, silently):
    a missing file, or one that is not a JPEG or PNG. Warnings, not errors: the kiosk runs."""
    out = []
    for i, member in enumerate(cfg.roster):
        photo = member.get("photo") or ""
        if not photo:
            continue
        path = Path(cfg.base_dir) / photo
        try:
            with open(path, "rb") as f:
                head = f.read(8)
        except OSError as exc:
            out.append(f"roster[{i}].photo {photo!r}：读不到，工作人员屏将显示默认头像 "
                       f"(cannot be read ({exc.strerror}: {path}); the badge screen shows the "
                       "avatar)")
            continue
        if not (head.startswith(b"\xff\xd8\xff") or head.startswith(b"\x89PNG\r\n\x1a\n")):
            out.append(f"roster[{i}].photo {photo!r}：不是 JPEG 或 PNG 图片，工作人员屏将显示"
                       "默认头像 (not a JPEG or PNG file; the badge screen shows the avatar)")
    return out


def cmd_status(args) -> int:
    cfg = load_config(args.config)
    db = data_dir(cfg) / "kiosk.db"
    if not db.exists():
        print(f"no kiosk database yet at {db}", file=sys.stderr)
        return 1
    problem = _not_a_database(db)
    if problem:
        print(f"kiosk: {problem}", file=sys.stderr)
        return 1
    store = _open_store(cfg, check=False)
    try:
        problem = _unreadable_in_place(store, db)
        if problem:
            print(f"kiosk: {problem}", file=sys.stderr)
            return 1
        diag = store.diagnostics()
    except sqlite3.DatabaseError as exc:   # a damaged file: one line, not a traceback
        print(f"kiosk: {db}: cannot be read: {exc}; `kiosk export --db {db} --to FOLDER` "
              "saves what can still be read", file=sys.stderr)
        return 1
    finally:
        store.close()
    if args.json:
        print(json.dumps(diag, ensure_ascii=False, indent=2))
    else:
        for key in ("device_id", "stream_id", "events", "last_seq", "pruned_through", "pending", "oldest_pending",
                    "quarantined", "last_ack", "db_bytes", "disk_free_bytes"):
            print(f"{key:16} {diag[key]}")
    return 0


def _live_events(db: Path):
    """A callable giving the events of the live kiosk database beside the moved-aside file
    ``db`` (``kiosk.db`` beside ``kiosk.db.corrupt-…``), read without writing a byte; None
    when there is none."""
    from .export import MOVED_ASIDE
    from .store import RatingStore

    if MOVED_ASIDE not in db.name:
        return None
    live = db.with_name(db.name.split(MOVED_ASIDE, 1)[0])
    if not live.is_file():
        return None

    def events():
        store = RatingStore.read_only_view(live, StoreError(f"{live}: read for an export"))
        try:
            yield from store.iter_events()
        finally:
            store.close()

    return events


def _export_credentials(args, path: Path):
    """(credential, why there is none) to sign the export of ``path`` with: the kiosk's own,
    in the database's folder (a dead kiosk's disk holds both), else in the data folder of the
    --config given with --db."""
    from .export import device_credentials

    creds, why = device_credentials(Path(args.db).parent if args.db else path.parent)
    if creds is None and args.db and args.config:
        creds, why_there = device_credentials(data_dir(load_config(args.config)))
        why = "" if creds is not None else f"{why}; {why_there}"
    return creds, why


def cmd_export(args) -> int:
    from .export import export_events, export_moved_aside, open_for_export

    # A database given with --db is all the command needs: a technician's laptop reading a
    # dead kiosk's file has no kiosk config, and "config.yaml: no such file" stopped it.
    path = Path(args.db) if args.db else data_dir(load_config(args.config or DEFAULT_CONFIG)) / "kiosk.db"
    if not path.exists():
        print(f"kiosk: no database at {path}", file=sys.stderr)
        return 1
    problem = _not_a_database(path)
    if problem:
        print(f"kiosk: {problem}", file=sys.stderr)
        return 1
    if (args.device_id or args.stream_id) and not args.db:
        print("kiosk: --device-id and --stream-id are for a file given with --db (one whose "
              "meta table is damaged)", file=sys.stderr)
        return 2
    creds, unsigned_because = _export_credentials(args, path)
    try:
        if args.db:
            # A file given with --db (a database moved aside as corrupt) is read from a copy,
            # with the ids its events were made with (its meta table may be damaged).
            folder = export_moved_aside(path, Path(args.to), app_version=__version__,
                                        credentials=creds, unsigned_because=unsigned_because,
                                        live_events=_live_events(path),
                                        device_id=args.device_id, stream_id=args.stream_id)
        else:
            store = open_for_export(path, path)
            try:
                problem = _unreadable_in_place(store, path)
                if problem:
                    print(f"kiosk: {problem}", file=sys.stderr)
                    return 1
                folder = export_events(store, Path(args.to), app_version=__version__,
                                       credentials=creds, unsigned_because=unsigned_because)
            finally:
                store.close()
    except StoreError as exc:   # nothing at all could be read, or whose events they are
        print(f"kiosk: {exc}", file=sys.stderr)
        return 1
    except sqlite3.DatabaseError as exc:
        print(f"kiosk: {path}: cannot be read: {exc}; nothing was exported", file=sys.stderr)
        return 1
    except FileNotFoundError as exc:
        print(f"kiosk: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"kiosk: cannot write the export to {args.to}: {exc.strerror or exc}; nothing "
              "was left there", file=sys.stderr)
        return 1
    from .export import describe_ranges

    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    unread = manifest["unreadable_count"]
    print(f"exported {manifest['count']} events (seq {manifest['first_seq']}–{manifest['last_seq']}, "
          f"chain {'ok' if manifest['chain_ok'] else 'BROKEN'}) to {folder}"
          + (f"; {unread} rows of the damaged database could not be read "
             f"({describe_ranges(manifest['unreadable_seq_ranges'])}; all listed in "
             "manifest.json)" if unread else "")
          + (f"; the rows after seq {manifest['unreadable_after_seq']} could not be read "
             "(how many is unknown)" if manifest["unreadable_after_seq"] is not None else ""))
    if manifest["signature"] is None:
        print(f"kiosk: warning: the export is not signed ({manifest['unsigned_because']}): the "
              "server refuses to import an unsigned export; enrol the kiosk, or export on the "
              "kiosk itself (its data folder holds its key)", file=sys.stderr)
    print("the stick holds citizens' phone numbers (events.jsonl): personal data; keep it "
          "locked away and wipe the export once the server has taken it in")
    return 0


def _replace_value(text: str, line_no: int, key: str, value: str) -> str:
    lines = text.splitlines(keepends=True)
    old = lines[line_no - 1]
    new, n = re.subn(
        rf"^(\s*(?:-\s+)?{key}:\s*)(\"[^\"]*\"|'[^']*'|[^#\s]*)", lambda m: f'{m.group(1)}"{value}"', old
    )
    if n != 1:
        raise ConfigError(f"line {line_no}: could not find '{key}:' to replace")
    lines[line_no - 1] = new
    return "".join(lines)


def cmd_set_pin(args) -> int:
    if args.staff and not args.print_only:
        server = _enrolled_to(load_config(args.config))
        if server:
            # The server's roster replaces this file's at every config pull: the PIN set here
            # worked until the next sync, then the staff member was locked out without a word.
            print(f"kiosk: this kiosk is enrolled to {server}: its roster, staff PINs included, "
                  "comes from the server and replaces the one in the config file. Set the PIN "
                  "there: a roster file with a 密码 (pin) column, imported on the dashboard "
                  "(人员与事项), or the admin API. Nothing changed", file=sys.stderr)
            return 2
    if args.pin_stdin:
        pin = sys.stdin.readline().strip()
    elif not sys.stdin.isatty():
        # Piped (`printf '1234\n1234\n' | kiosk set-pin`, or no terminal at all): read it
        # from standard input. getpass printed Python's GetPassWarning and "Password input
        # may be echoed" before its prompt, and then wanted the PIN twice.
        pin, again = sys.stdin.readline().strip(), sys.stdin.readline()
        if not pin:
            print("kiosk: no PIN given: run `kiosk set-pin` in a terminal, or pipe the PIN "
                  "(echo 123456 | kiosk set-pin --pin-stdin); nothing changed", file=sys.stderr)
            return 2
        if again.strip() and again.strip() != pin:
            print("kiosk: the two PINs differ; nothing changed", file=sys.stderr)
            return 2
    else:
        try:
            pin = getpass.getpass("new PIN (4-12 digits): ")
            again = getpass.getpass("again: ")
        except EOFError:   # no terminal and nothing on standard input
            print("kiosk: no PIN given (type it at a terminal, or pass --pin-stdin); nothing "
                  "changed", file=sys.stderr)
            return 2
        if again != pin:
            print("kiosk: the two PINs differ; nothing changed", file=sys.stderr)
            return 2
    try:
        hashed = hash_pin(pin)
    except ValueError as exc:
        print(f"kiosk: {exc}; nothing changed", file=sys.stderr)
        return 2
    if args.print_only:
        print(hashed)
        return 0
    cfg = load_config(args.config)
    path = Path(args.config)
    text = path.read_text(encoding="utf-8")
    lines = _line_map(text)
    if args.staff:
        index = next((i for i, s in enumerate(cfg.roster) if s["staff_no"] == args.staff), None)
        if index is None:
            print(f"kiosk: no staff member with staff_no {args.staff!r} in {path}", file=sys.stderr)
            return 2
        key_path = f"roster[{index}].pin_hash"
    else:
        key_path = "technician.pin_hash"
    if key_path not in lines:
        print(f"kiosk: {path} has no '{key_path}' line; add it, or use --print-only and paste:\n{hashed}",
              file=sys.stderr)
        return 2
    new_text = _replace_value(text, lines[key_path], "pin_hash", hashed)
    load_config_text(new_text, str(path))  # never write a file that would not load
    from sync.files import write_atomic

    write_atomic(path, new_text.encode("utf-8"))  # a power cut here left half a config.yaml
    print(f"{key_path} updated in {path}")
    return 0


def _enrolled_to(cfg) -> str | None:
    """The server this kiosk is enrolled to, or None (never enrolled, or unreadable)."""
    from sync.credentials import enrolment_of

    return (enrolment_of(data_dir(cfg)) or {}).get("server_url") or None


def cmd_enroll(args) -> int:
    from sync.enrol import enroll_kiosk

    cfg = load_config(args.config)
    return enroll_kiosk(cfg, args.server, args.code)


def cmd_simulate(args) -> int:
    from sync.simulator import main as simulate_main

    _positive(args.devices, "--devices")
    _positive(args.ratings, "--ratings")
    argv = ["--server", args.server, "--devices", str(args.devices), "--ratings", str(args.ratings)]
    if args.rate is not None:
        argv += ["--rate", str(args.rate)]
    if args.workdir:
        argv += ["--workdir", args.workdir]
    if args.admin_token:
        argv += ["--admin-token", args.admin_token]
    if args.allow_remote_server:
        argv += ["--allow-remote-server"]
    return simulate_main(argv)


def cmd_run(args) -> int:
    from .launch import run_app

    cfg = load_config(args.config)
    if args.windowed:
        cfg.display.fullscreen = False
    if factory_pin(cfg.technician.pin_hash):
        log.warning("技术员密码仍是出厂密码 000000，请用 `kiosk set-pin` 设置 (the technician PIN "
                    "is still the factory PIN 000000: set one with `kiosk set-pin`)")
    # Names the font cannot draw show as empty boxes: said at start, for config.yaml and for
    # the server's last config (a config pulled while the app runs is not checked here).
    log_font_gaps(cfg, args.config, log)
    server = stored_device_config(cfg)
    if server is not None:
        log_font_gaps(server, SERVER_CONFIG, log)
    problem = data_dir_problem(data_dir(cfg))
    if problem:   # the app still runs (read-only, retrying): the log says why
        log.error("storage.data_dir %r cannot hold the kiosk's database: %s; nothing is "
                  "recorded until it can (`kiosk check-config` %s)", cfg.storage.data_dir,
                  problem, args.config)
    return run_app(cfg) or 0


COMMANDS = {
    "run": cmd_run,
    "check-config": cmd_check_config,
    "status": cmd_status,
    "export": cmd_export,
    "set-pin": cmd_set_pin,
    "enroll": cmd_enroll,
    "simulate": cmd_simulate,
}


def setup_logging() -> None:
    """The kiosk's log: INFO and above, one line each, on standard error (the journal)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def main(argv: list[str] | None = None) -> int:
    setup_logging()
    args = _parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except ConfigError as exc:
        print("kiosk: bad configuration:\n  " + "\n  ".join(exc.problems), file=sys.stderr)
        return 2
    except KioskError as exc:
        print(f"kiosk: {exc}", file=sys.stderr)
        return 1
    except sqlite3.Error as exc:   # a damaged kiosk database a command did not expect
        print(f"kiosk: the kiosk database cannot be read: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:   # a full disk, a read-only place, a folder where a file belongs
        where = f" ({exc.filename})" if exc.filename else ""
        print(f"kiosk: {exc.strerror or exc}{where}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("kiosk: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
