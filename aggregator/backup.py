"""Backups of the aggregator's database, and a kiosk's USB export taken in as its backup.

- SQLite: ``backup_sqlite`` copies the live database with SQLite's online backup API (a
  consistent snapshot while the server keeps writing), checks the copy with
  ``PRAGMA integrity_check`` and only then renames it into place. ``restore_sqlite`` checks a
  backup file the same way, copies it beside the (stopped) server's database with the same
  API and renames the copy over it (a damaged database is moved aside first, never deleted),
  then applies any newer migrations.
- PostgreSQL: ``pg_dump --format=custom``; ``restore_pg`` empties the schema ``public`` and
  restores the archive into it in one transaction (``pg_restore --file=-`` into ``psql``), so
  no table or column of a later migration survives a restore of an older backup; the newest
  ``pg_dump`` on ``PATH`` or under ``/usr/lib/postgresql/*/bin`` is used.
- A kiosk's USB export (``kiosk export``: events.jsonl + manifest.json) is its backup:
  ``import_kiosk_export`` checks the manifest's signature (the device's Ed25519 key) and file
  hash and feeds the events through the normal ingest, so what the server already had counts
  as duplicates and nothing is stored twice.

>>> backup(make_engine("sqlite:///var/aggregator.db"), Path("/backup/agg.db"))  # doctest: +SKIP
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import tempfile
import uuid
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.engine import Engine

from .db import is_disk_full, utcnow
from .errors import AggregatorError, ConfigError
from .migrations import check_version, migrate

PAGES_PER_STEP = 4096  # let writers in between steps of a large online backup


class BackupError(AggregatorError):
    """A backup or restore could not be made or checked."""

    status = 400
    code = "backup_failed"


def _sqlite_path(engine: Engine) -> Path:
    database = engine.url.database
    if not database or database == ":memory:":
        raise ConfigError("an in-memory SQLite database cannot be backed up")
    return Path(database)


def _libpq(engine: Engine) -> tuple[str, dict]:
    """The libpq URL of ``engine`` without its password, and the environment that gives it
    (PGPASSWORD): in the URL on the command line, ``ps`` showed it to every user of the
    host while a backup ran."""
    url = engine.url.set(drivername="postgresql")
    env = dict(os.environ)
    if "password" in url.query:   # ?password=…: on the command line too
        env["PGPASSWORD"] = str(url.query["password"])
        url = url.difference_update_query(["password"])
    if url.password is not None:
        env["PGPASSWORD"] = str(url.password)
    # (URL.set ignores password=None; URL is a named tuple, whose _replace drops it)
    return url._replace(password=None).render_as_string(hide_password=False), env


def _check_folder(target: Path) -> None:
    """The backup's folder must be there: one made on demand put the backup of an unmounted
    backup disk on the server's own disk, where the disk failure it guards against takes it too."""
    if not target.parent.is_dir():
        raise BackupError(f"folder {target.parent} does not exist (is the backup disk mounted?); "
                          "make it first")
    if not os.access(target.parent, os.W_OK):
        # it named the hidden <output>.partial, and failed again removing it (EROFS): exit 1
        raise BackupError(f"folder {target.parent} is read-only or not writable by this user; "
                          "nothing was kept")


def _same_file(a: Path, b: Path) -> bool:
    """``a`` and ``b`` are one file: the same path once resolved (symbolic links, ``..``), or,
    when both exist, the same inode (a hard link, a bind mount)."""
    if a.resolve() == b.resolve():
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _is_database_or_side_file(database: Path, path: Path) -> bool:
    """``path`` is the SQLite file ``database`` or one of the files SQLite and the writers'
    lock keep beside it."""
    return any(_same_file(Path(f"{database}{suffix}"), path)
               for suffix in ("", "-wal", "-shm", "-journal", ".lock"))


def _check_database_file(path: Path) -> None:
    """The database ``path`` of a backup is a file (a folder was "does not exist")."""
    if path.is_dir():
        raise BackupError(f"database {path} is a folder, not a SQLite database file; give the "
                          "database's file")
    if not path.exists():
        raise BackupError(f"database {path} does not exist")


