"""Bad input: schemathesis over the OpenAPI document, hypothesis-made bodies sent *signed* to
the device endpoints (so they get past authentication into the parsers), a list of nasty bodies
(oversized, deep nesting, huge strings, invalid UTF-8, gzip bombs, wrong types and encodings)
to every POST endpoint, and hypothesis-made kiosk config files.

Every answer must be below 500 and every 4xx a JSON error whose ``detail`` names something;
every bad config file a ``ConfigError`` naming the key or line, never another exception.

(tests/aggregator/test_schemathesis.py runs schemathesis with 30 examples in CI; the signed
fuzzing, the nasty-body list and the config fuzzing are here.)
"""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import requests

from tests.reliability.harness import REPO, LiveServer, Row, count_5xx

NASTY_STRINGS = ("' OR 1=1 --", "<script>alert(1)</script>", "\u0000", "\ud800".encode(
    "utf-8", "surrogatepass").decode("utf-8", "replace"), "𝕏" * 1000, "x" * 300_000, "%s%n",
    "../../etc/passwd", "\u202e", "1e309", "NaN")


def _nasty_bodies() -> list[tuple[str, bytes, dict]]:
    """(label, body, extra headers): malformed bodies of every kind we could think of."""
    bomb = gzip.compress(b"\0" * (64 << 20))  # 64 MiB of zeros in ~64 KiB
    deep = b"[" * 200_000 + b"]" * 200_000
    deep_obj = b'{"a":' * 50_000 + b"1" + b"}" * 50_000
    out = [
        ("empty", b"", {}),
        ("not json", b"hello", {}),
        ("invalid utf-8", b'{"code": "\xff\xfe\xfa"}', {}),
        ("truncated json", b'{"protocol": 1, "events": [', {}),
        ("json array", b"[1,2,3]", {}),
        ("json string", b'"x"', {}),
        ("json null", b"null", {}),
        ("nan", b'{"protocol": NaN}', {}),
        ("huge number", b'{"protocol": 1' + b"0" * 5000 + b"}", {}),
        ("deep array", deep, {}),
        ("deep object", deep_obj, {}),
        ("huge string", json.dumps({"code": "x" * 900_000}).encode(), {}),
        ("oversized", b'{"pad": "' + b"x" * (3 << 20) + b'"}', {}),
        ("gzip bomb", bomb, {"Content-Encoding": "gzip"}),
        ("bad gzip", b"\x1f\x8b\x08\x00garbage", {"Content-Encoding": "gzip"}),
        ("truncated gzip", gzip.compress(b'{"a": 1}')[:-6], {"Content-Encoding": "gzip"}),
        ("brotli claimed", b"{}", {"Content-Encoding": "br"}),
        ("lying length", b"{}", {"Content-Length": "999999999"}),
        ("form body", b"a=1&b=2", {"Content-Type": "application/x-www-form-urlencoded"}),
        ("xml body", b"<?xml version='1.0'?><a/>", {"Content-Type": "application/xml"}),
    ]
    for s in NASTY_STRINGS:
        out.append((f"string {s[:12]!r}", json.dumps({
            "code": s, "device_id": s, "public_key": s, "protocol": s, "batch_id": s,
            "events": s, "app_version": s}).encode(), {}))
    return out


def _good_4xx(r: requests.Response) -> str | None:
    """None when a 4xx answer says what is wrong; else what is missing."""
    ctype = r.headers.get("content-type", "")
    if "json" not in ctype:
        return None if r.status_code in (404, 405, 303, 302) or "html" in ctype else \
            f"{r.status_code} without a JSON or HTML body ({ctype})"
    try:
        doc = r.json()
    except ValueError:
        return f"{r.status_code}: body is not JSON"
    if not isinstance(doc, dict) or not doc.get("error") or not str(doc.get("detail") or ""):
        return f"{r.status_code}: error without a code and detail: {r.text[:120]}"
    return None


def _check_answer(row: Row, label: str, r: requests.Response) -> None:
    row.tried += 1
    if r.status_code >= 500:
        row.problems.append(f"{label}: {r.status_code} {r.text[:120]}")
        return
    if 400 <= r.status_code < 500:
        bad = _good_4xx(r)
        if bad:
            row.problems.append(f"{label}: {bad}")


def _schemathesis(srv: LiveServer, row: Row, examples: int, workdir: Path) -> str:
    st = shutil.which("st") or str(Path(sys.executable).parent / "st")
    if not Path(st).exists():
        return "schemathesis not installed"
    before = sum(srv.counter.statuses.values())
    r = subprocess.run(
        [st, "run", f"{srv.url}/openapi.json", "--checks", "not_a_server_error",
         "--max-examples", str(examples), "--seed", "1", "--workers", "2",
         "--request-timeout", "30", "-H", "Authorization: Bearer reliability-admin-token"],
        capture_output=True, text=True, timeout=1800, cwd=workdir)
    row.tried += sum(srv.counter.statuses.values()) - before
    if r.returncode != 0:
        row.problems.append("schemathesis: " + (r.stdout[-1500:] + r.stderr[-500:]).strip())
    return f"schemathesis {examples} examples/operation"


