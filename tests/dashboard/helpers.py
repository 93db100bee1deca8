"""Helpers of the dashboard tests: the running dashboard and sign-in shortcuts."""

from __future__ import annotations

import datetime as dt
import html
import json
import re
import uuid
from dataclasses import dataclass

import requests
from sqlalchemy import delete, select

from aggregator import constants as C
from aggregator import ratings as rating_store
from aggregator.dashboard import sample
from aggregator.dashboard.tables import cases, login_failures
from aggregator.db import write

PASSWORD = sample.PASSWORD
TZ = dt.timezone(dt.timedelta(hours=8))   # the demo hall's (Settings.timezone_offset_hours)


def store_ratings(engine, window: str, unit: str, levels, when: dt.datetime, staff=None,
                  item=None, flags=()) -> None:
    """Ratings of ``levels`` at ``window`` of ``unit`` at ``when``, stored as ingest stores
    them (rollups too); a phone's (channel 3) when no staff member is given; flagged with
    ``flags`` when there are any."""
    rows = [{"id": str(uuid.uuid4()), "device_id": None, "window_id": window, "unit_id": unit,
             "staff_id": staff, "staff_name": None, "service_item": item, "case_no": None,
             "invitation_id": None, "channel": C.CHANNEL_QR if staff is None else
             C.CHANNEL_HALL_TABLET, "level": level, "stars": C.STARS[level], "scale": 5,
             "reasons": json.dumps(["attitude"] if C.STARS[level] <= 2 else []),
             "reasons_version": C.REASONS_VERSION, "comment": None, "phone": None,
             "callback_consent": False, "device_time": when, "server_time": when,
             "rated_at": when, "day": when.astimezone(TZ).date().isoformat(),
             "flags": json.dumps(list(flags)), "flagged": bool(flags)} for level in levels]
    with write(engine) as conn:
        rating_store.store(conn, rows)


def staff_account(dash, staff_id: str, prefix: str) -> str:
    """The username of a dashboard account (role staff) for ``staff_id``, made once."""
    from aggregator.dashboard import accounts
    from aggregator.db import utcnow

    name = f"{prefix}-{staff_id.lower()}"
    with write(dash.engine) as conn:
        if accounts.get_user_by_name(conn, name) is None:
            accounts.create_user(conn, name, PASSWORD, "staff", staff_id=staff_id, now=utcnow())
    return name


@dataclass
class Dashboard:
    url: str
    engine: object
    users: dict

    def case_id(self, unit_id: str, state: str = "new", skip: int = 0) -> int:
        """A case of ``unit_id`` in ``state`` (the ``skip``-th), for tests to work on."""
        with write(self.engine) as conn:
            return conn.execute(select(cases.c.id).where(
                cases.c.unit_id == unit_id, cases.c.state == state,
                cases.c.rating_id != sample.PHONE_RATING)
                .order_by(cases.c.id).offset(skip).limit(1)).scalar_one()

    def phone_case(self) -> int:
        with write(self.engine) as conn:
            return conn.execute(select(cases.c.id).where(
                cases.c.rating_id == sample.PHONE_RATING)).scalar_one()

    def clear_lockouts(self) -> None:
        with write(self.engine) as conn:
            conn.execute(delete(login_failures))

    def login(self, username: str, password: str = PASSWORD) -> requests.Session:
        """A requests session signed in through the login form (CSRF included)."""
        s = requests.Session()
        page = s.get(f"{self.url}/dashboard/login")
        token = re.search(r'name="csrf" value="([^"]+)"', page.text)[1]
        r = s.post(f"{self.url}/dashboard/login", allow_redirects=False, data={
            "username": username, "password": password, "csrf": token, "next": ""})
        assert r.status_code == 303, r.text[:500]
        return s


def csrf_of(session: requests.Session, url: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', session.get(url).text)[1]


def browser_login(page, dash: Dashboard, username: str, password: str = PASSWORD):
    page.goto(f"{dash.url}/dashboard/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")


def post_form(s: requests.Session, dash: Dashboard, path: str, page: str,
              lang: str = "zh_CN", **data) -> requests.Response:
    """POST ``data`` to ``path`` with the CSRF token of ``page``, in ``lang``; no redirects."""
    csrf = csrf_of(s, f"{dash.url}{page}")
    return s.post(f"{dash.url}{path}?lang={lang}", data={"csrf": csrf, **data},
                  allow_redirects=False)


def case_action(s: requests.Session, dash: Dashboard, case_id: int, action: str,
                note: str = "", lang: str = "zh_CN") -> requests.Response:
    """A case action sent from the case's page."""
    page = f"/dashboard/cases/{case_id}"
    return post_form(s, dash, f"{page}/action", page, lang, action=action, note=note)


def refusal_line(r: requests.Response) -> str:
    """The refusal's line in the page's language on the error page."""
    found = re.search(r"<p data-error-problem>(.*?)</p>", r.text, re.S)
    assert found, (r.status_code, re.sub(r"\s+", " ", r.text)[-1200:])
    return html.unescape(found[1]).strip()
