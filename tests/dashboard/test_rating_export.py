"""The per-rating export for the 好差评 system (/dashboard/ratings/export), end to end: ratings
uploaded by real signed kiosks and the real QR page, then downloaded by signed-in users of a
real server, over SQLite and PostgreSQL. Every expected code is worked out here from what was
uploaded, with the two published orders written out below, never read off the export code."""

from __future__ import annotations

import csv
import datetime as dt
import doctest
import io
import json
import re
import zipfile

import pytest
import requests
from openpyxl import load_workbook
from sqlalchemy import select

from aggregator import Settings, create_app, org
from aggregator.dashboard import accounts
from aggregator.dashboard.tables import audit_log
from aggregator.db import read, utcnow, write
from tests.aggregator.device import Device, enrolled
from tests.dashboard.helpers import PASSWORD, Dashboard, browser_login
from tests.qr_form import qr_post
from tests.serving import serve

# GB/T 39046-2020 (national data standard): 1 = 非常满意 … 5 = 非常不满意.
NATIONAL = {"very_satisfied": 1, "satisfied": 2, "basic_satisfied": 3, "dissatisfied": 4,
            "very_dissatisfied": 5}
# The provincial 好差评 interfaces: 1 = 非常不满意 … 5 = 非常满意.
PROVINCIAL = {"very_satisfied": 5, "satisfied": 4, "basic_satisfied": 3, "dissatisfied": 2,
              "very_dissatisfied": 1}
STARS = {"very_satisfied": 5, "satisfied": 4, "basic_satisfied": 3, "dissatisfied": 2,
         "very_dissatisfied": 1}
KIOSK_PHONE, QR_PHONE = "13800001234", "13900002222"
TZ = dt.timezone(dt.timedelta(hours=8))
ADMIN_TOKEN = "export-admin-token"


def _enroll(url: str, window_id: str) -> Device:
    return enrolled(url, window_id, ADMIN_TOKEN)


@pytest.fixture(scope="module")
def site(database_url):
    """A fresh server: U-01 (5 levels, W-001) in R-1 and U-02 (4 levels, W-002) in R-2 below
    it, U-09 in R-9 beside R-1 (no ratings), their managers, R-2's supervisor, a viewer, an
    admin and a staff account, and what the kiosks and a phone uploaded."""
    app = create_app(database_url, settings=Settings(secret="s", admin_token=ADMIN_TOKEN))
    now = utcnow()
    with write(app.state.engine) as conn:
        org.save(conn, "regions", {"id": "R-1", "name": "示范区", "level": "district"})
        org.save(conn, "units", {"id": "U-01", "name": "城关便民服务中心", "region_id": "R-1"})
        org.save(conn, "regions", {"id": "R-2", "name": "东城街道", "level": "town",
                                   "parent_id": "R-1"})
        org.save(conn, "regions", {"id": "R-9", "name": "邻区", "level": "district"})
        org.save(conn, "units", {"id": "U-02", "name": "东城社保所", "region_id": "R-2",
                                 "scale": 4})
        org.save(conn, "units", {"id": "U-09", "name": "邻区政务中心", "region_id": "R-9"})
        org.save(conn, "windows", {"id": "W-001", "name": "民政窗口", "unit_id": "U-01"})
        org.save(conn, "windows", {"id": "W-002", "name": "社保窗口", "unit_id": "U-02"})
        org.save(conn, "staff", {"id": "S-007", "name": "王芳", "staff_no": "0007",
                                 "unit_id": "U-01", "window_id": "W-001"})
        org.save(conn, "staff", {"id": "S-008", "name": "李强", "staff_no": "0008",
                                 "unit_id": "U-02", "window_id": "W-002"})
        org.save(conn, "service_items", {"code": "SI-01", "name": "低保申请",
                                         "time_limit": "即办"})
        for name, role, unit, staff_id in (("admin", "admin", None, None),
                                           ("u01", "unit_manager", "U-01", None),
                                           ("u02", "unit_manager", "U-02", None),
                                           ("viewer", "viewer", None, None),
                                           ("wangfang", "staff", "U-01", "S-007")):
            accounts.create_user(conn, name, PASSWORD, role, unit_id=unit, staff_id=staff_id,
                                 now=now)
        accounts.create_user(conn, "dongcheng", PASSWORD, "supervisor", region_id="R-2",
                             now=now)
    server, thread, url = serve(app)
    k1, k2 = _enroll(url, "W-001"), _enroll(url, "W-002")
    good = k1.rating("very_satisfied", case_no="BJ-2026-0001")
    bad = k1.rating("very_dissatisfied")
    follow = k1.event("follow_up", {"rating_id": bad["id"], "reasons": ["attitude",
                                                                        "waiting_time"],
                                    "reasons_version": 1, "phone": KIOSK_PHONE,
                                    "callback_consent": True, "completed": True})
    flagged = k1.rating("basic_satisfied", flags=["burst"])
    assert k1.post_batch([good, bad, follow, flagged]).status_code == 200
    four = [k2.rating(level, unit_id="U-02", staff_id="S-008", staff_name="李强", scale=4)
            for level in ("satisfied", "dissatisfied")]
    assert k2.post_batch(four).status_code == 200
    qr = qr_post(url, "W-001", timeout=10, data={
        "level": "satisfied", "comment": "=1+1 窗口人员态度很好", "phone": QR_PHONE,
        "consent": "1"})
    assert qr.status_code == 200
    uploaded = {e["id"]: e["payload"] | {"device_time": e["device_time"]}
                for e in [good, bad, flagged, *four]}
    uploaded[bad["id"]]["reasons"] = ["attitude", "waiting_time"]
    yield {"dash": Dashboard(url, app.state.engine, {}), "uploaded": uploaded,
           "good": good["id"], "bad": bad["id"], "flagged": flagged["id"],
           "four": [e["id"] for e in four]}
    server.should_exit = True
    thread.join(timeout=10)
    app.state.engine.dispose()


