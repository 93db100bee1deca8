import io

import openpyxl
import requests


def test_org_api_saves_and_rejects_unknown_fields_and_references(org_setup):
    url, h = org_setup.url, org_setup.admin
    r = requests.post(f"{url}/api/v1/windows", headers=h,
                      json={"id": "W-003", "name": "计生窗口", "unit_id": "U-01"}, timeout=10)
    assert r.status_code == 200
    assert "W-003" in [w["id"] for w in requests.get(f"{url}/api/v1/windows", headers=h,
                                                     timeout=10).json()]
    r = requests.post(f"{url}/api/v1/windows", headers=h,
                      json={"id": "W-004", "name": "x", "unit_id": "U-404"}, timeout=10)
    assert r.status_code == 400 and r.json()["field"] == "unit_id"
    r = requests.post(f"{url}/api/v1/staff", headers=h,
                      json={"id": "S-1", "name": "x", "colour": "red"}, timeout=10)
    assert r.status_code == 400 and r.json()["field"] == "colour"
    r = requests.post(f"{url}/api/v1/units", headers=h,
                      json={"id": "U-2", "name": "x", "scale": 7}, timeout=10)
    assert r.status_code == 400 and r.json()["field"] == "scale"


def test_ids_that_would_change_a_web_address_are_refused(org_setup):
    # An id is part of its pages' addresses: a window "W#7" sent the phone page's form to
    # "/r/W" and the rating was lost; "民政/9" was a 404 on the dashboard.
    from aggregator.dashboard.i18n import translator
    from aggregator.dashboard.i18n_problems import problem_text

    url, h = org_setup.url, org_setup.admin
    for entity, body in (("windows", {"id": "W#7", "name": "1#窗口", "unit_id": "U-01"}),
                         ("windows", {"id": "民政/9", "name": "民政", "unit_id": "U-01"}),
                         ("units", {"id": "U?2", "name": "x"}),
                         ("staff", {"id": "S%41", "name": "x"}),
                         ("service-items", {"code": "A\\1", "name": "x"})):
        r = requests.post(f"{url}/api/v1/{entity}", headers=h, json=body, timeout=10)
        key = "code" if entity == "service-items" else "id"
        assert r.status_code == 400 and r.json()["field"] == key, (body, r.text)
        assert "part of web addresses" in r.json()["detail"]
    ok = requests.post(f"{url}/api/v1/windows", headers=h, timeout=10,
                       json={"id": "1号窗口", "name": "1#窗口", "unit_id": "U-01"})
    assert ok.status_code == 200   # a "#" in a name is fine
    args = {"msg": "id_char", "field": "id", "char": "#", "value": "W#7", "column": "编号",
            "row": 3}
    assert str(problem_text({"text": "…", "args": args}, translator("zh_CN"))) == \
        "第 3 行「编号」列：编号不能含有「#」（编号是网页地址的一部分），现为「W#7」"


def test_roster_csv_import_reports_row_and_column(org_setup):
    url, h = org_setup.url, org_setup.admin
    bad = "编号,姓名,工号,星级,党员,单位\nS-100,张伟,0100,5,是,U-01\nS-101,李娜,0101,九,否,U-01\n"
    r = requests.post(f"{url}/api/v1/roster/import", headers=h,
                      files={"file": ("roster.csv", bad.encode("utf-8"), "text/csv")}, timeout=10)
    assert r.status_code == 400
    assert r.json()["errors"] == ["row 3, column 'stars': stars must be an integer, got '九'"]
    good = bad.replace("九", "4")
    r = requests.post(f"{url}/api/v1/roster/import", headers=h,
                      files={"file": ("roster.csv", good.encode("utf-8"), "text/csv")}, timeout=10)
    assert r.status_code == 200 and r.json()["imported"] == 2
    staff = {s["id"]: s for s in requests.get(f"{url}/api/v1/staff", headers=h,
                                              timeout=10).json()}
    assert staff["S-100"]["party_member"] is True and staff["S-101"]["stars"] == 4


def test_a_roster_import_hashes_each_pin_once_outside_the_write_transaction(org_setup,
                                                                           pin_hashing):
    # The file was read inside the write transaction, its PINs hashed there (~18 ms each):
    # on SQLite every kiosk's upload waited for the lock while a 600-row file was hashed.
    seen = pin_hashing(org_setup.engine)
    text = "编号,姓名,单位,密码\nS-300,周一,U-01,4321\nS-301,周二,U-01,8765\n"
    r = requests.post(f"{org_setup.url}/api/v1/roster/import", headers=org_setup.admin,
                      files={"file": ("roster.csv", text.encode(), "text/csv")}, timeout=30)
    assert r.status_code == 200 and r.json()["imported"] == 2, r.text
    assert seen == [("4321", False), ("8765", False)]


def test_roster_xlsx_import(org_setup):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["id", "name", "post", "unit_id", "window_id"])
    sheet.append(["S-200", "赵敏", "窗口受理员", "U-01", "W-001"])
    sheet.append(["S-201", None, "窗口受理员", "U-01", "W-404"])
    data = io.BytesIO()
    book.save(data)
    r = requests.post(f"{org_setup.url}/api/v1/roster/import", headers=org_setup.admin,
                      files={"file": ("roster.xlsx", data.getvalue())}, timeout=10)
    assert r.status_code == 400
    assert r.json()["errors"] == ["row 3, column 'name': name is required"]


