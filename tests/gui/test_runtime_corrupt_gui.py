"""The real app in its window when its database becomes corrupt while it runs.

Why it matters: a sector that went bad under the running kiosk made every later tap "please
try again" ("database disk image is malformed") until a restart, which nothing did (the UI
thread was not hung, so the systemd watchdog was content). Now the tap that finds the damage
is recorded in a new database (new stream, the damaged file kept beside it) and thanked, the
next one too, and the sync worker is replaced by one on the new database.
"""

from __future__ import annotations

from kiosk import constants as C
from tests.kiosk.test_runtime_corrupt import _thanked, _wreck_the_page_the_next_event_needs

from .conftest import BADGE_WANG


class FakeWorker:
    """A sync worker that says whether it was started, retired or asked to stop."""

    on_result = None

    def __init__(self) -> None:
        self.started = self.stopped = self.retired = False

    def retire(self) -> bool:
        self.retired = True
        return True

    def start(self):
        self.started = True
        return self

    def is_alive(self) -> bool:
        return self.started and not self.stopped

    def stop(self, timeout=None) -> bool:
        self.stopped = True
        return True

    def status(self) -> dict:
        return {"state": "idle"}

    def notify(self, force=False) -> bool:
        return True


def _rate(k, level):
    k.tap(k.app.root.get_screen("idle").ids.rate_button)
    assert k.screen == "rate"
    k.tap(k.face(level))


def test_a_tap_after_the_database_went_corrupt_is_recorded_in_a_new_stream(make_kiosk):
    first_worker, made = FakeWorker(), []

    def make_worker():
        made.append(FakeWorker())
        return made[-1]

    k = make_kiosk(app_kwargs={"sync_worker": first_worker, "make_worker": make_worker})
    k.type_badge(BADGE_WANG)
    assert k.screen == "idle" and first_worker.started
    db, old_stream = k.store.path, k.store.stream_id
    _thanked(k.store)   # a day's ratings, so that the id index spans several pages
    _wreck_the_page_the_next_event_needs(db)

    _rate(k, "satisfied")
    assert k.screen == "thanks" and "retry" not in k.shown
    assert k.app.status_text == ""
    events = k.events()
    assert [e["type"] for e in events] == ["db_recovered", C.EV_RATING]
    assert events[1]["payload"]["level"] == "satisfied"
    assert events[1]["stream_id"] != old_stream
    assert events[0]["payload"]["old_stream_id"] == old_stream
    moved = [p for p in db.parent.glob(f"{db.name}.corrupt-*") if not p.name.endswith(("-wal", "-shm"))]
    assert len(moved) == 1 and moved[0].stat().st_size > 0       # kept, never deleted
    assert events[0]["payload"]["moved_to"] == str(moved[0])

    # The sync worker follows: a new one starts, and the one reading the moved file retires
    # (it sends what the file holds, then ends; stopped at once, that waited for a USB export).
    assert first_worker.retired and not first_worker.stopped
    assert len(made) == 1 and made[0].started and k.app.sync_worker is made[0]

    k.after(k.flow.settings.thanks_seconds + 1)
    k.after(k.flow.settings.lockout_seconds + 1)
    assert k.screen == "idle"
    _rate(k, "very_satisfied")                                   # the next tap works too
    assert k.screen == "thanks"
    assert [e["payload"]["level"] for e in k.events(C.EV_RATING)] == ["satisfied", "very_satisfied"]
    assert len(made) == 1                                        # one switch, not one per tap
