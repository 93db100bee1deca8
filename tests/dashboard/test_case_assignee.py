"""A case held by an account that was deactivated: shown so, kept selected, given to someone
else; and ``cases.release_assignments`` for the deactivation itself."""

from __future__ import annotations

import json
import re

from sqlalchemy import select, update

from aggregator.dashboard import accounts, cases
from aggregator.dashboard.tables import audit_log, users
from aggregator.dashboard.tables import cases as cases_table
from aggregator.db import read, utcnow, write
from tests.dashboard.helpers import PASSWORD, case_action, post_form
from tests.dashboard.test_case_callbacks import PHONE, bad_case


def _manager(dash, name: str) -> int:
    """A unit manager of U-01, made once; its id."""
    with write(dash.engine) as conn:
        user = accounts.get_user_by_name(conn, name) or accounts.create_user(
            conn, name, PASSWORD, "unit_manager", unit_id="U-01", display_name=f"{name} 经办",
            now=utcnow())
    return user["id"]


def _deactivate(dash, user_id: int) -> None:
    with write(dash.engine) as conn:
        conn.execute(update(users).where(users.c.id == user_id).values(active=False))


def _assignee(dash, case_id: int):
    with read(dash.engine) as conn:
        return conn.execute(select(cases_table.c.assignee_id).where(
            cases_table.c.id == case_id)).scalar()


def test_a_deactivated_assignee_stays_selected_and_the_case_can_be_given_to_another(dash):
    # The picker had no option for a deactivated assignee: the browser showed 未指派, and
    # pressing 指派 unassigned the case unasked; only the assignee sees the whole number, so
    # nobody could call the citizen back.
    case_id, _ = bad_case(dash, phone=PHONE)
    gone = _manager(dash, "leaver-a")
    supervisor = dash.login("jfb")
    page = f"/dashboard/cases/{case_id}"
    assert post_form(supervisor, dash, f"{page}/assign", page,
                     assignee=str(gone)).status_code == 303
    _deactivate(dash, gone)
    html = supervisor.get(f"{dash.url}{page}").text
    picker = re.search(r'<select name="assignee">(.*?)</select>', html, re.S)[1]
    chosen = re.findall(r"<option[^>]*selected[^>]*>([^<]*)</option>", picker)
    assert chosen == ["leaver-a 经办 (单位负责人)（已停用）"]
    assert "data-assignee-inactive" in html
    listed = supervisor.get(f"{dash.url}/dashboard/cases?state=callback&unit=U-01").text
    row = re.search(rf'data-case="{case_id}">(.*?)</tr>', listed, re.S)[1]
    assert "leaver-a 经办" in row and "（已停用）" in row
    # pressing 指派 with the picker as it shows changes nothing (it unassigned the case)
    assert post_form(supervisor, dash, f"{page}/assign", page,
                     assignee=str(gone)).status_code == 303
    assert _assignee(dash, case_id) == gone
    # a supervisor, or the unit's manager, gives it to someone who can work it
    manager = dash.login("u01")
    assert post_form(manager, dash, f"{page}/assign", page,
                     assignee=str(dash.users["u01"])).status_code == 303
    assert _assignee(dash, case_id) == dash.users["u01"]
    assert manager.get(f"{dash.url}/dashboard/api/cases/{case_id}").json()["phone"] == PHONE


def test_release_assignments_unassigns_the_open_cases_with_an_audit_row_each(dash):
    # For the account's deactivation: its open cases go back to the queue, on the record.
    held = [bad_case(dash)[0] for _ in range(3)]
    leaver = _manager(dash, "leaver-b")
    supervisor, manager = dash.login("jfb"), dash.login("u01")
    for case_id in held:
        page = f"/dashboard/cases/{case_id}"
        assert post_form(supervisor, dash, f"{page}/assign", page,
                         assignee=str(leaver)).status_code == 303
    closed = held[2]   # closed by the unit: its assignee stays, as the record of who did it
    for action in ("verify", "rectify", "answer", "close"):
        assert case_action(manager, dash, closed, action).status_code == 303
    with write(dash.engine) as conn:
        admin = accounts.get_user_by_name(conn, "admin")
        released = cases.release_assignments(conn, leaver, admin, utcnow())
        assert cases.release_assignments(conn, leaver, admin, utcnow()) == []
    assert released == held[:2]
    assert [_assignee(dash, c) for c in held] == [None, None, leaver]
    with read(dash.engine) as conn:
        rows = conn.execute(select(audit_log.c.case_id, audit_log.c.username,
                                   audit_log.c.detail).where(
            audit_log.c.case_id.in_(held), audit_log.c.action == "assign")
            .order_by(audit_log.c.id)).all()
    releases = [(c, u, json.loads(d)) for c, u, d in rows if json.loads(d).get("released")]
    assert [(c, u) for c, u, _ in releases] == [(held[0], "admin"), (held[1], "admin")]
    assert all(d["from"] == leaver and d["to"] is None for _, _, d in releases)
    html = supervisor.get(f"{dash.url}/dashboard/cases/{held[0]}").text
    assert "data-released" in html


def test_deactivating_an_account_on_the_users_page_gives_its_cases_back_to_the_queue(dash):
    # The deactivation itself releases them (``accounts.set_active``): a case kept by an
    # account that cannot sign in had nobody to see the number and call the citizen back.
    case_id, _ = bad_case(dash, phone=PHONE)
    leaver = _manager(dash, "leaver-c")
    supervisor = dash.login("jfb")
    page = f"/dashboard/cases/{case_id}"
    assert post_form(supervisor, dash, f"{page}/assign", page,
                     assignee=str(leaver)).status_code == 303
    admin = dash.login("admin")
    r = post_form(admin, dash, "/dashboard/users/active", "/dashboard/users",
                  username="leaver-c", active="0")
    assert r.status_code == 303, r.text[:300]
    assert _assignee(dash, case_id) is None
    with read(dash.engine) as conn:
        last = conn.execute(select(audit_log.c.action, audit_log.c.user_id, audit_log.c.detail)
                            .where(audit_log.c.case_id == case_id)
                            .order_by(audit_log.c.id.desc()).limit(1)).one()
    assert last.action == "assign" and last.user_id == dash.users["admin"]
    assert json.loads(last.detail) == {"from": leaver, "to": None, "released": "deactivated"}
