import hashlib

import requests


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
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
    r = requests.post(f"{org_setup.url}/api/v1/photos", data=png, headers={
        **org_setup.admin, "Content-Type": "image/png"}, timeout=10)
    digest = r.json()["sha256"]
    assert digest == hashlib.sha256(png).hexdigest()
    got = device.get(f"/api/v1/photos/{digest}")
    assert got.status_code == 200 and got.content == png
    assert got.headers["content-type"] == "image/png"
    assert device.get(f"/api/v1/photos/{'0' * 64}").status_code == 404


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


def test_healthz_and_openapi(server):
    r = requests.get(f"{server.url}/healthz", timeout=10)
    assert r.status_code == 200 and r.json()["status"] == "ok"
    spec = requests.get(f"{server.url}/openapi.json", timeout=10).json()
    for path in ("/api/v1/enroll", "/api/v1/batches", "/api/v1/config",
                 "/api/v1/photos/{sha256}", "/api/v1/heartbeat", "/healthz"):
        assert path in spec["paths"]
    assert requests.get(f"{server.url}/docs", timeout=10).status_code == 200
