"""Numbered schema migrations, applied in order and recorded in ``schema_migrations``.

Each migration is a module ``mNNNN_<name>.py`` with ``NAME`` and ``upgrade(conn)``; once
shipped it is never edited. ``schema.py`` describes the current shape for queries.

>>> from aggregator.db import make_engine
>>> migrate(make_engine("sqlite://"))[0]
1
"""

from __future__ import annotations

import importlib
import pkgutil

from sqlalchemy import Column, Integer, MetaData, String, Table, select
from sqlalchemy.engine import Engine

from ..db import UTCDateTime, utcnow, write

_md = MetaData()
schema_migrations = Table(
    "schema_migrations", _md,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("name", String(200), nullable=False),
    Column("applied_at", UTCDateTime, nullable=False),
)


def available() -> list[tuple[int, object]]:
    """(version, module) of every migration in this package, in order."""
    found = []
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("m") and info.name[1:5].isdigit():
            found.append((int(info.name[1:5]), importlib.import_module(f"{__name__}.{info.name}")))
    return sorted(found, key=lambda pair: pair[0])


def migrate(engine: Engine) -> list[int]:
    """Apply the migrations not yet applied; returns their versions."""
    applied_now = []
    with write(engine) as conn:
        if conn.dialect.name == "postgresql":
            # Several workers may start at once: one migrates, the others wait.
            conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7007001)")
        _md.create_all(conn)
        done = set(conn.execute(select(schema_migrations.c.version)).scalars())
        for version, module in available():
            if version in done:
                continue
            module.upgrade(conn)
            conn.execute(schema_migrations.insert().values(
                version=version, name=module.NAME, applied_at=utcnow()))
            applied_now.append(version)
    return applied_now
