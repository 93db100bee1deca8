"""Export every event of a kiosk to a folder (a USB stick): JSON Lines, CSV and a manifest.

The manifest carries the sequence range, the chain head, where the chain starts (the last
event retention deleted) and a SHA-256 of each file, and is signed with the device's Ed25519
key (``sync.credentials.export_signing_string``), so the server can check that nothing was cut
or edited on the way: anyone can recompute a SHA-256, only the kiosk's key signs. A damaged
database is exported as far as it can be read: the manifest counts the rows that could not be
(``unreadable_count``) and gives their seqs.

events.jsonl holds every event whole, the callback phone numbers of bad ratings included (the
server needs them); events.csv, for a person to look at, leaves the phone numbers out.

>>> creds, why_not = device_credentials(data_dir)                           # doctest: +SKIP
>>> folder = export_events(store, Path("/media/usb"), credentials=creds)   # doctest: +SKIP
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import os
import shutil
import sqlite3
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

from sync.protocol import GENESIS_HASH, event_hash

from .errors import StoreError

log = logging.getLogger(__name__)

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


# Payload fields left out of events.csv: a citizen's callback number (a follow-up's ``phone``),
# printed in plain text a second time on a stick that leaves the hall. events.jsonl keeps it.
CSV_LEFT_OUT = ("phone",)


def _csv_row(event: dict[str, Any]) -> list[Any]:
    payload = {k: v for k, v in event["payload"].items() if k not in CSV_LEFT_OUT}
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


def device_credentials(directory: Path) -> tuple[Any | None, str]:
    """(the device credential in the kiosk data folder ``directory``, "") to sign an export
    with, or (None, why there is none)."""
    from sync.credentials import Credentials
    from sync.errors import CredentialsError, NotEnrolled

    try:
        return Credentials.load(directory), ""
    except NotEnrolled:
        return None, f"no device credential in {directory} (the kiosk was never enrolled)"
    except CredentialsError as exc:
        return None, str(exc)


def export_events(store: Any, to_dir: Path, *, app_version: str = "", credentials: Any = None,
                  unsigned_because: str = "no device credential given", label: str = "") -> Path:
    """Write all events of ``store`` into a new folder under ``to_dir``; return the folder.

    ``credentials`` (``sync.credentials.Credentials`` of the store's device) signs the
    manifest; without them the manifest says why not (``unsigned_because``), and the server
    refuses to take such an export in. ``label`` ends the folder's name.
    """
    to_dir = Path(to_dir)
    missing = [name for name in ("device_id", "stream_id") if not getattr(store, name, "")]
    if missing:
        # Events under device '' were refused by the server ("not enrolled"), and with the id
        # set by hand every one was rejected: the hash of each covers both ids.
        raise StoreError(f"{store.path}: its {' and '.join(n.replace('_', ' ') for n in missing)} "
                         "cannot be read (its meta table is damaged?); an export without them "
                         "cannot be taken in by the server")
    if not to_dir.is_dir():
        raise FileNotFoundError(f"export target {to_dir} is not a folder (is the USB stick mounted?)")
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    name = f"kiosk-export-{store.device_id[:8]}-{stamp}{label}"
    folder = to_dir / name
    n = 1
    while True:   # two exports in the same second: the second failed with FileExistsError
        try:
            folder.mkdir()
            break
        except FileExistsError:
            n += 1
            folder = to_dir / f"{name}-{n}"
    try:
        return _write(store, folder, app_version, credentials, unsigned_because)
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


def _write(store: Any, folder: Path, app_version: str, credentials: Any,
           unsigned_because: str) -> Path:
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
    _sign(manifest, credentials, unsigned_because)
    manifest_path = folder / "manifest.json"
    manifest_path.write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
    _fsync_file(manifest_path)
    return folder


def _sign(manifest: dict[str, Any], credentials: Any, unsigned_because: str) -> None:
    """Sign ``manifest`` with the device's key (``signature``), or say why it is not signed.

    Only the SHA-256 of the files was there to check: an export whose events were edited
    (bad ratings turned good) with the hashes and the manifest recomputed was taken in, and
    the kiosk's real events later came back as conflicts."""
    from sync.credentials import export_signing_string

    if credentials is not None and credentials.device_id != manifest["device_id"]:
        unsigned_because = (f"the device credential is device {credentials.device_id!r}'s, "
                            f"not {manifest['device_id']!r}'s")
        credentials = None
    if credentials is None:
        manifest["unsigned_because"] = unsigned_because
        manifest["signature"] = None
        return
    manifest["signature"] = credentials.sign(export_signing_string(manifest))


# ------------------------------------------------------------ a database file moved aside
MOVED_ASIDE = ".corrupt-"
IDENTITY_SAMPLE = 50   # events whose hashes tell which device and stream ids they were made with


def moved_aside_files(db_path: Path) -> list[Path]:
    """The databases the store at ``db_path`` moved aside as corrupt (``kiosk.db.corrupt-…``,
    not their -wal/-shm), oldest name first."""
    return sorted(p for p in Path(db_path).parent.glob(f"{Path(db_path).name}{MOVED_ASIDE}*")
                  if not p.name.endswith(("-wal", "-shm", "-journal")) and p.is_file())


def open_for_export(path: Path, shown: Any) -> Any:
    """A store reading the kiosk database ``path`` (named ``shown`` in messages); a damaged
    file is read as far as it can be (docs/kiosk-store.md). StoreError when nothing can be."""
    from .store import RatingStore

    try:
        return RatingStore(path, check=False)
    except (StoreError, sqlite3.DatabaseError) as exc:
        reason = str(exc).split(": ", 1)[-1] if isinstance(exc, StoreError) else str(exc)
        store = RatingStore.read_only_view(path, StoreError(f"{shown}: {reason}"), damaged=True)
        if not store.readable:
            store.close()
            raise StoreError(f"{shown}: {reason}") from None
        return store


def recovered_streams(events: Iterable[dict[str, Any]]) -> dict[str, str]:
    """{name of a moved-aside file: the stream id it held} from a live store's events (its
    ``db_recovered`` events name the file and the old stream)."""
    found: dict[str, str] = {}
    for event in events:
        payload = event["payload"]
        if event["type"] == "db_recovered" and isinstance(payload, dict) \
                and isinstance(payload.get("moved_to"), str) and payload.get("old_stream_id"):
            found[Path(payload["moved_to"]).name] = str(payload["old_stream_id"])
    return found


def _hashed_with(sample: list[dict[str, Any]], device_id: str, stream_id: str) -> bool:
    return any(event_hash(dict(ev, device_id=device_id, stream_id=stream_id), ev["prev_hash"])
               == ev["hash"] for ev in sample)


def settle_identity(store: Any, original: Path, *, credentials: Any = None,
                    live_events: Any = None, device_id: str | None = None,
                    stream_id: str | None = None) -> None:
    """Give ``store``, the moved-aside database ``original`` (read from a copy), the device and
    stream ids its events were made with when its meta table cannot tell them.

    Each event's hash covers both ids, so a candidate is right when an event's hash comes out
    with it. Device ids: the kiosk's credential and identity files beside ``original``.
    Stream ids: the live store's ``db_recovered`` event naming ``original`` (``live_events``,
    a callable giving the live store's events; read only when needed). ``device_id`` /
    ``stream_id``: given by the technician (``kiosk export --device-id/--stream-id``), checked
    the same way. StoreError naming what was tried when nothing fits.
    """
    from sync.credentials import enrolment_of

    if store.device_id and store.stream_id and device_id is None and stream_id is None:
        return   # the meta table was read
    sample = []
    for event in store.iter_events(unreadable=[]):
        sample.append(event)
        if len(sample) >= IDENTITY_SAMPLE:
            break
    folder = Path(original).parent
    ident: dict[str, Any] = {}
    try:
        ident = json.loads((folder / "device.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        pass
    ident = ident if isinstance(ident, dict) else {}
    devices = [device_id] if device_id is not None else [
        store.device_id, (enrolment_of(folder) or {}).get("device_id"), ident.get("device_id"),
        getattr(credentials, "device_id", None)]
    streams = [stream_id] if stream_id is not None else [store.stream_id]
    if stream_id is None and live_events is not None and (not store.stream_id or not sample):
        try:
            streams.append(recovered_streams(live_events()).get(Path(original).name))
        except (StoreError, sqlite3.DatabaseError, ValueError) as exc:
            log.warning("cannot read the live kiosk database for %s's stream id: %s",
                        original, exc)
    devices = list(dict.fromkeys(d for d in devices if isinstance(d, str) and d))
    streams = list(dict.fromkeys(s for s in streams if isinstance(s, str) and s))
    if not sample:   # nothing readable: the export says so; any ids do
        store.device_id = store.device_id or (devices[0] if devices else "")
        store.stream_id = store.stream_id or (streams[0] if streams else "")
        return
    for d in devices:
        for s in streams:
            if _hashed_with(sample, d, s):
                if (d, s) != (store.device_id, store.stream_id):
                    log.warning("%s: device id %s and stream id %s found from its events' "
                                "hashes (its meta table is damaged)", original, d, s)
                # the events read from here on carry these ids (RatingStore._event)
                store.device_id, store.stream_id = d, s
                return
    tried = (f"device ids {', '.join(devices) or 'none found'}; stream ids "
             f"{', '.join(streams) or 'none found'}")
    raise StoreError(
        f"{original}: cannot tell which device and stream its events belong to: its meta table "
        f"cannot be read, and no id known for it matches its events' hashes ({tried}). Give "
        "them with --device-id and --stream-id (the server's db_recovered alert for this kiosk "
        "names the old stream)")


def export_moved_aside(path: Path, to_dir: Path, *, app_version: str = "",
                       credentials: Any = None, unsigned_because: str = "",
                       live_events: Any = None, device_id: str | None = None,
                       stream_id: str | None = None) -> Path:
    """Export the database file ``path`` (one moved aside as corrupt, or a dead kiosk's) into
    its own folder under ``to_dir``: read from a copy, as far as it can be read, with the ids
    its events were made with (``settle_identity``). StoreError when nothing can be exported,
    OSError when the copy or the stick cannot be written."""
    path = Path(path)
    with tempfile.TemporaryDirectory(prefix="kiosk-export-") as scratch:
        # The file is evidence: read a copy, so that opening it touches neither the file nor
        # the live kiosk's device.json beside it (which would otherwise take the old stream id).
        copy = Path(scratch) / "kiosk.db"
        try:
            shutil.copyfile(path, copy)
            side = path.with_name(path.name + "-wal")
            if side.exists():
                shutil.copyfile(side, copy.with_name(copy.name + "-wal"))
        except OSError as exc:   # not the stick's fault: said as the stick being full
            raise StoreError(f"{path}: cannot be copied to {scratch} to be read "
                             f"({exc.strerror or exc}); free some space there or set TMPDIR "
                             "to a folder with room") from None
        store = open_for_export(copy, path)
        try:
            settle_identity(store, path, credentials=credentials, live_events=live_events,
                            device_id=device_id, stream_id=stream_id)
            return export_events(store, to_dir, app_version=app_version,
                                 credentials=credentials, unsigned_because=unsigned_because,
                                 label=f"-stream-{store.stream_id[:8]}")
        except StoreError as exc:   # named by the file given, not by the scratch copy read
            raise StoreError(f"{path}: {str(exc).split(': ', 1)[-1]}") from None
        finally:
            store.close()
