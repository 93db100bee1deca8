"""Roster files as Chinese halls make them: windows merged down a group of rows, a 序号 column,
「姓　名」 spaced out, 党员 marked √ or ×, ids copied with invisible or full-width characters;
and an import that changes nothing leaves the kiosks' config alone."""

from __future__ import annotations

import io

import openpyxl
import requests
from sqlalchemy import select

from aggregator import org, roster
from aggregator.db import read
from aggregator.schema import staff


def _import(server, name: str, data: bytes) -> requests.Response:
    return requests.post(f"{server.url}/api/v1/roster/import", headers=server.admin,
                         files={"file": (name, data)}, timeout=30)


def _stored(server, *ids) -> dict:
    with read(server.engine) as conn:
        return {r.id: r for r in conn.execute(select(staff).where(staff.c.id.in_(ids)))}


def _version(server) -> int:
    with read(server.engine) as conn:
        return org.config_version(conn)


def _xlsx(rows, merges=()) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    for merge in merges:
        sheet.merge_cells(merge)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_a_window_merged_down_a_group_of_rows_is_each_rows_window(org_setup):
    # Why: a 窗口 and 岗位 merged down the rows of a group is the usual Chinese roster; the
    # cells under the merge read as empty, which clears the column, and everyone but the
    # first person of each group silently lost their window (and left every kiosk).
    data = _xlsx([["编号", "姓名", "单位", "窗口", "岗位"],
                  ["S-101", "李一", "U-01", "W-002", "综合受理"],
                  ["S-102", "李二", "U-01", None, None],
                  ["S-103", "李三", "U-01", None, None]], merges=("D2:D4", "E2:E4"))
    r = _import(org_setup, "名单.xlsx", data)
    assert r.status_code == 200 and r.json()["imported"] == 3, r.text
    rows = _stored(org_setup, "S-101", "S-102", "S-103")
    assert {(rows[i].window_id, rows[i].post) for i in rows} == {("W-002", "综合受理")}


def test_sequence_numbers_spaced_headers_and_party_marks_are_read_as_meant(org_setup):
    # Why: a 序号 column and 「姓　名」 (a full-width space lining names up) refused the whole
    # file; √ and 中共党员 were refused, and × (no, in Chinese) was taken as a party member.
    text = ("序号,编　号,姓　名,单位,党员\n1,S-111,周一,U-01,√\n2,S-112,周二,U-01,中共党员\n"
            "3,S-113,周三,U-01,×\n4,S-114,周四,U-01,x\n5,S-115,周五,U-01,预备党员\n"
            "6,S-116,周六,U-01,共青团员\n")
    r = _import(org_setup, "名单.csv", text.encode())
    assert r.status_code == 200 and r.json()["imported"] == 6, r.text
    rows = _stored(org_setup, *(f"S-11{n}" for n in range(1, 7)))
    assert {i: rows[i].party_member for i in rows} == {
        "S-111": True, "S-112": True, "S-113": False, "S-114": False, "S-115": True,
        "S-116": False}
    assert rows["S-111"].name == "周一"


def test_an_id_with_an_invisible_character_is_refused_and_a_full_width_one_is_the_same(org_setup):
    # Why: "S-007\u200b" or "Ｓ－００７" made a second S-007, a person with no unit shown at
    # every window; the refusal names the row, the column and the character.
    r = _import(org_setup, "名单.csv", "编号,姓名\nS-007\u200b,王芳\n".encode())
    assert r.status_code == 400
    assert r.json()["errors"] == ["row 2, column 'id': id holds the invisible character U+200B "
                                  "at position 6; delete it, got 'S-007\\u200b'"]
    r = _import(org_setup, "名单.csv", "编号,姓名,工号\nＳ－００７,王芳,００７\n".encode())
    assert r.status_code == 200, r.text
    with read(org_setup.engine) as conn:
        ids = set(conn.execute(select(staff.c.id)).scalars())
    assert ids == {"S-007"} and _stored(org_setup, "S-007")["S-007"].staff_no == "007"
    assert _stored(org_setup, "S-007")["S-007"].window_id == "W-001"   # the same person


def test_an_import_bumps_the_config_version_once_and_an_unchanged_one_not_at_all(org_setup):
    # Why: each row bumped the version (a 5,000-row file: +5,000, the write lock held 2.2 s),
    # and a file imported again as it was had every kiosk download its config again.
    text = "编号,姓名,单位\n" + "".join(f"S-2{n:02d},人员{n},U-01\n" for n in range(40))
    before = _version(org_setup)
    assert _import(org_setup, "名单.csv", text.encode()).status_code == 200
    assert _version(org_setup) == before + 1
    assert _import(org_setup, "名单.csv", text.encode()).status_code == 200
    assert _version(org_setup) == before + 1


def test_merged_cells_are_filled_by_the_reader():
    # the same, without a server: every cell of a merged range has the top-left value
    table = roster.read_table("a.xlsx", _xlsx([["编号", "姓名", "窗口"], ["S-1", "甲", "W-1"],
                                               ["S-2", "乙", None]], merges=("C2:C3",)))
    assert [row[2] for row in table[1:]] == ["W-1", "W-1"]


def test_a_pledge_longer_than_the_kiosk_shows_is_imported_with_a_warning(org_setup):
    # Why: the roster takes 2,000 characters and the kiosk's idle screen shows about 68 (then
    # "…"): most of a long pledge was never seen, and whoever imported it was not told.
    from aggregator.dashboard import i18n_manage

    long = "坚持热情服务，一次性告知办事所需材料，不推诿、不扯皮、不刁难。" * 4
    r = _import(org_setup, "名单.csv", f"编号,姓名,承诺\nS-007,王芳,{long}\nS-120,周六,一次办好\n"
                .encode())
    assert r.status_code == 200 and r.json()["imported"] == 2, r.text
    assert r.json()["warnings"] == [
        f"row 2, column 'pledge': {len(long)} characters; a kiosk shows about the first "
        f"{roster.KIOSK_PLEDGE_CHARS} and ends the rest in '…'"]
    assert _stored(org_setup, "S-007")["S-007"].pledge == long   # taken all the same
    ok = _import(org_setup, "名单.csv", "编号,姓名,承诺\nS-120,周六,一次办好\n".encode())
    assert "warnings" not in ok.json()
    # the form's hint says the same number
    for words in (i18n_manage.ZH, i18n_manage.EN):
        assert str(roster.KIOSK_PLEDGE_CHARS) in words["pledge_kiosk_hint"]