def _days() -> dict:
    today = dt.datetime.now(TZ).date()
    return {"from": str(today - dt.timedelta(days=1)), "to": str(today + dt.timedelta(days=1))}


def _get(session, dash, **params) -> requests.Response:
    return session.get(f"{dash.url}/dashboard/ratings/export", timeout=30,
                       params=_days() | params)


def _csv(body: bytes) -> list[dict]:
    assert body.startswith(b"\xef\xbb\xbf"), body[:20]   # BOM: Excel reads the file as UTF-8
    return list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))


def _xlsx(body: bytes) -> list[dict]:
    sheet = load_workbook(io.BytesIO(body), read_only=True).active
    head, *rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    return [dict(zip(head, ["" if v is None else str(v) for v in r])) for r in rows]


def _all_text(body: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(body)) as z:
        return "".join(z.read(n).decode("utf-8", "replace") for n in z.namelist())


def test_provincial_csv_codes_each_uploaded_rating_in_the_provincial_order(site):
    dash, up = site["dash"], site["uploaded"]
    r = _get(site["dash"].login("admin"), dash, target="provincial", format="csv")
    assert r.status_code == 200, r.text[:300]
    assert r.headers["content-type"].startswith("text/csv")
    assert "ratings-provincial-" in r.headers["content-disposition"]
    rows = {row["评价编号"]: row for row in _csv(r.content)}
    kiosk = {k: v for k, v in up.items() if k != site["flagged"]}
    assert set(kiosk) <= set(rows) and site["flagged"] not in rows
    assert len(rows) == len(kiosk) + 1   # and the phone's one
    for rid, sent in kiosk.items():
        row = rows[rid]
        assert int(row["评价等级代码"]) == PROVINCIAL[sent["level"]], (sent["level"], row)
        assert row["评价等级标识"] == sent["level"] and int(row["星级"]) == STARS[sent["level"]]
        assert row["差评"] == ("是" if STARS[sent["level"]] <= 2 else "否")
        assert row["评价渠道代码"] == "4" and row["评价渠道"] == "政务大厅平板电脑"
        assert row["人员编号"] == sent["staff_id"] and row["人员姓名"] == sent["staff_name"]
        assert row["单位编号"] == sent["unit_id"] and row["窗口编号"] == sent["window_id"]
        assert row["事项编码"] == "SI-01" and row["事项名称"] == "低保申请"
        assert row["可疑"] == "否" and row["可疑标记"] == ""
        # the local time the kiosk recorded (its clock was right), on the day it counts on
        sent_at = dt.datetime.fromisoformat(sent["device_time"]).astimezone(TZ)
        assert (row["评价日期"], row["评价时间"]) == (sent_at.date().isoformat(),
                                                  sent_at.strftime("%H:%M:%S"))
    good, bad = rows[site["good"]], rows[site["bad"]]
    assert good["办件编号"] == "BJ-2026-0001" and good["单位名称"] == "城关便民服务中心"
    assert good["窗口名称"] == "民政窗口"
    assert bad["差评原因代码"] == "attitude,waiting_time"
    assert bad["差评原因"] == "服务态度、等候时间长"
    (qr,) = [row for rid, row in rows.items() if rid not in up]
    assert qr["评价渠道代码"] == "3" and qr["评价渠道"] == "二维码"
    assert int(qr["评价等级代码"]) == PROVINCIAL["satisfied"] and qr["评价时间"]
    # a comment that starts like a formula stays text (leading apostrophe, as the ranking CSV)
    assert qr["评价意见"] == "'=1+1 窗口人员态度很好"
    assert KIOSK_PHONE.encode() not in r.content and QR_PHONE.encode() not in r.content


