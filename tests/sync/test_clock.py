"""Kiosks have no battery clock: a clock a year off, or one that jumps back, still syncs
(through the clock_skew 401 and the offset correction), and order is by seq, not by time."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

YEAR = timedelta(days=365)


def _batch_posts(proxy):
    return [f for m, p, f in proxy.log if p == "/api/v1/batches"]


@pytest.mark.parametrize("off", [YEAR, -YEAR], ids=["year_ahead", "year_behind"])
def test_clock_a_year_off_syncs_after_one_skew_answer(aggregator_server, make_kiosk, proxy, off):
    kiosk = make_kiosk(url=proxy.url)  # enrolled while the clock was right
    kiosk.clock.offset = off
    recorded = kiosk.record(5)
    assert recorded[0]["device_time"].startswith(str((datetime.now(timezone.utc) + off).year))

    result = kiosk.client.upload_once()
    assert result.acked == 5
    assert len(_batch_posts(proxy)) == 2  # refused once for clock_skew, then accepted
    assert abs(kiosk.client.clock_offset + off.total_seconds()) < 5
    assert abs(kiosk.client.last_skew_s - off.total_seconds()) < 5

    # The next upload goes through at once: the offset is known (and persisted).
    kiosk.record(1)
    assert kiosk.client.upload_once().acked == 1
    assert len(_batch_posts(proxy)) == 3
    assert abs(float(kiosk.store.get_meta("clock_offset_s")) + off.total_seconds()) < 5

    # The device tells the server how far off its clock is, and the server raises an alert.
    kiosk.client.heartbeat()
    device = aggregator_server.device(kiosk.store.device_id)
    assert abs(device["last_heartbeat"]["clock_offset_s"] + off.total_seconds()) < 5
    # X-Timestamp was corrected before it was sent; X-Clock-Offset lets the server record the
    # device clock's real skew (this mattered: without it a slow kiosk's ratings were dated a
    # year back on the server).
    assert abs(device["last_skew_s"] - off.total_seconds()) < 5
    alerts = aggregator_server.admin.call("GET", f"/api/v1/alerts?device_id={kiosk.store.device_id}")
    assert "clock_offset" in {a["kind"] for a in alerts["alerts"]}, alerts

    server = aggregator_server.events(kiosk.store.device_id)
    assert [e["seq"] for e in server] == list(range(1, 7))
    assert [e["device_time"] for e in server[:5]] == [e["device_time"] for e in recorded]


def test_clock_jumping_backwards_still_syncs_in_seq_order(aggregator_server, make_kiosk, proxy):
    kiosk = make_kiosk(url=proxy.url)
    before = kiosk.record(3)
    assert kiosk.client.upload_once().acked == 3
    kiosk.clock.offset = -timedelta(hours=6)  # e.g. NTP gone, RTC reset at reboot
    after = kiosk.record(3)
    assert after[0]["device_time"] < before[-1]["device_time"]
    assert kiosk.client.upload_once().acked == 3
    assert _batch_posts(proxy) == ["pass", "pass", "pass"]  # one clock_skew answer in between
    server = aggregator_server.events(kiosk.store.device_id)
    assert [e["id"] for e in server] == [e["id"] for e in before + after]
    assert [e["seq"] for e in server] == [1, 2, 3, 4, 5, 6]
    assert abs(kiosk.client.clock_offset - 6 * 3600) < 5


def test_rating_of_a_slow_clock_is_counted_on_the_server_day(aggregator_server, make_kiosk):
    from sqlalchemy import select

    from aggregator.ratings import local_day
    from aggregator.schema import ratings

    kiosk = make_kiosk()
    kiosk.clock.offset = -YEAR
    kiosk.record(1)
    kiosk.client.upload_once()
    with aggregator_server.engine.connect() as conn:
        day = conn.execute(select(ratings.c.day)).scalar_one()
    assert day == local_day(datetime.now(timezone.utc), aggregator_server.app.state.settings
                            .timezone_offset_hours)
    # The device's real skew (a year slow) is what the server records, not the corrected rest.
    from aggregator.schema import devices
    with aggregator_server.engine.connect() as conn:
        skew = conn.execute(select(devices.c.last_skew_s).where(
            devices.c.id == kiosk.store.device_id)).scalar_one()
    assert abs(skew + YEAR.total_seconds()) < 60


def test_kiosk_booting_at_1970_syncs_and_its_ratings_count_today(aggregator_server, make_kiosk):
    # A board without a battery clock reads 1970-01-01 until NTP answers: 57 years slow in
    # 2026. The server took X-Clock-Offset only within ±20 years, so every batch and heartbeat
    # of such a kiosk got 400 for ever and its ratings never left it.
    from sqlalchemy import select

    from aggregator.ratings import local_day
    from aggregator.schema import ratings

    kiosk = make_kiosk()
    kiosk.clock.offset = datetime(1970, 1, 1, tzinfo=timezone.utc) - datetime.now(timezone.utc)
    recorded = kiosk.record(3)
    assert recorded[0]["device_time"].startswith("1970-01-01")

    assert kiosk.client.upload_once().acked == 3
    assert kiosk.client.upload_once().status == "empty"
    assert "server_time" in kiosk.client.heartbeat()
    assert [e["id"] for e in aggregator_server.events(kiosk.store.device_id)] == \
        [e["id"] for e in recorded]
    with aggregator_server.engine.connect() as conn:
        days = set(conn.execute(select(ratings.c.day)).scalars())
    assert days == {local_day(datetime.now(timezone.utc),
                              aggregator_server.app.state.settings.timezone_offset_hours)}
