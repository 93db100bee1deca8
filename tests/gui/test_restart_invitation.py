"""``kiosk run`` after a run that ended while the faces waited for an invited citizen."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from kiosk import constants as C
from kiosk.store import RatingStore

REPO = Path(__file__).resolve().parent.parent.parent


def _events(db: Path) -> list[tuple[str, dict]]:
    try:
        with sqlite3.connect(db) as conn:
            return [(t, json.loads(p)) for t, p in
                    conn.execute("SELECT type, payload FROM events ORDER BY seq")]
    except sqlite3.OperationalError:   # the kiosk is still migrating (a busy machine)
        return []


def test_an_invitation_the_last_run_left_open_is_recorded_not_rated_at_start(tmp_path):
    # A power cut while the faces waited: what the store holds is what the killed run
    # committed (an invitation, never answered). The next start records it "not rated", so
    # the response rate counts that citizen; before, the invitation stayed open for ever.
    config = tmp_path / "config.yaml"
    shutil.copy(REPO / "config.yaml", config)
    db = tmp_path / "var" / "kiosk" / "kiosk.db"
    db.parent.mkdir(parents=True)
    last_run = RatingStore(db)
    last_run.record(C.EV_APP_START, {"version": "test"})
    last_run.record(C.EV_STAFF_SIGN_IN, {"staff_id": "S-1", "staff_name": "王芳", "method": "badge"})
    invitation = last_run.record(C.EV_INVITATION, {
        "invitation_id": "6d1c2b7e-0000-4000-8000-000000000001", "source": "http",
        "case_no": "C-2026-0001", "service_item": "SI-0101", "staff_id": "S-1"})
    last_run.close()
    env = dict(os.environ, KIVY_NO_ARGS="1", SDL_VIDEODRIVER="offscreen",
               KIVY_HOME=tempfile.mkdtemp(prefix="kivy-home-"), KIVY_LOG_LEVEL="info")
    proc = subprocess.Popen([sys.executable, "-m", "kiosk.cli", "run", "--config", str(config)],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        while [t for t, _ in _events(db)].count(C.EV_APP_START) < 2:
            assert proc.poll() is None, proc.stdout.read()
            assert time.monotonic() < deadline, "the kiosk did not start"
            time.sleep(0.2)
        time.sleep(1)
    finally:
        proc.kill()
        proc.communicate(timeout=60)
    events = _events(db)
    not_rated = [p for t, p in events if t == C.EV_NOT_RATED]
    assert not_rated == [{"invitation_id": invitation["payload"]["invitation_id"],
                          "case_no": "C-2026-0001", "service_item": "SI-0101",
                          "window_id": not_rated[0]["window_id"], "staff_id": "S-1"}], events
    assert not_rated[0]["window_id"]      # the kiosk's window, from its config
    assert not [t for t, _ in events if t == C.EV_RATING]   # never a default rating
