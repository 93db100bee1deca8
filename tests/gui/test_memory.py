"""What keeps the kiosk's resident memory flat and small on software GL (docs/reliability.md).

The memory itself is measured by the soak scenario and the benchmark, not here: these tests
pin the behaviours that keep it down.
"""

from __future__ import annotations


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
