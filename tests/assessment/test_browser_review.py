"""A peer-review round in a real browser (Debian's Chromium): a staff member signs in, lands
on their own results, reviews every colleague and themself on the three criteria, sees the
round's progress, cannot review twice; the unit manager then sees the counts, not the names."""

from __future__ import annotations

import re

from tests.dashboard.helpers import browser_login

GRADES = ["优秀", "良好", "合格"]


def test_peer_review_round_in_the_browser(dash, page):
    browser_login(page, dash, "s-006")
    page.wait_for_url("**/dashboard/assessment/me")
    assert page.locator("nav a[data-nav]").all_inner_texts() == ["同事互评", "我的考核"]
    page.click("nav a[data-nav=peer_review]")
    page.wait_for_url("**/dashboard/assessment/review")
    cards = page.locator(".reviews article.review")
    assert cards.count() == 5
    assert page.locator(".progress-line").inner_text() == "已评 0 / 5 位同事"

    colleagues = [cards.nth(i).get_attribute("data-reviewee") for i in range(5)]
    for n, sid in enumerate(colleagues):
        card = page.locator(f'article[data-reviewee="{sid}"]')
        for i, fieldset in enumerate(card.locator("fieldset.scale").all()):
            fieldset.get_by_text(GRADES[(n + i) % 3], exact=True).click()
        card.locator("button[data-submit]").click()
        page.wait_for_url(re.compile(r".*/assessment/review\?period=.*saved=1"))
        assert page.locator(".alert.ok").is_visible()
        done = page.locator(f'article[data-reviewee="{sid}"] [data-done]')
        assert done.inner_text() == "已评"
        # Reviewed once: the form for that colleague is gone.
        assert page.locator(f'article[data-reviewee="{sid}"] form').count() == 0
        assert page.locator(".progress-line").inner_text() == f"已评 {n + 1} / 5 位同事"

    # A submit without every criterion chosen is stopped by the browser (required radios).
    self_card = page.locator('.card.self article[data-reviewee="S-006"]')
    self_card.locator("fieldset.scale").first.get_by_text("优秀", exact=True).click()
    assert self_card.locator("input:invalid").count() == 2 * 5   # two criteria × five grades
    for fieldset in self_card.locator("fieldset.scale").all()[1:]:
        fieldset.get_by_text("良好", exact=True).click()
    self_card.locator("button[data-submit]").click()
    page.wait_for_url(re.compile(r".*saved=1"))
    assert page.locator('.card.self [data-done]').inner_text() == "已评"
    assert page.locator(".progress-line").inner_text() == "已评 5 / 5 位同事"

    # The manager's table counts the reviews and never names a reviewer.
    page.context.clear_cookies()
    browser_login(page, dash, "u01")
    page.wait_for_url("**/dashboard/")
    page.click("nav a[data-nav=assessment]")
    row = page.locator('table[data-kind=staff] tr[data-id="S-001"]').inner_text()
    reviewer = page.locator('table[data-kind=staff] tr[data-id="S-006"] td b').first.inner_text()
    assert "1 人互评" in row and reviewer not in row
    # a window's peer part sums its staff's reviews: it is counted in reviews, not people (it
    # said "6 人互评" where 4 people had reviewed)
    windows = page.locator("table[data-kind=window]").inner_text()
    assert "人互评" not in windows
