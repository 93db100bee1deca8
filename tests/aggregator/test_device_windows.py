"""Which windows a device "served" (docs/protocol.md, POST /api/v1/batches): its own, and those
it was enrolled to before, i.e. the windows of the enrolment codes it used."""

from __future__ import annotations

from tests.aggregator.device import Device, enroll_code


def _status(kiosk: Device, window_id: str) -> str:
    kiosk.window_id = window_id
    r = kiosk.post_batch([kiosk.rating()])
    assert r.status_code == 200, r.text
    return r.json()["results"][0]["status"]


def test_a_code_made_for_a_device_but_never_used_is_no_window_it_served(device, org_setup):
    # A code stores its device id when it is made: a code made for the kiosk to W-002 and
    # never used let it count ratings for W-002 (in another unit, its ratings counted there).
    enroll_code(org_setup, window_id="W-002", device_id=device.id)
    assert _status(device, "W-002") == "rejected"
    # once used (the kiosk moved to W-002), W-001 is a window it served: its older ratings
    # naming W-001 still count there
    moved = Device(org_setup.url, device_id=device.id, window_id="W-002")
    assert moved.enroll(enroll_code(org_setup, window_id="W-002",
                                    device_id=device.id)).status_code == 200
    assert _status(moved, "W-001") == "accepted"
