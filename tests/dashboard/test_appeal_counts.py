"""An accepted appeal (误评/恶意差评) takes its rating out of the figures: the rating is flagged
``appeal_accepted`` (kept, never deleted), so it leaves the rates, bad counts and rankings like
any flagged rating and comes back with "include flagged". Ratings come from real signed kiosk
uploads (and the QR page), cases are worked through the real dashboard, and every expected
figure is counted here from the raw ratings table. SQLite and PostgreSQL.

Why it matters: before, a supervisor's accepted appeal changed only the case's state; the
mistaken or malicious rating still pulled down the window's, the staff member's and the unit's
rate, rankings and bulletins, so the review was meaningless for the figures.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections import defaultdict

import pytest
import requests
from sqlalchemy import select, text

from aggregator import constants as C
from aggregator import ratings as rating_store
from aggregator import rollups
from aggregator.dashboard import cases
from aggregator.dashboard.tables import audit_log
from aggregator.dashboard.tables import cases as cases_table
from aggregator.db import read, write
from aggregator.schema import ratings, staff
from tests.aggregator.device import Device
from tests.dashboard.helpers import csrf_of
from tests.qr_form import qr_post

ADMIN = {"Authorization": "Bearer t"}  # the dashboard fixture's admin token
TZ = dt.timezone(dt.timedelta(hours=8))


def _month() -> str:
    return dt.datetime.now(TZ).strftime("%Y-%m")


def _kiosk(dash, window_id: str) -> tuple[Device, dict]:
    """An enrolled kiosk at ``window_id`` and the rating fields of that window's first staff."""
    r = requests.post(f"{dash.url}/api/v1/enroll-codes", headers=ADMIN,
                      json={"window_id": window_id, "ttl_hours": 1}, timeout=10)
    assert r.status_code == 200, r.text
    device = Device(dash.url, window_id=window_id)
    assert device.enroll(r.json()["code"]).status_code == 200
    with read(dash.engine) as conn:
        person = conn.execute(select(staff.c.id, staff.c.name, staff.c.unit_id)
                              .where(staff.c.window_id == window_id)
                              .order_by(staff.c.id)).first()
    return device, {"unit_id": person.unit_id, "staff_id": person.id, "staff_name": person.name,
                    "service_item": f"{person.unit_id}-MZ-01"}


def _upload(device: Device, fields: dict, levels: list[str]) -> list[str]:
    events = [device.rating(level, **fields) for level in levels]
    r = device.post_batch(events)
    assert r.status_code == 200, r.text
    assert [e["status"] for e in r.json()["results"]] == ["accepted"] * len(events)
    return [e["id"] for e in events]


def _case_of(dash, rating_id: str) -> int:
    with read(dash.engine) as conn:
        return conn.execute(select(cases_table.c.id).where(
            cases_table.c.rating_id == rating_id)).scalar_one()


def _act(session, dash, case_id, action, note="", csrf=None):
    csrf = csrf or csrf_of(session, f"{dash.url}/dashboard/cases/{case_id}")
    return session.post(f"{dash.url}/dashboard/cases/{case_id}/action",
                        data={"action": action, "note": note, "csrf": csrf},
                        allow_redirects=False, timeout=30)


def _raw(dash, column: str, key: str, not_counted: set[str] = frozenset()) -> dict:
    """Rated, satisfied, bad and flagged ratings of this month where ``column`` = ``key``,
    counted from the ratings table; the ratings in ``not_counted`` counted as flagged."""
    with read(dash.engine) as conn:
        rows = conn.execute(select(ratings.c.id, ratings.c.stars, ratings.c.flagged).where(
            getattr(ratings.c, column) == key, ratings.c.day.like(f"{_month()}-%"))).all()
    out = {"counted": defaultdict(int), "all": defaultdict(int)}
    for rating_id, stars, flagged in rows:
        flagged = bool(flagged) or rating_id in not_counted
        for which in ("counted", "all"):
            if which == "counted" and flagged:
                continue
            g = out[which]
            g["rated"] += 1
            g["satisfied"] += stars >= C.SATISFIED_STARS
            g["bad"] += stars <= C.BAD_STARS
        out["counted"]["flagged"] += flagged
        out["all"]["flagged"] += flagged
    return out


