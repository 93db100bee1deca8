"""The invitation endpoint of the real app in the real (offscreen) window: a bad invitation from
the queue system is refused and the window goes on recording."""

from __future__ import annotations

import socket
import threading

from kiosk import constants as C

from .conftest import BADGE_WANG


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _post_raw_while_running(k, port: int, body: bytes) -> tuple[int, bytes]:
    """POST ``body`` byte for byte from another thread while the UI thread draws frames."""
    import http.client

    answer: list = []

    def post() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            conn.request("POST", "/invite", body=body, headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            answer.append((resp.status, resp.read()))
        finally:
            conn.close()

    thread = threading.Thread(target=post)
    thread.start()
    for _ in range(2000):
        if answer or not thread.is_alive():
            break
        k.frames(1)
        thread.join(0.005)
    thread.join(10)
    return answer[0]


def test_an_invitation_with_a_lone_surrogate_is_refused_and_the_next_tap_is_recorded(make_kiosk):
    # A queue system sent {"case_no": "2024-\ud842"} (a rare character cut in half). It was
    # answered 409 "busy", and the kiosk database stayed inside an open write transaction:
    # every citizen after it saw "请稍后再试" and nothing was recorded until a restart.
    port = _free_port()
    k = make_kiosk(trigger__invite_port=port)
    k.type_badge(BADGE_WANG)
    assert k.screen == "idle"

    status, body = _post_raw_while_running(k, port, b'{"case_no": "2024-\\ud842"}')
    assert status == 400 and b'"field": "case_no"' in body
    k.frames(3)
    assert k.screen == "idle" and k.events(C.EV_INVITATION) == []

    # The same text reaching the app some other way: the store refuses it, rolls back, and
    # the window stays calm and usable.
    assert k.app.invite("2024-\ud842", None, source="http") is False
    assert not k.store.conn.in_transaction

    k.app.start_rating()
    k.frames(3)
    k.tap(k.face("satisfied"))
    assert k.screen == "thanks"
    rating, = k.events(C.EV_RATING)
    assert rating["payload"]["level"] == "satisfied"
    # and the endpoint takes the next good invitation once the thank-you is shown
    status, _ = _post_raw_while_running(k, port, '{"case_no": "2024-\U00020bb7"}'.encode())
    assert (status, k.screen) == (202, "rate")


def test_the_queue_system_repeating_a_case_number_gets_one_invitation_and_one_rating(make_kiosk):
    # One service, one rating (一次一评): a queue system that retried its POST after its own
    # timeout got a second invitation for the same case number, and each was rated and
    # counted; re-inviting until the rating came out good was a way to steer the results.
    import json

    port = _free_port()
    k = make_kiosk(trigger__mode=C.MODE_INVITED, trigger__invite_port=port)
    k.type_badge(BADGE_WANG)
    body = '{"case_no": "2024-000123", "service_item": "社会保障卡申领"}'.encode()
    assert _post_raw_while_running(k, port, body)[0] == 202
    # the retry while the faces wait: the same invitation, nothing new
    status, answer = _post_raw_while_running(k, port, body)
    assert (status, json.loads(answer)) == (202, {"status": "accepted"})
    assert len(k.events(C.EV_INVITATION)) == 1 and k.screen == "rate"
    k.tap(k.face("very_satisfied"))
    assert k.screen == "thanks"
    # once rated, the case number is refused, by name, in words staff can read
    status, answer = _post_raw_while_running(k, port, body)
    refusal = json.loads(answer)
    assert (status, refusal["error"], refusal["case_no"]) == (409, "already_rated", "2024-000123")
    assert refusal["detail"].startswith("办件 2024-000123 已评价")
    assert k.screen == "thanks" and len(k.events(C.EV_INVITATION)) == 1
    assert [e["payload"]["case_no"] for e in k.events(C.EV_RATING)] == ["2024-000123"]
    # the next case number is invited as before
    assert _post_raw_while_running(k, port, b'{"case_no": "2024-000124"}')[0] == 202
