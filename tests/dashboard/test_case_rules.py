"""The rules of the bad-rating loop a case page must not let slip, over HTTP on SQLite and
PostgreSQL: a real-name bad rating is called back before its case is closed (100 % 回访),
holidays entered later move the deadlines of the cases still open, nobody accepts their own
appeal, and a case goes to no deactivated account and, once closed, to nobody."""

from __future__ import annotations

import datetime as dt
import json
import re

from sqlalchemy import select

from aggregator import constants as C
from aggregator import demo
from aggregator import ratings as rating_store
from aggregator.dashboard import accounts, cases, config
from aggregator.dashboard.tables import audit_log
from aggregator.dashboard.tables import cases as cases_table
from aggregator.db import make_engine, read, utcnow, write
from aggregator.migrations import migrate
from tests.dashboard.helpers import PASSWORD, case_action, csrf_of, post_form, refusal_line


def _case(s, dash, case_id) -> dict:
    return s.get(f"{dash.url}/dashboard/api/cases/{case_id}").json()


# ---- 100 % callback of real-name bad ratings ------------------------------------------------

def test_a_real_name_bad_rating_is_closed_only_after_its_callback(dash):
    # DESIGN: "100 % callback for real-name bad ratings". A unit could verify, rectify, answer
    # and close the case of a citizen who left a number to be called back without ever
    # calling, and nobody was told: now the case and the queue say a callback is due, and
    # closing is refused until one is on record.
    case_id = dash.phone_case()
    s = dash.login("u01")
    page = s.get(f"{dash.url}/dashboard/cases/{case_id}").text
    assert "data-callback-needed" in page and "待回访" in page
    r = post_form(s, dash, f"/dashboard/cases/{case_id}/assign", f"/dashboard/cases/{case_id}",
              assignee=str(dash.users["u01"]))
    assert r.status_code == 303
    queue = s.get(f"{dash.url}/dashboard/cases?state=mine").text
    row = re.search(rf'<tr[^>]*data-case="{case_id}".*?</tr>', queue, re.S)[0]
    assert "data-callback-needed" in row
    assert re.search(r'data-callbacks-due>待回访 <span class="count red">[1-9]\d*<', queue)
    due = s.get(f"{dash.url}/dashboard/cases?state=callback").text   # the tab lists it
    assert f'data-case="{case_id}"' in due
    assert _case(s, dash, case_id)["callback_needed"] is True
    for action in ("verify", "rectify", "answer"):   # the work itself is not held up
        assert case_action(s, dash, case_id, action).status_code == 303, action
    page = s.get(f"{dash.url}/dashboard/cases/{case_id}").text
    assert re.search(r'data-action="close" disabled', page)
    assert "data-close-needs-callback" in page
    r = case_action(s, dash, case_id, "close")
    assert r.status_code == 400
    assert refusal_line(r) == "实名差评须先回访，记录回访后才能办结"
    assert refusal_line(case_action(s, dash, case_id, "close", lang="en")).startswith(
        "The citizen left a number to be called back")
    assert _case(s, dash, case_id)["state"] == "answered"
    # a callback that did not reach the citizen is a callback on record all the same
    day = _case(s, dash, case_id)["opened_day"]
    r = post_form(s, dash, f"/dashboard/cases/{case_id}/callback", f"/dashboard/cases/{case_id}",
              day=day, result="unreachable", note="两次未接通")
    assert r.status_code == 303
    page = s.get(f"{dash.url}/dashboard/cases/{case_id}").text
    assert "data-callback-needed" not in page and 'data-action="close" disabled' not in page
    queue = s.get(f"{dash.url}/dashboard/cases?state=mine").text
    row = re.search(rf'<tr[^>]*data-case="{case_id}".*?</tr>', queue, re.S)[0]
    assert "data-callback-needed" not in row
    due = s.get(f"{dash.url}/dashboard/cases?state=callback").text
    assert f'data-case="{case_id}"' not in due
    assert case_action(s, dash, case_id, "close").status_code == 303
    case = _case(s, dash, case_id)
    assert case["state"] == "closed" and case["callback_needed"] is False


def test_a_bad_rating_without_a_number_closes_without_a_callback(dash):
    # the rule is for ratings whose citizen asked to be called: the others are not held up
    case_id = dash.case_id("U-01", skip=1)
    s = dash.login("u01")
    assert _case(s, dash, case_id)["callback_needed"] is False
    for action in ("verify", "rectify", "answer", "close"):
        assert case_action(s, dash, case_id, action).status_code == 303, action


# ---- deadlines follow the calendar ----------------------------------------------------------