def test_national_xlsx_holds_the_same_ratings_in_the_national_order(site):
    dash, up = site["dash"], site["uploaded"]
    r = _get(dash.login("admin"), dash, target="national", format="xlsx")
    assert r.status_code == 200, r.text[:300]
    assert r.headers["content-type"].startswith("application/vnd.openxmlformats")
    rows = {row["评价编号"]: row for row in _xlsx(r.content)}
    assert len(rows) == len(up)   # the kiosks' unflagged five and the phone's one
    for rid, sent in up.items():
        if rid != site["flagged"]:
            assert int(rows[rid]["评价等级代码"]) == NATIONAL[sent["level"]]
    assert rows[site["good"]]["单位名称"] == "城关便民服务中心"   # Chinese intact
    assert rows[site["bad"]]["差评原因"] == "服务态度、等候时间长"
    (qr,) = [row for rid, row in rows.items() if rid not in up]
    assert qr["评价意见"] == "=1+1 窗口人员态度很好"   # text, not a formula
    text = _all_text(r.content)
    assert KIOSK_PHONE not in text and QR_PHONE not in text


def test_a_four_level_window_keeps_the_five_level_codes(site):
    dash, up = site["dash"], site["uploaded"]
    session = dash.login("u02")
    for target, order in (("national", NATIONAL), ("provincial", PROVINCIAL)):
        rows = {row["评价编号"]: row for row in _csv(
            _get(session, dash, target=target, format="csv").content)}
        assert set(rows) == set(site["four"])   # U-02's manager: U-02 only
        for rid in site["four"]:
            assert rows[rid]["评价等级制"] == "4"
            assert int(rows[rid]["评价等级代码"]) == order[up[rid]["level"]]
    # "satisfied" and "dissatisfied" of the 4-level scale: 2 and 4 nationally, no 3 moved up
    codes = sorted(int(r["评价等级代码"]) for r in _csv(
        _get(session, dash, target="national", format="csv").content))
    assert codes == [2, 4]


def test_flagged_ratings_are_left_out_unless_asked_for(site):
    dash = site["dash"]
    session = dash.login("u01")
    without = {r["评价编号"] for r in _csv(_get(session, dash, target="national").content)}
    assert site["flagged"] not in without and site["good"] in without
    rows = {r["评价编号"]: r for r in _csv(_get(session, dash, target="national",
                                                 include_flagged="1").content)}
    assert set(rows) == without | {site["flagged"]}
    flagged = rows[site["flagged"]]
    assert flagged["可疑"] == "是" and flagged["可疑标记"] == "burst"
    assert int(flagged["评价等级代码"]) == NATIONAL["basic_satisfied"]


def test_a_unit_manager_gets_only_their_unit_and_never_another(site):
    dash = site["dash"]
    session = dash.login("u01")
    rows = _csv(_get(session, dash, target="provincial").content)
    assert rows and {r["单位编号"] for r in rows} == {"U-01"}
    assert not set(site["four"]) & {r["评价编号"] for r in rows}
    other = _get(session, dash, target="provincial", unit="U-02")
    assert other.status_code == 403 and site["four"][0] not in other.text
    assert _get(session, dash, target="provincial", unit="U-99").status_code == 404


def _picker(session, dash, query: str = "") -> tuple[list[str], str]:
    """The option values of the export form's unit/region picker, and its HTML."""
    page = session.get(f"{dash.url}/dashboard/rankings{query}", timeout=10).text
    select_html = re.search(r'<select name="scope".*?</select>', page, re.S)[0]
    return re.findall(r'<option value="([^"]*)"', select_html), select_html


