"""The assessment's data: peer reviews, leader comments, the live composite per staff member
and window, the frozen results of a published period (star levels, the rotating award) and
what a kiosk shows of it. All SQL of the assessment lives here, in ``assessment_publish.py``
(publishing and taking back) and in ``pledges.py``.

A person's (or window's) period belongs to one unit: the unit that published it, else the
unit they are in now; reviews and comments count for them wherever they were given.

Anonymity: ``peer_reviews.reviewer_id`` is read only to enforce one review per reviewer per
colleague per period and to tell a reviewer whom they have reviewed; every other query
aggregates over reviewers and nothing returns who reviewed whom.
"""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.engine import Connection

from .. import stats
from ..db import insert_ignore
from ..errors import AggregatorError, BadRequest, Forbidden, NotFound
from ..schema import staff, units, windows
from . import assessment
from .assessment_config import PARTS, AssessmentSettings
from .assessment_tables import (
    assessment_published,
    assessment_results,
    leader_comments,
    peer_review_scores,
    peer_reviews,
)
from .periods import Period

KINDS = ("staff", "window")
MAX_COMMENT = 2000


class Refused(AggregatorError):
    """A rule of the assessment refuses this; ``detail_args`` says which (its own words)."""

    status = 409
    code = "refused"


class AlreadyReviewed(Refused):
    """This reviewer has already reviewed this colleague in this period."""

    code = "already_reviewed"


class PeriodClosed(Refused):
    """The period is published (frozen) or not open for reviews and comments."""

    code = "period_closed"


class PeriodNotEnded(Refused):
    """The period is still running: its results cannot be published yet."""

    code = "period_not_ended"


class NotPublished(Refused):
    """None of these units has published this period: nothing to take back."""

    code = "not_published"


class AlreadyPublished(Refused):
    """The unit has published this period already: take it back before publishing again."""

    code = "already_published"


def check_month(period: Period) -> Period:
    """Refuse a period that is not a month. The assessment is monthly: reviews and comments
    are kept by month, so a quarter's composite was the citizens' part alone, and once
    published its stars reached the kiosks."""
    if period.kind != "month":
        raise BadRequest(f"the assessment is by month (YYYY-MM), got {period.key}",
                         field="period", detail_args={"msg": "period_month_only",
                                                      "period": period.key})
    return period


def open_periods(today: dt.date) -> list[Period]:
    """Periods a review or comment may be given for: this month and the one before."""
    this = Period("month", today.year, today.month)
    return [this, this.previous()]


def is_published(conn: Connection, period: str, unit_id: str) -> bool:
    p = assessment_published.c
    return conn.execute(select(p.period).where(p.period == period, p.unit_id == unit_id)) \
        .first() is not None


def published_units(conn: Connection, period: str, unit_ids: set[str]) -> set[str]:
    """Those of ``unit_ids`` that have published ``period``."""
    p = assessment_published.c
    return set(conn.execute(select(p.unit_id).where(
        p.period == period, p.unit_id.in_(sorted(unit_ids)))).scalars())


def frozen_units(conn: Connection, period: str) -> dict[tuple[str, str], str]:
    """(kind, target) → the unit whose published results of ``period`` hold it."""
    r = assessment_results.c
    return {(k, t): u for k, t, u in conn.execute(
        select(r.kind, r.target_id, r.unit_id).where(r.period == period)).all()}


def _check_open(conn: Connection, period: Period, unit_id: str, today: dt.date,
                target: tuple[str, str]) -> None:
    # From the pages: a form opened on a month's last day and sent the next; a unit
    # published by a supervisor while the form was open; a link kept for a month to come.
    # A person's period belongs to the unit that published it, else to their unit now
    # (docs/assessment.md, "Moving to another unit"): a move does not reopen it.
    periods = open_periods(today)
    taken = [p.key for p in periods]
    if period.key not in taken:
        msg = "period_to_come" if period.start > today else \
            "period_not_open" if period.end < periods[-1].start else "period_not_taken"
        raise PeriodClosed(f"period {period.key} is not open; reviews and comments are taken "
                           f"for {', '.join(taken)}", field="period", detail_args={
                               "msg": msg, "period": period.key, "open": taken})
    r = assessment_results.c
    unit = conn.execute(select(r.unit_id).where(   # the one target, not the period's results
        r.period == period.key, r.kind == target[0], r.target_id == target[1])).scalar() or \
        (unit_id if is_published(conn, period.key, unit_id) else None)
    if unit:
        raise PeriodClosed(f"period {period.key} of unit {unit} is published and frozen",
                           field="period", detail_args={"msg": "period_published",
                                                        "period": period.key, "unit": unit})


