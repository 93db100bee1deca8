"""Export every event of a kiosk to a folder (a USB stick): JSON Lines, CSV and a manifest.

The manifest carries the sequence range, the chain head, where the chain starts (the last
event retention deleted) and a SHA-256 of each file, so the receiving office can check that
nothing was cut or edited on the way.

>>> folder = export_events(store, Path("/media/usb"))   # doctest: +SKIP
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

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


def _write(store: Any, folder: Path, app_version: str) -> Path:
    first = last = None
    count = 0
    jsonl, csv_path = folder / "events.jsonl", folder / "events.csv"
    with open(jsonl, "w", encoding="utf-8") as jf, open(csv_path, "w", encoding="utf-8-sig", newline="") as cf:
        writer = csv.writer(cf)
        writer.writerow(CSV_COLUMNS)
        for event in store.iter_events():
            jf.write(json.dumps(event, ensure_ascii=False, sort_keys=True) + "\n")
            writer.writerow(_csv_row(event))
            first = event["seq"] if first is None else first
            last = event["seq"]
            count += 1
    ok, checked, bad = store.verify_chain()
    head_seq, head = store.chain_head()
    start_seq, start_hash = store.chain_start()
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
        "files": {p.name: _fsync_file(p) for p in (jsonl, csv_path)},
    }
    manifest_path = folder / "manifest.json"
    manifest_path.write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
    _fsync_file(manifest_path)
    return folder
