"""``aggregator restore`` and ``backup`` at their edges: a backup from before an upgrade, a
database that holds no rating but much else, a damaged database, a read-only backup folder."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys

import pytest

from aggregator import migrations
from aggregator.backup import pg_tool
from aggregator.db import make_engine, read, write
from tests.ops.helpers import ROOT, drop_pg_database, needs_pg, new_pg_database, setup_org


def cli(*argv, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "aggregator", *argv], cwd=ROOT, input=stdin,
                          capture_output=True, text=True, timeout=300)


def rows(url: str, sql: str) -> list[tuple]:
    engine = make_engine(url)
    with read(engine) as conn:
        out = [tuple(r) for r in conn.exec_driver_sql(sql)]
    engine.dispose()
    return out


@needs_pg
def test_a_pg_backup_from_before_an_upgrade_restores_and_the_server_starts(
        pg_url, tmp_path, processes, monkeypatch):
    # pg_restore --clean dropped only what the archive holds: the tables and columns of the
    # migrations after the backup stayed (device_boots of m0047, with m0048's column), the
    # migrations replayed after the restore failed ("column mono_ns … already exists") with
    # the restore already committed, and no release would start on the database again.
    pg_tool("pg_dump")
    full = migrations.available
    older = [v for v, _ in full() if v <= 46]
    monkeypatch.setattr(migrations, "available", lambda: [p for p in full() if p[0] <= 46])
    engine = make_engine(pg_url)
    assert migrations.migrate(engine) == older
    with write(engine) as conn:   # the older release's SQL
        for sql in ("INSERT INTO regions (id, name, level) VALUES ('R-1', '示范市', 'city')",
                    "INSERT INTO units (id, name, region_id, hotline, scale, trigger_mode, "
                    "lockout_seconds, invite_timeout_seconds) "
                    "VALUES ('U-01', '中心', 'R-1', '12345', 5, 'open', 10, 20)",
                    "INSERT INTO windows (id, name, unit_id, active) "
                    "VALUES ('W-001', '一号', 'U-01', true)"):
            conn.exec_driver_sql(sql)
    engine.dispose()
    dump = tmp_path / "before-upgrade.dump"
    out = cli("backup", "--database", pg_url, "--output", str(dump))
    assert out.returncode == 0, out.stderr
    monkeypatch.setattr(migrations, "available", full)
    engine = make_engine(pg_url)
    assert migrations.migrate(engine) == [v for v, _ in full() if v > 46]   # the upgrade
    with write(engine) as conn:   # written by the new release, after the backup
        conn.exec_driver_sql("INSERT INTO regions (id, name, level) "
                             "VALUES ('R-2', '新区', 'district')")
    engine.dispose()

    out = cli("restore", "--database", pg_url, "--input", str(dump), "--force")
    assert out.returncode == 0, out.stderr
    assert rows(pg_url, "SELECT max(version) FROM schema_migrations") == [(full()[-1][0],)]
    assert rows(pg_url, "SELECT id FROM regions ORDER BY id") == [("R-1",)]
    assert rows(pg_url, "SELECT id, unit_id FROM windows") == [("W-001", "U-01")]
    assert cli("migrate", "--database", pg_url).stdout.strip() == "database is up to date"
    base, _ = processes.aggregator(pg_url, workers=1)   # waits for /healthz: 200
    assert base


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql", marks=needs_pg)])
def test_restore_without_force_refuses_a_database_of_users_and_windows_but_no_ratings(
        backend, tmp_path):
    # Only `ratings` was looked at: a database with its dashboard users, organisation and
    # enrolment codes but no rating yet was replaced by the backup without --force, and all
    # of that was gone without a word.
    url = f"sqlite:///{tmp_path / 'live.db'}" if backend == "sqlite" else new_pg_database()
    try:
        assert cli("migrate", "--database", url).returncode == 0
        backup = tmp_path / "empty.backup"
        assert cli("backup", "--database", url, "--output", str(backup)).returncode == 0
        setup_org(url, 2)
        out = cli("create-user", "--database", url, "--username", "boss", "--role", "admin",
                  "--password-stdin", stdin="pw-123456789012\n")
        assert out.returncode == 0, out.stderr
        out = cli("restore", "--database", url, "--input", str(backup))
        assert out.returncode == 2 and "--force" in out.stderr, out.stderr
        assert "holds " in out.stderr and "2 windows" in out.stderr and "1 users" in out.stderr
        assert out.stderr.count("\n") == 1
        assert rows(url, "SELECT count(*) FROM users") == [(1,)]
        assert rows(url, "SELECT count(*) FROM windows") == [(2,)]
        out = cli("restore", "--database", url, "--input", str(backup), "--force")
        assert out.returncode == 0, out.stderr
        assert rows(url, "SELECT count(*) FROM windows") == [(0,)]
        # and an empty database is restored into without --force
        out = cli("restore", "--database", url, "--input", str(backup))
        assert out.returncode == 0, out.stderr
    finally:
        if backend != "sqlite":
            drop_pg_database(url)


def test_restore_force_moves_a_damaged_database_aside_and_takes_its_place(tmp_path):
    # `serve` on a database whose header is damaged says to restore a backup over it, but
    # restore opened that file as the backup's destination and failed ("file is not a
    # database") even with --force: no command could bring the server back.
    url = f"sqlite:///{tmp_path / 'live.db'}"
    setup_org(url, 2)
    backup = tmp_path / "good.backup"
    assert cli("backup", "--database", url, "--output", str(backup)).returncode == 0
    live = tmp_path / "live.db"
    with open(live, "r+b") as fh:
        fh.write(b"garbage " * 16)
    damaged = live.read_bytes()
    (tmp_path / "live.db-wal").write_bytes(b"wal of the damaged file")
    (tmp_path / "live.db-shm").write_bytes(b"shm of the damaged file")

    out = cli("restore", "--database", url, "--input", str(backup))
    assert out.returncode == 2 and "--force" in out.stderr and "damaged" in out.stderr, \
        out.stderr
    assert live.read_bytes() == damaged
    out = cli("restore", "--database", url, "--input", str(backup), "--force")
    assert out.returncode == 0, out.stderr
    assert rows(url, "SELECT count(*) FROM windows") == [(2,)]
    aside = sorted(tmp_path.glob("live.db.corrupt-*"))
    assert [p.name[len(aside[0].name):] for p in aside] == ["", "-shm", "-wal"], aside
    assert aside[0].read_bytes() == damaged   # kept, never deleted
    assert (tmp_path / f"{aside[0].name}-wal").read_bytes() == b"wal of the damaged file"
    assert not list(tmp_path.glob("*.restoring*"))


def test_restore_force_over_a_sound_database_leaves_none_of_its_wal_applied(tmp_path):
    # The restored copy is renamed over the database: the old file's WAL, left beside the new
    # file, would be applied to it by the next open. It is checkpointed into the old file
    # first and the side files removed.
    url = f"sqlite:///{tmp_path / 'live.db'}"
    setup_org(url, 1)
    backup = tmp_path / "good.backup"
    assert cli("backup", "--database", url, "--output", str(backup)).returncode == 0
    live = tmp_path / "live.db"
    # a process that wrote in WAL mode and died: its committed rows are only in the -wal
    subprocess.run([sys.executable, "-c", f"""