# ---- peer review -----------------------------------------------------------------------

def staff_row(conn: Connection, staff_id: str) -> dict | None:
    row = conn.execute(select(staff).where(staff.c.id == staff_id)).mappings().first()
    return dict(row) if row else None


def colleagues(conn: Connection, unit_id: str) -> list[dict]:
    """Active staff of a unit with their window's name, by id."""
    q = (select(staff.c.id, staff.c.name, staff.c.post, staff.c.window_id,
                windows.c.name.label("window_name"))
         .outerjoin(windows, windows.c.id == staff.c.window_id)
         .where(staff.c.unit_id == unit_id, staff.c.active.is_(True)).order_by(staff.c.id))
    return [dict(r) for r in conn.execute(q).mappings()]


def reviewed_by(conn: Connection, period: str, reviewer_id: str) -> set[str]:
    """Whom ``reviewer_id`` has reviewed in ``period`` (shown to that reviewer only)."""
    r = peer_reviews.c
    return set(conn.execute(select(r.reviewee_id).where(
        r.period == period, r.reviewer_id == reviewer_id)).scalars())


def submit_review(conn: Connection, period: Period, reviewer: dict, reviewee_id: str,
                  scores: dict, settings: AssessmentSettings, now: dt.datetime,
                  today: dt.date) -> int:
    """Store one review (scores 1-5 per criterion); a second one of the same colleague in
    the same period is refused (``AlreadyReviewed``), never overwritten."""
    unit_id = reviewer["unit_id"]
    target = staff_row(conn, reviewee_id)
    if target is None or target["unit_id"] != unit_id or not target["active"]:
        raise NotFound(f"no colleague {reviewee_id!r} in your unit")
    _check_open(conn, period, unit_id, today, ("staff", reviewee_id))
    clean = {}
    for c in settings.criteria:
        value = scores.get(c["code"])
        try:
            value = int(value)
        except (TypeError, ValueError):
            value = 0
        if not 1 <= value <= 5:   # the form asks for every one: the criteria just changed
            raise BadRequest(f"score {c['code']} must be 1-5, got {scores.get(c['code'])!r:.20}",
                             field=c["code"], detail_args={
                                 "msg": "review_score", "zh": c.get("zh") or c["code"],
                                 "en": c.get("en") or c["code"]})
        clean[c["code"]] = value
    inserted = insert_ignore(conn, peer_reviews, [{
        "period": period.key, "unit_id": unit_id, "reviewer_id": reviewer["id"],
        "reviewee_id": reviewee_id, "self_review": reviewee_id == reviewer["id"],
        "created_at": now}], returning="id")
    if not inserted:
        raise AlreadyReviewed(f"you have already reviewed {target['name']} for {period.key}; "
                              "a review cannot be changed", detail_args={
                                  "msg": "already_reviewed", "name": target["name"],
                                  "period": period.key})
    review_id = next(iter(inserted))
    conn.execute(peer_review_scores.insert(), [
        {"review_id": review_id, "criterion": k, "score": v} for k, v in clean.items()])
    return review_id


def _staff_of(unit_ids: set[str]):
    """The ids of the staff who are in ``unit_ids`` now (a subquery)."""
    return select(staff.c.id).where(staff.c.unit_id.in_(sorted(unit_ids)))


def peer_parts(conn: Connection, period: str, unit_ids: set[str], settings: AssessmentSettings,
               self_review: bool = False) -> dict[str, dict]:
    """Per reviewee of ``unit_ids`` (their unit now, wherever the reviews were given):
    ``reviewers``, ``by_criterion`` (mean 1-5) and ``score`` (0-100, None under
    ``min_reviewers``). Colleagues' reviews only, or only self-reviews."""
    r, s = peer_reviews.c, peer_review_scores.c
    mine = and_(r.period == period, r.reviewee_id.in_(_staff_of(unit_ids)),
                r.self_review.is_(self_review))
    q = (select(r.reviewee_id, s.criterion, func.count(), func.sum(s.score))
         .join(peer_review_scores, s.review_id == r.id).where(mine)
         .group_by(r.reviewee_id, s.criterion))
    out: dict[str, dict] = {}
    for reviewee, criterion, n, total in conn.execute(q).all():
        d = out.setdefault(reviewee, {"by_criterion": {}, "n": 0, "sum": 0})
        d["by_criterion"][criterion] = round(int(total) / int(n), 2)
        d["n"] += int(n)
        d["sum"] += int(total)
    counts = dict(conn.execute(
        select(r.reviewee_id, func.count()).where(mine).group_by(r.reviewee_id)).all())
    minimum = 1 if self_review else settings.min_reviewers
    for reviewee, d in out.items():
        d["reviewers"] = int(counts.get(reviewee, 0))
        enough = d["reviewers"] >= minimum
        d["score"] = assessment.from_stars(d["sum"] / d["n"]) if enough and d["n"] else None
        if not enough:
            d["by_criterion"] = {}  # too few to show without pointing at a reviewer
        del d["n"], d["sum"]
    return out


