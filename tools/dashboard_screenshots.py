"""Screenshots of the dashboard's main pages at 1440x900, and of the citizen's QR rating page
on a phone (390x844), into docs/screenshots/.

    .venv/bin/python tools/dashboard_screenshots.py [--assessment]

With ``--assessment`` it writes only the assessment pages (dashboard-assessment*.png): staff
accounts, a peer-review round, leader comments and pledges on top of the demo, the previous
month published. Builds a temporary demo database (``aggregator demo`` + sample accounts, devices and cases),
serves it on loopback, and drives Debian's Chromium (/usr/bin/chromium) with Playwright.
"""

from __future__ import annotations

import argparse
import datetime as dt
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


def sign_in(page, username: str, lands_on: str = "**/dashboard/") -> None:
    """Fill the login form open in ``page`` with a sample account and wait for the page after."""
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", sample.PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(lands_on)


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
        # Only cases still new: the demo itself moves older cases along.
        ids = [r[0] for r in conn.execute(select(cases_table.c.id).where(
            cases_table.c.id != phone_case, cases_table.c.state == "new")
            .order_by(cases_table.c.id.desc()).limit(40))]
        for n, cid in enumerate(ids[:24]):
            steps = [["verify"], ["verify", "rectify"], ["verify", "rectify", "answer"],
                     ["verify", "rectify", "answer", "close"], ["appeal"]][n % 5]
            for action in steps:
                note = "顾客反映材料清单不清，属实误评" if action == "appeal" else None
                cases.transition(conn, cid, action, jfb, allowed, now, note)
        cases.assign(conn, phone_case, u01 | {"display_name": "u01"}, jfb, allowed, now)
        cases.transition(conn, phone_case, "verify", jfb, allowed, now, "已调取监控核实")
        # the hall's day, not UTC's: from 16:00 UTC they differ, and a callback dated before
        # the case opened is refused
        today = (now + dt.timedelta(hours=Settings().timezone_offset_hours)).date()
        cases.add_callback(conn, phone_case, today.isoformat(), "unsatisfied",
                           "群众希望一次性告知材料", jfb, allowed, now)
        cases.transition(conn, phone_case, "rectify", jfb, allowed, now,
                         "窗口制作材料清单，一次告知")
    engine.dispose()
    return phone_case