def _rating(rid: str, day: str, now) -> dict:
    return {"id": rid, "device_id": "kiosk-W-001", "window_id": "W-001", "unit_id": "U-01",
            "staff_id": "S-001", "staff_name": "x", "service_item": None, "case_no": None,
            "invitation_id": None, "channel": C.CHANNEL_HALL_TABLET, "level": "very_dissatisfied",
            "stars": 1, "scale": 5, "reasons": None, "reasons_version": None, "comment": None,
            "phone": None, "callback_consent": False, "device_time": now, "server_time": now,
            "rated_at": now, "day": day, "flags": "[]", "flagged": False}


def test_holidays_entered_after_a_case_opened_move_its_open_deadlines(dash):
    # Deadlines were dated once, when the case opened: the National Day holidays typed in on
    # the settings page in September left the deadlines of the cases already open on them,
    # and those cases showed overdue on a holiday the calendar said was no working day.
    now = dt.datetime(2026, 9, 30, 2, 0, tzinfo=dt.timezone.utc)   # Wednesday, 10:00 Beijing
    ids = {k: f"00000000-0000-4000-8000-0000000b100{n}"
           for n, k in enumerate(("open", "contacted", "closed"))}
    with write(dash.engine) as conn:
        rows = [_rating(rid, "2026-09-30", now) for rid in ids.values()]
        rating_store.store(conn, rows)
        cases.open_cases_for(conn, rows, now)
        case = {k: conn.execute(select(cases_table.c.id).where(
            cases_table.c.rating_id == rid)).scalar_one() for k, rid in ids.items()}
        # one already contacted (its first-contact step done), one closed
        conn.execute(cases_table.update().where(cases_table.c.id == case["contacted"])
                     .values(state="verified", first_contact_at=now))
        conn.execute(cases_table.update().where(cases_table.c.id == case["closed"])
                     .values(state="closed", resolution="resolved", closed_at=now,
                             first_contact_at=now, answered_at=now))
    before = {c["id"]: c for c in _dues(dash, case.values())}
    assert before[case["open"]]["first_contact_due"] == "2026-10-01"
    admin = dash.login("admin")
    holidays = " ".join(f"2026-10-0{d}" for d in range(1, 8))
    r = post_form(admin, dash, "/dashboard/settings", "/dashboard/settings",
              target_percent="80", first_contact_days="1", answer_days="15",
              holidays=holidays, workdays="2026-10-10")
    assert r.status_code == 303, r.text[-500:]
    after = {c["id"]: c for c in _dues(dash, case.values())}
    # 1 and 15 working days after 30 Sep, the 1st-7th off and Saturday the 10th worked
    assert (after[case["open"]]["first_contact_due"], after[case["open"]]["answer_due"]) \
        == ("2026-10-08", "2026-10-27")
    assert not cases.overdue(after[case["open"]], dt.date(2026, 10, 2))
    # a step done keeps its date; a closed case is left as it was
    assert after[case["contacted"]]["first_contact_due"] == "2026-10-01"
    assert after[case["contacted"]]["answer_due"] == "2026-10-27"
    assert after[case["closed"]] == before[case["closed"]]
    with read(dash.engine) as conn:
        logged = conn.execute(select(audit_log.c.username, audit_log.c.detail).where(
            audit_log.c.action == "reschedule_cases")).all()
        assert config.load(conn).holidays[0] == "2026-10-01"
    assert len(logged) == 1 and logged[0].username == "admin"
    assert json.loads(logged[0].detail)["cases"] >= 2
    # saving the same calendar again moves nothing and logs nothing more; nor do new numbers
    # of days, which are for the cases opened from then on (a shorter answer time made the
    # open cases overdue at once: 47 to 118 in the demo)
    post_form(admin, dash, "/dashboard/settings", "/dashboard/settings", target_percent="85",
              first_contact_days="2", answer_days="5", holidays=holidays, workdays="2026-10-10")
    assert {c["id"]: c for c in _dues(dash, case.values())} == after
    with read(dash.engine) as conn:
        assert len(conn.execute(select(audit_log.c.id).where(
            audit_log.c.action == "reschedule_cases")).all()) == 1
    # back to the defaults for the other tests of this module
    post_form(admin, dash, "/dashboard/settings", "/dashboard/settings", target_percent="80",
          first_contact_days="1", answer_days="15", holidays="", workdays="")


def _dues(dash, ids) -> list[dict]:
    with read(dash.engine) as conn:
        return [dict(r) for r in conn.execute(select(
            cases_table.c.id, cases_table.c.state, cases_table.c.first_contact_due,
            cases_table.c.answer_due, cases_table.c.first_contact_at, cases_table.c.answered_at)
            .where(cases_table.c.id.in_(list(ids)))).mappings()]