# ---- leader comments ---------------------------------------------------------------------

def target_unit(conn: Connection, kind: str, target_id: str) -> str | None:
    table = staff if kind == "staff" else windows
    return conn.execute(select(table.c.unit_id).where(table.c.id == target_id)).scalar()


def save_comment(conn: Connection, period: Period, user: dict, kind: str, target_id: str,
                 score: float, comment: str, allowed: set[str], now: dt.datetime,
                 today: dt.date) -> dict | None:
    """A leader's comment and score (0-100) on a staff member or window; one per leader,
    target and period (saving again replaces it until the period is published). Returns
    the score and comment it replaced (for the audit log), or None."""
    if kind not in KINDS:
        raise BadRequest(f"target kind must be staff or window, got {kind!r:.20}", field="kind")
    unit_id = target_unit(conn, kind, target_id)
    if unit_id is None or unit_id not in allowed:
        raise NotFound(f"no {kind} {target_id!r} in your scope")
    _check_open(conn, period, unit_id, today, (kind, target_id))
    if not 0 <= score <= 100:
        raise BadRequest(f"score must be 0-100, got {score}", field="score")
    comment = (comment or "").strip()
    if not comment or len(comment) > MAX_COMMENT:
        raise BadRequest("a comment of 1-2000 characters is needed", field="comment",
                         detail_args={"msg": "too_long", "field": "comment",
                                      "limit": MAX_COMMENT, "length": len(comment)} if comment
                         else {"msg": "required", "field": "comment"})
    c = leader_comments.c
    where = and_(c.period == period.key, c.target_kind == kind, c.target_id == target_id,
                 c.author_id == user["id"])
    found = conn.execute(select(c.score, c.comment).where(where)).mappings().first()
    values = {"score": float(score), "comment": comment, "updated_at": now, "unit_id": unit_id,
              "author_name": user.get("display_name") or user["username"]}
    if found:
        conn.execute(update(leader_comments).where(where).values(**values))
    else:
        conn.execute(leader_comments.insert().values(
            period=period.key, target_kind=kind, target_id=target_id,
            author_id=user["id"], created_at=now, **values))
    return {"score": found["score"], "comment": found["comment"]} if found else None


def _on_targets_of(unit_ids: set[str]):
    """Comments on the staff and windows that are in ``unit_ids`` now."""
    c = leader_comments.c
    wins = select(windows.c.id).where(windows.c.unit_id.in_(sorted(unit_ids)))
    return or_(and_(c.target_kind == "staff", c.target_id.in_(_staff_of(unit_ids))),
               and_(c.target_kind == "window", c.target_id.in_(wins)))


def comments(conn: Connection, unit_ids: set[str], period: str | None = None,
             targets: list[tuple[str, str]] | None = None) -> list[dict]:
    """Leader comments on the staff and windows of units (a period, or all), optionally only
    on ``targets``."""
    c = leader_comments.c
    q = select(leader_comments).where(_on_targets_of(unit_ids))
    if period:
        q = q.where(c.period == period)
    rows = [dict(r) for r in conn.execute(q.order_by(c.period.desc(), c.updated_at.desc()))
            .mappings()]
    if targets is not None:
        rows = [r for r in rows if (r["target_kind"], r["target_id"]) in set(targets)]
    return rows


def leader_parts(conn: Connection, period: str, unit_ids: set[str]) -> dict[tuple, dict]:
    """(kind, target) → mean leader score and number of comments, for the staff and windows
    of ``unit_ids`` (their unit now, wherever the comments were given)."""
    c = leader_comments.c
    q = (select(c.target_kind, c.target_id, func.count(), func.avg(c.score))
         .where(c.period == period, _on_targets_of(unit_ids))
         .group_by(c.target_kind, c.target_id))
    return {(k, t): {"score": round(float(avg), 2), "comments": int(n)}
            for k, t, n, avg in conn.execute(q).all()}


# ---- composite -------------------------------------------------------------------------

