"""What the audit log keeps of pledges and leader comments, and that a pledge item's
evidence is never wiped: over HTTP on a real server."""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import select

from aggregator.dashboard.assessment_tables import pledge_items
from aggregator.dashboard.periods import Period
from aggregator.dashboard.tables import audit_log
from aggregator.db import read
from tests.dashboard.helpers import csrf_of

TZ = dt.timezone(dt.timedelta(hours=8))


def _audit(dash, action: str) -> list[dict]:
    with read(dash.engine) as conn:
        return [json.loads(d) if d else None for d in conn.execute(
            select(audit_log.c.detail).where(audit_log.c.action == action)
            .order_by(audit_log.c.id)).scalars()]


def _item(dash, item_id: int) -> dict:
    with read(dash.engine) as conn:
        return dict(conn.execute(select(pledge_items.c.status, pledge_items.c.evidence).where(
            pledge_items.c.id == item_id)).mappings().first())


def test_pledge_item_evidence_is_kept_and_every_change_is_audited(small_dash):
    # Why: setting an item back to "in progress" with the evidence box cleared wiped the
    # evidence for good, and the audit line kept only the new status; a kept promise could
    # be undone without trace. A new pledge's audit line did not say what was promised, and
    # items of a withdrawn pledge could still be changed.
    m = small_dash.login("ua")
    token = csrf_of(m, f"{small_dash.url}/dashboard/pledges")
    r = m.post(f"{small_dash.url}/dashboard/pledges", allow_redirects=False, data={
        "csrf": token, "owner": "window:W-A1", "title": "一次告知", "items": "材料一次告知\n限时办结"})
    pledge_id = int(r.headers["location"].rsplit("-", 1)[1])
    [created] = _audit(small_dash, "create_pledge")
    assert created["title"] == "一次告知"
    assert sorted(created["items"].values()) == ["材料一次告知", "限时办结"]
    item_id = min(int(i) for i in created["items"])

    def set_item(status, evidence):
        return m.post(f"{small_dash.url}/dashboard/pledges/items/{item_id}?lang=zh_CN",
                      allow_redirects=False,
                      data={"csrf": token, "status": status, "evidence": evidence})

    assert set_item("kept", "签收单 #42").status_code == 303
    assert set_item("in_progress", "").status_code == 303
    assert _item(small_dash, item_id) == {"status": "in_progress", "evidence": "签收单 #42"}
    assert set_item("broken", "").status_code == 303      # the evidence there was stands
    assert set_item("kept", "回访记录").status_code == 303   # replaced by new text only
    assert _audit(small_dash, "pledge_item") == [
        {"before": {"status": "in_progress", "evidence": None},
         "after": {"status": "kept", "evidence": "签收单 #42"}},
        {"before": {"status": "kept", "evidence": "签收单 #42"},
         "after": {"status": "in_progress", "evidence": "签收单 #42"}},
        {"before": {"status": "in_progress", "evidence": "签收单 #42"},
         "after": {"status": "broken", "evidence": "签收单 #42"}},
        {"before": {"status": "broken", "evidence": "签收单 #42"},
         "after": {"status": "kept", "evidence": "回访记录"}}]
    assert m.post(f"{small_dash.url}/dashboard/pledges/{pledge_id}/withdraw",
                  allow_redirects=False, data={"csrf": token}).status_code == 303
    refused = set_item("broken", "撤回之后")
    assert refused.status_code == 404 and "该承诺已撤回或不存在" in refused.text
    assert _item(small_dash, item_id) == {"status": "kept", "evidence": "回访记录"}
    assert len(_audit(small_dash, "pledge_item")) == 4


def test_a_leader_comment_saved_again_keeps_what_it_said_in_the_audit_log(small_dash):
    # Why: saving a comment again replaces it, and the audit line kept only the new score:
    # what a leader had written (and changed) was gone from the record.
    today = dt.datetime.now(TZ).date()
    period = Period("month", today.year, today.month).key
    m = small_dash.login("ua")
    for score, text in (("60", "态度生硬"), ("90", "服务热情")):
        r = m.post(f"{small_dash.url}/dashboard/assessment/comments", allow_redirects=False,
                   data={"csrf": csrf_of(m, f"{small_dash.url}/dashboard/assessment"),
                         "period": period, "kind": "staff", "target_id": "A1", "score": score,
                         "comment": text})
        assert r.status_code == 303
    first, second = _audit(small_dash, "leader_comment")
    assert first == {"period": period, "score": 60.0, "comment": "态度生硬", "before": None}
    assert second == {"period": period, "score": 90.0, "comment": "服务热情",
                      "before": {"score": 60.0, "comment": "态度生硬"}}
