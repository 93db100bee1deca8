"""Export every event of a kiosk to a folder (a USB stick): JSON Lines, CSV and a manifest.

The manifest carries the sequence range, the chain head, where the chain starts (the last
event retention deleted) and a SHA-256 of each file, so the receiving office can check that
nothing was cut or edited on the way. A damaged database is exported as far as it can be read:
the manifest counts the rows that could not be (``unreadable_count``) and gives their seqs.

>>> folder = export_events(store, Path("/media/usb"))   # doctest: +SKIP
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import sqlite3
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sync.protocol import GENESIS_HASH, event_hash

from .errors import StoreError

CSV_COLUMNS = (
    "seq", "id", "type", "device_time", "level", "stars", "staff_id", "flags",
    "boot_id", "mono_ns", "payload", "prev_hash", "hash", "acked_at", "quarantine",
)


def _fsync_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb+") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
        os.fsync(fh.fileno())
    return digest.hexdigest()


def _csv_row(event: dict[str, Any]) -> list[Any]:
    payload = event["payload"]
    return [
        event["seq"], event["id"], event["type"], event["device_time"],
        payload.get("level", ""), payload.get("stars", ""), payload.get("staff_id", ""),
        " ".join(payload.get("flags", []) or []),
        event["boot_id"], event["mono_ns"], json.dumps(payload, ensure_ascii=False, sort_keys=True),
        event["prev_hash"], event["hash"], event.get("acked_at") or "", event.get("quarantine") or "",
    ]


def usb_folder_problem(path: str, data_dir: Path) -> tuple[str, str] | None:
    """Why ``path`` is not a USB stick to export to from the technician screen, as (code,
    English detail), or None. The panel says the code in its language (tech.export_<code>).

    An empty path exported into the kiosk's working folder, and an empty /media/usb (no
    stick mounted) into the kiosk's own disk, both reported as done: the technician left with
    nothing, and a copy of every phone number stayed on the device. A stick is another
    filesystem than the kiosk's data.
    """
    if not path.strip():
        return "no_folder", "no folder given: the USB stick's folder, e.g. /media/usb"
    folder = Path(path)
    if not folder.is_absolute():
        return "not_absolute", f"{path}: give the USB stick's full path, e.g. /media/usb"
    if not folder.is_dir():
        return "not_mounted", f"{path} is not a folder (is the USB stick mounted?)"
    try:
        same = folder.stat().st_dev == Path(data_dir).stat().st_dev
    except OSError as exc:
        return "unreadable", f"{path}: {exc}"
    if same:
        return "own_disk", f"{path} is on the kiosk's own disk, not a USB stick (is the stick mounted?)"
    return None


def export_events(store: Any, to_dir: Path, *, app_version: str = "") -> Path:
    """Write all events of ``store`` into a new folder under ``to_dir``; return the folder."""
    to_dir = Path(to_dir)
    if not to_dir.is_dir():
        raise FileNotFoundError(f"export target {to_dir} is not a folder (is the USB stick mounted?)")
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    folder = to_dir / f"kiosk-export-{store.device_id[:8]}-{stamp}"
    n = 1
    while True:   # two exports in the same second: the second failed with FileExistsError
        try:
            folder.mkdir()
            break
        except FileExistsError:
            n += 1
            folder = to_dir / f"kiosk-export-{store.device_id[:8]}-{stamp}-{n}"
    try:
        return _write(store, folder, app_version)
    except BaseException:
        # A full stick left a cut events.jsonl and no manifest behind, which looks like an
        # export; nothing half-written stays.
        shutil.rmtree(folder, ignore_errors=True)
        raise


def seq_ranges(seqs: list[int]) -> list[list[int]]:
    """[[first, last], …] of the runs of consecutive numbers in ``seqs`` (sorted)."""
    ranges: list[list[int]] = []
    for seq in sorted(seqs):
        if ranges and seq == ranges[-1][1] + 1:
            ranges[-1][1] = seq
        else:
            ranges.append([seq, seq])
    return ranges


def describe_ranges(ranges: list[list[int]], most: int = 5) -> str:
    """"seq 12–19, 40" for the command line; the manifest lists them all."""
    shown = ", ".join(f"{a}–{b}" if a != b else str(a) for a, b in ranges[:most])
    return "seq " + shown + (f" and {len(ranges) - most} more ranges" if len(ranges) > most else "")


def _chain_start(store: Any) -> tuple[int, str]:
    try:
        return store.chain_start()
    except (sqlite3.DatabaseError, ValueError):   # a damaged meta table: check from the start
        return 0, GENESIS_HASH


def _write(store: Any, folder: Path, app_version: str) -> Path:
    first = last = None
    count = 0
    start_seq, start_hash = _chain_start(store)
    # The chain is checked on the events as they are written (it was read a second time, and
    # a damaged file failed there too); the head is the last event exported.
    ok, bad, prev, expected, head = True, None, start_hash, start_seq + 1, start_hash
    unreadable: list[int] = []
    jsonl, csv_path = folder / "events.jsonl", folder / "events.csv"
    with open(jsonl, "w", encoding="utf-8") as jf, open(csv_path, "w", encoding="utf-8-sig", newline="") as cf:
        writer = csv.writer(cf)
        writer.writerow(CSV_COLUMNS)
        for event in store.iter_events(unreadable=unreadable):
            jf.write(json.dumps(event, ensure_ascii=False, sort_keys=True) + "\n")
            writer.writerow(_csv_row(event))
            first = event["seq"] if first is None else first
            last = event["seq"]
            count += 1
            if ok and (event["seq"] != expected or event["prev_hash"] != prev
                       or event_hash(event, prev) != event["hash"]):
                ok, bad = False, event["seq"]
            prev, expected, head = event["hash"], event["seq"] + 1, event["hash"]
    ranges = seq_ranges(unreadable)
    after = getattr(store, "unreadable_after", None)
    if (unreadable or after is not None) and not count:
        raise StoreError(f"{store.path}: nothing could be read from the kiosk database: "
                         + (f"{len(unreadable)} rows are damaged ({describe_ranges(ranges)})"
                            if unreadable else "its events table is damaged"))
    manifest = {
        "format": "csk-export-1",
        "device_id": store.device_id,
        "stream_id": store.stream_id,
        "exported_at": datetime.now(timezone.utc).astimezone().isoformat(),
        "app_version": app_version,
        "count": count,
        "first_seq": first,
        "last_seq": last,
        "chain_head": head,
        # Retention deleted the events up to this one (acknowledged by the server): the first
        # event exported follows it, and its prev_hash is this hash.
        "pruned_through_seq": start_seq,
        "pruned_through_hash": start_hash,
        "chain_ok": ok,
        "chain_first_bad_seq": bad,
        # Rows of a damaged database that could not be read (not exported): how many, and
        # their seqs as [first, last] ranges.
        "unreadable_count": len(unreadable),
        "unreadable_seq_ranges": ranges,
        # The end of the table was damaged too: the rows after this seq could not be read,
        # and how many there were is unknown (null when the end was read).
        "unreadable_after_seq": after,
        "files": {p.name: _fsync_file(p) for p in (jsonl, csv_path)},
    }
    manifest_path = folder / "manifest.json"
    manifest_path.write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
    _fsync_file(manifest_path)
    return folder