def _check_sqlite_file(path: Path, name: Path | None = None) -> int:
    """The newest migration in the SQLite file ``path``; BackupError unless it is sound.

    ``name``: the file to name in a message (the database a backup was taken from, not the
    temporary copy the check reads).
    """
    name = name or path
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise BackupError(f"{name} cannot be opened: {exc}") from None
    try:
        result = conn.execute("PRAGMA integrity_check").fetchone()[0]
        if result != "ok":
            raise BackupError(f"{name} fails PRAGMA integrity_check: {result}")
        version = conn.execute("SELECT max(version) FROM schema_migrations").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{name} is not an aggregator database: {exc}") from None
    finally:
        conn.close()
    if version is None:
        raise BackupError(f"{name} has no applied migrations")
    return int(version)


def _remove(partial: Path) -> None:
    """Remove a file this module was making and its side files; what cannot be removed (a
    folder turned read-only) is left: the error that stopped the work is the one to tell."""
    for suffix in ("", "-journal", "-wal", "-shm"):
        try:
            Path(f"{partial}{suffix}").unlink(missing_ok=True)
        except OSError:
            pass


def _refusal(exc: BaseException, doing: str) -> BackupError | None:
    """A BackupError for a database or file-system failure, or None (a bug, or Ctrl-C)."""
    if isinstance(exc, BackupError):
        return exc
    if isinstance(exc, sqlite3.DatabaseError):
        if is_disk_full(exc):
            return BackupError(f"the disk is full {doing}; nothing was kept")
        return BackupError(f"{doing}: {exc}")
    if isinstance(exc, OSError):
        return BackupError(f"{doing}: {exc.strerror or exc}" + (
            f" ({exc.filename})" if exc.filename else ""))
    return None


def backup_sqlite(engine: Engine, target: Path) -> dict:
    """Copy the live SQLite database to ``target`` (online backup API).

    The copy is made as ``<target>.partial``, checked, and renamed: whatever goes wrong (a
    full disk, a corrupt source, Ctrl-C) removes the partial file and its side files, which
    were left behind (a full disk stayed full; an 800 MB copy stayed after Ctrl-C). The
    backup is a plain file (journal mode DELETE, not the live database's WAL), so reading it
    later makes no side files and works from read-only media.
    """
    source = _sqlite_path(engine)
    _check_database_file(source)
    if _is_database_or_side_file(source, target):
        # It reported success and renamed the copy over the live database: a running server
        # went on writing to the replaced file's WAL and acknowledged events were lost.
        raise BackupError(f"--output {target} is the database itself (or a file SQLite keeps "
                          "beside it); give another file, best on another disk; nothing done")
    if target.is_dir() or not target.name:
        raise BackupError(f"{target} is a folder; give the backup's file name")
    _check_folder(target)
    partial = target.with_name(target.name + ".partial")
    try:
        _remove(partial)
        src = sqlite3.connect(str(source), timeout=30)
        try:
            dst = sqlite3.connect(str(partial))
            try:
                src.backup(dst, pages=PAGES_PER_STEP)
                dst.execute("PRAGMA journal_mode = DELETE")
            finally:
                dst.close()
        finally:
            src.close()
        version = _check_sqlite_file(partial, name=source)
        os.replace(partial, target)
    except BaseException as exc:
        _remove(partial)
        refusal = _refusal(exc, f"while backing up {source} to {target}")
        if refusal is None:
            raise
        raise refusal from None
    return {"backend": "sqlite", "file": str(target), "bytes": target.stat().st_size,
            "schema_version": version}


