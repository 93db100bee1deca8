"""A database as an older release left it: the migrations up to a version applied, recorded in
``schema_migrations`` as ``migrate`` records them, for tests of the migrations after it."""

from __future__ import annotations

from aggregator.db import make_engine, utcnow, write
from aggregator.migrations import available, schema_migrations


def database_at_version(url: str, last: int):
    """An engine on ``url`` with migrations 1 … ``last`` applied."""
    engine = make_engine(url)
    with write(engine) as conn:
        schema_migrations.create(conn)
        for version, module in available():
            if version <= last:
                module.upgrade(conn)
                conn.execute(schema_migrations.insert().values(
                    version=version, name=module.NAME, applied_at=utcnow()))
    return engine
