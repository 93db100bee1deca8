"""Ranking exports: XLSX (openpyxl) and CSV (UTF-8 with BOM, so Excel opens Chinese right)."""

from __future__ import annotations

import csv
import io

COLUMNS = ("rank", "name", "key", "rated", "satisfied", "bad", "rate", "smoothed",
           "prev_rate", "rate_change", "below_target", "flagged")


def _cells(row: dict, t) -> list:
    return [row["rank"], row["name"], row["key"], row["rated"], row["satisfied"], row["bad"],
            row["rate"], row["smoothed"], row["prev_rate"], row["rate_change"],
            t("yes") if row["below_target"] else "", row["flagged"]]


def to_csv(report: dict, t) -> bytes:
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow([t(f"col_{c}") for c in COLUMNS])
    for row in report["rows"]:
        w.writerow(_cells(row, t))
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def to_xlsx(report: dict, t, title: str) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill

    book = Workbook()
    sheet = book.active
    sheet.title = report["group_by"]
    sheet.append([title])
    sheet["A1"].font = Font(bold=True, size=14)
    total = report["total"]
    sheet.append([t("target"), report["target"], t("rated"), total["rated"], t("rate"),
                  total["rate"]])
    sheet.append([])
    sheet.append([t(f"col_{c}") for c in COLUMNS])
    head = sheet.max_row
    for cell in sheet[head]:
        cell.font = Font(bold=True, color="FFFFFF")
        cell.fill = PatternFill("solid", fgColor="1F4E79")
        cell.alignment = Alignment(horizontal="center")
    warn = PatternFill("solid", fgColor="FDE2E1")
    for row in report["rows"]:
        sheet.append(_cells(row, t))
        if row["below_target"]:
            for cell in sheet[sheet.max_row]:
                cell.fill = warn
    for col in ("G", "I", "J"):
        for cell in sheet[col][head:]:
            cell.number_format = "0.00%"
    sheet["F2"].number_format = "0.00%"
    sheet["B2"].number_format = "0%"
    for letter, width in zip("ABCDEFGHIJKL", (6, 26, 14, 9, 9, 7, 10, 10, 10, 10, 10, 8)):
        sheet.column_dimensions[letter].width = width
    sheet.freeze_panes = sheet.cell(row=head + 1, column=1)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
