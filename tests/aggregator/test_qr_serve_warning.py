"""``aggregator serve`` warns when the QR codes it hands to kiosks would point at loopback."""

import uvicorn

from aggregator import cli, logs
from tests.aggregator.conftest import free_port


def _serve(monkeypatch, tmp_path, *args) -> None:
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: None)   # start-up only
    # serve's logging set-up would leave a handler on this test's captured stderr, closed after
    monkeypatch.setattr(logs, "setup", lambda *a, **k: None)
    monkeypatch.setenv("AGGREGATOR_SECRET", "s" * 64)
    monkeypatch.delenv("AGGREGATOR_PUBLIC_URL", raising=False)
    monkeypatch.delenv("AGGREGATOR_DATABASE_URL", raising=False)
    assert cli.main(["serve", "--database", f"sqlite:///{tmp_path}/a.db",
                     "--port", str(free_port()), *args]) in (0, None)


def test_serve_on_a_public_address_with_a_loopback_public_url_warns(monkeypatch, tmp_path,
                                                                       capsys):
    # Served on 0.0.0.0 with the default public URL (http://127.0.0.1:8700), every kiosk's
    # QR code sent citizens' phones to themselves, and nothing said so.
    _serve(monkeypatch, tmp_path, "--host", "0.0.0.0")
    err = capsys.readouterr().err
    assert "loopback" in err and "'http://127.0.0.1:8700'" in err and "--public-url" in err
    _serve(monkeypatch, tmp_path, "--host", "0.0.0.0", "--public-url", "http://localhost:8700")
    assert "loopback" in capsys.readouterr().err
    # served on loopback, or with a real public URL: nothing to say
    _serve(monkeypatch, tmp_path, "--host", "127.0.0.1")
    _serve(monkeypatch, tmp_path, "--host", "0.0.0.0", "--public-url", "https://pj.example.gov.cn")
    assert "loopback" not in capsys.readouterr().err
