"""Roster problems in the page's language: a clerk importing a roster file (or saving the staff
form) on the Chinese page read a Chinese heading over English sentences ("row 5, column
'staff_no': staff_no must be text of at most 32 characters"). Each problem now names the row
and the column as the file names it, in the page's language; the API keeps its English."""

from __future__ import annotations

import html
import re

import requests
from sqlalchemy import select

from aggregator.db import read
from aggregator.schema import staff
from tests.dashboard.helpers import csrf_of

CJK = re.compile(r"[\u4e00-\u9fff]")
# words of the English sentences that must not be left on a Chinese page
ENGLISH = re.compile(r"\b(must|row|column|is also in|does not exist|belongs|required|unknown|"
                     r"outside|scope|known|got)\b", re.I)


def _problems(page: str) -> list[str]:
    """The text of each problem listed on the roster page."""
    block = re.search(r'<div class="alert error"[^>]*>(.*?)</div>', page, re.S)
    assert block, re.sub(r"\s+", " ", page)[-1500:]
    return [html.unescape(re.sub(r"<[^>]+>", "", li))
            for li in re.findall(r"<li>(.*?)</li>", block[1], re.S)]


def _import(s, dash, text: str | bytes, lang: str = "zh_CN", name: str = "名单.csv"):
    csrf = csrf_of(s, dash.url + "/dashboard/roster")
    data = text.encode() if isinstance(text, str) else text
    # ?lang= each time: it is also kept in a cookie for the next page
    return s.post(dash.url + f"/dashboard/roster/import?lang={lang}",
                  data={"csrf": csrf}, files={"file": (name, data, "text/csv")})


def _name(dash, staff_id: str) -> str:
    with read(dash.engine) as conn:
        return conn.execute(select(staff.c.name).where(staff.c.id == staff_id)).scalar_one()


def _staff_ids(dash) -> set:
    with read(dash.engine) as conn:
        return set(conn.execute(select(staff.c.id)).scalars())


LONG_NO = "1" * 40
ROWS = ("编号,姓名,工号,星级,单位\n"
        f"S-1001,张三,{LONG_NO},3,U-01\n"      # row 2: staff number too long
        "S-1002,李四,1002,九,U-01\n"           # row 3: stars not a number
        "S-1003,王五,1003,4,U-01\n"
        "S-1003,赵六,1004,4,U-01\n"            # row 5: the id of row 4 again
        "S-1005,,1005,4,U-01\n")               # row 6: no name


def test_roster_file_problems_read_in_chinese_naming_row_and_column(dash):
    s = dash.login("u01")
    before = _staff_ids(dash)
    r = _import(s, dash, ROWS)
    assert r.status_code == 200
    assert "导入失败，未做任何修改" in r.text
    zh = _problems(r.text)
    assert zh == ["第 2 行「工号」列：不能超过 32 个字符（现为 40 个）",
                  "第 3 行「星级」列：应为整数（现为「九」）",
                  "第 5 行「编号」列：S-1003 与第 4 行重复",
                  "第 6 行「姓名」列：不能为空"], zh
    assert not [p for p in zh if ENGLISH.search(p)], zh
    # the same file on the English page: English, the columns still as the file names them
    en = _problems(_import(s, dash, ROWS, lang="en").text)
    assert en == ["Row 2, column '工号': must be at most 32 characters long, got 40",
                  "Row 3, column '星级': must be a whole number, got '九'",
                  "Row 5, column '编号': S-1003 is also in row 4",
                  "Row 6, column '姓名': must not be empty"], en
    # a file with English column names is answered with those names
    english_file = ROWS.replace("编号,姓名,工号,星级,单位", "id,name,staff_no,stars,unit_id")
    assert _problems(_import(s, dash, english_file).text)[0] == \
        "第 2 行「staff_no」列：不能超过 32 个字符（现为 40 个）"
    assert _staff_ids(dash) == before


