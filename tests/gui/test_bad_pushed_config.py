"""The real app started on a store that holds a server config of the wrong shape.

Why it matters: ``build()`` applied the stored config before ``on_start`` installed the app's
exception handler, and trusted every field of it. One wrong-typed field (``{"window":
{"name": 123}}``, ``window`` a string, ``service_items: [1]`` …), stored by a sync client that
checked only ``roster``, made ``kiosk run`` die with a traceback at every start; the sync
worker starts after the screens, so a corrected config was never pulled. Now such a body is
logged and changes nothing: the kiosk starts with config.yaml's values, reaches its idle
screen, and takes the next good config.
"""

from __future__ import annotations

import logging

import pytest

from kiosk.store import RatingStore

from .conftest import BADGE_WANG

BAD_BODIES = {
    "window_name_int": {"window": {"name": 123}},
    "window_is_string": {"window": "W-9"},
    "trigger_is_list": {"trigger": ["invited"]},
    "service_item_not_a_mapping": {"service_items": [1]},
    "roster_item_not_a_mapping": {"roster": ["x"]},
    "reasons_list_of_ints": {"reasons": {"dissatisfied": [1, 2]}},
}


def _store_holding(body: dict):
    """A store class for ``make_kiosk`` whose database already holds ``body`` as the server
    config, as an older kiosk version stored it."""
    def make(path):
        store = RatingStore(path)
        store.apply_config(body, "etag-bad", 3)
        return store
    return make


@pytest.mark.parametrize("name", list(BAD_BODIES))
def test_a_stored_config_of_the_wrong_shape_does_not_stop_the_start(make_kiosk, name, caplog):
    with caplog.at_level(logging.ERROR, logger="kiosk.app"):
        k = make_kiosk(store_cls=_store_holding(BAD_BODIES[name]))
    assert k.screen == "paused"                            # built and shown: nobody on duty yet
    assert k.app.window_name == "社会保障综合窗口 1号"       # config.yaml's, not the body's
    assert any("etag-bad is not applied" in r.getMessage() for r in caplog.records), caplog.text
    k.type_badge(BADGE_WANG)                               # config.yaml's roster signs in
    assert k.screen == "idle"
    assert k.app.staff["name"] == "王芳"
    assert k.app.status_text == ""                          # no problem shown to a citizen


def test_the_next_good_config_is_taken_after_a_bad_one(make_kiosk):
    k = make_kiosk(store_cls=_store_holding(BAD_BODIES["window_name_int"]))
    k.store.apply_config({"window": {"id": "W-001", "name": "民政窗口"},
                          "service_items": [{"code": "SI-1", "name": "低保申请",
                                             "time_limit": "即办"}]}, "etag-good", 4)
    assert k.app.apply_device_config() is True
    k.type_badge(BADGE_WANG)
    k.frames(3)
    assert k.screen == "idle"
    assert k.app.window_name == "民政窗口"
    assert [i["code"] for i in k.app.service_items] == ["SI-1"]


def test_a_pushed_pin_hash_the_kiosk_would_not_check_is_not_used(make_kiosk):
    # A hash of more iterations than a server may send froze the UI thread at each PIN typed
    # (999,999,999: minutes); the app leaves it out (that person signs in with the badge).
    slow = "pbkdf2_sha256$999999999$00$" + "0" * 64
    body = {"window": {"id": "W-001", "name": "民政窗口"},
            "roster": [{"staff_id": "S-1", "name": "王芳", "staff_no": "0007", "badge": "10000007",
                        "pin_hash": slow}]}
    k = make_kiosk(store_cls=_store_holding(body))
    assert k.app.window_name == "民政窗口"
    assert [s["pin_hash"] for s in k.app.flow.roster] == [""]
    assert k.app.staff_pin_entered("0007", "1234") == ("wrong", 0.0)
    k.type_badge(BADGE_WANG)
    assert k.screen == "idle" and k.app.staff["name"] == "王芳"


def test_a_pulled_config_with_a_name_the_font_cannot_draw_is_logged_once(make_kiosk, caplog):
    # The kiosk showed "陈□" on its badge screen and nobody was told: a name with a character
    # outside the shipped font (an Extension B one) is applied, and said once in the log,
    # not at every sync.
    k = make_kiosk()
    body = {"window": {"id": "W-001", "name": "民政窗口"},
            "roster": [{"staff_id": "S-1", "name": "陈\U0002A6A5", "staff_no": "0007",
                        "badge": "10000007"}]}
    with caplog.at_level(logging.WARNING):
        for n in range(3):   # the same name in three pulls (new etags)
            k.store.apply_config(body, f"etag-font-{n}", 5 + n)
            assert k.app.apply_device_config() is True
    said = [r.getMessage() for r in caplog.records if "2A6A5" in r.getMessage()]
    assert len(said) == 1, caplog.text
    assert "陈\U0002A6A5" in said[0] and "etag-font-0" in said[0]
    assert k.app.window_name == "民政窗口"   # applied all the same
