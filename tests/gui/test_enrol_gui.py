"""A standalone kiosk enrolled from the technician panel starts syncing without a restart."""

from __future__ import annotations

import time
from contextlib import contextmanager
from pathlib import Path

from tests.sync.conftest import WINDOWS, aggregator_server  # noqa: F401  (fixture)

REPO = Path(__file__).resolve().parent.parent.parent


def pump_until(predicate, seconds: float = 30.0) -> bool:
    """Run Kivy frames until ``predicate()`` holds (bounded: this waits on real threads)."""
    from kivy.base import EventLoop

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        EventLoop.idle()
        if predicate():
            return True
        time.sleep(0.01)
    return False


@contextmanager
def standalone_kiosk(tmp_path):
    """A real kiosk app window, set up standalone (no server), with the panel's enrol action."""
    from kivy.base import EventLoop
    from kivy.core.window import Window

    from kiosk.app import KioskApp
    from kiosk.config import data_dir, load_config
    from kiosk.flow import FlowSettings, RatingFlow
    from kiosk.launch import _enrol_with, _make_worker
    from kiosk.store import RatingStore
    from kiosk.voice import VoicePrompt

    EventLoop.ensure_window()
    cfg = load_config(REPO / "config.yaml")
    cfg.storage.data_dir = str(tmp_path / "kiosk")
    cfg.display.voice, cfg.trigger.invite_port = False, 0
    cfg.sync.interval_seconds = 5
    assert cfg.sync.server == ""  # standalone
    store = RatingStore(data_dir(cfg) / "kiosk.db")
    flow = RatingFlow(store, FlowSettings.from_config(cfg), cfg.roster)
    app = KioskApp(cfg, store, flow, voice=VoicePrompt(False), tick_seconds=0,
                   on_enrol=_enrol_with(cfg), make_worker=lambda: _make_worker(cfg, store))
    app.root = app.build()
    Window.add_widget(app.root)
    app.dispatch("on_start")
    try:
        yield app, cfg
    finally:
        Window.remove_widget(app.root)
        EventLoop.idle()
        # on_stop last, as tests/gui/conftest.py does: the frames after it gave kv's ``app``
        # proxy back to this app, and the next test's screens called it (a test here that
        # opened the technician screen left every later GUI test on this app).
        app.dispatch("on_stop")
        store.close()


def rate(app, cfg, level: str = "satisfied") -> str:
    """A citizen's rating at the window; returns its event id."""
    app.flow.sign_in_badge(cfg.roster[0]["badge"])
    app.flow.start_rating()
    app.flow.rate(level)
    return next(e["id"] for e in reversed(list(app.store.iter_events())) if e["type"] == "rating")


def on_server(aggregator_server, app) -> set:  # noqa: F811
    return {e["id"] for e in aggregator_server.events(app.store.device_id)}


def test_technician_enrolment_starts_the_sync_worker(aggregator_server, tmp_path):  # noqa: F811
    # It used to matter: a kiosk set up standalone had no enrol action at all, and one
    # enrolled from the panel did not sync until somebody restarted it.
    with standalone_kiosk(tmp_path) as (app, cfg):
        store, flow = app.store, app.flow
        assert app.sync_worker is None
        # A rating given while the kiosk still ran standalone, under its local window id: it
        # used to be refused by the server after enrolment and stay quarantined on the kiosk.
        flow.sign_in_badge(cfg.roster[0]["badge"])
        flow.start_rating()
        flow.rate("very_satisfied")
        before = next(e for e in store.iter_events() if e["type"] == "rating")
        assert before["payload"]["window_id"] == "W-001"

        # A wrong code is refused with the reason, in the panel's language (it said only
        # "失败：注册", the reason going to stderr), and nothing else happens.
        said = []
        app._tech_say = said.append
        app.technician_enrol(aggregator_server.url, "WRONG-CODE")
        assert pump_until(lambda: any(t.startswith("失败") for t in said)), said
        assert "注册码" in said[-1] and app.sync_worker is None
        del app._tech_say
        app.technician_enrol(aggregator_server.url, aggregator_server.code(WINDOWS[0]))
        assert pump_until(lambda: app.sync_worker is not None and app.sync_worker.is_alive())
        assert pump_until(lambda: app.flow.settings.window_id == WINDOWS[0])  # config pulled
        flow.sign_in_badge(cfg.roster[0]["badge"])
        flow.start_rating()
        flow.rate("satisfied")
        app.sync_worker.notify(force=True)
        recorded = [e["id"] for e in store.iter_events()]
        assert pump_until(lambda: {e["id"] for e in aggregator_server.events(store.device_id)}
                          >= set(recorded))
        assert pump_until(lambda: store.pending_count() == 0)
        assert store.quarantined() == []
        from sqlalchemy import select

        from aggregator.schema import ratings
        with aggregator_server.engine.connect() as conn:
            counted = conn.execute(select(ratings.c.window_id).where(ratings.c.id == before["id"])).scalar()
        assert counted == WINDOWS[0]  # counted for the window the kiosk was enrolled to


