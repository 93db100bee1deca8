"""What sign-in and account pages keep and show: no secrets in a repr or the audit log,
user names of visible text, refusals in the dashboard's own words and format."""

from __future__ import annotations

import re

import pytest
import requests
from sqlalchemy import select

from aggregator.cli import main
from aggregator.dashboard import accounts, web
from aggregator.dashboard.tables import audit_log
from aggregator.db import read, utcnow, write
from aggregator.errors import BadRequest
from tests.dashboard.helpers import PASSWORD, csrf_of, refusal_line


def _login_post(dash, **data):
    s = requests.Session()
    token = re.search(r'name="csrf" value="([^"]+)"', s.get(f"{dash.url}/dashboard/login").text)[1]
    return s.post(f"{dash.url}/dashboard/login", allow_redirects=False,
                  data={"csrf": token, "next": "", **data})


def test_the_request_context_repr_holds_no_password_hash_or_session_secret(dash, monkeypatch):
    # Why: a repr ends up in logs and tracebacks; it printed the user's argon2 hash and the
    # session's CSRF token and token hash.
    seen = {}
    real = web._load

    def spy(request):
        seen["ctx"] = real(request)
        return seen["ctx"]

    monkeypatch.setattr(web, "_load", spy)
    dash.clear_lockouts()
    dash.login("u01").get(f"{dash.url}/dashboard/account")
    text = repr(seen["ctx"])
    for secret in ("$argon2", "password_hash", "csrf_token", "token_hash",
                   seen["ctx"].session["csrf_token"]):
        assert secret not in text, secret
    assert "password_hash" not in seen["ctx"].user   # not carried with the session at all


def test_a_failed_sign_in_names_only_an_existing_account_in_the_audit_log(dash):
    # Why: people type their password into the user-name field; the audit log, which every
    # admin reads, kept it.
    dash.clear_lockouts()
    assert _login_post(dash, username="My-Secret-Passw0rd!", password="").status_code == 401
    assert _login_post(dash, username="viewer", password="wrong-password").status_code == 401
    with read(dash.engine) as conn:
        rows = conn.execute(select(audit_log.c.target).where(
            audit_log.c.action == "login_invalid").order_by(audit_log.c.id)).scalars().all()
    assert rows[-2:] == [None, "viewer"]
    dash.clear_lockouts()


@pytest.mark.parametrize("typed, position, char", [
    ("ad\u200bmin", 3, "U+200B"),     # zero-width space: looks like "admin"
    ("ad\x07min", 3, "U+0007"),       # a control character
    ("a\u202eb", 2, "U+202E"),        # right-to-left override
    ("ad\udcffmin", 3, "U+DCFF"),     # a byte that was not UTF-8
])
def test_a_user_name_of_invisible_characters_is_refused_naming_the_character(
        dash, typed, position, char):
    # Why: only the length was checked; two accounts could look the same ("admin" and
    # "ad\u200bmin"), and a name that was not valid text crashed the CLI.
    with write(dash.engine) as conn, pytest.raises(BadRequest) as err:
        accounts.create_user(conn, typed, PASSWORD, "viewer", now=utcnow())
    assert err.value.detail_args == {"msg": "username_char", "field": "username",
                                     "position": position, "char": char}
    assert f"{char} at position {position}" in err.value.detail


def test_user_names_are_normalised_and_sign_in_the_same_way(dash):
    # Why: a full-width "ｕ" and "u" are the same letter to a person; NFKC makes them one name.
    with write(dash.engine) as conn:
        user = accounts.create_user(conn, " ｎｆｋｃ－user ", PASSWORD, "viewer", now=utcnow())
    assert user["username"] == "nfkc-user"
    dash.clear_lockouts()
    assert _login_post(dash, username="ｎｆｋｃ－user", password=PASSWORD).status_code == 303


def test_the_cli_refuses_a_user_name_that_is_not_text_with_a_message(dash, capsys):
    # Why: `create-user --username $'ad\xff'` ended in a UnicodeEncodeError traceback.
    url = str(dash.engine.url.render_as_string(hide_password=False))
    assert main(["create-user", "--database", url, "--username", "ad\udcff", "--role",
                 "viewer", "--password-stdin"]) == 2
    err = capsys.readouterr().err
    assert "username holds the lone surrogate" in err and "U+DCFF at position 3" in err


def test_the_staff_account_form_says_what_is_wrong_with_the_name_in_chinese(dash):
    # Why: the manager's form took zero-width characters; its refusal must be in the page's
    # language, Chinese first.
    dash.clear_lockouts()
    s = dash.login("u01")
    r = s.post(f"{dash.url}/dashboard/assessment/accounts", allow_redirects=False, data={
        "csrf": csrf_of(s, f"{dash.url}/dashboard/assessment/settings"),
        "staff_id": "S-004", "username": "zw\u200bname", "password": "a-long-password-1"})
    assert r.status_code == 400
    assert refusal_line(r) == ("用户名：第 3 个字符是看不见的控制或格式字符（U+200B，如零宽空格），"
                               "用户名只能含可见文字，请删去")


def test_a_form_field_over_a_megabyte_gets_the_dashboard_error_page(dash):
    # Why: the dashboard answered with the API's JSON {"error": "http_error", ...}, in
    # English, instead of its own page.
    dash.clear_lockouts()
    r = _login_post(dash, username="admin", password="x" * 2_000_000)
    assert r.status_code == 400 and r.headers["content-type"].startswith("text/html")
    assert "超过 1 MB" in refusal_line(r)


def test_a_nul_in_the_password_is_refused_in_the_page_language(dash):
    # Why: the error page put an English sentence under its Chinese heading.
    dash.clear_lockouts()
    r = _login_post(dash, username="admin", password="abc\x00defghijk")
    assert r.status_code == 400 and refusal_line(r).startswith("密码：含有看不见的空字符（NUL）")


def test_the_users_page_names_only_real_accounts_in_its_message(dash):
    # Why: a crafted link (?done=deactivated&u=…) put any words on the page as its own.
    dash.clear_lockouts()
    s = dash.login("admin")
    fake = s.get(f"{dash.url}/dashboard/users?done=deactivated&u=请拨打 400-000-0000 重新激活")
    assert fake.status_code == 200 and "data-message" not in fake.text
    real = s.get(f"{dash.url}/dashboard/users?done=activated&u=viewer")
    assert "账号 viewer 已启用。" in real.text
