"""The words of roster and organisation problems (``dashboard/i18n_problems.py``), without a
server: both languages, every refusal of a staff value, the fallback to the English text,
escaping, the error page. The pages themselves: ``tests/dashboard/test_roster_language.py``."""

from __future__ import annotations

import datetime as dt
import doctest
import re

import pytest

from aggregator import org, roster
from aggregator.dashboard import i18n_problems, web
from aggregator.dashboard.i18n import translator
from aggregator.dashboard.i18n_problems import problem_text
from aggregator.errors import BadRequest
from aggregator.roster import Problem

CJK = re.compile(r"[\u4e00-\u9fff]")
ENGLISH = re.compile(r"\b(must|row|column|is also in|does not exist|belongs|required|unknown|"
                     r"outside|scope|known|got)\b", re.I)


def test_problem_templates_come_in_both_languages():
    assert set(i18n_problems.ZH) == set(i18n_problems.EN)
    for key in i18n_problems.ZH:
        assert set(re.findall(r"{(\w+)", i18n_problems.ZH[key])) == \
            set(re.findall(r"{(\w+)", i18n_problems.EN[key])), key


@pytest.mark.parametrize("field, value", [
    ("id", ""), ("name", "名" * 101), ("name", "王\x07芳"), ("staff_no", 3.5e40),
    ("stars", "九"), ("stars", 9), ("party_member", "也许"), ("post", dt.date(2026, 1, 5)),
    ("active", "maybe"), ("colour", "red"), ("pin", "１２３４"), ("pin_hash", "md5$x")])
def test_every_refusal_of_a_staff_value_reads_in_chinese(field, value):
    # A refusal that forgets its values shows its English sentence on the Chinese page.
    data = {"id": "S-1", "name": "王芳", field: value}
    with pytest.raises(BadRequest) as caught:
        org.clean("staff", data)
    chinese = str(problem_text(Problem.refused(4, {}, caught.value), translator("zh_CN")))
    assert chinese.startswith("第 4 行") and CJK.search(chinese), chinese
    assert not ENGLISH.search(re.sub(r"「[^」]*」", "", chinese)), chinese
    english = str(problem_text(Problem.refused(4, {}, caught.value), translator("en")))
    assert english.startswith("Row 4") and not CJK.search(re.sub(r"'[^']*'", "", english)), english


def test_a_problem_without_values_or_with_odd_ones_shows_its_english_text():
    zh = translator("zh_CN")
    for args in ({}, {"msg": "no_such_message"}, {"msg": "too_long", "row": 2, "field": "name"},
                 {"msg": "range", "row": 2, "field": "stars", "lo": 0}):
        assert problem_text(Problem("row 2, column 'name': x", args), zh) == \
            "row 2, column 'name': x", args
    assert problem_text("已经是中文的说明", zh) == "已经是中文的说明"


def test_a_value_from_the_file_is_escaped():
    zh = translator("zh_CN")
    p = Problem.of("x", "duplicate", 3, "id", {"id": "<b>编号</b>"}, value="<img src=x>", first=2)
    out = str(problem_text(p, zh))
    assert "<img" not in out and "<b>" not in out
    assert out == "第 3 行「&lt;b&gt;编号&lt;/b&gt;」列：&lt;img src=x&gt; 与第 2 行重复"


def test_the_error_page_tells_an_organisation_refusal_in_its_language():
    # A service item's name with a control character (items.py uses org.clean) reached the
    # error page as English only.
    with pytest.raises(BadRequest) as caught:
        org.clean("service_items", {"code": "X-1", "name": "低保\x07申请"})
    page = web.TEMPLATES.get_template("error.html").render(
        t=translator("zh_CN"), lang="zh_CN", P=web.PREFIX, error=caught.value, user=None,
        ctx=None, path="/dashboard/roster/items", query="", switch_href="?lang=en", csrf="",
        tz=dt.timezone.utc)
    assert "名称：第 3 个字符是看不见的控制字符（U+0007），请删去" in page


def test_the_doc_examples_hold():
    for module in (roster, i18n_problems):
        failed, attempted = doctest.testmod(module)
        assert attempted and not failed, module.__name__


def _xlsx(rows) -> bytes:
    import io

    from openpyxl import Workbook

    book = Workbook()
    for row in rows:
        book.active.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _msgs(parsed) -> list[str]:
    return [p.args["msg"] for p in parsed.problems]