def test_enrolling_again_while_syncing_goes_on_syncing_with_the_new_key(aggregator_server, tmp_path):  # noqa: F811
    # The live worker kept signing with the old key: the server answered 401 bad_signature
    # and the worker ended, so the kiosk, just enrolled, never synced again until a restart.
    with standalone_kiosk(tmp_path) as (app, cfg):
        app.technician_enrol(aggregator_server.url, aggregator_server.code(WINDOWS[0]))
        assert pump_until(lambda: app.sync_worker is not None and app.sync_worker.is_alive())
        first = rate(app, cfg)
        app.sync_worker.notify(force=True)
        assert pump_until(lambda: first in on_server(aggregator_server, app))
        worker = app.sync_worker

        again = aggregator_server.admin.call("POST", "/api/v1/enroll-codes", {
            "window_id": WINDOWS[1], "device_id": app.store.device_id})["code"]
        app.technician_enrol(aggregator_server.url, again)
        assert pump_until(lambda: app.flow.settings.window_id == WINDOWS[1])  # new config pulled
        second = rate(app, cfg, "very_satisfied")
        app.sync_worker.notify(force=True)
        assert pump_until(lambda: second in on_server(aggregator_server, app)), \
            app.sync_worker.status()
        # The worker refused with the old key before the panel's callback ran builds its
        # client again too (the saved credential changed): the same thread goes on.
        assert app.sync_worker is worker and worker.is_alive()
        assert worker.status()["state"] != "not_authorised"
        assert pump_until(lambda: app.store.pending_count() == 0)
        assert app.store.quarantined() == []


def test_sync_now_starts_a_worker_that_has_ended(aggregator_server, tmp_path):  # noqa: F811
    # "Sync now" only woke the worker; one that had ended (refused by the server, say) stayed
    # dead, and the technician's button did nothing until the kiosk was restarted.
    with standalone_kiosk(tmp_path) as (app, cfg):
        app.technician_enrol(aggregator_server.url, aggregator_server.code(WINDOWS[0]))
        assert pump_until(lambda: app.sync_worker is not None and app.sync_worker.is_alive())
        assert app.sync_worker.stop(10)
        tapped = rate(app, cfg)
        app.technician_sync_now()
        assert pump_until(lambda: tapped in on_server(aggregator_server, app))
        assert app.sync_worker.is_alive()


def _tap(widget) -> None:
    """A finger on the centre of ``widget``, down and up, with frames between (a person's tap)."""
    from kivy.base import EventLoop
    from kivy.tests.common import UnitTestTouch

    x, y = widget.to_window(*widget.center)
    touch = UnitTestTouch(x, y)
    touch.touch_down()
    EventLoop.idle()
    touch.touch_up()
    EventLoop.idle()
    EventLoop.idle()


def test_a_double_tap_on_enrol_sends_one_enrolment_and_shows_its_result(aggregator_server, tmp_path):  # noqa: F811
    # The Enrol button took every tap and each started an enrolment of its own: a double tap
    # sent the same code twice with two keys. One was accepted and saved its key, the other
    # got 410 code_used, and when the refusal ended last the panel said "this code was already
    # used; make a new one" of a kiosk that was enrolled. The button is now off while one runs.
    import threading

    with standalone_kiosk(tmp_path) as (app, cfg):
        calls, gate = [], threading.Event()
        real_enrol = app.on_enrol

        def enrol(url, code):   # the real enrolment, held until both taps are in
            calls.append(code)
            gate.wait(30)
            return real_enrol(url, code)

        app.on_enrol = enrol
        app.open_technician()
        assert pump_until(lambda: app.root.current == "technician")
        screen = app.root.get_screen("technician")
        keypad = screen.pin_pane.ids.pin_keypad
        for digit in "000000":
            _tap(next(b for b in keypad.children if getattr(b, "text", None) == digit))
        _tap(screen.pin_pane.ids.pin_ok)
        assert screen.stage == "panel"
        pane = screen.panel_pane
        pane.ids.server_url.text = aggregator_server.url
        pane.ids.enrol_code.text = aggregator_server.code(WINDOWS[0])
        from kivy.uix.behaviors import ButtonBehavior

        button = next(w for w in pane.walk() if isinstance(w, ButtonBehavior)
                      and w.text == app.tr("tech.enrol"))

        _tap(button)
        off_while_running = button.disabled
        _tap(button)                          # the second tap of a double tap
        gate.set()
        assert pump_until(lambda: app._tech_busy == 0)
        assert len(calls) == 1                # one enrolment sent, not two
        assert off_while_running
        assert screen.message.startswith(app.tr("tech.done", what=app.tr("tech.enrol"))), \
            screen.message
        assert app.tr("tech.enrol_code_used") not in screen.message
        assert pump_until(lambda: app.sync_worker is not None and app.sync_worker.is_alive())
        assert not button.disabled            # and the button works again afterwards
