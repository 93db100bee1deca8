"""Manipulation: scripted stuffing through the real flow. Staff pressing "very satisfied" over
and over (lockout, burst), presses outside invitations, ratings with nobody signed in, and a
kiosk whose bad buttons are dead (hundreds of good ratings, not one bad). Every press reaches the
server (flagged, never deleted), the flags raise alerts, and rates exclude flagged presses by
default (with a switch to include them).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from tests.reliability.harness import (
    LiveServer,
    Row,
    check_kiosk_side,
    check_server_side,
    count_5xx,
    tally,
)


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def run(presses: int = 60, clean: int = 520, workdir: Path | None = None) -> Row:
    from sqlalchemy import func, select

    from aggregator.schema import ratings
    from kiosk import constants as C
    from kiosk.flow import FlowSettings, RatingFlow

    row = Row("manipulation (stuffing)")
    workdir = Path(workdir or tempfile.mkdtemp(prefix="rel-manipulation-"))
    roster = [{"staff_id": "S-REL-1", "name": "王芳", "badge": "1"}]
    with LiveServer(workdir / "aggregator.db") as srv:
        kiosks, flows, clocks = [], [], []
        for i, mode in enumerate((C.MODE_OPEN, C.MODE_INVITED, C.MODE_OPEN, C.MODE_OPEN)):
            k = srv.kiosk(workdir / f"k{i}", f"W-REL-{i + 1}")
            clock = _Clock()
            flow = RatingFlow(k.store, FlowSettings(mode=mode, window_id=k.window_id,
                                                    unit_id="U-REL"), roster, clock=clock)
            kiosks.append(k)
            flows.append(flow)
            clocks.append(clock)
        stuffer, inviter, nobody, dead = flows
        expected_flagged = {}
        # 1. staff stuffing "very satisfied", one press a second
        stuffer.sign_in_badge("1")
        for _ in range(presses):
            stuffer.state = C.ST_RATE  # a rigged screen: presses straight on the face
            stuffer.rate("very_satisfied")
            clocks[0].now += 1
            row.tried += 1
        # 2. invited mode: presses with no invitation, and some honest invited ones
        inviter.sign_in_badge("1")
        for n in range(presses):
            if n % 4 == 0:
                inviter.invite(case_no=f"CASE-{n}")
            inviter.rate("satisfied")
            clocks[1].now += 61
            inviter.tick()
            row.tried += 1
        # 3. nobody signed in
        for _ in range(presses // 3):
            nobody.rate("very_satisfied")
            clocks[2].now += 61
            row.tried += 1
        # 4. dead bad buttons: only good ratings, spread out, each one clean
        dead.sign_in_badge("1")
        for n in range(clean):
            dead.start_rating()
            dead.rate(("very_satisfied", "satisfied", "basic_satisfied")[n % 3])
            clocks[3].now += 61
            dead.tick()
            row.tried += 1
        promised = []
        for k in kiosks:
            k.client.drain()
            check_kiosk_side(row, k.store)
            promised += k.ids()
            flagged = [e for e in k.store.iter_events()
                       if e["type"] == "rating" and e["payload"]["flags"]]
            expected_flagged[k.window_id] = len(flagged)
        server_ids = [e["id"] for k in kiosks for e in srv.events(k.device_id)]
        tally(row, promised, server_ids)
        check_server_side(row, srv.engine, [k.device_id for k in kiosks])
        with srv.engine.connect() as conn:
            for window, n in expected_flagged.items():
                held = conn.execute(select(func.count()).select_from(ratings).where(
                    ratings.c.window_id == window, ratings.c.flagged.is_(True))).scalar_one()
                row.check(held == n, f"{window}: {n} flagged presses, server holds {held}")
        row.check(expected_flagged["W-REL-1"] >= presses - 2, "stuffing not flagged")
        row.check(expected_flagged["W-REL-2"] >= presses * 3 // 4 - 1,
                  "presses outside invitations not flagged")
        row.check(expected_flagged["W-REL-3"] == presses // 3, "no-staff presses not flagged")
        row.check(expected_flagged["W-REL-4"] == 0, "clean ratings flagged")
        default = {r["key"]: r for r in srv.admin.call(
            "GET", "/api/v1/stats?group_by=window")["rows"]}
        included = {r["key"]: r for r in srv.admin.call(
            "GET", "/api/v1/stats?group_by=window&include_flagged=true")["rows"]}
        for window, n in expected_flagged.items():
            d, i = default.get(window, {}), included.get(window, {})
            row.check(d.get("flagged", 0) == n, f"{window}: stats show {d.get('flagged')} flagged, "
                                                f"expected {n}")
            row.check(i.get("rated", 0) - d.get("rated", 0) == n,
                      f"{window}: flagged presses not excluded from the rate by default")
        srv.admin.call("POST", "/api/v1/alerts/scan")
        kinds = {(a["kind"], a["device_id"]) for a in srv.alerts()}
        for kind, k in (("burst", kiosks[0]), ("no_staff", kiosks[2]), ("zero_bad", kiosks[3])):
            row.check(any(kd == kind and (dev in (k.device_id, None)) for kd, dev in kinds),
                      f"no {kind} alert for {k.window_id}: {sorted(kinds)[:6]}")
        count_5xx(row, srv.counter)
        row.note = ("flagged " + ", ".join(f"{w} {n}" for w, n in expected_flagged.items())
                    + "; alerts burst, no_staff, zero_bad")
    return row
