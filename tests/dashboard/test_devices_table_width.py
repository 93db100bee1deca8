"""The devices page fits a 1366 px screen, in Chinese and in English (a real Chromium)."""

from __future__ import annotations

import json

from sqlalchemy import update

from aggregator.schema import devices
from tests.dashboard.helpers import PASSWORD

# the lines the cell's first text takes (one client rect per line box)
LINES = ("td => { const r = document.createRange(); r.selectNodeContents(td.firstChild); "
         "return r.getClientRects().length; }")


def test_the_devices_table_fits_1366_px_with_its_buttons_in_both_languages(browser,
                                                                           dash_sqlite):
    # At 1366 px the unit names wrapped onto 3 lines and "34.0 小时前" broke in two; in
    # English the table was 1433 px wide and each row's 停用 (Revoke) button was cut off.
    dash = dash_sqlite
    with dash.engine.begin() as conn:   # a kiosk with a full disk: the widest status cell
        conn.execute(update(devices).where(devices.c.id == "kiosk-W-003").values(
            last_heartbeat=json.dumps({"pending": 14, "disk_free_bytes": 0, "last_error":
                                       "the kiosk database cannot be written: /var/lib/kiosk/"
                                       "kiosk.db: database or disk is full"})))
    context = browser.new_context(viewport={"width": 1366, "height": 800})
    page = context.new_page()
    try:
        page.goto(dash.url + "/dashboard/login")
        page.fill("input[name=username]", "jfb")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url("**/dashboard/")
        for lang, revoke in (("zh_CN", "停用"), ("en", "Revoke")):
            page.goto(f"{dash.url}/dashboard/devices?lang={lang}")
            assert page.evaluate("document.documentElement.scrollWidth") <= 1366, lang
            card = page.locator("table.devices").locator("xpath=..").bounding_box()
            table = page.locator("table.devices").bounding_box()
            assert table["x"] + table["width"] <= card["x"] + card["width"] + 0.5, lang
            buttons = page.locator("table.devices button.danger")
            assert buttons.count() >= 10
            for i in range(buttons.count()):
                box = buttons.nth(i).bounding_box()
                assert box["x"] + box["width"] <= 1366, (lang, i, box)
                assert buttons.nth(i).inner_text() == revoke
            # a duration on one line, a unit's name on at most two
            for cell in page.locator("table.devices td.seen").all():
                assert cell.evaluate(LINES) == 1, (lang, cell.inner_text())
            for cell in page.locator("table.devices td.unit").all():
                assert cell.evaluate(LINES) <= 2, (lang, cell.inner_text())
    finally:
        context.close()
