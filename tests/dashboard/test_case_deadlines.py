"""A case's clocks: the callback of a real-name bad rating has its own deadline ("回访超期"),
and the unit's clocks stop while a supervisor has the case's appeal."""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import select, update

from aggregator import metrics
from aggregator.dashboard import cases, queue
from aggregator.dashboard.tables import audit_log
from aggregator.dashboard.tables import cases as cases_table
from aggregator.db import read, write
from tests.dashboard.helpers import TZ, case_action, post_form
from tests.dashboard.test_case_callbacks import PHONE, bad_case


def _row(dash, case_id: int) -> dict:
    with read(dash.engine) as conn:
        return dict(conn.execute(select(cases_table).where(cases_table.c.id == case_id))
                    .mappings().one())


def _overdue_ids(dash, unit: str, day: dt.date) -> tuple[set, int, int]:
    """(ids in the overdue tab, the tab's count, the overview's overdue count) on ``day``."""
    with read(dash.engine) as conn:
        rows, _ = queue.list_cases(conn, {unit}, day, state="overdue", limit=1000)
        return ({r["id"] for r in rows}, queue.counts(conn, {unit}, day)["overdue"],
                queue.open_counts(conn, {unit}, day)["overdue"])


def _metric(dash, day: dt.date, deadline: str) -> float:
    now = dt.datetime.combine(day, dt.time(12), TZ)
    with read(dash.engine) as conn:
        for family in metrics._case_families(conn, now, 8):
            if family.name == "aggregator_cases_overdue":
                return next(s.value for s in family.samples if s.labels["deadline"] == deadline)
    raise AssertionError("no overdue family")


def test_a_real_name_case_answered_without_a_call_goes_callback_overdue(dash):
    # Verify set the first contact without any contact, and "answered" had no deadline left:
    # a real-name bad rating could sit answered for ever, never called and never overdue.
    case_id, _ = bad_case(dash, phone=PHONE)
    manager = dash.login("u01")
    for action in ("verify", "rectify", "answer"):
        assert case_action(manager, dash, case_id, action).status_code == 303
    case = _row(dash, case_id)
    assert case["callback_due"] == case["answer_due"]
    on_time = dt.date.fromisoformat(case["callback_due"])
    late = on_time + dt.timedelta(days=1)
    ids, tab, overview = _overdue_ids(dash, "U-01", on_time)
    assert case_id not in ids
    before = _metric(dash, on_time, "callback")
    ids, tab, overview = _overdue_ids(dash, "U-01", late)
    assert case_id in ids and tab == overview == len(ids)
    assert _metric(dash, late, "callback") >= before + 1
    with read(dash.engine) as conn:
        row = next(r for r in queue.list_cases(conn, {"U-01"}, late, state="overdue",
                                               limit=1000)[0] if r["id"] == case_id)
    assert row["overdue"] == ["callback"]
    # once called back it is overdue no more
    r = post_form(manager, dash, f"/dashboard/cases/{case_id}/callback",
                  f"/dashboard/cases/{case_id}",
                  day=dt.datetime.now(TZ).date().isoformat(), result="satisfied")
    assert r.status_code == 303
    assert case_id not in _overdue_ids(dash, "U-01", late)[0]


def test_an_appealed_case_is_not_overdue_against_its_unit(dash):
    # While appealed only a supervisor can act; the case still ran late against the unit and
    # counted in its overdue figures for days the supervisor took.
    case_id, _ = bad_case(dash, unit="U-02", window="W-004")
    manager, supervisor = dash.login("u02"), dash.login("jfb")
    late = dt.date.fromisoformat(_row(dash, case_id)["answer_due"]) + dt.timedelta(days=30)
    assert case_id in _overdue_ids(dash, "U-02", late)[0]
    assert case_action(manager, dash, case_id, "appeal", "恶意差评").status_code == 303
    ids, tab, overview = _overdue_ids(dash, "U-02", late)
    assert case_id not in ids and tab == overview == len(ids)
    assert cases.overdue(_row(dash, case_id), late) == []
    page = supervisor.get(f"{dash.url}/dashboard/cases/{case_id}").text
    assert "data-clocks-paused" in page


