import os

from tests.aggregator.device import Device, now_iso


def test_unknown_device_is_401(org_setup):
    d = Device(org_setup.url)
    r = d.post_batch([d.rating()])
    assert r.status_code == 401 and r.json()["error"] == "unknown_device"


def test_bad_signature_is_401(device):
    other = Device(device.base_url)
    r = device.post_batch([device.rating()], key=other.key)
    assert r.status_code == 401 and r.json()["error"] == "bad_signature"


def test_replayed_nonce_is_401(device):
    nonce = os.urandom(16).hex()
    assert device.post_batch([device.rating()], nonce=nonce).status_code == 200
    r = device.post_batch([device.rating()], nonce=nonce)
    assert r.status_code == 401 and r.json()["error"] == "replayed"


def test_clock_skew_is_401_with_server_time(device):
    r = device.post_batch([device.rating()], timestamp=now_iso(-3600))
    assert r.status_code == 401
    assert r.json()["error"] == "clock_skew" and "server_time" in r.json()


def test_missing_headers_are_401(device):
    import requests
    r = requests.post(device.base_url + "/api/v1/batches", data=b"{}", timeout=10)
    assert r.status_code == 401 and r.json()["error"] == "missing_header"


def test_admin_api_needs_the_token(org_setup):
    import requests
    r = requests.get(f"{org_setup.url}/api/v1/stats", timeout=10)
    assert r.status_code == 401 and r.json()["error"] == "bad_admin_token"
    r = requests.get(f"{org_setup.url}/api/v1/stats",
                     headers={"Authorization": "Bearer wrong"}, timeout=10)
    assert r.status_code == 401
