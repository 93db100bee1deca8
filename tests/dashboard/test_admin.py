"""Roster editing reaches the kiosks (config ETag), create-user CLI, settings."""

import html
import io

from sqlalchemy import select

from aggregator import Settings, device_config, enroll
from aggregator.cli import main
from aggregator.dashboard import accounts
from aggregator.dashboard.calendar import WorkCalendar
from aggregator.dashboard.tables import cases
from aggregator.db import make_engine, read, utcnow, write
from aggregator.schema import service_items
from tests.aggregator.device import Device
from tests.dashboard.helpers import csrf_of


def _etag(dash):
    with read(dash.engine) as conn:
        return device_config.build(conn, {"window_id": "W-001"}, Settings(secret="x"))["etag"]


def test_editing_a_pledge_changes_the_window_config_etag(dash):
    before = _etag(dash)
    s = dash.login("u01")
    csrf = csrf_of(s, dash.url + "/dashboard/roster")
    r = s.post(dash.url + "/dashboard/roster/staff/S-001", data={
        "csrf": csrf, "name": "王芳", "staff_no": "0001", "post": "首席代办员",
        "pledge": "新承诺：一次办好", "stars": "5", "window_id": "W-001", "active": "1"})
    assert r.status_code == 200
    assert _etag(dash) != before
    assert "新承诺：一次办好" in s.get(dash.url + "/dashboard/roster").text


def test_roster_import_outside_scope_imports_nothing(dash):
    s = dash.login("u01")
    csrf = csrf_of(s, dash.url + "/dashboard/roster")
    data = "编号,姓名,单位编号\nS-900,新人,U-02\n".encode()
    r = s.post(dash.url + "/dashboard/roster/import", data={"csrf": csrf},
               files={"file": ("roster.csv", data, "text/csv")})
    assert r.status_code == 200 and "第 2 行「单位编号」列：单位 U-02 不在您的管理范围内" in r.text
    assert "S-900" not in s.get(dash.url + "/dashboard/roster").text
    ok = "编号,姓名,单位编号,窗口编号\nS-901,新同事,U-01,W-002\n".encode()
    before = _etag(dash)
    r = s.post(dash.url + "/dashboard/roster/import", data={"csrf": csrf},
               files={"file": ("roster.csv", ok, "text/csv")})
    assert "新同事" in r.text
    assert _etag(dash) != before  # the config version moved


def test_roster_import_cannot_take_over_another_units_staff(dash):
    # A unit manager named a staff id of another unit with a unit of their own, and the
    # import moved that person (name, unit, window) into their unit; the edit form refused it.
    from sqlalchemy import select

    from aggregator.db import read
    from aggregator.schema import staff

    with read(dash.engine) as conn:
        other, name = conn.execute(select(staff.c.id, staff.c.name)
                                   .where(staff.c.unit_id == "U-02").limit(1)).one()
    s = dash.login("u01")
    csrf = csrf_of(s, dash.url + "/dashboard/roster")
    data = f"编号,姓名,单位编号,窗口编号\n{other},被挪走的人,U-01,W-001\n".encode()
    r = s.post(dash.url + "/dashboard/roster/import", data={"csrf": csrf},
               files={"file": ("roster.csv", data, "text/csv")})
    assert r.status_code == 200 and f"第 2 行「编号」列：人员 {other} 属于您管理范围以外的单位" in r.text
    with read(dash.engine) as conn:
        assert conn.execute(select(staff.c.name, staff.c.unit_id)
                            .where(staff.c.id == other)).one() == (name, "U-02")


def test_create_user_cli_reads_the_password_from_stdin(tmp_path, monkeypatch, capsys):
    url = f"sqlite:///{tmp_path / 'a.db'}"
    assert main(["migrate", "--database", url]) == 0   # create-user makes no database itself
    monkeypatch.setattr("sys.stdin", io.StringIO("a-long-password\n"))
    assert main(["create-user", "--database", url, "--username", "admin2", "--role", "admin",
                 "--password-stdin"]) == 0
    assert "admin2 created" in capsys.readouterr().out
    monkeypatch.setattr("sys.stdin", io.StringIO("a-long-password\n"))
    assert main(["create-user", "--database", url, "--username", "m", "--role",
                 "unit_manager", "--password-stdin"]) == 2  # a unit manager needs --unit
    assert "--unit" in capsys.readouterr().err
    engine = make_engine(url)
    user, outcome = accounts.authenticate(engine, "admin2", "a-long-password", "1.2.3.4",
                                          utcnow(), accounts.DashboardSettings())
    assert outcome == "ok" and user["role"] == "admin"
    with write(engine) as conn:   # the user dict carries no hash (test_auth_input.py)
        assert accounts.password_hash(conn, user["id"]).startswith("$argon2")


