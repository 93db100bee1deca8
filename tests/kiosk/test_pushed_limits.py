"""Values a server config pushes into the rating flow and the PIN check stay within the
kiosk's own limits.

Why it matters: the flow took any pushed ``lockout_seconds`` / ``invite_timeout_seconds`` ≥ 0.
With an invitation timeout of 1 s every invitation was recorded "not rated" before a citizen
could read the faces; with a lockout of ``Infinity`` every open-mode press after the first was
flagged ``lockout`` and left out of the rates: a unit could suppress ratings. And a pushed PIN
hash of 999,999,999 iterations froze the kiosk's UI thread for minutes at each PIN typed.
"""

from __future__ import annotations

import logging
import math
import re

import pytest

from kiosk import constants as C
from kiosk.config import BY_NAME, PIN_HASH
from kiosk.flow import FlowSettings, RatingFlow
from kiosk.pin import check_pin, hash_pin


@pytest.mark.parametrize("key, value", [
    ("invite_timeout_seconds", 1), ("invite_timeout_seconds", 0), ("invite_timeout_seconds", 2.9),
    ("invite_timeout_seconds", 601), ("invite_timeout_seconds", 3600),
    ("invite_timeout_seconds", math.inf), ("invite_timeout_seconds", math.nan),
    ("lockout_seconds", -1), ("lockout_seconds", 3601), ("lockout_seconds", 1e12),
    ("lockout_seconds", math.inf), ("lockout_seconds", math.nan),
    ("burst_count", 1), ("burst_seconds", math.inf),
])
def test_a_pushed_trigger_value_outside_the_kiosks_limits_keeps_the_local_one(key, value, caplog):
    local = FlowSettings(invite_timeout_seconds=25, lockout_seconds=12, burst_count=6,
                         burst_seconds=70)
    with caplog.at_level(logging.WARNING, logger="kiosk.flow"):
        taken = local.with_device_config({"trigger": {key: value}})
    assert getattr(taken, key) == getattr(local, key)
    setting = BY_NAME[f"trigger.{key}"]
    assert f"trigger.{key} {value!r} is outside the kiosk's {setting.min:g} to " \
           f"{setting.max:g}" in caplog.text


@pytest.mark.parametrize("key", ["invite_timeout_seconds", "lockout_seconds"])
def test_pushed_trigger_values_at_the_kiosks_limits_are_taken(key):
    setting = BY_NAME[f"trigger.{key}"]
    for value in (setting.min, setting.max):
        assert getattr(FlowSettings().with_device_config({"trigger": {key: value}}), key) == value


def test_a_pushed_one_second_invitation_timeout_does_not_record_not_rated(store, clock,
                                                                          roster, events_of):
    flow = RatingFlow(store, FlowSettings(mode=C.MODE_INVITED).with_device_config(
        {"trigger": {"mode": "invited", "invite_timeout_seconds": 1}}), roster, clock=clock)
    flow.sign_in_badge("10000001")
    assert flow.invite("A012", None, source="queue")
    clock.advance(2)                      # a citizen reads five faces in more than a second
    assert flow.tick() == C.ST_RATE
    assert events_of(store, "not_rated") == []
    flow.rate("very_dissatisfied")
    assert events_of(store, "rating")[-1]["payload"]["level"] == "very_dissatisfied"


def test_a_pushed_infinite_lockout_does_not_flag_every_press(store, clock, roster, events_of):
    flow = RatingFlow(store, FlowSettings().with_device_config(
        {"trigger": {"lockout_seconds": math.inf}}), roster, clock=clock)
    flow.sign_in_badge("10000001")
    for _ in range(3):
        clock.advance(86400)              # a day apart
        flow.start_rating()
        clock.advance(2)
        flow.rate("satisfied")
        clock.advance(flow.settings.thanks_seconds + 1)
        flow.tick()
    assert [e["payload"]["flags"] for e in events_of(store, "rating")] == [[], [], []]


def test_check_pin_refuses_more_iterations_than_the_config_takes_without_running_them():
    # One over the maximum config.yaml takes (7 digits), and the right PIN: it is refused,
    # not checked (on the UI thread).
    over = hash_pin("1234", iterations=10_000_000)
    assert check_pin("1234", over) is False
    assert check_pin("1234", "pbkdf2_sha256$999999999$00$" + "0" * 64) is False
    assert check_pin("1234", hash_pin("1234", iterations=1000)) is True


def test_the_iteration_maximum_is_the_one_config_yaml_takes():
    from kiosk.pin import MAX_ITERATIONS

    made = "pbkdf2_sha256${}$00$" + "0" * 64
    assert re.fullmatch(PIN_HASH, made.format(MAX_ITERATIONS))
    assert not re.fullmatch(PIN_HASH, made.format(MAX_ITERATIONS + 1))


def test_a_pushed_pin_hash_the_kiosk_would_not_check_is_ignored_and_logged(store, clock,
                                                                          caplog):
    from kiosk.flow import roster_from_server

    good = hash_pin("2468", iterations=1000)
    pushed = [{"staff_id": "S-1", "name": "王芳", "staff_no": "0001",
               "pin_hash": "pbkdf2_sha256$999999999$00$" + "0" * 64},
              {"staff_id": "S-2", "name": "李明", "staff_no": "0002", "pin_hash": "1234"},
              {"staff_id": "S-3", "name": "赵敏", "staff_no": "0003", "pin_hash": good},
              {"staff_id": "S-4", "name": "钱进", "staff_no": "0004", "pin_hash": None}]
    with caplog.at_level(logging.WARNING, logger="kiosk.flow"):
        roster = roster_from_server(pushed)
    assert [s["pin_hash"] for s in roster] == ["", "", good, None]
    assert "staff 'S-1' is ignored" in caplog.text and "staff 'S-2' is ignored" in caplog.text
    assert "999999999 iterations" in caplog.text and "0" * 64 not in caplog.text
    assert pushed[0]["pin_hash"].startswith("pbkdf2")      # the config itself is not changed
    flow = RatingFlow(store, FlowSettings(), [], clock=clock)
    flow.update(flow.settings, roster)
    assert flow.sign_in_pin("0001", "1234") is False       # at once: no PBKDF2 run
    assert flow.sign_in_pin("0003", "2468") is True
