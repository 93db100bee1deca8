"""Publishing a period of the assessment (发布) and taking it back (撤回发布): the results of
the units are recomputed and frozen in ``assessment_results``, the awards given again, and
the config version bumped so kiosks pull the new stars. Reading the frozen results is
``assessment_store.published``.

Only a period that has ended is published: the results of a month still running are not
results, and its stars would reach the kiosks.
"""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import delete, select, update
from sqlalchemy.engine import Connection

from .. import org
from ..errors import BadRequest
from .assessment_config import PARTS, AssessmentSettings
from .assessment_store import (
    AlreadyPublished,
    NotPublished,
    PeriodNotEnded,
    check_month,
    compute,
    mark_awards,
    published_units,
)
from .assessment_tables import assessment_published, assessment_results
from .periods import Period


def check_ended(period: Period, today: dt.date) -> None:
    """Refuse a period that has not ended on ``today`` (the site's day)."""
    if period.start > today:   # the page's publish button under a link to a month to come
        raise BadRequest(f"period {period.key} has not begun", field="period",
                         detail_args={"msg": "period_not_begun", "period": period.key})
    if period.end >= today:
        raise PeriodNotEnded(f"period {period.key} has not ended; its results can be "
                             f"published after {period.end.isoformat()}", field="period",
                             detail_args={"msg": "period_not_ended", "period": period.key,
                                          "end": period.end.isoformat()})


def publish(conn: Connection, period: Period, unit_ids: set[str], user: dict,
            settings: AssessmentSettings, prior: float, now: dt.datetime,
            today: dt.date) -> int:
    """Freeze the period's results of those of ``unit_ids`` not published yet (recomputed
    now), then the awards of every unit or region they belong to; bumps the config version
    so kiosks pull the new stars. ``today``: the site's day (a period ends at midnight
    there, not in UTC). Returns the number of rows frozen; ``AlreadyPublished`` when every
    one of the units was published (take the period back first)."""
    check_month(period)
    check_ended(period, today)
    done = published_units(conn, period.key, unit_ids)
    # A published unit is never published over: that deleted the frozen result of anyone
    # who had moved to another unit since (the new unit then listed and published them
    # again), and changed results the kiosks and the public page had shown.
    unit_ids = set(unit_ids) - done
    if not unit_ids:
        raise AlreadyPublished(f"period {period.key} is published for {', '.join(sorted(done))}"
                               "; take it back before publishing again", field="period",
                               detail_args={"msg": "already_published", "period": period.key})
    live = compute(conn, period, unit_ids, settings, prior)
    # A part weighted 0 is kept with weight 0, so the frozen row can tell it from a missing
    # part (weighted, but absent); ``assessment_store._frozen_rows`` reads it back.
    unweighted = {k: 0.0 for k in PARTS if settings.weights.get(k, 0) <= 0}
    rows = [{"period": period.key, "kind": x["kind"], "target_id": x["id"],
             "unit_id": x["unit_id"], "region_id": x["region_id"], "name": x["name"],
             "citizens": x["citizens"], "rated": x["rated"], "peers": x["peers"],
             "reviewers": x["reviewers"], "leaders": x["leaders"], "composite": x["composite"],
             "weights": json.dumps(unweighted | x["weights_used"]), "stars": x["stars"],
             "award": False}
            for x in live["staff"] + live["windows"]]
    if rows:
        conn.execute(assessment_results.insert(), rows)
    conn.execute(assessment_published.insert(), [
        {"period": period.key, "unit_id": u, "published_at": now,
         "published_by": user.get("username")} for u in sorted(unit_ids)])
    _refresh_awards(conn, period.key, settings)
    org.bump_version(conn)
    return len(rows)


def unpublish(conn: Connection, period: Period, unit_ids: set[str],
              settings: AssessmentSettings) -> int:
    """Take back the published results of ``period`` for ``unit_ids``: the period is live
    (and, while it is still taken, open for reviews and comments) again; the awards of the
    other published units are given again, kiosks drop the stars at their next pull.
    Returns the number of units taken back; ``NotPublished`` when there was none."""
    p, r = assessment_published.c, assessment_results.c
    done = sorted(conn.execute(select(p.unit_id).where(
        p.period == period.key, p.unit_id.in_(sorted(unit_ids)))).scalars())
    if not done:
        raise NotPublished(f"period {period.key} is not published for "
                           f"{', '.join(sorted(unit_ids))}", field="period",
                           detail_args={"msg": "not_published", "period": period.key})
    conn.execute(delete(assessment_results).where(r.period == period.key,
                                                  r.unit_id.in_(done)))
    conn.execute(delete(assessment_published).where(p.period == period.key,
                                                    p.unit_id.in_(done)))
    _refresh_awards(conn, period.key, settings)
    org.bump_version(conn)
    return len(done)


def _refresh_awards(conn: Connection, period: str, settings: AssessmentSettings) -> None:
    r = assessment_results.c
    wins = [dict(x) for x in conn.execute(select(assessment_results).where(
        r.period == period, r.kind == "window")).mappings()]
    for w in wins:
        w["id"] = w["target_id"]
    mark_awards(wins, settings)
    conn.execute(update(assessment_results).where(r.period == period, r.kind == "window")
                 .values(award=False))
    for w in wins:
        if w["award"]:
            conn.execute(update(assessment_results).where(
                r.period == period, r.kind == "window", r.target_id == w["id"]).values(award=True))
