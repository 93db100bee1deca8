"""Screens with the data real windows have: long time limits and names, a kiosk that cannot
sync, a server that sets the trigger settings, a full USB stick (a tester's review, 1024×600)."""

from __future__ import annotations

import errno
import os
import re
import subprocess

import pytest

from kiosk import constants as C
from tests.gui.test_rating_gui import BADGE_WANG, _enter_tech_pin, _long_press_corner

LONG_LIMIT = "20个工作日（不含公示、公告、鉴定时间）"     # 22 characters; the server allows 64
PHRASED_LIMIT = "法定20个工作日，承诺5个工作日"
LONG_NAME = "阿卜杜热合曼·买买提艾力·库尔班江·艾买提·司马义·吐尔逊·热合曼江"   # 34 characters
# What the sync client reports when the server cannot be reached (sync/client.py).
SYNC_ERROR = ("POST /api/v1/batches: connection failed (HTTPConnectionPool(host='127.0.0.1', "
              "port=9): Max retries exceeded with url: /api/v1/batches (Caused by "
              "NewConnectionError(\"HTTPConnection(host='127.0.0.1', port=9): Failed to establish "
              "a new connection: [Errno 111] Connection refused\"))")


def _backoff_status() -> dict:
    """SyncWorker.status() of an enrolled kiosk whose server is down."""
    return {"state": "backoff", "last_sync": None, "last_result": "error", "last_error": SYNC_ERROR,
            "pending": 3, "quarantined": 0, "clock_offset": 0.0, "last_skew": None,
            "authorised": None, "next_try_in": 12.0, "sent": 0, "acked": 0}


def _with_config(k, **body) -> None:
    """A config pulled from the server, as the sync worker stores it, shown by the app."""
    k.store.apply_config({"window": {"id": "W-001"}, **body}, f"etag-{len(body)}-{id(body)}", 1)
    k.app.apply_device_config()
    k.frames(4)


def _open_panel(k):
    _long_press_corner(k)
    _enter_tech_pin(k, "000000")
    k.frames(4)
    screen = k.current()
    assert screen.stage == "panel"
    return screen


def _labels(widget):
    return [w for w in widget.walk() if hasattr(w, "texture_size") and isinstance(getattr(w, "text", None), str)]


def _shown_whole(label) -> bool:
    """The label draws all its text: not cut to "…" (shorten) nor wider than itself."""
    if label.shorten and label.text:
        full = label._label.get_extents(label.text)[0]
        if full > label.width - label.padding[0] - label.padding[2] + 1:
            return False
    return label.texture_size[0] <= label.width + 1


# ------------------------------------------------------------------ the idle screen (#1, #5)
def test_a_long_time_limit_wraps_beside_a_readable_item_name(make_kiosk):
    # A 22-character 办结时限 took its whole width: the item's name was 11 px wide, one
    # character per line, its row 388 px high, and the pledge went up under the header.
    k = make_kiosk()
    items = [{"code": "SI-0101", "name": "城乡居民养老保险参保登记", "time_limit": LONG_LIMIT},
             {"code": "SI-0102", "name": "社会保障卡申领", "time_limit": "5个工作日"},
             {"code": "SI-0103", "name": "失业保险金申领", "time_limit": PHRASED_LIMIT}]
    _with_config(k, service_items=items)
    k.type_badge(BADGE_WANG)
    k.frames(6)
    idle = k.app.root.get_screen("idle")
    column = idle.ids.item_list.parent
    for child in column.children:   # everything inside its card, nothing under the header
        assert child.top <= column.top + 1 and child.y >= column.y - 1, child
    rows = list(reversed(idle.ids.item_list.children))
    assert [r.name for r in rows] == [i["name"] for i in items]
    for row in rows:
        name, limit = row.ids.name_label, row.ids.limit_label
        assert name.width >= row.width * .5, (row.name, name.width, row.width)   # readable
        assert limit.width <= row.width * .45, (row.time_limit, limit.width)
        assert _shown_whole(name) and _shown_whole(limit)
        assert row.height <= k.app.u * 100, (row.name, row.height)   # three lines at most
    # a time limit of two phrases breaks between them, not inside "工作日"
    phrased = rows[2].ids.limit_label
    assert phrased.text.split("\n") == ["法定20个工作日，", "承诺5个工作日"]
    assert rows[1].ids.limit_label.text == "5个工作日"   # a short one stays on one line


