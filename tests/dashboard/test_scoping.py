"""Every page and JSON answer is scoped by role: a unit manager never reaches another unit.
Runs on SQLite and, with AGGREGATOR_TEST_PG_URL, on PostgreSQL."""

import re

import requests
from sqlalchemy import select

from aggregator import enroll
from aggregator.dashboard import sample
from aggregator.db import read, utcnow, write
from aggregator.schema import devices, ratings
from tests.aggregator.device import Device
from tests.dashboard.helpers import csrf_of


def test_unit_manager_cannot_reach_another_units_pages(dash):
    s = dash.login("u01")
    for path in ("/dashboard/units/U-02", "/dashboard/windows/W-004",
                 "/dashboard/api/units/U-02", "/dashboard/rankings?unit=U-02",
                 "/dashboard/rankings.xlsx?unit=U-02", "/dashboard/api/rankings?unit=U-02",
                 "/dashboard/regions/R-D", "/dashboard/cases?unit=U-02"):
        r = s.get(dash.url + path, allow_redirects=False)
        assert r.status_code == 403, (path, r.status_code)
    assert s.get(dash.url + "/dashboard/units/U-01").status_code == 200
    assert s.get(dash.url + "/dashboard/api/units/U-01").json()["unit"]["id"] == "U-01"


def test_unit_manager_cannot_see_another_units_case(dash):
    other = dash.case_id("U-02")
    s = dash.login("u01")
    assert s.get(f"{dash.url}/dashboard/cases/{other}").status_code == 404
    assert s.get(f"{dash.url}/dashboard/api/cases/{other}").status_code == 404
    csrf = csrf_of(s, dash.url + "/dashboard/cases")
    r = s.post(f"{dash.url}/dashboard/cases/{other}/action",
               data={"action": "verify", "csrf": csrf}, allow_redirects=False)
    assert r.status_code == 404
    assert dash.login("u02").get(f"{dash.url}/dashboard/api/cases/{other}").json()["state"] \
        == "new"  # untouched


def test_rankings_and_case_list_hold_only_the_users_unit(dash):
    s = dash.login("u01")
    rows = s.get(dash.url + "/dashboard/api/rankings?group=window").json()["rows"]
    assert rows and {r["key"] for r in rows} <= {"W-001", "W-002", "W-003"}
    units = s.get(dash.url + "/dashboard/api/rankings?group=unit").json()["rows"]
    assert [r["key"] for r in units] == ["U-01"]
    html = s.get(dash.url + "/dashboard/cases?state=all").text
    assert "东城街道" not in html and "城关街道便民服务中心" in html
    devices = s.get(dash.url + "/dashboard/devices").text
    assert "kiosk-W-001" in devices and "kiosk-W-004" not in devices


def test_supervisor_sees_the_whole_region(dash):
    s = dash.login("jfb")
    units = s.get(dash.url + "/dashboard/api/rankings?group=unit").json()["rows"]
    assert {r["key"] for r in units} == {"U-01", "U-02", "U-03", "U-04"}
    assert s.get(dash.url + "/dashboard/regions/R-D").status_code == 200


def test_unit_manager_cannot_revoke_or_enrol_outside_scope(dash):
    s = dash.login("u01")
    csrf = csrf_of(s, dash.url + "/dashboard/devices")
    r = s.post(dash.url + "/dashboard/devices/kiosk-W-004/revoke", data={"csrf": csrf})
    assert r.status_code == 403  # revoking needs a supervisor
    r = s.post(dash.url + "/dashboard/devices/enroll-code",
               data={"csrf": csrf, "window_id": "W-004"})
    assert r.status_code == 403
    r = s.post(dash.url + "/dashboard/devices/enroll-code",
               data={"csrf": csrf, "window_id": "W-001"})
    assert r.status_code == 200 and "<svg" in r.text and "data-code" in r.text


