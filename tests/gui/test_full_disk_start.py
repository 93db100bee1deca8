"""The real app started on a data disk that is already full (a 1 MiB tmpfs filled by a file;
skipped where this machine cannot mount one: not root), then given space again.

Why it matters: ``kiosk run`` exited with "cannot open the kiosk database: database or disk is
full" (and had moved the healthy database aside as corrupt), so under systemd the kiosk was a
restart loop with no window: no badge screen, no technician panel to see why or to export
the ratings to a USB stick. Now it runs as when the disk fills while it runs ("please try
again", never thanks), the technician panel shows the problem and exports what was recorded,
and it opens its database by itself once there is room, in the same stream: nothing lost,
nothing doubled. (tests/reliability/test_full_disk_start.py runs ``kiosk run`` itself.)
"""

from __future__ import annotations

import json

import pytest

from kiosk import constants as C
from kiosk.store import RatingStore
from kiosk.store_recovery import StoreRecovery, open_or_view
from tests.reliability.disk_full import _fill

from .conftest import BADGE_WANG, REPO, FakeClock, shown


@pytest.fixture
def start_kiosk():
    """start_kiosk(db, seconds) → (Kiosk, StoreRecovery): the app as ``kiosk run`` builds it
    (kiosk/launch.py run_app) on ``db``, trying to reopen it every ``seconds``."""
    from kivy.base import EventLoop
    from kivy.core.window import Window

    from kiosk.app import KioskApp
    from kiosk.config import load_config
    from kiosk.flow import FlowSettings, RatingFlow
    from kiosk.voice import VoicePrompt

    EventLoop.ensure_window()
    started = []

    def start(db, seconds=3600.0, make_worker=None, heartbeat=None, heartbeat_seconds=300.0):
        cfg = load_config(REPO / "config.yaml")
        cfg.display.voice = False
        cfg.trigger.invite_port = 0
        store, problem = open_or_view(db)
        assert problem is not None
        clock, tech_clock = FakeClock(), FakeClock()
        flow = RatingFlow(store, FlowSettings.from_config(cfg), cfg.roster, clock=clock)
        recovery = StoreRecovery(cfg, db, problem, seconds=seconds, make_worker=make_worker,
                                 heartbeat=heartbeat, heartbeat_seconds=heartbeat_seconds)
        app = KioskApp(cfg, store, flow, sync_status=recovery.sync_status,
                       voice=VoicePrompt(False), tech_clock=tech_clock, tick_seconds=0,
                       long_press_seconds=0)
        recovery.start(app)
        kiosk = shown(app, clock, tech_clock)
        started.append(kiosk)
        return kiosk, recovery

    yield start

    for kiosk in started:
        Window.remove_widget(kiosk.app.root)
        kiosk.frames(2)
        # on_stop last, as tests/gui/conftest.py's make_kiosk: frames after it took kv's
        # ``app`` up again, and the next test's idle screen showed this test's staff
        kiosk.app.dispatch("on_stop")
        kiosk.app.store.close()


class FakeWorker:
    """A sync worker that only says whether it was started."""

    on_result = None

    def __init__(self) -> None:
        self.started = False

    def start(self):
        self.started = True
        return self

    def is_alive(self) -> bool:
        return self.started

    def stop(self, timeout=None) -> bool:
        return True

    def status(self) -> dict:
        return {"state": "idle"}

    def notify(self, force=False) -> None:
        pass


def _recorded(db, n=4):
    store = RatingStore(db)
    ids = [store.record(C.EV_RATING, {"level": "satisfied", "stars": 4, "n": i})["id"]
           for i in range(n)]
    stream = store.stream_id
    store.close()
    return ids, stream


def _rate(k, level="very_satisfied"):
    k.tap(k.app.root.get_screen("idle").ids.rate_button)
    assert k.screen == "rate"
    k.tap(k.face(level))


