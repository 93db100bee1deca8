"""Settings of the periodic assessment (量化考核): weights of the three evaluations, star-level
thresholds, peer-review criteria, the award's scope. Declared once with default and help;
an admin's overrides live in ``dashboard_kv`` (key ``assessment_settings``), so every worker
sees the same.

>>> s = AssessmentSettings(); (s.weights["citizens"], s.thresholds)
(0.6, [60.0, 70.0, 80.0, 90.0])
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field

from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from ..db import insert_ignore
from ..errors import BadRequest
from .tables import dashboard_kv

PARTS = ("citizens", "peers", "leaders")
PART_NAMES = {"citizens": ("群众评议", "Citizens"), "peers": ("同事互评", "Peers"),
              "leaders": ("领导点评", "Leaders")}
MAX_WEIGHT = 1000   # 1e308 was taken, and Σ weights overflowed to inf: every page a 500
KEY = "assessment_settings"
HELP = {
    "weights": "Weight of each part of the composite: citizens (群众评议), peers (互评), "
               "leaders (领导点评); numbers from 0 to 1000, not all 0, renormalised over the parts "
               "present (3/1/1 is 60 %/20 %/20 %)",
    "thresholds": "Composite scores (0-100) from which a window or staff member earns "
                  "2, 3, 4 and 5 stars; below the first: 1 star",
    "criteria": "Peer-review criteria: code, Chinese and English label (比技能、比作风、比业绩)",
    "min_reviewers": "Fewer peer reviewers than this leave the peer part missing (so no one "
                     "can infer a single colleague's review)",
    "award_scope": "The rotating award (流动红旗) goes to the best window of each 'unit' or "
                   "of each 'region' (the unit's own region)",
    "award_min_ratings": "A window needs at least this many citizens' ratings in the period "
                         "to win the award",
}
# The same help in Chinese, for the Chinese page (the settings page showed the English on it).
HELP_ZH = {
    "weights": "综合得分中三部分的权重：群众评议、同事互评、领导点评；可填 0 至 1000 的数，"
               "不能全为 0，按实际参评的部分重新归一（3/1/1 即 60%/20%/20%）",
    "thresholds": "综合得分（0-100）达到这四个分数时，窗口或人员分别评为二、三、四、五星；"
                  "低于第一个分数为一星",
    "criteria": "同事互评的内容：编码、中文名称、英文名称（比技能、比作风、比业绩）",
    "min_reviewers": "参与互评的同事少于此人数时，不计互评部分（以免推断出某位同事的评分）",
    "award_scope": "流动红旗授予每个单位（unit）或每个区域（region，即单位所在区域）的最佳窗口",
    "award_min_ratings": "窗口在考核期内至少需要这么多条群众评价，才能参评流动红旗",
}


def help_for(lang: str) -> dict:
    """``HELP`` in the page's language: Chinese on zh_CN pages, English on en pages."""
    return HELP if lang == "en" else HELP_ZH


DEFAULT_CRITERIA = [
    {"code": "skill", "zh": "比技能", "en": "Skill"},
    {"code": "conduct", "zh": "比作风", "en": "Conduct"},
    {"code": "results", "zh": "比业绩", "en": "Results"},
]


