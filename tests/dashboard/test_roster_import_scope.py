"""A staff member stored without a unit can be put back on a roster by a roster file: the scope
check refused everyone, admin too, since no one's scope holds "no unit"."""

from __future__ import annotations

import re

from sqlalchemy import select, update

from aggregator.db import read, write
from aggregator.schema import staff
from tests.dashboard.helpers import csrf_of


def _import(s, dash, text: str):
    csrf = csrf_of(s, dash.url + "/dashboard/roster")
    return s.post(dash.url + "/dashboard/roster/import?lang=zh_CN", data={"csrf": csrf},
                  files={"file": ("名单.csv", text.encode(), "text/csv")})


def test_a_staff_member_without_a_unit_is_claimed_by_a_file_naming_a_unit_in_scope(dash):
    # Why: a person whose unit was lost (an API save that replaced the record) could never be
    # re-imported: "S-099 belongs to a unit outside your scope", for the unit manager and the
    # admin alike, and they stayed off every roster.
    with write(dash.engine) as conn:
        row = conn.execute(select(staff).where(staff.c.unit_id == "U-01")).mappings().first()
        conn.execute(update(staff).where(staff.c.id == row["id"]).values(unit_id=None,
                                                                         window_id=None))
    s = dash.login("u01")
    r = _import(s, dash, f"编号,姓名,单位\n{row['id']},{row['name']},U-01\n")
    assert r.status_code == 200 and 'class="alert error"' not in r.text, \
        re.sub(r"\s+", " ", r.text)[-800:]
    with read(dash.engine) as conn:
        assert conn.execute(select(staff.c.unit_id).where(staff.c.id == row["id"])).scalar() \
            == "U-01"
    # another unit's staff member stays refused
    with read(dash.engine) as conn:
        other = conn.execute(select(staff.c.id).where(staff.c.unit_id == "U-02")).scalar()
    r = _import(s, dash, f"编号,姓名,单位\n{other},某人,U-01\n")
    assert 'class="alert error"' in r.text and other in r.text


def test_the_import_page_warns_of_a_pledge_longer_than_the_kiosk_shows(dash):
    # Why: a 200-character pledge was imported without a word, and the kiosk showed its first
    # 68 characters: the manager learnt it at the counter, if at all.
    with read(dash.engine) as conn:
        row = conn.execute(select(staff).where(staff.c.unit_id == "U-01")).mappings().first()
    s = dash.login("u01")
    long = "一次性告知办事所需材料，" * 10
    r = _import(s, dash, f"编号,姓名,承诺\n{row['id']},{row['name']},{long}\n")
    assert 'class="alert ok"' in r.text and "data-warnings" in r.text, \
        re.sub(r"\s+", " ", r.text)[-800:]
    assert f"第 2 行：服务承诺共 {len(long)} 字，终端待机页只显示约前 68 字" in r.text
    assert "data-pledge-hint" in r.text   # and the staff form says it before anyone types


def test_the_import_warns_of_a_name_the_kiosks_font_cannot_draw(dash):
    # Why: the kiosk's idle screen showed "陈□" (a character outside its font) at the window,
    # and whoever imported the name was not told. It is taken, with a warning naming row,
    # column and character; the API's answer says the same in English.
    with read(dash.engine) as conn:
        row = conn.execute(select(staff).where(staff.c.unit_id == "U-01")).mappings().first()
    s = dash.login("u01")
    r = _import(s, dash, f"编号,姓名,岗位\n{row['id']},陈\U0002A6A5,综合受理\n")
    assert 'class="alert ok"' in r.text and "data-warnings" in r.text
    assert "第 2 行「姓名」列：\U0002A6A5 终端字体里没有，窗口屏幕上会显示为空方框" in r.text
    with read(dash.engine) as conn:   # taken all the same
        assert conn.execute(select(staff.c.name).where(staff.c.id == row["id"])).scalar() \
            == "陈\U0002A6A5"
    from aggregator import roster

    parsed = roster.parse("名单.csv", "编号,姓名\nS-9,陈喆赟\n".encode())
    assert parsed.warnings == ()   # a name of the 通用规范汉字表 draws: no warning