def _shown(session, dash, group: str, key: str, include_flagged: bool) -> dict:
    """The ranking row of ``key`` on the dashboard (what the rankings page, the bulletin and
    its exports show) for this month."""
    r = session.get(f"{dash.url}/dashboard/api/rankings", params={
        "group": group, "period": _month(), "include_flagged": "1" if include_flagged else "0"},
        timeout=30)
    assert r.status_code == 200, r.text
    row = next(x for x in r.json()["rows"] if x["key"] == key)
    return {k: row[k] for k in ("rated", "satisfied", "bad", "flagged", "rate")}


def _expect(raw: dict) -> dict:
    return {**{k: raw[k] for k in ("rated", "satisfied", "bad", "flagged")},
            "rate": pytest.approx(raw["satisfied"] / raw["rated"], abs=1e-6)}


def _assert_figures(session, dash, where: dict, not_counted: set[str]) -> None:
    """Every ranking (window, staff, unit), without and with flagged ratings, equals the raw
    count in which ``not_counted`` are flagged."""
    for group, (column, key) in where.items():
        raw = _raw(dash, column, key, not_counted)
        assert _shown(session, dash, group, key, False) == _expect(raw["counted"]), (group, key)
        assert _shown(session, dash, group, key, True) == _expect(raw["all"]), (group, key)


def _recount(conn) -> dict:
    """The four rollup tables as the raw ratings table says they must be."""
    want: dict = {name: defaultdict(lambda: [0, 0, 0]) for name in
                  ("rollup_daily", "rollup_monthly", "rollup_unit_daily", "rollup_window_monthly")}
    for day, window, unit, person, item, level, stars, invitation, flagged in conn.execute(text(
            "SELECT day, window_id, unit_id, staff_id, service_item, level, stars, "
            "invitation_id, flagged FROM ratings")):
        unit, person, item, f = unit or "", person or "", item or "", 1 if flagged else 0
        for name, key in (("rollup_daily", (day, window, unit, person, item, level, f)),
                          ("rollup_monthly", (day[:7], window, unit, person, item, level, f)),
                          ("rollup_unit_daily", (day, unit, level, f)),
                          ("rollup_window_monthly", (day[:7], window, unit, level, f))):
            m = want[name][key]
            m[0] += 1
            m[1] += int(stars)
            m[2] += 1 if invitation else 0
    return {name: {k: tuple(v) for k, v in rows.items()} for name, rows in want.items()}


def _stored(conn) -> dict:
    out = {}
    for name, width in (("rollup_daily", 7), ("rollup_monthly", 7), ("rollup_unit_daily", 4),
                        ("rollup_window_monthly", 5)):
        cols = rollups.KEYS if name == "rollup_daily" else rollups.MONTH_KEYS \
            if name == "rollup_monthly" else rollups.UNIT_KEYS \
            if name == "rollup_unit_daily" else rollups.WINDOW_MONTH_KEYS
        q = ", ".join(cols) + ', "count", stars_sum, invited'
        out[name] = {tuple(r[:width]): tuple(int(x) for x in r[width:]) for r in
                     conn.exec_driver_sql(f"SELECT {q} FROM {name} WHERE level <> 'not_rated'")}
    return out


def _assert_rollups_match_raw(dash) -> dict:
    with read(dash.engine) as conn:
        stored = _stored(conn)
        assert stored == _recount(conn)
        assert rollups.check_monthly(conn) == []
    return stored


def _rating(dash, rating_id: str) -> dict:
    with read(dash.engine) as conn:
        row = conn.execute(select(ratings).where(ratings.c.id == rating_id)).mappings().first()
    assert row is not None, "a rating is never deleted"
    return dict(row, flags=json.loads(row["flags"]))


