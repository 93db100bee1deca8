"""Fixtures shared by every test area: the one headless browser of the run.

Two sync Playwright instances cannot live in one process, so the browser is session-wide
here and the dashboard and assessment tests both use it.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"  # Debian's chromium; never a browser download
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def small_disk(tmp_path):
    """A 1 MiB filesystem (a tmpfs) at ``tmp_path / "disk"``, unmounted afterwards: a disk
    that fills for real. Skipped where a tmpfs cannot be mounted (not root)."""
    from tests.reliability.disk_full import _mount_tmpfs

    mnt = tmp_path / "disk"
    why_not = _mount_tmpfs(mnt, "1m")
    if why_not:
        pytest.skip(why_not)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


@pytest.fixture
def pin_hashing(monkeypatch):
    """``watch(engine)`` → the list of ``(pin, under_write_lock)``, one per PIN hashed from
    then on; ``under_write_lock`` is whether another writer of ``engine`` had to wait for
    more than 2 s at that moment (SQLite: one writer at a time; PostgreSQL: always False,
    a transaction that has written nothing blocks no one)."""
    import threading

    from aggregator import org
    from aggregator.db import write

    def watch(engine) -> list:
        seen, real = [], org.hash_pin

        def watched(pin, *args, **kwargs):
            got = threading.Event()

            def other_writer():
                with write(engine):
                    got.set()
            threading.Thread(target=other_writer, daemon=True).start()
            seen.append((pin, not got.wait(2)))   # blocked: it gets the lock once we are done
            return real(pin, *args, **kwargs)

        monkeypatch.setattr(org, "hash_pin", watched)
        return seen
    return watch
