"""The assessment's data: peer reviews, leader comments, the live composite per staff member
and window, publishing a period (frozen results, star levels, the rotating award) and what a
kiosk shows of it. All SQL of the assessment lives here and in ``pledges.py``.

Anonymity: ``peer_reviews.reviewer_id`` is read only to enforce one review per reviewer per
colleague per period and to tell a reviewer whom they have reviewed; every other query
aggregates over reviewers and nothing returns who reviewed whom.
"""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import and_, delete, func, select, update
from sqlalchemy.engine import Connection

from .. import org, stats
from ..db import insert_ignore
from ..errors import AggregatorError, BadRequest, Forbidden, NotFound
from ..schema import staff, units, windows
from . import assessment
from .assessment_config import AssessmentSettings
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


class AlreadyReviewed(AggregatorError):
    """This reviewer has already reviewed this colleague in this period."""

    status = 409
    code = "already_reviewed"


class PeriodClosed(AggregatorError):
    """The period is published (frozen) or not open for reviews and comments."""

    status = 409
    code = "period_closed"


def open_periods(today: dt.date) -> list[Period]:
    """Periods a review or comment may be given for: this month and the one before."""
    this = Period("month", today.year, today.month)
    return [this, this.previous()]


def is_published(conn: Connection, period: str, unit_id: str) -> bool:
    p = assessment_published.c
    return conn.execute(select(p.period).where(p.period == period, p.unit_id == unit_id)) \
        .first() is not None


def _check_open(conn: Connection, period: Period, unit_id: str, today: dt.date) -> None:
    # From the pages: a form opened on a month's last day and sent the next; a unit
    # published by a supervisor while the form was open.
    taken = [p.key for p in open_periods(today)]
    if period.key not in taken:
        raise PeriodClosed(f"period {period.key} is not open; reviews and comments are taken "
                           f"for {', '.join(taken)}", field="period", detail_args={
                               "msg": "period_not_open", "period": period.key, "open": taken})
    if is_published(conn, period.key, unit_id):
        raise PeriodClosed(f"period {period.key} of unit {unit_id} is published and frozen",
                           field="period", detail_args={"msg": "period_published",
                                                        "period": period.key, "unit": unit_id})


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
    _check_open(conn, period, unit_id, today)
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


def peer_parts(conn: Connection, period: str, unit_ids: set[str], settings: AssessmentSettings,
               self_review: bool = False) -> dict[str, dict]:
    """Per reviewee: ``reviewers``, ``by_criterion`` (mean 1-5) and ``score`` (0-100, None
    under ``min_reviewers``). Colleagues' reviews only, or only self-reviews."""
    r, s = peer_reviews.c, peer_review_scores.c
    q = (select(r.reviewee_id, s.criterion, func.count(), func.sum(s.score))
         .join(peer_review_scores, s.review_id == r.id)
         .where(r.period == period, r.unit_id.in_(sorted(unit_ids)),
                r.self_review.is_(self_review))
         .group_by(r.reviewee_id, s.criterion))
    out: dict[str, dict] = {}
    for reviewee, criterion, n, total in conn.execute(q).all():
        d = out.setdefault(reviewee, {"by_criterion": {}, "n": 0, "sum": 0})
        d["by_criterion"][criterion] = round(int(total) / int(n), 2)
        d["n"] += int(n)
        d["sum"] += int(total)
    counts = dict(conn.execute(
        select(r.reviewee_id, func.count()).where(
            r.period == period, r.unit_id.in_(sorted(unit_ids)),
            r.self_review.is_(self_review)).group_by(r.reviewee_id)).all())
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
                 today: dt.date) -> None:
    """A leader's comment and score (0-100) on a staff member or window; one per leader,
    target and period (saving again replaces it until the period is published)."""
    if kind not in KINDS:
        raise BadRequest(f"target kind must be staff or window, got {kind!r:.20}", field="kind")
    unit_id = target_unit(conn, kind, target_id)
    if unit_id is None or unit_id not in allowed:
        raise NotFound(f"no {kind} {target_id!r} in your scope")
    _check_open(conn, period, unit_id, today)
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
    found = conn.execute(select(c.id).where(where)).first()
    values = {"score": float(score), "comment": comment, "updated_at": now,
              "author_name": user.get("display_name") or user["username"]}
    if found:
        conn.execute(update(leader_comments).where(where).values(**values))
    else:
        conn.execute(leader_comments.insert().values(
            period=period.key, unit_id=unit_id, target_kind=kind, target_id=target_id,
            author_id=user["id"], created_at=now, **values))


def comments(conn: Connection, unit_ids: set[str], period: str | None = None,
             targets: list[tuple[str, str]] | None = None) -> list[dict]:
    """Leader comments of units (a period, or all), optionally only on ``targets``."""
    c = leader_comments.c
    q = select(leader_comments).where(c.unit_id.in_(sorted(unit_ids)))
    if period:
        q = q.where(c.period == period)
    rows = [dict(r) for r in conn.execute(q.order_by(c.period.desc(), c.updated_at.desc()))
            .mappings()]
    if targets is not None:
        rows = [r for r in rows if (r["target_kind"], r["target_id"]) in set(targets)]
    return rows


