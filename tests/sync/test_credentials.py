"""The device credential: 0600 files, atomic writes, no secret in repr, clear errors."""

from __future__ import annotations

import base64
import os
import stat
import subprocess
import sys

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from sync.credentials import ENROLMENT_FILE, KEY_FILE, Credentials
from sync.errors import CredentialsError, NotEnrolled


def test_saved_files_are_private_and_load_back(tmp_path):
    creds = Credentials.generate("dev-1")
    creds.server_url, creds.window_id = "http://127.0.0.1:8700", "W-001"
    creds.save(tmp_path)
    for name in (KEY_FILE, ENROLMENT_FILE):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".*.tmp"))
    loaded = Credentials.load(tmp_path)
    assert (loaded.device_id, loaded.server_url, loaded.window_id) == \
        ("dev-1", "http://127.0.0.1:8700", "W-001")
    assert loaded.public_key_b64 == creds.public_key_b64
    sig = base64.b64decode(loaded.sign(b"hello"))
    Ed25519PublicKey.from_public_bytes(base64.b64decode(creds.public_key_b64)).verify(sig, b"hello")


def test_resave_keeps_mode_0600_even_over_a_loose_file(tmp_path):
    (tmp_path / KEY_FILE).write_text("old")
    (tmp_path / KEY_FILE).chmod(0o644)
    Credentials.generate("dev-1").save(tmp_path)
    assert stat.S_IMODE((tmp_path / KEY_FILE).stat().st_mode) == 0o600


def test_private_key_never_in_repr(tmp_path):
    creds = Credentials.generate("dev-1")
    creds.save(tmp_path)
    pem = (tmp_path / KEY_FILE).read_text()
    body = "".join(pem.splitlines()[1:-1])
    assert body not in repr(creds) and body not in str(creds)
    assert "dev-1" in repr(creds)


def test_missing_credential_is_not_enrolled(tmp_path):
    with pytest.raises(NotEnrolled, match="kiosk enroll"):
        Credentials.load(tmp_path)


def test_damaged_key_is_a_clear_error(tmp_path):
    Credentials.generate("dev-1").save(tmp_path)
    (tmp_path / KEY_FILE).write_text("garbage")
    with pytest.raises(CredentialsError, match="enrol the kiosk again"):
        Credentials.load(tmp_path)


def test_a_standalone_kiosk_does_not_load_cryptography():
    # cryptography is ~9 MB of a kiosk's resident memory; a kiosk that was never enrolled has
    # no key to load or sign with (docs/kiosk-deployment.md, "Memory").
    code = ("import sys, kiosk.launch, kiosk.app, sync.credentials, sync.worker; "
            "print('cryptography' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={**os.environ, "KIVY_NO_ARGS": "1",
                                          "SDL_VIDEODRIVER": "offscreen"})
    assert out.stdout.strip().splitlines()[-1] == "False", out.stdout + out.stderr
