"""What the admin API takes for values a kiosk uses: a unit's trigger timings within the
kiosk's own limits (kiosk/config.py), staff PINs the kiosk keypad can type, and PIN hashes the
kiosk can check (kiosk/pin.py).

Why it matters: the server took ``invite_timeout_seconds`` 1 to 3600 against the kiosk's 3 to
600, and a unit set to 1 s had every invitation recorded "not rated" (a unit must not be able
to suppress ratings); it took PINs like "abcd", "１２３４" and "12 34" that no one could type on
the kiosk, and any ``pin_hash``, one of 999,999,999 iterations freezing the kiosk for minutes.
"""

from __future__ import annotations

import pytest
import requests

from kiosk.config import BY_NAME
from kiosk.pin import hash_pin


def _post(server, entity: str, doc) -> requests.Response:
    return requests.post(f"{server.url}/api/v1/{entity}", headers=server.admin, json=doc,
                         timeout=10)


@pytest.mark.parametrize("field, value", [("invite_timeout_seconds", 1),
                                          ("invite_timeout_seconds", 2),
                                          ("invite_timeout_seconds", 601),
                                          ("invite_timeout_seconds", 3600),
                                          ("lockout_seconds", -1),
                                          ("lockout_seconds", 3601)])
def test_unit_trigger_timings_outside_the_kiosks_limits_are_400(org_setup, field, value):
    r = _post(org_setup, "units", {"id": "U-01", "name": "城关便民服务中心", field: value})
    assert r.status_code == 400 and r.json()["field"] == field, r.text
    setting = BY_NAME[f"trigger.{field}"]
    assert f"between {setting.min:g} and {setting.max:g}, got {value}" in r.json()["detail"]


@pytest.mark.parametrize("value", [3, 600])
def test_unit_invite_timeouts_at_the_kiosks_limits_are_taken_and_sent(org_setup, device, value):
    r = _post(org_setup, "units", {"id": "U-01", "name": "城关便民服务中心",
                                   "trigger_mode": "invited", "invite_timeout_seconds": value})
    assert r.status_code == 200, r.text
    assert device.get("/api/v1/config").json()["trigger"]["invite_timeout_seconds"] == value


@pytest.mark.parametrize("pin", ["1", "12", "123", "abcd", "１２３４", "12 34", "1234567890123",
                                 "1234567890123456789", "12a4"])
def test_staff_pins_the_kiosk_keypad_cannot_type_are_400(org_setup, pin):
    r = _post(org_setup, "staff", {"id": "S-007", "name": "王芳", "unit_id": "U-01", "pin": pin})
    assert r.status_code == 400 and r.json()["field"] == "pin", r.text
    assert "4 to 12 digits 0-9" in r.json()["detail"]
    assert len(pin) < 3 or pin not in r.json()["detail"]   # a PIN is not echoed


@pytest.mark.parametrize("pin_hash, says", [
    ("pbkdf2_sha256$999999999$00$" + "0" * 64, "got 999999999 iterations"),
    ("pbkdf2_sha256$2000000$00$" + "0" * 64, "got 2000000 iterations"),
    ("pbkdf2_sha256$10$00$" + "0" * 64, "got 10 iterations"),
    ("1234", "got other text"),
    ("pbkdf2_sha256$200000$zz$" + "0" * 64, "got other text"),
    ("md5$1000$00$" + "0" * 64, "got other text"),
])
def test_pin_hashes_the_kiosk_would_not_check_are_400(org_setup, pin_hash, says):
    r = _post(org_setup, "staff", {"id": "S-007", "name": "王芳", "unit_id": "U-01",
                                   "pin_hash": pin_hash})
    assert r.status_code == 400 and r.json()["field"] == "pin_hash", r.text
    assert says in r.json()["detail"] and "pbkdf2_sha256$<1000-1000000 iterations>" in \
        r.json()["detail"]


def test_good_pins_and_a_kiosk_made_hash_are_taken_and_sent(org_setup, device):
    made = hash_pin("24681357", iterations=200_000)
    r = _post(org_setup, "staff", [{"id": "S-008", "name": "李明", "unit_id": "U-01",
                                    "window_id": "W-001", "pin": "0000"},
                                   {"id": "S-009", "name": "赵敏", "unit_id": "U-01",
                                    "window_id": "W-001", "pin": "123456789012"},
                                   {"id": "S-010", "name": "钱进", "unit_id": "U-01",
                                    "window_id": "W-001", "pin_hash": made}])
    assert r.status_code == 200, r.text
    roster = {s["staff_id"]: s for s in device.get("/api/v1/config").json()["roster"]}
    assert roster["S-010"]["pin_hash"] == made
    assert roster["S-008"]["pin_hash"].startswith("pbkdf2_sha256$")


def test_a_roster_file_with_a_pin_the_keypad_cannot_type_names_the_row_and_column(org_setup):
    text = "编号,姓名,单位,密码\nS-300,周一,U-01,4321\nS-301,周二,U-01,１２３４\nS-302,周三,U-01,12\n"
    r = requests.post(f"{org_setup.url}/api/v1/roster/import", headers=org_setup.admin,
                      files={"file": ("roster.csv", text.encode(), "text/csv")}, timeout=30)
    assert r.status_code == 400, r.text
    errors = r.json()["errors"]
    assert len(errors) == 2, errors
    assert errors[0].startswith("row 3, column 'pin': pin must be 4 to 12 digits 0-9")
    assert errors[1].startswith("row 4, column 'pin': pin must be 4 to 12 digits 0-9")
    assert "got 2 digits" in errors[1]
    names = [s["name"] for s in requests.get(f"{org_setup.url}/api/v1/staff",
                                             headers=org_setup.admin, timeout=10).json()]
    assert "周一" not in names   # nothing imported