def _signed_fuzz(srv: LiveServer, row: Row, examples: int) -> None:
    """Hypothesis-made JSON, signed by a real enrolled device, to batches and heartbeat."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from tests.aggregator.device import Device

    device = Device(srv.url, window_id="W-REL-1")
    r = device.enroll(srv.admin.enroll_code("W-REL-1")["code"])
    assert r.status_code == 200, r.text
    scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40)
    anything = st.recursive(scalars, lambda kids: st.lists(kids, max_size=5) | st.dictionaries(
        st.text(max_size=10), kids, max_size=5), max_leaves=30)
    keys = st.sampled_from(["protocol", "device_id", "batch_id", "events", "id", "seq", "type",
                            "device_time", "payload", "prev_hash", "hash", "stream_id",
                            "mono_ns", "boot_id", "level", "stars", "flags", "window_id"])

    def valid_batch():
        ev = device.rating("satisfied")
        return {"protocol": 1, "device_id": device.id, "batch_id": "6a0c3f0e-0000-4000-8000-"
                f"{device.seq:012d}", "events": [ev]}

    @settings(max_examples=examples, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(doc=anything, key=keys, value=anything, where=st.integers(0, 3),
           compress=st.booleans())
    def fuzz(doc, key, value, where, compress):
        # half the time a random document, half a valid batch with one field broken
        if where == 0:
            body_doc = doc
        else:
            body_doc = valid_batch()
            target = body_doc if where == 1 else body_doc["events"][0]
            if where == 3:
                target = target["payload"]
            target[key] = value
        raw = json.dumps(body_doc, allow_nan=True).encode()
        for path in ("/api/v1/batches", "/api/v1/heartbeat"):
            body = gzip.compress(raw) if compress and path.endswith("batches") else raw
            h = {"Content-Type": "application/json",
                 **device.headers("POST", path, body)}
            if compress and path.endswith("batches"):
                h["Content-Encoding"] = "gzip"
            resp = requests.post(srv.url + path, data=body, headers=h, timeout=30)
            _check_answer(row, f"signed {path} {key}", resp)
            if resp.status_code == 200 and path.endswith("batches"):
                for item in resp.json().get("results", []):
                    if item.get("status") == "rejected" and not item.get("reason"):
                        row.problems.append(f"rejected without a reason: {item}")
        resp = requests.post(srv.url + "/api/v1/enroll", data=raw,
                             headers={"Content-Type": "application/json"}, timeout=30)
        _check_answer(row, "enroll fuzz", resp)

    fuzz()


def _nasty(srv: LiveServer, row: Row) -> None:
    from tests.aggregator.device import Device

    device = Device(srv.url, window_id="W-REL-2")
    r = device.enroll(srv.admin.enroll_code("W-REL-2")["code"])
    assert r.status_code == 200, r.text
    admin = {"Authorization": "Bearer reliability-admin-token"}
    for label, body, extra in _nasty_bodies():
        for path, signed, hdrs in (
                ("/api/v1/enroll", False, {}), ("/api/v1/batches", True, {}),
                ("/api/v1/heartbeat", True, {}), ("/api/v1/enroll-codes", False, admin),
                ("/api/v1/units", False, admin), ("/api/v1/roster/import", False, admin),
                ("/r/W-REL-1", False, {}), ("/dashboard/login", False, {})):
            h = {"Content-Type": "application/json", **hdrs, **extra}
            if signed:
                h.update(device.headers("POST", path, body))
            try:
                resp = requests.post(srv.url + path, data=body, headers=h, timeout=60,
                                     allow_redirects=False)
            except requests.ConnectionError as exc:
                if extra.get("Content-Length"):  # our own lie: the server waits, we give up
                    row.tried += 1
                    continue
                row.problems.append(f"{label} {path}: connection failed: {exc}")
                continue
            except requests.Timeout:
                row.tried += 1
                continue
            _check_answer(row, f"{label} {path}", resp)


def _config_fuzz(row: Row, examples: int) -> None:
    """Random and mutated config files: a ConfigError naming a key or line, nothing else."""
    import yaml
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from kiosk.config import load_config_text
    from kiosk.errors import ConfigError

    sample = (REPO / "config.yaml").read_text(encoding="utf-8")
    base = yaml.safe_load(sample)
    paths = []

    def walk(node, prefix):
        if isinstance(node, dict):
            for k, v in node.items():
                paths.append(prefix + (k,))
                walk(v, prefix + (k,))

    walk(base, ())
    scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | \
        st.text(max_size=30)
    values = st.recursive(scalars, lambda k: st.lists(k, max_size=3) | st.dictionaries(
        st.text(max_size=8), k, max_size=3), max_leaves=8)

    @settings(max_examples=examples, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(path=st.sampled_from(paths), value=values, raw=st.text(max_size=200),
           mode=st.integers(0, 2))
    def fuzz(path, value, raw, mode):
        if mode == 0:
            text = raw  # any text at all
        elif mode == 1:
            doc = yaml.safe_load(sample)
            node = doc
            for k in path[:-1]:
                node = node[k]
            node[path[-1]] = value
            text = yaml.safe_dump(doc, allow_unicode=True)
        else:
            text = sample[:len(raw) * 10 % max(1, len(sample))] + raw  # cut and garbled
        row.tried += 1
        try:
            load_config_text(text)
        except ConfigError as exc:
            msg = str(exc)
            if not msg or ("line" not in msg and ":" not in msg):
                row.problems.append(f"config error names nothing: {msg!r}")
        except Exception as exc:  # any other exception would crash the kiosk at start
            row.problems.append(f"config {type(exc).__name__}: {exc} for {text[:80]!r}")

    fuzz()


def run(examples: int = 20, workdir: Path | None = None) -> Row:
    row = Row("bad input (fuzzing)")
    workdir = Path(workdir or tempfile.mkdtemp(prefix="rel-bad-input-"))
    with LiveServer(workdir / "aggregator.db") as srv:
        note = _schemathesis(srv, row, examples, workdir)
        _signed_fuzz(srv, row, examples * 5)
        _nasty(srv, row)
        _config_fuzz(row, examples * 10)
        count_5xx(row, srv.counter)
    row.note = f"{note}; signed hypothesis fuzz; {len(_nasty_bodies())} nasty bodies × 8 " \
               "endpoints; config files" + ("; " + row.note if row.note else "")
    return row
