"""Ranking exports: XLSX (openpyxl) and CSV (UTF-8 with BOM, so Excel opens Chinese right);
the period's assessment table as XLSX (``assessment_xlsx``)."""

from __future__ import annotations

import csv
import io
from decimal import ROUND_FLOOR, Decimal

# "score" is the ranking's own figure, the smoothed satisfaction rate (``stats.compute``);
# "mean" the mean stars, last so that the columns before it keep their letters.
COLUMNS = ("rank", "name", "key", "rated", "satisfied", "bad", "rate", "score",
           "prev_rate", "rate_change", "below_target", "flagged", "mean")


# A cell that starts with one of these is a formula to a spreadsheet (OWASP, "CSV Injection"):
# a staff or item name such as =HYPERLINK("http://…") ran when the export was opened.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cells(row: dict, t) -> list:
    """A ranking row in ``COLUMNS`` order, its shares as the page shows them (``shown_shares``);
    a row without a place has no rank (an empty cell)."""
    rate, prev_rate, change = shown_shares(row["rate"], row["prev_rate"])
    return [row["rank"], row["name"], row["key"], row["rated"], row["satisfied"], row["bad"],
            rate, cut_share(row.get("score")) if row["rank"] else None, prev_rate, change,
            t("yes") if row["below_target"] else "", row["flagged"],
            None if row.get("mean") is None else round(row["mean"], 2)]


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
PERCENT_COLUMNS = {"rate", "score", "prev_rate", "rate_change"}


def cut_share(value: float | None, digits: int = 2) -> float | None:
    """A share cut (not rounded) to ``digits`` places of its percentage, as a fraction:
    0.979188 is 0.9791, which a "0.00%" cell shows as "97.91%", as the page does.

    Cut from the shortest decimal that reads back as ``value`` (``repr``), so a binary
    fraction such as 0.29 (0.28999999999999998…) is 29 %, not 28.99 %, and nothing just
    below a cut is pushed over it: a guard of 1e-6 on the percentage rounded 1 bad rating in
    3 million (99.99997 %) up to "100.00%". A rate n / m is never within a double's precision
    below a cut for any m a site reaches.

    >>> cut_share(0.979188), cut_share(0.79995), cut_share(0.29, 1), cut_share(None)
    (0.9791, 0.7999, 0.29, None)
    >>> cut_share(2_999_999 / 3_000_000), cut_share(1_600_000 / 2_000_001)
    (0.9999, 0.7999)
    """
    if value is None:
        return None
    places = 2 + digits
    cut = Decimal(repr(float(value))).scaleb(places).to_integral_value(rounding=ROUND_FLOOR)
    return float(cut.scaleb(-places))


def share_text(value: float | None, digits: int = 2) -> str:
    """A share as a percentage cut (not rounded) to ``digits`` places: 0.79995 is "79.99%".

    Rounded, a unit at 79.995 % showed "80.00%" beside "未达标" (target 80 %): a figure must
    never read as meeting a target it misses.

    >>> share_text(0.79995), share_text(0.29, 1), share_text(1.0, 0), share_text(None)
    ('79.99%', '29.0%', '100%', '—')
    """
    if value is None:
        return "—"
    return f"{cut_share(value, digits) * 100:.{digits}f}%"


def shown_shares(rate: float | None, prev_rate: float | None) -> tuple:
    """A row's rate, previous rate and change as a file holds them: the rates cut as the page
    shows them (``cut_share``), the change their difference, so that every spreadsheet shows
    the page's rates, and rate − previous = change in it (the page writes the exact change
    to one place: "0.0" where the file may hold 0.01 %). The XLSX stored the exact
    fractions in "0.00%" cells, which Excel rounds: 1929/1970 read 97.92 % there, 97.91 % on
    the page, and a unit at 79.995 % "80.00%" on the red 未达标 fill."""
    rate, prev_rate = cut_share(rate), cut_share(prev_rate)
    change = (round(rate - prev_rate, 4)
              if rate is not None and prev_rate is not None else None)
    return rate, prev_rate, change


def target_text(value: float | None) -> str:
    """A target share as set (step 0.1 %): 0.8 is "80%", 0.855 is "85.5%"."""
    return "—" if value is None else f"{round(value * 100, 1):g}%"


def _csv_cell(column: str, value):
    if column in ("rate", "score", "prev_rate") and isinstance(value, (int, float)):
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
                  cut_share(total["rate"])])
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
    for col in ("G", "H", "I", "J"):   # PERCENT_COLUMNS
        for cell in sheet[col][head:]:
            cell.number_format = "0.00%"
    sheet["F2"].number_format = "0.00%"
    # the target as set, as target_text writes it: "0%" showed a target of 85.5 % as "86%"
    sheet["B2"].number_format = "0%" if round(report["target"] * 100, 1).is_integer() else "0.0%"
    for letter, width in zip("ABCDEFGHIJKLM", (6, 26, 14, 9, 9, 7, 10, 12, 10, 10, 10, 8, 8)):
        sheet.column_dimensions[letter].width = width
    sheet.freeze_panes = sheet.cell(row=head + 1, column=1)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


ASSESSMENT_COLUMNS = ("rank", "kind", "name", "key", "unit", "citizens", "ratings", "peers",
                      "reviewers", "leaders", "composite", "weights", "stars", "award")


def _one_place(score: float | None) -> float | None:
    """A score as the assessment page writes it (``f"{score:.1f}"``), for a "0.0" cell: the
    exact 87.25 read "87.2" on the page and "87.3" in Excel, which rounds halves up."""
    return None if score is None else float(f"{score:.1f}")


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
    total = sum(s.weights.values()) or 1   # each weight's share (3/1/1 read "300%")
    sheet.append([t("formula"), " + ".join(f"{t('part_' + k)} {round(v / total * 100, 1):g}%"
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
            # a row without a composite (no part yet) is listed without a place, as on the page
            sheet.append([rank if r["composite"] is not None else None, t("kind_" + kind), r["name"], r["id"], r["unit_name"],
                          _one_place(r["citizens"]), r["rated"], _one_place(r["peers"]),
                          r["reviewers"], _one_place(r["leaders"]), _one_place(r["composite"]),
                          used, r["stars"], t("award") if r["award"] else ""])
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