def test_the_more_items_line_follows_a_language_switch(make_kiosk):
    # "另有 7 项，请咨询窗口工作人员" stayed in Chinese on the English screen until the items
    # changed or the kiosk restarted: the fitted list was kept as it was.
    k = make_kiosk()
    items = [{"code": f"SI-{i:02d}", "name": f"社会保障卡申领{i}", "time_limit": "即办"} for i in range(12)]
    _with_config(k, service_items=items)
    k.type_badge(BADGE_WANG)
    k.frames(6)
    box = k.app.root.get_screen("idle").ids.item_list
    shown = len(box.children) - 1
    assert box.children[0].name == k.app.tr("idle.more_items", n=12 - shown)
    screen = _open_panel(k)
    k.tap(screen.panel_pane.ids.language)
    assert k.app.lang == "en"
    screen.leave()
    k.frames(6)
    assert k.screen == "idle"
    more = box.children[0].name
    assert more == k.app.tr("idle.more_items", n=12 - (len(box.children) - 1))
    assert not re.search(r"[\u4e00-\u9fff]", more), more


# ------------------------------------------------------------------- the staff panel (#4)
def test_a_long_staff_name_stays_inside_the_staff_panel(make_kiosk):
    # "当前：<34 characters>（0007）" was 660 px wide in the 460 px panel, over the dim overlay.
    k = make_kiosk()
    roster = [dict(r) for r in k.app.cfg.roster]
    roster[0]["name"] = LONG_NAME
    _with_config(k, roster=roster)
    k.type_badge(BADGE_WANG)
    k.app.open_staff_panel()
    k.frames(4)
    panel = k.app._panel
    label = next(w for w in _labels(panel) if "0007" in w.text and w.text != "0007")
    left, _ = label.to_window(label.x, label.y)
    assert label.texture_size[0] <= label.width + 1
    assert panel.x <= left and left + label.texture_size[0] <= panel.right
    assert label.text.endswith("（0007）")   # the staff number is never the part cut off
    assert label.text.startswith(k.app.tr("staff.signed_in_as", name="", staff_no="")[:3])
    # a name of the 100 characters the server allows: shortened, the number still whole
    text = panel.on_duty_text({"name": "买" * 100, "staff_no": "0007"}, k.app.tr, label.width,
                              label.font_size)
    assert "…" in text and text.endswith("（0007）")
    label.text = text
    k.frames(2)
    assert label.texture_size[1] <= label.font_size * 4 and label.texture_size[0] <= label.width + 1


# --------------------------------------------------------------- the technician panel (#2, #6)
def test_an_enrolled_kiosk_that_cannot_sync_shows_its_whole_status(make_kiosk):
    # Three more rows pushed "运行状态" under the top bar; the last error was cut to
    # "POST /api/v1/batches: c…"; the sync state read "backoff" and the last sync "—  error".
    from kivy.core.window import Window

    k = make_kiosk(app_kwargs={"sync_status": _backoff_status})
    k.type_badge(BADGE_WANG)
    screen = _open_panel(k)
    pane = screen.panel_pane
    title = next(w for w in _labels(pane) if w.text == k.app.tr("tech.diagnostics"))
    top_bar = k.app.u * 56
    assert title.to_window(title.x, title.top)[1] <= Window.height - top_bar + 1
    rows = dict(k.app.diagnostics_rows())
    assert rows[k.app.tr("tech.last_error")] == SYNC_ERROR
    assert rows[k.app.tr("tech.sync_state")] == k.app.tr("tech.sync_backoff")
    assert rows[k.app.tr("tech.last_sync")] == k.app.tr("tech.never")
    for name in ("tech.sync_state", "tech.last_sync"):   # no English on the Chinese panel
        assert not re.search(r"[A-Za-z]", rows[k.app.tr(name)]), rows[k.app.tr(name)]
    # every value drawn whole, the error too (wrapped), each name beside it
    values = {v: next(w for w in _labels(pane) if w.text == v) for v in rows.values()}
    for value, label in values.items():
        assert _shown_whole(label), value
    for name in rows:
        assert _shown_whole(next(w for w in _labels(pane) if w.text == name)), name
    # the settings below the status are there, by scrolling the card
    scroll = pane.ids.status_scroll
    scroll.scroll_y = 0
    k.frames(3)
    lockout = pane.ids.lockout
    low, high = scroll.to_window(scroll.x, scroll.y)[1], scroll.to_window(scroll.x, scroll.top)[1]
    row_low, row_high = lockout.to_window(lockout.x, lockout.y)[1], lockout.to_window(lockout.x, lockout.top)[1]
    assert low - 1 <= row_low and row_high <= high + 1


