"""Bad-rating cases over HTTP: opened for every bad rating, moved through to closed, appeals
decided by a supervisor, every change and every view audited. SQLite and PostgreSQL."""

import datetime as dt
import json
import re

from sqlalchemy import func, select, update

from aggregator import ratings as rating_store
from aggregator.dashboard import cases, sample
from aggregator.dashboard.tables import audit_log, users
from aggregator.dashboard.tables import cases as cases_table
from aggregator.db import utcnow, write
from aggregator.schema import ratings
from tests.dashboard.helpers import csrf_of


def _act(s, dash, case_id, action, note=""):
    csrf = csrf_of(s, f"{dash.url}/dashboard/cases/{case_id}")
    return s.post(f"{dash.url}/dashboard/cases/{case_id}/action",
                  data={"action": action, "note": note, "csrf": csrf}, allow_redirects=False)


def _audit(dash, case_id):
    with write(dash.engine) as conn:
        return [(r.action, r.username, json.loads(r.detail or "{}")) for r in conn.execute(
            select(audit_log).where(audit_log.c.case_id == case_id).order_by(audit_log.c.id))]


def test_every_bad_unflagged_rating_has_exactly_one_case(dash):
    # (a rating whose appeal was accepted is flagged since, and keeps its case: the tests of
    # this module may have accepted one before this runs)
    with write(dash.engine) as conn:
        bad = sum(1 for (flags,) in conn.execute(select(ratings.c.flags).where(
            ratings.c.stars <= 2)) if set(json.loads(flags or "[]")) <= {"appeal_accepted"})
        assert conn.execute(select(func.count()).select_from(cases_table)).scalar() == bad
        assert cases.sync_cases(conn, utcnow(), full=True) == 0  # idempotent


def test_case_moves_through_to_closed_with_an_audit_row_per_change(dash):
    case_id = dash.case_id("U-01", skip=1)
    s = dash.login("u01")
    for action in ("verify", "rectify", "answer", "close"):
        r = _act(s, dash, case_id, action, note=f"{action} note")
        assert r.status_code == 303, r.text[:300]
    case = s.get(f"{dash.url}/dashboard/api/cases/{case_id}").json()
    assert case["state"] == "closed" and case["resolution"] == "resolved"
    assert case["first_contact_at"] and case["answered_at"] and case["closed_at"]
    changes = [(a, d.get("from"), d.get("to")) for a, _, d in _audit(dash, case_id) if a != "view"]
    assert changes == [("verify", "new", "verified"), ("rectify", "verified", "rectifying"),
                       ("answer", "rectifying", "answered"), ("close", "answered", "closed")]
    assert all(u == "u01" for _, u, _ in _audit(dash, case_id))
    assert _act(s, dash, case_id, "verify").status_code == 400  # closed is final


def test_repeated_views_are_one_history_line_but_every_view_is_audited(dash):
    # Each opening of a case is audited (who saw the phone number); the page listed every
    # one, and a case opened fifty times buried its transitions under fifty lines.
    case_id = dash.case_id("U-01", skip=2)
    s = dash.login("u01")
    for _ in range(3):
        s.get(f"{dash.url}/dashboard/cases/{case_id}")
    assert _act(s, dash, case_id, "verify").status_code == 303
    history = s.get(f"{dash.url}/dashboard/api/cases/{case_id}").json()["history"]
    assert [(h["action"], h["count"]) for h in history] == [("view", 4), ("verify", 1), ("view", 1)]
    assert [a for a, _, _ in _audit(dash, case_id)].count("view") == 5
    assert "×4" in s.get(f"{dash.url}/dashboard/cases/{case_id}").text


