"""`aggregator export-ratings`: the scheduled hand-over of every rating to the 好差评 system,
from ratings a real signed kiosk and the real QR page sent to a running server (SQLite and
PostgreSQL). The expected codes come from the levels uploaded and the published orders."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import zipfile

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from aggregator import cli, org
from aggregator.dashboard.tables import audit_log
from aggregator.db import read, write
from tests.qr_form import qr_post

NATIONAL = {"very_satisfied": 1, "satisfied": 2, "basic_satisfied": 3, "dissatisfied": 4,
            "very_dissatisfied": 5}                       # GB/T 39046-2020
PROVINCIAL = {level: 6 - code for level, code in NATIONAL.items()}   # 1 = 非常不满意
PHONE = "13800001234"
TZ = dt.timezone(dt.timedelta(hours=8))


def _days() -> tuple[str, str]:
    today = dt.datetime.now(TZ).date()
    return str(today - dt.timedelta(days=1)), str(today + dt.timedelta(days=1))


def _upload(device, org_setup) -> dict:
    sent = [device.rating("very_satisfied", case_no="BJ-1"), device.rating("dissatisfied"),
            device.rating("satisfied", flags=["lockout"])]
    follow = device.event("follow_up", {"rating_id": sent[1]["id"], "reasons": ["efficiency"],
                                        "reasons_version": 1, "phone": PHONE,
                                        "callback_consent": True, "completed": True})
    assert device.post_batch([*sent, follow]).status_code == 200
    assert qr_post(org_setup.url, "W-001", timeout=10, data={
        "level": "very_dissatisfied", "reasons": ["attitude"], "comment": "等了很久",
        "phone": "13900002222", "consent": "1"}).status_code == 200
    return {e["id"]: e["payload"]["level"] for e in sent} | {"flagged": sent[2]["id"]}


def _run(database_url, tmp_path, name, *extra) -> tuple[int, bytes]:
    first, last = _days()
    out = tmp_path / "out" / name   # beside the test's database files, not among them
    out.parent.mkdir(exist_ok=True)
    code = cli.main(["export-ratings", "--database", database_url, "--from", first, "--to",
                     last, "--output", str(out), *extra])
    return code, out.read_bytes() if out.exists() else b""


def test_export_ratings_writes_each_rating_with_the_targets_codes(device, org_setup,
                                                                   database_url, tmp_path):
    levels = _upload(device, org_setup)
    flagged = levels.pop("flagged")
    code, body = _run(database_url, tmp_path, "national.csv", "--target", "national")
    assert code == 0
    assert body.startswith(b"\xef\xbb\xbf") and PHONE.encode() not in body
    assert b"13900002222" not in body
    rows = {r["评价编号"]: r for r in csv.DictReader(io.StringIO(body.decode("utf-8-sig")))}
    assert flagged not in rows and len(rows) == 3   # two kiosk ratings and the phone's
    for rid, level in levels.items():
        if rid != flagged:
            assert int(rows[rid]["评价等级代码"]) == NATIONAL[level]
            assert rows[rid]["评价渠道代码"] == "4" and rows[rid]["窗口名称"] == "民政窗口"
    (qr,) = [r for rid, r in rows.items() if rid not in levels]
    assert (qr["评价渠道代码"], qr["评价渠道"]) == ("3", "二维码")
    assert int(qr["评价等级代码"]) == NATIONAL["very_dissatisfied"]
    assert qr["差评"] == "是" and qr["差评原因"] == "服务态度" and qr["评价意见"] == "等了很久"

    code, body = _run(database_url, tmp_path, "prov.xlsx", "--target", "provincial",
                      "--include-flagged", "--unit", "U-01")
    assert code == 0
    sheet = load_workbook(io.BytesIO(body), read_only=True).active
    head, *data = [list(r) for r in sheet.iter_rows(values_only=True)]
    got = {r[head.index("评价编号")]: r for r in data}
    assert set(levels) <= set(got) and len(got) == 4
    for rid, level in levels.items():
        assert got[rid][head.index("评价等级代码")] == PROVINCIAL[level]
    assert got[flagged][head.index("可疑标记")] == "lockout"
    with zipfile.ZipFile(io.BytesIO(body)) as z:
        assert not any(PHONE.encode() in z.read(n) for n in z.namelist())

    with read(org_setup.engine) as conn:
        audits = conn.execute(select(audit_log).where(audit_log.c.action == "export_ratings")
                              .order_by(audit_log.c.id)).mappings().all()
    assert [json.loads(a["detail"])["count"] for a in audits] == [3, 4]
    last = json.loads(audits[-1]["detail"])
    assert audits[-1]["username"] is None and last["scope"] == "cli"
    assert (last["unit"], last["target"], last["format"], last["include_flagged"]) == (
        "U-01", "provincial", "xlsx", True)
    assert last["output"].endswith("prov.xlsx")


def test_a_database_that_is_not_there_is_refused_and_no_file_written(tmp_path, capsys):
    out = tmp_path / "x.csv"
    code = cli.main(["export-ratings", "--database", f"sqlite:///{tmp_path / 'none.db'}",
                     "--from", "2026-05-01", "--to", "2026-05-31", "--target", "national",
                     "--output", str(out)])
    assert code == 2 and "no aggregator database" in capsys.readouterr().err
    assert not out.exists() and not (tmp_path / "none.db").exists()


def test_an_unknown_unit_or_a_bad_range_is_named(org_setup, database_url, tmp_path, capsys):
    code, body = _run(database_url, tmp_path, "a.csv", "--target", "national", "--unit", "U-99")
    assert code == 2 and "U-99" in capsys.readouterr().err and body == b""
    code = cli.main(["export-ratings", "--database", database_url, "--from", "2026-05-09",
                     "--to", "2026-05-01", "--target", "national", "--output",
                     str(tmp_path / "out" / "b.csv")])
    assert code == 2 and "after" in capsys.readouterr().err
    assert not list((tmp_path / "out").iterdir())   # no file, nor a half-written one


def test_export_ratings_of_a_region_holds_its_units_and_those_below_only(device, org_setup,
                                                                        database_url, tmp_path,
                                                                        capsys):
    # A district hands over one town at a time: --region takes the region's units and those
    # of the regions below it (U-01 is in R-1a, below R-1), and none of a region beside it.
    with write(org_setup.engine) as conn:
        org.save(conn, "regions", {"id": "R-2", "name": "邻区", "level": "district"})
        org.save(conn, "units", {"id": "U-02", "name": "邻区政务中心", "region_id": "R-2"})
    levels = _upload(device, org_setup)
    levels.pop(levels.pop("flagged"))   # left out by default
    code, body = _run(database_url, tmp_path, "r1.csv", "--target", "national",
                      "--region", "R-1")
    assert code == 0 and "region R-1, 1 units" in capsys.readouterr().out
    rows = list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))
    assert len(rows) == 3 and {r["单位编号"] for r in rows} == {"U-01"}
    assert set(levels) <= {r["评价编号"] for r in rows}
    code, body = _run(database_url, tmp_path, "r2.csv", "--target", "national",
                      "--region", "R-2")
    assert code == 0
    assert list(csv.DictReader(io.StringIO(body.decode("utf-8-sig")))) == []
    with read(org_setup.engine) as conn:
        audits = [json.loads(a) for a in conn.execute(
            select(audit_log.c.detail).where(audit_log.c.action == "export_ratings")
            .order_by(audit_log.c.id)).scalars()]
    # the audit log says which region left, not only "cli"
    assert [(a["region"], a["unit"], a["units"], a["count"]) for a in audits] == [
        ("R-1", None, 1, 3), ("R-2", None, 1, 0)]


def test_an_unknown_region_is_named_and_a_unit_with_a_region_refused(org_setup, database_url,
                                                                      tmp_path, capsys):
    # A mistyped region code must not quietly export nothing (or everything): it is named.
    code, body = _run(database_url, tmp_path, "a.csv", "--target", "national",
                      "--region", "R-99")
    err = capsys.readouterr().err
    assert code == 2 and "region 'R-99' does not exist" in err and body == b""
    with pytest.raises(SystemExit) as stop:   # one unit or one region, never both
        _run(database_url, tmp_path, "b.csv", "--target", "national", "--unit", "U-01",
             "--region", "R-1")
    assert stop.value.code == 2 and "not allowed with argument" in capsys.readouterr().err
    assert not list((tmp_path / "out").iterdir())
