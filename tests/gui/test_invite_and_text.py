"""The invitation endpoint's validation and the screens' text helpers (no window)."""

import json
import urllib.error
import urllib.request

import pytest

from kiosk.invite_server import InviteServer, validate
from kiosk.screens.text import (
    NO_LINE_END,
    NO_LINE_START,
    break_lines,
    follow_up_token,
    mask_phone,
    phone_for_submit,
    rating_page_url,
)


@pytest.mark.parametrize("body, field", [
    (b'{"service_item": "x"}', "case_no"),
    (b'{"case_no": 5}', "case_no"),
    (b'{"case_no": "A", "item": "x"}', "item"),
    (b'{"case_no": "A", "service_item": ["x"]}', "service_item"),
    (b'{"case_no": "' + b"9" * 65 + b'"}', "case_no"),
    (b"not json", None),
    (b"[1, 2]", None),
])
def test_bad_invitations_name_the_field(body, field):
    invitation, problem = validate(body)
    assert invitation is None
    assert problem[1] == field


def test_good_invitation_is_trimmed():
    invitation, problem = validate('{"case_no": " 2024-1 ", "service_item": "社保卡"}'.encode())
    assert problem is None
    assert invitation == {"case_no": "2024-1", "service_item": "社保卡"}


def _post(url, body: bytes):
    try:
        request = urllib.request.Request(url, data=body, method="POST",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_server_answers_202_409_400_404_and_binds_loopback_only():
    calls = []
    server = InviteServer(lambda case_no, item: calls.append(case_no) or len(calls) == 1, port=0).start()
    try:
        assert server._httpd.server_address[0] == "127.0.0.1"
        assert _post(server.url, b'{"case_no": "A"}')[0] == 202
        assert _post(server.url, b'{"case_no": "B"}')[0] == 409
        status, body = _post(server.url, b'{"case_no": 1}')
        assert status == 400 and body["field"] == "case_no"
        assert _post(server.url.replace("/invite", "/other"), b"{}")[0] == 404
        assert _post(server.url, b"x" * 5000)[0] == 413
        assert calls == ["A", "B"]
    finally:
        server.stop()


def test_server_answers_503_when_the_screen_does_not_answer():
    server = InviteServer(lambda c, i: True, port=0, dispatch=lambda fn: None, answer_timeout=0.05).start()
    try:
        assert _post(server.url, b'{"case_no": "A"}')[0] == 503
    finally:
        server.stop()


def test_phone_is_masked_for_people_nearby():
    assert mask_phone("13812341234") == "138****1234"
    assert mask_phone("1381") == "1381"          # still typing: the citizen sees the digits
    assert phone_for_submit("1381") is None
    assert phone_for_submit("13812341234") == "13812341234"


def test_rating_page_url_from_server_base_or_plain_server():
    assert rating_page_url("https://pj.gov.cn/r/", "W-1") == "https://pj.gov.cn/r/W-1"
    assert rating_page_url("http://127.0.0.1:8700", "W-1") == "http://127.0.0.1:8700/r/W-1"
    assert rating_page_url("", "W-1") == ""


def test_follow_up_token_is_accepted_by_the_aggregator():
    qr = pytest.importorskip("aggregator.qr")
    key = qr.window_key("secret", "W-1")
    token = follow_up_token("rating-1", key, now_unix=1_000_000)
    assert qr.check_follow_up_token("secret", "W-1", token, now_unix=1_000_001) == "rating-1"


@pytest.mark.parametrize("width", range(3, 30))
def test_lines_never_begin_with_closing_punctuation_nor_end_with_opening(width):
    # Kivy breaks a run without spaces wherever it overflows: "，" and "。" began lines of the
    # pledge on the idle screen. Each character is one unit wide here.
    text = "坚持“马上办、网上办”，为群众提供（一次性）告知……窗口 A-12 号，电话 12345！"
    lines = break_lines(text, width, len).split("\n")
    assert "".join(lines).replace(" ", "") == text.replace(" ", "")   # nothing lost
    for line in lines:
        assert line and line[0] not in NO_LINE_START and line[-1] not in NO_LINE_END, lines
        assert len(line) <= width or " " not in line, lines   # only a piece too wide overflows
    assert not any(line.endswith("—") or line.startswith("…") for line in lines)
    assert "A-12" in "\n".join(lines) and "12345" in "\n".join(lines)


def test_line_breaks_keep_paragraphs_and_drop_spaces_at_a_break():
    assert break_lines("一二三\n四五 六七", 3, len) == "一二三\n四五\n六七"


def test_text_past_the_last_line_is_cut_with_an_ellipsis_that_fits():
    assert break_lines("一二三四五六七八九十", 4, len, max_lines=2) == "一二三四\n五六七…"
    assert break_lines("一二三，四五六七八", 4, len, max_lines=1) == "一二三…"
    assert break_lines("一二三四", 4, len, max_lines=1) == "一二三四"   # it fits: no ellipsis