def test_problems_found_against_the_stored_roster_read_in_chinese(dash):
    s = dash.login("u01")
    text = ("编号,姓名,单位编号,窗口,工牌,工号\n"
            "S-1101,周七,U-01,W-999,B1101,1101\n"   # row 2: no such window
            "S-1102,吴八,U-01,W-004,B1102,1102\n"   # row 3: a window of U-02
            "S-1103,郑九,U-01,W-001,B1103,1103\n"
            "S-1104,王十,U-01,W-001,B1103,1104\n"   # row 5: the badge of row 4
            "S-1105,冯一,U-01,W-002,B1105,0002\n")  # row 6: S-002's number in U-01
    zh = _problems(_import(s, dash, text).text)
    assert zh == ["第 2 行「窗口」列：窗口 W-999 不存在",
                  "第 3 行「窗口」列：窗口 W-004 属于单位 U-02，不属于单位 U-01",
                  "第 5 行「工牌」列：B1103 与第 4 行重复，终端签到时会认成第 4 行的人员",
                  f"第 6 行「工号」列：0002 已是本单位在岗人员 {_name(dash, 'S-002')}（S-002）的工号，"
                  f"终端签到时会认成 {_name(dash, 'S-002')}"], zh
    assert not [p for p in zh if ENGLISH.search(p)], zh
    en = _problems(_import(s, dash, text, lang="en").text)
    assert en[0] == "Row 2, column '窗口': window W-999 does not exist", en
    # no Chinese words but the file's column names and the person's name
    other = _name(dash, "S-002")
    assert not [p for p in en if CJK.search(re.sub(r"'[^']*'", "", p).replace(other, ""))], en
    assert "S-1101" not in {*_staff_ids(dash)}


def test_unknown_and_missing_columns_and_scope_read_in_chinese(dash):
    s = dash.login("u01")
    zh = _problems(_import(s, dash, "编号,性名,foo\nS-1201,陈二,x\n").text)
    # (pin_hash and photo_sha256 are no columns of a file, and "active" is 在岗)
    assert zh[0] == "第 1 行：不认识的列「性名」；可用的列：编号、姓名、工号、岗位、党员、星级、承诺、工牌、密码、" \
                    "单位、窗口、在岗", zh
    assert zh[1].startswith("第 1 行：不认识的列「foo」；") and zh[2] == "第 1 行：缺少必需的列（姓名）", zh
    # outside the manager's unit: named in Chinese too
    zh = _problems(_import(s, dash, "编号,姓名,单位编号\nS-900,新人,U-02\n").text)
    assert zh == ["第 2 行「单位编号」列：单位 U-02 不在您的管理范围内"], zh
    zh = _problems(_import(s, dash, "编号,姓名\nS-901,新人\n").text)
    assert zh == ["第 2 行：未填写单位（须是您管理范围内的单位）"], zh
    en = _problems(_import(s, dash, "编号,姓名,单位编号\nS-900,新人,U-02\n", lang="en").text)
    assert en == ["Row 2, column '单位编号': unit U-02 is outside your scope"], en


def test_a_file_that_is_not_text_is_named_in_chinese(dash):
    # Excel's "Unicode text" is UTF-16: it was "not readable (damaged…)"; now it says what
    # the file is and how to save it.
    s = dash.login("u01")
    r = _import(s, dash, "编号,姓名\nS-1301,孙三\n".encode("utf-16"), name="花名册.csv")
    assert r.status_code == 400
    error = html.unescape(r.text.split('class="alert error"')[1].split("</div>")[0])
    assert "文件「花名册.csv」不是 UTF-8 或 GB18030 编码的文本" in error, error
    en = _import(s, dash, "编号,姓名\n".encode("utf-16"), lang="en", name="r.csv")
    assert "is not UTF-8 or GB18030 text" in html.unescape(en.text)


def _form(s, dash, staff_id: str, lang: str = "zh_CN", **typed):
    csrf = csrf_of(s, dash.url + "/dashboard/roster")
    with read(dash.engine) as conn:
        row = conn.execute(select(staff).where(staff.c.id == staff_id)).mappings().one()
    data = {"csrf": csrf, "name": row["name"], "staff_no": row["staff_no"] or "",
            "post": row["post"] or "", "pledge": row["pledge"] or "", "stars": str(row["stars"]),
            "window_id": row["window_id"] or "", "active": "1", **typed}
    return row, s.post(dash.url + f"/dashboard/roster/staff/{staff_id}"
                       + f"?lang={lang}", data=data, allow_redirects=False)


