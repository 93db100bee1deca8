"""The admin API's staff endpoint and photos: attaching a photo keeps the rest of the record,
a photo must exist, a save that changes nothing leaves the kiosks' config alone, and a 16-bit
greyscale portrait keeps its greys when scaled."""

from __future__ import annotations

import io

import requests
from PIL import Image
from sqlalchemy import select

from aggregator import org, staff_photos
from aggregator.db import read
from aggregator.schema import staff


def _post(server, path: str, headers: dict | None = None, **kw) -> requests.Response:
    return requests.post(f"{server.url}{path}", headers={**server.admin, **(headers or {})},
                         timeout=10, **kw)


def _version(server) -> int:
    with read(server.engine) as conn:
        return org.config_version(conn)


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (300, 400), "blue").save(out, "JPEG")
    return out.getvalue()


def test_attaching_a_photo_keeps_the_rest_of_the_staff_record(org_setup):
    # Why: POST /api/v1/staff with id, name and photo_sha256 (the only way to attach a photo)
    # replaced the record: unit, window, number, PIN and pledge gone, the person on no kiosk
    # and on no manager's roster.
    up = _post(org_setup, "/api/v1/photos", data=_jpeg(), headers={"Content-Type": "image/jpeg"})
    assert up.status_code == 200, up.text
    sha = up.json()["sha256"]
    r = _post(org_setup, "/api/v1/staff", json={"id": "S-007", "name": "王芳",
                                                "photo_sha256": sha})
    assert r.status_code == 200, r.text
    with read(org_setup.engine) as conn:
        row = conn.execute(select(staff).where(staff.c.id == "S-007")).mappings().one()
    assert (row["photo_sha256"], row["unit_id"], row["window_id"], row["staff_no"],
            row["pledge"], row["stars"], row["party_member"]) == \
        (sha, "U-01", "W-001", "0007", "一次告知", 4, True)
    assert row["pin_hash"]   # the PIN too
    # a field sent as null is cleared, as before
    r = _post(org_setup, "/api/v1/staff", json={"id": "S-007", "name": "王芳", "pledge": None})
    assert r.status_code == 200 and r.json()["items"][0]["pledge"] is None
    assert r.json()["items"][0]["photo_sha256"] == sha
    # a photo sent as null is taken off too (docs/aggregator.md: "null clears one"); it stayed
    version = _version(org_setup)
    r = _post(org_setup, "/api/v1/staff", json={"id": "S-007", "photo_sha256": None})
    assert r.status_code == 200 and r.json()["items"][0]["photo_sha256"] is None
    with read(org_setup.engine) as conn:
        row = conn.execute(select(staff).where(staff.c.id == "S-007")).mappings().one()
    assert (row["photo_sha256"], row["unit_id"], row["staff_no"]) == (None, "U-01", "0007")
    assert row["pin_hash"] and _version(org_setup) == version + 1   # kiosks drop the photo


def test_a_photo_that_was_never_uploaded_is_refused(org_setup):
    # Why: any 64 characters were taken; every kiosk then asked for a photo that is not there.
    r = _post(org_setup, "/api/v1/staff", json={"id": "S-008", "name": "李四", "unit_id": "U-01",
                                                "photo_sha256": "0" * 64})
    assert r.status_code == 400 and r.json()["field"] == "photo_sha256"
    assert "0" * 64 in r.json()["detail"] and "POST /api/v1/photos" in r.json()["detail"]


def test_a_save_that_changes_nothing_keeps_the_config_version(org_setup):
    # Why: every save bumped the one config version all kiosks pull by: a form saved as it was
    # had every kiosk of every unit download its config again.
    before = _version(org_setup)
    body = {"id": "W-001", "name": "民政窗口", "unit_id": "U-01"}
    assert _post(org_setup, "/api/v1/windows", json=body).status_code == 200
    assert _post(org_setup, "/api/v1/staff", json={"id": "S-007", "name": "王芳"}).status_code \
        == 200
    assert _version(org_setup) == before
    assert _post(org_setup, "/api/v1/windows", json={**body, "name": "民政综合窗口"}) \
        .status_code == 200
    assert _version(org_setup) == before + 1


def test_a_16_bit_greyscale_portrait_keeps_its_greys_when_scaled():
    # Why: convert("RGB") clips a 16-bit grey (0-65535) at 255: the portrait came out white.
    grey = Image.new("I;16", (3000, 400), 40000)
    data = io.BytesIO()
    grey.save(data, "PNG")
    out, kind, facts = staff_photos.normalise(data.getvalue())
    assert facts["resized"] and kind == "image/jpeg"
    pixel = Image.open(io.BytesIO(out)).convert("RGB").getpixel((10, 10))
    assert all(150 <= v <= 162 for v in pixel), pixel   # 40000 / 256 = 156
