"""Numbered schema migrations, applied in order and recorded in ``schema_migrations``.

Each migration is a module ``mNNNN_<name>.py`` with ``NAME`` and ``upgrade(conn)``; once
shipped it is never edited. ``schema.py`` describes the current shape for queries.

>>> from aggregator.db import make_engine
>>> migrate(make_engine("sqlite://"))[0]
1
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
import time
from typing import Callable

from sqlalchemy import Column, Integer, MetaData, String, Table, inspect, select
from sqlalchemy.engine import Engine

from ..db import UTCDateTime, hide_password, utcnow, write
from ..errors import ConfigError

log = logging.getLogger("aggregator.migrations")
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


def latest() -> int:
    """The newest migration this release has."""
    return available()[-1][0]


def check_version(version: int | None, name: str) -> None:
    """ConfigError when ``version`` (the newest migration applied to the database ``name``)
    is newer than this release knows."""
    if version is not None and version > latest():
        # An older release took it as "up to date" and served (or restored) it: it would
        # write rows without the newer columns' values and misread what the newer one stored.
        raise ConfigError(f"{name}: schema version {version} is newer than this release knows "
                          f"({latest()}); install the newer release (or restore a backup made "
                          "by this one)")


def _foreign_tables(conn) -> list[str]:
    """Tables of ours in a database without ``schema_migrations``: another program's (a kiosk
    database has ``events``), on which the migrations failed with "no such column: device_id"."""
    from ..schema import metadata

    return sorted(set(inspect(conn).get_table_names()) & set(metadata.tables))


def migrate(engine: Engine, say: Callable[[str], None] | None = None) -> list[int]:
    """Apply the migrations not yet applied; returns their versions. Each one's start and end
    are logged (``aggregator.migrations``) and, when given, passed to ``say`` as a line.

    ConfigError, with nothing changed, for a database of a newer release or of another program.
    """
    def tell(message: str, *args, fields: dict) -> None:
        log.info(message, *args, extra={"fields": fields})
        if say is not None:
            say(message % args)

    applied_now = []
    name = f"database {hide_password(engine.url.render_as_string(hide_password=True))}"  # ?password= too
    with write(engine) as conn:
        if conn.dialect.name == "postgresql":
            # Several workers may start at once: one migrates, the others wait.
            conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7007001)")
        if not inspect(conn).has_table("schema_migrations"):
            clash = _foreign_tables(conn)
            if clash:
                raise ConfigError(f"{name} is not an aggregator database: it holds tables of "
                                  f"another program ({', '.join(clash[:3])}; a kiosk "
                                  "database?); give the aggregator's database")
        _md.create_all(conn)
        done = set(conn.execute(select(schema_migrations.c.version)).scalars())
        check_version(max(done, default=None), name)
        began = time.monotonic()
        for version, module in available():
            if version in done:
                continue
            # An upgrade says each migration as it starts and ends: one on a large table takes
            # minutes, the server does not listen meanwhile, and nothing told an operator why
            # (docs/operations.md). A new database says only the total.
            started = time.monotonic()
            if done:
                tell("migration %d (%s) starting", version, module.NAME,
                     fields={"migration": version})
            module.upgrade(conn)
            conn.execute(schema_migrations.insert().values(
                version=version, name=module.NAME, applied_at=utcnow()))
            if done:
                seconds = time.monotonic() - started
                tell("migration %d done in %.1f s", version, seconds,
                     fields={"migration": version, "seconds": round(seconds, 3)})
            applied_now.append(version)
        if applied_now:
            tell("%d migrations applied in %.1f s; schema version %d", len(applied_now),
                 time.monotonic() - began, applied_now[-1], fields={"migrations": applied_now})
    return applied_now