@dataclass
class AssessmentSettings:
    """The assessment settings; see ``HELP``."""

    weights: dict = field(default_factory=lambda: {"citizens": 0.6, "peers": 0.2,
                                                   "leaders": 0.2})
    thresholds: list = field(default_factory=lambda: [60.0, 70.0, 80.0, 90.0])
    criteria: list = field(default_factory=lambda: [dict(c) for c in DEFAULT_CRITERIA])
    min_reviewers: int = 3
    award_scope: str = "unit"
    award_min_ratings: int = 30

    @classmethod
    def from_dict(cls, data: dict) -> "AssessmentSettings":
        """Checked settings; a wrong key or value names itself."""
        out = cls()
        unknown = sorted(set(data) - set(asdict(out)))
        if unknown:
            raise BadRequest(f"unknown assessment setting {unknown[0]!r}; known: "
                             f"{', '.join(asdict(out))}", field=unknown[0])
        for name, value in data.items():
            setattr(out, name, value)
        w = out.weights
        if not isinstance(w, dict) or set(w) != set(PARTS):
            raise BadRequest(f"weights must give {', '.join(PARTS)}, got {w!r:.80}",
                             field="weights")
        try:
            out.weights = {k: float(w[k]) for k in PARTS}
            out.thresholds = [float(x) for x in out.thresholds]
            out.min_reviewers = int(out.min_reviewers)
            out.award_min_ratings = int(out.award_min_ratings)
        except (TypeError, ValueError):
            raise BadRequest("weights and thresholds must be numbers", field="weights") from None
        # the settings form's thresholds, as typed ("inf" and "90 80 70 60" get through)
        typed = {"msg": "thresholds", "field": "thresholds",
                 "value": " ".join(f"{x:g}" for x in out.thresholds)}
        for name, values in (("weights", out.weights.values()), ("thresholds", out.thresholds)):
            if not all(math.isfinite(x) for x in values):  # "nan" and "inf" pass float()
                raise BadRequest(f"{name} must be finite numbers, got {getattr(out, name)}",
                                 field=name, detail_args=typed if name == "thresholds" else None)
        for k, v in out.weights.items():
            if not 0 <= v <= MAX_WEIGHT:
                raise BadRequest(f"weights.{k} must be from 0 to {MAX_WEIGHT}, got {v:g}",
                                 field="weights", detail_args={
                                     "msg": "weight_range", "zh": PART_NAMES[k][0],
                                     "en": PART_NAMES[k][1], "max": MAX_WEIGHT,
                                     "value": f"{v:g}"})
        if any(v < 0 for v in out.weights.values()) or not sum(out.weights.values()):
            # the form lets no weight below 0 through, but all three at 0
            raise BadRequest(f"weights must be >= 0 and not all 0, got {out.weights}",
                             field="weights", detail_args={"msg": "weights_all_zero"}
                             if not any(out.weights.values()) else None)
        t = out.thresholds
        if len(t) != 4 or t != sorted(t) or t[0] < 0 or t[-1] > 100:
            raise BadRequest(f"thresholds must be 4 ascending scores in 0-100 (for 2-5 stars), "
                             f"got {t}", field="thresholds", detail_args=typed)
        codes = [c.get("code") if isinstance(c, dict) else None for c in out.criteria]
        if not codes or not all(isinstance(c, str) and 0 < len(c) <= 32 for c in codes) \
                or len(set(codes)) != len(codes):
            raise BadRequest("criteria must be a non-empty list of {code, zh, en} with unique "
                             "codes of 1-32 characters", field="criteria",
                             detail_args={"msg": "criteria", "field": "criteria"})
        if out.award_scope not in ("unit", "region"):
            raise BadRequest(f"award_scope must be unit or region, got {out.award_scope!r}",
                             field="award_scope")
        if out.min_reviewers < 1:
            raise BadRequest("min_reviewers must be at least 1", field="min_reviewers")
        return out

    def shares(self) -> dict:
        """Each weight's share of their sum (w / Σw), as the pages show the formula: weights
        3/1/1 read "300 %" there.

        >>> AssessmentSettings(weights={"citizens": 3, "peers": 1, "leaders": 1}).shares()
        {'citizens': 0.6, 'peers': 0.2, 'leaders': 0.2}
        """
        total = sum(self.weights.values())
        return {k: (v / total if total else 0.0) for k, v in self.weights.items()}

    def criterion_label(self, code: str, lang: str) -> str:
        for c in self.criteria:
            if c["code"] == code:
                return c.get("en" if lang == "en" else "zh") or code
        return code


def load(conn: Connection) -> AssessmentSettings:
    row = conn.execute(select(dashboard_kv.c.value).where(dashboard_kv.c.key == KEY)).first()
    return AssessmentSettings.from_dict(json.loads(row[0])) if row else AssessmentSettings()


def save(conn: Connection, settings: AssessmentSettings) -> None:
    value = json.dumps(asdict(settings), ensure_ascii=False)
    if not insert_ignore(conn, dashboard_kv, [{"key": KEY, "value": value}], returning="key"):
        conn.execute(update(dashboard_kv).where(dashboard_kv.c.key == KEY).values(value=value))