def test_appeal_is_decided_by_a_supervisor(dash):
    case_id = dash.case_id("U-01", skip=2)
    manager, supervisor = dash.login("u01"), dash.login("jfb")
    assert _act(manager, dash, case_id, "appeal").status_code == 400  # a reason is required
    assert _act(manager, dash, case_id, "appeal", "同一人连续误触").status_code == 303
    assert _act(manager, dash, case_id, "accept_appeal").status_code == 403
    assert _act(supervisor, dash, case_id, "reject_appeal").status_code == 303
    assert manager.get(f"{dash.url}/dashboard/api/cases/{case_id}").json()["state"] == "new"
    assert _act(manager, dash, case_id, "appeal", "监控显示为恶意差评").status_code == 303
    # accepting needs a reason too (it takes the rating out of the figures)
    assert _act(supervisor, dash, case_id, "accept_appeal").status_code == 400
    assert _act(supervisor, dash, case_id, "accept_appeal", "录像核实").status_code == 303
    case = supervisor.get(f"{dash.url}/dashboard/api/cases/{case_id}").json()
    assert case["state"] == "closed" and case["resolution"] == "invalid"
    actions = [a for a, _, _ in _audit(dash, case_id) if a != "view"]
    assert actions == ["appeal", "reject_appeal", "appeal", "accept_appeal"]
    # its steps: appealed while new, so verified, rectifying and answered never happened (the
    # page ticked them all)
    page = supervisor.get(f"{dash.url}/dashboard/cases/{case_id}").text
    steps = re.findall(r'<li class="(\w*)">', page.split('<ol class="steps">')[1].split("</ol>")[0])
    assert steps == ["done", "skipped", "skipped", "skipped", "done"]
    from aggregator.schema import units

    with write(dash.engine) as conn:   # names, as the case list shows them (it showed codes)
        unit_name = conn.execute(select(units.c.name).where(units.c.id == "U-01")).scalar()
    assert f"<dd>{unit_name} / " in page


def test_phone_is_masked_for_everyone_but_the_assignee(dash):
    case_id = dash.phone_case()
    supervisor, manager = dash.login("jfb"), dash.login("u01")
    assert supervisor.get(f"{dash.url}/dashboard/api/cases/{case_id}").json()["phone"] \
        == "138****1234"
    csrf = csrf_of(supervisor, f"{dash.url}/dashboard/cases/{case_id}")
    r = supervisor.post(f"{dash.url}/dashboard/cases/{case_id}/assign",
                        data={"assignee": str(dash.users["u01"]), "csrf": csrf})
    assert r.status_code == 200
    assert manager.get(f"{dash.url}/dashboard/api/cases/{case_id}").json()["phone"] \
        == sample.PHONE
    assert sample.PHONE not in supervisor.get(f"{dash.url}/dashboard/cases/{case_id}").text
    list_html = manager.get(f"{dash.url}/dashboard/cases?state=all").text
    assert sample.PHONE not in list_html and "138****" not in list_html
    views = [(u, d) for a, u, d in _audit(dash, case_id) if a == "view"]
    assert ("u01", {"phone_shown": True}) in views and ("jfb", {"phone_shown": False}) in views


def test_callback_is_recorded_and_counts_as_first_contact(dash):
    case_id = dash.case_id("U-01", skip=3)
    s = dash.login("u01")
    csrf = csrf_of(s, f"{dash.url}/dashboard/cases/{case_id}")
    opened = s.get(f"{dash.url}/dashboard/api/cases/{case_id}").json()["opened_day"]
    r = s.post(f"{dash.url}/dashboard/cases/{case_id}/callback", data={
        "csrf": csrf, "day": opened, "result": "satisfied", "note": "已电话回访"})
    assert r.status_code == 200
    case = s.get(f"{dash.url}/dashboard/api/cases/{case_id}").json()
    assert case["callbacks"][0]["result"] == "satisfied" and case["first_contact_at"]
    assert "callback" in [a for a, _, _ in _audit(dash, case_id)]
    # A date that is not a date, or a callback before the case opened or in the future
    # (2099-01-01 and 0001-01-01 were saved and shown).
    before = (dt.date.fromisoformat(opened) - dt.timedelta(days=1)).isoformat()
    for day in ("yesterday", before, "2099-01-01", "0001-01-01"):
        r = s.post(f"{dash.url}/dashboard/cases/{case_id}/callback", data={
            "csrf": csrf, "day": day, "result": "satisfied"})
        assert r.status_code == 400, day
    assert len(s.get(f"{dash.url}/dashboard/api/cases/{case_id}").json()["callbacks"]) == 1
    # a date in another form ("20261204") is refused, as the exports' days are: it was stored
    # as the date it read but audited as typed (tests/dashboard/test_case_callbacks.py)
    r = s.post(f"{dash.url}/dashboard/cases/{case_id}/callback", data={
        "csrf": csrf, "day": opened.replace("-", ""), "result": "unreachable"})
    assert r.status_code == 400
    days = [c["day"] for c in s.get(f"{dash.url}/dashboard/api/cases/{case_id}").json()["callbacks"]]
    assert days == [opened]


