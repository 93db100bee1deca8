"""Settings of the aggregator, each declared once with its default and help text.

Objects take a ``Settings``; only the CLI reads the environment (``Settings.from_env``).

>>> Settings(admin_token="t").clock_window_seconds
300
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
import secrets
from dataclasses import dataclass, field, fields

from .errors import ConfigError

SETTINGS_HELP = {
    "admin_token": "Bearer token of the admin JSON API (env AGGREGATOR_ADMIN_TOKEN); empty disables it",
    "secret": "Server secret for QR follow-up tokens (env AGGREGATOR_SECRET); random per start if unset",
    "public_url": "Base URL citizens reach the server at, for QR codes (env AGGREGATOR_PUBLIC_URL)",
    "timezone_offset_hours": "Offset of the local day that rollups count in (China: 8)",
    "clock_window_seconds": "Largest accepted difference of a signed request's X-Timestamp from server time",
    "enroll_ttl_hours": "Default lifetime of an enrolment code",
    "qr_rate_limit_seconds": ("A second QR rating from one client IP for one window within this "
                              "interval is stored flagged (lockout), like a kiosk's"),
    "smoothing_prior": "Prior weight C of the Bayesian-smoothed score",
    "clock_alert_seconds": "A device clock further off than this raises an alert",
    "silent_hours": ("A device not heard from for this many hours of working days (the "
                     "dashboard's calendar, site time) raises an alert; so does one heard from "
                     "whose ratings wait this long to be uploaded"),
    "gap_alert_hours": "A sequence gap open for this long raises an alert",
    "zero_bad_min_ratings": ("Unflagged ratings from which not one bad rating in 30 days (else "
                             "in about 90, else about 180) raises an alert"),
    "flagged_bad_alert_count": ("Flagged bad ratings of one window on one day (left out of the "
                                "rates) from which an alert is raised"),
    "volume_alert_factor": ("A window's unflagged ratings of a day (or its QR ratings) above this "
                            "many times its usual daily number raise an alert"),
    "volume_alert_min_extra": ("The volume alert also needs at least this many ratings above "
                               "the usual daily number, so a quiet window's busy day raises "
                               "nothing"),
    "kiosk_burst_count": ("Sent to every kiosk (trigger.burst_count, wins over the kiosk's own): "
                          "a press with this many presses before it within "
                          "kiosk_burst_seconds is flagged burst"),
    "kiosk_burst_seconds": "Sent to every kiosk (trigger.burst_seconds): the span of the burst rule",
    "hotline": "Complaint hotline sent to kiosks when a unit has none",
    "qr_memory_hours": ("A second QR rating for one window from one browser (the page's "
                        "signed cookie), or from one address (an IPv6 /64) that sent no cookie, "
                        "within this many hours is stored flagged (lockout); 0 turns it off"),
    "qr_daily_budget": ("QR ratings of one window stored per day from one address (an IPv6 "
                        "/64); past it the page answers 429 and stores nothing. Raise it for a "
                        "hall whose visitors share one Wi-Fi address"),
    "trust_proxy": ("Behind one reverse proxy: take the client IP from the last X-Forwarded-For "
                    "entry (the one the proxy appended) and https from X-Forwarded-Proto"),
    "trusted_proxies": ("With trust_proxy: the addresses or networks (CIDR, comma-separated) of "
                        "the reverse proxies whose X-Forwarded-For and X-Forwarded-Proto count; "
                        "a request from any other peer is taken at its own address"),
}


# Bounds of the numeric settings, inclusive. Outside them a setting breaks something only later
# and far away: an offset of 99 hours made every page that dates "today" fail with a 500.
RANGES = {
    "timezone_offset_hours": (-12, 14),       # the UTC offsets in use
    "clock_window_seconds": (30, 86_400),
    "enroll_ttl_hours": (1, 24 * 30),          # what enroll.create_code takes
    "qr_rate_limit_seconds": (0, 86_400),
    "smoothing_prior": (0.0, 1_000_000.0),
    "clock_alert_seconds": (1, 30 * 86_400),
    "silent_hours": (1, 24 * 366),
    "gap_alert_hours": (1, 24 * 366),
    "zero_bad_min_ratings": (1, 10_000_000),
    "flagged_bad_alert_count": (1, 1_000_000),
    "volume_alert_factor": (1.0, 1000.0),
    "volume_alert_min_extra": (1, 10_000_000),
    "kiosk_burst_count": (2, 1000),           # the kiosk's own bounds (kiosk/config.py)
    "kiosk_burst_seconds": (1, 3600),
    "qr_memory_hours": (0, 72),
    "qr_daily_budget": (1, 1_000_000),
}


@dataclass
class Settings:
    """Server settings; see ``SETTINGS_HELP`` for each."""

    admin_token: str = field(default="", repr=False)
    secret: str = field(default_factory=lambda: secrets.token_hex(32), repr=False)
    public_url: str = "http://127.0.0.1:8700"
    timezone_offset_hours: int = 8
    clock_window_seconds: int = 300
    enroll_ttl_hours: int = 24
    qr_rate_limit_seconds: int = 60
    smoothing_prior: float = 20.0
    clock_alert_seconds: int = 600
    silent_hours: int = 24
    gap_alert_hours: int = 24
    zero_bad_min_ratings: int = 500
    flagged_bad_alert_count: int = 3
    volume_alert_factor: float = 3.0
    volume_alert_min_extra: int = 100
    kiosk_burst_count: int = 5
    kiosk_burst_seconds: int = 60
    hotline: str = "12345"
    trust_proxy: bool = False
    trusted_proxies: str = "127.0.0.1/8,::1"
    qr_memory_hours: int = 4
    qr_daily_budget: int = 60

    def __post_init__(self) -> None:
        if not self.secret:
            # An empty secret signed QR follow-up tokens with HMAC(''), which anyone can
            # compute; the start-up message even called it "unset".
            raise ConfigError("AGGREGATOR_SECRET is empty; unset it (a random secret per start) "
                              "or set a long random value, e.g. `openssl rand -hex 32`")
        if not re.fullmatch(r"https?://[^\s/?#]+(/\S*)?", self.public_url or ""):
            # it goes into every kiosk's QR code
            raise ConfigError(f"AGGREGATOR_PUBLIC_URL must be an http:// or https:// URL, got "
                              f"{self.public_url!r:.80}")
        proxy_networks(self.trusted_proxies)   # ConfigError naming a bad entry
        for name, (low, high) in RANGES.items():
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and not isinstance(value, bool)
                    and math.isfinite(value) and low <= value <= high):
                raise ConfigError(f"AGGREGATOR_{name.upper()} must be a number from {low} to "
                                  f"{high}, got {value!r} ({SETTINGS_HELP[name]})")

    @classmethod
    def from_env(cls, environ=None, **overrides) -> "Settings":
        """Settings from ``AGGREGATOR_<NAME>`` variables, then ``overrides``."""
        environ = os.environ if environ is None else environ
        values = {}
        for f in fields(cls):
            raw = environ.get(f"AGGREGATOR_{f.name.upper()}")
            if raw is None:
                continue
            values[f.name] = _convert(f.name, raw, type(getattr(cls(), f.name)))
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


def proxy_networks(value: str) -> tuple:
    """The networks of ``trusted_proxies`` ("10.0.0.5, 10.0.1.0/24"); ConfigError naming an
    entry that is neither an address nor a network.

    >>> proxy_networks("127.0.0.1, 10.0.1.0/24")
    (IPv4Network('127.0.0.1/32'), IPv4Network('10.0.1.0/24'))
    """
    out = []
    for entry in (value or "").split(","):
        entry = entry.strip()
        if not entry:
            continue
        try:
            out.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ConfigError(f"AGGREGATOR_TRUSTED_PROXIES: {entry!r:.80} is not an IP address "
                              "or network; give the reverse proxy's addresses or networks, "
                              "comma-separated, e.g. 127.0.0.1,10.0.0.5,10.0.1.0/24") from None
    return tuple(out)


def _convert(name: str, raw: str, kind: type):
    try:
        if kind is bool:
            if raw.lower() in ("1", "true", "yes", "on"):
                return True
            if raw.lower() in ("0", "false", "no", "off", ""):
                return False
            raise ValueError(raw)
        return kind(raw)
    except ValueError:
        raise ConfigError(f"AGGREGATOR_{name.upper()} must be {_allowed(name, kind)}, got "
                          f"{raw!r:.80} ({SETTINGS_HELP[name]})") from None


def _allowed(name: str, kind: type) -> str:
    """What ``AGGREGATOR_<name>`` may be, in words ("must be int" named no range)."""
    if kind is bool:
        return "one of 1, true, yes, on (or 0, false, no, off)"
    what = {int: "a whole number", float: "a number"}.get(kind, kind.__name__)
    if name in RANGES:
        low, high = RANGES[name]
        return f"{what} from {low} to {high}"
    return what
