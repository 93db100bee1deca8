"""Benchmark of the kiosk app through its real widgets (offscreen window); not a test.

    .venv/bin/python bench/bench_kiosk_gui.py [--taps 5000] [--samples 200]

The window is configured as ``kiosk run`` configures it (``kiosk.launch.configure_kivy``:
1024x600 from config.yaml, not fullscreen). Prints:
  * frames from the finger touching a face to the thank-you screen being current (and the
    rating committed), and the tap→thanks time as a ratio of a raw ``store.record`` on the
    same machine in the same run;
  * cold start: seconds from launching a fresh process that runs ``KioskApp.run()`` until the
    idle screen has been drawn (the first frame flipped with the idle screen current);
  * resident memory of that fresh process at that moment (target < 150 MB), on a new database
    (a kiosk's first start, which runs the store's migrations), and, reported, on the database
    an earlier start made (every later start);
  * the same for an enrolled kiosk (``--child enrolled``: a device credential, the sync worker
    that ``kiosk run`` starts, the QR code on the idle screen, the invitation endpoint), measured
    once its first sync cycle ended; the server is down, so that cycle fails and backs off;
  * resident memory growth over N taps through the real widgets after a 200-tap warm-up, in a
    fresh process of its own (target < 10 MB); it stops early, and says so, once growth
    passes 500 MB.
Fresh-process figures are the median of ``--starts`` processes (default 3), with their range:
the same start's resident memory varies by a few MB between processes on one machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
os.environ["KIVY_NO_ARGS"] = "1"
os.environ.setdefault("SDL_VIDEODRIVER", "offscreen")
os.environ.setdefault("KIVY_LOG_LEVEL", "warning")
os.environ.setdefault("KIVY_HOME", tempfile.mkdtemp(prefix="kivy-home-"))
sys.path.insert(0, str(ROOT))

FRAMES_TARGET = 2          # the thank-you screen is current by the frame after the finger lifts
COLD_START_TARGET = 3.0    # seconds (the target, software GL)
IDLE_RSS_TARGET_MB = 150.0  # resident memory once the idle screen has been drawn
RSS_TARGET_MB = 10.0
WARM_UP_TAPS = 200
STOP_GROWTH_MB = 50 * RSS_TARGET_MB   # clearly leaking: stop before the machine swaps


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e6


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def kiosk_config():
    """config.yaml as ``kiosk run --windowed`` uses it, with the Kivy window configured."""
    from kiosk.config import load_config
    from kiosk.launch import configure_kivy

    cfg = load_config(ROOT / "config.yaml")
    cfg.display.voice = False
    cfg.display.fullscreen = False
    cfg.trigger.invite_port = 0
    configure_kivy(cfg)
    return cfg


def start_app(tmp: Path):
    cfg = kiosk_config()   # before anything creates the window
    from kivy.base import EventLoop
    from kivy.core.window import Window

    from kiosk.app import KioskApp
    from kiosk.flow import FlowSettings, RatingFlow
    from kiosk.store import RatingStore
    from kiosk.voice import VoicePrompt

    EventLoop.ensure_window()
    clock = Clock()
    store = RatingStore(tmp / "bench.db")
    flow = RatingFlow(store, FlowSettings.from_config(cfg), cfg.roster, clock=clock)
    app = KioskApp(cfg, store, flow, voice=VoicePrompt(False), tick_seconds=0)
    root = app.build()
    app.root = root
    Window.add_widget(root)
    app.dispatch("on_start")
    flow.sign_in_badge(cfg.roster[0]["badge"])
    app.show_state()
    for _ in range(3):
        frame()
    return app, store, flow, clock


def frame() -> None:
    from kivy.base import EventLoop

    EventLoop.idle()


_FINGER: list = []


def touch(widget):
    """A finger on the centre of ``widget``: ``.touch_down()``, then ``.touch_up()``.

    Like ``kivy.tests.common.UnitTestTouch``, without importing kivy.tests, which pulls pytest
    and pygments (~3 MB) into the process whose memory is measured.
    """
    from kivy.base import EventLoop

    if not _FINGER:
        from kivy.input.motionevent import MotionEvent

        class Finger(MotionEvent):
            def depack(self, args):
                self.sx, self.sy = args["x"], args["y"]
                self.profile = ["pos"]
                super().depack(args)

            def touch_down(self) -> None:
                EventLoop.post_dispatch_input("begin", self)

            def touch_up(self) -> None:
                EventLoop.post_dispatch_input("end", self)

        _FINGER.append(Finger)
    x, y = widget.to_window(*widget.center)
    win = EventLoop.window
    return _FINGER[0]("bench", 99, {"x": x / (win.width - 1.0), "y": y / (win.height - 1.0)},
                      is_touch=True, type_id="touch")


def one_rating(app, flow, clock, level: str) -> tuple[int, float, int]:
    """Tap 'rate', then the face (then 'skip' after a bad rating).

    Returns (frames from the face touch to thanks, seconds tap→thanks, taps made).
    """
    rate_button = app.root.get_screen("idle").ids.rate_button
    t = touch(rate_button)
    t.touch_down()
    t.touch_up()
    frame()
    if app.root.current != "rate":
        raise RuntimeError(f"the rate button did not open the faces (on {app.root.current})")
    face = next(f for f in app.root.get_screen("rate").ids.faces.children if f.level == level)
    clock.now += 1   # a person's moment to choose (a press sooner is ignored: SETTLE_SECONDS)
    t = touch(face)
    before = app.store.chain_head()[0]
    start = time.perf_counter()
    t.touch_down()
    frames = 0
    t.touch_up()
    while not (app.root.current in ("thanks", "follow_up") and app.store.chain_head()[0] > before):
        frame()
        frames += 1
        if frames > 100:
            raise RuntimeError(f"no thanks screen after 100 frames (on {app.root.current})")
    frame()   # the frame that draws it
    frames += 1
    elapsed = time.perf_counter() - start
    taps = 2
    if app.root.current == "follow_up":
        skip = app.root.get_screen("follow_up").ids.skip
        t = touch(skip)
        t.touch_down()
        t.touch_up()
        taps += 1
    clock.now += 60   # past thanks and lockout
    frame()
    frame()
    return frames, elapsed, taps


def bench_frames(samples: int) -> tuple[list[int], list[float], float]:
    tmp = Path(tempfile.mkdtemp(prefix="bench-gui-"))
    app, store, flow, clock = start_app(tmp)
    levels = ("very_satisfied", "satisfied", "basic_satisfied")
    frames, times = [], []
    for i in range(samples):
        f, s, _ = one_rating(app, flow, clock, levels[i % len(levels)])
        frames.append(f)
        times.append(s)
    from kiosk.store import RatingStore

    raw = RatingStore(tmp / "raw.db")
    t0 = time.perf_counter()
    for i in range(samples):
        raw.record("rating", {"level": "satisfied", "stars": 4, "i": i})
    raw_each = (time.perf_counter() - t0) / samples
    raw.close()
    app.dispatch("on_stop")
    return frames, times, raw_each


# ------------------------------------------------------------------ child processes
def child_soak(taps: int) -> None:
    """In a fresh process: the app rated through its widgets; prints one JSON line."""
    tmp = Path(tempfile.mkdtemp(prefix="bench-rss-"))
    app, store, flow, clock = start_app(tmp)
    levels = ("very_satisfied", "satisfied", "basic_satisfied", "dissatisfied")
    done = i = 0
    while done < WARM_UP_TAPS:   # caches, textures, shader variants, the first screens drawn
        done += one_rating(app, flow, clock, levels[i % 4])[2]
        i += 1
    start, done, ratings, stopped = rss_mb(), 0, 0, False
    peak = start
    while done < taps:
        done += one_rating(app, flow, clock, levels[i % 4])[2]
        i += 1
        ratings += 1
        peak = max(peak, rss_mb())
        if peak - start > STOP_GROWTH_MB:
            stopped = True
            break
    end = rss_mb()
    app.dispatch("on_stop")
    print(json.dumps({"start": start, "end": end, "peak": peak, "taps": done, "stopped": stopped,
                      "ratings": ratings}), flush=True)


def child_cold(db: str | None = None) -> None:
    """In a fresh process: ``KioskApp.run()`` until the idle screen has been drawn, on the
    database ``db`` (a new one in a temporary folder when None)."""
    cfg = kiosk_config()   # before anything creates the window
    from kivy.core.window import Window

    from kiosk.app import KioskApp
    from kiosk.flow import FlowSettings, RatingFlow
    from kiosk.migrate import open_store
    from kiosk.voice import VoicePrompt

    # as kiosk run opens it: pending migrations in a child process
    store = open_store(Path(db) if db else Path(tempfile.mkdtemp()) / "kiosk.db")
    flow = RatingFlow(store, FlowSettings.from_config(cfg), cfg.roster)
    flow.sign_in_badge(cfg.roster[0]["badge"])
    app = KioskApp(cfg, store, flow, voice=VoicePrompt(False), invite_server=False)

    def drawn(*_args) -> None:
        if app.root is not None and app.root.current == "idle":
            Window.unbind(on_flip=drawn)
            print(json.dumps({"idle_at": time.time(), "rss": rss_mb()}), flush=True)
            app.stop()

    Window.bind(on_flip=drawn)
    app.run()


def child_enrolled() -> None:
    """In a fresh process: as ``kiosk run`` starts an enrolled kiosk whose server is down.

    A device credential in the data folder, ``sync.server`` set (so the idle screen shows the
    QR code of the mobile rating page), the sync worker started by ``kiosk.launch`` (client,
    requests, signing key) and the local invitation endpoint open; RSS once the idle screen has
    been drawn and the worker has finished its first cycle (connection refused, backing off).
    """
    import socket

    with socket.socket() as s:   # two free loopback ports: a server that is down, the endpoint
        s.bind(("127.0.0.1", 0))
        down = s.getsockname()[1]
        with socket.socket() as t:
            t.bind(("127.0.0.1", 0))
            invite_port = t.getsockname()[1]
    cfg = kiosk_config()   # before anything creates the window
    cfg.sync.server = f"http://127.0.0.1:{down}"
    cfg.trigger.invite_port = invite_port
    from kivy.clock import Clock as KivyClock
    from kivy.core.window import Window

    from kiosk.app import KioskApp
    from kiosk.flow import FlowSettings, RatingFlow
    from kiosk.launch import _make_worker
    from kiosk.migrate import open_store
    from kiosk.voice import VoicePrompt
    from sync.credentials import Credentials

    data = Path(tempfile.mkdtemp())
    store = open_store(data / "kiosk.db")
    creds = Credentials.generate(store.device_id)
    creds.server_url, creds.window_id = cfg.sync.server, cfg.window.id
    creds.save(data)
    flow = RatingFlow(store, FlowSettings.from_config(cfg), cfg.roster)
    flow.sign_in_badge(cfg.roster[0]["badge"])
    worker = _make_worker(cfg, store)
    app = KioskApp(cfg, store, flow, sync_worker=worker, voice=VoicePrompt(False))
    drawn = []

    def flipped(*_args) -> None:
        if app.root is not None and app.root.current == "idle":
            drawn.append(time.time())

    def check(_dt) -> None:
        if drawn and worker.status()["state"] not in ("starting", "syncing"):
            event.cancel()
            Window.unbind(on_flip=flipped)
            print(json.dumps({"idle_at": drawn[0], "rss": rss_mb(), "qr": bool(app.qr_url),
                              "sync": worker.status()["state"]}), flush=True)
            app.stop()

    Window.bind(on_flip=flipped)
    event = KivyClock.schedule_interval(check, 0.1)
    app.run()


def run_child(args: list[str], timeout: float) -> dict:
    env = dict(os.environ, KIVY_HOME=tempfile.mkdtemp(prefix="kivy-home-"))
    out = subprocess.run([sys.executable, __file__, *args], env=env, capture_output=True,
                         text=True, timeout=timeout)
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if out.returncode != 0 or not lines:
        raise RuntimeError(f"{' '.join(args)} failed ({out.returncode}):\n{out.stdout[-2000:]}\n"
                           f"{out.stderr[-3000:]}")
    return json.loads(lines[-1])


def bench_cold_start(db: str | None = None) -> tuple[float, float]:
    t0 = time.time()
    result = run_child(["--child", "cold"] + (["--db", db] if db else []), timeout=120)
    return result["idle_at"] - t0, result["rss"]


def median_range(values: list[float], unit: str = "MB", fmt: str = ".1f") -> tuple[float, str]:
    """(the median of ``values``, the median with their range as text)."""
    import statistics
    median = statistics.median(values)
    return median, (f"{median:{fmt}} {unit} (range {min(values):{fmt}}–{max(values):{fmt}}, "
                    f"{len(values)} processes)")


def bench_rss(taps: int) -> dict:
    return run_child(["--child", "soak", "--taps", str(taps)], timeout=max(600, taps * 0.5))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--taps", type=int, default=5000)
    p.add_argument("--samples", type=int, default=200)
    p.add_argument("--json", default=None, help="also write the figures as JSON rows here")
    p.add_argument("--starts", type=int, default=3,
                   help="fresh processes per start-up figure (the median is reported)")
    p.add_argument("--child", choices=("cold", "enrolled", "soak"), help=argparse.SUPPRESS)
    p.add_argument("--db", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.starts < 1:
        p.error(f"--starts must be at least 1, got {args.starts}")
    if args.child == "cold":
        child_cold(args.db)
        return 0
    if args.child == "enrolled":
        child_enrolled()
        return 0
    if args.child == "soak":
        child_soak(args.taps)
        return 0

    import statistics  # here, not at the top: the measured children would carry it

    starts = [bench_cold_start() for _ in range(args.starts)]
    db = str(Path(tempfile.mkdtemp(prefix="bench-kiosk-db-")) / "kiosk.db")
    bench_cold_start(db)  # the first start on it makes it; the measured ones reopen it
    again = [bench_cold_start(db)[1] for _ in range(args.starts)]
    enrolled = [run_child(["--child", "enrolled"], timeout=120) for _ in range(args.starts)]
    cold, cold_text = median_range([s[0] for s in starts], "s", ".2f")
    idle_rss, idle_text = median_range([s[1] for s in starts])
    again_rss, again_text = median_range(again)
    enrolled_rss, enrolled_text = median_range([e["rss"] for e in enrolled])
    sync_states = "/".join(sorted({e["sync"] for e in enrolled}))
    soak = bench_rss(args.taps)
    frames, times, raw_each = bench_frames(args.samples)

    med_ms = statistics.median(times) * 1000
    ok_frames = max(frames) <= FRAMES_TARGET
    print(f"tap → thanks: median {statistics.median(frames):.0f} frames, max {max(frames)} "
          f"(target ≤ {FRAMES_TARGET}) {'OK' if ok_frames else 'MISSED'}")
    print(f"tap → thanks: median {med_ms:.2f} ms; raw store.record {raw_each * 1000:.2f} ms; "
          f"ratio {med_ms / (raw_each * 1000):.2f}x the raw durable commit")
    print(f"cold start → idle screen drawn: {cold_text} "
          f"(target < {COLD_START_TARGET:.0f} s) {'OK' if cold < COLD_START_TARGET else 'MISSED'}")
    print(f"RSS at idle (fresh process, new database, idle screen drawn): {idle_text} "
          f"(target < {IDLE_RSS_TARGET_MB:.0f} MB) {'OK' if idle_rss < IDLE_RSS_TARGET_MB else 'MISSED'}")
    print(f"RSS at idle on the database an earlier start made (every start but the first): "
          f"{again_text}")
    print(f"RSS at idle, enrolled kiosk (sync worker and signing key, QR code, invitation endpoint; "
          f"server down): {enrolled_text} (sync {sync_states})")
    growth, taps = soak["end"] - soak["start"], soak["taps"]
    if soak["stopped"]:
        print(f"(soak stopped early after {taps} taps: RSS grew past {STOP_GROWTH_MB:.0f} MB)")
    print(f"RSS over {taps} taps ({soak['ratings']} ratings, fresh process, after a {WARM_UP_TAPS}-tap "
          f"warm-up): {soak['start']:.1f} MB → {soak['end']:.1f} MB (peak {soak['peak']:.1f}), "
          f"growth {growth:+.1f} MB (target < {RSS_TARGET_MB:.0f} MB) "
          f"{'OK' if growth < RSS_TARGET_MB else 'MISSED'}")
    from benchjson import Figures

    fig = Figures()
    fig.add("tap to thanks, frames (max)", max(frames), "frames",
            target=f"<= {FRAMES_TARGET} frames", holds=ok_frames)
    fig.add("tap to thanks, time (median)", med_ms, "ms", raw=raw_each * 1000,
            target=f"<= {FRAMES_TARGET * 1000 / 60:.1f} ms (2 frames at 60 fps)",
            holds=med_ms <= FRAMES_TARGET * 1000 / 60)
    fig.add("kiosk cold start to idle", cold, "s", target=f"< {COLD_START_TARGET:.0f} s",
            holds=cold < COLD_START_TARGET)
    fig.add("kiosk RSS at idle", idle_rss, "MB", target=f"< {IDLE_RSS_TARGET_MB:.0f} MB",
            holds=idle_rss < IDLE_RSS_TARGET_MB)
    fig.add("kiosk RSS at idle, existing database (every start but the first)", again_rss, "MB")
    fig.add("kiosk RSS at idle, enrolled (sync worker, QR code; server down)", enrolled_rss, "MB")
    fig.add(f"kiosk soak RSS growth over {taps:,} taps", growth, "MB",
            target=f"< {RSS_TARGET_MB:.0f} MB", holds=growth < RSS_TARGET_MB and not soak["stopped"])
    fig.write(args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