def leader_parts(conn: Connection, period: str, unit_ids: set[str]) -> dict[tuple, dict]:
    """(kind, target) → mean leader score and number of comments."""
    c = leader_comments.c
    q = (select(c.target_kind, c.target_id, func.count(), func.avg(c.score))
         .where(c.period == period, c.unit_id.in_(sorted(unit_ids)))
         .group_by(c.target_kind, c.target_id))
    return {(k, t): {"score": round(float(avg), 2), "comments": int(n)}
            for k, t, n, avg in conn.execute(q).all()}


# ---- composite -------------------------------------------------------------------------

def compute(conn: Connection, period: Period, unit_ids: set[str], settings: AssessmentSettings,
            prior: float) -> dict:
    """The live assessment of ``period`` for ``unit_ids``: ``{"staff": rows, "windows": rows}``.

    The citizens' part is smoothed over every window (or staff member) of the whole system in
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
    key = lambda r: (r["composite"] is None, -(r["composite"] or 0), r["id"])  # noqa: E731
    return {"period": period, "staff": sorted(out_staff, key=key),
            "windows": sorted(out_windows, key=key)}


def mark_awards(window_rows: list[dict], settings: AssessmentSettings) -> None:
    """Set ``award`` on the best window of each unit (or region): highest composite, then
    more ratings, then id; only windows with ``award_min_ratings`` ratings compete."""
    best: dict = {}
    for r in window_rows:
        r["award"] = False
        if r["composite"] is None or r["rated"] < settings.award_min_ratings:
            continue
        group = r["unit_id"] if settings.award_scope == "unit" else r["region_id"]
        rank = (r["composite"], r["rated"], _neg(r["id"]))
        if group not in best or rank > best[group][0]:
            best[group] = (rank, r)
    for _, r in best.values():
        r["award"] = True


def _neg(text: str) -> tuple:
    return tuple(-ord(ch) for ch in text)


# ---- publishing --------------------------------------------------------------------------

def publish(conn: Connection, period: Period, unit_ids: set[str], user: dict,
            settings: AssessmentSettings, prior: float, now: dt.datetime,
            today: dt.date) -> int:
    """Freeze the period's results of ``unit_ids`` (recomputed now), then the awards of every
    unit or region they belong to; bumps the config version so kiosks pull the new stars.
    ``today``: the site's day (a period begins at midnight there, not in UTC)."""
    if period.start > today:   # the page's publish button under a link to a month to come
        raise BadRequest(f"period {period.key} has not begun", field="period",
                         detail_args={"msg": "period_not_begun", "period": period.key})
    live = compute(conn, period, unit_ids, settings, prior)
    r = assessment_results.c
    conn.execute(delete(assessment_results).where(r.period == period.key,
                                                  r.unit_id.in_(sorted(unit_ids))))
    rows = [{"period": period.key, "kind": x["kind"], "target_id": x["id"],
             "unit_id": x["unit_id"], "region_id": x["region_id"], "name": x["name"],
             "citizens": x["citizens"], "rated": x["rated"], "peers": x["peers"],
             "reviewers": x["reviewers"], "leaders": x["leaders"], "composite": x["composite"],
             "weights": json.dumps(x["weights_used"]), "stars": x["stars"], "award": False}
            for x in live["staff"] + live["windows"]]
    if rows:
        conn.execute(assessment_results.insert(), rows)
    p = assessment_published.c
    conn.execute(delete(assessment_published).where(p.period == period.key,
                                                    p.unit_id.in_(sorted(unit_ids))))
    conn.execute(assessment_published.insert(), [
        {"period": period.key, "unit_id": u, "published_at": now,
         "published_by": user.get("username")} for u in sorted(unit_ids)])
    _refresh_awards(conn, period.key, settings)
    org.bump_version(conn)
    return len(rows)


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


def published(conn: Connection, period: str, unit_ids: set[str]) -> dict | None:
    """The frozen results of ``period`` for the published ones of ``unit_ids``, shaped like
    ``compute``'s rows, or None when none of them is published."""
    p = assessment_published.c
    done = set(conn.execute(select(p.unit_id).where(
        p.period == period, p.unit_id.in_(sorted(unit_ids)))).scalars())
    if not done:
        return None
    r = assessment_results.c
    names = dict(conn.execute(select(units.c.id, units.c.name)).all())
    out = {"staff": [], "windows": [], "units": done}
    for x in conn.execute(select(assessment_results).where(
            r.period == period, r.unit_id.in_(sorted(done)))
            .order_by(r.composite.is_(None), r.composite.desc(), r.target_id)).mappings():
        weights = json.loads(x["weights"])
        present = [k for k in ("citizens", "peers", "leaders") if x[k] is not None]
        row = {**dict(x), "id": x["target_id"], "unit_name": names.get(x["unit_id"]),
               "weights_used": weights, "by_criterion": {}, "comments": None, "rate": None,
               "missing": [k for k in ("citizens", "peers", "leaders") if k not in present],
               "renormalised": len(weights) < 3}
        out["staff" if x["kind"] == "staff" else "windows"].append(row)
    return out


def latest_published(conn: Connection, unit_id: str) -> str | None:
    """The newest published period of a unit (by the period's end)."""
    p = assessment_published.c
    keys = conn.execute(select(p.period).where(p.unit_id == unit_id)).scalars().all()
    return max(keys, key=lambda k: (Period.parse(k).end, k), default=None)


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