def test_the_export_picker_lists_only_the_regions_and_units_of_the_users_scope(site):
    # The form exported the whole scope only; a district handing one unit's ratings over had
    # to edit the URL. The picker must offer exactly what the user may export, nothing more:
    # a unit's manager their one unit, a town's supervisor their town's units (not the
    # district above it nor the district beside it), an administrator everything.
    dash = site["dash"]
    values, _ = _picker(dash.login("admin"), dash)
    assert values == ["", "region:R-1", "unit:U-01", "region:R-2", "unit:U-02",
                      "region:R-9", "unit:U-09"]
    values, html = _picker(dash.login("dongcheng"), dash)
    assert values == ["", "unit:U-02"]   # "" is R-2 itself, their whole scope
    assert "东城街道（全部单位）" in html and "东城社保所 (U-02)" in html
    assert "示范区" not in html and "U-01" not in html and "U-09" not in html
    values, html = _picker(dash.login("u01"), dash)
    assert values == ["unit:U-01"] and "region" not in html and "U-02" not in html
    # the ranking's own narrowing is the first guess
    _, html = _picker(dash.login("admin"), dash, "?region=R-2")
    assert '<option value="region:R-2" selected>' in html
    _, html = _picker(dash.login("admin"), dash, "?unit=U-09&lang=en")
    assert '<option value="unit:U-09" selected>' in html and "All units" in html


def test_a_chosen_region_exports_its_units_and_those_below_and_no_other(site):
    # A region's export is its own units and those of the regions below it (R-1 holds U-01
    # and, through R-2, U-02); choosing in the form (scope=) or by link (region=) agree.
    dash = site["dash"]
    session = dash.login("admin")
    r2 = _get(session, dash, target="national", scope="region:R-2")
    assert r2.status_code == 200 and "-R-2-" in r2.headers["content-disposition"]
    assert {row["评价编号"] for row in _csv(r2.content)} == set(site["four"])
    assert _get(session, dash, target="national", region="R-2").content == r2.content
    r1 = {row["单位编号"] for row in _csv(_get(session, dash, target="national",
                                              scope="region:R-1").content)}
    assert r1 == {"U-01", "U-02"}
    unit = _csv(_get(session, dash, target="national", scope="unit:U-02").content)
    assert {row["评价编号"] for row in unit} == set(site["four"])
    assert _csv(_get(session, dash, target="national", scope="region:R-9").content) == []


def test_no_choice_of_unit_or_region_reaches_outside_the_users_scope(site):
    # Whatever the URL says, a user exports only inside their scope: another region (above,
    # beside) or another unit is 403 without a rating in the answer; an unknown code is 404
    # and named; two different choices at once are refused, not one silently taken.
    dash = site["dash"]
    sup = dash.login("dongcheng")
    ok = _get(sup, dash, target="provincial", scope="region:R-2")
    assert ok.status_code == 200
    assert {row["评价编号"] for row in _csv(ok.content)} == set(site["four"])
    for params in ({"region": "R-1"}, {"scope": "region:R-9"}, {"scope": "unit:U-01"},
                   {"unit": "U-09"}):
        r = _get(sup, dash, target="provincial", **params)
        assert r.status_code == 403, params
        assert site["good"] not in r.text and "\ufeff" not in r.text
    missing = _get(sup, dash, target="provincial", scope="region:R-99")
    assert missing.status_code == 404 and "R-99" in missing.text
    manager = dash.login("u01")
    assert _get(manager, dash, target="provincial", scope="region:R-1").status_code == 403
    both = _get(manager, dash, target="provincial", unit="U-01", scope="unit:U-02")
    assert both.status_code == 400 and "U-02" in both.text
    assert _get(manager, dash, target="provincial", scope="U-01").status_code == 400


def test_the_audit_entry_names_the_chosen_unit_or_region(site):
    # The audit log must say what left the building: the region or unit chosen, not only
    # the user's scope, so a review can tell a whole-district export from a one-town one.
    dash = site["dash"]
    assert _get(dash.login("admin"), dash, target="national",
                scope="region:R-2").status_code == 200
    assert _get(dash.login("dongcheng"), dash, target="national",
                unit="U-02").status_code == 200
    with read(dash.engine) as conn:
        entries = conn.execute(select(audit_log).where(audit_log.c.action == "export_ratings")
                               .order_by(audit_log.c.id.desc()).limit(2)).mappings().all()
    by_unit, by_region = (json.loads(e["detail"]) for e in entries)
    assert (by_region["region"], by_region["unit"], by_region["scope"]) == ("R-2", None, "all")
    assert by_region["units"] == 1 and by_region["count"] == len(site["four"])
    assert (by_unit["unit"], by_unit["region"], by_unit["scope"]) == ("U-02", None, "R-2")
    assert entries[0]["username"] == "dongcheng"


