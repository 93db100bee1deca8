"""An upright screen (600×1024, 1080×1920): the screens stack their parts instead of squeezing
three columns, and type keeps its size. Each size runs in a child process, because an
offscreen window cannot change size once it is open."""

from __future__ import annotations

import pytest

from tests.gui.child import APP, run_child

_CHILD = APP + """
from kivy.uix.label import Label
def box(w):
    x, y = w.to_window(w.x, w.y)
    return [round(x), round(y), round(w.width), round(w.height)]
def overflowing(screen):
    # a label whose text is wider than the label (cut off on screen)
    return [w.text[:20] for w in screen.walk() if isinstance(w, Label) and w.text and
            w.text_size[0] and w.texture_size[0] > w.width + 2 and w.opacity > 0]
app.badge_entered(cfg.roster[0]["badge"])
frames()
out = {"portrait": app.portrait, "u": app.u, "window": [Window.width, Window.height]}
idle = root.get_screen("idle")
out["idle_button"] = box(idle.ids.rate_button)
out["idle_items"] = box(idle.ids.item_list)
out["idle_overflow"] = overflowing(idle)
app.start_rating(); now[0] += 1; frames()
faces = root.get_screen("rate").ids.faces.children
out["faces"] = [box(f) for f in reversed(faces)]
out["rate_overflow"] = overflowing(root.get_screen("rate"))
app.rate("very_dissatisfied"); frames()
fu = root.get_screen("follow_up")
out["chips"] = box(fu.ids.chips)
out["keypad"] = box(fu.ids.keypad)
out["follow_up_overflow"] = overflowing(fu)
print(json.dumps(out))
"""


def _run(tmp_path, width: int, height: int) -> dict:
    return run_child(_CHILD, tmp_path, width, height)


@pytest.mark.parametrize("size", [(600, 1024), (1080, 1920)])
def test_an_upright_screen_stacks_the_cards_and_keeps_the_type_size(tmp_path, size):
    # Upright it had three thin columns and type at 0.59× (scaled as if 1024×600 were squeezed).
    r = _run(tmp_path, *size)
    width = r["window"][0]
    assert r["portrait"] and r["u"] == pytest.approx(width / 600, rel=0.01)
    # idle: the rate button below the service items, full-width rows
    button, items = r["idle_button"], r["idle_items"]
    assert button[1] + button[3] <= items[1] and items[2] > width * 0.8
    # rate: five faces one above the other, each nearly the screen's width
    faces = r["faces"]
    assert len(faces) == 5 and len({f[0] for f in faces}) == 1
    assert all(upper[1] > lower[1] + lower[3] - 1 for upper, lower in zip(faces, faces[1:]))
    assert all(f[2] > width * 0.8 for f in faces)
    # follow-up: the reasons above the number pad
    assert r["chips"][1] > r["keypad"][1] + r["keypad"][3]
    assert r["idle_overflow"] == r["rate_overflow"] == r["follow_up_overflow"] == []


def test_a_landscape_screen_keeps_its_columns(tmp_path):
    r = _run(tmp_path, 1024, 600)
    assert not r["portrait"] and r["u"] == 1.0
    faces = r["faces"]
    assert len({f[1] for f in faces}) == 1 and faces[0][0] < faces[1][0]   # side by side
    assert r["chips"][0] + r["chips"][2] <= r["keypad"][0]                   # reasons left of the pad
    assert r["idle_overflow"] == r["rate_overflow"] == r["follow_up_overflow"] == []


_HEADER = APP + """
from kivy.core.text import Label as CoreLabel
from kivy.uix.label import Label
app.unit_name = "新疆维吾尔自治区乌鲁木齐市沙依巴克区人民政府政务服务中心第二分中心"
app.window_name = "社会保障、医疗保险、就业创业综合受理窗口 12号"
app.hotline = "0991-12345678 / 12345"
app.badge_entered(cfg.roster[0]["badge"])
frames(6)
idle = root.get_screen("idle")
def seen(text):
    w = next(w for w in idle.walk() if isinstance(w, Label) and w.text and w.opacity > 0 and text in w.text)
    x, y = w.to_window(w.x, w.y)
    full = CoreLabel(font_size=w.font_size, bold=w.bold).get_extents(w.text.replace("\\n", ""))[0]
    lines = max(1, len(w._label._cached_lines))
    return {"whole": full <= (w.width - w.padding[0] - w.padding[2]) * lines + 1,
            "inside": x >= -1 and x + w.width <= Window.width + 1 and y >= -1 and y + w.height <= Window.height + 1}
print(json.dumps({"window": seen(app.window_name), "hotline": seen(app.hotline)}))
"""


@pytest.mark.parametrize("size", [(600, 1024), (800, 1280)])
def test_an_upright_header_shows_the_window_name_whole_and_the_hotline(tmp_path, size):
    # 600×1024: "社会保障、医疗…受理窗口 12号" — the hotline beside it took its full width; the
    # window's name is how a citizen knows where they are.
    r = run_child(_HEADER, tmp_path, *size)
    assert r["window"] == {"whole": True, "inside": True}
    assert r["hotline"] == {"whole": True, "inside": True}