def compute(conn: Connection, period: Period, unit_ids: set[str], settings: AssessmentSettings,
            prior: float) -> dict:
    """The live assessment of ``period`` for ``unit_ids``: ``{"staff": rows, "windows": rows}``.

    The staff and windows of ``unit_ids`` now, less those whose period another unit has
    published (their frozen result stands there: one result per person and period). The
    citizens' part is smoothed over every window (or staff member) of the whole system in
    the period, so scores of different units compare on one scale.
    """
    unit_ids = set(unit_ids)
    unit_rows = {r["id"]: dict(r) for r in conn.execute(
        select(units.c.id, units.c.name, units.c.region_id).where(
            units.c.id.in_(sorted(unit_ids)))).mappings()}
    by_staff = {r["key"]: r for r in stats.compute(conn, "staff", period.start, period.end,
                                                   prior=prior)["rows"]}
    by_window = {r["key"]: r for r in stats.compute(conn, "window", period.start, period.end,
                                                    prior=prior)["rows"]}
    peers = peer_parts(conn, period.key, unit_ids, settings)
    leaders = leader_parts(conn, period.key, unit_ids)
    staff_rows = [dict(r) for r in conn.execute(
        select(staff.c.id, staff.c.name, staff.c.unit_id, staff.c.window_id)
        .where(staff.c.unit_id.in_(sorted(unit_ids)), staff.c.active.is_(True))
        .order_by(staff.c.id)).mappings()]
    win_rows = [dict(r) for r in conn.execute(
        select(windows.c.id, windows.c.name, windows.c.unit_id)
        .where(windows.c.unit_id.in_(sorted(unit_ids)), windows.c.active.is_(True))
        .order_by(windows.c.id)).mappings()]
    frozen = frozen_units(conn, period.key)
    staff_rows = [r for r in staff_rows
                  if frozen.get(("staff", r["id"]), r["unit_id"]) == r["unit_id"]]
    win_rows = [r for r in win_rows
                if frozen.get(("window", r["id"]), r["unit_id"]) == r["unit_id"]]

    def row(kind, target, name, unit_id, citizen_stats, peer, leader):
        rated = citizen_stats["rated"] if citizen_stats else 0
        parts = {"citizens": assessment.from_stars(citizen_stats["smoothed"])
                 if rated else None,
                 "peers": peer.get("score") if peer else None,
                 "leaders": leader["score"] if leader else None}
        c = assessment.composite(parts, settings.weights)
        return {"kind": kind, "id": target, "name": name, "unit_id": unit_id,
                "unit_name": unit_rows.get(unit_id, {}).get("name", unit_id),
                "region_id": unit_rows.get(unit_id, {}).get("region_id"),
                "rated": rated, "rate": citizen_stats["rate"] if citizen_stats else None,
                "reviewers": peer.get("reviewers", 0) if peer else 0,
                "by_criterion": peer.get("by_criterion", {}) if peer else {},
                "comments": leader["comments"] if leader else 0,
                **parts, "composite": c["score"], "weights_used": c["weights_used"],
                "missing": c["missing"], "renormalised": c["renormalised"],
                "stars": assessment.star_level(c["score"], settings.thresholds),
                "award": False}

    out_staff = [row("staff", s["id"], s["name"], s["unit_id"], by_staff.get(s["id"]),
                     peers.get(s["id"]), leaders.get(("staff", s["id"])))
                 for s in staff_rows]
    out_windows = []
    for w in win_rows:
        mine = [r for r in out_staff if any(s["id"] == r["id"] and s["window_id"] == w["id"]
                                            for s in staff_rows) and r["peers"] is not None]
        peer = None
        if mine:  # a window's peer part: the mean of its staff's peer parts
            # "reviewers" here counts reviews (the page says 份, not 人): one colleague who
            # reviewed two of the window's staff is two (it said "6 人互评" of 4 people)
            peer = {"score": round(sum(r["peers"] for r in mine) / len(mine), 2),
                    "reviewers": sum(r["reviewers"] for r in mine)}
        out_windows.append(row("window", w["id"], w["name"], w["unit_id"], by_window.get(w["id"]),
                               peer, leaders.get(("window", w["id"]))))
    mark_awards(out_windows, settings)
    return {"period": period, "staff": sorted(out_staff, key=rank_key),
            "windows": sorted(out_windows, key=rank_key)}


def rank_key(row: dict) -> tuple:
    """The order of a ranking: highest composite first, then id; no composite: last."""
    return (row["composite"] is None, -(row["composite"] or 0), row["id"])


