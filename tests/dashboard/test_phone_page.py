"""The citizen's QR rating page (``/r/<window>``) in a real headless Chromium, at a phone's
size, against the real server on loopback."""

import json

from sqlalchemy import func, select

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


def _phone(browser):
    return browser.new_context(viewport={"width": 360, "height": 640}, is_mobile=True,
                               has_touch=True, locale="zh-CN")


def test_a_used_follow_up_link_offers_no_form_and_a_form_sent_late_keeps_its_text(
        browser, dash_sqlite, tmp_path):
    # The follow-up QR code a kiosk shows after a bad rating adds once. Opened again (from the
    # scanner's history, or while the kiosk still shows it) it offered the form; the citizen
    # typed a second complaint with a number to call back, and the answer "already added"
    # (409) threw it all away. A tab opened before the use keeps its text, to send as a new
    # rating; a tab opened after shows no form, and "评价本窗口" leads to the window's page.
    import time

    from aggregator import qr

    dash = dash_sqlite
    with read(dash.engine) as conn:
        rating_id = conn.execute(select(ratings.c.id).where(
            ratings.c.window_id == "W-001", ratings.c.channel == 4,
            ratings.c.level == "dissatisfied", ratings.c.comment.is_(None)).limit(1)).scalar_one()
    token = qr.follow_up_token(qr.window_key("test-secret", "W-001"), rating_id,
                               int(time.time()) + 7 * 86400)
    url = f"{dash.url}/r/W-001?t={token}"
    context = _phone(browser)
    try:
        first, late = context.new_page(), context.new_page()
        first.goto(url)
        late.goto(url)
        first.fill("textarea[name=comment]", "窗口人员一直在玩手机")
        first.click("button[type=submit]")
        assert "感谢" in first.locator(".msg").inner_text()
        late.fill("textarea[name=comment]", "补充：还让我跑了三次")
        late.fill("input[name=phone]", "13800009999")
        late.check("input[name=consent]")
        late.click("button[type=submit]")
        # The late tab's text is a late note of the same rating now: it was offered as a new
        # rating, a second counted rating of one service (finding 5 of the QR review).
        assert "感谢" in late.locator(".msg").inner_text()
        again = context.new_page()
        response = again.goto(url)
        assert response.status == 409 and "逾期补充" in again.locator("p.error").inner_text()
        assert again.locator("input[name=level]").count() == 0
        again.screenshot(path=tmp_path / "follow-used-late-note.png", full_page=True)
    finally:
        context.close()
    with read(dash.engine) as conn:
        kiosk = conn.execute(select(ratings.c.comment, ratings.c.phone)
                             .where(ratings.c.id == rating_id)).one()
        new = conn.execute(select(func.count()).select_from(ratings).where(
            ratings.c.comment.contains("还让我跑了三次"), ratings.c.channel == 3)).scalar()
    assert tuple(kiosk) == ("窗口人员一直在玩手机\n〔逾期补充〕补充：还让我跑了三次", "13800009999")
    assert new == 0


def test_windows_whose_id_holds_a_hash_a_space_or_a_slash_are_rated_on_the_phone(
        browser, dash_sqlite):
    # Windows made before ids were checked (org.URL_BREAKING) can hold such ids ("1#窗口" is a
    # common name). The form's action was "/r/W#7", so
    # the browser posted to "/r/W" (a 404) and the rating was lost; "民政/9", encoded in the
    # kiosk's QR code as "民政%2F9", was a 404 page.
    from urllib.parse import quote

    from aggregator import org
    from aggregator.db import write

    dash = dash_sqlite
    odd = ["W#7", "W 8", "民政/9"]
    with write(dash.engine) as conn:
        unit = conn.execute(select(ratings.c.unit_id).where(ratings.c.window_id == "W-001")
                            .limit(1)).scalar_one()
        for wid in odd:
            org.store(conn, "windows", {**org.clean("windows", {"id": "W-X", "name": "1#窗口",
                                                          "unit_id": unit}), "id": wid})
    context = _phone(browser)
    try:
        page = context.new_page()
        for wid in odd:
            assert page.goto(f"{dash.url}/r/{quote(wid, safe='')}").status == 200, wid
            page.locator("label", has=page.locator("[value=satisfied]")).click()
            page.click("button[type=submit]")
            assert "感谢您的评价" in page.locator(".msg").inner_text(), wid
    finally:
        context.close()
    with read(dash.engine) as conn:
        stored = conn.execute(select(ratings.c.window_id).where(
            ratings.c.window_id.in_(odd), ratings.c.channel == 3)).scalars().all()
    assert sorted(stored) == sorted(odd)