import os, sqlite3
c = sqlite3.connect({str(live)!r}, isolation_level=None)
c.execute("PRAGMA journal_mode=WAL"); c.execute("PRAGMA wal_autocheckpoint=0")
c.execute("INSERT INTO regions (id, name, level) VALUES ('R-9', 'wal only', 'city')")
os._exit(0)
"""], check=True)
    assert (tmp_path / "live.db-wal").stat().st_size > 0
    out = cli("restore", "--database", url, "--input", str(backup), "--force")
    assert out.returncode == 0, out.stderr
    assert rows(url, "SELECT id FROM regions") == [("R-1",)]
    check = sqlite3.connect(live)
    assert check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    check.close()
    assert not list(tmp_path.glob("live.db.corrupt-*"))


def test_a_backup_into_a_read_only_folder_is_one_clear_line(tmp_path):
    # It named the hidden <output>.partial, and removing that file failed again (EROFS):
    # exit 1 with "Read-only file system (….partial)".
    if os.geteuid() != 0:
        pytest.skip("not root: cannot mount a read-only filesystem")
    url = f"sqlite:///{tmp_path / 'a.db'}"
    setup_org(url, 1)
    ro = tmp_path / "ro"
    ro.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,ro", "tmpfs", str(ro)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"mount failed: {mounted.stderr.strip()}")
    try:
        out = cli("backup", "--database", url, "--output", str(ro / "a.backup"))
    finally:
        subprocess.run(["umount", str(ro)], check=False)
    assert out.returncode == 2, out.stderr
    assert out.stderr == (f"aggregator backup: folder {ro} is read-only or not writable by this "
                          "user; nothing was kept\n")

