"""RatingStore: the kiosk's only code that touches its SQLite database.

Every record is an append-only event with a client-made UUID, a gapless sequence, device wall
time, boot id, monotonic time and a hash chaining it to the event before. ``record`` returns
only after COMMIT returned, with ``synchronous=FULL`` in WAL mode, so a returned event survives
a power cut. The outbox is the set of events not yet acknowledged by the server; it is frozen
into batches under a persisted batch id so that a retry resends the same bytes.

>>> store = RatingStore(tmp_path / "kiosk.db")            # doctest: +SKIP
>>> store.record("rating", {"level": "satisfied", "stars": 4})["seq"]   # doctest: +SKIP
1

One instance per thread: the UI thread records, the sync worker opens its own instance.
"""

from __future__ import annotations

import gzip
import json
import logging
import math
import os
import sqlite3
import time
import uuid
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

from sync.files import write_atomic
from sync.protocol import (
    GENESIS_HASH,
    MAX_BATCH_BYTES,
    MAX_BATCH_EVENTS,
    PROTOCOL_VERSION,
    event_hash,
    event_id,
)

from .errors import StoreError, StoreFullError
from .store_salvage import SalvageReading

if TYPE_CHECKING:
    from sqlite_utils import Database

log = logging.getLogger(__name__)
MIGRATION_SET = "kiosk"   # sqlite-utils' name of this schema's migrations
WAL_LIMIT_BYTES = 512 * 1024  # checkpoint past this after an ack; the WAL file is cut back to it
FULL_BELOW_BYTES = 1 << 20    # an I/O error with less free space than this is a full disk
# Server time minus this device's clock, in seconds, as the sync client last measured it: the
# sync client writes it (sync.client.META_OFFSET); the follow-up QR code dates its expiry by it.
META_CLOCK_OFFSET = "clock_offset_s"


def m001_event_log(db: Database) -> None:
    db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    db.execute(
        """CREATE TABLE events (
            seq INTEGER PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            type TEXT NOT NULL,
            device_time TEXT NOT NULL,
            boot_id TEXT NOT NULL,
            mono_ns INTEGER NOT NULL,
            payload TEXT NOT NULL,
            prev_hash TEXT NOT NULL,
            hash TEXT NOT NULL,
            batch_id TEXT,
            acked_at TEXT,
            quarantine TEXT
        )"""
    )
    db.execute("CREATE INDEX events_pending ON events(seq) WHERE acked_at IS NULL AND quarantine IS NULL")
    db.execute(
        """CREATE TABLE batches (
            id TEXT PRIMARY KEY,
            first_seq INTEGER NOT NULL,
            last_seq INTEGER NOT NULL,
            n INTEGER NOT NULL,
            body BLOB NOT NULL,
            created_at TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            closed_at TEXT,
            outcome TEXT
        )"""
    )
    db.execute("CREATE INDEX batches_open ON batches(first_seq) WHERE closed_at IS NULL")
    db.execute(
        """CREATE TABLE device_config (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            etag TEXT, version INTEGER, body TEXT NOT NULL, applied_at TEXT NOT NULL
        )"""
    )


def m002_case_no_index(db: Database) -> None:
    # The events of one case number (办件编号: its invitation, rating, "not rated"), found at
    # once by ``case_rated_lately`` when an invitation comes (one service, one rating). Only
    # the events that carry one are in it.
    db.execute("CREATE INDEX events_case_no ON events(json_extract(payload, '$.case_no'))"
               " WHERE json_extract(payload, '$.case_no') IS NOT NULL")


# The schema's migrations in order, run by sqlite-utils' Migrations; one that shipped is never
# edited: a change is a new function appended here.
MIGRATIONS: tuple[Callable[[Database], None], ...] = (m001_event_log, m002_case_no_index)


def _migrations() -> Any:
    from sqlite_utils.migrations import Migrations

    migrations = Migrations(MIGRATION_SET)
    for fn in MIGRATIONS:
        migrations()(fn)
    return migrations


def migrated(conn: sqlite3.Connection) -> bool:
    """True when sqlite-utils' table records every migration of MIGRATIONS as applied."""
    try:
        applied = {name for (name,) in conn.execute(
            "SELECT name FROM _sqlite_migrations WHERE migration_set = ?", (MIGRATION_SET,))}
    except sqlite3.OperationalError:   # no such table (a new database), or busy: migrate
        return False
    return all(fn.__name__ in applied for fn in MIGRATIONS)


# A closed batch keeps its row (id, seq range, n, attempts, outcome) but not its body: the
# body is only there to be resent byte for byte, and once answered it never is. Kept, the
# bodies of answered batches doubled the database (about 660 bytes per event for ever), and
# closing a batch rewrote its whole 256 KiB body (WAL, then checkpoint) for two date columns.
_DROP_BODY = "body = x''"

_q = json.encoder.encode_basestring  # a JSON string literal, as json.dumps(ensure_ascii=False)

GZIP_LEVEL = 1  # a third of level 6's cost for a few % more bytes
# Room for the body's head, {"protocol":1,"device_id":…,"batch_id":…,"events":[ and ]}.
_HEAD_BYTES = 200

# The next pending, unbatched events, each as the UTF-8 bytes of
# json.dumps(event, ensure_ascii=False, separators=(",", ":"), sort_keys=True), built by
# SQLite from the stored columns: the payload column already holds that exact text (_append
# stores it so) and the other strings are quoted by json_quote (the same text as Python's for
# the ids, hashes, times and names the store writes; valid JSON of the same value for any
# string). Parameters: the quoted device id and stream id, the event limit.
_PENDING_EVENT_JSON = (  # printf, not ||: one pass over each row instead of a copy per piece
    "SELECT seq, CAST(printf('{\"boot_id\":%s,\"device_id\":%s,\"device_time\":%s,\"hash\":%s,"
    "\"id\":%s,\"mono_ns\":%d,\"payload\":%s,\"prev_hash\":%s,\"seq\":%d,\"stream_id\":%s,"
    "\"type\":%s}', json_quote(boot_id), ?1, json_quote(device_time), json_quote(hash),"
    " json_quote(id), mono_ns, payload, json_quote(prev_hash), seq, ?2, json_quote(type)) AS BLOB)"
    " FROM events WHERE acked_at IS NULL AND quarantine IS NULL AND batch_id IS NULL"
    " ORDER BY seq LIMIT ?3"
)


