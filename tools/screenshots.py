"""Render every kiosk screen, in zh_CN and en, at several sizes, into docs/screenshots/.

    .venv/bin/python tools/screenshots.py [--sizes 1024x600,1920x1080,600x1024] [--out docs/screenshots]
    .venv/bin/python tools/screenshots.py --award     # kiosk-idle-award-<lang>-<W>x<H>.png

Runs offscreen (SDL_VIDEODRIVER=offscreen, a throw-away KIVY_HOME) with the demo config.yaml,
a temporary database and the real flow, driven into each state the way a citizen would.
Writes kiosk-<screen>-<lang>-<W>x<H>.png.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("KIVY_NO_ARGS", "1")
os.environ.setdefault("SDL_VIDEODRIVER", "offscreen")
os.environ.setdefault("KIVY_LOG_LEVEL", "warning")
os.environ.setdefault("KIVY_HOME", tempfile.mkdtemp(prefix="kivy-home-"))
sys.path.insert(0, str(ROOT))

SCREENS = ("paused", "idle", "idle_invited", "rate", "rate4", "follow_up", "thanks", "retry",
           "technician", "technician_pin", "staff_panel")


def award_config(cfg) -> dict:
    """A pulled server config as after the previous month was published: the roster's
    computed star levels and the rotating award of this window (docs/assessment.md)."""
    import dataclasses
    import datetime as dt

    first = dt.date.today().replace(day=1) - dt.timedelta(days=1)
    roster = [dataclasses.asdict(r) if dataclasses.is_dataclass(r) else dict(r)
              for r in cfg.roster]
    for member in roster:
        member["stars"] = 5
    w = cfg.window
    return {"window": {"id": w.id, "name": w.name, "unit_id": w.unit_id,
                       "unit_name": w.unit_name, "hotline": w.hotline, "stars": 5},
            "roster": roster, "award": {"kind": "red_flag", "period": first.strftime("%Y-%m")}}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="1024x600,1920x1080,600x1024")
    p.add_argument("--langs", default="zh_CN,en")
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    p.add_argument("--screens", default=",".join(SCREENS))
    p.add_argument("--award", action="store_true",
                   help="only the badge screen after a config pull that brings published star "
                        "levels and the rotating award (流动红旗)")
    args = p.parse_args(argv)
    if args.award:
        args.screens = "idle"

    sizes = args.sizes.split(",")
    if len(sizes) > 1:  # one process per size: the offscreen window cannot grow after it opened
        import subprocess

        code = 0
        for size in sizes:
            cmd = [sys.executable, __file__, "--sizes", size, "--langs", args.langs, "--out", str(args.out),
                   "--screens", args.screens] + (["--award"] if args.award else [])
            code = subprocess.call(cmd) or code
        return code
    w, h = (int(v) for v in sizes[0].lower().split("x"))
    from kiosk.launch import kivy_environment

    kivy_environment()   # before Kivy's import, as ``kiosk run``
    from kivy.config import Config

    Config.set("graphics", "width", str(w))
    Config.set("graphics", "height", str(h))
    Config.set("graphics", "resizable", "0")
    from kivy.base import EventLoop
    from kivy.core.window import Window

    from kiosk.app import KioskApp
    from kiosk.config import load_config
    from kiosk.flow import FlowSettings, RatingFlow
    from kiosk.store import RatingStore
    from kiosk.voice import VoicePrompt

    EventLoop.ensure_window()
    args.out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="kiosk-shots-"))

    def frames(n: int = 3) -> None:
        for _ in range(n):
            EventLoop.idle()

    def shoot(name: str) -> Path:
        frames(4)
        target = args.out / name
        made = Path(Window.screenshot(name=str(tmp / "shot.png")))
        made.replace(target)
        return target

    written = []
    for size in sizes:
        for lang in args.langs.split(","):
            for screen in args.screens.split(","):
                cfg = load_config(ROOT / "config.yaml")
                cfg.language = lang
                cfg.display.voice = False
                cfg.sync.qr_base_url = "https://pj.example.gov.cn"
                if screen == "idle_invited":
                    cfg.trigger.mode = "invited"
                if screen == "rate4":
                    cfg.scale.levels = 4
                db = tmp / f"{screen}-{lang}-{size}.db"
                store = RatingStore(db)
                if args.award:
                    store.apply_config(award_config(cfg), "award-demo", 1)
                now = [0.0]   # the flow's clock, moved on as a person takes a moment
                flow = RatingFlow(store, FlowSettings.from_config(cfg), cfg.roster,
                                  clock=lambda now=now: now[0])
                app = KioskApp(cfg, store, flow, voice=VoicePrompt(False), invite_server=False)
                root = app.build()
                app.root = root
                Window.add_widget(root)
                app.dispatch("on_start")
                frames(2)
                if screen != "paused":
                    app.badge_entered("10000007")
                if screen in ("rate", "rate4", "follow_up", "thanks"):
                    app.start_rating()
                    now[0] += 1   # a press sooner after the faces appear is ignored
                if screen == "follow_up":
                    app.rate("very_dissatisfied")
                    fu = root.get_screen("follow_up")
                    for code in ("attitude", "come_back_again"):
                        app.toggle_reason(code)
                        for c in fu.ids.chips.children:
                            c.state = "down" if c.code in flow.chosen else "normal"
                    for d in "13812341234":
                        fu.digit(d)
                    fu.ids.consent.state = "down"
                if screen == "thanks":
                    app.rate("satisfied")
                if screen == "retry":
                    flow._go("retry", 10)   # the state a failed commit leaves (tests make a real one)
                    app.show_state()
                if screen == "staff_panel":
                    app.open_staff_panel(verified=True)
                if screen in ("technician", "technician_pin"):
                    app.open_technician()
                    if screen == "technician":
                        tech = root.get_screen("technician")
                        for d in "000000":
                            tech.digit(d)
                        tech.submit_pin()
                        tech.say(app.tr("tech.done", what=app.tr("tech.sync_now")))
                    else:
                        tech = root.get_screen("technician")
                        for d in "1234":
                            tech.digit(d)
                        tech.submit_pin()
                        tech.digit("1")
                frames(3)
                name = "idle-award" if args.award else screen
                written.append(shoot(f"kiosk-{name}-{lang}-{w}x{h}.png"))
                app.dispatch("on_stop")
                if app._panel is not None:
                    app._panel.dismiss(animation=False)
                Window.remove_widget(root)
                frames(1)
                store.close()
    for path in written:
        print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)  # --out may be elsewhere
    return 0


if __name__ == "__main__":
    sys.exit(main())