def prepare_assessment(url: str) -> str:
    """Staff accounts, peer reviews, leader comments, pledges; the previous month published.
    Returns that month's key."""
    import random

    from aggregator.dashboard import (
        accounts,
        assessment_config,
        assessment_publish,
        assessment_store,
        pledges,
    )
    from aggregator.dashboard.periods import Period

    app = create_app(url, settings=Settings(secret="screenshots"))
    engine = app.state.engine
    now = utcnow()
    today = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).date()
    period = Period("month", today.year, today.month).previous()
    rng = random.Random(5)
    settings = assessment_config.AssessmentSettings()
    units = {"U-01", "U-02", "U-03", "U-04"}
    with write(engine) as conn:
        for unit in sorted(units):
            people = assessment_store.colleagues(conn, unit)
            for reviewer in people:
                if accounts.get_user_by_name(conn, reviewer["id"].lower()) is None:
                    accounts.create_user(conn, reviewer["id"].lower(), sample.PASSWORD, "staff",
                                         staff_id=reviewer["id"], now=now)
                if reviewer["id"] == "S-002":
                    continue   # S-002 does the round in the screenshot
                me = assessment_store.staff_row(conn, reviewer["id"])
                for other in people:
                    base = 4 if other["id"] != "S-005" else 3
                    scores = {c["code"]: min(5, base + rng.choice((0, 0, 1)))
                              for c in settings.criteria}
                    assessment_store.submit_review(conn, period, me, other["id"], scores,
                                                   settings, now, today)
        u01 = accounts.get_user_by_name(conn, "u01")
        notes = {"S-001": (92, "首问负责落实到位，群众反映好。"),
                 "S-003": (85, "业务熟练，延时服务主动。"),
                 "S-005": (72, "材料一次告知还需加强，注意服务用语。"),
                 "S-002": (90, "窗口秩序好，主动帮办代办。")}
        for sid, (score, text) in notes.items():
            assessment_store.save_comment(conn, period, u01, "staff", sid, score, text,
                                          {"U-01"}, now, today)
        assessment_store.save_comment(conn, period, u01, "window", "W-001", 94,
                                      "民政窗口群众满意度高，材料清单上墙。", {"U-01"}, now, today)
        for owner, title, items in (
                (("window", "W-001"), "民政窗口三项承诺", ["一次告知", "限时办结", "周六延时服务"]),
                (("staff", "S-001"), "个人服务承诺", ["微笑服务", "不让群众跑第二趟"]),
                (("window", "W-002"), "社保窗口承诺", ["养老保险即办", "社保卡5日内办结"])):
            pid = pledges.create(conn, owner[0], owner[1], title, items, {"U-01"}, now)
            for n, row in enumerate(pledges.list_for(conn, {"U-01"})[0]["items"]):
                status = ("kept", "kept", "in_progress", "kept", "broken")[(pid + n) % 5]
                if status != "in_progress":
                    pledges.set_item(conn, row["id"], status,
                                     "台账与群众回访核实" if status == "kept" else "有一周未落实，已整改",
                                     u01, {"U-01"}, now)
        jfb = accounts.get_user_by_name(conn, "jfb")
        assessment_publish.publish(conn, period, units, jfb, settings, 20.0, now, today)
    engine.dispose()
    return period.key


def shoot_assessment(page, base: str, period: str) -> None:
    page.goto(base + f"/dashboard/assessment?period={period}&unit=U-01")
    page.screenshot(path=OUT / "dashboard-assessment.png")
    page.goto(base + "/dashboard/pledges")
    page.screenshot(path=OUT / "dashboard-assessment-pledges.png")
    page.context.clear_cookies()
    page.goto(base + "/dashboard/login")
    sign_in(page, "s-002", "**/assessment/me")
    this_month = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).strftime("%Y-%m")
    page.goto(base + f"/dashboard/assessment/review?period={this_month}")   # the open round
    card = page.locator("article.review").first
    for i, fieldset in enumerate(card.locator("fieldset.scale").all()):
        fieldset.get_by_text(["优秀", "良好", "优秀"][i], exact=True).click()
    card.locator("button[data-submit]").click()
    page.wait_for_url("**saved=1")
    card = page.locator("article.review:not(.done)").first
    card.locator("fieldset.scale").first.get_by_text("良好", exact=True).click()
    page.screenshot(path=OUT / "dashboard-assessment-review.png")
    page.goto(base + "/dashboard/assessment/me?period=" + period)
    page.screenshot(path=OUT / "dashboard-assessment-me.png")


# A roster file as a clerk makes it, with the usual mistakes: a staff number pasted twice, a
# name left out, stars written as a word, a person listed twice.
BAD_ROSTER = ("编号,姓名,工号,岗位,星级,单位,窗口\n"
              "S-101,刘洋,0101,窗口受理员,5,U-01,W-001\n"
              "S-102,陈静,0102010201020102010201020102010201,综合服务岗,4,U-01,W-001\n"
              "S-103,,0103,业务经办员,4,U-01,W-002\n"
              "S-104,赵磊,0104,首席代办员,五,U-01,W-002\n"
              "S-101,孙丽,0105,窗口受理员,4,U-01,W-003\n").encode("utf-8-sig")