def _fitting(pairs: Iterator[tuple[int, bytes]], max_bytes: int) -> tuple[list[int], list[bytes]]:
    """The leading (seq, serialised event) pairs whose batch body stays under ``max_bytes``
    (always at least one); stops reading ``pairs`` at the first that does not fit."""
    seqs: list[int] = []
    items: list[bytes] = []
    size = _HEAD_BYTES
    for seq, item in pairs:
        if items and size + len(item) + 1 > max_bytes:
            break
        seqs.append(seq)
        items.append(item)
        size += len(item) + 1
    return seqs, items


# SQLite's errors that say the database is busy (another process holds it: `kiosk export`,
# a backup): the file is kept and the open fails, to be tried again. A full disk is kept too
# (``RatingStore._translate``). Any other failure to check it (corrupt content, not a
# database, a directory in its place, an unreadable sector) moves it aside and starts a new
# stream, announced by a db_recovered event.
_BUSY_ERRORS = ("SQLITE_BUSY", "SQLITE_LOCKED")


def _busy(exc: sqlite3.DatabaseError) -> bool:
    name = getattr(exc, "sqlite_errorname", "")
    return name.startswith(_BUSY_ERRORS) if name else "locked" in str(exc).lower()


# SQLite's errors that say the file itself is damaged (SQLITE_CORRUPT and its extended codes:
# "database disk image is malformed") or is not a database (SQLITE_NOTADB): a write that got
# one gets it again at every try, so the app's store moves the file aside while it runs
# (``RatingStore._recover``), as it does at start.
_CORRUPT_ERRORS = ("SQLITE_CORRUPT", "SQLITE_NOTADB")


def _corrupt(exc: BaseException | None) -> bool:
    if not isinstance(exc, sqlite3.DatabaseError):
        return False
    name = getattr(exc, "sqlite_errorname", "")
    if name:
        return name.startswith(_CORRUPT_ERRORS)
    text = str(exc).lower()
    return "malformed" in text or "not a database" in text


# What a new database takes over from one moved aside while the kiosk ran, as far as it can
# still be read: the technician's settings made on the kiosk (kiosk/local_settings.py,
# META_KEY) and the server's clock offset; the PIN lockouts' counts (LockKeeper's
# TECH_LOCK_KEY, STAFF_LOCK_KEY: a guesser who made the database fail got fresh tries); and
# the last device config the server sent (so that a restart before the next pull shows the
# roster and the pledges). Not the identity of the old stream, nor its acknowledgements or
# retention anchor.
_CARRIED_META = ("local_settings", META_CLOCK_OFFSET, "pin_lock.technician", "pin_lock.staff")


def _empty_database() -> sqlite3.Connection:
    """An empty database in memory with the schema (the migrations are plain SQL): every read
    answers "nothing"."""
    conn = sqlite3.connect(":memory:", isolation_level=None)
    for migration in MIGRATIONS:
        migration(conn)  # type: ignore[arg-type]
    return conn


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return "unknown"


def _now() -> datetime:
    return datetime.now(timezone.utc).astimezone()


def _unstorable_field(value: Any, where: str = "") -> str | None:
    """The dotted path of the first value JSON-as-UTF-8 cannot hold (a string with a lone
    surrogate, a set, a datetime …), or None; "" when ``value`` itself is the problem."""
    if isinstance(value, dict):
        for key, item in value.items():
            path = f"{where}.{key}" if where else str(key)
            if isinstance(key, str) and not _encodable(key) \
                    or not isinstance(key, (str, int, float, bool, type(None))):
                return path
            found = _unstorable_field(item, path)
            if found is not None:
                return found
        return None
    if isinstance(value, (list, tuple)):
        for n, item in enumerate(value):
            found = _unstorable_field(item, f"{where}[{n}]")
            if found is not None:
                return found
        return None
    if value is None or isinstance(value, (bool, int, float)):
        return None
    if isinstance(value, str) and _encodable(value):
        return None
    return where


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _parse_time(text: str) -> datetime:
    """A stored timestamp; one without a zone (never written by this store) counts as UTC."""
    when = datetime.fromisoformat(text)
    return when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)