def test_the_technician_panel_fits_its_english_labels(make_kiosk):
    # At 1024×600 the device id was "56a43579-6477-492c-b6…" and the English names read
    # "Events o…is kiosk" and "Last ack…ledged".
    k = make_kiosk(app_kwargs={"sync_status": _backoff_status})
    k.type_badge(BADGE_WANG)
    screen = _open_panel(k)
    k.tap(screen.panel_pane.ids.language)
    screen.update_diagnostics()
    k.frames(4)
    assert k.app.lang == "en"
    pane = screen.panel_pane
    for name, value in k.app.diagnostics_rows():
        for text in (name, value):
            label = next(w for w in _labels(pane) if w.text == text)
            assert _shown_whole(label), text
    assert k.store.device_id in dict(k.app.diagnostics_rows()).values()


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
def test_every_state_the_sync_worker_reports_is_said_in_the_panels_language(lang):
    from kiosk.i18n import Translator
    from kiosk.screens.text import SYNC_STATES, sync_state_text
    from sync import worker

    states = {v for k, v in vars(worker).items() if k.startswith("ST_")}
    assert states == set(SYNC_STATES)
    tr = Translator(lang)
    for state in states:
        text = sync_state_text(state, tr)
        assert text != state and not text.startswith("tech.")
        if lang == "zh_CN":
            assert not re.search(r"[A-Za-z]", text), text


# ------------------------------------------------------------ settings the server sets (#3)
def test_the_panel_shows_the_settings_in_effect_and_those_the_server_sets(make_kiosk):
    # The server said invited / 30 s / 60 s, config.yaml open / 10 / 20: the panel showed
    # 开放评价, 10, 20 while the flow ran invited/30/60, and its mode button "saved"
    # "open → invited", a change the next config pull or restart undid.
    k = make_kiosk()
    _with_config(k, trigger={"mode": "invited", "lockout_seconds": 30, "invite_timeout_seconds": 60})
    k.type_badge(BADGE_WANG)
    assert (k.flow.settings.mode, k.flow.settings.lockout_seconds) == (C.MODE_INVITED, 30)
    screen = _open_panel(k)
    pane = screen.panel_pane
    texts = [w.text for w in _labels(pane)]
    assert k.app.tr("mode.invited") in texts and k.app.tr("mode.open") not in texts
    assert pane.ids.lockout.value == "30" and pane.ids.invite_timeout.value == "60"
    assert texts.count(k.app.tr("tech.set_by_server")) == 3
    # nothing there to change them: the buttons are gone, a press where they were does nothing
    plus = next(w for w in pane.ids.lockout.children if getattr(w, "text", None) == "＋")
    assert plus.disabled and plus.width == 0
    k.tap(pane.ids.mode_toggle)
    k.tap(plus)
    assert (k.flow.settings.mode, k.flow.settings.lockout_seconds) == (C.MODE_INVITED, 30)
    assert k.events(C.EV_SETTINGS_CHANGED) == []
    # and asked all the same (an older panel, a script), it is refused in words
    assert not k.app.change_setting("trigger.lockout_seconds", 35)
    assert k.app.tr("setting.trigger.lockout_seconds") in screen.message
    assert "服务器" in screen.message
    # what the server does not set stays the technician's
    back = pane.ids.return_seconds
    # below the status rows (the factory PIN's too): scrolled to, as the technician does
    pane.ids.status_scroll.scroll_to(back, padding=0, animate=False)
    k.frames(2)
    k.tap(next(w for w in back.children if getattr(w, "text", None) == "＋"))
    assert k.flow.settings.return_seconds == 35 and back.value == "35"