def restore_sqlite(engine: Engine, source: Path, *, force: bool = False) -> dict:
    """Replace the SQLite database of ``engine`` with the backup ``source``; then migrate.

    Stop the server first. Refuses to overwrite a database that holds anything (a row in a
    table other than ``schema_migrations``), or a file that is not an aggregator database or
    cannot be read, unless ``force``. The copy is made as ``<database>.restoring`` and renamed
    over the database: a restore that fails leaves the database as it was. With ``force`` a
    damaged database (and its ``-wal``, ``-shm``, ``-journal``) is moved aside as
    ``<database>.corrupt-<time>``, never deleted; a sound one has its WAL checkpointed and
    its side files removed, so none of them is applied to the restored file.
    """
    if not source.is_file():
        raise BackupError(f"backup file {source} does not exist" if not source.exists()
                          else f"{source} is not a file")
    target = _sqlite_path(engine)
    if _is_database_or_side_file(target, source):
        # copying a file onto itself hung for good and ignored Ctrl-C
        raise BackupError(f"--input {source} is the database itself; give a backup file made "
                          "by `aggregator backup`; nothing done")
    if target.is_dir():
        raise BackupError(f"database {target} is a folder, not a SQLite database file; give "
                          "the file to restore into")
    version = _check_sqlite_file(source)
    check_version(version, f"backup {source}")
    engine.dispose()
    if target.exists() and not force:
        held = _holds(target)
        if held:
            raise BackupError(f"{target} {held}; stop the server and pass --force to replace it")
    restoring = target.with_name(target.name + ".restoring")
    kept: list[str] = []
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        _remove(restoring)
        src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        try:
            dst = sqlite3.connect(str(restoring))
            try:
                src.backup(dst)
                dst.execute("PRAGMA journal_mode = DELETE")
            finally:
                dst.close()
        finally:
            src.close()
        _fsync(restoring)
        if target.exists():
            # It copied into the database in place: a damaged one (the header overwritten,
            # which `serve` says to restore over) could not be opened, even with --force.
            kept = _retire(target)
        os.replace(restoring, target)
        _fsync(target.parent)
    except BaseException as exc:
        _remove(restoring)
        refusal = _refusal(exc, f"while restoring {source} into {target}")
        if refusal is None:
            raise
        raise refusal from None
    applied = migrate(engine)
    out = {"backend": "sqlite", "file": str(target), "from": str(source),
           "backup_schema_version": version, "migrations_applied": applied}
    if kept:
        out["damaged_database_kept_as"] = kept
    return out


