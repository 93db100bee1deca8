"""The server's PostgreSQL out of reach (reached through a TCP relay that is cut, as when the
database host goes down or the network between them breaks): every request that needs the
database gets 503 ``database_unavailable`` with ``Retry-After``, the phone page says to try
again later, and once the database is back the same batch is stored once."""

from __future__ import annotations

import socket
import threading

import requests
from sqlalchemy import text
from sqlalchemy.engine import make_url

from aggregator import Settings, create_app
from aggregator.db import make_engine
from tests.aggregator.device import Device
from tests.ops.helpers import drop_pg_database, needs_pg, new_pg_database, setup_org
from tests.serving import serve


class Relay:
    """A TCP relay on loopback to ``target``; ``cut()`` closes every connection and stops
    listening (connections are then refused), ``restore()`` listens again on the same port."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self._open: list[socket.socket] = []
        self._listener: socket.socket | None = None

    def restore(self) -> "Relay":
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        listener.settimeout(0.1)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def cut(self) -> None:
        listener, self._listener = self._listener, None
        listener.close()
        for s in self._open:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()
        self._open.clear()

    def _accept(self, listener: socket.socket) -> None:
        while self._listener is listener:
            try:
                client, _ = listener.accept()
            except (TimeoutError, socket.timeout):
                continue
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self._open += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


@needs_pg
def test_postgresql_out_of_reach_answers_503_and_the_batch_is_stored_once_when_back():
    # It answered 500 "internal server error" and logged a traceback for every request of
    # every kiosk: nothing was lost (the kiosks retry), but an outage looked like a bug, the
    # dashboard and the phone page showed the API's JSON, and nothing said when to retry.
    url = new_pg_database()
    server = None
    try:
        [code] = setup_org(url, 1)
        target = make_url(url)
        relay = Relay(target.host, target.port).restore()
        app = create_app(target.set(port=relay.port).render_as_string(hide_password=False),
                         settings=Settings(admin_token="t", secret="s"), run_migrations=False)
        server, thread, base = serve(app)
        device = Device(base, window_id="W-001")
        assert device.enroll(code).status_code == 200
        assert device.post_batch([device.rating("satisfied") for _ in range(5)]).status_code == 200

        relay.cut()
        body = device.batch_body([device.rating("very_dissatisfied") for _ in range(5)])
        refused = device.post_batch(body=body)
        assert refused.status_code == 503, refused.text[:300]
        assert refused.json()["error"] == "database_unavailable"
        assert int(refused.headers["Retry-After"]) > 0
        phone = requests.get(f"{base}/r/W-001", timeout=30)
        assert phone.status_code == 503 and "评价系统暂时无法使用" in phone.text
        public = requests.get(f"{base}/public/units", timeout=30)
        assert public.status_code == 503 and "系统暂时无法使用" in public.text
        down = requests.get(f"{base}/healthz", timeout=30)
        # the driver's error named the database's host and port to anyone who asked
        assert down.status_code == 503 and "127.0.0.1" not in down.text and "port" not in down.text

        relay.restore()
        again = device.post_batch(body=body)   # the same frozen batch, signed anew
        assert again.status_code == 200, again.text[:300]
        assert {r["status"] for r in again.json()["results"]} == {"accepted"}
        engine = make_engine(url)
        with engine.connect() as conn:
            stored = conn.execute(text("SELECT count(*) FROM events WHERE device_id = :d"),
                                  {"d": device.id}).scalar()
        engine.dispose()
        assert stored == 10
        relay.cut()
    finally:
        if server is not None:
            server.should_exit = True
            thread.join(timeout=15)
            app.state.engine.dispose()
        drop_pg_database(url)