def test_a_csv_cell_longer_than_the_reader_takes_is_a_refusal_not_a_500():
    # csv.Error ("field larger than field limit") was raised by nobody's except: a 500.
    data = ("编号,姓名,承诺\nS-1,王芳," + "诚" * 140_000 + "\n").encode()
    with pytest.raises(BadRequest) as caught:
        roster.parse("roster.csv", data)
    assert caught.value.code == "roster_unreadable" and caught.value.field == "file"


def test_an_xlsx_longer_than_the_limit_is_refused_not_cut(monkeypatch):
    # The reader stopped at the limit, so the check of the length never saw a longer file:
    # 10,005 rows imported as 10,000, the last five dropped without a word.
    monkeypatch.setattr(roster, "MAX_ROWS", 5)
    rows = [["编号", "姓名"]] + [[f"S-{n}", f"人员{n}"] for n in range(6)]
    assert "too_many_rows" in _msgs(roster.parse("roster.xlsx", _xlsx(rows)))
    assert _msgs(roster.parse("roster.xlsx", _xlsx(rows[:6]))) == []


def test_excel_error_values_duplicate_columns_and_nameless_cells_are_named():
    # "#N/A" was stored as a name; of 岗位 and 职务 (both the post) the last won, empty or
    # not; a value under no column name was dropped; a file could set a PIN's hash.
    parsed = roster.parse("roster.xlsx", _xlsx([["编号", "姓名", "岗位"],
                                                ["S-1", "#N/A", "综合窗口"]]))
    assert _msgs(parsed) == ["formula_error"] and not parsed.rows
    assert parsed.problems[0].args["value"] == "#N/A"
    parsed = roster.parse("roster.csv", "编号,姓名,岗位,职务\nS-1,王芳,综合窗口,\n".encode())
    assert _msgs(parsed) == ["duplicate_column"] and not parsed.rows
    parsed = roster.parse("roster.csv", "编号,姓名,,\nS-1,王芳,,0007\n".encode())
    assert _msgs(parsed) == ["no_column_name"] and parsed.problems[0].args["position"] == 4
    parsed = roster.parse("roster.csv", "编号,姓名,pin_hash\nS-1,王芳,x\n".encode())
    assert _msgs(parsed) == ["unknown_column"]
    text = str(problem_text(parsed.problems[0], translator("zh_CN")))
    assert "pin_hash" in text and "photo_sha256" not in text, text


def test_staff_numbers_keep_their_zeros_and_long_numbers_are_refused():
    # 工号 0007 typed into a number cell formatted "0000" was stored as "7", and the kiosk's
    # sign-in with 0007 failed; a badge of 19 digits in a number cell came back with other
    # last digits (a spreadsheet keeps 15).
    import io

    from openpyxl import Workbook

    book = Workbook()
    book.active.append(["编号", "姓名", "工号"])
    book.active.append(["S-1", "王芳", 7])
    book.active["C2"].number_format = "0000"
    out = io.BytesIO()
    book.save(out)
    parsed = roster.parse("roster.xlsx", out.getvalue())
    assert not parsed.problems and parsed.rows[0][1]["staff_no"] == "0007"
    parsed = roster.parse("roster.xlsx", _xlsx([["编号", "姓名", "卡号"],
                                                ["S-1", "王芳", 1234567890123456789]]))
    assert _msgs(parsed) == ["long_number"] and not parsed.rows
    assert "15 位" in str(problem_text(parsed.problems[0], translator("zh_CN")))



def test_a_date_in_a_roster_cell_is_named_as_a_date():
    # Excel turns 工号 "1-2" into a date: the refusal said the 工号 "should be text, got
    # 2026-01-02 00:00:00", which the person never typed.
    parsed = roster.parse("roster.xlsx", _xlsx([["编号", "姓名", "工号"],
                                                ["S-1", "王芳", dt.datetime(2026, 1, 2)],
                                                ["S-2", "李娜", "0002"]]))
    assert _msgs(parsed) == ["date_cell"] and [r["id"] for _, r in parsed.rows] == ["S-2"]
    zh = str(problem_text(parsed.problems[0], translator("zh_CN")))
    assert zh.startswith("第 2 行「工号」列：单元格是日期或时间（2026-01-02）") and "文本" in zh, zh
    parsed = roster.parse("roster.xlsx", _xlsx([["编号", "姓名", "岗位"], ["S-1", "王芳", dt.time(9, 30)]]))
    assert "09:30:00" in str(problem_text(parsed.problems[0], translator("en")))
