"""The citizen's QR rating page (``/r/<window>``) in a real headless Chromium, at a phone's
size, against the real server on loopback."""

import json

from sqlalchemy import select

from aggregator.db import read
from aggregator.schema import ratings


def test_citizen_rates_on_the_phone_and_a_bad_number_is_asked_again_not_dropped(
        browser, dash_sqlite, tmp_path):
    # Before, a number the server did not accept (or one given without ticking consent) was
    # thrown away without a word: the citizen waited for a call that never came. The page also
    # offered every reason chip for both bad levels, and one of them was dropped on "不满意".
    dash = dash_sqlite
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True,
                                  has_touch=True, device_scale_factor=2)
    page = context.new_page()
    try:
        page.goto(f"{dash.url}/r/W-001")
        reasons = page.locator("#reasons")
        assert not reasons.is_visible()   # no chips before a bad level is chosen
        page.locator("label", has=page.locator("[value=very_dissatisfied]")).click()
        chips = page.locator("#reasons label:visible")
        assert chips.count() == 8
        page.locator("label", has=page.locator("[value=dissatisfied]")).click()
        assert chips.count() == 7 and not page.get_by_text("吃拿卡要").is_visible()
        page.get_by_text("等候时间长").click()
        page.fill("textarea[name=comment]", "叫号系统坏了，等了一个小时")
        # the field stops at 500 characters; the citizen sees how many are used
        assert page.locator("#count").inner_text() == "13 / 500"
        page.fill("input[name=phone]", "１３８ ０００１ ２３４５")   # a Chinese input method's digits
        page.click("button[type=submit]")
        error = page.locator("p.error")
        assert "勾选" in error.inner_text()   # a number without consent: asked, not dropped
        # what the citizen entered is still there
        assert page.locator("input[name=level][value=dissatisfied]").is_checked()
        assert page.locator("input[name=reasons][value=waiting_time]").is_checked()
        assert page.input_value("textarea[name=comment]") == "叫号系统坏了，等了一个小时"
        assert page.locator("#count").inner_text() == "13 / 500"
        page.screenshot(path=tmp_path / "phone-error.png", full_page=True)
        page.fill("input[name=phone]", "138-0001-x")
        page.check("input[name=consent]")
        page.click("button[type=submit]")
        assert "手机号" in page.locator("p.error").inner_text()
        page.fill("input[name=phone]", "１３８ ０００１ ２３４５")
        page.click("button[type=submit]")
        assert "感谢您的评价" in page.locator(".msg").inner_text()
    finally:
        context.close()
    with read(dash.engine) as conn:
        row = conn.execute(select(ratings).where(ratings.c.comment == "叫号系统坏了，等了一个小时")) \
            .mappings().one()
    assert row["level"] == "dissatisfied" and row["channel"] == 3
    assert json.loads(row["reasons"]) == ["waiting_time"]
    assert row["phone"] == "138 0001 2345" and row["callback_consent"] is True