class RatingStore(SalvageReading):
    """The kiosk database: event log, outbox, batches, pulled device config.

    ``path`` is the database file; ``device.json`` beside it keeps the device id (made once)
    and the current stream id, so both survive a corrupt database being moved aside.
    ``check=True`` (the app's main instance) runs an integrity check first, and when a write
    finds the database corrupt while the kiosk runs (SQLITE_CORRUPT, SQLITE_NOTADB) it moves
    the file aside as at start, goes on in a new database with a new stream (its first event
    ``db_recovered``) and makes the write there (``recoveries`` counts these moves, so the app
    can start its sync worker on the new database). A reader (``check=False``: the sync
    worker, an export) never moves the file.

    A disk too full to open the database for writing raises ``StoreFullError`` and leaves no
    file it made; with ``check=False`` (a reader: a USB export, ``kiosk status``) the store
    opens read-only instead, as ``read_only_view`` does: it reads what the database holds, and
    every write raises ``StoreFullError`` (``read_only`` says why).
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        check: bool = True,
        clock: Callable[[], datetime] = _now,
        monotonic_ns: Callable[[], int] = time.monotonic_ns,
        boot_id: str | None = None,
    ) -> None:
        self._setup(path, clock, monotonic_ns, boot_id)
        # check=True: the app's own store, or one alone on its file (the simulator, migrate's
        # child); every second instance of a file the app has open (the sync worker, an
        # export, the enrolment) opens it with check=False and never moves it
        self._moves_aside = check
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"{self.path}: cannot create the data folder: {exc}") from exc
        created = not self.path.exists()
        try:
            self._open(check)
        except StoreError as exc:
            if created or self.recovered_from is not None:   # the file is this open's own
                self._remove_unused()
            if check or not (isinstance(exc, StoreFullError) or self._cannot_write()):
                raise
            if not isinstance(exc, StoreFullError):
                # A dead kiosk's disk mounted read-only on another machine: `kiosk status`
                # and `kiosk export --config …` failed with "unable to open database file".
                exc = StoreError(f"{self.path}: read-only (the file system or the file cannot "
                                 f"be written): {str(exc).split(': ', 1)[-1]}")
            log.warning("%s; reading it read-only", exc)
            self._open_read_only(exc)

    @classmethod
    def read_only_view(
        cls, path: str | os.PathLike, problem: StoreError, *,
        clock: Callable[[], datetime] = _now,
        monotonic_ns: Callable[[], int] = time.monotonic_ns,
        boot_id: str | None = None,
        damaged: bool = False,
    ) -> "RatingStore":
        """What the database at ``path`` holds, read without writing a byte (an empty
        database when nothing can be read: ``readable`` is then False); every write raises
        ``problem``'s class. The app's store while its database cannot be opened for writing
        (kiosk/store_recovery.py). ``damaged=True``: a corrupt file that could not be opened
        otherwise, for ``kiosk export`` to read what it can (``iter_events(unreadable=…)``)."""
        store = cls.__new__(cls)
        store._setup(path, clock, monotonic_ns, boot_id)
        store._open_read_only(problem, damaged=damaged)
        return store

    # ----------------------------------------------------------------- opening
    def _setup(self, path: str | os.PathLike, clock: Callable[[], datetime],
               monotonic_ns: Callable[[], int], boot_id: str | None) -> None:
        self.path = Path(path)
        self._clock = clock
        self._mono = monotonic_ns
        self.boot_id = boot_id or _boot_id()
        self.recovered_from: dict[str, str] | None = None
        self.read_only: StoreError | None = None   # why writes are refused, when they are
        # iter_events(unreadable=…) on a file whose end is damaged too: the rows after this
        # seq (how many is unknown) could not be read
        self.unreadable_after: int | None = None
        self.readable = True
        self._moves_aside = False
        self.recoveries = 0   # databases moved aside as corrupt while this store was open
        # Why the new database that follows one moved aside could not be made yet (a full
        # disk): every write tries again first (``_begin``).
        self._lost: StoreError | None = None
        self._recovering = False
        self._file_id: tuple[int, int] | None = None
        self._carried: tuple[dict[str, str], tuple | None] = ({}, None)

    def _open(self, check: bool) -> None:
        if check and self.path.exists():
            problem = self._integrity_problem()
            if problem:
                self.recovered_from = {"moved_to": str(self._move_aside()), "error": problem}
        try:
            self.conn = self._connect()
        except sqlite3.DatabaseError as exc:
            raise self._translate(exc, "opening the kiosk database") from exc
        self._file_id = self._file_at_path()
        try:
            self._migrate()
            self.device_id, self.stream_id = self._identity()
            if self.recovered_from is not None:
                # Nothing else said so: the log of `kiosk run` showed no line at all.
                log.error("the kiosk database %s could not be used (%s) and was moved aside to "
                          "%s; recording goes on in a new stream %s", self.path,
                          self.recovered_from["error"], self.recovered_from["moved_to"],
                          self.stream_id)
                self.record("db_recovered", self.recovered_from)
        except StoreError:
            self.conn.close()
            raise

    def _remove_unused(self) -> None:
        """Remove the database file this failed open made, if nothing was written to it.

        A first start on a full disk left a 0-byte kiosk.db (and its -wal and -shm) behind."""
        try:
            if self.path.stat().st_size != 0:
                return
            for suffix in ("", "-wal", "-shm"):
                self.path.with_name(self.path.name + suffix).unlink(missing_ok=True)
        except OSError as exc:
            log.warning("could not remove the unused %s: %s", self.path, exc)

    def _cannot_write(self) -> bool:
        """True when the database's folder or file cannot be written (a read-only file
        system: a dead kiosk's disk on another machine), so a reader opens it read-only."""
        try:
            if os.statvfs(self.path.parent).f_flag & os.ST_RDONLY:
                return True
            return not os.access(self.path.parent, os.W_OK) \
                or (self.path.exists() and not os.access(self.path, os.W_OK))
        except OSError:
            return False

    def _open_read_only(self, problem: StoreError, *, damaged: bool = False) -> None:
        from .store_readonly import open_read_only

        self.read_only = problem
        conn = open_read_only(self.path, damaged=damaged)
        meta: dict[str, str] = {}
        if conn is not None:
            try:
                meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
            except sqlite3.DatabaseError as exc:   # a corrupt file on a full disk: its check
                log.warning("cannot read %s read-only: %s", self.path, exc)   # said "full"
                if not damaged:   # (a damaged file's rows are still read; device.json names it)
                    conn.close()
                    conn = None
        self.readable = conn is not None
        if conn is None:
            # Nothing to read (a first start, an unreadable file): an empty database with the
            # schema, so that every read answers "nothing".
            conn = _empty_database()
        self.conn = conn
        ident: dict[str, str] = {}
        try:
            ident = json.loads(self.path.with_name("device.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            pass
        self.device_id = meta.get("device_id") or ident.get("device_id") or ""
        self.stream_id = meta.get("stream_id") or ident.get("stream_id") or ""

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=30)
        try:
            return self._configure(conn)
        except (sqlite3.DatabaseError, StoreError):
            conn.close()
            raise

    def _configure(self, conn: sqlite3.Connection) -> sqlite3.Connection:
        conn.execute("PRAGMA busy_timeout = 30000")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode.lower() != "wal":
            raise StoreError(f"{self.path}: could not switch to WAL mode (got {mode!r})")
        conn.execute("PRAGMA synchronous = FULL")
        # Deleted and rewritten content (batch bodies once answered, events past their
        # retention, with phone numbers and comments in them) is overwritten with zeros, not
        # left readable in free pages of a device that stands in a public hall.
        conn.execute("PRAGMA secure_delete = ON")
        # The WAL keeps its largest size on disk unless limited: after a checkpoint it is cut
        # back to this (see _checkpoint).
        conn.execute(f"PRAGMA journal_size_limit = {WAL_LIMIT_BYTES}")
        return conn

    def _checkpoint(self) -> None:
        """Copy the WAL into the database once it is past ``WAL_LIMIT_BYTES``.

        SQLite checkpoints on its own only every 1,000 pages (4 MB), and until then the
        database's newest pages live only in the WAL. On a small or nearly full disk that
        was fatal: in the reliability run the WAL of a kiosk on a 2 MiB disk grew to 1.9 MB
        and took the space needed to mark batches acknowledged, even after the disk was
        freed. Called after an acknowledgement, i.e. on the sync worker's connection, never
        on the tap's path; PASSIVE never waits for the UI's writes.
        """
        try:
            if os.path.getsize(f"{self.path}-wal") > WAL_LIMIT_BYTES:
                self.conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except (OSError, sqlite3.DatabaseError) as exc:  # a full disk: try again next time
            log.warning("checkpoint of %s failed: %s", self.path, exc)

    def _integrity_problem(self) -> str | None:
        """What is wrong with the database, or None; raises StoreError when it cannot be
        checked because the disk is full or the database busy (a full disk's file was moved
        aside as corrupt, and the kiosk started again on a new stream without its pending
        ratings). A directory in its place or an unreadable sector is a problem: the file is
        moved aside, as a corrupt one, so that the kiosk records again."""
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, timeout=30)
            try:
                rows = [r[0] for r in conn.execute("PRAGMA quick_check").fetchall()]
            finally:
                conn.close()
        except sqlite3.DatabaseError as exc:
            problem = self._translate(exc, "checking the kiosk database")
            if isinstance(problem, StoreFullError) or _busy(exc):
                raise problem from exc
            return f"{type(exc).__name__}: {exc}"
        if rows != ["ok"]:
            return "quick_check: " + "; ".join(str(r) for r in rows[:5])
        return None

    def _moved_aside_before(self) -> dict[str, str] | None:
        """The newest database an earlier start moved aside without announcing it, when a new
        stream begins: a corrupt file found while the disk was full was moved aside, but the
        new database could not be made, and the open that finally made it knew nothing of it
        (no db_recovered event told the server where the old stream's ratings are)."""
        moved = sorted(self.path.parent.glob(f"{self.path.name}.corrupt-*"),
                       key=lambda p: p.stat().st_mtime)
        if not moved:
            return None
        return {"moved_to": str(moved[-1]),
                "error": "moved aside at an earlier start, which could not make a new database"}

    def _move_aside(self) -> Path:
        stamp = _now().strftime("%Y%m%dT%H%M%S")
        target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        n = 1
        while target.exists():
            n += 1
            target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}-{n}")
        os.replace(self.path, target)
        for suffix in ("-wal", "-shm"):
            side = self.path.with_name(self.path.name + suffix)
            if side.exists():
                os.replace(side, target.with_name(target.name + suffix))
        return target

    def _migrate(self) -> None:
        try:
            if migrated(self.conn):
                return
            # sqlite-utils (and its click, dateutil, pluggy …, ~4 MB resident) is imported only
            # when a migration is pending: a new database or the first start of an upgrade.
            from sqlite_utils import Database

            # No sqlite-utils plugins: a third-party package's prepare_connection hook must not
            # run on the tamper-evident event log's connection (and the plugin scan imports
            # importlib.metadata, email and zipfile and reads every installed distribution).
            db = Database(self.conn, execute_plugins=False)
        except sqlite3.DatabaseError as exc:
            raise self._translate(exc, "migrating") from exc
        # Under one write lock, so that two instances opening at once do not race.
        with self._transaction("migrating"):
            _migrations().apply(db)

    def _identity(self) -> tuple[str, str]:
        ident_file = self.path.with_name("device.json")
        ident: dict[str, str] = {}
        if ident_file.exists():
            try:
                ident = json.loads(ident_file.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                ident = {}
        meta = dict(self.conn.execute("SELECT key, value FROM meta").fetchall())
        device_id = meta.get("device_id") or ident.get("device_id") or str(uuid.uuid4())
        stream_id = meta.get("stream_id")
        if stream_id is None:
            if self.recovered_from is None and ident.get("stream_id"):
                self.recovered_from = self._moved_aside_before()
            stream_id = str(uuid.uuid4())
            with self._transaction("writing the device identity"):
                self.conn.execute(
                    "INSERT OR IGNORE INTO meta VALUES ('device_id', ?), ('stream_id', ?)",
                    (device_id, stream_id),
                )
            meta = dict(self.conn.execute("SELECT key, value FROM meta").fetchall())
            device_id, stream_id = meta["device_id"], meta["stream_id"]
        if ident.get("device_id") != device_id or ident.get("stream_id") != stream_id:
            old_stream = ident.get("stream_id")
            try:
                write_atomic(
                    ident_file,
                    json.dumps({"device_id": device_id, "stream_id": stream_id}).encode(),
                )
            except OSError as exc:   # a full disk: the database holds both; written next open
                log.warning("could not write %s: %s", ident_file, exc)
            if self.recovered_from is not None:
                self.recovered_from["old_stream_id"] = old_stream or ""
        return device_id, stream_id

    def monotonic_ns(self) -> int:
        """The monotonic clock this store stamps events with (``mono_ns``), read now: the sync
        client sends it with every request so the server can date events a wall-clock step
        (NTP setting a wrong clock right) moved (docs/protocol.md, 1.1). Touches no database."""
        return self._mono()

    def close(self) -> None:
        self.conn.close()

    def _disk_nearly_full(self) -> bool:
        """An I/O error on a disk this full is the disk being full: SQLite says "disk I/O
        error" (SQLITE_IOERR_SHMSIZE) when it cannot grow the -shm file to open a database."""
        try:
            stat = os.statvfs(self.path.parent)
        except OSError:
            return False
        return stat.f_bavail * stat.f_frsize < FULL_BELOW_BYTES

    # ------------------------------------------------------------ transactions
    def _begin(self) -> None:
        if self._lost is not None:
            self._make_new()   # the database moved aside has no successor yet: try again
        if self.read_only is not None:
            full = isinstance(self.read_only, StoreFullError)
            raise type(self.read_only)(
                f"{self.path}: {'disk full' if full else 'cannot write'}: the kiosk database is "
                f"open read-only; nothing was recorded ({self.read_only})")
        self.conn.execute("BEGIN IMMEDIATE")

    def _rollback(self) -> None:
        if self.conn.in_transaction:
            try:
                self.conn.execute("ROLLBACK")
            except sqlite3.DatabaseError:
                pass

    @contextmanager
    def _transaction(self, doing: str) -> Iterator[None]:
        """``BEGIN IMMEDIATE`` … ``COMMIT`` around the block; rolled back whatever it raises.

        SQLite's errors come out as StoreError / StoreFullError naming ``doing``; any other
        exception is re-raised as it is, after the rollback. Only SQLite's errors were rolled
        back before: a payload with a lone surrogate (UnicodeEncodeError in the hash) left the
        write lock held, so no tap after it was recorded and the sync worker's connection got
        "database is locked".
        """
        try:
            self._begin()
            yield
            self.conn.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            self._rollback()
            raise self._translate(exc, doing) from exc
        except BaseException:
            self._rollback()
            raise

    def _translate(self, exc: sqlite3.DatabaseError, doing: str) -> StoreError:
        name = getattr(exc, "sqlite_errorname", "")
        if name.startswith("SQLITE_FULL") or "full" in str(exc).lower() \
                or (name.startswith("SQLITE_IOERR") and self._disk_nearly_full()):
            return StoreFullError(f"{self.path}: disk full while {doing}; nothing was recorded ({exc})")
        return StoreError(f"{self.path}: {doing} failed: {exc}")

    # ------------------------------------------------------------------ record
    def _payload_text(self, type_: str, payload: dict[str, Any]) -> str:
        """The payload as stored (JSON); StoreError naming the field when it cannot be."""
        try:
            text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
            text.encode("utf-8")
            return text
        except (TypeError, ValueError) as exc:   # UnicodeEncodeError is a ValueError
            where = _unstorable_field(payload)
            field = f" (field {where!r})" if where else ""
            raise StoreError(
                f"{self.path}: the {type_} event was not recorded: its payload{field} cannot be "
                f"stored as JSON text ({exc})") from exc

    def _append(self, type_: str, payload: dict[str, Any],
                id_: str | None = None) -> dict[str, Any]:
        """Insert one event inside the caller's open transaction (with the id ``id_``, else
        a new one)."""
        payload_text = self._payload_text(type_, payload)
        last = self.conn.execute("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1").fetchone()
        seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS_HASH)
        event = {
            "id": id_ or event_id(),  # time-ordered (UUIDv7): see sync.protocol.event_id
            "device_id": self.device_id,
            "stream_id": self.stream_id,
            "seq": seq,
            "type": type_,
            "device_time": self._clock().isoformat(),
            "boot_id": self.boot_id,
            "mono_ns": self._mono(),
            "payload": payload,
            "prev_hash": prev,
        }
        event["hash"] = event_hash(event, prev)
        self.conn.execute(
            "INSERT INTO events (seq, id, type, device_time, boot_id, mono_ns, payload, prev_hash, hash)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                seq, event["id"], type_, event["device_time"], self.boot_id, event["mono_ns"],
                payload_text, prev, event["hash"],
            ),
        )
        return event

    def record(self, type_: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        """Append one event durably and return it; raise StoreFullError / StoreError (also for
        a payload that cannot be stored: text with a lone surrogate, a value JSON cannot hold).
        Whatever fails, the transaction is rolled back and the next record works. A database
        found corrupt is moved aside first and the event recorded in the new one
        (``_recover``)."""
        payload = dict(payload or {})
        # One id for both tries: a COMMIT that reached the old file's WAL and still reported
        # corruption (a damaged -shm) would otherwise leave two ratings of one tap, the first
        # coming back with the moved file's USB export. With one id the server keeps the first
        # it gets and quarantines the other as a conflict.
        id_ = event_id()
        return self._write_recovering(f"recording a {type_} event",
                                      lambda: self._append(type_, payload, id_))

    def _write_recovering(self, doing: str, work: Callable[[], Any]) -> Any:
        """``work()`` in one transaction (``_transaction``); when it finds the database
        corrupt and the store moved it aside (``_recover``), ``work()`` once more in the new
        database."""
        try:
            with self._transaction(doing):
                return work()
        except StoreError as exc:
            if not self._recover(exc):
                raise
        with self._transaction(doing):
            return work()

    # ------------------------------------------------------- run-time recovery
    def _recover(self, exc: StoreError) -> bool:
        """A write failed with SQLITE_CORRUPT or SQLITE_NOTADB while the kiosk runs: move the
        file aside and go on in a new database, as at start (``_open``); True when the new
        database is open (the caller writes again), False when ``exc`` is not that (or the
        file cannot be moved); raises why when the new database cannot be made yet (a full
        disk: the next write tries again, ``_make_new``).

        Every later tap got "please try again" until a restart: the quick check and the move
        aside ran only at start, and the UI thread is not hung, so the watchdog never
        restarted the kiosk. The file is renamed, never deleted or rewritten: its thanked
        ratings are exported from it (``kiosk export --db``). A sync worker's connection (its
        own ``RatingStore``) keeps reading the renamed file until the app replaces the worker;
        SQLite sees the file moved and neither checkpoints it nor deletes its ``-wal`` and
        ``-shm`` by name when that connection closes, so the new database's are safe.
        """
        cause = exc.__cause__
        if not (self._moves_aside and not self._recovering and self._lost is None
                and self.read_only is None and _corrupt(cause)):
            return False
        self._recovering = True
        try:
            error = f"{type(cause).__name__}: {cause}"
            self._carried = self._readable_settings()
            if self._file_at_path() != self._file_id:
                # Not this connection's file any more (another instance moved it aside): the
                # one there now is opened, checked, as at start.
                moved = None
            else:
                try:
                    moved = self._move_aside()
                except OSError as move_exc:
                    log.error("the kiosk database %s is corrupt (%s) and cannot be moved aside: "
                              "%s", self.path, error, move_exc)
                    return False
            self.conn.close()   # after the rename: SQLite leaves the moved files as they are
            self.recoveries += 1
            self.recovered_from = None if moved is None else {"moved_to": str(moved),
                                                               "error": error}
            try:
                self._make_new()
            except StoreError as open_exc:   # what the tap is told: nothing was recorded
                log.error("the corrupt kiosk database %s was moved aside to %s, but a new one "
                          "cannot be made yet: %s", self.path, moved, open_exc)
                raise
            return True
        finally:
            self._recovering = False

    def _make_new(self) -> None:
        """Open the database that follows one moved aside while the kiosk ran (its first
        event ``db_recovered``, written by ``_open``) and give it what is carried over
        (``_CARRIED_META``). When it cannot be made (a full disk), the store reads as empty,
        every write tries again first, and raises StoreError / StoreFullError meanwhile."""
        self._lost = None
        try:
            self._open(check=self.recovered_from is None)
        except StoreError as exc:
            if self.recovered_from is not None and self.path.exists():
                self._remove_unused()
            self._lost = exc
            self.conn = _empty_database()
            raise
        meta, config = self._carried
        try:
            with self._transaction("carrying the settings over to the new database"):
                self.conn.executemany("INSERT OR IGNORE INTO meta VALUES (?, ?)", meta.items())
                if config is not None:
                    self.conn.execute("INSERT OR IGNORE INTO device_config (id, etag, version, "
                                      "body, applied_at) VALUES (1, ?, ?, ?, ?)", config)
        except StoreError as exc:   # the kiosk records all the same; the server resends config
            log.warning("could not carry the settings over to the new database: %s", exc)
        self._carried = ({}, None)

    def _readable_settings(self) -> tuple[dict[str, str], tuple | None]:
        """What of ``_CARRIED_META`` and the device config the corrupt database still gives."""
        meta: dict[str, str] = {}
        config = None
        try:
            for key in _CARRIED_META:
                row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
                if row is not None:
                    meta[key] = row[0]
            config = self.conn.execute(
                "SELECT etag, version, body, applied_at FROM device_config WHERE id = 1").fetchone()
        except sqlite3.DatabaseError as exc:
            log.warning("settings in the corrupt database %s cannot be read: %s", self.path, exc)
        return meta, config

    def _file_at_path(self) -> tuple[int, int] | None:
        try:
            stat = os.stat(self.path)
        except OSError:
            return None
        return stat.st_dev, stat.st_ino

    # ------------------------------------------------------------------ reading
    def _event(self, row: sqlite3.Row | tuple) -> dict[str, Any]:
        seq, id_, type_, device_time, boot_id, mono_ns, payload, prev_hash, hash_ = row[:9]
        return {
            "id": id_, "device_id": self.device_id, "stream_id": self.stream_id, "seq": seq,
            "type": type_, "device_time": device_time, "boot_id": boot_id, "mono_ns": mono_ns,
            "payload": json.loads(payload), "prev_hash": prev_hash, "hash": hash_,
        }

    _COLS = "seq, id, type, device_time, boot_id, mono_ns, payload, prev_hash, hash"

    def iter_events(self, after_seq: int = 0, chunk: int = 1000,
                    unreadable: list[int] | None = None) -> Iterator[dict[str, Any]]:
        """Every event in sequence order, acked or not, read in chunks.

        With ``unreadable`` (a list: the USB export does this) a damaged database is read as
        far as it can be instead of raising at the first bad page: a stretch that fails is
        read again one row at a time by seq, and the seq of each row that cannot be read (a
        damaged page, text that is not UTF-8, a payload that is not JSON, a row missing
        between the first and the last) is appended to the list.
        """
        if unreadable is not None:
            yield from self._iter_salvaged(after_seq, chunk, unreadable)
            return
        while True:
            rows = self.conn.execute(
                f"SELECT {self._COLS}, acked_at, quarantine FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
                (after_seq, chunk),
            ).fetchall()
            if not rows:
                return
            for row in rows:
                event = self._event(row)
                event["acked_at"], event["quarantine"] = row[9], row[10]
                yield event
            after_seq = rows[-1][0]

    def case_rated_lately(self, case_no: str, within_seconds: float) -> dict[str, Any] | None:
        """The newest rating whose payload's ``case_no`` is ``case_no``, recorded in this boot
        less than ``within_seconds`` ago by the monotonic clock, or None.

        The flow asks it before it invites (kiosk/flow.py ``invite``: one service, one rating).
        The index of migration 2 finds a case number's few events. The monotonic clock, not
        the wall clock: a kiosk has no battery clock, and one that started with last week's
        time took last week's ratings for today's, refusing today's queue ticket A012 for
        last week's. A new boot (the kiosk switched off for the night) forgets.
        """
        if not _encodable(case_no):   # no stored text holds it (the record refuses it)
            return None
        since = self._mono() - int(within_seconds * 1e9)
        try:
            row = self.conn.execute(
                f"SELECT {self._COLS} FROM events WHERE json_extract(payload, '$.case_no') = ?"
                " AND type = 'rating' AND boot_id = ? AND mono_ns > ? ORDER BY seq DESC"
                " LIMIT 1", (case_no, self.boot_id, since)).fetchone()
        except sqlite3.DatabaseError as exc:
            raise self._translate(exc, f"looking up case {case_no}") from exc
        return self._event(row) if row else None

    def pending(self, limit: int = MAX_BATCH_EVENTS) -> list[dict[str, Any]]:
        """Events not yet acknowledged nor quarantined, in sequence order."""
        rows = self.conn.execute(
            f"SELECT {self._COLS} FROM events WHERE acked_at IS NULL AND quarantine IS NULL"
            " ORDER BY seq LIMIT ?",
            (limit,),
        ).fetchall()
        return [self._event(r) for r in rows]

    def pending_count(self) -> int:
        return self.conn.execute(
            "SELECT count(*) FROM events WHERE acked_at IS NULL AND quarantine IS NULL"
        ).fetchone()[0]

    def chain_start(self) -> tuple[int, str]:
        """(seq, hash) of the last event deleted by ``prune_acked``, or (0, GENESIS_HASH).

        The first event kept must follow it: the chain is checked from there.
        """
        anchor = self.get_meta("pruned_through")
        if not anchor:
            return 0, GENESIS_HASH
        seq, hash_ = anchor.split(" ", 1)
        return int(seq), hash_

    def verify_chain(self) -> tuple[bool, int, int | None]:
        """Recompute every hash from the chain's start: (ok, events checked, first bad seq or None)."""
        start, prev = self.chain_start()
        expected_seq, n = start + 1, 0
        for event in self.iter_events():
            n += 1
            if event["seq"] != expected_seq or event["prev_hash"] != prev or event_hash(event, prev) != event["hash"]:
                return False, n, event["seq"]
            prev, expected_seq = event["hash"], expected_seq + 1
        return True, n, None

    def chain_head(self) -> tuple[int, str]:
        row = self.conn.execute("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1").fetchone()
        return (row[0], row[1]) if row else (0, GENESIS_HASH)

    # ---------------------------------------------------------------- retention
    def prune_acked(self, older_than: timedelta, chunk: int = 500) -> int:
        """Delete events the server acknowledged more than ``older_than`` ago; return how many.

        Only the oldest run of such events goes: pruning stops at the first event that is
        pending, quarantined or acknowledged too recently, and the newest event is always
        kept (the next ``seq`` and ``prev_hash`` follow it). The (seq, hash) of the last event
        deleted is kept in ``meta`` in the same transaction, so the chain still verifies from
        there. The server holds every event deleted here; what goes is the kiosk's own copy,
        with the phone numbers and comments in it. ``secure_delete`` overwrites the deleted
        rows in the file. One short transaction per ``chunk`` events, so that a tap waits for
        at most one of them.
        """
        cutoff = self._clock() - older_than
        total = 0
        while True:
            with self._transaction("deleting old acknowledged events"):
                deleted = self._prune_chunk(cutoff, chunk)
            total += deleted
            if deleted < chunk:
                break
        if total:
            self._checkpoint()
        return total

    def _prune_chunk(self, cutoff: datetime, chunk: int) -> int:
        start, _ = self.chain_start()
        head, _ = self.chain_head()
        last = None
        for seq, hash_, acked_at, quarantine in self.conn.execute(
            "SELECT seq, hash, acked_at, quarantine FROM events WHERE seq > ? AND seq < ?"
            " ORDER BY seq LIMIT ?", (start, head, chunk)
        ):
            if acked_at is None or quarantine is not None or _parse_time(acked_at) > cutoff:
                break
            last = (seq, hash_)
        if last is None:
            return 0
        deleted = self.conn.execute("DELETE FROM events WHERE seq <= ?", (last[0],)).rowcount
        self.conn.execute("DELETE FROM batches WHERE last_seq <= ? AND closed_at IS NOT NULL",
                          (last[0],))
        self.conn.execute("INSERT OR REPLACE INTO meta VALUES ('pruned_through', ?)",
                          (f"{last[0]} {last[1]}",))
        return deleted

    # ------------------------------------------------------------------ batches
    def open_batch(self, skip: Any = ()) -> dict[str, Any] | None:
        """The oldest frozen batch the server has not answered, to resend byte for byte.

        ``skip``: ids of batches to pass over (those a pipelining client has in flight).
        """
        # The bodies are read only for the batch returned, not for those skipped (in flight).
        for row in self.conn.execute(
            "SELECT id, first_seq, last_seq, n, attempts FROM batches"
            " WHERE closed_at IS NULL ORDER BY first_seq"
        ).fetchall():
            if row[0] not in skip:
                body = self.conn.execute("SELECT body FROM batches WHERE id = ?", (row[0],)).fetchone()[0]
                return {"id": row[0], "first_seq": row[1], "last_seq": row[2], "n": row[3],
                        "body": body, "attempts": row[4]}
        return None

    def freeze_batch(
        self, max_events: int = MAX_BATCH_EVENTS, max_bytes: int = MAX_BATCH_BYTES,
        skip: Any = (), gzip_level: int = GZIP_LEVEL,
    ) -> dict[str, Any] | None:
        """Return the open batch, or freeze the next pending events into a new one.

        ``skip``: open batches to pass over (in flight); with it several frozen batches can be
        open at once, each still resent byte for byte and acknowledged on its own. ``body`` is
        the request body as sent: the batch's JSON, gzipped (``gzip_level``, mtime 0).
        """
        batch = self.open_batch(skip)
        if batch is not None:
            return batch
        with self._transaction("freezing a batch"):
            cursor = self.conn.execute(_PENDING_EVENT_JSON, (_q(self.device_id), _q(self.stream_id),
                                                             max_events))
            # The cursor steps row by row: only as many events as fit under max_bytes are read
            # (a full batch is bounded by bytes, ~400 ratings, before it is by count).
            seqs, items = _fitting(cursor, max_bytes)
            cursor.close()
            batch = self._freeze_items(seqs, items, gzip_level) if items else None
        return batch

    def _freeze(self, events: list[dict[str, Any]], max_bytes: int,
                gzip_level: int = GZIP_LEVEL) -> dict[str, Any]:
        """Write one batch of (a prefix of) ``events`` inside the caller's transaction."""
        seqs, items = _fitting(((e["seq"], json.dumps(e, ensure_ascii=False, separators=(",", ":"),
                                                      sort_keys=True).encode()) for e in events),
                               max_bytes)
        return self._freeze_items(seqs, items, gzip_level)

    def _freeze_items(self, seqs: list[int], items: list[bytes], gzip_level: int) -> dict[str, Any]:
        """Store the batch of these serialised events under a new id; they all fit."""
        batch_id = str(uuid.uuid4())
        head = {"protocol": PROTOCOL_VERSION, "device_id": self.device_id, "batch_id": batch_id}
        body = b"".join((json.dumps(head, separators=(",", ":"))[:-1].encode(), b',"events":[',
                         b",".join(items), b"]}"))
        # Frozen as sent: a retry resends these very bytes, whatever the gzip level is then,
        # and the WAL and the database take a seventh of the JSON's size.
        body = gzip.compress(body, compresslevel=gzip_level, mtime=0)
        first, last, n_chosen = seqs[0], seqs[-1], len(items)
        self.conn.execute(
            "INSERT INTO batches (id, first_seq, last_seq, n, body, created_at) VALUES (?, ?, ?, ?, ?, ?)",
            (batch_id, first, last, n_chosen, body, self._clock().isoformat()),
        )
        # The chosen events are the first unbatched pending ones in seq order, so the same
        # filter over their seq range selects exactly them, in one statement.
        self.conn.execute(
            "UPDATE events SET batch_id = ? WHERE seq BETWEEN ? AND ?"
            " AND batch_id IS NULL AND acked_at IS NULL AND quarantine IS NULL",
            (batch_id, first, last),
        )
        return {"id": batch_id, "first_seq": first, "last_seq": last, "n": n_chosen, "body": body, "attempts": 0}

    def batch_events(self, batch_id: str) -> list[dict[str, Any]]:
        rows = self.conn.execute(
            f"SELECT {self._COLS} FROM events WHERE batch_id = ? ORDER BY seq", (batch_id,)
        ).fetchall()
        return [self._event(r) for r in rows]

    def note_attempt(self, batch_id: str, error: str | None) -> None:
        """Count one send attempt of a batch and its error, if any."""
        self._write(
            "UPDATE batches SET attempts = attempts + 1, last_error = ? WHERE id = ?",
            (error, batch_id),
        )

    def split_batch(self, batch_id: str, gzip_level: int = GZIP_LEVEL) -> list[dict[str, Any]]:
        """Replace an open batch the server found too large by two halves (413)."""
        with self._transaction("splitting a batch"):
            events = self.batch_events(batch_id)
            self.conn.execute(
                f"UPDATE batches SET closed_at = ?, outcome = 'split', {_DROP_BODY} WHERE id = ?",
                (self._clock().isoformat(), batch_id),
            )
            self.conn.execute("UPDATE events SET batch_id = NULL WHERE batch_id = ?", (batch_id,))
            halves = []
            if len(events) > 1:
                mid = len(events) // 2
                halves = [self._freeze(events[:mid], MAX_BATCH_BYTES, gzip_level),
                          self._freeze(events[mid:], MAX_BATCH_BYTES, gzip_level)]
            elif events:
                # A single event the server will not take: keep it, quarantined, and report it.
                self.conn.execute(
                    "UPDATE events SET quarantine = 'too_large' WHERE seq = ?", (events[0]["seq"],)
                )
        return halves

    def mark_acked(
        self, batch_id: str, acked_ids: list[str], quarantined: dict[str, str] | None = None
    ) -> int:
        """Apply the server's answer to a batch; returns how many events are now acked.

        Only ids that belong to this batch are touched; ids of the batch that the answer did
        not list go back to the outbox and will be frozen again (the sync client counts such
        an answer a failure and backs off first).
        """
        quarantined = quarantined or {}
        now = self._clock().isoformat()
        with self._transaction("marking a batch acknowledged"):
            span = self.conn.execute(
                "SELECT first_seq, last_seq FROM batches WHERE id = ?", (batch_id,)
            ).fetchone()
            # The batch's events lie in its seq range: every statement below walks that range
            # of the primary key, never the whole outbox (a backlog of 100,000 made each ack
            # a scan of it).
            lo, hi = span if span else (1, -1)
            mine = dict(self.conn.execute(
                "SELECT id, seq FROM events WHERE seq BETWEEN ? AND ? AND batch_id = ?"
                " AND acked_at IS NULL", (lo, hi, batch_id)
            ).fetchall())
            ack = {i for i in acked_ids if i in mine}
            if ack and len(ack) == len(mine) and not quarantined:
                # The usual answer: every event accepted or duplicate. One statement.
                acked = self.conn.execute(
                    "UPDATE events SET acked_at = ? WHERE seq BETWEEN ? AND ? AND batch_id = ?"
                    " AND acked_at IS NULL", (now, lo, hi, batch_id),
                ).rowcount
            else:
                before = self.conn.total_changes
                self.conn.executemany(
                    "UPDATE events SET acked_at = ? WHERE seq = ? AND acked_at IS NULL",
                    [(now, mine[i]) for i in ack],
                )
                acked = self.conn.total_changes - before
                self.conn.executemany(
                    "UPDATE events SET quarantine = ? WHERE seq = ? AND acked_at IS NULL",
                    [(reason or "quarantined", mine[i]) for i, reason in quarantined.items()
                     if i in mine],
                )
                self.conn.execute(
                    "UPDATE events SET batch_id = NULL WHERE seq BETWEEN ? AND ? AND batch_id = ?"
                    " AND acked_at IS NULL AND quarantine IS NULL",
                    (lo, hi, batch_id),
                )
            self.conn.execute(
                f"UPDATE batches SET closed_at = ?, outcome = 'answered', {_DROP_BODY} WHERE id = ?",
                (now, batch_id),
            )
            self.conn.execute("INSERT OR REPLACE INTO meta VALUES ('last_ack', ?)", (now,))
        self._checkpoint()
        return acked

    def quarantined(self) -> list[dict[str, Any]]:
        rows = self.conn.execute(
            f"SELECT {self._COLS}, quarantine FROM events WHERE quarantine IS NOT NULL ORDER BY seq"
        ).fetchall()
        out = []
        for row in rows:
            event = self._event(row)
            event["quarantine"] = row[9]
            out.append(event)
        return out

    # ------------------------------------------------------------ meta, config
    def _write(self, sql: str, params: tuple) -> None:
        try:
            self._write_recovering("writing", lambda: self.conn.execute(sql, params))
        except (UnicodeEncodeError, OverflowError) as exc:   # a value SQLite cannot bind
            raise StoreError(f"{self.path}: writing failed: a value cannot be stored ({exc}); "
                             "nothing was written") from exc

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def set_meta(self, key: str, value: str) -> None:
        self._write("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def clock_offset(self) -> float | None:
        """Seconds to add to this device's clock to read the server's, as the sync client last
        measured them (the technician panel's clock skew); None when never measured."""
        try:
            value = self.get_meta(META_CLOCK_OFFSET)
            offset = float(value) if value is not None else None
        except (sqlite3.Error, ValueError):
            return None
        return offset if offset is not None and math.isfinite(offset) else None

    def apply_config(self, config: dict[str, Any], etag: str | None, version: int | None = None) -> dict[str, Any]:
        """Store a pulled device config and record ``config_applied`` in one transaction."""
        try:
            body = json.dumps(config, ensure_ascii=False)
            body.encode("utf-8")
        except (TypeError, ValueError) as exc:
            where = _unstorable_field(config)
            field = f" (field {where!r})" if where else ""
            raise StoreError(f"{self.path}: the device config was not applied: it{field} cannot "
                             f"be stored as JSON text ({exc})") from exc
        with self._transaction("applying the device config"):
            self.conn.execute(
                "INSERT OR REPLACE INTO device_config (id, etag, version, body, applied_at) VALUES (1, ?, ?, ?, ?)",
                (etag, version, body, self._clock().isoformat()),
            )
            event = self._append("config_applied", {"etag": etag, "version": version})
        return event

    def device_config(self) -> tuple[dict[str, Any] | None, str | None]:
        """The last applied server config and its ETag, or (None, None)."""
        row = self.conn.execute("SELECT body, etag FROM device_config WHERE id = 1").fetchone()
        return (json.loads(row[0]), row[1]) if row else (None, None)

    # ------------------------------------------------------------ diagnostics
    def size_bytes(self) -> int:
        total = 0
        for suffix in ("", "-wal", "-shm"):
            p = self.path.with_name(self.path.name + suffix)
            if p.exists():
                total += p.stat().st_size
        return total

    def diagnostics(self) -> dict[str, Any]:
        """What the technician screen and the heartbeat show."""
        pending, = self.conn.execute(
            "SELECT count(*) FROM events WHERE acked_at IS NULL AND quarantine IS NULL"
        ).fetchone()
        # The oldest by seq, with the clocks it was recorded by: min(device_time) compared
        # text from clocks of different boots (and the heartbeat's age with it).
        oldest = self.conn.execute(
            "SELECT seq, device_time, boot_id, mono_ns FROM events"
            " WHERE acked_at IS NULL AND quarantine IS NULL ORDER BY seq LIMIT 1"
        ).fetchone() or (None, None, None, None)
        total, = self.conn.execute("SELECT count(*) FROM events").fetchone()
        quarantined, = self.conn.execute("SELECT count(*) FROM events WHERE quarantine IS NOT NULL").fetchone()
        last_seq, head = self.chain_head()
        try:
            stat = os.statvfs(self.path.parent)
            disk_free = stat.f_bavail * stat.f_frsize
        except OSError:
            disk_free = None
        return {
            "device_id": self.device_id,
            "stream_id": self.stream_id,
            "events": total,
            "last_seq": last_seq,
            "pruned_through": self.chain_start()[0],
            "chain_head": head,
            "pending": pending,
            "oldest_pending": oldest[1],
            "oldest_pending_seq": oldest[0],
            "oldest_pending_boot_id": oldest[2],
            "oldest_pending_mono_ns": oldest[3],
            "quarantined": quarantined,
            "last_ack": self.get_meta("last_ack"),
            "db_bytes": self.size_bytes(),
            "disk_free_bytes": disk_free,
        }
