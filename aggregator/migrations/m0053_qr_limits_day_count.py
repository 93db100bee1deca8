"""Migration 53: a QR client's daily budget counted in one row; the limits forgotten by time.

Each QR rating POST counted its client's stored ratings of the day as rows, one per rating
(``d|<client>|<window>|<day>|<n>``), by key prefix, and forgot old keys with three deletes by
key prefix and time; neither could use an index (SQLite's LIKE is case-insensitive, and
PostgreSQL's needs the C collation), so every POST read the whole ``qr_limits`` table while
holding the database's write lock, which on SQLite held the kiosks' uploads back too
(150,000 rows: 34.5 ms per POST on SQLite, 20.9 ms on PostgreSQL).

- ``qr_limits.uses``: the ratings stored under a day key ``d|<client>|<window>|<day>``,
  counted by one upsert (``qr_page._in_budget``); 0 for the other keys. The per-rating rows
  become their day key's count here.
- ``ix_qr_limits_kind_last_at``: the keys by kind (their first letter) and time, for
  forgetting the old ones of each kind (``qr_page._forget_old``). By time alone, each kind's
  delete would read the other kinds' keys kept longer (a day's budgets, a week's follow-ups).
  A query must say ``substr(client_key, 1, 1)`` literally (not with bound parameters) for
  the index to be usable.

On a large PostgreSQL database create the index beforehand, ``KIND_LAST_AT`` below with
``CONCURRENTLY`` after ``CREATE INDEX``; this migration then finds it.

Shipped once released; never edit.
"""

from __future__ import annotations

import re
from collections import defaultdict

from sqlalchemy import Column, Integer, MetaData, bindparam, column, table, text

NAME = "QR daily budget in one row, limits forgotten by time"

KIND_LAST_AT = ("CREATE INDEX IF NOT EXISTS ix_qr_limits_kind_last_at ON qr_limits "
                "(substr(client_key, 1, 1), last_at)")

# one stored rating of a day key, as written before this migration
_ONE_USE = re.compile(r"(d\|.*\|\d{4}-\d{2}-\d{2})\|\d+")


def _column() -> Column:
    return Column("uses", Integer, nullable=False, default=0, server_default=text("0"))


def define(md: MetaData) -> None:
    """Add the column to ``md``'s qr_limits table."""
    if "qr_limits" in md.tables and "uses" not in md.tables["qr_limits"].c:
        md.tables["qr_limits"].append_column(_column())


def upgrade(conn) -> None:
    kind = _column().type.compile(dialect=conn.dialect)
    conn.exec_driver_sql(f"ALTER TABLE qr_limits ADD COLUMN uses {kind} NOT NULL DEFAULT 0")
    # Day keys are at most a day's clients' (forgotten after 25 hours): read once here. A
    # rating's row always came with its day's row, noted later, so forgotten no sooner.
    keys = conn.execute(text("SELECT client_key FROM qr_limits "
                             "WHERE client_key LIKE 'd|%'")).scalars().all()
    counts: dict[str, int] = defaultdict(int)
    for key in keys:
        found = _ONE_USE.fullmatch(key)
        if found:
            counts[found[1]] += 1
    if counts:
        limits = table("qr_limits", column("client_key"), column("uses"))
        conn.execute(limits.update().where(limits.c.client_key == bindparam("day"))
                     .values(uses=bindparam("n")),
                     [{"day": day, "n": n} for day, n in counts.items()])
        conn.execute(limits.delete().where(limits.c.client_key == bindparam("key")),
                     [{"key": key} for key in keys if _ONE_USE.fullmatch(key)])
    conn.exec_driver_sql(KIND_LAST_AT)
