import datetime as dt
import threading
import time

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


def test_revoking_a_device_ends_the_codes_made_for_it_before(device, org_setup):
    # A code made for a kiosk (a unit manager may make one while it is not revoked) survived
    # its revocation: used after it, with any key, it enrolled the kiosk again and lifted the
    # revocation, undoing a supervisor's decision.
    before = enroll_code(org_setup, device_id=device.id)
    r = requests.post(f"{org_setup.url}/api/v1/devices/{device.id}/revoke",
                      headers=org_setup.admin, timeout=10)
    assert r.status_code == 200
    thief = Device(org_setup.url, device_id=device.id)
    r = thief.enroll(before)
    assert r.status_code == 410 and r.json()["error"] == "code_expired", r.text
    assert "before it was revoked" in r.json()["detail"]   # says why, not just "expired"
    with write(org_setup.engine) as conn:
        row = conn.execute(select(devices).where(devices.c.id == device.id)).mappings().one()
    assert row["revoked_at"] is not None and row["public_key"] == device.public_key_b64
    assert thief.post_json("/api/v1/heartbeat", {"pending": 0}).status_code == 401
    # a code made after the revocation (a supervisor's decision) still enrols it again
    after = enroll_code(org_setup, device_id=device.id)
    assert thief.enroll(after).status_code == 200
    # and the old code stays ended once the revocation is lifted
    assert thief.enroll(before).json()["error"] == "code_expired"


def test_a_new_device_id_that_breaks_a_web_address_is_refused(org_setup):
    # The id is part of the dashboard's addresses: a kiosk enrolled as "kiosk-W-001/revoke?"
    # had a "Sync now" button that revoked kiosk-W-001, and "hall-2/kiosk-1" could not be
    # revoked from the page (404).
    code = enroll_code(org_setup)
    for bad in ("kiosk-W-001/revoke?", "hall-2/kiosk-1", "k#1", "k%2F1", "k?x", "a\\b", ".."):
        r = Device(org_setup.url, device_id=bad).enroll(code)
        assert r.status_code == 400 and r.json()["field"] == "device_id", (bad, r.text)
        assert repr(bad) in r.json()["detail"]   # names the bad value
    assert Device(org_setup.url, device_id="hall-2.kiosk-1").enroll(code).status_code == 200


def test_a_device_enrolled_with_such_an_id_before_can_still_be_enrolled_again(org_setup):
    # Existing kiosks keep working: only new ids are checked.
    with write(org_setup.engine) as conn:
        conn.execute(devices.insert().values(
            id="hall-2/kiosk-1", window_id="W-001", unit_id="U-01", public_key="A" * 43 + "=",
            enrolled_at=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)))
    kiosk = Device(org_setup.url, device_id="hall-2/kiosk-1")
    assert kiosk.enroll(enroll_code(org_setup, device_id=kiosk.id)).status_code == 200
    assert kiosk.post_json("/api/v1/heartbeat", {"pending": 1}).status_code == 200
    # and the admin API revokes it: the route stopped at the encoded "/" (404)
    r = requests.post(f"{org_setup.url}/api/v1/devices/hall-2%2Fkiosk-1/revoke",
                      headers=org_setup.admin, timeout=10)
    assert r.status_code == 200 and r.json()["device_id"] == "hall-2/kiosk-1", r.text
    assert kiosk.post_json("/api/v1/heartbeat", {"pending": 1}).status_code == 401


def test_two_enrolments_of_one_new_id_at_once_answer_409_and_keep_the_losers_code(org_setup):
    # On PostgreSQL both requests found no device and both inserted it: the second failed
    # with a 500 (UniqueViolation) in 24 of 30 rounds, where SQLite answered 409. The loser
    # must get device_exists and keep its code (nothing of its transaction stays).
    from aggregator import enroll
    from aggregator.errors import Conflict

    first, second = enroll_code(org_setup), enroll_code(org_setup)
    twins = [Device(org_setup.url, device_id="kiosk-twin") for _ in range(2)]
    bodies = [{"code": c, "device_id": "kiosk-twin", "public_key": d.public_key_b64}
              for c, d in zip((first, second), twins)]
    engine, outcome = org_setup.engine, {}

    def loser():
        try:
            with write(engine) as conn:
                outcome["answer"] = enroll.enroll(conn, bodies[1], dt.datetime.now(dt.timezone.utc))
        except Exception as exc:  # noqa: BLE001 - the test looks at what it was
            outcome["error"] = exc

    with write(engine) as conn:
        enroll.enroll(conn, bodies[0], dt.datetime.now(dt.timezone.utc))
        # the second enrolment runs while the first is not committed yet
        thread = threading.Thread(target=loser)
        thread.start()
        _wait_until_blocked(engine, thread)
    thread.join(timeout=30)
    assert not thread.is_alive()
    error = outcome.get("error")
    assert isinstance(error, Conflict) and error.code == "device_exists", outcome
    with write(engine) as conn:
        key = conn.execute(select(devices.c.public_key)
                           .where(devices.c.id == "kiosk-twin")).scalar_one()
        used = dict(conn.execute(select(enroll_codes.c.code_hash, enroll_codes.c.used_at)).all())
    assert key == twins[0].public_key_b64
    assert used[enroll.code_hash(second)] is None   # the loser's code is not used up
    assert Device(org_setup.url).enroll(second).status_code == 200


def _wait_until_blocked(engine, thread, timeout=10.0):
    """Until ``thread`` waits on a lock of the database (PostgreSQL: on the uncommitted row;
    SQLite: on the one writer), so the first transaction commits while the second waits."""
    deadline = time.monotonic() + timeout
    if engine.dialect.name != "postgresql":
        time.sleep(0.3)   # SQLite: the second write waits for the first one whatever it does
        return
    while time.monotonic() < deadline and thread.is_alive():
        with engine.connect() as conn:
            waiting = conn.exec_driver_sql(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock'").scalar()
        if waiting:
            return
        time.sleep(0.02)
    raise AssertionError("the second enrolment never waited for the first")
