"""Each user changes their own password; an admin resets one or stops a user (CLI). Until
these existed, a departed supervisor kept their access and nobody could change a password
without editing the database."""

import io
import re

import pytest

from aggregator.cli import main
from aggregator.dashboard.tables import audit_log
from aggregator.db import read
from tests.dashboard.helpers import PASSWORD, browser_login, csrf_of

NEW = "Window-Service-2027"


def _change(s, dash, current, new, again=None):
    page = dash.url + "/dashboard/account"
    return s.post(dash.url + "/dashboard/account/password", allow_redirects=False, data={
        "csrf": csrf_of(s, page), "current": current, "new": new,
        "again": new if again is None else again})


def _signed_in(s, dash) -> bool:
    return s.get(dash.url + "/dashboard/", allow_redirects=False).status_code == 200


def test_a_user_changes_their_password_and_their_other_sessions_end(dash):
    dash.clear_lockouts()   # the lockout counts per IP too, and every test comes from loopback
    here, elsewhere = dash.login("viewer"), dash.login("viewer")
    for current, new, again, status, says in (
            ("wrong-password", NEW, None, 401, "当前密码不正确"),
            (PASSWORD, NEW, NEW + "x", 400, "两次输入的新密码不一致"),
            (PASSWORD, "short", None, 400, "新密码至少需要 10 个字符"),
            (PASSWORD, PASSWORD, None, 400, "新密码不能与当前密码相同")):
        r = _change(here, dash, current, new, again)
        assert r.status_code == status and says in r.text, (current, new)
    dash.clear_lockouts()
    r = _change(here, dash, PASSWORD, NEW)
    assert r.status_code == 303 and r.headers["location"] == "/dashboard/account?saved=1"
    assert "密码已修改" in here.get(dash.url + "/dashboard/account?saved=1").text
    assert _signed_in(here, dash) and not _signed_in(elsewhere, dash)
    with pytest.raises(AssertionError):   # the old password no longer signs in
        dash.login("viewer")
    assert _signed_in(dash.login("viewer", NEW), dash)
    with read(dash.engine) as conn:
        actions = [r.action for r in conn.execute(audit_log.select())]
    assert "password_changed" in actions and "password_change_refused" in actions


def test_guessing_the_current_password_locks_like_the_login(dash):
    dash.clear_lockouts()
    s = dash.login("u02")
    for _ in range(5):
        assert _change(s, dash, "not-my-password", NEW).status_code == 401
    r = _change(s, dash, PASSWORD, NEW)   # right, but locked now
    assert r.status_code == 429 and "锁定" in r.text
    dash.clear_lockouts()
    assert _change(s, dash, PASSWORD, NEW).status_code == 303


def test_admin_resets_a_password_and_stops_and_restores_a_user(dash, monkeypatch, capsys):
    dash.clear_lockouts()
    s = dash.login("u01")
    url = str(dash.engine.url.render_as_string(hide_password=False))
    monkeypatch.setattr("sys.stdin", io.StringIO("Reset-By-Admin-1\n"))
    assert main(["set-password", "--database", url, "--username", "u01",
                 "--password-stdin", "--no-must-change-password"]) == 0
    assert "password of u01 changed" in capsys.readouterr().out
    assert not _signed_in(s, dash)
    s = dash.login("u01", "Reset-By-Admin-1")
    assert main(["deactivate-user", "--database", url, "--username", "u01"]) == 0
    assert not _signed_in(s, dash)   # at once, not at the session's end
    with pytest.raises(AssertionError):
        dash.login("u01", "Reset-By-Admin-1")
    dash.clear_lockouts()
    assert main(["activate-user", "--database", url, "--username", "u01"]) == 0
    assert _signed_in(dash.login("u01", "Reset-By-Admin-1"), dash)
    assert main(["deactivate-user", "--database", url, "--username", "nobody"]) == 2
    assert "user 'nobody' does not exist" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert main(["set-password", "--database", url, "--username", "u01",
                 "--password-stdin"]) == 2
    assert "at least 10 characters" in capsys.readouterr().err


def test_change_password_in_the_browser(page, dash_sqlite, tmp_path):
    dash = dash_sqlite
    browser_login(page, dash, "jfb")
    page.wait_for_url("**/dashboard/")
    page.click("a[data-account]")
    page.fill("input[name=current]", PASSWORD)
    page.fill("input[name=new]", NEW)
    page.fill("input[name=again]", NEW + "!")
    page.click("form[action$='/account/password'] button")
    assert "不一致" in page.locator("[data-error]").inner_text()
    page.fill("input[name=current]", PASSWORD)
    page.fill("input[name=new]", NEW)
    page.fill("input[name=again]", NEW)
    page.click("form[action$='/account/password'] button")
    page.wait_for_url(re.compile(r".*/account\?saved=1$"))
    assert page.locator("[data-saved]").is_visible()
    page.screenshot(path=tmp_path / "account.png")


def test_five_typos_by_others_on_a_shared_address_do_not_lock_everyone_out(dash):
    # A hall's staff sign in from one NAT address: with the address locking after five
    # failures like a user name, five typos by five people locked all of them out.
    dash.clear_lockouts()
    try:
        for name in ("viewer", "u01", "u02", "admin", "nobody-1"):
            with pytest.raises(AssertionError):
                dash.login(name, "a-typo-in-the-password")
        assert _signed_in(dash.login("jfb"), dash)
        for k in range(14):   # 5 + 14 = 19 failures from the address: not yet locked
            with pytest.raises(AssertionError):
                dash.login(f"nobody-{k + 2}", "a-guess")
        assert _signed_in(dash.login("jfb"), dash)
        with pytest.raises(AssertionError):   # the 20th locks the address
            dash.login("nobody-99", "a-guess")
        with pytest.raises(AssertionError):
            dash.login("jfb")
    finally:
        dash.clear_lockouts()
