"""Migration 43: on SQLite the four rollup tables are stored in the order of their key
(``WITHOUT ROWID``); on both stores ``rollup_daily`` loses its second index on ``day``.

SQLite keeps an ordinary table as a B-tree ordered by a hidden rowid and its primary key as a
second B-tree that points into it, so each rollup upsert at ingest walks two trees and each
read of a key range (a month's ranking, a month of daily trend) looks every row up in the
table again. A ``WITHOUT ROWID`` table is one B-tree ordered by its primary key; SQLite's
documentation suggests it for tables with a non-integer or composite primary key and small
rows (https://www.sqlite.org/withoutrowid.html, "When To Use WITHOUT ROWID"): the rollup
tables are read and written only by their composite key, and their rows take ~60–90 bytes.
Measured on ``bench_dashboard``'s 10 months (1,000 windows, 29.8M ratings, 10.1M rollup rows),
the original database against a migrated copy: pages in use 1,654 MB and 874 MB; CPU
time of a month's ranking by window 45.7 instead of 47.8 ms, by unit 25.2 / 27.3 ms, by staff
283 / 315 ms, a month of the overview's daily trend 32.1 / 37.9 ms (in process, the two
databases alternated 12 times, medians).

``ix_rollup_day`` (migration 1) indexed ``rollup_daily.day``, which is the first column of
its primary key: the key serves the same range scans, and every ingest paid for the second
index. It is dropped on SQLite and PostgreSQL. PostgreSQL's tables stay as they are (a heap
with its indexes; it has no tables ordered by their key).

On SQLite each table is rebuilt in this migration's transaction (create, copy in key order,
drop, rename): 51 s for those 10.1M rows on the 2-core machine of docs/benchmarks.md's latest
run, during which ingest waits (kiosks keep their ratings and retry). The disk needs room for
a second copy of the rollups meanwhile; the old copy's pages stay in the file as free pages,
which later writes reuse (``VACUUM`` gives them back to the file system).

Shipped once released; never edit.
"""

from __future__ import annotations

from sqlalchemy import MetaData

from . import m0001_initial, m0002_rollup_monthly, m0040_rollup_unit_daily, m0042_rollup_window_monthly

NAME = "rollups clustered on their key"

TABLES = ("rollup_daily", "rollup_monthly", "rollup_unit_daily", "rollup_window_monthly")


def define(md: MetaData) -> None:
    """Mark the rollup tables of ``md`` (defined by earlier migrations) as they are from
    version 43 on: WITHOUT ROWID on SQLite, no ``ix_rollup_day``."""
    for name in TABLES:
        md.tables[name].dialect_options["sqlite"]["with_rowid"] = False
    daily = md.tables["rollup_daily"]
    daily.indexes = {ix for ix in daily.indexes if ix.name != "ix_rollup_day"}


def upgrade(conn) -> None:
    conn.exec_driver_sql("DROP INDEX IF EXISTS ix_rollup_day")
    if conn.dialect.name != "sqlite":
        return
    md = MetaData()
    for migration in (m0001_initial, m0002_rollup_monthly, m0040_rollup_unit_daily,
                      m0042_rollup_window_monthly):
        migration.define(md)
    define(md)
    for name in TABLES:
        table = md.tables[name]
        columns = ", ".join(f'"{c.name}"' for c in table.columns)
        key = ", ".join(f'"{c.name}"' for c in table.primary_key.columns)
        table.to_metadata(MetaData(), name=f"{name}_new").create(conn)
        conn.exec_driver_sql(f"INSERT INTO {name}_new ({columns}) SELECT {columns} FROM {name} "
                             f"ORDER BY {key}")
        conn.exec_driver_sql(f"DROP TABLE {name}")
        conn.exec_driver_sql(f"ALTER TABLE {name}_new RENAME TO {name}")