def shoot_roster_errors(page, base: str) -> None:
    """The roster page after importing a file with mistakes: each named by row and column."""
    page.goto(base + "/dashboard/roster")
    page.set_input_files("form[action$='/roster/import'] input[type=file]", files=[
        {"name": "花名册.csv", "mimeType": "text/csv", "buffer": BAD_ROSTER}])
    page.click("form[action$='/roster/import'] button")
    page.wait_for_selector("[data-problems]")
    page.screenshot(path=OUT / "dashboard-roster-errors.png")


def shoot_phone_page(browser, base: str) -> None:
    """On a phone (phone-*.png): the citizen's QR rating page, a bad rating half filled in,
    and the dashboard's overview."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True,
                                  has_touch=True, device_scale_factor=2)
    page = context.new_page()
    for lang, comment in (("zh", "叫号系统坏了，等了一个小时"),
                          ("en", "The queue screen was broken; I waited an hour")):
        page.goto(f"{base}/r/W-001?lang={lang}")
        page.locator("label", has=page.locator("[value=dissatisfied]")).click()
        page.locator("input[name=reasons][value=waiting_time]").check()
        page.fill("textarea[name=comment]", comment)
        page.screenshot(path=OUT / f"phone-rate-{'zh_CN' if lang == 'zh' else 'en'}.png",
                        full_page=True)
    # a supervisor's phone: the overview
    page.goto(base + "/dashboard/login")
    sign_in(page, "jfb")
    page.screenshot(path=OUT / "phone-dashboard-overview.png")
    context.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assessment", action="store_true",
                        help="only the assessment pages (dashboard-assessment*.png)")
    args = parser.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/dashboard.db"
        phone_case = prepare(url)
        period = prepare_assessment(url) if args.assessment else None
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
                 ("roster", "/dashboard/roster"), ("users", "/dashboard/users"),
                 ("alerts", "/dashboard/alerts?state=all"),
                 ("bulletin", "/dashboard/rankings?group=unit&print=1")]
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            page.goto(base + "/dashboard/login")
            page.screenshot(path=OUT / "dashboard-login.png")
            sign_in(page, "jfb")
            if args.assessment:
                shoot_assessment(page, base, period)
                pages = []
            for name, path in pages:
                page.goto(base + path)
                page.screenshot(path=OUT / f"dashboard-{name}.png")
            page.goto(base + "/public/units/U-01")
            page.screenshot(path=OUT / ("dashboard-assessment-public.png" if args.assessment
                                        else "dashboard-public.png"), full_page=args.assessment)
            if not args.assessment:
                # a code for one known kiosk, to move it to another window
                page.goto(base + "/dashboard/devices?device=kiosk-W-001#issue")
                page.select_option("#issue select[name=window_id]", "W-002")
                page.click("#issue button.primary")
                page.wait_for_selector("[data-code-device]")
                page.screenshot(path=OUT / "dashboard-devices-code.png")
                # the per-rating export's form under the ranking
                page.goto(base + "/dashboard/rankings")
                page.locator("#rating-export").screenshot(
                    path=OUT / "dashboard-rating-export.png")
                # the case ledger's form under the queue (its overdue tab)
                page.goto(base + "/dashboard/cases?state=overdue")
                page.locator("#case-ledger").screenshot(path=OUT / "dashboard-case-ledger.png")
                # adding an item whose code exists asks before overwriting it
                page.goto(base + "/dashboard/roster#items")
                form = page.locator("form[data-add-item]")
                form.locator("input[name=code]").fill("U-01-MZ-01")
                form.locator("input[name=name]").fill("最低生活保障申请（新）")
                form.locator("button").click()
                page.wait_for_selector("[data-item-conflict]")
                page.locator("#items").screenshot(path=OUT / "dashboard-roster-items.png")
                shoot_roster_errors(page, base)
                shoot_phone_page(browser, base)
            browser.close()
        server.should_exit = True
        time.sleep(0.3)
        app.state.engine.dispose()
    print(f"screenshots written to {OUT}/dashboard-*.png" + ("" if args.assessment else
                                                            " and phone-*.png"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
