import datetime as dt

import requests
from sqlalchemy import select, update

from aggregator.db import write
from aggregator.schema import devices, enroll_codes
from tests.aggregator.device import Device, enroll_code


def test_enrolment_stores_only_public_key_and_code_is_one_time(org_setup):
    code = enroll_code(org_setup)
    d = Device(org_setup.url)
    r = d.enroll(code)
    assert r.status_code == 200, r.text
    assert r.json()["window_id"] == "W-001" and r.json()["unit_id"] == "U-01"
    with write(org_setup.engine) as conn:
        row = conn.execute(select(devices).where(devices.c.id == d.id)).mappings().one()
        stored_codes = [c.code_hash for c in conn.execute(select(enroll_codes))]
    assert row["public_key"] == d.public_key_b64
    assert code not in stored_codes and code.replace("-", "") not in stored_codes
    again = Device(org_setup.url).enroll(code)
    assert again.status_code == 410 and again.json()["error"] == "code_used"


def test_expired_and_unknown_codes_are_refused(org_setup):
    code = enroll_code(org_setup)
    with write(org_setup.engine) as conn:
        conn.execute(update(enroll_codes).values(
            expires_at=dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc)))
    r = Device(org_setup.url).enroll(code)
    assert r.status_code == 410 and r.json()["error"] == "code_expired"
    r = Device(org_setup.url).enroll("AAA-BBB-CCC")
    assert r.status_code == 404 and r.json()["error"] == "unknown_code"


def test_malformed_enrolment_names_the_field(org_setup):
    r = requests.post(f"{org_setup.url}/api/v1/enroll", json={
        "code": enroll_code(org_setup), "device_id": "k1", "public_key": "not-base64!"},
        timeout=10)
    assert r.status_code == 400 and r.json()["field"] == "public_key"
    r = requests.post(f"{org_setup.url}/api/v1/enroll", data=b"{nope", timeout=10)
    assert r.status_code == 400 and r.json()["field"] == "body"


def test_re_enrolment_replaces_key_and_revoke_keeps_data(device, org_setup):
    assert device.post_batch([device.rating()]).status_code == 200
    r = requests.post(f"{org_setup.url}/api/v1/devices/{device.id}/revoke",
                      headers=org_setup.admin, timeout=10)
    assert r.status_code == 200
    r = device.post_batch([device.rating()])
    assert r.status_code == 401 and r.json()["error"] == "device_revoked"
    stats = requests.get(f"{org_setup.url}/api/v1/stats?group_by=window",
                         headers=org_setup.admin, timeout=10).json()
    assert stats["total"]["rated"] == 1  # revoking lost nothing
    old_key = device.key
    fresh = Device(org_setup.url, device_id=device.id)
    # Any code took over any known device id, revoked or not, with a new key: the real kiosk
    # was locked out and the revocation undone. Only a code made for that device does it.
    code = enroll_code(org_setup)
    taken = fresh.enroll(code)
    assert taken.status_code == 409 and taken.json()["error"] == "device_exists"
    assert Device(org_setup.url).enroll(code).status_code == 200   # the code was not used up
    other = enroll_code(org_setup, device_id=device.id)
    assert Device(org_setup.url).enroll(other).json()["error"] == "code_for_another_device"
    assert fresh.enroll(other).status_code == 200
    fresh.stream_id, fresh.seq, fresh.prev = device.stream_id, device.seq, device.prev
    assert fresh.post_batch([fresh.rating()]).status_code == 200
    r = fresh.post_batch([fresh.rating()], key=old_key)
    assert r.status_code == 401 and r.json()["error"] == "bad_signature"
    with write(org_setup.engine) as conn:
        first = conn.execute(select(devices.c.revoked_at).where(devices.c.id == device.id)).scalar()
    assert first is None   # enrolled again by its own code: no longer revoked


def test_a_second_revocation_keeps_the_first_time(device, org_setup):
    url = f"{org_setup.url}/api/v1/devices/{device.id}/revoke"
    first = requests.post(url, headers=org_setup.admin, timeout=10).json()["revoked_at"]
    again = requests.post(url, headers=org_setup.admin, timeout=10).json()["revoked_at"]
    assert again == first