def test_accepted_appeal_leaves_rates_and_bad_counts_and_include_flagged_brings_it_back(dash):
    device, fields = _kiosk(dash, "W-002")
    good1, good2, bad = _upload(device, fields, ["very_satisfied", "satisfied", "very_dissatisfied"])
    where = {"window": ("window_id", "W-002"), "staff": ("staff_id", fields["staff_id"]),
             "unit": ("unit_id", fields["unit_id"])}
    manager, supervisor = dash.login("u01"), dash.login("jfb")
    case_id = _case_of(dash, bad)
    _assert_figures(supervisor, dash, where, set())  # the bad rating counts while appealed
    assert _act(manager, dash, case_id, "appeal", "误评：群众按错").status_code == 303
    _assert_figures(supervisor, dash, where, set())
    before = _assert_rollups_match_raw(dash)
    raw_before = _raw(dash, "window_id", "W-002")["counted"]

    assert _act(supervisor, dash, case_id, "accept_appeal", "核实为误评").status_code == 303

    # out of the rate, the bad count and the rated count, into "flagged"; back with the switch
    _assert_figures(supervisor, dash, where, {bad})
    raw_after = _raw(dash, "window_id", "W-002", {bad})["counted"]
    assert (raw_after["rated"], raw_after["bad"], raw_after["flagged"]) == \
        (raw_before["rated"] - 1, raw_before["bad"] - 1, raw_before["flagged"] + 1)
    rating = _rating(dash, bad)
    assert rating["stars"] == 1 and C.FLAG_APPEAL_ACCEPTED in rating["flags"] and rating["flagged"]
    assert not _rating(dash, good1)["flagged"] and not _rating(dash, good2)["flagged"]
    # the four rollup tables moved the rating from its unflagged to its flagged rows
    after = _assert_rollups_match_raw(dash)
    key = rollups.rating_key(rating)
    assert after["rollup_daily"].get(key[:6] + (1,), (0,))[0] == \
        before["rollup_daily"].get(key[:6] + (1,), (0,))[0] + 1
    assert after["rollup_daily"].get(key[:6] + (0,), (0,))[0] == \
        before["rollup_daily"][key[:6] + (0,)][0] - 1

    # what the case page, its JSON and the queue say, and the audit trail
    page = supervisor.get(f"{dash.url}/dashboard/cases/{case_id}").text
    assert "申诉成立，不计入满意率" in page and "data-not-counted" in page
    assert supervisor.get(f"{dash.url}/dashboard/cases/{case_id}?lang=en").text.count(
        "Appeal accepted: not counted") >= 1
    assert supervisor.get(f"{dash.url}/dashboard/api/cases/{case_id}").json()["not_counted"] is True
    queue = supervisor.get(f"{dash.url}/dashboard/cases", params={"state": "closed", "lang": "zh_CN"}).text
    row = queue[queue.index(f'data-case="{case_id}"'):]
    assert "申诉成立，不计入满意率" in row[:row.index("</tr>")]
    with read(dash.engine) as conn:
        accepted = conn.execute(select(audit_log.c.detail).where(
            audit_log.c.case_id == case_id, audit_log.c.action == "accept_appeal")).scalars().all()
    assert [json.loads(d)["flag"] for d in accepted] == [C.FLAG_APPEAL_ACCEPTED]
    # a case closed as resolved is final; one closed as invalid only a supervisor may reopen
    # (``revoke_appeal``), never the unit whose appeal it was
    assert all(cases.allowed_actions("closed", role, "resolved") == []
               for role in ("unit_manager", "supervisor", "admin"))
    assert cases.allowed_actions("closed", "unit_manager", "invalid") == []
    assert cases.allowed_actions("closed", "supervisor", "invalid") == ["revoke_appeal"]


