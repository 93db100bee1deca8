"""Staff stored without a unit on the roster page: an admin sees them and places them in a unit
with the staff form; a supervisor and a unit manager never see them, and a unit manager moves
no one out of their unit.

Why it matters: the roster import and the staff API take a person without a unit (not yet
placed, or their unit cleared), and the roster page listed only the people of the user's
units: nobody, admin included, could see such a person or put them anywhere, and no kiosk
showed them."""

from __future__ import annotations

import html
import re

from sqlalchemy import select

from aggregator import Settings, device_config, org
from aggregator.db import read, write
from aggregator.schema import staff
from tests.dashboard.helpers import post_form

ROSTER = "/dashboard/roster"


def _unplaced(dash, staff_id: str, name: str) -> None:
    with write(dash.engine) as conn:
        org.save(conn, "staff", {"id": staff_id, "name": name, "staff_no": staff_id[-4:],
                                 "post": "窗口受理员"})


def _row(page: str, staff_id: str) -> str:
    found = re.search(rf'<tr id="staff-{re.escape(staff_id)}".*?</tr>', page, re.S)
    assert found, f"{staff_id} is not listed"
    return found[0]


def _unit(dash, staff_id: str):
    with read(dash.engine) as conn:
        return conn.execute(select(staff.c.unit_id, staff.c.window_id)
                            .where(staff.c.id == staff_id)).one()


def _problems(page: str) -> list[str]:
    block = re.search(r'<div class="alert error"[^>]*>(.*?)</div>', page, re.S)
    assert block, re.sub(r"\s+", " ", page)[-1500:]
    return [html.unescape(re.sub(r"<[^>]+>", "", li)).strip()
            for li in re.findall(r"<li>(.*?)</li>", block[1], re.S)]


def test_an_admin_sees_a_staff_member_without_a_unit_and_places_them_in_one(dash):
    _unplaced(dash, "S-NU-1", "赵未分")
    s = dash.login("admin")
    page = s.get(dash.url + ROSTER + "?lang=zh_CN").text
    row = _row(page, "S-NU-1")
    assert "未分配单位" in row and 'name="unit_id"' in row and "data-no-unit-hint" in row
    # listed before the people of any unit, where the admin sees it first
    assert page.index('id="staff-S-NU-1"') < page.index('id="staff-S-001"')
    r = post_form(s, dash, f"{ROSTER}/staff/S-NU-1", ROSTER, name="赵未分", staff_no="NU-1",
                  post="窗口受理员", unit_id="U-03", active="1", stars="0")
    assert r.status_code == 303, re.sub(r"\s+", " ", r.text)[-800:]
    assert _unit(dash, "S-NU-1") == ("U-03", None)
    # then a window of that unit, and the kiosks of that window show the person
    r = post_form(s, dash, f"{ROSTER}/staff/S-NU-1", ROSTER, name="赵未分", staff_no="NU-1",
                  post="窗口受理员", unit_id="U-03", window_id="W-007", active="1", stars="0")
    assert r.status_code == 303 and _unit(dash, "S-NU-1") == ("U-03", "W-007")
    with read(dash.engine) as conn:
        config = device_config.build(conn, {"window_id": "W-007"}, Settings(secret="x"))
    assert "S-NU-1" in {m["staff_id"] for m in config["roster"]}
    assert "未分配单位" not in _row(s.get(dash.url + ROSTER).text, "S-NU-1")


def test_placing_a_person_in_a_unit_that_does_not_exist_comes_back_on_the_page(dash):
    _unplaced(dash, "S-NU-3", "孙未分")
    s = dash.login("admin")
    r = post_form(s, dash, f"{ROSTER}/staff/S-NU-3", ROSTER, name="孙未分", unit_id="U-99",
                  active="1")
    assert r.status_code == 400
    assert _problems(r.text) == ["单位 U-99 不存在"]
    assert 'value="U-99"' in _row(r.text, "S-NU-3")   # the form kept what was typed
    assert _unit(dash, "S-NU-3") == (None, None)


def test_a_supervisor_or_unit_manager_never_sees_nor_edits_a_staff_member_without_a_unit(dash):
    # The scope rules stand: a person of no unit is no manager's, whose unit they may have
    # been taken from; only a scope of every unit (an admin's, a viewer's) lists them.
    _unplaced(dash, "S-NU-2", "钱未分")
    for user in ("u01", "jfb"):
        s = dash.login(user)
        assert "钱未分" not in s.get(dash.url + ROSTER).text, user
        r = post_form(s, dash, f"{ROSTER}/staff/S-NU-2", ROSTER, name="钱未分",
                      unit_id="U-01", active="1")
        assert r.status_code == 404, user
    assert _unit(dash, "S-NU-2") == (None, None)
    viewer = dash.login("viewer").get(dash.url + ROSTER).text
    assert "钱未分" in _row(viewer, "S-NU-2") and f"{ROSTER}/staff/S-NU-2" not in viewer


def test_a_unit_manager_moves_no_one_to_another_unit_nor_out_of_their_own(dash):
    # Their form has no unit field; one sent anyway is refused, nothing saved, and a blank
    # one keeps the unit (the form never takes anyone out of a unit).
    s = dash.login("u01")
    assert 'name="unit_id"' not in _row(s.get(dash.url + ROSTER).text, "S-005")
    with read(dash.engine) as conn:
        before = conn.execute(select(staff).where(staff.c.id == "S-005")).mappings().one()
    typed = {"name": before["name"], "staff_no": before["staff_no"], "post": before["post"],
             "stars": str(before["stars"]), "window_id": before["window_id"], "active": "1"}
    r = post_form(s, dash, f"{ROSTER}/staff/S-005", ROSTER, unit_id="U-02", **typed)
    assert r.status_code == 400 and _problems(r.text) == ["单位 U-02 不在您的管理范围内"]
    assert _unit(dash, "S-005") == ("U-01", before["window_id"])
    r = post_form(s, dash, f"{ROSTER}/staff/S-005", ROSTER, unit_id=" ", **typed)
    assert r.status_code == 303 and _unit(dash, "S-005") == ("U-01", before["window_id"])


def test_a_supervisor_moves_a_person_between_units_of_their_region(dash):
    # As a roster file of theirs may; the window goes with the unit or is refused.
    s = dash.login("jfb")
    row = _row(s.get(dash.url + ROSTER).text, "S-011")
    assert 'name="unit_id"' in row and 'list="roster-units"' in row
    with read(dash.engine) as conn:
        before = conn.execute(select(staff).where(staff.c.id == "S-011")).mappings().one()
    typed = {"name": before["name"], "staff_no": before["staff_no"], "post": before["post"],
             "stars": str(before["stars"]), "active": "1"}
    r = post_form(s, dash, f"{ROSTER}/staff/S-011", ROSTER, unit_id="U-04",
                  window_id=before["window_id"], **typed)
    assert r.status_code == 400 and _problems(r.text) == [
        f"窗口 {before['window_id']} 属于其他单位"]
    r = post_form(s, dash, f"{ROSTER}/staff/S-011", ROSTER, unit_id="U-04", window_id="W-010",
                  **typed)
    assert r.status_code == 303 and _unit(dash, "S-011") == ("U-04", "W-010")
