import datetime as dt

import requests

from aggregator import stats
from tests.aggregator.device import Device, enroll_code

DAY = "2026-11-20T10:00:00+08:00"


def get_stats(server, **params):
    r = requests.get(f"{server.url}/api/v1/stats", params=params, headers=server.admin,
                     timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def test_rollups_and_stats_match_a_hand_computed_set(device, org_setup):
    # W-001: 5,5,4,2 and one flagged 1 (lockout). W-002: 3, 1.
    w2 = Device(org_setup.url, window_id="W-002")
    assert w2.enroll(enroll_code(org_setup, "W-002")).status_code == 200
    evs = [device.rating(level, device_time=DAY) for level in
           ("very_satisfied", "very_satisfied", "satisfied", "dissatisfied")]
    evs.append(device.rating("very_dissatisfied", flags=["lockout"], device_time=DAY))
    evs.append(device.event("not_rated", {"invitation_id": "i1", "window_id": "W-001"},
                            device_time=DAY))
    assert device.post_batch(evs).status_code == 200
    assert w2.post_batch([w2.rating("basic_satisfied", device_time=DAY),
                          w2.rating("very_dissatisfied", device_time=DAY)]).status_code == 200
    s = get_stats(org_setup, group_by="window", min_volume=1,
                  **{"from": "2026-11-01", "to": "2026-11-30"})
    rows = {r["key"]: r for r in s["rows"]}
    w1 = rows["W-001"]
    assert (w1["rated"], w1["satisfied"], w1["bad"], w1["flagged"]) == (4, 3, 1, 1)
    assert w1["rate"] == 0.75 and w1["mean"] == 4.0 and w1["not_rated"] == 1
    assert w1["name"] == "民政窗口"
    assert (rows["W-002"]["rated"], rows["W-002"]["bad"], rows["W-002"]["rate"]) == (2, 1, 0.5)
    m = (16 + 4) / 6  # global mean over both windows
    assert s["global_mean"] == round(m, 6)
    assert w1["smoothed"] == round((20 * m + 16) / (20 + 4), 6)
    assert w1["rank"] == 1 and rows["W-002"]["rank"] == 2
    assert s["total"]["rated"] == 6 and s["total"]["bad"] == 2
    flagged_in = get_stats(org_setup, group_by="window", include_flagged="true",
                           **{"from": "2026-11-01", "to": "2026-11-30"})
    w1 = {r["key"]: r for r in flagged_in["rows"]}["W-001"]
    assert (w1["rated"], w1["bad"], w1["mean"]) == (5, 2, 3.4)
    by_region = get_stats(org_setup, group_by="region", region="R-1",
                          **{"from": "2026-11-01", "to": "2026-11-30"})
    assert [(r["key"], r["rated"]) for r in by_region["rows"]] == [("R-1a", 6)]
    # The town R-1a itself, whose unit sits directly in it: a town supervisor's view (it
    # was empty, the unit having no child region under R-1a).
    in_town = get_stats(org_setup, group_by="window", region="R-1a",
                        **{"from": "2026-11-01", "to": "2026-11-30"})
    assert sorted((r["key"], r["rated"]) for r in in_town["rows"]) == [("W-001", 4),
                                                                        ("W-002", 2)]
    town = get_stats(org_setup, group_by="region", region="R-1a",
                     **{"from": "2026-11-01", "to": "2026-11-30"})
    assert [(r["key"], r["rated"]) for r in town["rows"]] == [("R-1a", 6)]
    by_staff = get_stats(org_setup, group_by="staff", **{"from": "2026-11-20", "to": "2026-11-20"})
    assert by_staff["rows"][0]["name"] == "王芳"
    outside = get_stats(org_setup, group_by="unit", **{"from": "2026-10-01", "to": "2026-10-31"})
    assert outside["rows"] == []


def test_rows_of_nobody_and_rows_without_a_counted_rating_have_no_rank(device, org_setup):
    # The admin stats API ranked the row of ratings without a staff member (QR ratings, a
    # kiosk with nobody signed in) first here, above the only real person, as the dashboard
    # did before it stopped placing that row.
    evs = [device.rating("very_dissatisfied", device_time=DAY) for _ in range(2)]
    evs += [device.rating("very_satisfied", staff_id=None, staff_name=None, device_time=DAY)
            for _ in range(5)]
    evs.append(device.rating("very_satisfied", staff_id="S-008", staff_name="李明",
                             flags=["lockout"], device_time=DAY))
    assert device.post_batch(evs).status_code == 200
    s = get_stats(org_setup, group_by="staff", min_volume=1,
                  **{"from": "2026-11-01", "to": "2026-11-30"})
    assert [(r["key"], r["rated"], r["rank"]) for r in s["rows"]] == [
        ("S-007", 2, 1), (None, 5, None), ("S-008", 0, None)]


def test_rows_under_the_minimum_volume_have_no_rank_by_default(device, org_setup):
    # The admin API ranked a window of one 5★ rating first, above a window of 12 ratings,
    # where the dashboard's rankings (constants.MIN_VOLUME, 10) give it no place.
    w2 = Device(org_setup.url, window_id="W-002")
    assert w2.enroll(enroll_code(org_setup, "W-002")).status_code == 200
    assert w2.post_batch([w2.rating("very_satisfied", device_time=DAY)]).status_code == 200
    assert device.post_batch([device.rating(level, device_time=DAY) for level in
                              ["satisfied"] * 11 + ["dissatisfied"]]).status_code == 200
    month = {"from": "2026-11-01", "to": "2026-11-30"}
    s = get_stats(org_setup, group_by="window", **month)
    assert s["min_volume"] == 10
    assert [(r["key"], r["rated"], r["rank"]) for r in s["rows"]] == [
        ("W-001", 12, 1), ("W-002", 1, None)]
    every = get_stats(org_setup, group_by="window", min_volume=1, **month)
    assert [(r["key"], r["rank"]) for r in every["rows"]] == [("W-002", 1), ("W-001", 2)]


def test_stats_bad_parameters_are_400(org_setup):
    for params, field in (({"group_by": "planet"}, "group_by"), ({"from": "yesterday"}, "from"),
                          ({"include_flagged": "maybe"}, "include_flagged"),
                          ({"min_volume": "0"}, "min_volume"), ({"min_volume": "ten"}, "min_volume"),
                          ({"region": "nowhere"}, "region")):
        r = requests.get(f"{org_setup.url}/api/v1/stats", params=params,
                         headers=org_setup.admin, timeout=10)
        assert r.status_code == 400 and r.json()["field"] == field, r.text


def test_smoothing_ranks_volume_above_tiny_perfect_sample():
    # Pure function check of the documented formula through compute's ordering rule.
    m, prior = 4.9, 20
    few = (prior * m + 3 * 5) / (prior + 3)
    many = (prior * m + 1000 * 4.95) / (prior + 1000)
    assert many > few
    assert stats.parse_day(None, "from", dt.date(2026, 1, 1)) == dt.date(2026, 1, 1)


def test_an_items_response_rate_counts_its_unanswered_invitations(device, org_setup):
    # A kiosk's not_rated now carries its invitation's service item (before 2026-12-03 it did
    # not, so each item showed 100 % response whatever the silence). One answered and one
    # unanswered invitation for SI-01 is a response rate of 50 %.
    evs = [device.rating("satisfied", invitation_id="i1", service_item="SI-01",
                         device_time=DAY),
           device.event("not_rated", {"invitation_id": "i2", "window_id": "W-001",
                                      "service_item": "SI-01", "staff_id": "S-007"},
                        device_time=DAY)]
    assert device.post_batch(evs).status_code == 200
    s = get_stats(org_setup, group_by="service_item",
                  **{"from": "2026-11-01", "to": "2026-11-30"})
    row = {r["key"]: r for r in s["rows"]}["SI-01"]
    assert (row["rated"], row["not_rated"], row["response_rate"]) == (1, 1, 0.5)