def _fsync(path: Path) -> None:
    """Make ``path`` (a file or a folder: a rename in it) durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_DAMAGED = (sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT)


def _retire(target: Path) -> list[str]:
    """Make way for the restored copy of the database file ``target``: the files it moved
    aside (a damaged database and its side files), or [] (a sound one, its WAL checkpointed
    into it and its side files removed: a WAL left beside the new file would be applied to
    it)."""
    try:
        # read-only first: a connection that may write deleted a damaged file's -wal and
        # -shm when it closed
        conn = sqlite3.connect(f"file:{target}?mode=ro", uri=True, timeout=5)
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        finally:
            conn.close()
        conn = sqlite3.connect(str(target), timeout=5)
        try:
            busy = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        if getattr(exc, "sqlite_errorcode", None) not in _DAMAGED:
            raise
    else:
        if busy:
            raise BackupError(f"{target} is in use (a server still running?); stop it and "
                              "restore again; nothing was changed")
        for suffix in ("-wal", "-shm", "-journal"):
            Path(f"{target}{suffix}").unlink(missing_ok=True)
        return []
    stamp = utcnow().strftime("%Y%m%dT%H%M%SZ")
    aside, n = target.with_name(f"{target.name}.corrupt-{stamp}"), 1
    while any(Path(f"{aside}{x}").exists() for x in ("", "-wal", "-shm", "-journal")):
        n += 1
        aside = target.with_name(f"{target.name}.corrupt-{stamp}-{n}")
    kept = [str(aside)]
    for suffix in ("-wal", "-shm", "-journal"):   # first: they belong to the damaged file
        side = Path(f"{target}{suffix}")
        if side.exists():
            os.replace(side, f"{aside}{suffix}")
            kept.append(f"{aside}{suffix}")
    try:   # the database keeps its name until the copy takes it (os.replace)
        os.link(target, aside)
    except OSError:
        os.replace(target, aside)
    return kept


HELD_EXACT = 10_000  # rows counted exactly in a table a restore would overwrite, then "10000+"


HELD_FIRST = ("ratings", "events", "cases", "devices", "users", "windows", "units", "staff")


def _held_text(counts: list[tuple[str, int]]) -> str | None:
    """"holds 3 users, 2 windows, …" for the tables with rows (None: all empty): what a
    person misses most first."""
    held = sorted(((n, t) for t, n in counts if n), key=lambda nt: (
        HELD_FIRST.index(nt[1]) if nt[1] in HELD_FIRST else len(HELD_FIRST), -nt[0], nt[1]))
    if not held:
        return None
    shown = [f"{HELD_EXACT}+ {t}" if n > HELD_EXACT else f"{n} {t}" for n, t in held[:8]]
    more = f" and rows in {len(held) - 8} more tables" if len(held) > 8 else ""
    return "holds " + ", ".join(shown) + more


def _count_sql(table: str) -> str:
    quoted = '"' + table.replace('"', '""') + '"'
    return f"SELECT count(*) FROM (SELECT 1 FROM {quoted} LIMIT {HELD_EXACT + 1}) AS t"


def _holds(path: Path) -> str | None:
    """What restoring over the file ``path`` would destroy, or None (an empty database:
    nothing but the migrations recorded)."""
    if path.stat().st_size == 0:
        return None
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise BackupError(f"{path} cannot be opened: {exc}") from None
    try:
        try:
            conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
        except sqlite3.DatabaseError as exc:
            if getattr(exc, "sqlite_errorcode", None) in _DAMAGED:
                return (f"cannot be read ({exc}: damaged, or no SQLite database); with --force "
                        f"it is moved aside as {path.name}.corrupt-<time>, not deleted")
            raise BackupError(f"{path} cannot be read: {exc}") from None
        try:
            conn.execute("SELECT 1 FROM schema_migrations LIMIT 1")
        except sqlite3.DatabaseError:
            # a kiosk database or another file was overwritten without --force
            return "is not an aggregator database"
        # Only ratings were looked at: a database of users, windows and enrolled devices
        # that had no rating yet was replaced without a word.
        tables = [t for (t,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            "AND name <> 'schema_migrations' ORDER BY name")]
        try:
            counts = [(t, conn.execute(_count_sql(t)).fetchone()[0]) for t in tables]
        except sqlite3.DatabaseError as exc:
            return f"cannot be read in full ({exc}: damaged)"
    finally:
        conn.close()
    return _held_text(counts)


def pg_tool(name: str) -> str:
    """Path of ``pg_dump`` / ``pg_restore``: the newest under /usr/lib/postgresql, else PATH."""
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
                   key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    if found:
        return found[-1]
    path = shutil.which(name)
    if path is None:
        raise BackupError(f"{name} is not installed (apt-get install postgresql-client)")
    return path


def _run(argv: list[str], env: dict | None = None) -> None:
    proc = subprocess.run(argv, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise BackupError(f"{Path(argv[0]).name} failed ({proc.returncode}): "
                          f"{proc.stderr.strip()[-500:]}")


def backup_pg(engine: Engine, target: Path) -> dict:
    """``pg_dump --format=custom`` of the database to ``target``."""
    if target.is_dir() or not target.name:
        raise BackupError(f"{target} is a folder; give the backup's file name")
    _check_folder(target)
    partial = target.with_name(target.name + ".partial")
    try:
        url, env = _libpq(engine)
        _run([pg_tool("pg_dump"), "--format=custom", "--no-owner", "--file", str(partial),
              "--dbname", url], env)
        _run([pg_tool("pg_restore"), "--list", str(partial)])  # readable, not truncated
        os.replace(partial, target)
    except BaseException as exc:   # a failed pg_dump left its .partial behind
        _remove(partial)
        refusal = _refusal(exc, f"while backing up to {target}")
        if refusal is None:
            raise
        raise refusal from None
    return {"backend": "postgresql", "file": str(target), "bytes": target.stat().st_size}


def restore_pg(engine: Engine, source: Path, *, force: bool = False) -> dict:
    """Replace everything in the schema ``public`` with the archive ``source``; then migrate.

    ``pg_restore --clean`` dropped only the objects in the archive: the tables and columns of
    later migrations stayed (``device_boots`` of a backup from before m0047), and replaying
    the migrations then failed ("column … already exists") after the restore had committed.
    Now the tables, views, sequences, functions and types of ``public`` (not those of an
    extension) are dropped and the archive restored in one transaction: a failure leaves the
    database as it was. The schema itself, its owner and grants stay; the role must own
    those objects (it made them: the migrations, an earlier restore).
    """
    from .db import hide_password

    if not source.is_file():
        raise BackupError(f"backup file {source} does not exist")
    _run([pg_tool("pg_restore"), "--list", str(source)])
    check_version(_archive_version(source), f"backup {source}")
    if not force:
        with engine.connect() as conn:
            held = _held_text([(t, conn.exec_driver_sql(_count_sql(t)).scalar())
                               for t in conn.exec_driver_sql(
                                   "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                                   "AND tablename <> 'schema_migrations' ORDER BY 1").scalars()])
        if held:
            shown = hide_password(engine.url.render_as_string(hide_password=True))
            raise BackupError(f"the database {shown} {held}; stop the servers and pass --force "
                              "to replace it")
    engine.dispose()
    _pg_replace(engine, source)
    applied = migrate(engine)
    return {"backend": "postgresql", "from": str(source), "migrations_applied": applied}


# Everything of the schema public that a restore replaces: a DO block (one statement, so it
# needs no function of its own), run in the restore's transaction.
_EMPTY_PUBLIC = """
DO $empty$
DECLARE r record;
BEGIN
  FOR r IN SELECT c.relname, c.relkind FROM pg_class c
           WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r','p','v','m','f','S')
             AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                             AND d.objid = c.oid AND d.deptype = 'e')
  LOOP
    EXECUTE format('DROP %s IF EXISTS public.%I CASCADE',
                   CASE r.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
                                  WHEN 'f' THEN 'FOREIGN TABLE' WHEN 'S' THEN 'SEQUENCE'
                                  ELSE 'TABLE' END, r.relname);
  END LOOP;
  FOR r IN SELECT p.oid::regprocedure::text AS name FROM pg_proc p
           WHERE p.pronamespace = 'public'::regnamespace
             AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass
                             AND d.objid = p.oid AND d.deptype = 'e')
  LOOP
    EXECUTE 'DROP ROUTINE IF EXISTS ' || r.name || ' CASCADE';
  END LOOP;
  FOR r IN SELECT t.typname FROM pg_type t
           WHERE t.typnamespace = 'public'::regnamespace AND t.typtype IN ('e','d','r','c')
             AND (t.typrelid = 0 OR (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c')
             AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_type'::regclass
                             AND d.objid = t.oid AND d.deptype = 'e')
  LOOP
    EXECUTE format('DROP TYPE IF EXISTS public.%I CASCADE', r.typname);
  END LOOP;
END
$empty$;
"""


def _pg_replace(engine: Engine, source: Path) -> None:
    """Empty ``public`` and restore ``source`` into it, in one transaction: ``pg_restore``
    writes the archive as SQL, which goes to ``psql`` after ``BEGIN`` and the drops;
    ``COMMIT`` follows only when ``pg_restore`` ended well (else the connection closes with
    the transaction open, and PostgreSQL rolls it back)."""
    url, env = _libpq(engine)
    psql_tool = str(Path(pg_tool("pg_restore")).with_name("psql"))
    if not Path(psql_tool).exists():
        psql_tool = pg_tool("psql")
    with tempfile.TemporaryFile() as dump_err, tempfile.TemporaryFile() as psql_err:
        psql = subprocess.Popen([psql_tool, "--no-psqlrc", "--quiet", "--set", "ON_ERROR_STOP=1",
                                 "--dbname", url], stdin=subprocess.PIPE,
                                stdout=subprocess.DEVNULL, stderr=psql_err, env=env)
        dump = subprocess.Popen([pg_tool("pg_restore"), "--no-owner", "--file=-", str(source)],
                                stdout=subprocess.PIPE, stderr=dump_err)
        try:
            try:
                psql.stdin.write(b"BEGIN;\nSET client_min_messages = warning;\n" + _EMPTY_PUBLIC.encode() + b"\n")
                shutil.copyfileobj(dump.stdout, psql.stdin, 1 << 20)
                dumped = dump.wait()
                if dumped == 0:
                    psql.stdin.write(b"COMMIT;\n")
            except BrokenPipeError:   # psql stopped at an error: it says which below
                dumped = dump.wait()
            finally:
                try:
                    psql.stdin.close()
                except BrokenPipeError:
                    pass
            restored = psql.wait()
        finally:
            for proc in (dump, psql):
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        for name, rc, err in (("pg_restore", dumped, dump_err), ("psql", restored, psql_err)):
            if rc != 0:
                err.seek(0)
                text = err.read().decode("utf-8", "replace").strip()[-500:]
                raise BackupError(f"{name} failed ({rc}): {text}; the database was left as "
                                  "it was")


def _archive_version(source: Path) -> int | None:
    """The newest migration recorded in the pg_dump archive ``source`` (None: none there)."""
    proc = subprocess.run([pg_tool("pg_restore"), "--data-only", "--table=schema_migrations",
                           "--file=-", str(source)], capture_output=True, text=True)
    versions, rows = [], False
    for line in proc.stdout.splitlines():
        if line.startswith("COPY ") and "schema_migrations" in line:
            rows = True
        elif rows and line == "\\.":
            break
        elif rows and line.split("\t", 1)[0].isdigit():
            versions.append(int(line.split("\t", 1)[0]))
    return max(versions, default=None)


def backup(engine: Engine, target: Path) -> dict:
    """A backup of the database of ``engine`` in ``target`` (SQLite file or pg_dump archive)."""
    return (backup_pg if engine.dialect.name == "postgresql" else backup_sqlite)(engine, target)


def restore(engine: Engine, source: Path, *, force: bool = False) -> dict:
    """Replace the database of ``engine`` with the backup ``source`` and migrate it."""
    fn = restore_pg if engine.dialect.name == "postgresql" else restore_sqlite
    return fn(engine, source, force=force)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


EXPORT_BATCH = 400  # events per ingest transaction (as a kiosk sends them)
SHOWN_BAD_LINES = 100  # lines of an export refused, listed in the command's answer


def import_kiosk_export(engine: Engine, folder: Path, settings) -> dict:
    """Ingest the events of a kiosk's USB export (``kiosk export``) as if it had sent them.

    The manifest must be signed with the device's Ed25519 key as the server stores it (the
    signature covers the whole manifest, the SHA-256 of events.jsonl with it) and that
    SHA-256 must match: an export edited on the way is refused as a whole. The device must be
    enrolled; a revoked one's export is taken in too (a dead kiosk is revoked, and its export
    is how its last ratings arrive), with its ratings recorded after the revocation flagged
    ``after_revocation`` (``ingest.ingest_batch``). Events the server holds already come back
    as duplicates. A line that is no event (a damaged row of a salvaged database) is counted
    as rejected, kept in the quarantine table and listed under ``bad_lines``; the other
    lines are taken in.
    """
    from . import constants as C
    from .ingest import ingest_batch
    from .schema import devices

    manifest_path = folder / "manifest.json"
    manifest = _export_manifest(folder, manifest_path)
    jsonl = folder / "events.jsonl"
    want = manifest["files"].get("events.jsonl")
    if not jsonl.is_file() or _sha256(jsonl) != want:
        raise BackupError(f"{jsonl}: missing or its SHA-256 differs from the manifest (the "
                          "export was cut or edited)")
    with engine.connect() as conn:
        device = conn.execute(select(devices).where(devices.c.id == manifest["device_id"])) \
            .mappings().first()
    if device is None:
        raise BackupError(f"device {manifest['device_id']!r} of this export is not enrolled")
    _check_export_signature(manifest, manifest_path, device)
    device = dict(device) | {"skew_s": device["last_skew_s"] or 0.0}
    events, bad = _export_events(jsonl)
    counts: dict[str, int] = {}
    reasons: dict[str, int] = {}
    for k in range(0, len(events), EXPORT_BATCH):
        doc = {"protocol": 1, "device_id": device["id"], "batch_id": str(uuid.uuid4()),
               "events": events[k:k + EXPORT_BATCH]}
        # export: dated by the clocks of the boots measured while the kiosk was online
        answer = ingest_batch(engine, device, doc, utcnow(), settings,
                              revoked_at=device["revoked_at"], export=True)
        for r in answer["results"]:
            counts[r["status"]] = counts.get(r["status"], 0) + 1
            if r.get("reason"):
                reasons[r["reason"]] = reasons.get(r["reason"], 0) + 1
    if bad:
        _quarantine_lines(engine, device["id"], bad)
        counts[C.ST_REJECTED] = counts.get(C.ST_REJECTED, 0) + len(bad)
    out = {"device_id": device["id"], "events": len(events) + len(bad), "results": counts,
           "chain_ok_on_kiosk": manifest.get("chain_ok")}
    if bad:
        out["bad_line_count"] = len(bad)   # the first SHOWN_BAD_LINES listed
        out["bad_lines"] = [{"line": b["line"], "reason": b["reason"]}
                            for b in bad[:SHOWN_BAD_LINES]]
    if reasons:   # the most frequent first: what a person fixes first
        out["rejected_reasons"] = dict(sorted(reasons.items(), key=lambda kv: -kv[1])[:5])
    if device["revoked_at"] is not None:
        out["revoked_at"] = device["revoked_at"].isoformat()
        with engine.connect() as conn:
            out["flagged_after_revocation"] = _after_revocation(conn, device["id"])
    return out


def _export_manifest(folder: Path, manifest_path: Path) -> dict:
    """The manifest of the export in ``folder``; BackupError saying what is wrong with it."""
    inside = sorted(p.name for p in folder.glob("kiosk-export-*") if (p / "manifest.json").is_file()) \
        if folder.is_dir() and not manifest_path.exists() else []
    if inside:   # the stick's root, where `kiosk export` makes its folders
        raise BackupError(f"{folder} holds kiosk exports, not one: give one of its folders, "
                          f"e.g. {folder / inside[-1]} ({len(inside)} there)")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BackupError(f"{manifest_path}: not a kiosk export manifest ({exc})") from None
    except RecursionError:   # "[[[[…": a traceback
        raise BackupError(f"{manifest_path}: not a kiosk export manifest (nested too deeply)") \
            from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict) \
            or not isinstance(manifest.get("device_id"), str):
        raise BackupError(f"{manifest_path}: not a kiosk export manifest (an object with "
                          "format, device_id and files)")
    if manifest.get("format") != "csk-export-1":
        raise BackupError(f"{manifest_path}: format {manifest.get('format')!r} is not "
                          "'csk-export-1'")
    return manifest


_EXPORT_AGAIN = ("Update the kiosk and export again (on the kiosk's technician screen, or "
                 "`kiosk export --db` on its disk, whose data folder holds its key): the kiosk "
                 "keeps its ratings until the server acknowledges them, so nothing is lost")


def _check_export_signature(manifest: dict, manifest_path: Path, device) -> None:
    """BackupError unless ``manifest`` is signed with the key ``device`` is enrolled with.

    A SHA-256 anyone can recompute: an export whose events were edited (bad ratings turned
    good) with the hashes and the manifest recomputed was taken in, and the kiosk's real
    events came back as conflicts later. Someone holding the kiosk's own disk holds its key
    too; the signature says the export is the kiosk's as it wrote it, nothing more."""
    import base64
    import binascii

    from nacl.exceptions import BadSignatureError

    from sync.credentials import export_signing_string

    from .auth import load_public_key

    signature = manifest.get("signature")
    if signature is None:
        why = manifest.get("unsigned_because")
        why = (f"the kiosk said: {why}" if isinstance(why, str) and why else
               "made by a kiosk version from before exports were signed")
        raise BackupError(f"{manifest_path}: not signed with the kiosk's device key ({why}), "
                          "so an edited copy cannot be told from it; refused, nothing was "
                          f"imported. {_EXPORT_AGAIN}")
    try:
        raw = base64.b64decode(signature, validate=True) if isinstance(signature, str) else b""
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 64:
        raise BackupError(f"{manifest_path}: signature {str(signature)[:40]!r} is not a base64 "
                          "Ed25519 signature; refused, nothing was imported")
    try:
        key = load_public_key(device["public_key"])
    except ValueError as exc:
        raise BackupError(f"device {device['id']!r}: the public key the server stores for it "
                          f"is unusable ({exc}); enrol the kiosk again, then export again") \
            from None
    try:
        key.verify(export_signing_string(manifest), raw)
    except (ValueError, RecursionError) as exc:   # a value JSON cannot write back
        raise BackupError(f"{manifest_path}: not a kiosk export manifest ({exc})") from None
    except BadSignatureError:
        raise BackupError(
            f"{manifest_path}: its signature does not verify with the key device "
            f"{device['id']!r} is enrolled with: the export was changed after the kiosk wrote "
            "it, or it was signed with the key the kiosk had before it was enrolled again; "
            f"refused, nothing was imported. {_EXPORT_AGAIN}") from None


