"""Helpers of the operations tests: ``Processes`` starts real ``aggregator serve`` and nginx
subprocesses on loopback and stops them; PostgreSQL databases; an organisation; skip marks."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests

from aggregator import org
from aggregator.db import make_engine, utcnow, write
from aggregator.enroll import create_code
from aggregator.migrations import migrate

ROOT = Path(__file__).resolve().parents[2]
PG_URL = os.environ.get("AGGREGATOR_TEST_PG_URL")
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
ADMIN_TOKEN = "ops-admin-token"

needs_pg = pytest.mark.skipif(
    not PG_URL, reason="AGGREGATOR_TEST_PG_URL is not set (run tests/aggregator/start_pg.sh)")
needs_nginx = pytest.mark.skipif(
    NGINX is None, reason="nginx is not installed (apt-get install nginx)")
BACKENDS = ["sqlite", pytest.param("postgresql", marks=needs_pg)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def new_pg_database() -> str:
    import psycopg

    name = f"agg_ops_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return urlunsplit(urlsplit(PG_URL)._replace(path=f"/{name}"))


def drop_pg_database(url: str) -> None:
    import psycopg

    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _stop(proc: subprocess.Popen, timeout: float = 20) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def wait_http(url: str, proc: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0]} exited with {proc.returncode}:\n"
                               f"{log.read_text(errors='replace')[-3000:]}")
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer in {timeout} s:\n"
                       f"{log.read_text(errors='replace')[-3000:]}")


class Processes:
    """Starts ``aggregator serve`` and nginx subprocesses and stops all of them at the end."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.procs: list[subprocess.Popen] = []

    def aggregator(self, database_url: str, workers: int = 2, name: str = "agg",
                   wait: bool = True) -> tuple[str, subprocess.Popen]:
        port = free_port()
        log = self.tmp / f"{name}-{port}.log"
        env = dict(os.environ, AGGREGATOR_ADMIN_TOKEN=ADMIN_TOKEN,
                   AGGREGATOR_SECRET="ops-secret", AGGREGATOR_TRUST_PROXY="1",
                   PYTHONPATH=str(ROOT))
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        proc = subprocess.Popen(
            [sys.executable, "-m", "aggregator", "serve", "--database", database_url,
             "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)],
            cwd=ROOT, env=env, stdout=open(log, "wb"), stderr=subprocess.STDOUT)
        self.procs.append(proc)
        url = f"http://127.0.0.1:{port}"
        proc.log = log
        if wait:
            wait_http(url + "/healthz", proc, log)
        return url, proc

    def nginx(self, upstream_ports: list[int]) -> str:
        """nginx on a free loopback port, round-robin over ``upstream_ports``."""
        port = free_port()
        prefix = self.tmp / f"nginx-{port}"
        for d in ("logs", "client_body", "proxy"):
            (prefix / d).mkdir(parents=True, exist_ok=True)
        servers = "\n".join(f"        server 127.0.0.1:{p} max_fails=0;" for p in upstream_ports)
        user = "user root;\n" if os.geteuid() == 0 else ""
        conf = prefix / "nginx.conf"
        conf.write_text(f"""{user}daemon off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/logs/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log {prefix}/logs/access.log;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/proxy;
    uwsgi_temp_path {prefix}/proxy;
    scgi_temp_path {prefix}/proxy;
    upstream aggregator {{
{servers}
        keepalive 16;
    }}
    server {{
        listen 127.0.0.1:{port};
        client_max_body_size 1m;
        location / {{
            proxy_pass http://aggregator;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_read_timeout 120s;
            # A batch is idempotent (frozen body, unique event ids): safe to retry elsewhere.
            proxy_next_upstream error timeout http_502 http_503 non_idempotent;
        }}
    }}
}}
""")
        log = prefix / "logs" / "error.log"
        log.touch()
        proc = subprocess.Popen([NGINX, "-c", str(conf), "-p", str(prefix)],
                                stdout=open(prefix / "stdout.log", "wb"),
                                stderr=subprocess.STDOUT)
        self.procs.append(proc)
        url = f"http://127.0.0.1:{port}"
        wait_http(url + "/healthz", proc, log)
        return url

    def stop_all(self) -> None:
        for proc in reversed(self.procs):
            _stop(proc)


def setup_org(url: str, n_windows: int) -> list[str]:
    """One unit with ``n_windows`` windows; returns an enrolment code per window."""
    engine = make_engine(url)
    migrate(engine)
    with write(engine) as conn:
        org.save(conn, "regions", {"id": "R-1", "name": "示范市", "level": "city"})
        org.save(conn, "units", {"id": "U-01", "name": "市民中心", "region_id": "R-1"})
        org.save(conn, "staff", {"id": "S-007", "name": "王芳", "unit_id": "U-01"})
        org.save(conn, "service_items", {"code": "SI-01", "name": "低保申请"})
        codes = []
        for k in range(1, n_windows + 1):
            org.save(conn, "windows", {"id": f"W-{k:03d}", "name": f"窗口{k}", "unit_id": "U-01"})
            codes.append(create_code(conn, f"W-{k:03d}", utcnow())["code"])
    engine.dispose()
    return codes
