"""Managing service items, pledges and accounts; roster files of the wrong type; the
assessment settings' help in the page's language."""

from __future__ import annotations

import datetime as dt
import json
import re

from sqlalchemy import select

from aggregator import Settings, device_config
from aggregator.dashboard import accounts, pledges
from aggregator.dashboard.tables import audit_log, users
from aggregator.db import read, utcnow, write
from aggregator.errors import Forbidden
from aggregator.schema import service_items, staff
from tests.dashboard.helpers import csrf_of


def _config(dash, window="W-001"):
    with read(dash.engine) as conn:
        return device_config.build(conn, {"window_id": window}, Settings(secret="x"))


def _item(dash, code):
    with read(dash.engine) as conn:
        row = conn.execute(select(service_items).where(service_items.c.code == code)) \
            .mappings().first()
    return dict(row) if row else None


def _audit(dash, action, target):
    with read(dash.engine) as conn:
        return conn.execute(select(audit_log).where(audit_log.c.action == action,
                                                    audit_log.c.target == target)).mappings().all()


def _post_item(s, dash, csrf, **form):
    return s.post(dash.url + "/dashboard/roster/items", allow_redirects=False,
                  data={"csrf": csrf, "time_limit": "", "unit_id": "U-01", **form})


def test_adding_an_item_code_that_exists_asks_before_overwriting(dash):
    # The add form overwrote an existing item of the same code silently: a manager typing a
    # code already in use renamed that item on every kiosk without knowing.
    s = dash.login("u01")
    csrf = csrf_of(s, dash.url + "/dashboard/roster")
    assert _post_item(s, dash, csrf, code="U-01-DUP", name="原事项", time_limit="即办",
                      mode="new").status_code == 303
    r = _post_item(s, dash, csrf, code="U-01-DUP", name="新名称", mode="new")
    assert r.status_code == 409
    assert "data-item-conflict" in r.text and "原事项" in r.text and "新名称" in r.text
    assert _item(dash, "U-01-DUP")["name"] == "原事项"
    # the user confirms: now it is overwritten, and the audit log has both versions
    assert _post_item(s, dash, csrf, code="U-01-DUP", name="新名称", mode="new",
                      overwrite="1").status_code == 303
    assert _item(dash, "U-01-DUP")["name"] == "新名称"
    detail = json.loads(_audit(dash, "edit_item", "U-01-DUP")[-1]["detail"])
    assert detail["before"]["name"] == "原事项" and detail["after"]["name"] == "新名称"


def test_an_item_is_edited_in_place_from_its_prefilled_form(dash):
    # Editing had no form of its own: the only way was to retype the code in the add form.
    s = dash.login("u01")
    csrf = csrf_of(s, dash.url + "/dashboard/roster")
    _post_item(s, dash, csrf, code="U-01-EDIT", name="旧名", time_limit="1 天", mode="new")
    page = s.get(dash.url + "/dashboard/roster").text
    assert re.search(r'name="mode" value="edit"><input type="hidden" name="code" '
                     r'value="U-01-EDIT">.*?name="name" value="旧名".*?value="1 天"', page, re.S)
    r = _post_item(s, dash, csrf, code="U-01-EDIT", name="新名", time_limit="2 天", mode="edit")
    assert r.status_code == 303
    assert _item(dash, "U-01-EDIT")["name"] == "新名"
    assert {"code": "U-01-EDIT", "name": "新名", "time_limit": "2 天"} \
        in _config(dash)["service_items"]
    # editing an item that is not there does not create it
    assert _post_item(s, dash, csrf, code="U-01-NONE", name="x", mode="edit").status_code == 404
    assert _item(dash, "U-01-NONE") is None


def test_a_retired_item_leaves_the_kiosks_but_keeps_its_name_for_past_ratings(dash):
    # Ratings keep only the item's code, and the rankings name it from the item's row: a
    # deleted row left past months' rankings with bare codes. Retiring keeps the row.
    s = dash.login("u01")
    csrf = csrf_of(s, dash.url + "/dashboard/roster")
    offered = [i["code"] for i in _config(dash)["service_items"]]
    month = (dt.date.today().replace(day=1) - dt.timedelta(days=1)).strftime("%Y-%m")
    ranking = f"{dash.url}/dashboard/api/rankings?group=service_item&period={month}"
    code = next(r["key"] for r in s.get(ranking).json()["rows"] if r["key"] in offered)
    name = _item(dash, code)["name"]
    version = _config(dash)["version"]
    r = s.post(dash.url + "/dashboard/roster/items/retire", data={"csrf": csrf, "code": code},
               allow_redirects=False)
    assert r.status_code == 303
    config = _config(dash)
    assert code not in [i["code"] for i in config["service_items"]]
    assert config["version"] > version
    assert _item(dash, code)["retired_at"] is not None and _item(dash, code)["name"] == name
    rows = s.get(ranking).json()["rows"]
    assert any(r["key"] == code and r["name"] == name for r in rows), "past ratings lost it"
    assert _audit(dash, "retire_item", code)
    # and it can be used again
    s.post(dash.url + "/dashboard/roster/items/restore", data={"csrf": csrf, "code": code})
    assert code in [i["code"] for i in _config(dash)["service_items"]]
    assert _audit(dash, "restore_item", code)
    # another unit's item cannot be retired
    other = next(c for c in [i["code"] for i in _config(dash, "W-101")["service_items"]]
                 if c.startswith("U-02-")) if _config_ok(dash, "W-101") else None
    if other:
        r = s.post(dash.url + "/dashboard/roster/items/retire", data={"csrf": csrf,
                                                                       "code": other})
        assert r.status_code == 403 and _item(dash, other)["retired_at"] is None


