"""What keeps the kiosk's resident memory flat and small on software GL (docs/reliability.md).

The memory itself is measured by the soak scenario and the benchmark, not here: these tests
pin the behaviours that keep it down.
"""

from __future__ import annotations


def _widgets(root):
    yield root
    for child in root.children:
        yield from _widgets(child)


def test_every_frame_is_finished_before_the_next_under_llvmpipe(kiosk, monkeypatch):
    # Why: offscreen nothing waits for llvmpipe's rasterizer threads, so it queued up to 64
    # frames and kept each one's bins (Mesa 22.3): RSS grew ~1-3 MB per rating towards 2 GB.
    from kivy.graphics import opengl
    from kivy.graphics.opengl import GL_RENDERER, glGetString

    finished = []
    monkeypatch.setattr(opengl, "glFinish", lambda: finished.append(1))
    kiosk.tap(kiosk.app.root.get_screen("idle").ids.rate_button)
    assert kiosk.screen == "rate"
    if b"llvmpipe" in glGetString(GL_RENDERER):
        assert finished, "no frame was waited for under llvmpipe"
    else:
        assert not finished, "frames waited for on a renderer that does not need it"
    kiosk.app.dispatch("on_stop")   # a later app in this window must not inherit the wait
    finished.clear()
    kiosk.app.root.current = "thanks"
    kiosk.frames(2)
    assert not finished


def test_font_sizes_are_whole_numbers_on_every_screen(kiosk):
    # Why: SDL_ttf opens a font at int(size) but Kivy keeps one open font per exact size, and
    # each open copy of the CJK font costs ~0.7 MB: 16, 16.0 and 16.8 were three copies.
    k = kiosk
    k.tap(k.app.root.get_screen("idle").ids.rate_button)
    k.tap(k.face("dissatisfied"))
    assert k.screen == "follow_up"
    k.app.open_technician()
    k.app.root.get_screen("retry")   # built on demand: check it too
    k.frames(2)
    panel = k.app.open_staff_panel()
    k.frames(2)
    sizes = {}
    for tree in (k.app.root, *[k.app.root.get_screen(n) for n in k.app.root.screen_names], panel):
        for w in _widgets(tree):
            for name in ("font_size", "key_font_size"):
                value = getattr(w, name, None)
                if isinstance(value, (int, float)):
                    sizes[f"{type(w).__name__}.{name}"] = value
                    assert float(value).is_integer(), f"{type(w).__name__}.{name} = {value}"
    assert len(sizes) > 5
    panel.dismiss(animation=False)


def test_every_font_size_is_on_the_type_scale(kiosk):
    # Why: each distinct size is one more open FreeType face of the CJK font (~0.3 MB, ~0.8 MB
    # before its subroutines were inlined); 18 sizes in the kv files kept 21 faces open at idle.
    import re

    from kiosk.screens.common import TYPE_SCALE

    k = kiosk
    k.tap(k.app.root.get_screen("idle").ids.rate_button)
    k.tap(k.face("dissatisfied"))
    k.app.open_technician()
    k.app.root.get_screen("retry")   # built on demand: check it too
    k.frames(2)
    panel = k.app.open_staff_panel()
    k.frames(2)
    allowed = {int(k.app.u * n) for n in TYPE_SCALE}
    seen = set()
    for tree in (k.app.root, *[k.app.root.get_screen(n) for n in k.app.root.screen_names], panel):
        for w in _widgets(tree):
            sizes = [getattr(w, "font_size", None)]
            if getattr(w, "markup", False):
                sizes += [int(s) for s in re.findall(r"\[size=(\d+)\]", w.text)]
            for size in sizes:
                if isinstance(size, (int, float)):
                    assert size in allowed or not getattr(w, "text", ""), \
                        f"{type(w).__name__} {getattr(w, 'text', '')[:20]!r}: font size {size} not on {sorted(allowed)}"
                    seen.add(size)
    assert len(seen) >= 5
    panel.dismiss(animation=False)


def test_the_technician_screen_is_built_only_when_a_technician_opens_it(kiosk):
    # Why: its text fields, keypad and fonts cost ~8 MB of resident memory that an ordinary
    # day of ratings never uses; the retry screen (a failed commit) is built on demand too.
    k = kiosk
    k.tap(k.app.root.get_screen("idle").ids.rate_button)
    k.tap(k.face("satisfied"))
    assert k.screen == "thanks"
    assert {"technician", "retry"}.isdisjoint(s.name for s in k.app.root.screens)
    assert k.app.root.has_screen("technician") and k.app.root.has_screen("retry")
    k.app.open_technician()
    k.frames(2)
    assert k.screen == "technician"
    assert k.current().stage == "pin"