def test_settings_out_of_range_are_refused_and_saved_deadlines_date_new_cases(dash):
    # The form's bounds were only the browser's: an admin could save answer_days=-5, and then
    # every batch holding a bad rating failed in ingest with a 500 (its case could not be
    # dated), so the kiosks behind it retried for ever. A value that was not a number came
    # back as the API's JSON instead of the dashboard's error page.
    s = dash.login("admin")
    page = dash.url + "/dashboard/settings"
    form = {"csrf": csrf_of(s, page), "target_percent": "80", "first_contact_days": "1",
            "answer_days": "15", "holidays": "", "workdays": ""}
    for name, value, says in (
            ("answer_days", "-5", "answer_days must be from 1 to 120, got -5"),
            ("answer_days", "100000", "answer_days must be from 1 to 120, got 100000"),
            ("first_contact_days", "-1", "first_contact_days must be from 0 to 60, got -1"),
            ("first_contact_days", "20", "first_contact_days (20) must not be later than "
                                         "answer_days (15)"),
            ("target_percent", "abc", "target_percent: Input should be a valid number"),
            ("target_percent", "150", "target_rate must be in (0, 1], got 1.5")):
        r = s.post(page, data={**form, name: value}, allow_redirects=False)
        assert r.status_code == 400 and r.headers["content-type"].startswith("text/html")
        assert says in html.unescape(r.text), (name, value)
    assert 'name="answer_days" type="number" min="1" max="120" value="15"' in s.get(page).text
    # the target as every page shows it, in per cent, and a saved form says so
    assert 'name="target_percent" type="number" step="0.1" min="0.1" max="100" value="80"' in s.get(page).text
    saved = s.post(page, data={**form, "target_percent": "85"})
    assert saved.url.endswith("saved=1") and "设置已保存" in saved.text and 'value="85"' in saved.text
    s.post(page, data=form)

    with write(dash.engine) as conn:
        code = enroll.create_code(conn, "W-003", utcnow())["code"]
    kiosk = Device(dash.url, window_id="W-003")
    assert kiosk.enroll(code).status_code == 200
    try:
        r = s.post(page, data={**form, "answer_days": "3"}, allow_redirects=False)
        assert r.status_code == 303
        bad = kiosk.rating("very_dissatisfied")
        r = kiosk.post_batch([bad])
        assert r.status_code == 200 and r.json()["results"][0]["status"] == "accepted"
        with read(dash.engine) as conn:
            case = conn.execute(select(cases).where(cases.c.rating_id == bad["id"])) \
                .mappings().one()
        assert case["answer_due"] == WorkCalendar().add_working_days(case["opened_day"], 3).isoformat()
    finally:
        assert s.post(page, data=form, allow_redirects=False).status_code == 303


def test_a_service_item_saved_on_the_roster_page_reaches_the_unit_kiosks_only(dash):
    s = dash.login("u01")
    csrf = csrf_of(s, dash.url + "/dashboard/roster")
    before = _etag(dash)
    r = s.post(dash.url + "/dashboard/roster/items", data={
        "csrf": csrf, "code": "U-01-NEW", "name": "新生儿出生“一件事”", "time_limit": "3 个工作日",
        "unit_id": "U-01"}, allow_redirects=False)
    assert r.status_code == 303
    with read(dash.engine) as conn:
        config = device_config.build(conn, {"window_id": "W-001"}, Settings(secret="x"))
    assert {"code": "U-01-NEW", "name": "新生儿出生“一件事”", "time_limit": "3 个工作日"} \
        in config["service_items"] and config["etag"] != before
    # another unit's item, and an item for a unit outside the manager's scope, are refused
    with read(dash.engine) as conn:
        other = conn.execute(select(service_items.c.code)
                             .where(service_items.c.unit_id == "U-02")).scalars().first()
    for code, unit in ((other, "U-01"), ("U-02-NEW", "U-02")):
        r = s.post(dash.url + "/dashboard/roster/items", data={
            "csrf": csrf, "code": code, "name": "x", "time_limit": "", "unit_id": unit},
            allow_redirects=False)
        assert r.status_code == 403, (code, unit)
    with read(dash.engine) as conn:
        assert conn.execute(select(service_items.c.name)
                            .where(service_items.c.code == other)).scalar() != "x"
        assert conn.execute(select(service_items.c.code)
                            .where(service_items.c.code == "U-02-NEW")).first() is None


def test_overview_names_alerts_in_the_pages_language(dash):
    # The overview listed alerts by their codes ("medium device_silent") on the Chinese page.
    from aggregator import constants as C
    from aggregator.dashboard.i18n import CATALOG

    for lang, catalog in CATALOG.items():
        missing = [k for k in C.ALERT_KINDS if f"alert_{k}" not in catalog]
        assert not missing, (lang, missing)
    page = dash.login("jfb").get(dash.url + "/dashboard/").text
    assert '<b data-alert-kind="device_silent">设备长时间未通信</b>' in page
    assert ">device_silent<" not in page and ">medium<" not in page
    english = dash.login("jfb").get(dash.url + "/dashboard/?lang=en").text
    assert '<b data-alert-kind="device_silent">Device silent</b>' in english


def test_pages_name_the_users_region_or_unit(dash):
    # The side bar, the account page and the printed bulletin showed the scope's code
    # ("监管人员 · R-D", "范围：R-D") where a supervisor reads a name.
    from aggregator.schema import regions, units

    with read(dash.engine) as conn:
        region = conn.execute(select(regions.c.name).where(regions.c.id == "R-D")).scalar()
        unit = conn.execute(select(units.c.name).where(units.c.id == "U-01")).scalar()
    supervisor = dash.login("jfb")
    assert f"监管人员 · {region}</div>" in supervisor.get(dash.url + "/dashboard/").text
    bulletin = supervisor.get(dash.url + "/dashboard/rankings?group=unit&print=1").text
    assert f"范围：{region}" in bulletin and "范围：R-D" not in bulletin
    assert f"· {unit}</div>" in dash.login("u01").get(dash.url + "/dashboard/").text
