"""Child process of the kiosk-crash scenario: a kiosk (real flow, store and sync client)
rating and syncing in a loop until it is SIGKILLed.

Usage: python kiosk_child.py HOME SEED
Prints "ready", then "<seq> <id>" after every ``record`` call returned (flushed at once), so the
parent knows which events the store promised before it kills this process. Uploads every few
ratings, so kills also land in batch freezing, sending and acknowledging.
"""

import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent))

from kiosk.flow import FlowSettings, RatingFlow  # noqa: E402
from kiosk.store import RatingStore  # noqa: E402
from sync.client import SyncClient  # noqa: E402
from sync.credentials import Credentials  # noqa: E402
from sync.errors import SyncError  # noqa: E402


class ReportingStore(RatingStore):
    """The real store; says on stdout which event each returned ``record`` call promised."""

    def record(self, type_, payload=None):
        event = super().record(type_, payload)
        sys.stdout.write(f"{event['seq']} {event['id']}\n")
        sys.stdout.flush()
        return event

    def apply_config(self, config, etag, version=None):
        event = super().apply_config(config, etag, version)
        sys.stdout.write(f"{event['seq']} {event['id']}\n")
        sys.stdout.flush()
        return event


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


home, seed = Path(sys.argv[1]), int(sys.argv[2])
rng = random.Random(seed)
store = ReportingStore(home / "kiosk.db")
creds = Credentials.load(home)
client = SyncClient(creds.server_url, store, creds, timeout=5, batch_size=rng.choice((5, 20, 500)))
clock = Clock()
flow = RatingFlow(store, FlowSettings(window_id=creds.window_id, unit_id=creds.unit_id or ""),
                  [{"staff_id": "S-REL-1", "name": "王芳", "badge": "10000001"}], clock=clock)
print("ready", flush=True)
flow.sign_in_badge("10000001")
levels = ("very_satisfied", "satisfied", "basic_satisfied", "dissatisfied", "very_dissatisfied")
for n in range(1, 100000):
    flow.start_rating()
    if flow.rate(rng.choice(levels)) == "follow_up":
        flow.toggle_reason(flow.reasons_for(flow.pending_rating["payload"]["level"])[0])
        flow.submit_follow_up()
    clock.now += 61
    flow.tick()
    if n % 4 == 0:
        try:
            client.upload_once()
        except SyncError:
            pass