def _config_ok(dash, window):
    try:
        _config(dash, window)
    except Forbidden:
        return False
    return True


def _new_pledge(dash, owner_id="S-001"):
    with write(dash.engine) as conn:
        return pledges.create(conn, "staff", owner_id, "热情服务", ["一次告知", "限时办结"],
                              {"U-01"}, utcnow())


def test_a_corrected_pledge_keeps_its_items_status(dash):
    # A pledge could not be corrected at all: a typo stayed public.
    pid = _new_pledge(dash)
    s = dash.login("u01")
    csrf = csrf_of(s, dash.url + "/dashboard/pledges")
    with read(dash.engine) as conn:
        first = pledges.list_for(conn, {"U-01"})
    item = next(p for p in first if p["id"] == pid)["items"][0]
    with write(dash.engine) as conn:
        pledges.set_item(conn, item["id"], "kept", "已核实", {"username": "u01"}, {"U-01"},
                         utcnow())
    r = s.post(f"{dash.url}/dashboard/pledges/{pid}/correct", allow_redirects=False, data={
        "csrf": csrf, "title": "热情服务，一次办好", f"item-{item['id']}": "一次性告知所需材料",
        "added": "微笑服务\n"})
    assert r.status_code == 303
    with read(dash.engine) as conn:
        now = next(p for p in pledges.list_for(conn, {"U-01"}) if p["id"] == pid)
    assert now["title"] == "热情服务，一次办好"
    assert [i["text"] for i in now["items"]] == ["一次性告知所需材料", "限时办结", "微笑服务"]
    assert "热情服务，一次办好" in s.get(dash.url + "/dashboard/pledges").text
    assert now["items"][0]["status"] == "kept" and now["items"][0]["evidence"] == "已核实"
    detail = json.loads(_audit(dash, "correct_pledge", str(pid))[-1]["detail"])
    assert detail["before"]["title"] == "热情服务" and detail["after"]["title"] == "热情服务，一次办好"


def test_a_withdrawn_pledge_leaves_the_pledges_page_and_the_rate(dash):
    # A pledge could not be withdrawn: one made by mistake stayed public and counted.
    pid = _new_pledge(dash, "S-002")
    s = dash.login("u01")
    csrf = csrf_of(s, dash.url + "/dashboard/pledges")
    with read(dash.engine) as conn:
        total = pledges.unit_fulfilment(conn, {"U-01"})["U-01"]["total"]
    assert f'id="pledge-{pid}"' in s.get(dash.url + "/dashboard/pledges").text
    r = s.post(f"{dash.url}/dashboard/pledges/{pid}/withdraw", data={"csrf": csrf},
               allow_redirects=False)
    assert r.status_code == 303
    with read(dash.engine) as conn:
        assert pledges.unit_fulfilment(conn, {"U-01"})["U-01"]["total"] == total - 2
        assert all(p["id"] != pid for p in pledges.list_for(conn, {"U-01"}))
    assert f'id="pledge-{pid}"' not in s.get(dash.url + "/dashboard/pledges").text
    assert _audit(dash, "withdraw_pledge", str(pid))
    # another unit's manager cannot withdraw a pledge of U-01
    pid2 = _new_pledge(dash, "S-003")
    other = dash.login("u02")
    r = other.post(f"{dash.url}/dashboard/pledges/{pid2}/withdraw",
                   data={"csrf": csrf_of(other, dash.url + "/dashboard/pledges")})
    assert r.status_code == 404
    with read(dash.engine) as conn:
        assert any(p["id"] == pid2 for p in pledges.list_for(conn, {"U-01"}))


def test_admin_sees_every_account_with_role_scope_language_and_last_sign_in(dash):
    # There was no list of accounts: an admin could not see who may sign in at all.
    s = dash.login("admin")
    page = s.get(dash.url + "/dashboard/users").text
    for name in ("admin", "jfb", "u01", "u02", "viewer"):
        assert f'data-user="{name}"' in page
    row = page.split('data-user="u01"')[1].split("</tr>")[0]
    assert "单位负责人" in row and "U-01" in row and "中文" in row
    with read(dash.engine) as conn:
        last = conn.execute(select(users.c.last_login_at).where(users.c.username == "admin")) \
            .scalar()
    assert last is not None and utcnow() - last < dt.timedelta(minutes=5)
    # a unit manager has no such page
    assert dash.login("u01").get(dash.url + "/dashboard/users").status_code == 403