def test_signed_out_requests_are_refused(dash):
    r = requests.get(dash.url + "/dashboard/api/rankings")
    assert r.status_code == 401
    r = requests.get(dash.url + "/dashboard/cases", allow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/dashboard/login")
    forged = {"agg_session": "abc.def"}
    assert requests.get(dash.url + "/dashboard/api/rankings", cookies=forged).status_code == 401


def test_csrf_missing_or_wrong_is_refused(dash):
    case_id = dash.case_id("U-01", skip=5)
    s = dash.login("u01")
    r = s.post(f"{dash.url}/dashboard/cases/{case_id}/action", data={"action": "verify"})
    assert r.status_code == 403 and "CSRF" in r.text
    r = s.post(f"{dash.url}/dashboard/cases/{case_id}/action",
               data={"action": "verify", "csrf": "forged"})
    assert r.status_code == 403
    assert s.get(f"{dash.url}/dashboard/api/cases/{case_id}").json()["state"] == "new"
    r = requests.post(dash.url + "/dashboard/login", data={"username": "u01",
                                                          "password": sample.PASSWORD})
    assert r.status_code == 403  # the login form needs its token too


def test_session_cookie_flags(dash):
    s = dash.login("viewer")
    cookie = next(c for c in s.cookies if c.name == "agg_session")
    assert cookie.has_nonstandard_attr("HttpOnly")
    assert (cookie.get_nonstandard_attr("SameSite") or "").lower() == "lax"
    assert not cookie.secure  # plain http on loopback; Secure is set when served over https
    r = requests.get(dash.url + "/dashboard/login", headers={"X-Forwarded-Proto": "https"})
    assert r.status_code == 200


def test_viewer_cannot_change_cases(dash):
    case_id = dash.case_id("U-03")
    s = dash.login("viewer")
    csrf = csrf_of(s, f"{dash.url}/dashboard/cases/{case_id}")
    r = s.post(f"{dash.url}/dashboard/cases/{case_id}/action",
               data={"action": "verify", "csrf": csrf})
    assert r.status_code == 403


def test_public_page_shows_totals_and_no_rater_details(dash):
    r = requests.get(dash.url + "/public/units/U-01")
    assert r.status_code == 200 and "城关街道便民服务中心" in r.text
    assert sample.PHONE not in r.text and "跑了两趟" not in r.text
    assert requests.get(dash.url + "/public/units/NOPE").status_code == 404


def test_supervisor_revokes_a_kiosk_which_then_cannot_upload_and_keeps_its_data(dash):
    with write(dash.engine) as conn:
        code = enroll.create_code(conn, "W-002", utcnow())["code"]
    kiosk = Device(dash.url, window_id="W-002")
    assert kiosk.enroll(code).status_code == 200
    sent = kiosk.rating("satisfied")
    assert kiosk.post_batch([sent]).json()["results"][0]["status"] == "accepted"
    s = dash.login("jfb")
    csrf = csrf_of(s, dash.url + "/dashboard/devices")
    r = s.post(f"{dash.url}/dashboard/devices/{kiosk.id}/revoke", data={"csrf": csrf},
               allow_redirects=False)
    assert r.status_code == 303
    r = kiosk.post_batch([kiosk.rating("very_satisfied")])
    assert r.status_code == 401 and r.json()["error"] == "device_revoked"
    with read(dash.engine) as conn:
        assert conn.execute(select(ratings.c.id).where(ratings.c.id == sent["id"])).first()
        assert conn.execute(select(devices.c.revoked_at)
                            .where(devices.c.id == kiosk.id)).scalar() is not None


def test_a_known_kiosk_is_enrolled_again_from_the_dashboard_with_a_code_for_it_only(dash):
    # A known device id is enrolled again only with a code made for it (anyone's code could
    # take over any kiosk). The dashboard could not make one, so moving a kiosk to another
    # window needed the server's command line.
    with write(dash.engine) as conn:
        code = enroll.create_code(conn, "W-001", utcnow())["code"]
    kiosk = Device(dash.url, window_id="W-001")
    assert kiosk.enroll(code).status_code == 200
    s = dash.login("u01")
    page = s.get(f"{dash.url}/dashboard/devices?device={kiosk.id}")
    assert f'<option value="{kiosk.id}" selected>' in page.text
    assert '<option value="W-001" selected>' in page.text
    csrf = csrf_of(s, dash.url + "/dashboard/devices")
    r = s.post(dash.url + "/dashboard/devices/enroll-code",
               data={"csrf": csrf, "window_id": "W-003", "device_id": kiosk.id})
    assert r.status_code == 200 and "data-code-device" in r.text and kiosk.id in r.text
    bound = re.search(r"data-code>([^<]+)<", r.text)[1]
    assert Device(dash.url, window_id="W-003").enroll(bound).json()["error"] \
        == "code_for_another_device"
    kiosk.key = type(kiosk.key).generate()  # the moved kiosk may come with a new key
    moved = kiosk.enroll(bound)
    assert moved.status_code == 200 and moved.json()["window_id"] == "W-003"
    # another unit's kiosk is not there for a unit manager; a revoked one takes a supervisor
    r = s.post(dash.url + "/dashboard/devices/enroll-code",
               data={"csrf": csrf, "window_id": "W-001", "device_id": "kiosk-W-004"})
    assert r.status_code == 404
    with write(dash.engine) as conn:
        enroll.revoke(conn, kiosk.id, utcnow())
    r = s.post(dash.url + "/dashboard/devices/enroll-code",
               data={"csrf": csrf, "window_id": "W-001", "device_id": kiosk.id})
    assert r.status_code == 403
    boss = dash.login("jfb")
    r = boss.post(dash.url + "/dashboard/devices/enroll-code", data={
        "csrf": csrf_of(boss, dash.url + "/dashboard/devices"), "window_id": "W-001",
        "device_id": kiosk.id})
    assert r.status_code == 200 and kiosk.enroll(re.search(r"data-code>([^<]+)<", r.text)[1]) \
        .status_code == 200
    with read(dash.engine) as conn:
        row = conn.execute(select(devices).where(devices.c.id == kiosk.id)).mappings().one()
    assert row["window_id"] == "W-001" and row["revoked_at"] is None
