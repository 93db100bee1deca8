"""`aggregator export-ratings`: the scheduled hand-over of every rating to the 好差评 system,
from ratings a real signed kiosk and the real QR page sent to a running server (SQLite and
PostgreSQL). The expected codes come from the levels uploaded and the published orders."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import zipfile

import requests
from openpyxl import load_workbook
from sqlalchemy import select

from aggregator import cli
from aggregator.dashboard.tables import audit_log
from aggregator.db import read

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
    assert requests.post(f"{org_setup.url}/r/W-001", timeout=10, data={
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
