"""The composite score (量化考核) and the star levels, table-driven. See docs/assessment.md."""

from __future__ import annotations

import pytest

from aggregator.dashboard import assessment
from aggregator.dashboard.assessment_config import AssessmentSettings
from aggregator.dashboard.assessment_store import mark_awards, rank_key
from aggregator.errors import BadRequest

W = {"citizens": 0.6, "peers": 0.2, "leaders": 0.2}

# parts (citizens, peers, leaders), weights → score, missing, renormalised, weights used
CASES = [
    # all three present: the plain weighted mean
    ((90, 80, 70), W, 84.0, [], False, {"citizens": 0.6, "peers": 0.2, "leaders": 0.2}),
    ((100, 100, 100), W, 100.0, [], False, None),
    ((0, 0, 0), W, 0.0, [], False, None),
    # one part missing: its weight is shared out over the others, not counted as 0
    ((90, None, 80), W, 87.5, ["peers"], True, {"citizens": 0.75, "leaders": 0.25}),
    ((90, 80, None), W, 87.5, ["leaders"], True, {"citizens": 0.75, "peers": 0.25}),
    ((None, 80, 60), W, 70.0, ["citizens"], True, {"peers": 0.5, "leaders": 0.5}),
    # two parts missing: the one present is the composite
    ((72.5, None, None), W, 72.5, ["peers", "leaders"], True, {"citizens": 1.0}),
    ((None, None, 95), W, 95.0, ["citizens", "peers"], True, {"leaders": 1.0}),
    # nothing present: no score at all (not 0, not a star level)
    ((None, None, None), W, None, ["citizens", "peers", "leaders"], False, {}),
    # a zero weight is not a part: its absence is not "missing", its value is ignored
    ((90, 10, 80), {"citizens": 0.5, "peers": 0, "leaders": 0.5}, 85.0, [], False, None),
    ((90, None, 80), {"citizens": 0.5, "peers": 0, "leaders": 0.5}, 85.0, [], False, None),
    # weights need not sum to 1 (e.g. 6 : 2 : 2)
    ((90, 80, 70), {"citizens": 6, "peers": 2, "leaders": 2}, 84.0, [], False, None),
    # a part of 0 is present (a real zero), unlike a missing part
    ((0, None, 100), W, 25.0, ["peers"], True, None),
]


@pytest.mark.parametrize("parts, weights, score, missing, renormalised, used", CASES)
def test_composite(parts, weights, score, missing, renormalised, used):
    got = assessment.composite(dict(zip(("citizens", "peers", "leaders"), parts)), weights)
    assert got["score"] == score
    assert got["missing"] == missing
    assert got["renormalised"] is renormalised
    if used is not None:
        assert got["weights_used"] == pytest.approx(used)
    if got["weights_used"]:
        assert sum(got["weights_used"].values()) == pytest.approx(1.0)


@pytest.mark.parametrize("score, stars", [
    (None, None), (0, 1), (59.99, 1), (60, 2), (69.9, 2), (70, 3), (80, 4), (89.99, 4),
    (90, 5), (100, 5),
])
def test_star_level_from_default_thresholds(score, stars):
    assert assessment.star_level(score, AssessmentSettings().thresholds) == stars


@pytest.mark.parametrize("mean, score", [
    (None, None), (1.0, 0.0), (3.0, 50.0), (5.0, 100.0), (4.6, 90.0), (4.8, 95.0),
])
def test_star_means_map_to_0_100(mean, score):
    assert assessment.from_stars(mean) == score


@pytest.mark.parametrize("bad, field", [
    ({"weights": {"citizens": 1, "peers": 1}}, "weights"),
    ({"weights": {"citizens": -1, "peers": 1, "leaders": 1}}, "weights"),
    ({"weights": {"citizens": 0, "peers": 0, "leaders": 0}}, "weights"),
    # "nan" and "inf" pass float(): an inf weight made every composite score NaN, a nan weight
    # silently left its part out
    ({"weights": {"citizens": "nan", "peers": 1, "leaders": 1}}, "weights"),
    ({"weights": {"citizens": "inf", "peers": 1, "leaders": 1}}, "weights"),
    ({"thresholds": [60, 70, 80, "nan"]}, "thresholds"),
    ({"thresholds": [90, 80, 70, 60]}, "thresholds"),
    ({"thresholds": [60, 70, 80]}, "thresholds"),
    ({"criteria": []}, "criteria"),
    ({"criteria": [{"code": "a"}, {"code": "a"}]}, "criteria"),
    ({"award_scope": "province"}, "award_scope"),
    ({"colour": "red"}, "colour"),
])
def test_bad_settings_name_the_setting(bad, field):
    with pytest.raises(BadRequest) as err:
        AssessmentSettings.from_dict(bad)
    assert err.value.field == field


@pytest.mark.parametrize("ids", [("W-1", "W-10"), ("W-10", "W-1"), ("W-01", "W-02")])
def test_a_tie_for_the_red_flag_goes_to_the_lower_window_id(ids):
    # Why: the tie-break negated each character of the id, so of "W-1" and "W-10" (one a
    # prefix of the other) the higher id won the flag, while the ranking listed the other
    # first; docs/assessment.md: highest composite, then more ratings, then window id.
    rows = [{"id": i, "composite": 88.0, "rated": 40, "unit_id": "U", "region_id": "R"}
            for i in ids]
    mark_awards(rows, AssessmentSettings())
    first = sorted(rows, key=rank_key)[0]["id"]
    assert [r["id"] for r in rows if r["award"]] == [min(ids)] == [first]


def test_more_ratings_break_a_tie_before_the_id():
    rows = [{"id": "W-1", "composite": 88.0, "rated": 40, "unit_id": "U", "region_id": "R"},
            {"id": "W-2", "composite": 88.0, "rated": 41, "unit_id": "U", "region_id": "R"},
            {"id": "W-3", "composite": 87.9, "rated": 90, "unit_id": "U", "region_id": "R"}]
    mark_awards(rows, AssessmentSettings())
    assert [r["id"] for r in rows if r["award"]] == ["W-2"]


@pytest.mark.parametrize("weight", [1e308, 1000.5, -1])
def test_a_weight_out_of_0_to_1000_is_refused_naming_it(weight):
    # Why: 1e308 was taken for every weight; their sum overflowed to inf and every page of
    # the assessment answered 500 until an admin found the setting.
    with pytest.raises(BadRequest) as err:
        AssessmentSettings.from_dict({"weights": {"citizens": weight, "peers": 1,
                                                  "leaders": 1}})
    assert err.value.field == "weights" and "weights.citizens" in err.value.detail
    assert err.value.detail_args["msg"] == "weight_range"
    assert AssessmentSettings.from_dict({"weights": {"citizens": 1000, "peers": 0,
                                                     "leaders": 0}}).weights["citizens"] == 1000


def test_the_formula_shows_each_weights_share_of_the_sum():
    # Why: weights 3/1/1 (any non-negative numbers are allowed) read "300 % + 100 % + 100 %".
    s = AssessmentSettings.from_dict({"weights": {"citizens": 3, "peers": 1, "leaders": 1}})
    assert s.shares() == {"citizens": 0.6, "peers": 0.2, "leaders": 0.2}
    assert AssessmentSettings().shares() == pytest.approx(
        {"citizens": 0.6, "peers": 0.2, "leaders": 0.2})