def test_a_revoked_appeal_brings_the_rating_back_into_the_figures(dash):
    # Until 2026-12-03 a case closed by an accepted appeal was final: a wrong or complaisant
    # decision (a unit's own bad rating waved through) kept the rating out of the figures for
    # good. A supervisor may now revoke it, with a reason: the case goes back to work where it
    # was appealed from, its deadlines as they were, and the rating counts again at once.
    device, fields = _kiosk(dash, "W-006")
    _, bad = _upload(device, fields, ["very_satisfied", "dissatisfied"])
    where = {"window": ("window_id", "W-006"), "unit": ("unit_id", fields["unit_id"])}
    manager, supervisor = dash.login("u02"), dash.login("jfb")
    case_id = _case_of(dash, bad)
    assert _act(manager, dash, case_id, "verify").status_code == 303
    before = _assert_rollups_match_raw(dash)
    assert _act(manager, dash, case_id, "appeal", "误评").status_code == 303
    assert _act(supervisor, dash, case_id, "accept_appeal", "同意").status_code == 303
    _assert_figures(supervisor, dash, where, {bad})
    page = supervisor.get(f"{dash.url}/dashboard/cases/{case_id}").text
    assert 'data-action="revoke_appeal"' in page and "撤销申诉认定" in page
    assert 'data-action="revoke_appeal"' not in manager.get(
        f"{dash.url}/dashboard/cases/{case_id}").text
    # the unit cannot undo it, and a supervisor must say why
    assert _act(manager, dash, case_id, "revoke_appeal", "x").status_code == 403
    assert _act(supervisor, dash, case_id, "revoke_appeal").status_code == 400

    assert _act(supervisor, dash, case_id, "revoke_appeal", "复核：非误评").status_code == 303
    case = supervisor.get(f"{dash.url}/dashboard/api/cases/{case_id}").json()
    assert (case["state"], case["resolution"], case["closed_at"]) == ("verified", None, None)
    assert not case.get("not_counted")
    assert _rating(dash, bad)["flags"] == [] and not _rating(dash, bad)["flagged"]
    _assert_figures(supervisor, dash, where, set())
    assert _assert_rollups_match_raw(dash) == before  # every rollup row as before the appeal
    with read(dash.engine) as conn:
        detail = conn.execute(select(audit_log.c.detail).where(
            audit_log.c.case_id == case_id, audit_log.c.action == "revoke_appeal")).scalar_one()
    assert {"note": "复核：非误评", "unflag": C.FLAG_APPEAL_ACCEPTED, "from": "closed",
            "to": "verified"}.items() <= json.loads(detail).items()
    page = supervisor.get(f"{dash.url}/dashboard/cases/{case_id}").text
    assert "重新计入满意率" in page and "data-unflagged" in page
    # a case closed as resolved stays final
    assert _act(supervisor, dash, case_id, "revoke_appeal", "x").status_code == 400


def test_a_rejected_appeal_changes_no_figure_and_a_later_accepted_one_does(dash):
    device, fields = _kiosk(dash, "W-003")
    _, bad = _upload(device, fields, ["satisfied", "dissatisfied"])
    where = {"window": ("window_id", "W-003"), "unit": ("unit_id", fields["unit_id"])}
    manager, supervisor = dash.login("u01"), dash.login("jfb")
    case_id = _case_of(dash, bad)
    before = _assert_rollups_match_raw(dash)
    assert _act(manager, dash, case_id, "appeal", "恶意差评？").status_code == 303
    assert _act(supervisor, dash, case_id, "reject_appeal", "证据不足").status_code == 303
    # a rejected appeal: the rating still counts, not one rollup row changed
    assert _assert_rollups_match_raw(dash) == before
    assert _rating(dash, bad)["flags"] == [] and not _rating(dash, bad)["flagged"]
    _assert_figures(supervisor, dash, where, set())
    assert not supervisor.get(f"{dash.url}/dashboard/api/cases/{case_id}").json().get(
        "not_counted")

    assert _act(manager, dash, case_id, "appeal", "补充录像：恶意差评").status_code == 303
    assert _act(supervisor, dash, case_id, "accept_appeal", "核实为误评").status_code == 303
    _assert_figures(supervisor, dash, where, {bad})
    assert _assert_rollups_match_raw(dash) != before
    assert supervisor.get(f"{dash.url}/dashboard/api/cases/{case_id}").json()["not_counted"]


