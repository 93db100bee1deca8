"""Staff photo hashes stored before photos were checked (any text of up to 64 characters):
the config sends a kiosk only hashes of stored photos, and migration 54 mends or clears them.

Why it matters: a hash no stored photo has made every kiosk of that person's window ask the
server for it at each config pull, for ever (a 404 each time) and show the avatar; one like
"../kiosk.db" named a file the kiosk would try to draw as the photo.
"""

from __future__ import annotations

import hashlib
import io

import requests
from PIL import Image
from sqlalchemy import select, text, update

from aggregator import org
from aggregator.db import read, utcnow, write
from aggregator.migrations import available, migrate
from aggregator.schema import meta_kv, photos, staff, units
from kiosk.store import RatingStore
from sync.client import SyncClient
from tests.aggregator.device import enroll_code
from tests.aggregator.old_schema import database_at_version
from tests.sync.faultproxy import FaultProxy

NEVER_UPLOADED = "0" * 64


def _png(colour=(200, 30, 40)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (60, 80), colour).save(out, "PNG")
    return out.getvalue()


def _with_old_photo_hashes(server) -> str:
    """S-007 with an uploaded photo, and three staff of W-001 with hashes stored before they
    were checked (written as the old API wrote them); the uploaded photo's hash."""
    up = requests.post(f"{server.url}/api/v1/photos", data=_png(), timeout=10,
                       headers={**server.admin, "Content-Type": "image/png"})
    assert up.status_code == 200, up.text
    sha = up.json()["sha256"]
    with write(server.engine) as conn:
        org.save_staff(conn, {"id": "S-007", "photo_sha256": sha})
        for n, (staff_id, old) in enumerate((("S-101", NEVER_UPLOADED), ("S-102", sha.upper()),
                                            ("S-103", "../kiosk.db"))):
            org.save(conn, "staff", {"id": staff_id, "name": f"旧照片{n}", "unit_id": "U-01",
                                     "window_id": "W-001"})
            conn.execute(update(staff).where(staff.c.id == staff_id).values(photo_sha256=old))
    return sha


def test_the_config_names_only_photos_the_server_has(device, org_setup):
    sha = _with_old_photo_hashes(org_setup)
    r = device.get("/api/v1/config")
    assert r.status_code == 200, r.text
    shown = {s["staff_id"]: s["photo"] for s in r.json()["roster"]}
    assert shown == {"S-007": sha, "S-101": None, "S-102": None, "S-103": None}


def test_a_kiosk_shows_no_photo_and_stops_asking_for_one_the_server_lacks(org_setup, tmp_path):
    # Through a proxy that logs each request the kiosk's real sync client makes.
    sha = _with_old_photo_hashes(org_setup)
    proxy = FaultProxy("127.0.0.1", int(org_setup.url.rsplit(":", 1)[1])).start()
    store = RatingStore(tmp_path / "kiosk.db")
    try:
        client = SyncClient(proxy.url, store, timeout=10)
        client.enroll(enroll_code(org_setup))
        first, second = client.pull_config(), client.pull_config()
        client.close()
        asked = [path for _, path, _ in proxy.log if path.startswith("/api/v1/photos/")]
        roster = {s["staff_id"]: s["photo"] for s in store.device_config()[0]["roster"]}
    finally:
        store.close()
        proxy.close()
    assert first["photos_fetched"] == 1 and second["status"] == "unchanged"
    assert asked == [f"/api/v1/photos/{sha}"]   # the stored one, once; nothing else, ever
    assert roster == {"S-007": sha, "S-101": None, "S-102": None, "S-103": None}
    assert first["photos_failed"] is None and second["photos_failed"] is None


def test_migration_54_mends_or_clears_the_photo_hashes_stored_before(database_url):
    # A database of the release before, with the hashes its API took: each now names a stored
    # photo (in the form kiosks take) or is cleared, and the kiosks get a new config version.
    engine = database_at_version(database_url, 53)
    data = _png()
    sha = hashlib.sha256(data).hexdigest()
    old = {"S-1": sha, "S-2": sha.upper(), "S-4": NEVER_UPLOADED, "S-5": "../kiosk.db",
           "S-6": "staff.jpg", "S-7": None}
    if engine.dialect.name == "sqlite":   # which keeps 65 characters in a VARCHAR(64)
        old["S-3"] = f" {sha}"
    with write(engine) as conn:
        conn.execute(units.insert().values(id="U-1", name="城关便民服务中心"))
        conn.execute(photos.insert().values(sha256=sha, content_type="image/png", data=data,
                                            created_at=utcnow()))
        conn.execute(staff.insert(), [{"id": k, "name": "某人", "unit_id": "U-1",
                                       "photo_sha256": v, "party_member": False, "stars": 0,
                                       "active": True} for k, v in old.items()])
        conn.execute(meta_kv.insert().values(key="config_version", value="7"))
    assert migrate(engine) == [v for v, _ in available() if v >= 54]
    with read(engine) as conn:
        now = dict(conn.execute(select(staff.c.id, staff.c.photo_sha256)).all())
        version = org.config_version(conn)
    assert now == {"S-1": sha, "S-2": sha, "S-4": None, "S-5": None, "S-6": None, "S-7": None,
                   **({"S-3": sha} if "S-3" in old else {})}
    assert version == 8
    engine.dispose()


def test_migration_54_changes_nothing_when_every_hash_names_a_photo(database_url):
    # No new config version either: every kiosk would download its config again for nothing.
    engine = database_at_version(database_url, 53)
    with write(engine) as conn:
        conn.execute(units.insert().values(id="U-1", name="城关便民服务中心"))
        conn.execute(staff.insert().values(id="S-1", name="某人", unit_id="U-1",
                                           party_member=False, stars=0, active=True))
    assert migrate(engine) == [v for v, _ in available() if v >= 54]
    with read(engine) as conn:
        assert conn.execute(text("SELECT count(*) FROM meta_kv")).scalar() == 0
    engine.dispose()