_IDLE_CHILD = """
import json, sys, tempfile
from pathlib import Path
from kiosk.config import load_config
from kiosk.launch import configure_kivy
cfg = load_config(sys.argv[1])
cfg.display.voice, cfg.trigger.invite_port = False, 0
configure_kivy(cfg)
from kivy.core.window import Window
from kiosk.app import KioskApp
from kiosk.flow import FlowSettings, RatingFlow
from kiosk.store import RatingStore
store = RatingStore(Path(tempfile.mkdtemp()) / "kiosk.db")
flow = RatingFlow(store, FlowSettings.from_config(cfg), cfg.roster)
flow.sign_in_badge(cfg.roster[0]["badge"])
app = KioskApp(cfg, store, flow, invite_server=False)
root = app.build()
before = {"screens": root.screen_names, "current": root.current,
          "modules": sorted(m for m in sys.modules if m.startswith(("kiosk.screens", "kivy.uix.vkeyboard")))}
built = [root.get_screen(name).name for name in ("follow_up", "paused", "retry", "technician")]
print(json.dumps({**before, "built": built, "after": root.screen_names}))
"""


def test_an_idle_kiosk_imports_and_builds_only_the_rating_path(tmp_path):
    # Why: each screen's widgets, kv rules and modules are resident memory (the technician
    # screen brings Kivy's on-screen keyboard); with someone on duty the paused, retry and
    # technician screens are rarely or never shown, so they are imported and built on first use
    # (~1.7 MB less at idle), while idle, rate and thanks stay built for one-frame taps. The
    # follow-up screen (~1.7 MB more) waits for the day's first bad rating, which most windows
    # do not get; building it then takes 15-25 ms (2026-12-02).
    import json
    import os
    import subprocess
    import sys

    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    out = subprocess.run([sys.executable, "-c", _IDLE_CHILD, os.path.join(repo, "config.yaml")],
                         capture_output=True, text=True, timeout=120, cwd=repo,
                         env={**os.environ, "KIVY_NO_ARGS": "1", "SDL_VIDEODRIVER": "offscreen",
                              "KIVY_HOME": str(tmp_path / "kivy-home")})
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["current"] == "idle"
    assert sorted(result["screens"]) == ["idle", "rate", "thanks"]
    for lazy in ("kiosk.screens.follow_up", "kiosk.screens.paused", "kiosk.screens.retry",
                 "kiosk.screens.technician", "kiosk.screens.keyboard", "kivy.uix.vkeyboard"):
        assert lazy not in result["modules"]
    assert result["built"] == ["follow_up", "paused", "retry", "technician"]
    assert len(result["after"]) == 7


_IMAGES_CHILD = """
import json, sys
from kiosk.config import load_config
from kiosk.launch import configure_kivy
configure_kivy(load_config(sys.argv[1]))
from kivy.core.window import Window
from kivy.core.image import Image, ImageLoader
from kiosk.screens.common import AVATAR
sizes = [list(Image(path).texture.size) for path in (str(AVATAR), *sys.argv[2:])]
print(json.dumps({"sizes": sizes, "pil": "PIL" in sys.modules,
                  "loaders": [loader.__name__ for loader in ImageLoader.loaders]}))
"""


def test_staff_photos_load_without_pillow_as_kiosk_run_configures_kivy(tmp_path):
    # Why: Kivy's default image providers include Pillow's, whose import (Pillow, cffi) cost
    # ~2.4 MB of the kiosk's resident memory; kiosk.launch keeps SDL2_image only. Staff photos
    # are JPEG or PNG (what the server accepts), cached under their SHA-256 with no extension,
    # and must still show.
    import json
    import os
    import subprocess
    import sys

    from PIL import Image

    photos = []
    for fmt, size in (("JPEG", (120, 160)), ("PNG", (90, 100))):
        path = tmp_path / f"{fmt.lower()}-photo-without-extension"
        Image.new("RGB", size, (200, 30, 40)).save(path, fmt)
        photos.append(str(path))
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = {k: v for k, v in os.environ.items() if k != "KIVY_IMAGE"}
    out = subprocess.run([sys.executable, "-c", _IMAGES_CHILD, os.path.join(repo, "config.yaml"), *photos],
                         capture_output=True, text=True, timeout=120, cwd=repo,
                         env={**env, "KIVY_NO_ARGS": "1", "SDL_VIDEODRIVER": "offscreen",
                              "KIVY_HOME": str(tmp_path / "kivy-home")})
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["sizes"][1:] == [[120, 160], [90, 100]], result
    assert result["sizes"][0][0] > 0
    assert not result["pil"], f"Pillow was imported; image loaders {result['loaders']}"
