"""Ranking exports: XLSX (openpyxl) and CSV (UTF-8 with BOM, so Excel opens Chinese right);
the period's assessment table as XLSX (``assessment_xlsx``)."""

from __future__ import annotations

import csv
import io
import math

COLUMNS = ("rank", "name", "key", "rated", "satisfied", "bad", "rate", "smoothed",
           "prev_rate", "rate_change", "below_target", "flagged")


# A cell that starts with one of these is a formula to a spreadsheet (OWASP, "CSV Injection"):
# a staff or item name such as =HYPERLINK("http://…") ran when the export was opened.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cells(row: dict, t) -> list:
    return [row["rank"], row["name"], row["key"], row["rated"], row["satisfied"], row["bad"],
            row["rate"], row["smoothed"], row["prev_rate"], row["rate_change"],
            t("yes") if row["below_target"] else "", row["flagged"]]


def _csv_text(value):
    """Text a spreadsheet shows as typed: a leading apostrophe before what starts a formula."""
    return "'" + value if isinstance(value, str) and value.startswith(FORMULA_START) else value


def _as_text(cells) -> None:
    """Cells openpyxl took for formulas (text starting with '=') stored as the text they are."""
    for cell in cells:
        if cell.data_type == "f":
            cell.data_type = "s"


# Columns that are shares: written as the XLSX shows them ("97.78%", which Excel and WPS read
# back as the number 0.9778), not as the bare fraction 0.977777… a reader took for a score.
PERCENT_COLUMNS = {"rate", "prev_rate", "rate_change"}


def share_text(value: float | None, digits: int = 2) -> str:
    """A share as a percentage cut (not rounded) to ``digits`` places: 0.79995 is "79.99%".

    Rounded, a unit at 79.995 % showed "80.00%" beside "未达标" (target 80 %): a figure must
    never read as meeting a target it misses. The 1e-6 guards against binary fractions such as
    0.29 * 100 = 28.999999999999996; a real rate n / m with m below a million is never that
    close below a cut.

    >>> share_text(0.79995), share_text(0.29, 1), share_text(1.0, 0), share_text(None)
    ('79.99%', '29.0%', '100%', '—')
    """
    if value is None:
        return "—"
    scale = 10 ** digits
    cut = math.floor(round(value * 100 * scale, 6)) / scale
    return f"{cut:.{digits}f}%"


def target_text(value: float | None) -> str:
    """A target share as set (step 0.1 %): 0.8 is "80%", 0.855 is "85.5%"."""
    return "—" if value is None else f"{round(value * 100, 1):g}%"


def _csv_cell(column: str, value):
    if column in ("rate", "prev_rate") and isinstance(value, (int, float)):
        return share_text(value)
    if column in PERCENT_COLUMNS and isinstance(value, (int, float)):
        return f"{value:.2%}"
    return _csv_text(value)


def to_csv(report: dict, t) -> bytes:
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow([t(f"col_{c}") for c in COLUMNS])
    for row in report["rows"]:
        w.writerow([_csv_cell(c, v) for c, v in zip(COLUMNS, _cells(row, t))])
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
        _as_text(sheet[sheet.max_row])
        if row["below_target"]:
            for cell in sheet[sheet.max_row]:
                cell.fill = warn
    for col in ("G", "I", "J"):   # PERCENT_COLUMNS
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


ASSESSMENT_COLUMNS = ("rank", "kind", "name", "key", "unit", "citizens", "ratings", "peers",
                      "reviewers", "leaders", "composite", "weights", "stars", "award")


def assessment_xlsx(data: dict, t, title: str, lang: str) -> bytes:
    """The period's assessment table (windows, then staff) with its parts and the weights
    actually used, one sheet; a row whose weights were renormalised says so."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill

    book = Workbook()
    sheet = book.active
    sheet.title = data["period"].key
    s = data["settings"]
    sheet.append([title])
    sheet["A1"].font = Font(bold=True, size=14)
    sheet.append([t("formula"), " + ".join(f"{t('part_' + k)} {v:.0%}"
                                         for k, v in s.weights.items()),
                  t("stars_from"), " / ".join(f"{x:g}" for x in s.thresholds),
                  t("status"), t("published") if data["published_units"] else t("provisional")])
    sheet.append([])
    sheet.append([t(f"col_{c}") for c in ASSESSMENT_COLUMNS])
    head = sheet.max_row
    for cell in sheet[head]:
        cell.font = Font(bold=True, color="FFFFFF")
        cell.fill = PatternFill("solid", fgColor="1F4E79")
        cell.alignment = Alignment(horizontal="center")
    award = PatternFill("solid", fgColor="FDE2E1")
    for kind, rows in (("window", data["window_rows"]), ("staff", data["staff_rows"])):
        for rank, r in enumerate(rows, start=1):
            used = ", ".join(f"{t('part_' + k)} {v:.0%}" for k, v in r["weights_used"].items())
            if r["renormalised"]:
                used += f" ({t('renormalised')}: " + ("、" if lang != "en" else ", ").join(
                    t("part_" + k) for k in r["missing"]) + f" {t('missing')})"
            sheet.append([rank, t("kind_" + kind), r["name"], r["id"], r["unit_name"],
                          r["citizens"], r["rated"], r["peers"], r["reviewers"], r["leaders"],
                          r["composite"], used, r["stars"], t("award") if r["award"] else ""])
            _as_text(sheet[sheet.max_row])
            if r["award"]:
                for cell in sheet[sheet.max_row]:
                    cell.fill = award
    for letter, width in zip("ABCDEFGHIJKLMN", (6, 7, 18, 10, 22, 10, 8, 10, 8, 10, 10, 44, 6, 10)):
        sheet.column_dimensions[letter].width = width
    for col in "FHJK":
        for cell in sheet[col][head:]:
            cell.number_format = "0.0"
    sheet.freeze_panes = sheet.cell(row=head + 1, column=1)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
