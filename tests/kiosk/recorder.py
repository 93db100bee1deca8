"""Child process for the crash test: records events in a loop and reports each one that returned.

Usage: python recorder.py DB_PATH
Prints "<seq> <id>" after every ``record`` call returned, flushed at once, so that the parent
knows which events the store promised to keep before it SIGKILLs this process.
"""

import sys
from datetime import timedelta

from kiosk.store import RatingStore

store = RatingStore(sys.argv[1])
print("ready", flush=True)
n = 0
while True:
    n += 1
    event = store.record("rating", {"level": "satisfied", "stars": 4, "n": n, "comment": "好" * (n % 50)})
    sys.stdout.write(f"{event['seq']} {event['id']}\n")
    sys.stdout.flush()
    if n % 37 == 0:  # batch work too, so kills also land in freeze / ack transactions
        batch = store.freeze_batch(max_events=20)
        store.mark_acked(batch["id"], [e["id"] for e in store.batch_events(batch["id"])[:10]])
    if n % 111 == 0:  # and retention: acknowledged events deleted in small chunks
        store.prune_acked(timedelta(0), chunk=7)
