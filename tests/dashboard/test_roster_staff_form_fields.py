"""The dashboard's staff form changes the fields it shows and nothing else.

Why it matters: a manager fixes a name or a post; the badge a kiosk signs the person in with,
their PIN, their photo and their unit are not on the form, and a save that reset any of them
would lock the person out of the kiosk or take them off it, unseen by whoever saved."""

from __future__ import annotations

import hashlib
import io
import re

from PIL import Image
from sqlalchemy import select

from aggregator import Settings, device_config, org
from aggregator.db import read, utcnow, write
from aggregator.schema import photos, staff
from tests.dashboard.helpers import post_form

ROSTER = "/dashboard/roster"


def _form_fields(page: str, staff_id: str) -> set[str]:
    """The names of the fields the staff form of ``staff_id`` sends."""
    row = re.search(rf'<tr id="staff-{re.escape(staff_id)}".*?</tr>', page, re.S)
    assert row, f"{staff_id} is not listed"
    form = re.search(r"<form .*?</form>", row[0], re.S)[0]
    return set(re.findall(r'<(?:input|select|textarea)[^>]*\bname="([^"]+)"', form)) - {"csrf"}


def _stored(dash, staff_id: str) -> dict:
    with read(dash.engine) as conn:
        return dict(conn.execute(select(staff).where(staff.c.id == staff_id)).mappings().one())


def _kiosk_view(dash, window_id: str, staff_id: str) -> dict:
    with read(dash.engine) as conn:
        config = device_config.build(conn, {"window_id": window_id}, Settings(secret="x"))
    return next(m for m in config["roster"] if m["staff_id"] == staff_id)


def test_a_staff_form_save_keeps_every_field_the_form_does_not_show(dash):
    out = io.BytesIO()
    Image.new("RGB", (60, 80), (20, 90, 160)).save(out, "PNG")
    sha = hashlib.sha256(out.getvalue()).hexdigest()
    with write(dash.engine) as conn:
        conn.execute(photos.insert().values(sha256=sha, content_type="image/png",
                                            data=out.getvalue(), created_at=utcnow()))
        org.save_staff(conn, {"id": "S-003", "badge": "CARD-77881", "pin": "246810",
                              "photo_sha256": sha, "party_member": True, "stars": 4})
    before = _stored(dash, "S-003")
    kiosk_before = _kiosk_view(dash, before["window_id"], "S-003")
    for user in ("u01", "admin"):   # a unit manager's form, and one with the unit field
        s = dash.login(user)
        shown = _form_fields(s.get(dash.url + ROSTER).text, "S-003")
        hidden = set(staff.c.keys()) - shown - {"id"}
        # what this test is about: the fields the record holds that the form leaves out
        assert {"badge", "pin_hash", "photo_sha256"} <= hidden, hidden
        assert ("unit_id" in hidden) == (user == "u01")
        typed = {"name": "王新名", "staff_no": before["staff_no"], "post": "首席代办员",
                 "pledge": before["pledge"], "stars": "4", "window_id": before["window_id"],
                 "party_member": "1", "active": "1", "unit_id": before["unit_id"]}
        r = post_form(s, dash, f"{ROSTER}/staff/S-003", ROSTER,
                      **{k: v for k, v in typed.items() if k in shown})
        assert r.status_code == 303, re.sub(r"\s+", " ", r.text)[-800:]
        after = _stored(dash, "S-003")
        assert (after["name"], after["post"]) == ("王新名", "首席代办员")
        assert {k: after[k] for k in hidden} == {k: before[k] for k in hidden}, user
    # and the kiosk still signs the person in by badge and PIN, and shows their photo
    kiosk_after = _kiosk_view(dash, before["window_id"], "S-003")
    assert {k: kiosk_after[k] for k in ("badge", "pin_hash", "photo", "party_member")} == \
        {k: kiosk_before[k] for k in ("badge", "pin_hash", "photo", "party_member")}
    assert kiosk_after["photo"] == sha and kiosk_after["badge"] == "CARD-77881"