def mark_awards(window_rows: list[dict], settings: AssessmentSettings) -> None:
    """Set ``award`` on the best window of each unit (or region): highest composite, then
    more ratings, then id; only windows with ``award_min_ratings`` ratings compete."""
    groups: dict = {}
    for r in window_rows:
        r["award"] = False
        if r["composite"] is None or r["rated"] < settings.award_min_ratings:
            continue
        group = r["unit_id"] if settings.award_scope == "unit" else r["region_id"]
        groups.setdefault(group, []).append(r)
    for rows in groups.values():
        # the lowest id wins a tie, as the ranking lists it (rank_key): negating each
        # character gave "W-10" the flag over "W-1"
        min(rows, key=lambda r: (-r["composite"], -r["rated"], r["id"]))["award"] = True


# ---- published results (publishing itself: assessment_publish.py) ---------------------

def published(conn: Connection, period: str, unit_ids: set[str]) -> dict | None:
    """The frozen results of ``period`` for the published ones of ``unit_ids``, shaped like
    ``compute``'s rows, or None when none of them is published."""
    p = assessment_published.c
    done = set(conn.execute(select(p.unit_id).where(
        p.period == period, p.unit_id.in_(sorted(unit_ids)))).scalars())
    if not done:
        return None
    r = assessment_results.c
    out = {"staff": [], "windows": [], "units": done}
    for row in _frozen_rows(conn, r.period == period, r.unit_id.in_(sorted(done))):
        out["staff" if row["kind"] == "staff" else "windows"].append(row)
    return out


def own_result(conn: Connection, period: Period, member: dict, settings: AssessmentSettings,
               prior: float) -> tuple[dict | None, bool]:
    """(row, published) of a staff member's own result: the frozen one wherever it was
    published, else the live one of their unit now (None once that unit has published)."""
    r = assessment_results.c
    frozen = _frozen_rows(conn, r.period == period.key, r.kind == "staff",
                          r.target_id == member["id"])
    if frozen:
        return frozen[0], True
    if is_published(conn, period.key, member["unit_id"]):
        return None, True
    rows = compute(conn, period, {member["unit_id"]}, settings, prior)["staff"]
    return next((x for x in rows if x["id"] == member["id"]), None), False


def _frozen_rows(conn: Connection, *where) -> list[dict]:
    """Rows of ``assessment_results``, shaped like ``compute``'s, in ranking order."""
    names = dict(conn.execute(select(units.c.id, units.c.name)).all())
    out = []
    for x in conn.execute(select(assessment_results).where(*where)).mappings():
        # the parts weighted 0 are stored with weight 0 (assessment_publish.py): not missing
        weights = json.loads(x["weights"])
        out.append({**dict(x), "id": x["target_id"], "unit_name": names.get(x["unit_id"]),
                    "weights_used": {k: v for k, v in weights.items() if v > 0},
                    "by_criterion": {}, "comments": None, "rate": None,
                    "missing": [k for k in PARTS if k not in weights],
                    "renormalised": x["composite"] is not None
                    and any(k not in weights for k in PARTS)})
    return sorted(out, key=rank_key)


def latest_published(conn: Connection, unit_id: str) -> str | None:
    """The newest published month of a unit (a quarter stored by an older version is
    passed over)."""
    p = assessment_published.c
    keys = conn.execute(select(p.period).where(p.unit_id == unit_id)).scalars().all()
    # Months only: a quarter published before the pages refused them was scored on the
    # citizens alone (reviews and comments are kept by month); its stars must not reach
    # the kiosks.
    keys = [k for k in keys if Period.parse(k).kind == "month"]
    return max(keys, key=_end_then_start, default=None)


def _end_then_start(key: str) -> tuple:
    period = Period.parse(key)
    return period.end, period.start


def for_kiosk(conn: Connection, window_id: str, unit_id: str) -> dict:
    """What a window's kiosk shows of the newest published assessment of its unit:
    ``{"period", "window_stars", "award", "staff_stars": {staff_id: stars}}``."""
    period = latest_published(conn, unit_id)
    if period is None:
        return {"period": None, "window_stars": None, "award": False, "staff_stars": {}}
    r = assessment_results.c
    rows = conn.execute(select(r.kind, r.target_id, r.stars, r.award).where(
        r.period == period, r.unit_id == unit_id)).all()
    win = next((x for x in rows if x.kind == "window" and x.target_id == window_id), None)
    return {"period": period, "window_stars": win.stars if win else None,
            "award": bool(win and win.award),
            "staff_stars": {x.target_id: x.stars for x in rows
                            if x.kind == "staff" and x.stars is not None}}


def check_staff_scope(conn: Connection, allowed: set[str], staff_id: str) -> dict:
    row = staff_row(conn, staff_id)
    if row is None or row["unit_id"] not in allowed:
        raise Forbidden(f"staff {staff_id!r} is outside your scope")
    return row
