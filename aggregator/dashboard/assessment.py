"""The composite score of the periodic assessment (量化考核) and the star level it earns.
Plain arithmetic, no database: see docs/assessment.md for the formula.

Every part is a score 0-100:

- citizens (群众评议): ``100 · (smoothed − 1) / 4`` of the Bayesian-smoothed mean stars
  (``stats.compute``), missing when the period has no rating;
- peers (互评): ``100 · (mean − 1) / 4`` of every criterion score (1-5) of the colleagues'
  reviews (self-reviews excluded), missing under ``min_reviewers`` reviewers;
- leaders (领导点评): the mean of the leaders' scores (0-100), missing when none commented.

``composite = Σ wᵢ·pᵢ / Σ wᵢ`` over the parts present: a missing part does not count as 0,
its weight is shared out among the others (renormalised), and the result says so.

>>> c = composite({"citizens": 90.0, "peers": None, "leaders": 80.0},
...               {"citizens": 0.6, "peers": 0.2, "leaders": 0.2})
>>> c["score"], c["missing"], c["weights_used"]["citizens"]
(87.5, ['peers'], 0.75)
>>> star_level(87.5, [60, 70, 80, 90])
4
"""

from __future__ import annotations

from .assessment_config import PARTS


def from_stars(mean: float | None) -> float | None:
    """A mean on the 1-5 star scale as a score 0-100 (1★ → 0, 5★ → 100)."""
    if mean is None:
        return None
    return round(max(0.0, min(100.0, (mean - 1.0) * 25.0)), 2)


def composite(parts: dict, weights: dict) -> dict:
    """``{"score", "parts", "weights_used", "missing", "renormalised"}``.

    ``score`` is None when no part with a weight is present. ``weights_used`` are the
    weights of the parts present, scaled to sum to 1.
    """
    present = {k: float(parts[k]) for k in PARTS
               if parts.get(k) is not None and weights.get(k, 0) > 0}
    missing = [k for k in PARTS if weights.get(k, 0) > 0 and k not in present]
    total = sum(weights[k] for k in present)
    if not present or total <= 0:
        return {"score": None, "parts": dict(parts), "weights_used": {}, "missing": missing,
                "renormalised": False}
    used = {k: round(weights[k] / total, 6) for k in present}
    # rounded to the 0.1 shown everywhere, so the star level always matches the number shown
    score = round(sum(weights[k] * v for k, v in present.items()) / total, 1)
    return {"score": score, "parts": dict(parts), "weights_used": used, "missing": missing,
            "renormalised": bool(missing)}


def star_level(score: float | None, thresholds: list) -> int | None:
    """1-5 stars: 1 + the number of thresholds (ascending, for 2…5 stars) the score reaches."""
    if score is None:
        return None
    return 1 + sum(1 for t in thresholds if score >= t)
