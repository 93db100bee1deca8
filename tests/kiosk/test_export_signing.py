"""`kiosk export` signs its manifest with the device's Ed25519 key, and keeps the citizens'
phone numbers out of events.csv."""

from __future__ import annotations

import base64
import csv
import json

import pytest
from nacl.signing import VerifyKey

from kiosk.config import data_dir, load_config
from kiosk.store import RatingStore
from sync.credentials import Credentials, export_signing_string
from tests.kiosk.cli_run import kiosk


@pytest.fixture
def usb(tmp_path):
    path = tmp_path / "usb"
    path.mkdir()
    return path


def _verifies(manifest: dict, creds: Credentials) -> bool:
    key = VerifyKey(base64.b64decode(creds.public_key_b64))
    try:
        key.verify(export_signing_string(manifest), base64.b64decode(manifest["signature"]))
    except Exception:
        return False
    return True


def test_the_export_of_an_enrolled_kiosk_is_signed_over_its_whole_manifest(config_file, usb):
    # Why: the server could check only a SHA-256 that anyone can recompute, so an export
    # edited on the way (bad ratings turned good) was taken in. The manifest, which holds the
    # SHA-256 of events.jsonl, the ids, the count, the seq range and the chain head, is now
    # signed with the key only the kiosk holds, and the server verifies it.
    store = RatingStore(data_dir(load_config(config_file)) / "kiosk.db")
    store.record("rating", {"level": "very_dissatisfied", "stars": 1})
    creds = Credentials.generate(store.device_id)
    creds.save(store.path.parent)
    store.close()
    out = kiosk("export", "--config", str(config_file), "--to", str(usb))
    assert out.returncode == 0, out.stderr
    assert "not signed" not in out.stderr
    (folder,) = usb.iterdir()
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert _verifies(manifest, creds)
    for field, value in (("count", 2), ("stream_id", "x"), ("chain_head", "0" * 64)):
        assert not _verifies(dict(manifest, **{field: value}), creds), field
    files = dict(manifest["files"], **{"events.jsonl": "0" * 64})
    assert not _verifies(dict(manifest, files=files), creds)


def test_the_export_of_a_kiosk_never_enrolled_says_it_is_not_signed(config_file, usb):
    # Why: without a key the export is written all the same (it is the kiosk's only copy),
    # but the technician must learn there, not at the server, that it cannot be imported.
    store = RatingStore(data_dir(load_config(config_file)) / "kiosk.db")
    store.record("rating", {"level": "satisfied", "stars": 4})
    store.close()
    out = kiosk("export", "--config", str(config_file), "--to", str(usb))
    assert out.returncode == 0, out.stderr
    assert "warning: the export is not signed (no device credential in" in out.stderr
    (folder,) = usb.iterdir()
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["signature"] is None and "never enrolled" in manifest["unsigned_because"]


def test_the_csv_leaves_the_callback_phone_number_out(config_file, usb):
    # Why: events.csv carried every payload whole, so each callback number went onto the
    # stick in plain text a second time, in the file a person opens in a spreadsheet; the
    # import reads only events.jsonl, which keeps it for the server's callback.
    store = RatingStore(data_dir(load_config(config_file)) / "kiosk.db")
    rating = store.record("rating", {"level": "very_dissatisfied", "stars": 1})
    store.record("follow_up", {"rating_id": rating["id"], "reasons": ["attitude"],
                               "phone": "13912345678", "callback_consent": True,
                               "comment": "态度不好", "completed": True})
    store.close()
    out = kiosk("export", "--config", str(config_file), "--to", str(usb))
    assert out.returncode == 0, out.stderr
    (folder,) = usb.iterdir()
    assert "13912345678" not in (folder / "events.csv").read_text(encoding="utf-8-sig")
    with open(folder / "events.csv", encoding="utf-8-sig", newline="") as fh:
        follow_up = list(csv.DictReader(fh))[1]
    assert json.loads(follow_up["payload"])["callback_consent"] is True
    jsonl = [json.loads(line) for line in
             (folder / "events.jsonl").read_text(encoding="utf-8").splitlines()]
    assert jsonl[1]["payload"]["phone"] == "13912345678"
    assert "phone numbers" in out.stdout   # the technician is told what the stick holds
