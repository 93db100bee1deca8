"""The case ledger (差评整改台账, /dashboard/cases/export): every case of a queue tab as CSV or
XLSX, in the user's scope, without the citizen's phone number, audited. Over SQLite and
PostgreSQL, on the demo data; the expected rows are read from the cases table here."""

from __future__ import annotations

import csv
import io

from openpyxl import load_workbook
from sqlalchemy import func, select

from aggregator.dashboard import sample
from aggregator.dashboard.tables import audit_log, cases
from aggregator.db import read
from aggregator.schema import ratings

HEAD = ["工单编号", "评价编号", "评价日期", "单位编号", "单位名称", "窗口编号", "窗口名称",
        "人员编号", "人员姓名", "评价等级", "差评原因", "评价意见", "状态", "办结方式",
        "超期环节", "首次联系时限", "首次联系时间", "答复时限", "答复时间", "办结时间",
        "群众要求回访", "回访次数", "最近回访结果", "申诉成立不计入", "承办人", "处理说明"]
# (承办人 since 2026-12-05: the case page names the assignee 承办人, the ledger said 经办人)


def _csv(r) -> list[dict]:
    assert r.status_code == 200, r.text[:300]
    text = r.content.decode("utf-8")
    assert text.startswith("\ufeff")   # Excel opens Chinese right
    rows = list(csv.reader(io.StringIO(text[1:])))
    assert rows[0] == HEAD
    return [dict(zip(HEAD, row)) for row in rows[1:]]


def _case_ids(dash, *where) -> list[int]:
    with read(dash.engine) as conn:
        return conn.execute(select(cases.c.id).where(*where)
                            .order_by(cases.c.opened_day, cases.c.id)).scalars().all()


def test_ledger_holds_every_case_of_the_scope_not_a_page_and_no_phone(dash):
    # The queue shows 50 cases a page and nothing could be taken away: a supervisor writing
    # the month's bulletin copied them by hand.
    s = dash.login("jfb")
    r = s.get(dash.url + "/dashboard/cases/export?state=all&format=csv")
    rows = _csv(r)
    expected = _case_ids(dash)   # jfb supervises the whole demo district
    assert len(expected) > 50
    assert [int(row["工单编号"]) for row in rows] == expected
    assert r.headers["X-Case-Count"] == str(len(expected))
    assert sample.PHONE not in r.text and sample.PHONE[-4:] not in r.text
    phone = next(row for row in rows if row["评价编号"] == sample.PHONE_RATING)
    assert phone["群众要求回访"] == "是"
    with read(dash.engine) as conn:
        level, comment = conn.execute(select(ratings.c.level, ratings.c.comment).where(
            ratings.c.id == sample.PHONE_RATING)).one()
    assert phone["评价等级"] == {"dissatisfied": "不满意",
                                 "very_dissatisfied": "非常不满意"}[level]
    assert phone["评价意见"] == (comment or "")
    assert {row["状态"] for row in rows} <= {"待核实", "已核实", "整改中", "已答复", "申诉中",
                                             "已办结"}


def test_ledger_of_the_overdue_tab_names_the_late_steps(dash):
    s = dash.login("jfb")
    rows = _csv(s.get(dash.url + "/dashboard/cases/export?state=overdue&format=csv"))
    page = s.get(dash.url + "/dashboard/cases?state=overdue").text
    assert rows, "the demo data has overdue cases"
    assert all(row["超期环节"] in ("联系超期", "答复超期", "联系超期、答复超期") for row in rows)
    assert all(row["状态"] != "已办结" for row in rows)
    assert f'data-case="{rows[0]["工单编号"]}"' in page   # the tab's first case is listed


def test_unit_manager_gets_only_their_unit_and_the_file_is_audited(dash):
    s = dash.login("u02")
    r = s.get(dash.url + "/dashboard/cases/export?format=xlsx")
    assert r.status_code == 200, r.text[:300]
    sheet = load_workbook(io.BytesIO(r.content), read_only=True).active
    values = list(sheet.iter_rows(values_only=True))
    assert list(values[0]) == HEAD and sheet.title == "差评整改台账"
    assert [row[0] for row in values[1:]] == _case_ids(dash, cases.c.unit_id == "U-02")
    assert {row[3] for row in values[1:]} == {"U-02"}
    assert s.get(dash.url + "/dashboard/cases/export?unit=U-01").status_code == 403
    with read(dash.engine) as conn:
        action = conn.execute(select(audit_log.c.action).where(
            audit_log.c.username == "u02").order_by(audit_log.c.id.desc()).limit(1)).scalar()
    assert action == "export_cases"


def test_ledger_by_rating_days_and_bad_choices_named(dash):
    s = dash.login("jfb")
    with read(dash.engine) as conn:
        days = conn.execute(select(func.min(cases.c.opened_day),
                                   func.max(cases.c.opened_day))).one()
    rows = _csv(s.get(dash.url + f"/dashboard/cases/export?from={days[1]}&to={days[1]}"))
    assert [int(row["工单编号"]) for row in rows] == \
        _case_ids(dash, cases.c.opened_day == days[1])
    for query, named in (("state=later", "later"), ("from=2026-13-01", "2026-13-01"),
                         ("from=2026-05-02&to=2026-05-01", "2026-05-02"), ("format=pdf", "pdf")):
        r = s.get(dash.url + "/dashboard/cases/export?" + query)
        assert r.status_code == 400 and named in r.text, query


def test_staff_accounts_get_no_ledger(dash):
    from tests.dashboard.helpers import staff_account

    s = dash.login(staff_account(dash, "S-001", "ledger"))
    r = s.get(dash.url + "/dashboard/cases/export", allow_redirects=False)
    assert r.status_code in (303, 403)


def test_queue_page_offers_the_ledger_of_its_tab_and_the_callback_tab_exports(dash):
    # The form on the queue page exports the tab shown (and its unit), all of it; the
    # "待回访" tab holds the cases that cannot be closed before their callback.
    s = dash.login("u01")
    page = s.get(dash.url + "/dashboard/cases?state=callback&unit=U-01").text
    form = page[page.index('id="case-ledger"'):]
    assert 'action="/dashboard/cases/export"' in form
    assert 'name="state" value="callback"' in form and 'name="unit" value="U-01"' in form
    rows = _csv(s.get(dash.url + "/dashboard/cases/export?state=callback&unit=U-01"))
    listed = [int(m) for m in __import__("re").findall(r'data-case="(\d+)"', page)]
    assert sorted(int(row["工单编号"]) for row in rows) == sorted(listed)
    assert all(row["群众要求回访"] == "是" and row["回访次数"] == "0" for row in rows)


def test_a_ledger_too_long_for_one_sheet_says_cases_not_ratings(dash, monkeypatch):
    # The refusal of an XLSX longer than a sheet was the per-rating export's: "共 … 条评价".
    from aggregator.dashboard import rating_export

    monkeypatch.setattr(rating_export, "XLSX_MAX_ROWS", 3)
    s = dash.login("jfb")
    r = s.get(dash.url + "/dashboard/cases/export?state=all&format=xlsx")
    assert r.status_code == 400 and "件工单，超过 Excel 单个工作表的上限" in r.text
    assert "条评价" not in r.text
    assert s.get(dash.url + "/dashboard/cases/export?state=all&format=csv").status_code == 200
