"""The shipped nginx config's QR page limits, run by a real nginx in front of a real server
on loopback: a refused phone gets the static Chinese-first page, not nginx's English one."""

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import requests

from tests.aggregator.conftest import free_port

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def _block(conf: str, opening: str) -> str:
    """The block of ``conf`` that starts with ``opening`` (braces counted)."""
    start = conf.index(opening)
    depth, i = 0, conf.index("{", start)
    while True:
        depth += {"{": 1, "}": -1}.get(conf[i], 0)
        if depth == 0:
            return conf[start:i + 1]
        i += 1


@pytest.mark.skipif(NGINX is None, reason="nginx is not installed (apt-get install nginx)")
def test_a_phone_over_nginx_limit_gets_the_chinese_page_and_page_loads_are_limited_less(
        org_setup, tmp_path):
    # Behind the shipped config a rate-limited citizen got nginx's own page: "429 Too Many
    # Requests" in English, where the page promises Chinese and what to do next.
    conf = (DEPLOY / "nginx-aggregator.conf").read_text()
    zones = "\n".join(line for line in conf.splitlines()
                      if re.match(r"(map \$request_method \$qr_|limit_req_zone \$qr_)", line))
    qr_location = _block(conf, "location /r/")
    busy = _block(conf, "location = /qr-busy.html").replace("/var/www/aggregator", str(DEPLOY))
    port, upstream = free_port(), org_setup.url.rsplit(":", 1)[1]
    for d in ("logs", "body", "proxy"):
        (tmp_path / d).mkdir()
    user = "user root;\n" if os.geteuid() == 0 else ""
    (tmp_path / "nginx.conf").write_text(f"""{user}daemon off;
worker_processes 1;
pid {tmp_path}/nginx.pid;
error_log {tmp_path}/logs/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {tmp_path}/body;
    proxy_temp_path {tmp_path}/proxy;
    fastcgi_temp_path {tmp_path}/proxy;
    uwsgi_temp_path {tmp_path}/proxy;
    scgi_temp_path {tmp_path}/proxy;
    upstream aggregator {{ server 127.0.0.1:{upstream}; }}
{zones}
    server {{
        listen 127.0.0.1:{port};
{qr_location}
{busy}
    }}
}}
""")
    proc = subprocess.Popen([NGINX, "-c", str(tmp_path / "nginx.conf"), "-p", str(tmp_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(200):
            try:
                requests.get(url + "/r/W-001", timeout=2)
                break
            except requests.ConnectionError:
                assert proc.poll() is None, proc.stderr.read().decode()
                time.sleep(0.05)
        gets = [requests.get(url + "/r/W-001", timeout=5).status_code for _ in range(30)]
        assert gets == [200] * 30   # a hall's phones opening the page at once
        posts = [requests.post(url + "/r/W-001", data={"level": "satisfied"}, timeout=5)
                 for _ in range(30)]
        refused = [r for r in posts if r.status_code == 429]
        assert refused, [r.status_code for r in posts]
        page = refused[0]
        page.encoding = "utf-8"
        assert "请稍后再试" in page.text and page.text.index("请稍后") < page.text.index("Please")
        assert "Too Many Requests" not in page.text and page.headers["cache-control"] == "no-store"
        # the page is only the error page: not served on its own
        assert requests.get(url + "/qr-busy.html", timeout=5).status_code == 404
    finally:
        proc.terminate()
        proc.wait(timeout=10)
