"""Screenshots of the dashboard's main pages at 1440x900 into docs/screenshots/.

    .venv/bin/python tools/dashboard_screenshots.py

Builds a temporary demo database (``aggregator demo`` + sample accounts, devices and cases),
serves it on loopback, and drives Debian's Chromium (/usr/bin/chromium) with Playwright.
"""

from __future__ import annotations

import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import uvicorn  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402
from sqlalchemy import select  # noqa: E402

from aggregator import Settings, create_app, demo  # noqa: E402
from aggregator.dashboard import cases, sample  # noqa: E402
from aggregator.dashboard.tables import cases as cases_table  # noqa: E402
from aggregator.db import utcnow, write  # noqa: E402

OUT = ROOT / "docs" / "screenshots"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare(url: str) -> int:
    """Demo data, sample accounts; some cases moved along. Returns the phone case's id."""
    app = create_app(url, settings=Settings(secret="screenshots"))
    engine = app.state.engine
    demo.run(engine, months=3, seed=1)
    now = utcnow()
    info = sample.seed(engine, now)
    with write(engine) as conn:
        jfb = {"id": info["users"]["jfb"], "username": "jfb", "role": "supervisor"}
        u01 = {"id": info["users"]["u01"], "username": "u01", "role": "unit_manager"}
        allowed = {"U-01", "U-02", "U-03", "U-04"}
        phone_case = conn.execute(select(cases_table.c.id).where(
            cases_table.c.rating_id == sample.PHONE_RATING)).scalar()
        ids = [r[0] for r in conn.execute(select(cases_table.c.id).where(
            cases_table.c.id != phone_case).order_by(cases_table.c.id.desc()).limit(40))]
        for n, cid in enumerate(ids[:24]):
            steps = [["verify"], ["verify", "rectify"], ["verify", "rectify", "answer"],
                     ["verify", "rectify", "answer", "close"], ["appeal"]][n % 5]
            for action in steps:
                note = "顾客反映材料清单不清，属实误评" if action == "appeal" else None
                cases.transition(conn, cid, action, jfb, allowed, now, note)
        cases.assign(conn, phone_case, u01 | {"display_name": "u01"}, jfb, allowed, now)
        cases.transition(conn, phone_case, "verify", jfb, allowed, now, "已调取监控核实")
        cases.add_callback(conn, phone_case, now.date().isoformat(), "unsatisfied",
                           "群众希望一次性告知材料", jfb, allowed, now)
        cases.transition(conn, phone_case, "rectify", jfb, allowed, now,
                         "窗口制作材料清单，一次告知")
    engine.dispose()
    return phone_case


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/dashboard.db"
        phone_case = prepare(url)
        app = create_app(url, settings=Settings(secret="screenshots"))
        port = _free_port()
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                               log_level="warning", lifespan="off"))
        threading.Thread(target=server.run, daemon=True).start()
        while not server.started:
            time.sleep(0.05)
        base = f"http://127.0.0.1:{port}"
        pages = [("overview", "/dashboard/"), ("rankings", "/dashboard/rankings"),
                 ("cases", "/dashboard/cases"), ("case", f"/dashboard/cases/{phone_case}"),
                 ("unit", "/dashboard/units/U-01"), ("devices", "/dashboard/devices"),
                 ("roster", "/dashboard/roster"),
                 ("bulletin", "/dashboard/rankings?group=unit&print=1")]
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            page.goto(base + "/dashboard/login")
            page.screenshot(path=OUT / "dashboard-login.png")
            page.fill("input[name=username]", "jfb")
            page.fill("input[name=password]", sample.PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url("**/dashboard/")
            for name, path in pages:
                page.goto(base + path)
                page.screenshot(path=OUT / f"dashboard-{name}.png")
            page.goto(base + "/public/units/U-01")
            page.screenshot(path=OUT / "dashboard-public.png")
            browser.close()
        server.should_exit = True
        time.sleep(0.3)
        app.state.engine.dispose()
    print(f"screenshots written to {OUT}/dashboard-*.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