def test_a_full_disk_at_start_keeps_the_kiosk_running_and_it_recovers(small_disk, tmp_path,
                                                                       start_kiosk):
    db = small_disk / "kiosk.db"
    ids, stream = _recorded(db)
    filler = _fill(small_disk)
    k, recovery = start_kiosk(db, make_worker=FakeWorker)

    # The calm state of a kiosk whose disk filled while it ran.
    assert k.screen == "paused"
    assert k.app.status_text == k.app.tr("common.status_problem")
    k.type_badge(BADGE_WANG)
    assert k.screen == "idle"
    _rate(k)
    assert k.screen == "retry" and "thanks" not in k.shown          # never a false thanks
    assert "disk full" in k.flow.last_error
    k.after(k.flow.settings.thanks_seconds + 1)
    k.after(k.flow.settings.return_seconds + 1)
    assert k.screen == "idle"

    # The technician panel: the PIN, the problem, no space, and the USB export.
    assert k.app.sync_worker is None      # no worker on a database that cannot be written
    k.app.open_technician()
    assert k.app.technician_login("000000")[0]
    rows = dict(k.app.diagnostics_rows())
    assert "disk full" in rows[k.app.tr("tech.last_error")]
    assert rows[k.app.tr("tech.disk_free")] == "0 B"
    usb = tmp_path / "usb"          # another filesystem than the kiosk's data
    usb.mkdir()
    ok, folder = k.app.on_export(str(usb))
    assert ok, folder
    exported = [json.loads(line)["id"] for line in
                (next(usb.iterdir()) / "events.jsonl").read_text(encoding="utf-8").splitlines()]
    assert exported == ids
    k.app.leave_technician()
    k.frames(3)

    # Nothing to try while the disk stays full; once there is room, the database reopens.
    assert recovery.attempt() is True and not recovery.recovered
    filler.unlink()
    assert recovery.attempt() is False and recovery.recovered
    assert k.app.store is k.flow.store and k.app.store.read_only is None
    assert k.app.status_text == "" and k.flow.last_error is None
    assert k.app.sync_worker.started                               # uploads start then
    _rate(k)
    assert k.screen == "thanks"

    events = list(k.app.store.iter_events())
    assert [e["id"] for e in events[:len(ids)]] == ids              # nothing lost …
    assert [e["type"] for e in events[len(ids):]] == [C.EV_APP_START, C.EV_RATING]   # … or doubled
    assert len({e["id"] for e in events}) == len(events)
    assert k.app.store.stream_id == stream and k.app.store.verify_chain()[0]
    assert not list(small_disk.glob("*.corrupt-*"))


def test_a_first_start_on_a_full_disk_recovers_by_itself_when_space_is_freed(small_disk,
                                                                               start_kiosk):
    db = small_disk / "kiosk.db"
    filler = _fill(small_disk)
    k, recovery = start_kiosk(db, seconds=0)      # try at every frame
    assert not k.app.store.readable and not db.exists()    # no 0-byte database left behind
    assert k.screen == "paused" and k.app.status_text == k.app.tr("common.status_problem")
    k.type_badge(BADGE_WANG)
    _rate(k)
    assert k.screen == "retry"
    k.frames(5)
    assert not recovery.recovered and not db.exists()
    filler.unlink()
    for _ in range(50):                           # the app's clock, not the test, reopens it
        k.frames(1)
        if recovery.recovered:
            break
    assert recovery.recovered and db.stat().st_size > 0
    k.after(k.flow.settings.thanks_seconds + 1)   # the retry screen gives the faces back
    assert k.screen == "rate"
    k.tap(k.face("satisfied"))
    assert k.screen == "thanks"
    assert [e["type"] for e in k.app.store.iter_events()] == [C.EV_APP_START, C.EV_RATING]


def test_a_kiosk_on_a_full_disk_sends_heartbeats_until_it_can_write(small_disk, start_kiosk):
    # No sync worker runs while the database cannot be written: the server saw only a silent
    # device. The heartbeat (sync.heartbeat, tested against the real server in
    # tests/sync/test_heartbeat.py) goes from the recovery's own thread, and stops once the
    # worker can take over.
    import threading
    import time

    db = small_disk / "kiosk.db"
    _recorded(db)
    filler = _fill(small_disk)
    beats = []
    beat = threading.Event()

    def heartbeat(path, problem):
        beats.append((path, str(problem), threading.current_thread().name))
        beat.set()

    k, recovery = start_kiosk(db, make_worker=FakeWorker, heartbeat=heartbeat,
                              heartbeat_seconds=0.05)
    assert beat.wait(10)
    path, problem, thread = beats[0]
    assert path == db and "disk full" in problem and thread != threading.main_thread().name
    filler.unlink()
    assert recovery.attempt() is False and recovery.recovered
    time.sleep(0.2)          # a beat in flight ends; then none follows
    sent = len(beats)
    time.sleep(0.3)
    assert len(beats) == sent