def _export_events(jsonl: Path) -> tuple[list[dict], list[dict]]:
    """(the events of events.jsonl, the lines that are none: line number, reason, text)."""
    from .validation import check_shape

    events: list[dict] = []
    bad: list[dict] = []
    with open(jsonl, "rb") as fh:
        for number, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            where = f"events.jsonl line {number}"
            ev, why = None, None
            try:
                ev = json.loads(raw.decode("utf-8"))
                if not isinstance(ev, dict):
                    why = f"{where}: not a JSON object"
                else:
                    ev.pop("acked_at", None)
                    ev.pop("quarantine", None)
                    check_shape(ev, where)
            except (UnicodeDecodeError, ValueError) as exc:
                why = f"{where}: not a JSON event ({exc})"
            except RecursionError:
                why = f"{where}: not a JSON event (nested too deeply)"
            except AggregatorError as exc:
                why = exc.detail
            if why is None:
                events.append(ev)
            else:
                # One damaged row of a salvaged database refused the whole export: the good
                # events after it never arrived. It is kept in the quarantine table instead.
                ident = ev.get("id") if isinstance(ev, dict) else None
                bad.append({"line": number, "reason": why, "raw": raw,
                            "id": ident if isinstance(ident, str) and len(ident) <= 200 else None})
    return events, bad


