"""A demo district with months of synthetic ratings, written through the real rating code.

Deterministic for a seed, and safe to run twice (ratings have seeded ids, so a second run
adds nothing).
"""

from __future__ import annotations

import datetime as dt
import json
import random
import secrets
import uuid
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.engine import Engine

from . import constants as C
from . import enroll, org
from . import ratings as rating_store
from .dashboard import accounts
from .dashboard import cases as case_flow
from .dashboard.tables import cases
from .db import utcnow, write
from .schema import units

DISTRICT = ("R-D", "示范区", "district")
DEMO_STATE = {"verify": "verified", "rectify": "rectifying", "answer": "answered",
              "close": "closed", "appeal": "appealed", "accept_appeal": "closed_as_invalid"}
DEMO_OFFICE = "demo-office"  # the account the demo's case follow-ups are recorded under
# the account that decides the demo's appeals: never the one who filed them
DEMO_REVIEWER = "demo-reviewer"
TOWNS = [("R-T1", "城关街道"), ("R-T2", "东城街道"), ("R-T3", "河西镇"), ("R-T4", "青山镇")]
WINDOW_KINDS = [
    ("民政", [("MZ-01", "最低生活保障申请", "20个工作日"), ("MZ-02", "婚姻登记咨询", "即办")]),
    ("社保", [("SB-01", "城乡居民养老保险参保登记", "即办"), ("SB-02", "社会保障卡申领", "5个工作日")]),
    ("计生", [("JS-01", "生育登记", "即办"), ("JS-02", "独生子女父母光荣证", "3个工作日")]),
]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高"
GIVEN = ["芳", "伟", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明",
         "超", "秀英", "华", "建国", "晓燕", "志强", "海燕", "丹", "鹏"]
POSTS = ["窗口受理员", "综合服务岗", "业务经办员", "首席代办员"]
PLEDGES = ["热情服务，一次告知，限时办结。", "亮身份、亮承诺、亮标准，让群众少跑腿。",
           "微笑服务，耐心解答，不推诿、不拖延。"]


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def build_org(conn) -> list[dict]:
    """Regions, units, windows, staff and service items; returns the windows."""
    org.save(conn, "regions", {"id": DISTRICT[0], "name": DISTRICT[1], "level": DISTRICT[2]})
    rng = random.Random(7)
    windows, staff_no = [], 1
    for t, (region_id, town) in enumerate(TOWNS, start=1):
        org.save(conn, "regions", {"id": region_id, "name": town, "level": "town",
                                   "parent_id": DISTRICT[0]})
        unit_id = f"U-{t:02d}"
        org.save(conn, "units", {"id": unit_id, "name": f"{town}便民服务中心",
                                 "region_id": region_id, "hotline": "12345"})
        for kind, items in WINDOW_KINDS:
            window_id = f"W-{len(windows) + 1:03d}"
            org.save(conn, "windows", {"id": window_id, "name": f"{kind}窗口",
                                       "unit_id": unit_id})
            staff = []
            for _ in range(2):
                sid = f"S-{staff_no:03d}"
                name = rng.choice(SURNAMES) + rng.choice(GIVEN)
                org.save(conn, "staff", {
                    "id": sid, "name": name, "staff_no": f"{staff_no:04d}",
                    "post": rng.choice(POSTS), "party_member": rng.random() < 0.4,
                    "stars": rng.randint(3, 5), "pledge": rng.choice(PLEDGES),
                    "badge": f"1000{staff_no:04d}", "pin": f"{staff_no:04d}",
                    "unit_id": unit_id, "window_id": window_id})
                staff.append((sid, name))
                staff_no += 1
            for code, name, limit in items:
                org.save(conn, "service_items", {"code": f"{unit_id}-{code}", "name": name,
                                                 "time_limit": limit, "unit_id": unit_id})
            windows.append({"id": window_id, "unit_id": unit_id, "staff": staff,
                            "items": [f"{unit_id}-{c}" for c, _, _ in items]})
    return windows


def _level(rng: random.Random, quality: float) -> str:
    x = rng.random()
    bad = 0.012 + (1 - quality) * 0.04
    for key, p in (("very_dissatisfied", bad * 0.45), ("dissatisfied", bad * 0.55),
                   ("basic_satisfied", 0.03), ("satisfied", 0.15)):
        if x < p:
            return key
        x -= p
    return "very_satisfied"


