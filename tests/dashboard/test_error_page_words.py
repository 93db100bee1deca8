"""The dashboard's error page speaks the page's language: a Chinese page led with the
server's English sentence ("case 999999 does not exist", "this needs the role admin or
higher"). It now says what happened in Chinese and keeps the English sentence, word for
word, folded under "技术信息 / technical detail" for whoever looks into it."""

from __future__ import annotations

import html
import re

from aggregator.dashboard.i18n import EN, ZH

ASCII_WORDS = re.compile(r"[A-Za-z]{3,}")


def _explanation(text: str) -> str:
    return html.unescape(re.search(r"<p data-error-explanation>(.*?)</p>", text, re.S)[1])


def _folded_detail(text: str) -> str:
    """The English detail, which must sit in a closed <details>."""
    found = re.search(r"<details ([^>]*)data-error-technical>\s*<summary>(.*?)</summary>\s*"
                      r"<p[^>]*data-error-detail>(.*?)</p>\s*</details>", text, re.S)
    assert found, re.sub(r"\s+", " ", text)[-900:]
    assert "open" not in found[1]
    assert html.unescape(found[2]) == "技术信息 / technical detail"
    return html.unescape(found[3])


def _before_details(text: str) -> str:
    card = text[text.index('<div class="card login">'):text.index("<details")]
    return re.sub(r"<[^>]+>", " ", html.unescape(card))


def test_a_case_not_there_is_explained_in_chinese_with_the_english_folded(dash):
    r = dash.login("u01").get(f"{dash.url}/dashboard/cases/999999")
    assert r.status_code == 404
    assert _explanation(r.text) == "该工单不存在，或不在您的权限范围内。"
    assert _folded_detail(r.text) == "case 999999 does not exist"
    assert not ASCII_WORDS.search(_before_details(r.text))


def test_a_page_above_the_users_role_names_the_role_needed_in_chinese(dash):
    r = dash.login("u01").get(f"{dash.url}/dashboard/settings")
    assert r.status_code == 403
    assert _explanation(r.text) == "此操作需要「系统管理员」或更高权限的账号；如需办理，请联系系统管理员。"
    assert _folded_detail(r.text) == "this needs the role admin or higher"
    assert not ASCII_WORDS.search(_before_details(r.text))
    en = dash.login("u01").get(f"{dash.url}/dashboard/settings?lang=en")
    assert _explanation(en.text).startswith("This needs an account with the role 'Administrator'")


def test_a_refusal_with_its_own_message_keeps_the_status_sentence_and_its_line(dash):
    # (a refused form's line in the page's language stays; only the English is folded)
    r = dash.login("admin").get(f"{dash.url}/dashboard/cases/{'9' * 25}")
    assert r.status_code == 400
    assert _explanation(r.text) == ZH["error_400"]
    assert _folded_detail(r.text)


def test_the_appeal_hint_says_in_words_what_the_flag_means():
    # It showed the flag's code: "已标记为可疑（appeal_accepted）".
    assert "appeal_accepted" not in ZH["appeal_not_counted_hint"]
    assert "申诉成立" in ZH["appeal_not_counted_hint"]
    assert "appeal_accepted" not in EN["appeal_not_counted_hint"]
