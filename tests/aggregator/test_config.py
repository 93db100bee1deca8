import hashlib
import io
import json

import requests
from PIL import Image


def _image(size, fmt="PNG", mode="RGB", orientation=None) -> bytes:
    im = Image.new(mode, size, (200, 30, 40) if mode == "RGB" else 0)
    if mode == "RGB":   # the left half blue, to see which way the stored photo stands
        im.paste((20, 40, 220), (0, 0, size[0] // 2, size[1]))
    out = io.BytesIO()
    exif = Image.Exif()
    if orientation:
        exif[0x0112] = orientation
    im.save(out, fmt, exif=exif)
    return out.getvalue()


def _upload(org_setup, data, content_type="image/jpeg"):
    return requests.post(f"{org_setup.url}/api/v1/photos", data=data, timeout=30, headers={
        **org_setup.admin, "Content-Type": content_type})


def test_config_has_roster_and_etag_gives_304(device, org_setup):
    r = device.get("/api/v1/config")
    assert r.status_code == 200, r.text
    cfg = r.json()
    assert cfg["window"]["id"] == "W-001" and cfg["scale"] == 5
    assert [s["staff_id"] for s in cfg["roster"]] == ["S-007"]
    assert cfg["roster"][0]["pin_hash"].startswith("pbkdf2_sha256$")
    assert cfg["service_items"][0]["code"] == "SI-01"
    assert r.headers["ETag"] == f'"{cfg["etag"]}"'
    r2 = device.get("/api/v1/config", headers={"If-None-Match": r.headers["ETag"]})
    assert r2.status_code == 304
    requests.post(f"{org_setup.url}/api/v1/staff", headers=org_setup.admin, json={
        "id": "S-008", "name": "李强", "unit_id": "U-01"}, timeout=10).raise_for_status()
    r3 = device.get("/api/v1/config", headers={"If-None-Match": r.headers["ETag"]})
    assert r3.status_code == 200 and len(r3.json()["roster"]) == 2


def test_photo_is_served_by_its_sha256(device, org_setup):
    png = _image((120, 160))
    r = _upload(org_setup, png, "image/png")
    digest = r.json()["sha256"]
    # a photo already upright and small enough is stored byte for byte
    assert digest == hashlib.sha256(png).hexdigest() and r.json()["resized"] is False
    got = device.get(f"/api/v1/photos/{digest}")
    assert got.status_code == 200 and got.content == png
    assert got.headers["content-type"] == "image/png"
    assert device.get(f"/api/v1/photos/{'0' * 64}").status_code == 404


def test_large_photo_is_stored_scaled_to_what_a_kiosk_shows(device, org_setup):
    # Why: a kiosk keeps the photo as a texture all day, at 4 bytes per pixel under software
    # GL; a 12-megapixel phone photo (within the 2 MB limit) would be 48 MB of its memory.
    jpeg = _image((2400, 3200), "JPEG")
    r = _upload(org_setup, jpeg)
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["resized"] is True and (doc["original_width"], doc["original_height"]) == (2400, 3200)
    assert (doc["width"], doc["height"]) == (600, 800) and doc["content_type"] == "image/jpeg"
    got = device.get(f"/api/v1/photos/{doc['sha256']}")
    assert hashlib.sha256(got.content).hexdigest() == doc["sha256"] and len(got.content) < len(jpeg)
    assert Image.open(io.BytesIO(got.content)).size == (600, 800)


def test_sideways_phone_photo_is_stored_upright(device, org_setup):
    # Why: phones store portraits sideways with an EXIF "rotate 90°" tag, which Kivy's image
    # loader ignores: the staff member would lie on their side on every kiosk.
    sideways = _image((160, 120), "JPEG", orientation=6)   # 6: rotate 90° clockwise to view
    doc = _upload(org_setup, sideways).json()
    assert doc["resized"] is True and (doc["width"], doc["height"]) == (120, 160)
    im = Image.open(io.BytesIO(device.get(f"/api/v1/photos/{doc['sha256']}").content))
    assert im.size == (120, 160) and im.getexif().get(0x0112) is None
    top, bottom = im.getpixel((60, 5)), im.getpixel((60, 154))
    assert top[2] > 150 > bottom[2], (top, bottom)   # the blue left half is now on top


def test_photo_that_is_not_a_readable_image_is_refused_with_the_reason(org_setup):
    for body, words in ((b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "not a readable"),
                        (_image((400, 300))[:200], "not a readable"),
                        (_image((10_000, 5_000), mode="1"), "10000×5000 pixels"),
                        (_image((20_000, 10_000), mode="1"), "not a readable"),  # Pillow's own limit
                        (b"GIF89a" + b"\x00" * 32, "JPEG or PNG")):
        r = _upload(org_setup, body, "image/png")
        assert r.status_code == 400, (words, r.text)
        assert words in str(r.json()), r.text


def test_heartbeat_records_health_and_alerts_on_clock(device, org_setup):
    r = device.post_json("/api/v1/heartbeat", {"app_version": "0.1.0", "pending": 3,
                                               "clock_offset_s": 7200, "disk_free_bytes": 10})
    assert r.status_code == 200 and "server_time" in r.json()
    devs = requests.get(f"{org_setup.url}/api/v1/devices", headers=org_setup.admin,
                        timeout=10).json()
    assert devs[0]["last_heartbeat"]["pending"] == 3
    alerts = requests.get(f"{org_setup.url}/api/v1/alerts?kind=clock_offset",
                          headers=org_setup.admin, timeout=10).json()["alerts"]
    assert len(alerts) == 1
    bad = device.post_json("/api/v1/heartbeat", {"pending": "many"})
    assert bad.status_code == 400 and bad.json()["field"] == "pending"



def test_clock_alerts_are_one_a_day_of_the_sites_calendar_and_apart_from_future_events(
        device, org_setup, monkeypatch):
    # The heartbeat keyed its "one a day" alert by the UTC date while ingest's "events in the
    # future" alert used the site's day under the same key: CI between 00:00 and 16:00 UTC
    # (the same date in both) saw one swallow the other; a day in Beijing that spans UTC
    # midnight raised the heartbeat's alert twice.
    from datetime import datetime, timedelta, timezone

    from aggregator import api_device
    from tests.aggregator.device import now_iso

    late = device.rating(device_time=now_iso(3 * 3600))
    assert device.post_batch([late]).json()["results"][0]["status"] == "accepted"
    beijing = timezone(timedelta(hours=8))
    today = datetime.now(beijing).date()

    def heartbeat_at(utc_hour):   # a time of the site's day `today`, as the server sees it
        t = datetime(today.year, today.month, today.day, tzinfo=timezone.utc)
        t += timedelta(hours=utc_hour)
        monkeypatch.setattr(api_device, "utcnow", lambda: t)
        body = json.dumps({"clock_offset_s": 845.0}).encode()
        r = requests.post(f"{org_setup.url}/api/v1/heartbeat", data=body, timeout=10, headers={
            "Content-Type": "application/json",
            **device.headers("POST", "/api/v1/heartbeat", body, timestamp=t.isoformat())})
        assert r.status_code == 200, r.text

    def clock_alerts():
        return sorted(a["detail"] for a in requests.get(
            f"{org_setup.url}/api/v1/alerts?kind=clock_offset", headers=org_setup.admin,
            timeout=10).json()["alerts"])

    heartbeat_at(3)    # 11:00 in Beijing: the same date in UTC as the site's day
    details = clock_alerts()
    assert len(details) == 2, details
    assert "+845 s off" in details[0] and "in the future of server time" in details[1], details
    heartbeat_at(-6)   # 02:00 in Beijing, the day before in UTC
    heartbeat_at(15.5)  # 23:30 in Beijing
    assert clock_alerts() == details
    heartbeat_at(16.5)  # 00:30 the next day in Beijing: the next day's alert
    assert len(clock_alerts()) == 3, clock_alerts()

def test_healthz_and_openapi(server):
    r = requests.get(f"{server.url}/healthz", timeout=10)
    assert r.status_code == 200 and r.json()["status"] == "ok"
    head = requests.head(f"{server.url}/healthz", timeout=10)   # a load balancer's probe
    assert head.status_code == 200 and head.content == b""
    spec = requests.get(f"{server.url}/openapi.json", timeout=10).json()
    for path in ("/api/v1/enroll", "/api/v1/batches", "/api/v1/config",
                 "/api/v1/photos/{sha256}", "/api/v1/heartbeat", "/healthz"):
        assert path in spec["paths"]
    assert requests.get(f"{server.url}/docs", timeout=10).status_code == 200
