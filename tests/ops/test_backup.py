"""``aggregator backup`` / ``restore`` round trips (SQLite online backup while a server writes;
pg_dump / pg_restore), and a kiosk's USB export taken in as its backup."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import threading
import uuid

import pytest

from aggregator import Settings, rollups
from aggregator.backup import pg_tool
from aggregator.cli import main
from aggregator.db import make_engine, read, utcnow, write
from aggregator.ingest import ingest_batch
from sync.credentials import Credentials
from tests.aggregator.device import Device
from tests.ops.helpers import ROOT, drop_pg_database, new_pg_database, setup_org

LEVELS = ["very_satisfied", "satisfied", "basic_satisfied", "dissatisfied", "very_dissatisfied"]


def fingerprint(url: str) -> dict:
    """What must survive a round trip: every rating, event hash, rollup and case."""
    engine = make_engine(url)
    out = {}
    with read(engine) as conn:
        for name, sql in {
            "ratings": "SELECT id, level, stars, day, flagged FROM ratings ORDER BY id",
            "events": "SELECT id, seq, hash, payload FROM events ORDER BY id",
            "rollup_daily": 'SELECT day, window_id, level, flagged, "count", stars_sum, invited '
                            "FROM rollup_daily ORDER BY 1, 2, 3, 4",
            "rollup_monthly": 'SELECT month, window_id, level, flagged, "count", stars_sum '
                              "FROM rollup_monthly ORDER BY 1, 2, 3, 4",
            "cases": "SELECT rating_id, state FROM cases ORDER BY rating_id",
            "devices": "SELECT id, public_key FROM devices ORDER BY id",
        }.items():
            rows = [tuple(str(v) for v in r) for r in conn.exec_driver_sql(sql)]
            out[name] = (len(rows), hashlib.sha256(repr(rows).encode()).hexdigest())
        out["consistent"] = rollups.check_monthly(conn) == []
    engine.dispose()
    return out


def cli(*argv) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "aggregator", *argv], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def test_sqlite_backup_while_serving_and_restore_round_trip(tmp_path, processes):
    url = f"sqlite:///{tmp_path / 'live.db'}"
    codes = setup_org(url, 2)
    base, _ = processes.aggregator(url, workers=2)
    devices = []
    for k, code in enumerate(codes):
        d = Device(base, window_id=f"W-{k + 1:03d}")
        assert d.enroll(code).status_code == 200
        devices.append(d)
    stop = threading.Event()
    errors: list[str] = []

    def kiosk(d: Device):
        n = 0
        while not stop.is_set() and n < 40:
            r = d.post_batch([d.rating(LEVELS[(n + j) % 5]) for j in range(50)])
            if r.status_code != 200:
                errors.append(r.text[:300])
                return
            n += 1
    threads = [threading.Thread(target=kiosk, args=(d,)) for d in devices]
    for t in threads:
        t.start()
    # Backups taken while both kiosks write: each is a consistent snapshot.
    snapshots = []
    for k in range(3):
        out = cli("backup", "--database", url, "--output", str(tmp_path / f"hot-{k}.db"))
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout)["schema_version"] >= 10
        snapshots.append(tmp_path / f"hot-{k}.db")
    stop.set()
    for t in threads:
        t.join()
    assert not errors, errors[0]
    for snap in snapshots:
        fp = fingerprint(f"sqlite:///{snap}")
        assert fp["consistent"]
        engine = make_engine(f"sqlite:///{snap}")
        with read(engine) as conn:
            n_ratings = conn.exec_driver_sql("SELECT count(*) FROM ratings").scalar()
            in_rollup = conn.exec_driver_sql(
                'SELECT COALESCE(SUM("count"), 0) FROM rollup_daily').scalar()
            n_events = conn.exec_driver_sql("SELECT count(*) FROM events").scalar()
        engine.dispose()
        assert n_ratings == in_rollup == n_events  # no batch half in a snapshot

    # The final backup restores to an identical database.
    final = tmp_path / "final.db"
    assert cli("backup", "--database", url, "--output", str(final)).returncode == 0
    restored = f"sqlite:///{tmp_path / 'restored' / 'agg.db'}"
    out = cli("restore", "--database", restored, "--input", str(final))
    assert out.returncode == 0, out.stderr
    assert fingerprint(restored) == fingerprint(url)
    assert fingerprint(restored)["ratings"][0] > 0
    # A database holding ratings is not overwritten by mistake.
    out = cli("restore", "--database", restored, "--input", str(snapshots[0]))
    assert out.returncode == 2 and "--force" in out.stderr
    assert fingerprint(restored) == fingerprint(url)
    out = cli("restore", "--database", restored, "--input", str(snapshots[0]), "--force")
    assert out.returncode == 0, out.stderr
    assert fingerprint(restored) == fingerprint(f"sqlite:///{snapshots[0]}")


def test_restore_refuses_a_damaged_backup(tmp_path):
    url = f"sqlite:///{tmp_path / 'a.db'}"
    setup_org(url, 2)
    good = tmp_path / "b.db"
    assert main(["backup", "--database", url, "--output", str(good)]) == 0
    cut = tmp_path / "cut.db"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    out = cli("restore", "--database", f"sqlite:///{tmp_path / 'c.db'}", "--input", str(cut))
    assert out.returncode == 2
    assert "cut.db" in out.stderr
    assert not (tmp_path / "c.db").exists() or (tmp_path / "c.db").stat().st_size == 0


def test_postgresql_pg_dump_round_trip(pg_url, tmp_path):
    pytest.importorskip("psycopg")
    try:
        pg_tool("pg_dump")
    except Exception as exc:  # noqa: BLE001 - the reason is the skip message
        pytest.skip(str(exc))
    setup_org(pg_url, 2)
    engine = make_engine(pg_url)
    d = Device("http://unused", window_id="W-001")
    # Through the real ingest, in process (the HTTP path is covered elsewhere).
    with write(engine) as conn:
        conn.exec_driver_sql(
            "INSERT INTO devices (id, window_id, unit_id, public_key, enrolled_at) VALUES "
            f"('{d.id}', 'W-001', 'U-01', '{d.public_key_b64}', now())")
    device = {"id": d.id, "window_id": "W-001", "unit_id": "U-01", "skew_s": 0.0}
    for _ in range(4):
        doc = {"protocol": 1, "device_id": d.id, "batch_id": str(uuid.uuid4()),
               "events": [d.rating(LEVELS[j % 5]) for j in range(50)]}
        answer = ingest_batch(engine, device, doc, utcnow(), Settings(secret="s"))
        assert {r["status"] for r in answer["results"]} == {"accepted"}
    engine.dispose()
    dump = tmp_path / "agg.dump"
    out = cli("backup", "--database", pg_url, "--output", str(dump))
    assert out.returncode == 0, out.stderr
    target = new_pg_database()
    try:
        out = cli("restore", "--database", target, "--input", str(dump))
        assert out.returncode == 0, out.stderr
        assert fingerprint(target) == fingerprint(pg_url)
        assert fingerprint(target)["ratings"][0] == 200
        out = cli("restore", "--database", target, "--input", str(dump))
        assert out.returncode == 2 and "--force" in out.stderr
        out = cli("restore", "--database", target, "--input", str(dump), "--force")
        assert out.returncode == 0, out.stderr
        assert fingerprint(target) == fingerprint(pg_url)
    finally:
        drop_pg_database(target)


def test_kiosk_usb_export_is_taken_in_once(tmp_path):
    from kiosk.export import export_events
    from kiosk.store import RatingStore

    url = f"sqlite:///{tmp_path / 'agg.db'}"
    setup_org(url, 2)
    store = RatingStore(tmp_path / "kiosk" / "kiosk.db")
    for k in range(30):
        level = LEVELS[k % 5]
        store.record("rating", {"level": level, "stars": 5 - k % 5, "scale": 5, "channel": 4,
                                "window_id": "W-001", "unit_id": "U-01", "staff_id": "S-007",
                                "staff_name": "王芳", "service_item": "SI-01", "case_no": None,
                                "invitation_id": None, "flags": []})
    (tmp_path / "usb").mkdir()
    creds = Credentials.generate(store.device_id)   # the kiosk was enrolled with this key
    folder = export_events(store, tmp_path / "usb", credentials=creds)
    engine = make_engine(url)
    with write(engine) as conn:
        conn.exec_driver_sql(
            "INSERT INTO devices (id, window_id, unit_id, public_key, enrolled_at) VALUES "
            f"('{store.device_id}', 'W-001', 'U-01', '{creds.public_key_b64}', "
            "'2026-01-01 00:00:00.000000')")
    engine.dispose()
    # the stick's root: it said "not a kiosk export manifest", with no word of the folder inside
    root = cli("import-kiosk-export", "--database", url, str(tmp_path / "usb"))
    assert root.returncode == 2 and f"give one of its folders, e.g. {folder}" in root.stderr
    out = cli("import-kiosk-export", "--database", url, str(folder))
    assert out.returncode == 0, out.stderr
    first = json.loads(out.stdout)
    assert first["results"] == {"accepted": store.diagnostics()["events"]}
    again = json.loads(cli("import-kiosk-export", "--database", url, str(folder)).stdout)
    assert again["results"] == {"duplicate": first["events"]}
    fp = fingerprint(url)
    assert fp["ratings"][0] == 30 and fp["consistent"]
    # An export edited on the way is refused.
    jsonl = folder / "events.jsonl"
    jsonl.write_text(jsonl.read_text(encoding="utf-8").replace("very_satisfied", "satisfied"),
                     encoding="utf-8")
    out = cli("import-kiosk-export", "--database", url, str(folder))
    assert out.returncode == 2 and "SHA-256" in out.stderr
    store.close()


def test_a_failed_backup_leaves_no_partial_file_and_says_why(tmp_path):
    # Found by probing the CLI: a full disk, a corrupt source or a folder as --output ended
    # in a traceback and left <output>.partial (and its -journal) behind; on a full disk the
    # disk stayed full.
    import subprocess as sp

    from tests.reliability.disk_full import _fill, _mount_tmpfs

    url = f"sqlite:///{tmp_path / 'a.db'}"
    setup_org(url, 2)
    corrupt = tmp_path / "corrupt.db"
    corrupt.write_bytes(b"not a database at all" * 1000)
    out = cli("backup", "--database", f"sqlite:///{corrupt}", "--output", str(tmp_path / "x.db"))
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
    assert "corrupt.db" in out.stderr
    (tmp_path / "folder").mkdir()
    out = cli("backup", "--database", url, "--output", str(tmp_path / "folder"))
    assert out.returncode == 2 and "is a folder" in out.stderr, out.stderr
    # a backup disk that is not mounted: its folder was made on the server's own disk
    out = cli("backup", "--database", url, "--output", str(tmp_path / "backup-disk" / "b.db"))
    assert out.returncode == 2 and "is the backup disk mounted" in out.stderr, out.stderr
    assert not (tmp_path / "backup-disk").exists()
    mnt = tmp_path / "tiny"
    why_not = _mount_tmpfs(mnt, "1m")
    if why_not is None:
        try:
            _fill(mnt)
            out = cli("backup", "--database", url, "--output", str(mnt / "b.db"))
            assert out.returncode == 2 and "disk is full" in out.stderr, out.stderr
            assert sorted(p.name for p in mnt.iterdir()) == ["filler.bin"]
        finally:
            sp.run(["umount", str(mnt)], check=False)
    assert not [p for p in tmp_path.rglob("*.partial*")]
    # A good backup is one plain file: no -wal/-shm beside it, and it reads from a
    # read-only place.
    good = tmp_path / "good" / "b.db"
    good.parent.mkdir()
    assert cli("backup", "--database", url, "--output", str(good)).returncode == 0
    assert sorted(p.name for p in good.parent.iterdir()) == ["b.db"]
    good.parent.chmod(0o555)
    try:
        out = cli("restore", "--database", f"sqlite:///{tmp_path / 'r.db'}", "--input", str(good))
        assert out.returncode == 0, out.stderr
    finally:
        good.parent.chmod(0o755)


def test_restore_does_not_overwrite_a_file_that_is_not_an_aggregator_database(tmp_path):
    from kiosk.store import RatingStore

    url = f"sqlite:///{tmp_path / 'a.db'}"
    setup_org(url, 2)
    good = tmp_path / "b.db"
    assert main(["backup", "--database", url, "--output", str(good)]) == 0
    RatingStore(tmp_path / "kiosk.db").close()
    before = (tmp_path / "kiosk.db").read_bytes()
    out = cli("restore", "--database", f"sqlite:///{tmp_path / 'kiosk.db'}", "--input", str(good))
    assert out.returncode == 2 and "is not an aggregator database" in out.stderr, out.stderr
    assert (tmp_path / "kiosk.db").read_bytes() == before


@pytest.mark.parametrize("manifest, line, says", [
    ("[1, 2]", None, "not a kiosk export manifest"),
    ('{"format": "csk-export-1", "files": [1]}', None, "not a kiosk export manifest"),
    (None, "{not json", "line 1: not a JSON event"),
    (None, "[1, 2]", "line 1: not a JSON object"),
    (None, "1e99999", "line 1: not a JSON object"),
])
def test_a_malformed_kiosk_export_is_named_not_a_traceback(tmp_path, manifest, line, says):
    # A bad manifest refuses the export (2); a bad line of a signed one is rejected alone,
    # and an export nothing of which is taken in exits 1.
    from sync.credentials import export_signing_string

    creds = Credentials.generate("dev-1")
    folder = tmp_path / "export"
    folder.mkdir()
    jsonl = folder / "events.jsonl"
    jsonl.write_text((line or "") + "\n", encoding="utf-8")
    digest = hashlib.sha256(jsonl.read_bytes()).hexdigest()
    signed = {"format": "csk-export-1", "device_id": "dev-1", "files": {"events.jsonl": digest}}
    signed["signature"] = creds.sign(export_signing_string(signed))
    (folder / "manifest.json").write_text(manifest or json.dumps(signed), encoding="utf-8")
    url = f"sqlite:///{tmp_path / 'a.db'}"
    setup_org(url, 1)
    engine = make_engine(url)
    with write(engine) as conn:
        conn.exec_driver_sql(
            "INSERT INTO devices (id, window_id, unit_id, public_key, enrolled_at) VALUES "
            f"('dev-1', 'W-001', 'U-01', '{creds.public_key_b64}', '2026-01-01 00:00:00.000000')")
    engine.dispose()
    out = cli("import-kiosk-export", "--database", url, str(folder))
    assert out.returncode == (2 if manifest else 1), out.stderr
    assert says in out.stderr and "Traceback" not in out.stderr, out.stderr


def test_pg_dump_gets_the_password_from_its_environment_not_its_command_line():
    # `ps` showed postgresql://user:password@… to every user of the host while a backup ran.
    from sqlalchemy import create_engine

    from aggregator.backup import _libpq

    url, env = _libpq(create_engine("postgresql+psycopg://agg:S3cret%21@db.internal:5432/agg"))
    assert "S3cret" not in url and url == "postgresql://agg@db.internal:5432/agg"
    assert env["PGPASSWORD"] == "S3cret!"


def _kiosk_of_w001(tmp_path, url):
    """A kiosk store whose device the server at ``url`` knows, enrolled to W-001."""
    from kiosk.store import RatingStore

    store = RatingStore(tmp_path / "kiosk" / "kiosk.db")
    creds = Credentials.generate(store.device_id)   # as `kiosk enroll` leaves it
    creds.save(store.path.parent)
    engine = make_engine(url)
    with write(engine) as conn:
        conn.exec_driver_sql(
            "INSERT INTO devices (id, window_id, unit_id, public_key, enrolled_at) VALUES "
            f"('{store.device_id}', 'W-001', 'U-01', '{creds.public_key_b64}', "
            "'2026-01-01 00:00:00.000000')")
    engine.dispose()
    return store


def _signed_export(store, usb):
    """``kiosk export`` of ``store``, signed with the credential beside it."""
    from kiosk.export import device_credentials, export_events

    usb.mkdir(exist_ok=True)
    creds, why = device_credentials(store.path.parent)
    assert creds is not None, why
    return export_events(store, usb, credentials=creds)


def test_a_revoked_dead_kiosks_export_is_taken_in_once_with_later_ratings_flagged(
        tmp_path, database_url):
    # An operator revokes a dead kiosk first, then brings its USB stick: the import said
    # "device was revoked" and the kiosk's last ratings, which only the stick held, never
    # arrived. Revoking must stop a device without losing what it recorded; what it recorded
    # after the revocation is kept but flagged (and excluded from rates by default).
    url = database_url
    setup_org(url, 2)
    store = _kiosk_of_w001(tmp_path, url)

    def rate(n, level="dissatisfied"):
        for _ in range(n):
            store.record("rating", {"level": level, "stars": LEVELS.index(level) * -1 + 5,
                                    "scale": 5, "channel": 4,
                                    "window_id": "W-001", "unit_id": "U-01", "staff_id": "S-007",
                                    "staff_name": "王芳", "service_item": "SI-01",
                                    "case_no": None, "invitation_id": None, "flags": []})

    rate(6)
    out = cli("revoke-device", "--database", url, "--device", store.device_id)
    assert out.returncode == 0, out.stderr
    rate(2, "very_dissatisfied")   # the kiosk was still switched on after the revocation
    folder = _signed_export(store, tmp_path / "usb")
    out = cli("import-kiosk-export", "--database", url, str(folder))
    assert out.returncode == 0, out.stderr
    first = json.loads(out.stdout)
    assert first["results"] == {"accepted": store.diagnostics()["events"]}
    assert first["flagged_after_revocation"] == 2 and first["revoked_at"]
    again = json.loads(cli("import-kiosk-export", "--database", url, str(folder)).stdout)
    assert again["results"] == {"duplicate": first["events"]}
    engine = make_engine(url)
    with read(engine) as conn:
        rows = conn.exec_driver_sql("SELECT level, flagged, flags FROM ratings").all()
        alerts = conn.exec_driver_sql("SELECT kind FROM alerts").scalars().all()
        revoked = conn.exec_driver_sql("SELECT revoked_at FROM devices").scalar()
        assert rollups.check_monthly(conn) == []
    engine.dispose()
    assert sorted((r[0], bool(r[1]), json.loads(r[2])) for r in rows) == \
        [("dissatisfied", False, [])] * 6 + [("very_dissatisfied", True, ["after_revocation"])] * 2
    assert "after_revocation" in alerts and revoked is not None   # still revoked
    store.close()


def _newer_than_this_release(url: str) -> int:
    """Record a migration this release does not have, as the next release would; its number."""
    from aggregator.migrations import available

    newer = available()[-1][0] + 1
    engine = make_engine(url)
    with write(engine) as conn:
        conn.exec_driver_sql("INSERT INTO schema_migrations (version, name, applied_at) VALUES "
                             f"({newer}, 'next_release', '2027-01-01 00:00:00')")
    engine.dispose()
    return newer


def test_a_backup_never_replaces_the_database_it_copies(tmp_path):
    # `backup --output <the live database>` reported success and renamed the copy over the
    # live file: a running server kept writing to the replaced file's WAL, the database came
    # out corrupt and events the kiosks had been told were stored were gone.
    url = f"sqlite:///{tmp_path / 'live.db'}"
    setup_org(url, 1)
    live = tmp_path / "live.db"
    before = live.read_bytes()
    (tmp_path / "link.db").symlink_to(live)
    (tmp_path / "hard.db").hardlink_to(live)
    for output in (live, tmp_path / "sub" / ".." / "live.db", tmp_path / "link.db",
                   tmp_path / "hard.db", tmp_path / "live.db-wal"):
        (tmp_path / "sub").mkdir(exist_ok=True)
        out = cli("backup", "--database", url, "--output", str(output))
        assert out.returncode == 2 and "is the database itself" in out.stderr, (output, out)
        assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr
        assert live.read_bytes() == before
    assert not list(tmp_path.glob("*.partial*")) and not (tmp_path / "live.db-wal").exists()


def test_restore_onto_the_database_itself_is_refused_at_once(tmp_path):
    # `restore --database X --input X --force` hung for good and ignored Ctrl-C.
    url = f"sqlite:///{tmp_path / 'a.db'}"
    setup_org(url, 1)
    before = (tmp_path / "a.db").read_bytes()
    out = subprocess.run([sys.executable, "-m", "aggregator", "restore", "--database", url,
                          "--input", str(tmp_path / "a.db"), "--force"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "is the database itself" in out.stderr, out.stderr
    assert (tmp_path / "a.db").read_bytes() == before


def test_restore_into_a_folder_is_one_line(tmp_path):
    # `restore --database sqlite:///<a folder>` was a traceback (sqlite3.connect on the folder).
    url = f"sqlite:///{tmp_path / 'a.db'}"
    setup_org(url, 1)
    assert cli("backup", "--database", url, "--output", str(tmp_path / "b.db")).returncode == 0
    (tmp_path / "folder").mkdir()
    out = cli("restore", "--database", f"sqlite:///{tmp_path / 'folder'}", "--input",
              str(tmp_path / "b.db"))
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
    assert f"database {tmp_path / 'folder'} is a folder" in out.stderr
    assert list((tmp_path / "folder").iterdir()) == []


def test_a_backup_of_a_folder_says_it_is_a_folder(tmp_path):
    # It said "database … does not exist" of a folder that plainly exists.
    (tmp_path / "folder").mkdir()
    out = cli("backup", "--database", f"sqlite:///{tmp_path / 'folder'}", "--output",
              str(tmp_path / "b.db"))
    assert out.returncode == 2 and "is a folder" in out.stderr, out.stderr
    assert "does not exist" not in out.stderr and not (tmp_path / "b.db").exists()


def test_a_backup_from_a_newer_release_is_not_restored(tmp_path):
    # A newer release's backup was restored and "migrated" silently; this release would then
    # serve a schema it does not know (rows written without the newer columns' values).
    url = f"sqlite:///{tmp_path / 'a.db'}"
    setup_org(url, 1)
    newer = _newer_than_this_release(url)
    assert cli("backup", "--database", url, "--output", str(tmp_path / "b.db")).returncode == 0
    target = tmp_path / "new.db"
    out = cli("restore", "--database", f"sqlite:///{target}", "--input", str(tmp_path / "b.db"))
    assert out.returncode == 2 and f"schema version {newer} is newer than this release" \
        in out.stderr, out.stderr
    assert "install the newer release" in out.stderr and not target.exists()


def test_a_pg_dump_from_a_newer_release_is_not_restored(pg_url, tmp_path):
    # as above, on PostgreSQL: the archive's schema_migrations is read before pg_restore
    setup_org(pg_url, 1)
    newer = _newer_than_this_release(pg_url)
    dump = tmp_path / "agg.dump"
    assert cli("backup", "--database", pg_url, "--output", str(dump)).returncode == 0
    target = new_pg_database()
    try:
        out = cli("restore", "--database", target, "--input", str(dump))
        assert out.returncode == 2 and f"schema version {newer} is newer" in out.stderr, \
            out.stderr
        engine = make_engine(target)
        with read(engine) as conn:   # pg_restore never ran
            assert conn.exec_driver_sql("SELECT to_regclass('public.ratings')").scalar() is None
        engine.dispose()
    finally:
        drop_pg_database(target)


def test_importing_an_export_twice_does_not_double_its_quarantine(tmp_path, database_url):
    # Importing the same kiosk export twice quarantined its rejected events twice (4,000 rows
    # for 2,000 events); docs/operations.md promises that importing twice is harmless.
    url = database_url
    setup_org(url, 2)
    store = _kiosk_of_w001(tmp_path, url)
    engine = make_engine(url)
    for k in range(12):   # W-002 is a window this device never served: rejected
        store.record("rating", {"level": "satisfied", "stars": 4, "scale": 5, "channel": 4,
                                "window_id": "W-002" if k % 3 else "W-001", "unit_id": "U-01",
                                "staff_id": None, "staff_name": None, "service_item": None,
                                "case_no": None, "invitation_id": None, "flags": []})
    folder = _signed_export(store, tmp_path / "usb")
    counts = []
    for _ in range(2):
        out = cli("import-kiosk-export", "--database", url, str(folder))
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout)["results"].get("rejected", 0) >= 8
        with read(engine) as conn:
            counts.append(conn.exec_driver_sql(
                "SELECT count(*), count(DISTINCT event_id) FROM quarantine").one())
    engine.dispose()
    store.close()
    assert counts[0] == counts[1] and counts[0][0] == counts[0][1] >= 8, counts