def _appealed_weeks_ago(dash, case_id: int, days: int) -> str:
    """Date the case's appeal ``days`` calendar days back (as if filed then); returns it."""
    day = (dt.datetime.now(TZ).date() - dt.timedelta(days=days)).isoformat()
    with write(dash.engine) as conn:
        entry = conn.execute(select(audit_log.c.id, audit_log.c.detail).where(
            audit_log.c.case_id == case_id, audit_log.c.action == "appeal")
            .order_by(audit_log.c.id.desc()).limit(1)).one()
        conn.execute(update(audit_log).where(audit_log.c.id == entry.id).values(
            detail=json.dumps(json.loads(entry.detail) | {"day": day})))
    return day


def _moved_by_the_pause(dash, case_id: int, before: dict, since: str, action: str) -> None:
    after = _row(dash, case_id)
    with read(dash.engine) as conn:
        detail = json.loads(conn.execute(select(audit_log.c.detail).where(
            audit_log.c.case_id == case_id, audit_log.c.action == action)
            .order_by(audit_log.c.id.desc()).limit(1)).scalar_one())
        _, cal = cases.stored_settings(conn)
    days = detail["paused_days"]
    # the working days from the appeal to the decision (today, the site's), at least those
    # up to yesterday whatever the hour
    yesterday = dt.datetime.now(TZ).date() - dt.timedelta(days=1)
    assert days >= cal.working_days_between(since, yesterday) > 0
    for column in ("first_contact_due", "answer_due"):
        assert after[column] == cal.add_working_days(before[column], days).isoformat()
        assert detail["moved"][column] == [before[column], after[column]]


def test_a_rejected_appeal_gives_the_unit_back_the_days_it_was_appealed(dash):
    case_id, _ = bad_case(dash, unit="U-02", window="W-004")
    manager, supervisor = dash.login("u02"), dash.login("jfb")
    before = _row(dash, case_id)
    assert case_action(manager, dash, case_id, "appeal", "误评").status_code == 303
    since = _appealed_weeks_ago(dash, case_id, 21)
    assert case_action(supervisor, dash, case_id, "reject_appeal", "证据不足").status_code == 303
    _moved_by_the_pause(dash, case_id, before, since, "reject_appeal")
    page = manager.get(f"{dash.url}/dashboard/cases/{case_id}").text
    assert "data-deadlines-moved" in page


def test_a_revoked_appeal_gives_the_unit_back_the_days_too(dash):
    case_id, _ = bad_case(dash, unit="U-02", window="W-004")
    manager, supervisor, admin = dash.login("u02"), dash.login("jfb"), dash.login("admin")
    before = _row(dash, case_id)
    assert case_action(manager, dash, case_id, "appeal", "误评").status_code == 303
    assert case_action(supervisor, dash, case_id, "accept_appeal", "误触").status_code == 303
    since = _appealed_weeks_ago(dash, case_id, 15)
    assert case_action(admin, dash, case_id, "revoke_appeal", "复核不成立").status_code == 303
    _moved_by_the_pause(dash, case_id, before, since, "revoke_appeal")


def test_an_appeal_decided_the_day_it_was_filed_moves_nothing(dash):
    case_id, _ = bad_case(dash, unit="U-02", window="W-004")
    manager, supervisor = dash.login("u02"), dash.login("jfb")
    before = _row(dash, case_id)
    assert case_action(manager, dash, case_id, "appeal", "误评").status_code == 303
    assert case_action(supervisor, dash, case_id, "reject_appeal", "证据不足").status_code == 303
    after = _row(dash, case_id)
    assert (after["first_contact_due"], after["answer_due"]) == \
        (before["first_contact_due"], before["answer_due"])