# ---- appeals: a second pair of eyes ---------------------------------------------------------

def test_whoever_filed_an_appeal_cannot_accept_it(dash):
    # An accepted appeal (误评/恶意差评) takes a bad rating out of the unit's and the region's
    # figures: a supervisor or admin could appeal and accept it alone, on one person's word.
    case_id = dash.case_id("U-02", skip=2)
    supervisor, admin, manager = dash.login("jfb"), dash.login("admin"), dash.login("u02")
    assert case_action(supervisor, dash, case_id, "appeal", "恶意差评").status_code == 303
    page = supervisor.get(f"{dash.url}/dashboard/cases/{case_id}").text
    assert 'data-action="accept_appeal"' not in page and "data-own-appeal" in page
    assert 'data-action="reject_appeal"' in page
    r = case_action(supervisor, dash, case_id, "accept_appeal")
    assert r.status_code == 403 and refusal_line(r) == "申诉须由提交人以外的人员审核"
    assert refusal_line(case_action(supervisor, dash, case_id, "accept_appeal", lang="en")) \
        == "An appeal is decided by someone other than who filed it"
    assert _case(admin, dash, case_id)["state"] == "appealed"
    # the current appeal counts: rejected, then filed again by the unit, jfb may decide it
    assert case_action(admin, dash, case_id, "reject_appeal").status_code == 303
    assert case_action(manager, dash, case_id, "appeal", "误评：群众按错").status_code == 303
    assert 'data-action="accept_appeal"' in supervisor.get(
        f"{dash.url}/dashboard/cases/{case_id}").text
    assert case_action(supervisor, dash, case_id, "accept_appeal", "核实为误评").status_code == 303
    case = _case(admin, dash, case_id)
    assert case["state"] == "closed" and case["not_counted"]


def test_the_demo_has_its_appeals_decided_by_another_account(tmp_path):
    # The demo filed and accepted its appeals under one account, which the rule above refuses
    # (and a demo is what people copy).
    engine = make_engine(f"sqlite:///{tmp_path / 'demo.db'}")
    migrate(engine)
    now = dt.datetime(2026, 5, 15, 10, 30, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    summary = demo.run(engine, months=1, seed=1, now=now)
    assert summary["cases"].get("closed_as_invalid", 0) >= 1, summary["cases"]
    with read(engine) as conn:
        by = {}
        for case_id, action, user_id in conn.execute(select(
                audit_log.c.case_id, audit_log.c.action, audit_log.c.user_id).where(
                audit_log.c.action.in_(("appeal", "accept_appeal")))
                .order_by(audit_log.c.id)):
            by.setdefault(case_id, {})[action] = user_id
    accepted = [d for d in by.values() if "accept_appeal" in d]
    assert accepted and all(d["appeal"] != d["accept_appeal"] for d in accepted)
    engine.dispose()


# ---- assignment -----------------------------------------------------------------------------

def test_a_case_is_assigned_to_no_deactivated_account_and_no_closed_case_is_assigned(dash):
    # The picker hides deactivated accounts, but the form's POST took any id: a case went to
    # someone who can no longer sign in, and no one's "我的工单" listed it.
    with write(dash.engine) as conn:
        gone = accounts.create_user(conn, "u01-left", PASSWORD, "unit_manager", unit_id="U-01",
                                    display_name="已离职 赵", now=utcnow())
        accounts.set_active(conn, "u01-left", False, utcnow())
    case_id = dash.case_id("U-01", skip=3)
    s = dash.login("u01")
    page = f"/dashboard/cases/{case_id}"
    r = post_form(s, dash, f"{page}/assign", page, assignee=str(gone["id"]))
    assert r.status_code == 400
    assert refusal_line(r) == "已离职 赵（u01-left）的账号已停用，不能指派工单"
    assert _case(s, dash, case_id)["assignee_id"] is None
    # a closed case has no work left: no form, and the POST is refused
    for action in ("verify", "rectify", "answer", "close"):
        assert case_action(s, dash, case_id, action).status_code == 303, action
    assert 'data-action="assign"' not in s.get(f"{dash.url}{page}").text
    csrf = csrf_of(s, f"{dash.url}/dashboard/cases")
    r = s.post(f"{dash.url}{page}/assign?lang=zh_CN", allow_redirects=False,
               data={"csrf": csrf, "assignee": str(dash.users["u01"])})
    assert r.status_code == 400 and refusal_line(r) == "该工单已办结，不能再指派"
    assert _case(s, dash, case_id)["assignee_id"] is None