def test_supervisor_sees_and_manages_only_the_accounts_of_their_region(dash):
    # The list must not show a supervisor the admins or accounts outside their region.
    s = dash.login("jfb")
    page = s.get(dash.url + "/dashboard/users").text
    assert 'data-user="u01"' in page and 'data-user="admin"' not in page
    r = s.post(dash.url + "/dashboard/users/active", data={
        "csrf": csrf_of(s, dash.url + "/dashboard/users"), "username": "admin", "active": "0"})
    assert r.status_code == 404
    with read(dash.engine) as conn:
        assert conn.execute(select(users.c.active).where(users.c.username == "admin")).scalar()


def test_deactivating_an_account_ends_its_sessions_and_is_audited(dash):
    s = dash.login("admin")
    victim = dash.login("viewer")
    r = s.post(dash.url + "/dashboard/users/active", allow_redirects=False, data={
        "csrf": csrf_of(s, dash.url + "/dashboard/users"), "username": "viewer", "active": "0"})
    assert r.status_code == 303
    try:
        assert victim.get(dash.url + "/dashboard/", allow_redirects=False).status_code == 303
        assert _audit(dash, "deactivate_user", "viewer")
    finally:
        r = s.post(dash.url + "/dashboard/users/active", allow_redirects=False, data={
            "csrf": csrf_of(s, dash.url + "/dashboard/users"), "username": "viewer",
            "active": "1"})
        assert r.status_code == 303
    assert dash.login("viewer")


def test_an_admin_cannot_lock_out_themselves_or_the_last_admin(dash):
    # An admin who deactivated their own account, or the last admin, left the dashboard
    # with no one able to manage it.
    from aggregator.dashboard import user_admin  # here: the tests run against the old code too

    s = dash.login("admin")
    r = s.post(dash.url + "/dashboard/users/active", data={
        "csrf": csrf_of(s, dash.url + "/dashboard/users"), "username": "admin", "active": "0"})
    assert r.status_code == 409 and "不能停用自己" in r.text
    with write(dash.engine) as conn:
        if accounts.get_user_by_name(conn, "admin-b") is None:
            accounts.create_user(conn, "admin-b", "a-long-password-2", "admin", now=utcnow())
        second = accounts.set_active(conn, "admin-b", False, utcnow())   # e.g. stopped meanwhile
    try:
        with write(dash.engine) as conn:
            try:
                user_admin.set_active(conn, second, "admin", False, set(), utcnow())
            except user_admin.Refused as exc:
                assert exc.key == "cannot_deactivate_last_admin"
            else:
                raise AssertionError("the last active admin was deactivated")
            assert conn.execute(select(users.c.active)
                                .where(users.c.username == "admin")).scalar()
    finally:
        with write(dash.engine) as conn:
            accounts.set_active(conn, "admin", True, utcnow())


def test_a_roster_file_of_the_wrong_type_comes_back_to_the_roster_page(dash):
    # A .txt, a .pdf or a damaged .xlsx went to the bare error page: the user lost the page
    # and was not told which types are accepted.
    s = dash.login("u01")
    csrf = csrf_of(s, dash.url + "/dashboard/roster")
    with read(dash.engine) as conn:
        before = conn.execute(select(staff).order_by(staff.c.id)).all()
    for name, data in (("名单.txt", "编号,姓名\nS-950,某人\n".encode()),
                       ("roster.pdf", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"),
                       ("roster.xlsx", b"PK\x03\x04 not really a workbook")):
        r = s.post(dash.url + "/dashboard/roster/import", data={"csrf": csrf},
                   files={"file": (name, data, "application/octet-stream")})
        assert r.status_code == 400, name
        assert 'data-nav="roster"' in r.text and 'class="on"' in r.text.split('data-nav="roster"')[0][-80:]
        error = r.text.split('class="alert error"')[1].split("</div>")[0]
        assert name in error and ".xlsx" in error and ".csv" in error, error
        en = s.post(dash.url + "/dashboard/roster/import?lang=en", data={"csrf": csrf},
                    files={"file": (name, data, "application/octet-stream")})
        assert "Upload the roster as .xlsx, .csv" in en.text
    with read(dash.engine) as conn:
        assert conn.execute(select(staff).order_by(staff.c.id)).all() == before


def test_assessment_settings_help_is_in_the_pages_language(dash):
    # The help under the weights and thresholds was English on the Chinese page.
    s = dash.login("admin")
    zh = s.get(dash.url + "/dashboard/assessment/settings?lang=zh_CN").text
    assert "综合得分中三部分的权重" in zh and "Weight of each part" not in zh
    assert "Composite scores (0-100)" not in zh
    en = s.get(dash.url + "/dashboard/assessment/settings?lang=en").text
    assert "Weight of each part" in en and "综合得分中三部分的权重" not in en
