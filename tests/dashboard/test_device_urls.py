"""Device ids in the Devices page's addresses. Ids were only checked to be printable ASCII, so
a kiosk could be enrolled as "kiosk-W-001/revoke?" or "hall-2/kiosk-1" (new ids with "/",
"?", "#", "%" or "\\" are refused since: tests/aggregator/test_enroll.py); those enrolled
before stay, and the page must address each of them, and only it."""

from __future__ import annotations

import datetime as dt
import html
import re

import pytest
from sqlalchemy import delete, select

from aggregator.dashboard.devices import device_requests
from aggregator.db import read, write
from aggregator.schema import devices

VICTIM, ROGUE, SLASHED = "old-kiosk-v", "old-kiosk-v/revoke?", "hall-2/kiosk-1"


@pytest.fixture
def odd_devices(dash):
    """Three kiosks of U-01 enrolled before ids were checked; removed after the test."""
    ids = (VICTIM, ROGUE, SLASHED)
    with write(dash.engine) as conn:
        conn.execute(devices.insert(), [
            {"id": i, "window_id": "W-001", "unit_id": "U-01", "public_key": "A" * 43 + "=",
             "enrolled_at": dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)} for i in ids])
    yield ids
    with write(dash.engine) as conn:
        conn.execute(delete(device_requests).where(device_requests.c.device_id.in_(ids)))
        conn.execute(delete(devices).where(devices.c.id.in_(ids)))


def _revoked(dash, device_id):
    with read(dash.engine) as conn:
        return conn.execute(select(devices.c.revoked_at)
                            .where(devices.c.id == device_id)).scalar()


def _actions(page: str) -> list[str]:
    return [html.unescape(a) for a in re.findall(r'action="([^"]+)"', page)]


def test_each_button_of_the_devices_page_acts_on_its_own_kiosk(dash, odd_devices):
    # The id went into the form address unencoded: the "Sync now" button of the kiosk
    # "old-kiosk-v/revoke?" posted to /devices/old-kiosk-v/revoke?/sync-now, which revoked
    # old-kiosk-v; and the revoke button of "hall-2/kiosk-1" was a 404.
    supervisor = dash.login("jfb")
    page = supervisor.get(dash.url + "/dashboard/devices").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page)[1]
    actions = _actions(page)
    assert "/dashboard/devices/old-kiosk-v%2Frevoke%3F/sync-now" in actions
    assert "/dashboard/devices/hall-2%2Fkiosk-1/revoke" in actions

    r = supervisor.post(dash.url + "/dashboard/devices/old-kiosk-v%2Frevoke%3F/sync-now",
                        data={"csrf": csrf}, allow_redirects=False)
    assert r.status_code == 303, r.text[:300]
    assert _revoked(dash, VICTIM) is None and _revoked(dash, ROGUE) is None
    with read(dash.engine) as conn:
        asked = set(conn.execute(select(device_requests.c.device_id)).scalars())
    assert ROGUE in asked and VICTIM not in asked

    r = supervisor.post(dash.url + "/dashboard/devices/hall-2%2Fkiosk-1/revoke",
                        data={"csrf": csrf}, allow_redirects=False)
    assert r.status_code == 303, r.text[:300]
    assert _revoked(dash, SLASHED) is not None and _revoked(dash, VICTIM) is None


def test_each_enrol_again_link_opens_the_form_for_its_own_kiosk(dash, odd_devices):
    supervisor = dash.login("jfb")
    page = supervisor.get(dash.url + "/dashboard/devices").text
    for device_id in odd_devices:
        shown = re.escape(html.escape(device_id))
        row = re.search(rf"<td><code>{shown}</code>.*?</tr>", page, re.S)[0]
        link = html.unescape(re.search(r'href="([^"#]+)#issue" data-enroll-again', row)[1])
        form = supervisor.get(dash.url + link).text
        assert re.search(rf'<option value="{shown}" selected>', form), (device_id, link)