def _at_once(dash, case_id: int, *sessions) -> list[int]:
    """The answers to ``accept_appeal`` sent by each session at the same moment."""
    tokens = [csrf_of(s, f"{dash.url}/dashboard/cases/{case_id}") for s in sessions]
    start, answers = threading.Barrier(len(sessions)), {}

    def accept(i: int) -> None:
        start.wait()
        answers[i] = _act(sessions[i], dash, case_id, "accept_appeal", "核实为误评",
                          csrf=tokens[i]).status_code
    threads = [threading.Thread(target=accept, args=(i,)) for i in range(len(sessions))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return list(answers.values())


def test_two_supervisors_accepting_at_once_move_the_rating_once(dash):
    # Two workers, two people, one click each: the case moves once, so the rollups must too
    # (a double move would count the rating flagged twice and take a second rating's worth
    # out of the unflagged figures).
    device, fields = _kiosk(dash, "W-005")
    bads = _upload(device, fields, ["very_dissatisfied", "dissatisfied", "very_dissatisfied"])
    where = {"window": ("window_id", "W-005"), "unit": ("unit_id", fields["unit_id"])}
    manager, first, second = dash.login("u02"), dash.login("jfb"), dash.login("admin")
    for bad in bads:
        case_id = _case_of(dash, bad)
        assert _act(manager, dash, case_id, "appeal", "误评").status_code == 303
        assert sorted(_at_once(dash, case_id, first, second)) == [303, 400]  # one refused
        with read(dash.engine) as conn:
            assert len(conn.execute(select(audit_log.c.id).where(
                audit_log.c.case_id == case_id,
                audit_log.c.action == "accept_appeal")).all()) == 1
    _assert_figures(first, dash, where, set(bads))
    _assert_rollups_match_raw(dash)


def test_an_appealed_qr_rating_without_a_device_leaves_the_figures_too(dash):
    r = qr_post(dash.url, "W-006", data={"level": "very_dissatisfied",
                                                   "reasons": "attitude"}, timeout=10)
    assert r.status_code == 200, r.text
    with read(dash.engine) as conn:
        bad = conn.execute(select(ratings.c.id).where(
            ratings.c.window_id == "W-006", ratings.c.channel == C.CHANNEL_QR)).scalar_one()
    assert _rating(dash, bad)["device_id"] is None and not _rating(dash, bad)["flagged"]
    where = {"window": ("window_id", "W-006"), "unit": ("unit_id", "U-02")}
    manager, supervisor = dash.login("u02"), dash.login("jfb")
    case_id = _case_of(dash, bad)
    assert _act(manager, dash, case_id, "appeal", "恶意差评").status_code == 303
    assert _act(supervisor, dash, case_id, "accept_appeal", "核实为误评").status_code == 303
    _assert_figures(supervisor, dash, where, {bad})
    assert _rating(dash, bad)["flags"] == [C.FLAG_APPEAL_ACCEPTED]
    _assert_rollups_match_raw(dash)


def test_taking_the_flag_back_restores_every_rollup_row(dash):
    # The state machine has no way out of a case closed as invalid today; should one come
    # (an acceptance undone), ``set_flag(on=False)`` is the way back, and it must leave the
    # rollups exactly as before the acceptance.
    device, fields = _kiosk(dash, "W-004")
    (bad,) = _upload(device, fields, ["very_dissatisfied"])
    before = _assert_rollups_match_raw(dash)
    with write(dash.engine) as conn:
        assert rating_store.set_flag(conn, bad, C.FLAG_APPEAL_ACCEPTED)
        assert not rating_store.set_flag(conn, bad, C.FLAG_APPEAL_ACCEPTED)  # once only
    moved = _assert_rollups_match_raw(dash)
    assert moved != before
    with write(dash.engine) as conn:
        assert rating_store.set_flag(conn, bad, C.FLAG_APPEAL_ACCEPTED, on=False)
    assert _assert_rollups_match_raw(dash) == before
    assert _rating(dash, bad)["flags"] == [] and not _rating(dash, bad)["flagged"]
