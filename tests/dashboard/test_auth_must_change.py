"""A password someone else chose must be changed before the account opens anything else.

A unit manager opened a staff member's account with a password of their own choosing, then
signed in as that staff member and filed peer reviews in their name."""

from __future__ import annotations

import io
import json

from sqlalchemy import select

from aggregator.cli import main
from aggregator.dashboard import accounts
from aggregator.dashboard.tables import audit_log
from aggregator.db import read
from tests.dashboard.helpers import PASSWORD, csrf_of, refusal_line

CHOSEN_BY_MANAGER = "manager-knows-it"
OWN = "only-i-know-this-1"


def _sign_in(dash, username, password):
    import re

    import requests

    s = requests.Session()
    token = re.search(r'name="csrf" value="([^"]+)"', s.get(f"{dash.url}/dashboard/login").text)[1]
    r = s.post(f"{dash.url}/dashboard/login", allow_redirects=False, data={
        "username": username, "password": password, "csrf": token, "next": ""})
    return s, r


def test_a_staff_account_a_manager_opened_must_change_its_password_before_reviewing(dash):
    # Why: the manager knows the password they typed into the form; without a forced change
    # they could sign in as the staff member and file (unchangeable) peer reviews in their
    # name, steering the colleagues' assessment.
    dash.clear_lockouts()
    manager = dash.login("u01")
    r = manager.post(f"{dash.url}/dashboard/assessment/accounts", allow_redirects=False, data={
        "csrf": csrf_of(manager, f"{dash.url}/dashboard/assessment/settings"),
        "staff_id": "S-003", "username": "acct-s003", "password": CHOSEN_BY_MANAGER})
    assert r.status_code == 303, r.text[:300]
    with read(dash.engine) as conn:
        entry = conn.execute(select(audit_log).where(
            audit_log.c.action == "create_staff_account")).mappings().all()[-1]
    # the audit says which account was made, not only for whom
    assert entry["target"] == "S-003" and json.loads(entry["detail"])["username"] == "acct-s003"

    staff, r = _sign_in(dash, "acct-s003", CHOSEN_BY_MANAGER)
    assert r.status_code == 303 and r.headers["location"] == "/dashboard/account"
    for page in ("/dashboard/assessment/review", "/dashboard/assessment/me", "/dashboard/"):
        r = staff.get(dash.url + page, allow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/dashboard/account", page
    account = staff.get(f"{dash.url}/dashboard/account")
    assert account.status_code == 200 and "data-must-change" in account.text
    token = csrf_of(staff, f"{dash.url}/dashboard/account")
    r = staff.post(f"{dash.url}/dashboard/assessment/review", allow_redirects=False,
                   data={"csrf": token, "period": "2026-01", "reviewee_id": "S-004"})
    assert r.status_code == 403
    assert "请先" in refusal_line(r) and "修改密码" in refusal_line(r)

    r = staff.post(f"{dash.url}/dashboard/account/password", allow_redirects=False, data={
        "csrf": token, "current": CHOSEN_BY_MANAGER, "new": OWN, "again": OWN})
    assert r.status_code == 303
    assert staff.get(f"{dash.url}/dashboard/assessment/review",
                     allow_redirects=False).status_code == 200
    with read(dash.engine) as conn:
        assert not accounts.find_user(conn, "acct-s003")["must_change_password"]


def test_the_cli_marks_a_password_it_sets_for_someone_else(dash, monkeypatch, capsys):
    # Why: the operator hands such a password over; the person must choose their own. An
    # admin made or reset at the command line is the operator's own and is not marked,
    # unless asked.
    url = str(dash.engine.url.render_as_string(hide_password=False))

    def run(*argv):
        monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
        assert main([*argv, "--database", url, "--password-stdin"]) == 0, capsys.readouterr()

    run("create-user", "--username", "cli-viewer", "--role", "viewer")
    assert "must change the password" in capsys.readouterr().out
    run("create-user", "--username", "cli-admin", "--role", "admin")
    run("create-user", "--username", "cli-admin-2", "--role", "admin", "--must-change-password")
    with read(dash.engine) as conn:
        marks = {n: accounts.find_user(conn, n)["must_change_password"]
                 for n in ("cli-viewer", "cli-admin", "cli-admin-2")}
    assert marks == {"cli-viewer": True, "cli-admin": False, "cli-admin-2": True}

    dash.clear_lockouts()
    s = dash.login("cli-admin")
    assert s.get(f"{dash.url}/dashboard/", allow_redirects=False).status_code == 200
    run("set-password", "--username", "jfb")   # a supervisor's reset: marked
    with read(dash.engine) as conn:
        assert accounts.find_user(conn, "jfb")["must_change_password"]
    s = dash.login("jfb")
    assert s.get(f"{dash.url}/dashboard/", allow_redirects=False).headers["location"] \
        == "/dashboard/account"
    run("set-password", "--username", "jfb", "--no-must-change-password")   # as before
    assert dash.login("jfb").get(f"{dash.url}/dashboard/",
                                 allow_redirects=False).status_code == 200