def test_the_staff_forms_problem_reads_in_the_pages_language_with_the_form_kept(dash):
    # The staff form's refusal was the bare error page in English ("staff_no '0002' is
    # already used by 'S-002' in the same unit…"), and going back lost what was typed.
    s = dash.login("u01")
    row, r = _form(s, dash, "S-001", staff_no="0002", pledge="新的承诺：限时办结")
    assert r.status_code == 400
    assert f"未保存对 {row['name']} 的修改：" in html.unescape(r.text)
    # the other person by name (a clerk knows the name, not the id)
    other = _name(dash, "S-002")
    assert _problems(r.text) == [f"工号：0002 已是本单位在岗人员 {other}（S-002）的工号，终端签到时会认成 {other}"]
    # the form of that person comes back open with what was typed
    form = r.text.split('id="staff-S-001"')[1].split("</tr>")[0]
    assert '<details class="edit" open>' in form and 'value="0002"' in form
    assert "新的承诺：限时办结" in form
    _, r = _form(s, dash, "S-001", lang="en", staff_no="0002")
    assert _problems(r.text) == [f"No.: 0002 is already the staff number of {other} (S-002), active in "
                                 f"the same unit: a kiosk would sign this person in as {other}"]
    _, r = _form(s, dash, "S-001", staff_no=LONG_NO)
    assert _problems(r.text) == ["工号：不能超过 32 个字符（现为 40 个）"]
    _, r = _form(s, dash, "S-001", lang="en", staff_no=LONG_NO)
    assert _problems(r.text) == ["No.: must be at most 32 characters long, got 40"]
    with read(dash.engine) as conn:   # nothing saved
        assert conn.execute(select(staff.c.staff_no, staff.c.pledge)
                            .where(staff.c.id == "S-001")).one() == (row["staff_no"], row["pledge"])


def test_the_api_answers_a_bad_roster_file_in_english_as_before(dash):
    # API clients and scripts read the English sentences and the JSON's keys.
    r = requests.post(dash.url + "/api/v1/roster/import", headers={"Authorization": "Bearer t"},
                      files={"file": ("roster.csv", ROWS.encode(), "text/csv")}, timeout=10)
    assert r.status_code == 400
    body = r.json()
    assert set(body) == {"error", "detail", "field", "errors"}
    assert body["error"] == "bad_request" and body["field"] == "file"
    assert body["detail"] == "4 problem(s) in roster.csv; nothing imported"
    assert body["errors"] == [
        f"row 2, column 'staff_no': staff_no must be text of at most 32 characters, got '{LONG_NO}'",
        "row 3, column 'stars': stars must be an integer, got '九'",
        "row 5, column 'id': 'S-1003' is also in row 4",
        "row 6, column 'name': name is required"]


def _more(page: str) -> str | None:
    found = re.search(r"<li[^>]*data-problems-more[^>]*>(.*?)</li>", page, re.S)
    return html.unescape(found[1]) if found else None


def test_a_file_with_more_problems_than_shown_says_how_many_more(dash):
    # The page lists the first 50 problems; a file with 60 bad rows looked as if those 50
    # were all, and the clerk found the rest only after fixing them and importing again.
    s = dash.login("u01")
    nameless = "编号,姓名,单位编号\n" + "".join(f"S-3{n:03d},,U-01\n" for n in range(60))
    r = _import(s, dash, nameless)
    assert len(_problems(r.text)) == 50
    assert _more(r.text) == "另有 10 个问题未列出；改正以上问题后再次导入，即可看到其余问题。"
    assert _more(_import(s, dash, nameless, lang="en").text) == \
        "10 more not listed; correct the ones above and import again to see the rest."
    # problems found against the stored roster (a window that does not exist) are counted too
    windowless = "编号,姓名,单位编号,窗口\n" + "".join(f"S-4{n:03d},人{n},U-01,W-9{n:02d}\n"
                                                  for n in range(53))
    r = _import(s, dash, windowless)
    assert _problems(r.text)[0] == "第 2 行「窗口」列：窗口 W-900 不存在"
    assert len(_problems(r.text)) == 50 and _more(r.text).startswith("另有 3 个问题未列出")
    # exactly as many as shown: no such line
    assert _more(_import(s, dash, "编号,姓名,单位编号\n" + "S-5000,,U-01\n" * 1).text) is None
    assert not {f"S-3{n:03d}" for n in range(60)} & _staff_ids(dash)


def test_a_roster_file_is_read_off_the_event_loop(dash, monkeypatch, pin_hashing):
    # Reading an XLSX and hashing its PINs ran on the event loop: every other request of the
    # worker waited for it (a login took 9.7 s beside a 600-row file with PINs). It was also
    # read twice, the second time in the write transaction: each PIN hashed twice (~18 ms),
    # once holding SQLite's write lock.
    import asyncio

    from aggregator import roster

    seen = []
    parse = roster.parse

    def watched(name, data):
        try:
            asyncio.get_running_loop()
            seen.append("event loop")
        except RuntimeError:
            seen.append("worker thread")
        return parse(name, data)

    monkeypatch.setattr(roster, "parse", watched)
    hashed = pin_hashing(dash.engine)
    s = dash.login("u01")
    r = _import(s, dash, "编号,姓名,单位编号,密码\nS-1301,王一,U-01,2468\n")
    assert r.status_code == 200 and seen == ["worker thread"], (r.status_code, seen)
    assert hashed == [("2468", False)] and "S-1301" in _staff_ids(dash)