def test_open_cases_for_is_idempotent_and_skips_flagged_and_good(dash):
    now = utcnow()
    base = {"device_id": "kiosk-W-002", "window_id": "W-002", "unit_id": "U-01",
            "staff_id": None, "staff_name": None, "service_item": None, "case_no": None,
            "invitation_id": None, "channel": 4, "scale": 5, "reasons": None,
            "reasons_version": None, "comment": None, "phone": None, "callback_consent": False,
            "device_time": now, "server_time": now, "day": "2024-09-30", "flags": "[]",
            "flagged": False}
    rows = [base | {"id": "hook-bad", "level": "dissatisfied", "stars": 2},
            base | {"id": "hook-flagged", "level": "very_dissatisfied", "stars": 1,
                    "flags": '["burst"]', "flagged": True},
            base | {"id": "hook-good", "level": "satisfied", "stars": 4}]
    s = cases.DashboardSettings(holidays=[f"2024-10-0{d}" for d in range(1, 8)])
    with write(dash.engine) as conn:
        rating_store.store(conn, rows)
        assert cases.open_cases_for(conn, rows, now, s) == 1
        assert cases.open_cases_for(conn, rows, now, s) == 0
        row = conn.execute(select(cases_table).where(cases_table.c.rating_id == "hook-bad")) \
            .mappings().one()
    assert (row["first_contact_due"], row["answer_due"]) == ("2024-10-08", "2024-10-28")
    assert dt.date.fromisoformat(row["opened_day"]) == dt.date(2024, 9, 30)


def test_the_queue_puts_late_cases_first_and_those_only_waiting_to_close_last(dash):
    # By answer date alone, answered cases waiting to be closed filled the first page and the
    # seven late ones were on the second.
    from aggregator.dashboard import queue, scope
    from aggregator.db import read

    early = dash.case_id("U-01", skip=3)
    with write(dash.engine) as conn:   # one case answered early, so it sorts first by answer date
        conn.execute(update(cases_table).where(cases_table.c.id == early)
                     .values(state="answered", answered_at=utcnow(), first_contact_at=utcnow(),
                             answer_due="2000-01-01"))
    with read(dash.engine) as conn:
        admin = conn.execute(select(users).where(users.c.username == "admin")).mappings().one()
        allowed = scope.allowed_units(conn, admin)
        today = utcnow().date()
        rows, total = queue.list_cases(conn, allowed, today, state="open", limit=100_000)
    assert rows and total == len(rows)
    waiting = [bool(r["answered_at"]) for r in rows]
    assert waiting == sorted(waiting), "a case waiting only to be closed came before work to do"
    working = [r for r in rows if not r["answered_at"]]
    late = [bool(r["overdue"]) for r in working]
    assert any(late) and late == sorted(late, reverse=True), "a late case came after one on time"