def test_control_characters_in_roster_text_are_refused_with_row_and_column(org_setup):
    # A roster file exported from another system can carry control characters. A NUL was a
    # 500 on PostgreSQL; the others were stored, and openpyxl refuses them, so the rankings
    # export (staff names) broke for the whole period.
    url, h = org_setup.url, org_setup.admin
    roster = "编号,姓名,承诺\nS-200,王\x07芳,一次办好\nS-201,赵磊,\"首问负责\n限时办结\"\n"
    r = requests.post(f"{url}/api/v1/roster/import", headers=h,
                      files={"file": ("roster.csv", roster.encode("utf-8"), "text/csv")}, timeout=10)
    assert r.status_code == 400
    assert r.json()["errors"] == ["row 2, column 'name': name holds the control character U+0007 "
                                  "at position 2, got '王\\x07芳'"]
    r = requests.post(f"{url}/api/v1/roster/import", headers=h, timeout=10,
                      files={"file": ("roster.csv", roster.replace("\x07", "").encode("utf-8"),
                                      "text/csv")})
    assert r.status_code == 200 and r.json()["imported"] == 2   # a line break in a pledge is fine
    r = requests.post(f"{url}/api/v1/windows", headers=h, timeout=10,
                      json={"id": "W-009", "name": "窗口\x00", "unit_id": "U-01"})
    assert r.status_code == 400 and "NUL" in r.json()["detail"]


def test_a_badge_or_staff_number_names_one_active_person(org_setup):
    # A kiosk signs in the first roster member with the badge or number typed: with two, the
    # second person's ratings were counted as the first's.
    url, h = org_setup.url, org_setup.admin
    post = lambda body: requests.post(f"{url}/api/v1/staff", headers=h, json=body, timeout=10)  # noqa: E731
    assert post({"id": "S-300", "name": "周敏", "badge": "B300", "staff_no": "300",
                 "unit_id": "U-01"}).status_code == 200
    r = post({"id": "S-301", "name": "吴刚", "badge": "B300", "unit_id": "U-01"})
    assert r.status_code == 400 and r.json()["field"] == "badge" and "S-300" in r.json()["detail"]
    r = post({"id": "S-301", "name": "吴刚", "staff_no": "300", "unit_id": "U-01"})
    assert r.status_code == 400 and r.json()["field"] == "staff_no"
    # the same staff number in another unit, or held by someone no longer active, is fine
    assert post({"id": "S-301", "name": "吴刚", "staff_no": "300"}).status_code == 200
    assert post({"id": "S-300", "name": "周敏", "badge": "B300", "staff_no": "300",
                 "unit_id": "U-01", "active": False}).status_code == 200
    assert post({"id": "S-302", "name": "郑洁", "badge": "B300", "unit_id": "U-01"}).status_code == 200

    # a roster file: clashes with the stored roster and within the file are named by row, and
    # a file that moves a badge from one person to another in one go is taken
    roster = "编号,姓名,工牌,单位\nS-400,冯涛,B400,U-01\nS-401,陈静,B400,U-01\nS-402,褚楠,B300,U-01\n"
    r = requests.post(f"{url}/api/v1/roster/import", headers=h, timeout=10,
                      files={"file": ("roster.csv", roster.encode("utf-8"), "text/csv")})
    assert r.status_code == 400
    errors = r.json()["errors"]
    assert len(errors) == 2 and errors[0].startswith("row 3, column 'badge': 'B400' is also in row 2")
    assert errors[1].startswith("row 4, column 'badge': badge 'B300' is already used by 'S-302'")
    moved = "编号,姓名,工牌,单位\nS-402,褚楠,B300,U-01\nS-302,郑洁,B302,U-01\n"
    r = requests.post(f"{url}/api/v1/roster/import", headers=h, timeout=10,
                      files={"file": ("roster.csv", moved.encode("utf-8"), "text/csv")})
    assert r.status_code == 200, r.text


def test_a_roster_file_changes_only_its_columns_and_refuses_repeats_and_foreign_windows(org_setup):
    # A file of ids and names, to fix one name, wiped the staff number, badge, window, stars
    # and pledge of everyone in it; a repeated id was counted twice (the last row won); and a
    # window of another unit was taken, which put the person on no kiosk.
    url, h = org_setup.url, org_setup.admin
    full = "编号,姓名,工号,工牌,星级,承诺,单位,窗口\nS-500,林丽,0500,B500,5,一次办好,U-01,W-001\n"
    imp = lambda text: requests.post(f"{url}/api/v1/roster/import", headers=h, timeout=10,  # noqa: E731
                                     files={"file": ("roster.csv", text.encode("utf-8"), "text/csv")})
    assert imp(full).status_code == 200
    assert imp("编号,姓名\nS-500,林莉\n").status_code == 200
    row = next(s for s in requests.get(f"{url}/api/v1/staff", headers=h, timeout=10).json()
               if s["id"] == "S-500")
    assert (row["name"], row["staff_no"], row["badge"], row["stars"], row["pledge"],
            row["window_id"]) == ("林莉", "0500", "B500", 5, "一次办好", "W-001")
    r = imp("编号,姓名\nS-501,甲\nS-501,乙\n")
    assert r.status_code == 400 and r.json()["errors"] == ["row 3, column 'id': 'S-501' is also in row 2"]
    windows = requests.get(f"{url}/api/v1/windows", headers=h, timeout=10).json()
    foreign = next((w for w in windows if w["unit_id"] != "U-01"), None)
    if foreign is None:
        requests.post(f"{url}/api/v1/units", headers=h, timeout=10, json={"id": "U-09", "name": "别处"})
        requests.post(f"{url}/api/v1/windows", headers=h, timeout=10,
                      json={"id": "W-909", "name": "别处窗口", "unit_id": "U-09"})
        foreign = {"id": "W-909", "unit_id": "U-09"}
    r = imp(f"编号,姓名,单位,窗口\nS-502,丙,U-01,{foreign['id']}\n")
    assert r.status_code == 400 and "belongs to unit" in r.json()["errors"][0]
