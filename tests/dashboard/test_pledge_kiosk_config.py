"""Pledges of the 承诺践诺 page reach the kiosks: the page says a kiosk shows a staff member's
pledge, and none ever did (the kiosk config carried only the roster's 承诺 column, and making,
correcting or withdrawing a pledge left the config version as it was)."""

from __future__ import annotations

from sqlalchemy import select

from aggregator.dashboard.assessment_tables import pledge_items
from aggregator.db import read
from aggregator.schema import staff
from tests.aggregator.device import enrolled
from tests.dashboard.helpers import csrf_of


def _kiosk_pledge(kiosk, staff_id: str) -> tuple[str, str, int]:
    body = kiosk.get("/api/v1/config").json()
    member = next(s for s in body["roster"] if s["staff_id"] == staff_id)
    return member["pledge"], body["etag"], body["version"]


def test_a_corrected_pledge_reaches_the_kiosk_with_a_new_etag(dash):
    # Why: a manager corrects a pledge on the page, told that kiosks will show it; the kiosk
    # kept showing the old roster text, so the public saw a promise nobody had made.
    with read(dash.engine) as conn:
        window = conn.execute(select(staff.c.window_id).where(staff.c.id == "S-004")).scalar()
    kiosk = enrolled(dash.url, window or "W-001", "t")
    s = dash.login("u01")
    csrf = csrf_of(s, dash.url + "/dashboard/pledges")
    roster_text, etag, version = _kiosk_pledge(kiosk, "S-004")
    r = s.post(f"{dash.url}/dashboard/pledges", allow_redirects=False, data={
        "csrf": csrf, "owner": "staff:S-004", "title": "热情服务", "items": "一次告知\n限时办结"})
    assert r.status_code == 303, r.text[:800]
    pid = int(r.headers["location"].rsplit("-", 1)[1])
    made, etag2, version2 = _kiosk_pledge(kiosk, "S-004")
    assert made == "热情服务\n1. 一次告知\n2. 限时办结" and etag2 != etag and version2 > version

    with read(dash.engine) as conn:
        first_item = conn.execute(select(pledge_items.c.id).where(pledge_items.c.pledge_id == pid)
                                  .order_by(pledge_items.c.id)).scalars().first()
    r = s.post(f"{dash.url}/dashboard/pledges/{pid}/correct", allow_redirects=False, data={
        "csrf": csrf, "title": "热情服务，马上就办", f"item-{first_item}": "一次性告知所需材料",
        "added": ""})
    assert r.status_code == 303
    corrected, etag3, version3 = _kiosk_pledge(kiosk, "S-004")
    assert corrected == "热情服务，马上就办\n1. 一次性告知所需材料\n2. 限时办结"
    assert etag3 != etag2 and version3 > version2

    r = s.post(f"{dash.url}/dashboard/pledges/{pid}/withdraw", data={"csrf": csrf},
               allow_redirects=False)
    assert r.status_code == 303
    back, etag4, version4 = _kiosk_pledge(kiosk, "S-004")
    assert back == roster_text and version4 > version3   # the roster's 承诺 again