def test_a_comment_written_in_paragraphs_is_stored_as_the_phone_showed_it(browser, dash_sqlite):
    # The field stops at 500 characters counting a line break as one, but the browser sends
    # CR LF: the server kept its first 500 characters, and the last lines of a long comment
    # in paragraphs were gone, though the counter had said 500 / 500.
    dash = dash_sqlite
    text = "\n".join(f"第{i:02d}段，办事过程中遇到的问题说明。" for i in range(1, 40))
    context = _phone(browser)
    try:
        page = context.new_page()
        page.goto(f"{dash.url}/r/W-006")
        page.locator("label", has=page.locator("[value=basic_satisfied]")).click()
        page.click("textarea[name=comment]")
        page.keyboard.insert_text(text)
        shown = page.input_value("textarea[name=comment]")
        assert len(shown) == 500 and page.locator("#count").inner_text() == "500 / 500"
        page.click("button[type=submit]")
        assert "感谢您的评价" in page.locator(".msg").inner_text()
    finally:
        context.close()
    with read(dash.engine) as conn:
        stored = conn.execute(select(ratings.c.comment).where(
            ratings.c.window_id == "W-006", ratings.c.comment.like("第01段%"))).scalars().all()
    assert stored == [shown] and shown.count("\n") == 26


def test_back_and_another_answer_on_the_phone_is_told_it_was_not_saved(
        browser, dash_sqlite, tmp_path):
    # The browser's Back brings the sent form again, with its form id. A citizen who sent
    # 满意 and then, from there, 非常不满意 with a complaint and a number to call was thanked,
    # and none of it was stored. A sent rating stays as sent (一次一评), and the page says so,
    # with the level on record and everything typed still in the form.
    dash = dash_sqlite
    complaint = "窗口人员态度恶劣，请回电（返回后改）"
    context = _phone(browser)
    page = context.new_page()
    try:
        page.goto(f"{dash.url}/r/W-001")
        form_id = page.input_value("input[name=form_id]")
        page.locator("label", has=page.locator("[value=satisfied]")).click()
        page.click("button[type=submit]")
        assert "感谢您的评价" in page.locator(".msg").inner_text()
        page.go_back()
        assert page.input_value("input[name=form_id]") == form_id   # the same form
        page.locator("label", has=page.locator("[value=very_dissatisfied]")).click()
        page.fill("textarea[name=comment]", complaint)
        page.fill("input[name=phone]", "13800001234")
        page.check("input[name=consent]")
        page.click("button[type=submit]")
        error = page.locator("p.error").inner_text()
        assert "您已提交过评价（满意）" in error and "没有保存" in error
        assert page.input_value("textarea[name=comment]") == complaint
        assert page.input_value("input[name=phone]") == "13800001234"
        assert page.is_checked("input[name=level][value=very_dissatisfied]")
        page.screenshot(path=tmp_path / "phone-changed-answer.png", full_page=True)
    finally:
        context.close()
    with read(dash.engine) as conn:
        assert conn.execute(select(ratings.c.id).where(ratings.c.comment == complaint)).first() \
            is None


def test_switching_the_language_on_the_phone_keeps_the_level_and_the_comment(
        browser, dash_sqlite, tmp_path):
    # The English/中文 switch was a link to the bare page: the chosen level, the reasons and
    # the comment were gone, in front of a citizen who had just written them.
    dash = dash_sqlite
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True,
                                  has_touch=True, device_scale_factor=2)
    page = context.new_page()
    comment = "窗口人员态度很好，但等候太久"
    try:
        page.goto(f"{dash.url}/r/W-001")
        page.locator("label", has=page.locator("[value=dissatisfied]")).click()
        page.get_by_text("等候时间长").click()
        page.fill("textarea[name=comment]", comment)
        page.click("[data-lang-switch]")
        page.wait_for_selector("text=Very satisfied")
        assert page.locator("input[name=level][value=dissatisfied]").is_checked()
        assert page.locator("input[name=reasons][value=waiting_time]").is_checked()
        assert page.locator("#reasons").is_visible()
        assert page.input_value("textarea[name=comment]") == comment
        page.screenshot(path=tmp_path / "phone-switched.png", full_page=True)
        page.click("button[type=submit]:not([data-lang-switch])")
        assert "Thank you" in page.locator(".msg").inner_text()
    finally:
        context.close()
    with read(dash.engine) as conn:
        rows = conn.execute(select(ratings.c.level).where(ratings.c.comment == comment)).all()
    assert [r.level for r in rows] == ["dissatisfied"]   # one rating, sent once
