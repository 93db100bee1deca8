"""100 % 回访 of real-name bad ratings, whatever happened to the case: a number left after the
case was closed, an appeal accepted before anyone called, a callback's date typed in another
form."""

from __future__ import annotations

import datetime as dt
import doctest
import json
import uuid

from sqlalchemy import select

from aggregator import constants as C
from aggregator import ratings as rating_store
from aggregator.dashboard import cases, queue
from aggregator.dashboard.tables import audit_log, case_callbacks
from aggregator.dashboard.tables import cases as cases_table
from aggregator.db import read, utcnow, write
from tests.dashboard.helpers import TZ, case_action, post_form, refusal_line

PHONE = "13900001111"


def bad_case(dash, unit: str = "U-01", window: str = "W-001", phone: str | None = None) -> tuple:
    """(case id, rating id) of a new bad kiosk rating, stored and opened as ingest does; with
    a number to call back (and consent) when ``phone`` is given."""
    now = utcnow()
    rid = str(uuid.uuid4())
    row = {"id": rid, "device_id": f"kiosk-{window}", "window_id": window, "unit_id": unit,
           "staff_id": None, "staff_name": None, "service_item": None, "case_no": None,
           "invitation_id": None, "channel": C.CHANNEL_HALL_TABLET, "level": "dissatisfied",
           "stars": 2, "scale": 5, "reasons": json.dumps(["attitude"]),
           "reasons_version": C.REASONS_VERSION, "comment": None, "phone": phone,
           "callback_consent": bool(phone), "device_time": now, "server_time": now,
           "rated_at": now, "day": now.astimezone(TZ).date().isoformat(), "flags": "[]",
           "flagged": False}
    with write(dash.engine) as conn:
        rating_store.store(conn, [row])
        cases.open_cases_for(conn, [row], now)
        case_id = conn.execute(select(cases_table.c.id).where(
            cases_table.c.rating_id == rid)).scalar_one()
    return case_id, rid


def _today() -> dt.date:
    return dt.datetime.now(TZ).date()


def _in_tab(session, dash, tab: str, case_id: int) -> bool:
    page = session.get(f"{dash.url}/dashboard/cases?state={tab}&unit=U-01").text
    return f'data-case="{case_id}"' in page


def test_a_number_left_after_the_case_was_closed_is_owed_its_callback(dash):
    # A kiosk bad rating without a number opens a case; the unit closes it; days later, with
    # the follow-up link still valid, the citizen leaves a number and asks to be called. The
    # case ignored it (it existed already, and "callback owed" required a case not closed):
    # the citizen was told "we will call you" and nobody ever did.
    case_id, rid = bad_case(dash)
    manager = dash.login("u01")
    for action in ("verify", "rectify", "answer", "close"):
        assert case_action(manager, dash, case_id, action).status_code == 303, action
    assert not _in_tab(manager, dash, "callback", case_id)
    now = utcnow()
    with write(dash.engine) as conn:   # what the QR page and ingest do with such a number
        rating_store.attach(conn, rid, rating_store.COMMENT, {
            "comment": "请给我回个电话", "phone": PHONE, "callback_consent": True}, now)
        assert cases.open_cases_for_callbacks(conn, [rid], now) == 0   # no second case
    with read(dash.engine) as conn:
        case = dict(conn.execute(select(cases_table).where(cases_table.c.id == case_id))
                    .mappings().one())
        asked = conn.execute(select(audit_log.c.detail).where(
            audit_log.c.case_id == case_id,
            audit_log.c.action == "callback_requested")).scalars().all()
    # the case stays closed (its steps were done) and is owed its callback, due after the
    # number came, not on the answer deadline long past
    assert case["state"] == "closed"
    assert case["callback_due"] >= max(case["answer_due"], now.date().isoformat())
    assert len(asked) == 1 and json.loads(asked[0])["due"] == case["callback_due"]
    assert _in_tab(manager, dash, "callback", case_id)
    page = manager.get(f"{dash.url}/dashboard/cases/{case_id}").text
    assert "data-callback-needed" in page and "data-callback-requested" in page
    assert f'action="/dashboard/cases/{case_id}/callback"' in page
    # someone must see the whole number to call it: the closed case can be given to someone
    assert f'action="/dashboard/cases/{case_id}/assign"' in page
    r = post_form(manager, dash, f"/dashboard/cases/{case_id}/assign",
                  f"/dashboard/cases/{case_id}", assignee=str(dash.users["u01"]))
    assert r.status_code == 303
    assert manager.get(f"{dash.url}/dashboard/api/cases/{case_id}").json()["phone"] == PHONE
    # the callback is recorded on the closed case, on the record, and it is owed no more
    r = post_form(manager, dash, f"/dashboard/cases/{case_id}/callback",
                  f"/dashboard/cases/{case_id}", day=_today().isoformat(), result="satisfied")
    assert r.status_code == 303
    assert not _in_tab(manager, dash, "callback", case_id)
    with read(dash.engine) as conn:
        audited = conn.execute(select(audit_log.c.detail).where(
            audit_log.c.case_id == case_id, audit_log.c.action == "callback")).scalar_one()
    assert json.loads(audited)["state"] == "closed"
    case = manager.get(f"{dash.url}/dashboard/api/cases/{case_id}").json()
    assert case["state"] == "closed" and not case["callback_needed"]


