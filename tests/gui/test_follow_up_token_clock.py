"""The follow-up QR code's expiry is dated by the server's clock as the sync client measured it.

Why it matters: the token's expiry was the kiosk's wall clock + 7 days, and the server checks
it against its own clock. Kiosks have no battery clock; one more than a week behind showed, after
every bad rating, a "scan to add details" code that the server refused at once (410 expired),
although the sync client had measured the skew (时钟偏差 on the technician panel). A kiosk far
ahead made codes valid for as long as it was ahead.
"""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import pytest

from aggregator.qr import check_follow_up_token, window_key
from kiosk import constants as C
from sync.client import META_OFFSET as META_CLOCK_OFFSET  # where the sync client keeps it

from .conftest import BADGE_WANG

SECRET = "server-secret"
DAY = 86400
WEEK = 7 * DAY


def _device_config():
    return {"version": 1, "window": {"id": "W-001", "name": "社会保障综合窗口 1号", "unit_id": "U-001"},
            "follow_up_qr_key": window_key(SECRET, "W-001"), "qr_base_url": "https://pj.example.gov.cn/r/"}


def _token_after_a_bad_rating(make_kiosk, monkeypatch, kiosk_ahead_s: float, measured: float | None):
    """The token of the follow-up code a kiosk whose wall clock is ``kiosk_ahead_s`` off shows
    after a very bad rating; ``measured``: the clock offset its sync client stored, if any."""
    k = make_kiosk()
    k.store.apply_config(_device_config(), "etag-1", 1)
    k.app.apply_device_config()
    if measured is not None:
        k.store.set_meta(META_CLOCK_OFFSET, f"{measured:.3f}")
    k.type_badge(BADGE_WANG)
    k.tap(k.app.root.get_screen("idle").ids.rate_button)
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + kiosk_ahead_s)   # the kiosk's wall clock
    try:
        k.tap(k.face("very_dissatisfied"))
        assert k.screen == C.ST_FOLLOW_UP
        url = k.app.root.get_screen(C.ST_FOLLOW_UP).qr_data
    finally:
        monkeypatch.setattr(time, "time", real)
    return parse_qs(urlsplit(url).query)["t"][0]


@pytest.mark.parametrize("ahead_days", [-10, -400, 30, 365])
def test_a_measured_offset_puts_the_expiry_on_the_servers_clock(make_kiosk, monkeypatch,
                                                                 ahead_days):
    # The sync client's offset is server minus kiosk: a kiosk 10 days behind measured +10 days.
    ahead = ahead_days * DAY
    token = _token_after_a_bad_rating(make_kiosk, monkeypatch, ahead, measured=-ahead)
    now = time.time()   # the server's clock
    assert check_follow_up_token(SECRET, "W-001", token, now)                  # usable now …
    assert check_follow_up_token(SECRET, "W-001", token, now + WEEK - 60)      # … all week …
    assert not check_follow_up_token(SECRET, "W-001", token, now + WEEK + 60)  # … and no longer


def test_without_a_measured_offset_the_kiosks_own_clock_dates_it_as_before(make_kiosk,
                                                                            monkeypatch):
    token = _token_after_a_bad_rating(make_kiosk, monkeypatch, -3 * DAY, measured=None)
    expires = int(token.split(".")[1])
    assert abs(expires - (time.time() - 3 * DAY + WEEK)) < 120
    assert check_follow_up_token(SECRET, "W-001", token, time.time())


def test_the_offset_is_read_where_the_sync_client_writes_it():
    from kiosk.store import META_CLOCK_OFFSET as READ_FROM

    assert READ_FROM == META_CLOCK_OFFSET


@pytest.mark.parametrize("stored, offset", [(None, None), ("864000.000", 864000.0), ("nan", None),
                                            ("inf", None), ("ten days", None)])
def test_an_unusable_stored_offset_counts_as_never_measured(tmp_path, stored, offset):
    # A NaN or infinite offset made the expiry unrepresentable: the follow-up screen failed.
    from kiosk.store import RatingStore

    store = RatingStore(tmp_path / "kiosk.db")
    if stored is not None:
        store.set_meta(META_CLOCK_OFFSET, stored)
    assert store.clock_offset() == offset
    store.close()


@pytest.mark.parametrize("local, shown", [("https://pj.example.gov.cn", "https://pj.example.gov.cn/r/W-001"),
                                          ("", "http://127.0.0.1:8700/r/W-001")])
def test_the_technicians_qr_base_url_wins_over_the_servers(make_kiosk, local, shown):
    # Why: the server sends its public_url in every config; left at its loopback default it
    # replaced the URL a technician set in config.yaml, and every window's QR code pointed at
    # 127.0.0.1 after the first config pull. Empty, the server's is used, as documented.
    k = make_kiosk(sync__qr_base_url=local)
    k.store.apply_config(_device_config() | {"qr_base_url": "http://127.0.0.1:8700/r/"}, "etag-1", 1)
    k.app.apply_device_config()
    assert k.app.qr_url == shown
