"""End to end: citizens rate on a real kiosk store, the sync client uploads to a real
aggregator on loopback, colleagues peer-review and a leader comments through the dashboard,
a supervisor publishes the period, and the kiosk's config pull brings the computed star
levels and the rotating award (流动红旗) to its badge screen (a real Kivy window, offscreen).
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile

os.environ["KIVY_NO_ARGS"] = "1"
os.environ.setdefault("SDL_VIDEODRIVER", "offscreen")
os.environ.setdefault("KIVY_LOG_LEVEL", "warning")
os.environ.setdefault("KIVY_HOME", tempfile.mkdtemp(prefix="kivy-home-"))

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from aggregator import Settings, create_app  # noqa: E402
from aggregator.dashboard import accounts, routes_session, web  # noqa: E402
from aggregator.db import utcnow, write  # noqa: E402
from kiosk.store import RatingStore  # noqa: E402
from sync.client import AdminClient, SyncClient  # noqa: E402
from tests.assessment.conftest import PASSWORD, serve, staff_accounts  # noqa: E402
from tests.dashboard.helpers import Dashboard, csrf_of  # noqa: E402

REPO = Path(__file__).resolve().parent.parent.parent
TOKEN = "assess-admin-token"
UNIT = "U-E2E"


@pytest.fixture
def aggregator(tmp_path):
    app = create_app(f"sqlite:///{tmp_path / 'agg.db'}", settings=Settings(
        admin_token=TOKEN, secret="e2e-secret", public_url="http://testserver"))
    server, thread, url = serve(app)
    admin = AdminClient(url, TOKEN, timeout=10)
    admin.save("regions", [{"id": "R-E", "name": "测试区", "level": "district"}])
    admin.save("units", [{"id": UNIT, "name": "端到端便民服务中心", "region_id": "R-E"}])
    admin.save("windows", [{"id": w, "name": n, "unit_id": UNIT}
                           for w, n in (("W-E1", "社保窗口"), ("W-E2", "民政窗口"))])
    admin.save("staff", [
        {"id": "E1", "name": "王芳", "staff_no": "0001", "unit_id": UNIT, "window_id": "W-E1",
         "badge": "20000001", "party_member": True, "stars": 2, "pledge": "一次告知，限时办结"},
        {"id": "E2", "name": "李明", "staff_no": "0002", "unit_id": UNIT, "window_id": "W-E2",
         "badge": "20000002", "stars": 2},
        {"id": "E3", "name": "张敏", "staff_no": "0003", "unit_id": UNIT, "window_id": "W-E2",
         "badge": "20000003", "stars": 2},
        {"id": "E4", "name": "赵静", "staff_no": "0004", "unit_id": UNIT, "window_id": "W-E2",
         "badge": "20000004", "stars": 2}])
    now = utcnow()
    staff_accounts(app.state.engine, ["E1", "E2", "E3", "E4"], now)
    with write(app.state.engine) as conn:
        accounts.create_user(conn, "sup", PASSWORD, "supervisor", region_id="R-E", now=now)
        accounts.create_user(conn, "boss", PASSWORD, "unit_manager", unit_id=UNIT, now=now)
    yield Dashboard(url, app.state.engine, {}), admin
    server.should_exit = True
    thread.join(timeout=10)
    app.state.engine.dispose()


def _rate(store, window, staff_id, level, stars, n):
    for _ in range(n):
        store.record("rating", {
            "level": level, "stars": stars, "scale": 5, "channel": 4, "window_id": window,
            "unit_id": UNIT, "staff_id": staff_id, "staff_name": staff_id, "service_item": None,
            "case_no": None, "invitation_id": None, "flags": []})


def _post(session, dash, path, page, **data):
    return session.post(f"{dash.url}{path}", allow_redirects=False,
                        data={"csrf": csrf_of(session, f"{dash.url}{page}"), **data})


def _next_month(monkeypatch) -> None:
    """The dashboard's clock on the 1st of next month, 09:00 in Beijing: a period is
    published once it has ended, and this month's ratings are the ones just uploaded."""
    today = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).date()
    first = (today.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
    later = dt.datetime.combine(first, dt.time(1), dt.timezone.utc)
    for module in (web, routes_session):
        monkeypatch.setattr(module, "utcnow", lambda: later)


def test_published_stars_and_award_reach_the_kiosk_badge_screen(aggregator, tmp_path,
                                                                  monkeypatch):
    dash, admin = aggregator
    kiosks = {}
    for window in ("W-E1", "W-E2"):
        (tmp_path / window).mkdir()
        store = RatingStore(tmp_path / window / "kiosk.db")   # one directory per kiosk
        client = SyncClient(dash.url, store, timeout=10)
        client.enroll(admin.enroll_code(window)["code"])
        kiosks[window] = (store, client)
    # Citizens: W-E1 excellent, W-E2 mixed. (Ratings go through the real upload path.)
    _rate(kiosks["W-E1"][0], "W-E1", "E1", "very_satisfied", 5, 40)
    _rate(kiosks["W-E2"][0], "W-E2", "E2", "satisfied", 4, 25)
    _rate(kiosks["W-E2"][0], "W-E2", "E2", "dissatisfied", 2, 10)
    for store, client in kiosks.values():
        client.drain()
        assert store.pending_count() == 0

    store, client = kiosks["W-E1"]
    assert client.pull_config()["status"] == "applied"
    before, etag_before = store.device_config()
    assert before["award"] is None and before["window"]["stars"] is None
    assert next(s for s in before["roster"] if s["staff_id"] == "E1")["stars"] == 2  # roster's

    # Peer review by three colleagues, a leader's comment, then the supervisor publishes,
    # all early next month (the month before is still taken).
    period = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).strftime("%Y-%m")  # this month
    _next_month(monkeypatch)
    for name in ("e2", "e3", "e4"):
        r = _post(dash.login(name), dash, "/dashboard/assessment/review",
                  "/dashboard/assessment/review", period=period, reviewee_id="E1",
                  score_skill="5", score_conduct="5", score_results="4")
        assert r.status_code == 303, r.text
    boss = dash.login("boss")
    r = _post(boss, dash, "/dashboard/assessment/comments", "/dashboard/assessment",
              period=period, kind="window", target_id="W-E1", score="96",
              comment="窗口群众满意度高，材料一次告知")
    assert r.status_code == 303, r.text
    sup = dash.login("sup")
    r = _post(sup, dash, "/dashboard/assessment/publish", "/dashboard/assessment",
              period=period, unit=UNIT)
    assert r.status_code == 303, r.text

    # The config pull: changed ETag, computed stars, the award for W-E1 only.
    assert client.pull_config()["status"] == "applied"
    after, etag_after = store.device_config()
    assert etag_after != etag_before
    assert after["award"] == {"kind": "red_flag", "period": period}
    assert after["window"]["stars"] == 5
    e1 = next(s for s in after["roster"] if s["staff_id"] == "E1")
    assert e1["stars"] == 5            # computed, replacing the roster's 2
    other_store, other_client = kiosks["W-E2"]
    other_client.pull_config()
    other, _ = other_store.device_config()
    assert other["award"] is None and other["window"]["stars"] < 5
    assert client.pull_config()["status"] == "unchanged"     # same content, same ETag

    # The badge screen of W-E1 shows the computed stars and the award badge.
    from kivy.base import EventLoop
    from kivy.core.window import Window

    from kiosk.app import KioskApp
    from kiosk.config import load_config
    from kiosk.flow import FlowSettings, RatingFlow
    from kiosk.voice import VoicePrompt

    EventLoop.ensure_window()
    cfg = load_config(REPO / "config.yaml")
    cfg.display.voice = False
    cfg.trigger.invite_port = 0
    flow = RatingFlow(store, FlowSettings.from_config(cfg), cfg.roster)
    app = KioskApp(cfg, store, flow, voice=VoicePrompt(False), invite_server=False,
                   tick_seconds=0)
    root = app.build()
    app.root = root
    Window.add_widget(root)
    try:
        app.dispatch("on_start")
        assert app.badge_entered("20000001")
        for _ in range(6):
            EventLoop.idle()
        idle = root.get_screen("idle")
        assert root.current == "idle"
        assert app.staff["name"] == "王芳" and app.staff["stars"] == 5
        assert app.award == {"kind": "red_flag", "period": period}
        label = idle.ids.award_label
        year, month = period.split("-")
        assert label.text == f"流动红旗窗口 · {year}年{int(month)}月"
        assert idle.ids.award_badge.opacity == 1 and idle.ids.award_badge.height > 0
    finally:
        app.dispatch("on_stop")
        Window.remove_widget(root)
        EventLoop.idle()
        for s, _ in kiosks.values():
            s.close()