def test_an_appeal_is_accepted_only_with_a_reason_and_after_the_callback(dash):
    # An accepted appeal closes the case, and only "close" checked the callback: a real-name
    # bad rating was closed (and left the figures) without anyone calling the citizen, on a
    # supervisor's click with no reason given.
    case_id, _ = bad_case(dash, phone=PHONE)
    manager, supervisor = dash.login("u01"), dash.login("jfb")
    assert case_action(manager, dash, case_id, "appeal", "恶意差评").status_code == 303
    r = case_action(supervisor, dash, case_id, "accept_appeal")
    assert r.status_code == 400 and refusal_line(r) == "认定申诉成立须说明理由（为何属误评/恶意差评）"
    r = case_action(supervisor, dash, case_id, "accept_appeal", "录像显示为误触")
    assert r.status_code == 400
    assert refusal_line(r) == "实名差评须先回访，记录回访后才能认定申诉成立"
    assert refusal_line(case_action(supervisor, dash, case_id, "accept_appeal", "误触",
                                    lang="en")).startswith("The citizen left a number")
    assert supervisor.get(f"{dash.url}/dashboard/api/cases/{case_id}").json()["state"] \
        == "appealed"
    r = post_form(manager, dash, f"/dashboard/cases/{case_id}/callback",
                  f"/dashboard/cases/{case_id}", day=_today().isoformat(), result="declined")
    assert r.status_code == 303
    assert case_action(supervisor, dash, case_id, "accept_appeal", "录像显示为误触") \
        .status_code == 303
    case = supervisor.get(f"{dash.url}/dashboard/api/cases/{case_id}").json()
    assert case["state"] == "closed" and case["resolution"] == "invalid"
    assert case["note"] == "录像显示为误触"


def test_a_callback_date_is_yyyy_mm_dd_and_audited_as_stored(dash):
    # "20261105" was read by fromisoformat, stored as 2026-11-05 and audited as typed: the
    # audit trail and the table disagreed about the same callback.
    case_id, _ = bad_case(dash, phone=PHONE)
    manager = dash.login("u01")
    today = _today()
    page = f"/dashboard/cases/{case_id}"
    # the compact and week forms fromisoformat reads too, and full-width digits
    for typed in (today.strftime("%Y%m%d"), today.strftime("%G-W%V-%u"), "２０２６-０１-０１"):
        r = post_form(manager, dash, f"{page}/callback", page, day=typed, result="satisfied")
        assert r.status_code == 400, typed
        assert refusal_line(r).startswith("回访日期：应为年-月-日格式的日期"), typed
    r = post_form(manager, dash, f"{page}/callback", page, day=today.isoformat(),
                  result="satisfied")
    assert r.status_code == 303
    with read(dash.engine) as conn:
        stored = conn.execute(select(case_callbacks.c.day).where(
            case_callbacks.c.case_id == case_id)).scalars().all()
        audited = conn.execute(select(audit_log.c.detail).where(
            audit_log.c.case_id == case_id, audit_log.c.action == "callback")).scalars().all()
    assert stored == [today.isoformat()]
    assert [json.loads(a)["day"] for a in audited] == [today.isoformat()]


def test_the_callback_tab_lists_closed_cases_owed_a_callback_only(dash):
    # The "待回访" tab now reaches closed cases: those called back stay out of it.
    with read(dash.engine) as conn:
        rows, total = queue.list_cases(conn, {"U-01"}, _today(), state="callback", limit=500)
        assert total == len(rows)
        for r in rows:
            assert r["callback_needed"] and r["callback_due"], r["id"]
            assert conn.execute(select(case_callbacks.c.id).where(
                case_callbacks.c.case_id == r["id"])).first() is None


def test_callback_due_doctests():
    # the rule of a late number's deadline, as docs/dashboard.md gives it
    assert doctest.testmod(cases, optionflags=doctest.ELLIPSIS).failed == 0