def test_a_step_starts_from_the_value_shown(make_kiosk):
    # An earlier server config set the lockout to 30 s, the current one no longer sets it:
    # the flow keeps 30 and the panel shows 30, but "+" stepped from config.yaml's 10 and
    # saved 15 ("30 → 15").
    k = make_kiosk()
    _with_config(k, trigger={"mode": "open", "lockout_seconds": 30, "invite_timeout_seconds": 60})
    _with_config(k, trigger={"mode": "open", "invite_timeout_seconds": 60})
    assert k.flow.settings.lockout_seconds == 30
    k.type_badge(BADGE_WANG)
    pane = _open_panel(k).panel_pane
    assert pane.ids.lockout.value == "30"
    k.tap(next(w for w in pane.ids.lockout.children if getattr(w, "text", None) == "＋"))
    assert k.flow.settings.lockout_seconds == 35 and pane.ids.lockout.value == "35"


def test_a_local_mode_change_is_said_in_words(make_kiosk):
    # "已保存：评价模式 open → invited": the raw keys on the Chinese panel.
    k = make_kiosk()
    k.type_badge(BADGE_WANG)
    screen = _open_panel(k)
    k.tap(screen.panel_pane.ids.mode_toggle)
    assert k.flow.settings.mode == C.MODE_INVITED
    assert screen.message == k.app.tr("tech.setting_saved", name=k.app.tr("setting.trigger.mode"),
                                      old="开放评价", new="邀请评价")
    assert screen.panel_pane.ids.mode_toggle.text == "邀请评价"


# ---------------------------------------------------------------------- USB export (#6)
@pytest.mark.parametrize("code, words", [(errno.ENOSPC, "空间不足"), (errno.EROFS, "只读"),
                                         (errno.EACCES, "权限"), (errno.EIO, "读写U盘出错"),
                                         (errno.EXDEV, "EXDEV")])
def test_a_failed_usb_export_is_said_in_the_panels_language(kiosk, monkeypatch, caplog, code, words):
    # "失败：导出到U盘 [Errno 28] No space left on device" on the Chinese panel.
    import kiosk.export as export

    def fail(*_args, **_kwargs):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(export, "usb_folder_problem", lambda *a: None)   # a stick is mounted
    monkeypatch.setattr(export, "export_events", fail)
    ok, message = kiosk.app._export_default("/media/usb")
    assert not ok and words in message, message
    assert not re.search(r"[A-Za-z]{3,}", message.replace("EXDEV", "").replace("/media/usb", "")), message
    assert os.strerror(code) in caplog.text   # the English detail is in the log


def test_an_export_to_a_full_stick_says_so(kiosk, tmp_path):
    # A real small filesystem that fills up (a tmpfs standing in for the stick; needs root).
    stick = tmp_path / "usb"
    stick.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8k", "tmpfs", str(stick)],
                                           capture_output=True).returncode:
        pytest.skip("mounting a tmpfs needs root")
    try:
        for _ in range(40):   # enough events to fill 8 KB
            kiosk.flow.note(C.EV_SETTINGS_CHANGED, {"name": "x", "old": "y" * 200, "new": "z"})
        ok, message = kiosk.app._export_default(str(stick))
        assert not ok and message == kiosk.app.tr("tech.export_full", path=str(stick))
        assert list(stick.iterdir()) == []   # nothing half-written left behind
    finally:
        subprocess.run(["umount", str(stick)], check=False)
