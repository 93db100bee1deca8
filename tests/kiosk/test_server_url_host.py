"""A server URL whose host is no host name is refused with its key and line: `sync.server:
'http://exa mple.com'` passed `kiosk check-config` (only the scheme and that there was a host
were checked), and the kiosk then failed every sync for ever. Chinese domain names (IDNA) and
IPv6 literals still pass."""

from __future__ import annotations

import pytest
import yaml

from kiosk.config import load_config_text
from kiosk.errors import ConfigError
from sync.protocol import server_url_problem
from tests.kiosk.cli_run import kiosk


@pytest.mark.parametrize("url", [
    "http://exa mple.com", "http://exa\tmple.com", "http://exa\u3000mple.com", "http://exa%20mple.com",
    "http://exa<mple.com", "http://a..b:8700", "http://-agg.example.gov.cn", "http://999.1.1.1:8700",
    "https://agg.exa\u00a0mple.gov.cn",
])
def test_a_host_that_is_no_host_name_is_refused_with_key_and_line(url):
    text = yaml.safe_dump({"window": {"id": "W"}, "sync": {"server": url}}, sort_keys=False,
                          allow_unicode=True)   # the URL as it is, tab and all
    with pytest.raises(ConfigError) as err:
        load_config_text(text)
    assert "line 4: sync.server " in str(err.value), str(err.value)
    assert server_url_problem(url) is not None


@pytest.mark.parametrize("url", [
    "https://pj.example.gov.cn:8443/agg", "http://127.0.0.1:8700", "http://localhost:8700",
    "http://[::1]:8700", "http://[2001:db8::1]/", "http://[fe80::1%25eth0]:8700",
    "http://政务服务.中国:8700", "https://评价.example.gov.cn/", "http://agg_server:8700",
    "https://agg.example.gov.cn./",
    # IPv4 as the resolver reads it: these connected before the check, so a kiosk's config
    # holding one must not be refused at its upgrade
    "http://192.168.1:8700", "http://010.1.1.1:8700",
])
def test_host_names_ip_addresses_and_chinese_domain_names_pass(url):
    assert server_url_problem(url) is None
    assert load_config_text(f"sync:\n  server: '{url}'\n").sync.server == url


def test_check_config_says_which_line(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("window: {id: W, unit_id: U}\nsync:\n  server: 'http://exa mple.com'\n", encoding="utf-8")
    out = kiosk("check-config", str(path))
    assert out.returncode == 2 and "OK" not in out.stdout
    assert "line 3: sync.server must not contain spaces or control characters, got " \
           "'http://exa mple.com'" in out.stderr
