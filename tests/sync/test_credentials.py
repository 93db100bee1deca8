"""The device credential: 0600 files, atomic writes, no secret in repr, clear errors."""

from __future__ import annotations

import base64
import os
import re
import stat
import subprocess
import sys

import pytest
from nacl.signing import VerifyKey

from sync.credentials import ENROLMENT_FILE, KEY_FILE, Credentials
from sync.errors import CredentialsError, NotEnrolled

# RFC 8410 section 10.3: an Ed25519 private key in PKCS#8 PEM; section 10.1: its public key.
# Every kiosk enrolled before 2026-12-03 has its key in this form (written by `cryptography`).
RFC8410_PRIVATE_PEM = ("-----BEGIN PRIVATE KEY-----\n"
                       "MC4CAQAwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC\n"
                       "-----END PRIVATE KEY-----\n")
RFC8410_PUBLIC_RAW = base64.b64decode(
    "MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=")[-32:]


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
    VerifyKey(base64.b64decode(creds.public_key_b64)).verify(b"hello", sig)


def _enrolment(directory, device_id="dev-1"):
    (directory / ENROLMENT_FILE).write_text(f'{{"device_id": "{device_id}"}}')


def test_a_key_saved_in_the_standard_pkcs8_form_loads_and_is_written_back_the_same(tmp_path):
    # Kiosks enrolled before the signing library changed keep their key file: the file must
    # still load, to the same key, or each of them would have to be enrolled again.
    (tmp_path / KEY_FILE).write_text(RFC8410_PRIVATE_PEM)
    _enrolment(tmp_path)
    creds = Credentials.load(tmp_path)
    assert base64.b64decode(creds.public_key_b64) == RFC8410_PUBLIC_RAW
    creds.save(tmp_path / "again")
    assert (tmp_path / "again" / KEY_FILE).read_text() == RFC8410_PRIVATE_PEM


def test_signatures_are_standard_ed25519():
    # RFC 8032 section 7.1, TEST 1: the server (and any other verifier) checks plain Ed25519.
    seed = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
    from nacl.signing import SigningKey

    creds = Credentials("dev-1", SigningKey(seed))
    assert base64.b64decode(creds.public_key_b64).hex() == \
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
    assert base64.b64decode(creds.sign(b"")).hex() == (
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39"
        "701cf9b46bd25bf5f0595bbe24655141438e7a100b")


@pytest.mark.parametrize("pem, reason", [
    # an X25519 key (1.3.101.110) is the same size as an Ed25519 one: refuse it by its OID
    (RFC8410_PRIVATE_PEM.replace("K2VwBCIE", "K2VuBCIE"), "not an Ed25519 key"),
    ("-----BEGIN PRIVATE KEY-----\nnot base64!\n-----END PRIVATE KEY-----\n", "the PEM body is not base64"),
    ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI", "not a PEM private key (no BEGIN/END PRIVATE KEY lines)"),
])
def test_a_key_file_that_is_not_an_ed25519_key_says_what_it_is(tmp_path, pem, reason):
    (tmp_path / KEY_FILE).write_text(pem)
    _enrolment(tmp_path)
    with pytest.raises(CredentialsError, match=re.escape(f"{KEY_FILE}: {reason}; enrol the kiosk again")):
        Credentials.load(tmp_path)


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


def test_the_kiosk_loads_the_signing_library_only_with_a_key_and_never_cryptography(tmp_path):
    # Memory (docs/kiosk-deployment.md, "Memory"): a kiosk that was never enrolled has no key
    # to load or sign with, so it does not load PyNaCl; an enrolled one loads PyNaCl (~0.8 MB)
    # and not `cryptography`, which took ~8 MB of the kiosk's resident memory until 2026-12-03.
    Credentials.generate("dev-1").save(tmp_path)
    code = ("import sys, kiosk.launch, kiosk.app, sync.credentials, sync.worker; "
            "print('nacl' in sys.modules, 'cryptography' in sys.modules); "
            f"sync.credentials.Credentials.load({str(tmp_path)!r}).sign(b'x'); "
            "print('nacl' in sys.modules, 'cryptography' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={**os.environ, "KIVY_NO_ARGS": "1",
                                          "SDL_VIDEODRIVER": "offscreen"})
    assert out.stdout.strip().splitlines()[-2:] == ["False False", "True False"], \
        out.stdout + out.stderr