def test_picking_a_unit_in_the_browser_downloads_that_unit_only(site, page):
    # The picker in a real browser: the form's GET carries the choice to the export.
    dash = site["dash"]
    browser_login(page, dash, "admin")
    page.wait_for_url("**/dashboard/")
    page.goto(f"{dash.url}/dashboard/rankings")
    page.fill("#rating-export input[name=from]", _days()["from"])
    page.fill("#rating-export input[name=to]", _days()["to"])
    page.select_option("select[data-export-scope]", "unit:U-02")
    page.select_option("#rating-export select[name=format]", "csv")
    with page.expect_download() as info:
        page.click("#rating-export button.primary")
    rows = _csv(open(info.value.path(), "rb").read())
    assert {row["评价编号"] for row in rows} == set(site["four"])


def test_a_viewer_may_export_as_they_may_export_rankings(site):
    dash = site["dash"]
    r = _get(dash.login("viewer"), dash, target="national", format="csv")
    assert r.status_code == 200
    assert {row["单位编号"] for row in _csv(r.content)} == {"U-01", "U-02"}


def test_a_staff_account_never_gets_the_export(site):
    dash = site["dash"]
    r = _get(dash.login("wangfang"), dash, target="national", format="csv",
             lang="en")
    assert r.status_code == 403
    assert site["good"] not in r.text and "\ufeff" not in r.text


def test_an_english_page_gets_english_headers(site):
    dash = site["dash"]
    r = _get(dash.login("admin"), dash, target="national", format="csv", lang="en")
    rows = {row["Rating id"]: row for row in _csv(r.content)}
    bad = rows[site["bad"]]
    assert bad["Level"] == "Very dissatisfied" and bad["Channel"] == "Hall tablet"
    assert int(bad["Level code"]) == NATIONAL["very_dissatisfied"] and bad["Bad"] == "yes"


def test_each_export_is_audited_with_user_period_scope_and_count(site):
    dash = site["dash"]
    r = _get(dash.login("u02"), dash, target="provincial", format="xlsx")
    assert r.status_code == 200
    with read(dash.engine) as conn:
        entry = conn.execute(select(audit_log).where(audit_log.c.action == "export_ratings")
                             .order_by(audit_log.c.id.desc()).limit(1)).mappings().one()
    detail = json.loads(entry["detail"])
    assert entry["username"] == "u02" and entry["target"] == "{from}/{to}".format(**_days())
    assert detail["count"] == len(site["four"]) == len(_xlsx(r.content))
    assert (detail["scope"], detail["target"], detail["format"]) == ("U-02", "provincial",
                                                                    "xlsx")
    assert (detail["from"], detail["to"]) == (_days()["from"], _days()["to"])


def test_bad_choices_are_refused_with_a_message(site):
    dash = site["dash"]
    session = dash.login("admin")
    assert "target" in _get(session, dash, target="county").text
    assert _get(session, dash, target="county").status_code == 400
    assert _get(session, dash, target="national", format="pdf").status_code == 400
    r = session.get(f"{dash.url}/dashboard/ratings/export", timeout=10,
                    params={"from": "2026-05-09", "to": "2026-05-01", "target": "national"})
    assert r.status_code == 400 and "after" in r.text


def test_the_rankings_page_offers_the_export_form(site):
    dash = site["dash"]
    page = dash.login("u01").get(f"{dash.url}/dashboard/rankings", timeout=10).text
    assert 'action="/dashboard/ratings/export"' in page
    assert 'value="provincial"' in page and 'value="national"' in page and "逐条评价导出" in page


def test_level_code_doctest_passes():
    from sync import vocabulary

    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner()
    for test in finder.find(vocabulary.level_code, "level_code",
                            globs=vars(vocabulary).copy()):
        runner.run(test)
    assert runner.summarize(verbose=False).attempted >= 4
    assert runner.failures == 0


def test_export_scope_doctests_pass():
    # The parsing of the picker's value is documented by example; the examples must hold.
    from aggregator.dashboard import export_scope

    failed, attempted = doctest.testmod(export_scope)
    assert attempted >= 2 and failed == 0
