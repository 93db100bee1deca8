"""Import of a staff roster from CSV or XLSX, with messages naming the row and column.

The first row holds the column names: the ``staff`` fields of ``org.ENTITIES`` or their
Chinese labels (姓名, 工号, …). The whole file is checked first; it is imported only when
every row is valid, so a mistake never leaves half a roster behind. A file changes only the
columns it has: a staff member already on the roster keeps everything else (a file of ids
and names, to fix one name, wiped numbers, badges, windows and pledges).

Each problem is a ``Problem``: the English sentence the API and the command line give, and its
message name, row, column (as the file names it) and values, which the dashboard words in the
page's language (``dashboard/i18n_problems.py``).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import unicodedata
from dataclasses import dataclass
from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.engine import Connection

from . import org
from .errors import BadRequest
from .schema import staff

ALIASES = {
    "编号": "id", "人员编号": "id", "姓名": "name", "工号": "staff_no", "岗位": "post",
    "职务": "post", "党员": "party_member", "是否党员": "party_member", "星级": "stars",
    "承诺": "pledge", "服务承诺": "pledge", "工牌": "badge", "卡号": "badge", "密码": "pin",
    "单位": "unit_id", "单位编号": "unit_id", "窗口": "window_id", "窗口编号": "window_id",
    "在岗": "active", "staff_id": "id",
}
# Columns of a file that are not roster fields: the row number a printed list has.
IGNORED = frozenset({"序号"})
# Not columns of a file: a PIN's hash is made from its PIN, and a photo comes with its own
# upload (a file set them as it liked: a hash no PIN matches, a photo that does not exist).
NOT_IMPORTED = ("pin_hash", "photo_sha256")
# Columns of codes, not amounts: a spreadsheet's number there loses digits past the 15th.
ID_FIELDS = frozenset({"id", "staff_no", "badge", "pin"})
# What Excel shows for a formula that failed; with ``data_only`` it came in as the value.
EXCEL_ERRORS = frozenset({"#N/A", "#REF!", "#VALUE!", "#DIV/0!", "#NAME?", "#NUM!", "#NULL!",
                          "#SPILL!", "#CALC!", "#GETTING_DATA"})
# field → the Chinese column name of the usual file (the first of its aliases above)
CHINESE = {field: alias for alias, field in reversed(ALIASES.items())}
MAX_ROWS = 10_000
# About how many characters of a pledge the kiosk's idle screen shows (four lines at 1024×600,
# kiosk/screens/idle.kv); the rest ends in "…". A longer one is taken, with a warning.
KIOSK_PLEDGE_CHARS = 68
ACCEPTED = (".xlsx", ".csv")  # the file types ``read_table`` reads


@dataclass(frozen=True)
class Problem:
    """One problem of a roster file: ``text``, the English sentence (``str(problem)``), and
    ``args``: its message name ``msg``, ``row``, ``field``, ``column`` (the column's name as the
    file has it, None when the file has no such column) and the values of the sentence.

    >>> p = Problem.of("row 3, column 'id': 'S-1' is also in row 2", "duplicate", 3, "id",
    ...                {"id": "编号"}, value="S-1", first=2)
    >>> str(p), p.args["column"]
    ("row 3, column 'id': 'S-1' is also in row 2", '编号')
    """

    text: str
    args: dict

    def __str__(self) -> str:
        return self.text

    @classmethod
    def of(cls, text: str, msg: str, row: int | None = None, field: str | None = None,
           columns: dict | None = None, **values) -> "Problem":
        return cls(text, {"msg": msg, "row": row, "field": field,
                          "column": (columns or {}).get(field), **values})

    @classmethod
    def refused(cls, row: int, columns: dict, exc: BadRequest) -> "Problem":
        """The problem of row ``row`` that ``org`` refused with ``exc``."""
        args = {"msg": "", "field": exc.field} | exc.detail_args
        return cls(f"row {row}, column {exc.field!r}: {exc.detail}",
                   args | {"row": row, "column": columns.get(exc.field)})


class Parsed(NamedTuple):
    """What ``parse`` found: the valid rows, the problems, and the columns (field → the
    column's name as the file has it)."""

    rows: list[tuple[int, dict]]
    problems: list[Problem]
    columns: dict[str, str]
    warnings: tuple[Problem, ...] = ()   # taken, but worth a look (``pledge_warning``)


def pledge_warning(number: int | None, pledge: str | None, columns: dict | None = None) \
        -> Problem | None:
    """The warning for a pledge longer than a kiosk shows (``KIOSK_PLEDGE_CHARS``), else None:
    the roster took 2,000 characters and the kiosk shows about 68, so most of one was never
    seen and nobody was told."""
    if not pledge or len(pledge) <= KIOSK_PLEDGE_CHARS:
        return None
    where = f"row {number}, column 'pledge': " if number is not None else "pledge: "
    return Problem.of(f"{where}{len(pledge)} characters; a kiosk shows about the first "
                      f"{KIOSK_PLEDGE_CHARS} and ends the rest in '…'", "pledge_long", number,
                      "pledge", columns, length=len(pledge), shown=KIOSK_PLEDGE_CHARS)


# What of a staff row a kiosk's screens show: checked against the kiosk's font, whose
# character list ships with it (kiosk/fonts.py). A character it cannot draw shows as an
# empty box at the window ("陈□"), and whoever imported the name was not told.
KIOSK_SHOWN_FIELDS = ("name", "staff_no", "post", "pledge")


def font_warnings(number: int | None, row: dict, columns: dict | None = None) -> list[Problem]:
    """A warning for each field of ``row`` a kiosk shows with characters its font cannot
    draw (none when the font's character list cannot be read: nothing is checked then)."""
    from kiosk.fonts import undrawable

    out = []
    for field in KIOSK_SHOWN_FIELDS:
        text = row.get(field)
        try:
            missing = undrawable(text) if isinstance(text, str) else ""
        except (OSError, ValueError):
            return []
        if missing:
            where = f"row {number}, column {field!r}" if number is not None else field
            codes = ", ".join(f"{ch} U+{ord(ch):04X}" for ch in missing)
            out.append(Problem.of(f"{where}: {codes} cannot be drawn by the kiosk's font and "
                                  "show as empty boxes", "font_missing", number, field, columns,
                                  chars="、".join(missing)))
    return out


def problems_of(exc: BadRequest) -> list[Problem]:
    """The problems of the ``BadRequest`` ``import_roster`` raised (any other: its detail)."""
    texts, args = exc.extra.get("errors"), exc.detail_args.get("problems")
    if not texts or not args or len(texts) != len(args):
        return [Problem(exc.detail, dict(exc.detail_args))]
    return [Problem(text, a) for text, a in zip(texts, args)]


def _shown(cell):
    """A cell's value, a whole number as its format shows it: 工号 7 formatted "0000" is
    "0007" (it was stored as "7", and the kiosk's sign-in with 0007 failed)."""
    value = getattr(cell, "value", None)
    fmt = getattr(cell, "number_format", None) or ""
    if isinstance(value, (int, float)) and not isinstance(value, bool) \
            and re.fullmatch(r"0{2,}", fmt) and float(value).is_integer() and value >= 0:
        return str(int(value)).zfill(len(fmt))
    return value


def _fill_merged(sheet, table: list[list]) -> None:
    """Each cell of a merged range of ``sheet`` given the range's top-left value, as the
    spreadsheet shows it: a 窗口 or 岗位 merged down the rows of a group is the usual layout
    of a hall's roster, and each of those people is at that window."""
    for merged in sheet.merged_cells.ranges:
        value = _shown(sheet.cell(merged.min_row, merged.min_col))
        for r in range(merged.min_row, min(merged.max_row, len(table)) + 1):
            cells = table[r - 1]
            for c in range(merged.min_col, min(merged.max_col, len(cells)) + 1):
                cells[c - 1] = value


def read_table(filename: str, data: bytes) -> list[list]:
    """Rows of cells from a .csv (UTF-8, optionally with BOM, or GB18030) or .xlsx file."""
    name = (filename or "").lower()
    if name.endswith(".xlsx"):
        import openpyxl  # only needed here

        try:
            # Not read_only: that mode knows no merged cells, and the cells under a merge came
            # back empty, which clears that column (a 窗口 merged down a group of rows took
            # everyone but the first off their window). The file is at most 5 MB.
            book = openpyxl.load_workbook(io.BytesIO(data), data_only=True)
            sheet = book.worksheets[0]
            # the header, MAX_ROWS rows and one more: a longer file is refused, never cut
            last = min(sheet.max_row, MAX_ROWS + 2)   # past it, iter_rows makes empty cells
            table = [[_shown(c) for c in r] for r in sheet.iter_rows(max_row=last)]
            _fill_merged(sheet, table)
            return table
        except Exception as exc:  # openpyxl (and zipfile, xml) raise many kinds on a bad file
            raise BadRequest(f"{filename}: not a readable .xlsx file ({exc})", field="file",
                             code="roster_unreadable",
                             detail_args={"msg": "not_xlsx", "file": filename}) from None
    if name.endswith(".csv"):
        for encoding in ("utf-8-sig", "gb18030"):
            try:
                text = data.decode(encoding)
                break
            except UnicodeDecodeError:
                continue
        else:
            raise BadRequest(f"{filename}: not UTF-8 or GB18030 text", field="file",
                             code="roster_unreadable",
                             detail_args={"msg": "not_text_file", "file": filename})
        try:
            return list(csv.reader(io.StringIO(text)))
        except csv.Error as exc:   # a cell over the reader's 131,072 characters: was a 500
            raise BadRequest(f"{filename}: not a readable CSV file ({exc})", field="file",
                             code="roster_unreadable",
                             detail_args={"msg": "not_csv", "file": filename}) from None
    raise BadRequest(f"{filename!r}: roster files must end in .csv or .xlsx", field="file",
                     code="roster_file_type", detail_args={"msg": "file_type", "file": filename})


def parse(filename: str, data: bytes) -> Parsed:
    """The valid (row number, staff dict) pairs, the problems and the columns of a roster
    file; ``BadRequest`` when it cannot be read as a table."""
    table = read_table(filename, data)
    if not table:
        return Parsed([], [Problem.of(f"{filename}: the file is empty", "empty_file",
                                      file=filename)], {})
    written = [str(h or "").strip() for h in table[0]]
    # 「姓　名」 (a full-width space to line the names up) or 「工 号」 is 姓名 or 工号
    keys = [re.sub(r"\s+", "", unicodedata.normalize("NFKC", h)) for h in written]
    ignored = {i for i, k in enumerate(keys) if k in IGNORED}
    header = ["" if i in ignored else ALIASES.get(k, k) for i, k in enumerate(keys)]
    columns = {field: name for field, name in zip(header, written) if field}
    known = [f for f in org.ENTITIES["staff"] if f not in NOT_IMPORTED]
    errors = [Problem.of(f"row 1, column {h!r}: unknown column; known: {', '.join(known)}",
                         "unknown_column", 1, name=h, known=list(known))
              for h in header if h and h not in known]
    first_of: dict[str, str] = {}
    for field, name in zip(header, written):
        if field and field in first_of:   # 岗位 and 职务: the last one won, empty or not
            errors.append(Problem.of(f"row 1, column {name!r}: the same as column "
                                     f"{first_of[field]!r}", "duplicate_column", 1,
                                     name=name, other=first_of[field]))
        first_of.setdefault(field, name)
    if "id" not in header or "name" not in header:
        errors.append(Problem.of("row 1: the columns 'id' (编号) and 'name' (姓名) are required",
                                 "columns_required", 1,
                                 missing=[h for h in ("id", "name") if h not in header]))
    if errors:
        return Parsed([], errors, columns)
    rows, warnings = [], []
    present = {h for h in header if h} | ({"pin_hash"} if "pin" in header else set())
    seen: dict[str, int] = {}
    for number, cells in enumerate(table[1:], start=2):
        if all(c is None or str(c).strip() == "" for c in cells):
            continue
        data_row = {h: c for h, c in zip(header, cells) if h and c is not None}
        failed = next((h for h, c in zip(header, cells) if h and isinstance(c, str)
                       and c.strip() in EXCEL_ERRORS), None)
        if failed:   # stored as the staff member's name or post
            errors.append(Problem.of(f"row {number}, column {failed!r}: a formula error "
                                     f"({data_row[failed]})", "formula_error", number, failed,
                                     columns, value=data_row[failed].strip()))
            continue
        long_number = next((h for h, c in zip(header, cells) if h in ID_FIELDS
                            and isinstance(c, (int, float)) and not isinstance(c, bool)
                            and abs(c) >= 1e15), None)
        if long_number:   # a spreadsheet keeps 15 digits: 1234567890123456789 came back …7024
            errors.append(Problem.of(f"row {number}, column {long_number!r}: a number of more "
                                     "than 15 digits; format the column as text and type it "
                                     "again", "long_number", number, long_number, columns))
            continue
        dated = next((h for h, c in zip(header, cells) if h and isinstance(c, (dt.date, dt.time))),
                     None)
        if dated:   # Excel turns 1-2 or 3/4 typed in a cell into a date: no roster field is one
            value = data_row[dated]
            shown = value.date() if isinstance(value, dt.datetime) and value.time() == dt.time() \
                else value
            errors.append(Problem.of(f"row {number}, column {dated!r}: a date or time "
                                     f"({shown.isoformat()}); format the column as text and type "
                                     "it again", "date_cell", number, dated, columns,
                                     value=shown.isoformat()))
            continue
        loose = [i + 1 for i, c in enumerate(cells) if (i >= len(header) or not header[i])
                 and i not in ignored and c is not None and str(c).strip() != ""]
        if loose:   # under no column name: dropped without a word
            errors.append(Problem.of(f"row {number}: column {loose[0]} has a value but no "
                                     "name in row 1", "no_column_name", number,
                                     position=loose[0]))
            continue
        try:
            cleaned = org.clean("staff", data_row)
        except BadRequest as exc:
            errors.append(Problem.refused(number, columns, exc))
            continue
        if cleaned["id"] in seen:   # the last row won, and the import counted both
            errors.append(Problem.of(f"row {number}, column 'id': {cleaned['id']!r} is also in "
                                     f"row {seen[cleaned['id']]}", "duplicate", number, "id",
                                     columns, value=cleaned["id"], first=seen[cleaned["id"]]))
            continue
        seen[cleaned["id"]] = number
        rows.append((number, {k: v for k, v in cleaned.items() if k in present}))
        warning = pledge_warning(number, cleaned.get("pledge"), columns)
        if warning:
            warnings.append(warning)
        warnings += font_warnings(number, cleaned, columns)
    if len(rows) > MAX_ROWS:
        errors.append(Problem.of(f"more than {MAX_ROWS} rows", "too_many_rows", max=MAX_ROWS))
    return Parsed(rows, errors, columns, tuple(warnings))


def with_stored(conn: Connection, rows: list[tuple[int, dict]]) -> list[tuple[int, dict]]:
    """Each row of a file over what is stored for that staff member: the file's columns
    change, the others stay (a new staff member gets the defaults)."""
    ids = [row["id"] for _, row in rows]
    stored = {r["id"]: dict(r) for r in conn.execute(
        select(staff).where(staff.c.id.in_(ids))).mappings()} if ids else {}
    spec = org.ENTITIES["staff"]
    return [(number, {k: v for k, v in stored.get(row["id"], {}).items()
                      if k in spec and k != "pin_hash"} | row) for number, row in rows]


def import_roster(conn: Connection, filename: str, parsed: Parsed) -> dict:
    """Check the ``parse``d roster file against the database and import it; raise
    ``BadRequest`` listing every bad row (``errors`` in its JSON body; ``problems_of`` gives
    them as ``Problem``). The file is parsed before the write transaction, not in it: reading
    an XLSX and hashing its PINs (~18 ms each) held the database's write lock, every kiosk's
    upload waiting behind it."""
    rows, errors, columns = parsed.rows, list(parsed.problems), parsed.columns
    rows = with_stored(conn, rows)
    in_file = frozenset(row["id"] for _, row in rows)
    first: dict[tuple, int] = {}   # (column, value, unit) → the row that has it
    for number, row in rows:
        try:
            org.check(conn, "staff", row, replaced=in_file)
        except BadRequest as exc:
            errors.append(Problem.refused(number, columns, exc))
        for name in ("badge", "staff_no") if row.get("active", True) else ():
            if row.get(name):
                key = (name, row[name], row.get("unit_id") if name == "staff_no" else None)
                if key in first:
                    errors.append(Problem.of(
                        f"row {number}, column {name!r}: {row[name]!r} is also in row "
                        f"{first[key]}: a kiosk would sign that person in instead",
                        "duplicate_sign_in", number, name, columns, value=row[name],
                        first=first[key]))
                first.setdefault(key, number)
    if errors:
        shown = errors[:200]
        raise BadRequest(f"{len(errors)} problem(s) in {filename}; nothing imported",
                         field="file", extra={"errors": [p.text for p in shown]},
                         detail_args={"msg": "roster_problems", "file": filename,
                                      "count": len(errors), "problems": [p.args for p in shown]})
    # checked above, against the file as a whole
    org.store_many(conn, "staff", [org.clean("staff", row) for _, row in rows])
    out: dict = {"imported": len(rows)}
    if parsed.warnings:
        out["warnings"] = [p.text for p in parsed.warnings]
    return out
