"""The supervisor web dashboard: accounts, overview, rankings and bulletins, bad-rating cases,
drill-down, devices, roster, public results. ``mount(app)`` adds it to the aggregator app.

The ingest transaction opens cases with ``open_cases_for(conn, rating_rows, now)``; the case
queue catches up with ``sync_cases(conn, now)``.
"""

from .cases import open_cases_for, sync_cases
from .mount import mount

__all__ = ["mount", "open_cases_for", "sync_cases"]
