"""The enrolment code page (POST /dashboard/devices/enroll-code, then GET
/dashboard/devices/codes/<view>): a reload shows the code just made and makes no other; only
the session that made it sees it; the code is never in a URL. SQLite and PostgreSQL, and a
real Chromium for the reload itself."""

from __future__ import annotations

import doctest
import re

from sqlalchemy import func, select

from aggregator.db import read
from aggregator.schema import enroll_codes
from tests.aggregator.device import Device
from tests.dashboard.helpers import browser_login, csrf_of

CODE = re.compile(r"data-code>([^<]+)<")


def _codes(dash) -> int:
    with read(dash.engine) as conn:
        return conn.execute(select(func.count()).select_from(enroll_codes)).scalar_one()


def _make(dash, session, window_id="W-001", **extra):
    """POST the form without following the redirect: (answer, code page URL)."""
    csrf = csrf_of(session, dash.url + "/dashboard/devices")
    r = session.post(dash.url + "/dashboard/devices/enroll-code", allow_redirects=False,
                     data={"csrf": csrf, "window_id": window_id, **extra})
    assert r.status_code == 303, r.text[:300]
    return r, dash.url + r.headers["location"]


def test_reloading_the_code_page_shows_the_same_code_and_issues_no_other(dash):
    # Each code is a credential. The code was rendered in the POST's answer, so a reload
    # (F5, "resend the form?") made a second code, and a third; every one stayed valid.
    s = dash.login("u01")
    before = _codes(dash)
    posted, page_url = _make(dash, s)
    assert _codes(dash) == before + 1
    assert re.fullmatch(r".*/dashboard/devices/codes/[A-Za-z0-9_-]{16,}", page_url)
    first = s.get(page_url)
    again = s.get(page_url)
    assert first.status_code == again.status_code == 200
    code = CODE.search(first.text)[1]
    assert CODE.search(again.text)[1] == code and "<svg" in again.text
    assert _codes(dash) == before + 1   # reloading made no code
    # the code is in no URL, and the page with it is not kept by caches
    assert code not in page_url and code.replace("-", "") not in page_url
    assert first.headers["cache-control"] == "no-store"
    cookie = next(c for c in s.cookies if c.name == "agg_enroll_code")
    assert cookie.path == page_url[len(dash.url):] and cookie.has_nonstandard_attr("HttpOnly")
    assert (cookie.get_nonstandard_attr("SameSite") or "").lower() == "strict"
    assert code not in posted.headers["set-cookie"]   # sealed, not the code in the clear
    # the code it shows is the one made, and it works once
    kiosk = Device(dash.url, window_id="W-001")
    assert kiosk.enroll(code).status_code == 200
    used = s.get(page_url)
    assert CODE.search(used.text)[1] == code and 'data-code-state="used"' in used.text


def test_only_the_session_that_made_a_code_sees_it(dash):
    # The page's URL may be seen over a shoulder or in a history; the code it shows must not
    # be: another user, the same user signed in elsewhere, or the URL without its cookie gets
    # a page saying the code is no longer shown, and no new code either.
    maker = dash.login("u01")
    _, page_url = _make(dash, maker)
    code = CODE.search(maker.get(page_url).text)[1]
    sealed = next(c.value for c in maker.cookies if c.name == "agg_enroll_code")
    before = _codes(dash)
    path = page_url[len(dash.url):]
    for who in ("jfb", "u01", "admin"):   # u01 again: the same user, another session
        other = dash.login(who)
        other.cookies.set("agg_enroll_code", sealed, path=path)
        r = other.get(page_url)
        assert r.status_code == 200 and code not in r.text and "data-code-gone" in r.text
    bare = dash.login("u01").get(page_url)
    assert code not in bare.text and "data-code-gone" in bare.text
    assert _codes(dash) == before
    # a viewer may not make codes, so has no code page either
    assert dash.login("viewer").get(page_url).status_code == 403


def test_a_device_bound_code_keeps_its_device_through_the_redirect(dash):
    # The code made for one kiosk (moving it, a new key) says so on the page it lands on.
    s = dash.login("jfb")
    _, page_url = _make(dash, s, window_id="W-002", device_id="kiosk-W-002", ttl_hours="2")
    page = s.get(page_url).text
    assert "data-code-device" in page and "kiosk-W-002" in page
    with read(dash.engine) as conn:
        row = conn.execute(select(enroll_codes).order_by(enroll_codes.c.created_at.desc())
                           .limit(1)).mappings().one()
    assert (row["device_id"], row["window_id"]) == ("kiosk-W-002", "W-002")
    assert abs((row["expires_at"] - row["created_at"]).total_seconds() - 7200) < 2


def test_reloading_in_the_browser_shows_the_same_code(page, dash_sqlite):
    # What a technician does: issue a code, then reload the page. Chromium must send the
    # code page's cookie (SameSite=Strict, its own path) and must not post the form again.
    dash = dash_sqlite
    browser_login(page, dash, "u01")
    page.wait_for_url("**/dashboard/")
    page.goto(f"{dash.url}/dashboard/devices")
    before = _codes(dash)
    page.click("#issue button.primary")
    page.wait_for_url("**/dashboard/devices/codes/*")
    code = page.locator("[data-code]").inner_text()
    page.reload()
    assert page.locator("[data-code]").inner_text() == code
    assert _codes(dash) == before + 1 and code not in page.url


def test_code_view_doctests_pass():
    # The seal's promises (another session, another page: nothing) are stated by example.
    from aggregator.dashboard import code_view

    failed, attempted = doctest.testmod(code_view)
    assert attempted >= 4 and failed == 0
