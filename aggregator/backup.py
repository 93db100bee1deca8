"""Backups of the aggregator's database, and a kiosk's USB export taken in as its backup.

- SQLite: ``backup_sqlite`` copies the live database with SQLite's online backup API (a
  consistent snapshot while the server keeps writing), checks the copy with
  ``PRAGMA integrity_check`` and only then renames it into place. ``restore_sqlite`` checks a
  backup file the same way and copies it over the (stopped) server's database with the same
  API, then applies any newer migrations.
- PostgreSQL: ``pg_dump --format=custom`` and ``pg_restore --clean --if-exists --no-owner``,
  the documented path (docs/operations.md); the newest ``pg_dump`` on ``PATH`` or under
  ``/usr/lib/postgresql/*/bin`` is used.
- A kiosk's USB export (``kiosk export``: events.jsonl + manifest.json) is its backup:
  ``import_kiosk_export`` checks the manifest's file hashes and feeds the events through the
  normal ingest, so what the server already had counts as duplicates and nothing is stored
  twice.

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
import uuid
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.engine import Engine

from .db import utcnow
from .errors import AggregatorError, ConfigError
from .migrations import migrate

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


def _libpq_url(engine: Engine) -> str:
    return engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


def _check_sqlite_file(path: Path) -> int:
    """The newest migration in the SQLite file ``path``; BackupError unless it is sound."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise BackupError(f"{path} cannot be opened: {exc}") from None
    try:
        result = conn.execute("PRAGMA integrity_check").fetchone()[0]
        if result != "ok":
            raise BackupError(f"{path} fails PRAGMA integrity_check: {result}")
        version = conn.execute("SELECT max(version) FROM schema_migrations").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path} is not an aggregator database: {exc}") from None
    finally:
        conn.close()
    if version is None:
        raise BackupError(f"{path} has no applied migrations")
    return int(version)


def backup_sqlite(engine: Engine, target: Path) -> dict:
    """Copy the live SQLite database to ``target`` (online backup API)."""
    source = _sqlite_path(engine)
    if not source.exists():
        raise BackupError(f"database {source} does not exist")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    src = sqlite3.connect(str(source), timeout=30)
    dst = sqlite3.connect(str(partial))
    try:
        src.backup(dst, pages=PAGES_PER_STEP)
    finally:
        dst.close()
        src.close()
    try:
        version = _check_sqlite_file(partial)
    except BackupError:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, target)
    return {"backend": "sqlite", "file": str(target), "bytes": target.stat().st_size,
            "schema_version": version}


def restore_sqlite(engine: Engine, source: Path, *, force: bool = False) -> dict:
    """Replace the SQLite database of ``engine`` with the backup ``source``; then migrate.

    Stop the server first. Refuses to overwrite a database that has ratings unless ``force``.
    """
    if not source.is_file():
        raise BackupError(f"backup file {source} does not exist")
    version = _check_sqlite_file(source)
    target = _sqlite_path(engine)
    engine.dispose()
    if target.exists() and not force and _has_ratings(target):
        raise BackupError(f"{target} already holds ratings; stop the server and pass --force "
                          "to replace it")
    target.parent.mkdir(parents=True, exist_ok=True)
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    dst = sqlite3.connect(str(target), timeout=30)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()
    applied = migrate(engine)
    return {"backend": "sqlite", "file": str(target), "from": str(source),
            "backup_schema_version": version, "migrations_applied": applied}


def _has_ratings(path: Path) -> bool:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT 1 FROM ratings LIMIT 1").fetchone() is not None
    except sqlite3.DatabaseError:
        return False
    finally:
        conn.close()


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


def _run(argv: list[str]) -> None:
    proc = subprocess.run(argv, capture_output=True, text=True)
    if proc.returncode != 0:
        raise BackupError(f"{Path(argv[0]).name} failed ({proc.returncode}): "
                          f"{proc.stderr.strip()[-500:]}")


def backup_pg(engine: Engine, target: Path) -> dict:
    """``pg_dump --format=custom`` of the database to ``target``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    _run([pg_tool("pg_dump"), "--format=custom", "--no-owner", "--file", str(partial),
          "--dbname", _libpq_url(engine)])
    _run([pg_tool("pg_restore"), "--list", str(partial)])  # readable, not truncated
    os.replace(partial, target)
    return {"backend": "postgresql", "file": str(target), "bytes": target.stat().st_size}


def restore_pg(engine: Engine, source: Path, *, force: bool = False) -> dict:
    """``pg_restore --clean --if-exists`` of ``source`` into the database; then migrate."""
    if not source.is_file():
        raise BackupError(f"backup file {source} does not exist")
    _run([pg_tool("pg_restore"), "--list", str(source)])
    if not force:
        with engine.connect() as conn:
            has = conn.exec_driver_sql(
                "SELECT to_regclass('public.ratings') IS NOT NULL").scalar() and \
                conn.exec_driver_sql("SELECT EXISTS (SELECT 1 FROM ratings)").scalar()
        if has:
            raise BackupError("the database already holds ratings; stop the servers and pass "
                              "--force to replace it")
    engine.dispose()
    _run([pg_tool("pg_restore"), "--clean", "--if-exists", "--no-owner", "--single-transaction",
          "--exit-on-error", "--dbname", _libpq_url(engine), str(source)])
    applied = migrate(engine)
    return {"backend": "postgresql", "from": str(source), "migrations_applied": applied}


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


def import_kiosk_export(engine: Engine, folder: Path, settings) -> dict:
    """Ingest the events of a kiosk's USB export (``kiosk export``) as if it had sent them.

    The manifest's SHA-256 of events.jsonl must match. The device must be enrolled and not
    revoked. Events the server holds already come back as duplicates.
    """
    from .ingest import ingest_batch
    from .schema import devices
    from .validation import check_shape

    manifest_path = folder / "manifest.json"
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BackupError(f"{manifest_path}: not a kiosk export manifest ({exc})") from None
    if manifest.get("format") != "csk-export-1":
        raise BackupError(f"{manifest_path}: format {manifest.get('format')!r} is not "
                          "'csk-export-1'")
    jsonl = folder / "events.jsonl"
    want = (manifest.get("files") or {}).get("events.jsonl")
    if not jsonl.is_file() or _sha256(jsonl) != want:
        raise BackupError(f"{jsonl}: missing or its SHA-256 differs from the manifest (the "
                          "export was cut or edited)")
    with engine.connect() as conn:
        device = conn.execute(select(devices).where(devices.c.id == manifest["device_id"])) \
            .mappings().first()
    if device is None:
        raise BackupError(f"device {manifest['device_id']!r} of this export is not enrolled")
    device = dict(device) | {"skew_s": device["last_skew_s"] or 0.0}
    events = []
    with open(jsonl, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                ev = json.loads(line)
                ev.pop("acked_at", None)
                ev.pop("quarantine", None)
                check_shape(ev, f"events.jsonl line {len(events) + 1}")
                events.append(ev)
    counts: dict[str, int] = {}
    for k in range(0, len(events), EXPORT_BATCH):
        doc = {"protocol": 1, "device_id": device["id"], "batch_id": str(uuid.uuid4()),
               "events": events[k:k + EXPORT_BATCH]}
        answer = ingest_batch(engine, device, doc, utcnow(), settings)
        for r in answer["results"]:
            counts[r["status"]] = counts.get(r["status"], 0) + 1
    return {"device_id": device["id"], "events": len(events), "results": counts,
            "chain_ok_on_kiosk": manifest.get("chain_ok")}
