"""Server settings from the environment: every one documented, bad values refused up front."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

from aggregator.errors import ConfigError
from aggregator.settings import RANGES, SETTINGS_HELP, Settings

DOCS = Path(__file__).resolve().parents[2] / "docs" / "aggregator.md"


def test_every_setting_has_help_and_a_row_in_the_docs():
    text = DOCS.read_text(encoding="utf-8")
    for f in fields(Settings):
        assert f.name in SETTINGS_HELP, f"{f.name} has no help text"
        row = next((line for line in text.splitlines()
                    if line.startswith(f"| `AGGREGATOR_{f.name.upper()}` |")), None)
        assert row, f"{f.name} has no row in docs/aggregator.md, Settings"
        if f.name in RANGES:
            assert "| {} to {} |".format(*RANGES[f.name]) in row, f"{f.name}: bounds differ"
    assert set(RANGES) <= {f.name for f in fields(Settings)}


def test_settings_are_read_from_the_environment():
    s = Settings.from_env({"AGGREGATOR_TIMEZONE_OFFSET_HOURS": "-5", "AGGREGATOR_TRUST_PROXY": "yes",
                           "AGGREGATOR_SMOOTHING_PRIOR": "7.5", "AGGREGATOR_HOTLINE": "12345-1"})
    assert (s.timezone_offset_hours, s.trust_proxy, s.smoothing_prior, s.hotline) == \
        (-5, True, 7.5, "12345-1")


@pytest.mark.parametrize("name, raw, says", [
    ("SILENT_HOURS", "abc", "must be a whole number from 1 to 8784, got 'abc'"),
    ("TRUST_PROXY", "maybe", "must be one of 1, true, yes, on (or 0, false, no, off), got "
                             "'maybe'"),
    # An offset of 99 hours started the server, and then every page that dates "today" and
    # every batch failed with a 500 (Python's timezone() takes less than 24 hours).
    ("TIMEZONE_OFFSET_HOURS", "99", "must be a number from -12 to 14, got 99"),
    # nan passed float() and would have made every smoothed score NaN.
    ("SMOOTHING_PRIOR", "nan", "must be a number from 0.0 to 1000000.0, got nan"),
    ("QR_RATE_LIMIT_SECONDS", "-1", "must be a number from 0 to 86400, got -1"),
    ("SILENT_HOURS", "0", "must be a number from 1 to 8784, got 0"),
    # Found by probing the CLI: an empty secret signed QR follow-up tokens with HMAC(''),
    # which anyone can compute, and the server called it "unset"; any text went into every
    # kiosk's QR code as the public URL.
    ("SECRET", "", "is empty; unset it"),
    ("PUBLIC_URL", "javascript:alert(1)", "must be an http:// or https:// URL"),
    ("PUBLIC_URL", "not a url", "must be an http:// or https:// URL"),
])
def test_a_bad_value_names_the_variable_its_bounds_and_the_value(name, raw, says):
    with pytest.raises(ConfigError) as err:
        Settings.from_env({f"AGGREGATOR_{name}": raw})
    assert str(err.value).startswith(f"AGGREGATOR_{name} {says}")


@pytest.mark.parametrize("name, raw, allowed", [
    ("SILENT_HOURS", "12.5", "a whole number from 1 to 8784"),
    ("GAP_ALERT_HOURS", "one day", "a whole number from 1 to 8784"),
    ("SMOOTHING_PRIOR", "twenty", "a number from 0.0 to 1000000.0"),
    ("CLOCK_WINDOW_SECONDS", "5m", "a whole number from 30 to 86400"),
])
def test_a_value_that_is_not_a_number_is_told_the_allowed_range(name, raw, allowed):
    # "AGGREGATOR_SILENT_HOURS must be int, got '12.5'" left the operator to guess what to
    # write and then fail again on the range: say both at once, and what the setting is for.
    with pytest.raises(ConfigError) as err:
        Settings.from_env({f"AGGREGATOR_{name}": raw})
    assert str(err.value).startswith(f"AGGREGATOR_{name} must be {allowed}, got {raw!r} (")