def _quarantine_lines(engine: Engine, device_id: str, bad: list[dict]) -> None:
    """Keep the refused lines of an export in the quarantine table, where the events normal
    ingest refuses are kept; a line kept already (the export imported again) is not added."""
    from . import constants as C
    from .db import select_in, write
    from .ingest import storable
    from .schema import quarantine

    now, batch_id = utcnow(), str(uuid.uuid4())
    rows = [{"event_id": storable(b["id"]),
             "device_id": device_id, "batch_id": batch_id, "status": C.ST_REJECTED,
             "reason": storable(b["reason"]),
             "event": storable(b["raw"].decode("utf-8", "backslashreplace").rstrip("\r\n")),
             "received_at": now} for b in bad]
    with write(engine) as conn:
        seen = {tuple(r) for r in select_in(
            conn, "SELECT reason, event FROM quarantine WHERE device_id = ? AND reason {in}",
            sorted({r["reason"] for r in rows}), (device_id,))}
        new = []
        for row in rows:
            if (row["reason"], row["event"]) not in seen:
                seen.add((row["reason"], row["event"]))
                new.append(row)
        if new:
            conn.execute(quarantine.insert(), new)


def _after_revocation(conn, device_id: str) -> int:
    """How many ratings of ``device_id`` carry the ``after_revocation`` flag."""
    from .constants import FLAG_AFTER_REVOCATION
    from .schema import ratings

    return sum(1 for (flags,) in conn.execute(select(ratings.c.flags).where(
        ratings.c.device_id == device_id, ratings.c.flagged.is_(True)))
        if FLAG_AFTER_REVOCATION in json.loads(flags or "[]"))