def work_cases(engine: Engine, now: dt.datetime, rng: random.Random) -> dict:
    """Follow up the demo's bad ratings as a diligent office would: older cases verified,
    rectified, answered and closed on plausible days, a few appealed, the newest still open;
    every step goes through the case state machine and its audit log, none after ``now``."""
    tz, today = now.tzinfo, now.date()
    with write(engine) as conn:
        office = accounts.get_user_by_name(conn, DEMO_OFFICE) or accounts.create_user(
            conn, DEMO_OFFICE, secrets.token_urlsafe(24), "supervisor", region_id=DISTRICT[0],
            display_name="区政务服务管理办（演示）", now=utcnow())
        reviewer = accounts.get_user_by_name(conn, DEMO_REVIEWER) or accounts.create_user(
            conn, DEMO_REVIEWER, secrets.token_urlsafe(24), "supervisor", region_id=DISTRICT[0],
            display_name="区纠风办（演示）", now=utcnow())
        allowed = {u for (u,) in conn.execute(select(units.c.id))}
        todo = conn.execute(select(cases.c.id, cases.c.opened_day)
                            .where(cases.c.state == "new").order_by(cases.c.id)).all()
        states: dict[str, int] = {}
        for case_id, opened in todo:
            age = (today - dt.date.fromisoformat(opened)).days
            plan = [a for a, after in (("verify", 1), ("rectify", 3), ("answer", 8), ("close", 12))
                    if age > after + rng.randint(0, 2)]
            if age > 5 and rng.random() < 0.03:
                plan = ["verify", "appeal"] + (["accept_appeal"] if age > 12 else [])
            day = dt.date.fromisoformat(opened)
            for action in plan:
                day += dt.timedelta(days=rng.randint(1, 3))
                when = min(now, dt.datetime.combine(min(day, today),
                                                    dt.time(rng.randint(9, 17), 0), tz))
                note = "经核实为误评（演示）" if action in ("appeal", "accept_appeal") else None
                by = reviewer if action == "accept_appeal" else office
                case_flow.transition(conn, case_id, action, by, allowed, when, note=note)
            state = DEMO_STATE[plan[-1]] if plan else "new"
            states[state] = states.get(state, 0) + 1
    return states


def run(engine: Engine, months: int = 3, seed: int = 1,
        enroll_code_file: str | None = None, follow_up: bool = True,
        now: dt.datetime | None = None) -> dict:
    """Load the demo up to ``now`` (default: the present); returns a summary.
    ``follow_up=False`` leaves every case new (tests that walk cases through their states
    want many)."""
    rng = random.Random(seed)
    tz = dt.timezone(dt.timedelta(hours=8))
    with write(engine) as conn:
        windows = build_org(conn)
    # Nothing is dated after now: today's ratings end at the present minute (the demo put
    # ratings, cases and their steps later today, in the future of every page and export).
    now = (now or dt.datetime.now(tz)).astimezone(tz)
    today = now.date()
    start = today - dt.timedelta(days=30 * months)
    total = flagged = bad = 0
    quality = {w["id"]: rng.uniform(0.6, 1.0) for w in windows}
    day = start
    while day <= today:
        rows = []
        if day.weekday() < 5:
            for w in windows:
                for _ in range(rng.randint(20, 45)):
                    level = _level(rng, quality[w["id"]])
                    sid, sname = rng.choice(w["staff"])
                    when = dt.datetime.combine(day, dt.time(rng.randint(9, 16),
                                                            rng.randint(0, 59)), tz)
                    flags = [C.FLAG_LOCKOUT] if rng.random() < 0.004 else []
                    reasons = (rng.sample(C.REASONS[level], k=rng.randint(1, 2))
                               if level in C.REASONS else None)
                    if when > now:  # drawn all the same: the other days stay as they were
                        continue
                    rows.append({
                        "id": _uuid(rng), "device_id": f"demo-{w['id']}", "window_id": w["id"],
                        "unit_id": w["unit_id"], "staff_id": sid, "staff_name": sname,
                        "service_item": rng.choice(w["items"]), "case_no": None,
                        "invitation_id": None, "channel": C.CHANNEL_HALL_TABLET,
                        "level": level, "stars": C.STARS[level], "scale": 5,
                        "reasons": json.dumps(reasons) if reasons else None,
                        "reasons_version": C.REASONS_VERSION if reasons else None,
                        "comment": None, "phone": None, "callback_consent": False,
                        "device_time": when, "server_time": when, "rated_at": when,
                        "day": day.isoformat(),
                        "flags": json.dumps(flags), "flagged": bool(flags)})
        with write(engine) as conn:
            inserted = rating_store.store(conn, rows)
            opened_at = min(now, dt.datetime.combine(day, dt.time(17, 30), tz))
            case_flow.open_cases_for(conn, [r for r in rows if r["id"] in inserted], opened_at)
        total += len(inserted)
        flagged += sum(1 for r in rows if r["flagged"] and r["id"] in inserted)
        bad += sum(1 for r in rows if r["stars"] <= 2 and r["id"] in inserted)
        day += dt.timedelta(days=1)
    summary = {"windows": len(windows), "ratings": total, "bad": bad, "flagged": flagged,
               "from": start.isoformat(), "to": today.isoformat(),
               "cases": work_cases(engine, now, rng) if follow_up else "all new"}
    if enroll_code_file:
        with write(engine) as conn:
            code = enroll.create_code(conn, windows[0]["id"], utcnow(), 24)
        Path(enroll_code_file).parent.mkdir(parents=True, exist_ok=True)
        Path(enroll_code_file).write_text(code["code"] + "\n", encoding="utf-8")
        summary["enroll_code_file"] = enroll_code_file
        summary["enroll_window"] = windows[0]["id"]
    return summary
