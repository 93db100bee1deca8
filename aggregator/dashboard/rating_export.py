"""The per-rating export a district hands to the provincial 好差评 system: one row per rating
of a date range and a scope, CSV (UTF-8 with BOM) or XLSX, written as it is read.

The levels are written as the target numbers them (``sync.vocabulary.level_code``): the
national data standard GB/T 39046-2020 has 1 = 非常满意, the provincial interfaces
1 = 非常不满意. The citizen's phone number is never exported: its column is not even read.

>>> sel = Selection(dt.date(2026, 5, 1), dt.date(2026, 5, 31), ("U-01",), "provincial",
...                 False, dt.datetime(2026, 6, 1, tzinfo=dt.timezone.utc))
>>> sel.file_name("csv")
'ratings-provincial-2026-05-01-2026-05-31.csv'
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from dataclasses import dataclass
from typing import BinaryIO, Iterator

from sqlalchemy import and_, func, select
from sqlalchemy.engine import Connection

from .. import constants as C
from ..errors import BadRequest
from ..ratings import rated_time
from ..schema import ratings, service_items, units, windows
from .exports import _csv_text
from .periods import Period

COLUMNS = ("rating_id", "date", "time", "received_at", "unit_id", "unit_name", "window_id",
           "window_name", "staff_id", "staff_name", "service_item", "service_item_name",
           "case_no", "channel_code", "channel_name", "scale", "level", "level_name",
           "level_code", "stars", "bad", "reasons", "reason_names", "comment", "flagged",
           "flags")
WIDTHS = (38, 11, 9, 20, 10, 24, 10, 18, 10, 10, 14, 24, 16, 8, 16, 6, 18, 12, 8, 6, 6, 24,
          24, 40, 6, 20)
FORMATS = ("csv", "xlsx")
XLSX_MAX_ROWS = 1_048_575   # a sheet's 1,048,576 rows, less the header
FETCH = 2000                # rows fetched, and CSV rows encoded, at a time
# Characters XML 1.0 (so XLSX) cannot hold; a comment with one stopped openpyxl mid-file.
_NOT_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_SAFE_NAME = re.compile(r"[A-Za-z0-9_.-]{1,40}")


@dataclass(frozen=True)
class Selection:
    """What one export holds: the ratings counted on the local days ``day_from``…``day_to`` of
    ``units`` (the user's scope, already checked), stored at or before ``as_of`` (so the count
    audited and the rows written agree while ratings keep arriving)."""

    day_from: dt.date
    day_to: dt.date
    units: tuple
    target: str
    include_flagged: bool
    as_of: dt.datetime
    part: str | None = None   # the unit or region chosen (None: the whole scope)

    def file_name(self, fmt: str) -> str:
        # the chosen unit or region in the name: a district exporting its units one by one
        # got files all named alike; a code a header cannot carry plainly is left out
        part = f"{self.part}-" if self.part and _SAFE_NAME.fullmatch(self.part) else ""
        return f"ratings-{self.target}-{part}{self.day_from}-{self.day_to}.{fmt}"


def parse_target(value: str | None) -> str:
    if value not in C.EXPORT_TARGETS:
        raise BadRequest(f"target must be national (GB/T 39046-2020: 1 = 非常满意) or "
                         f"provincial (1 = 非常不满意), got {value!r:.40}", field="target")
    return value


def parse_format(value: str | None) -> str:
    if value not in FORMATS:
        raise BadRequest(f"format must be csv or xlsx, got {value!r:.40}", field="format")
    return value


def parse_day(value: str, field: str) -> dt.date:
    try:
        day = dt.date.fromisoformat(value) if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value) \
            else None
    except ValueError:
        day = None
    if day is None or not C.MIN_YEAR <= day.year <= C.MAX_YEAR:
        # the form's date picker sends a year of five digits as typed (20266-05-01)
        raise BadRequest(f"{field} must be a date YYYY-MM-DD in the years {C.MIN_YEAR}–"
                         f"{C.MAX_YEAR}, got {value!r:.40}", field=field, detail_args={
                             "msg": "date_years", "field": field, "value": value,
                             "lo": C.MIN_YEAR, "hi": C.MAX_YEAR})
    return day


def parse_days(period: str | None, day_from: str | None, day_to: str | None,
               today: dt.date) -> tuple[dt.date, dt.date]:
    """The local days of an export: ``from`` and ``to`` (both, inclusive), else a
    ``period`` (``2026-05``, ``2026-Q2``), else this month.

    >>> parse_days(None, "2026-05-03", "2026-05-09", dt.date(2026, 6, 1))
    (datetime.date(2026, 5, 3), datetime.date(2026, 5, 9))
    >>> parse_days("2026-02", None, None, dt.date(2026, 6, 1))
    (datetime.date(2026, 2, 1), datetime.date(2026, 2, 28))
    """
    if day_from or day_to:
        if not (day_from and day_to):
            raise BadRequest("give both from and to (YYYY-MM-DD), or a period",
                             field="to" if day_from else "from")
        first, last = parse_day(day_from, "from"), parse_day(day_to, "to")
        if first > last:
            raise BadRequest(f"from {first} is after to {last}", field="from", detail_args={
                "msg": "from_after_to", "first": first, "last": last})
        return first, last
    p = Period.parse(period, today)
    return p.start, p.end


def _base(sel: Selection, unit_id: str):
    where = [ratings.c.unit_id == unit_id, ratings.c.day >= sel.day_from.isoformat(),
             ratings.c.day <= sel.day_to.isoformat(), ratings.c.server_time <= sel.as_of]
    if not sel.include_flagged:
        where.append(ratings.c.flagged.is_(False))
    return and_(*where)


def count(conn: Connection, sel: Selection) -> int:
    """How many rows the export holds (ix_ratings_unit_day, one unit at a time)."""
    return sum(conn.execute(select(func.count()).select_from(ratings)
                            .where(_base(sel, unit_id))).scalar_one()
               for unit_id in sel.units)


def _query(sel: Selection, unit_id: str):
    # Not ratings.c.phone nor callback_consent: the phone number never leaves in an export.
    return (select(ratings.c.id, ratings.c.day, ratings.c.rated_at, ratings.c.device_time,
                   ratings.c.server_time,
                   ratings.c.unit_id, units.c.name.label("unit_name"), ratings.c.window_id,
                   windows.c.name.label("window_name"), ratings.c.staff_id,
                   ratings.c.staff_name, ratings.c.service_item,
                   service_items.c.name.label("item_name"), ratings.c.case_no,
                   ratings.c.channel, ratings.c.scale, ratings.c.level, ratings.c.stars,
                   ratings.c.reasons, ratings.c.comment, ratings.c.flagged, ratings.c.flags)
            .select_from(ratings
                         .outerjoin(units, units.c.id == ratings.c.unit_id)
                         .outerjoin(windows, windows.c.id == ratings.c.window_id)
                         .outerjoin(service_items,
                                    service_items.c.code == ratings.c.service_item))
            .where(_base(sel, unit_id))
            .order_by(ratings.c.day, ratings.c.server_time, ratings.c.id)
            .execution_options(yield_per=FETCH))


def rows(conn: Connection, sel: Selection, t, tz_hours: int) -> Iterator[list]:
    """The export's rows in ``COLUMNS`` order, unit by unit, then by day and arrival; read
    ``FETCH`` at a time (a server-side cursor on PostgreSQL), never all at once."""
    tz = dt.timezone(dt.timedelta(hours=tz_hours))
    list_sep = t("p_list")
    channel_names = {C.CHANNEL_HALL_TABLET: t("export_channel_4"),
                     C.CHANNEL_QR: t("export_channel_3")}
    yes, no = t("yes"), t("no")
    for unit_id in sel.units:
        for r in conn.execute(_query(sel, unit_id)):
            # The time the rating was made: its kiosk's clock corrected as its day was
            # (``rated_at``; a QR rating's arrival), so on its day. A rating stored before
            # migration 49 has only its kiosk's clock, never later than its arrival: when that
            # falls on another day than the corrected one it gives no time, not a wrong one.
            if r.rated_at is not None:
                time = r.rated_at.astimezone(tz).strftime("%H:%M:%S")
            else:
                when = rated_time(None, r.device_time, r.server_time).astimezone(tz)
                time = when.strftime("%H:%M:%S") if when.date().isoformat() == r.day else ""
            reasons = json.loads(r.reasons) if r.reasons else []
            flags = json.loads(r.flags) if r.flags else []
            yield [r.id, r.day, time, r.server_time.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S"),
                   r.unit_id, r.unit_name, r.window_id, r.window_name, r.staff_id,
                   r.staff_name, r.service_item, r.item_name, r.case_no, r.channel,
                   channel_names.get(r.channel, ""), r.scale, r.level,
                   t.level_names.get(r.level, r.level), C.level_code(r.level, sel.target),
                   r.stars, yes if r.stars <= C.BAD_STARS else no, ",".join(reasons),
                   list_sep.join(t.reason_names.get(k, k) for k in reasons), r.comment,
                   yes if r.flagged else no, ",".join(flags)]


def header(t) -> list[str]:
    return [t("xcol_" + c) for c in COLUMNS]


def csv_chunks(body: Iterator[list], head: list[str]) -> Iterator[bytes]:
    """The CSV file in pieces: BOM and ``head``, then ``FETCH`` rows at a time. A text that a
    spreadsheet would run as a formula gets a leading apostrophe, as in the ranking CSV.
    (The case ledger's too, ``case_export``.)"""
    out = io.StringIO()
    out.write("\ufeff")
    w = csv.writer(out)
    w.writerow(head)
    for n, row in enumerate(body, start=1):
        w.writerow([_csv_text(v) for v in row])
        if n % FETCH == 0:
            yield out.getvalue().encode("utf-8")
            out.seek(0)
            out.truncate()
    yield out.getvalue().encode("utf-8")


def write_xlsx(body: Iterator[list], head: list[str], widths: tuple, target: BinaryIO,
               title: str) -> None:
    """The XLSX file into ``target``, in openpyxl's write-only mode (rows go to disk as they
    come), its columns ``head``, ``widths`` wide. Text stays text: a value starting with '='
    is not made a formula."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font, PatternFill

    book = Workbook(write_only=True)
    sheet = book.create_sheet(title[:31])
    for n, width in enumerate(widths, start=1):
        sheet.column_dimensions[_letter(n)].width = width
    sheet.freeze_panes = "A2"
    bold, fill = Font(bold=True, color="FFFFFF"), PatternFill("solid", fgColor="1F4E79")
    cells = []
    for name in head:
        cell = WriteOnlyCell(sheet, value=name)
        cell.font, cell.fill = bold, fill
        cells.append(cell)
    sheet.append(cells)
    for row in body:
        sheet.append([_xlsx_value(sheet, v) for v in row])
    book.save(target)


def _letter(n: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(n)


def _xlsx_value(sheet, value):
    if not isinstance(value, str):
        return value
    value = _NOT_XML.sub("\ufffd", value)
    if value.startswith("="):
        from openpyxl.cell import WriteOnlyCell

        cell = WriteOnlyCell(sheet, value=value)
        cell.data_type = "s"
        return cell
    return value


def write_file(conn: Connection, sel: Selection, fmt: str, t, tz_hours: int,
               target: BinaryIO) -> None:
    """The whole export as ``fmt`` into ``target`` (the dashboard's temporary file, the
    command's output file), read from ``conn`` as it is written."""
    body = rows(conn, sel, t, tz_hours)
    if fmt == "csv":
        for chunk in csv_chunks(body, header(t)):
            target.write(chunk)
    else:
        write_xlsx(body, header(t), WIDTHS, target, t("ratings_sheet"))


def check_size(fmt: str, n: int, rows: str = "ratings") -> None:
    """Refuse an XLSX of more ``rows`` ("ratings", "cases": the case ledger) than a sheet holds."""
    if fmt == "xlsx" and n > XLSX_MAX_ROWS:
        raise BadRequest(f"{n:,} {rows} do not fit in one XLSX sheet ({XLSX_MAX_ROWS:,} rows "
                         "at most): export CSV, or fewer days", field="format", detail_args={
                             "msg": "xlsx_too_many" + ("" if rows == "ratings" else "_" + rows),
                             "count": f"{n:,}", "max": f"{XLSX_MAX_ROWS:,}"})


def audit_detail(sel: Selection, fmt: str, n: int, part, scope: str) -> dict:
    """What the audit log keeps of an export: period, the user's scope and the unit or
    region chosen in it (``part``: an ``export_scope.Part`` or None), choices, row count."""
    return {"from": sel.day_from.isoformat(), "to": sel.day_to.isoformat(),
            "unit": part.id if part and part.kind == "unit" else None,
            "region": part.id if part and part.kind == "region" else None,
            "scope": scope, "units": len(sel.units), "target": sel.target, "format": fmt,
            "include_flagged": sel.include_flagged, "count": n,
            "as_of": sel.as_of.isoformat()}