def test_a_reopened_case_is_overdue_again_after_its_answer_deadline(dash):
    # "退回整改" (reopen) kept the first answer's time, and every overdue check asks whether a
    # case is unanswered past its answer_due: a unit could answer once, be sent back, and
    # never show as late again (nor in the overdue tab, nor in the overview's count).
    from aggregator.dashboard import queue, scope
    from aggregator.db import read

    case_id = dash.case_id("U-02", skip=2)
    s = dash.login("admin")
    for action in ("verify", "rectify", "answer"):
        assert _act(s, dash, case_id, action).status_code == 303
    with write(dash.engine) as conn:   # its answer deadline has passed meanwhile
        conn.execute(update(cases_table).where(cases_table.c.id == case_id)
                     .values(answer_due="2000-01-03"))
    assert _act(s, dash, case_id, "reopen", note="整改不到位").status_code == 303
    case = s.get(f"{dash.url}/dashboard/api/cases/{case_id}").json()
    assert case["state"] == "rectifying" and case["answered_at"] is None
    assert case["first_contact_at"]  # the contact made stays made
    with read(dash.engine) as conn:
        admin = conn.execute(select(users).where(users.c.username == "admin")).mappings().one()
        today = utcnow().date()
        late, _ = queue.list_cases(conn, scope.allowed_units(conn, admin), today,
                                   state="overdue", limit=100_000)
    assert case_id in {r["id"] for r in late}
    assert cases.overdue(case, today) == ["answer"]
    page = s.get(f"{dash.url}/dashboard/cases/{case_id}?lang=en").text
    assert "overdue" in page.lower()
    # answered again: on time or late is judged by the new answer
    assert _act(s, dash, case_id, "answer").status_code == 303
    assert s.get(f"{dash.url}/dashboard/api/cases/{case_id}").json()["answered_at"]
    history = [(d.get("from"), d.get("to")) for a, _, d in _audit(dash, case_id) if a != "view"]
    assert history[-2:] == [("answered", "rectifying"), ("rectifying", "answered")]


def test_migration_50_unanswers_the_cases_reopened_before_it(dash):
    # Cases reopened before the fix kept their first answer's time and stayed off the
    # overdue lists; answered and closed cases keep theirs.
    from aggregator.migrations import m0050_reopened_cases_unanswered as m0050

    reopened, answered = dash.case_id("U-02", skip=3), dash.case_id("U-02", skip=4)
    then = utcnow()
    with write(dash.engine) as conn:
        for case_id, state in ((reopened, "rectifying"), (answered, "answered")):
            conn.execute(update(cases_table).where(cases_table.c.id == case_id)
                         .values(state=state, answered_at=then, first_contact_at=then))
        m0050.upgrade(conn)
        got = dict(conn.execute(select(cases_table.c.id, cases_table.c.answered_at)
                                .where(cases_table.c.id.in_((reopened, answered)))).all())
    assert got[reopened] is None and got[answered] is not None


def test_a_case_sent_back_by_an_appeal_decision_is_unanswered(dash):
    # A case reopened before migration 50 and then appealed kept its old answer's time; the
    # migration leaves closed cases alone, so a revoked (or rejected) appeal sent it back to
    # rectification never to be overdue again.
    s, unit = dash.login("admin"), dash.login("u02")   # the unit appeals, the admin decides
    for skip, decide in ((5, ["accept_appeal", "revoke_appeal"]), (6, ["reject_appeal"])):
        case_id = dash.case_id("U-02", skip=skip)
        with write(dash.engine) as conn:   # as such a case was left
            conn.execute(update(cases_table).where(cases_table.c.id == case_id).values(
                state="rectifying", answered_at=utcnow(), first_contact_at=utcnow(),
                answer_due="2000-01-03"))
        assert _act(unit, dash, case_id, "appeal", note="误评：群众按错").status_code == 303
        for action in decide:
            assert _act(s, dash, case_id, action, note="复核").status_code == 303, action
        case = s.get(f"{dash.url}/dashboard/api/cases/{case_id}").json()
        assert case["state"] == "rectifying" and case["answered_at"] is None, decide
        assert cases.overdue(case, utcnow().date()) == ["answer"]


def test_case_page_names_the_service_item(dash):
    # It showed only the item's code ("U-01-MZ-01"): whoever works the case had to look it up.
    from aggregator.schema import service_items

    case_id = dash.phone_case()
    page = dash.login("jfb").get(f"{dash.url}/dashboard/cases/{case_id}").text
    with write(dash.engine) as conn:
        name = conn.execute(select(service_items.c.name).where(
            service_items.c.code == "U-01-MZ-01")).scalar()
    assert name and f"<dd data-service-item>{name} " in page
