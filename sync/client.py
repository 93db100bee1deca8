"""SyncClient: the kiosk side of docs/protocol.md over HTTP.

The only module that imports ``requests``; its exceptions are translated into ``sync.errors``
in one place (``_send``). The client works on a ``RatingStore`` through its public methods
only, in the caller's thread (the store's connection belongs to that thread).

>>> client = SyncClient("http://127.0.0.1:8700", store, Credentials.load(data_dir))  # doctest: +SKIP
>>> while client.upload_once().status != "empty": pass                                 # doctest: +SKIP
>>> client.pull_config(); client.heartbeat()                                           # doctest: +SKIP
"""

from __future__ import annotations

import collections
import gzip
import json
import logging
import math
import secrets
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlsplit

import requests
from urllib3.exceptions import DecodeError, HTTPError, ProtocolError, ReadTimeoutError

from .answers import Answer, NotFinite, UploadResult, finite_json, parse_time, strip_etag
from .backoff import parse_http_date, parse_retry_after
from .credentials import Credentials
from .device_config_check import device_config_problem
from .errors import (
    AuthRejected,
    BadAnswer,
    BatchRefused,
    ClockSkew,
    EnrolmentFailed,
    NotAuthorised,
    NotEnrolled,
    ServerUnavailable,
    SyncError,
)
from .photos import PhotoCache
from .protocol import (
    HEADER_BOOT,
    HEADER_CLOCK_OFFSET,
    HEADER_DEVICE,
    HEADER_MONO,
    HEADER_NONCE,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    MAX_BATCH_EVENTS,
    MAX_BOOT_ID,
    MAX_MONO_NS,
    server_url_problem,
    signing_string,
)

log = logging.getLogger(__name__)

ENROLL_PATH = "/api/v1/enroll"
BATCHES_PATH = "/api/v1/batches"
CONFIG_PATH = "/api/v1/config"
PHOTOS_PATH = "/api/v1/photos/"
HEARTBEAT_PATH = "/api/v1/heartbeat"

ACKED = ("accepted", "duplicate")
QUARANTINED = ("conflict", "rejected")
RETRYABLE_STATUS = frozenset({408, 429}) | frozenset(range(500, 600))
META_OFFSET = "clock_offset_s"
# {boot id: offset} of the last boots the offset was measured in: an event of an earlier boot
# is dated by its own boot's clock (the heartbeat's oldest_pending_age_s; docs/protocol.md 1.1).
META_BOOT_OFFSETS = "clock_offset_by_boot"
MAX_BOOT_OFFSETS = 16
GZIP_MAGIC = b"\x1f\x8b"  # a JSON body never starts so

# The most an answer may hold, read in chunks and refused past it (a Content-Length above it
# is refused before reading): a 400 MB "photo" from a broken proxy was read whole into the
# kiosk's memory. A photo is at most the server's upload limit (aggregator/api_admin.py
# MAX_PHOTO, 2 MiB; stored photos are that or smaller, staff_photos.py).
MAX_PHOTO_BYTES = 2 * 1024 * 1024
# A device config has no bound of its own on the server (every staff member of the unit with
# a 2,000-character pledge, every service item): 1 MiB refused one of 400 staff with 700-
# character pledges, and that kiosk never took a roster change again.
MAX_CONFIG_BYTES = 32 * 1024 * 1024
MAX_ANSWER_BYTES = 256 * 1024   # batch, heartbeat and enrolment answers
READ_CHUNK = 64 * 1024
# An answer's body must bring at least MIN_PROGRESS bytes in every DEADLINE_FACTOR × timeout
# (45 s by default, ~0.7 KB/s): one trickled a byte a second hung the worker for ever, and a
# fixed deadline for the whole answer refused a 2 MiB photo on any link slower than ~370
# kbit/s, again at every retry.
DEADLINE_FACTOR = 3
MIN_PROGRESS = 32 * 1024

# 401/403 codes of aggregator/auth.py that no retry can pass: the device is revoked or unknown,
# or its key (unchanged since: the worker checks for a new enrolment) does not verify. Any other
# refusal (missing_header, bad_timestamp, bad_nonce, window_forbidden, a code this client does
# not know, a WAF's 403) may be something on the way or a passing state: retried after a while.
FINAL_AUTH_CODES = frozenset({"device_revoked", "unknown_device", "bad_signature"})
AUTH_RETRY_S = 300.0


def _now() -> datetime:
    return datetime.now(timezone.utc).astimezone()


def _json_of(answer: Answer) -> dict[str, Any] | None:
    """The body of ``answer`` as a JSON object, or None when it is anything else (not JSON,
    not an object, or holding a number that is not finite)."""
    try:
        doc = finite_json(answer.content)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    return doc if isinstance(doc, dict) else None


def _boot_id(store: Any) -> str | None:
    """The boot the store stamps on the events it records now, as ``X-Boot-Id`` carries it;
    None when it cannot say (no Linux boot id: "unknown"), or the server would refuse it."""
    boot = getattr(store, "boot_id", None)
    if (not isinstance(boot, str) or boot == "unknown" or not 0 < len(boot) <= MAX_BOOT_ID
            or not all("!" <= c <= "~" for c in boot)):
        return None
    return boot


def _mono_clock(store: Any) -> Callable[[], int] | None:
    """The monotonic clock the store stamps its events' ``mono_ns`` with, None without one."""
    clock = getattr(store, "monotonic_ns", None)
    return clock if callable(clock) else None


def _app_version() -> str:
    try:
        from importlib.metadata import version

        return version("counter-satisfaction-kiosk")
    except Exception:  # not installed (running from a checkout)
        return "0.0.0"


class SyncClient:
    """Uploads the store's outbox, pulls the device config, sends heartbeats.

    ``credentials`` may be None until ``enroll(code)``; ``clock`` is the device wall clock
    (injectable: kiosks have no battery clock). Every connect and socket read has ``timeout``
    seconds, and an answer's body must bring ``MIN_PROGRESS`` bytes in every ``deadline``
    (default 3 × ``timeout``) seconds of its reading.
    """

    def __init__(self, server_url: str, store: Any, credentials: Credentials | None = None, *,
                 timeout: float = 15, session: Any = None,
                 clock: Callable[[], datetime] = _now, data_dir: str | Path | None = None,
                 batch_size: int = MAX_BATCH_EVENTS, app_version: str | None = None,
                 gzip_level: int = 1, pipeline: int = 3, deadline: float | None = None) -> None:
        problem = server_url_problem(server_url)
        if problem:
            raise SyncError(f"server URL {problem}")
        self.server_url = server_url.rstrip("/")
        self.store = store
        self.credentials = credentials
        self.timeout = timeout
        # An answer trickled a byte at a time passed every read timeout, and the worker hung
        # in it for ever (its stop() too): a stretch of reading that brings too little ends it.
        self.deadline = deadline if deadline is not None else DEADLINE_FACTOR * timeout
        self.session = session if session is not None else requests.Session()
        self.clock = clock
        self.data_dir = Path(data_dir) if data_dir is not None else Path(store.path).parent
        self.photos = PhotoCache(self.data_dir / "photos")
        self.batch_size = batch_size
        self.app_version = app_version or _app_version()
        self.gzip_level = gzip_level  # 1: a third of level 6's cost, a few % more bytes
        self.pipeline = max(1, int(pipeline))  # batches in flight in drain()
        self._pool: Any = None
        # Sent with every signed request (X-Boot-Id) and heartbeat: the server dates each event
        # by the clock of the boot it was recorded in (docs/protocol.md, 1.1).
        self.boot_id = _boot_id(store)
        # And the boot's monotonic clock when sending (X-Mono-Ns): a wall clock set right by
        # NTP during the boot cannot move the dates of what the boot recorded before.
        self._mono = _mono_clock(store)
        try:
            self.clock_offset = float(store.get_meta(META_OFFSET, "0") or 0)
        except ValueError:
            self.clock_offset = 0.0
        self._saved_offset = self.clock_offset
        self._boot_offsets_cache: dict[str, float] | None = None
        self.last_skew_s: float | None = None  # device clock minus server clock, last seen
        self.last_error: str | None = None
        self.last_server_time: datetime | None = None

    def __repr__(self) -> str:
        return f"SyncClient({self.server_url!r}, device={getattr(self.credentials, 'device_id', None)!r})"

    # ------------------------------------------------------------------ HTTP
    def _url(self, path: str) -> str:
        return self.server_url + path

    def _send(self, method: str, path: str, body: bytes = b"",
              headers: dict[str, str] | None = None, limit: int = MAX_ANSWER_BYTES) -> Answer:
        """One HTTP exchange, its answer read whole here (so a truncated body fails here)
        within ``limit`` bytes, each ``self.deadline`` of its reading bringing ``MIN_PROGRESS``.
        Every transport failure and a body too slow become ``ServerUnavailable``; an answer cut, undecodable or over ``limit``
        ``BadAnswer`` (both retryable)."""
        url = self._url(path)
        try:
            resp = self.session.request(method, url, data=body or None, headers=headers or {},
                                        timeout=(self.timeout, self.timeout),
                                        allow_redirects=False, stream=True)
            # Counted from the answer's head: a batch sent over a slow link may take longer
            # than a stretch to go up, and each of its writes has its own timeout.
            started = time.monotonic()
            try:
                content = self._read(resp, f"{method} {path}", limit, started)
            finally:
                resp.close()
        except ReadTimeoutError as exc:
            raise ServerUnavailable(f"{method} {path}: no answer within {self.timeout} s "
                                    f"({type(exc).__name__})") from None
        except (ProtocolError, DecodeError) as exc:
            raise BadAnswer(f"{method} {path}: truncated or undecodable answer "
                            f"({type(exc).__name__})") from None
        except HTTPError as exc:   # urllib3's other failures while reading the body
            raise ServerUnavailable(f"{method} {path}: {type(exc).__name__}: {_short(exc)}") from None
        except requests.exceptions.Timeout as exc:
            raise ServerUnavailable(f"{method} {path}: no answer within {self.timeout} s "
                                    f"({type(exc).__name__})") from None
        except requests.exceptions.ConnectionError as exc:
            raise ServerUnavailable(f"{method} {path}: connection failed ({_short(exc)})") from None
        except (requests.exceptions.ChunkedEncodingError,
                requests.exceptions.ContentDecodingError) as exc:
            raise BadAnswer(f"{method} {path}: truncated or undecodable answer "
                            f"({type(exc).__name__})") from None
        except requests.exceptions.RequestException as exc:
            raise ServerUnavailable(f"{method} {path}: {type(exc).__name__}: {_short(exc)}") from None
        return Answer(resp.status_code, {k.lower(): v for k, v in resp.headers.items()}, content)

    def _read(self, resp: Any, what: str, limit: int, started: float) -> bytes:
        """The body of a streamed ``resp``, at most ``limit`` bytes (decoded), read by
        ``read1`` (what has arrived, not a full chunk) so the progress is checked at least
        every ``timeout`` seconds."""
        length = str(resp.headers.get("content-length") or "").strip()
        if length.isdigit() and int(length) > limit:
            raise BadAnswer(f"{what}: an answer of {int(length)} bytes, over the {limit} this "
                            "request takes; not read")
        if getattr(resp, "_content", False) is not False:   # read already (a wrapping session)
            chunks = [resp.content or b""]
        else:
            raw = resp.raw
            read = getattr(raw, "read1", None) or raw.read   # read1: urllib3 2
            chunks, total, mark = [], 0, 0
            while total <= limit:
                if time.monotonic() - started > self.deadline:
                    if total - mark < MIN_PROGRESS:
                        raise ServerUnavailable(
                            f"{what}: the answer came too slowly (under {MIN_PROGRESS} bytes "
                            f"in {self.deadline:g} s)")
                    started, mark = time.monotonic(), total   # progressing: the next stretch
                chunk = read(READ_CHUNK, decode_content=True)
                if not chunk:
                    break
                chunks.append(chunk)
                total += len(chunk)
        content = b"".join(chunks)
        if len(content) > limit:
            raise BadAnswer(f"{what}: an answer of more than {limit} bytes, over what this "
                            "request takes; not read further")
        return content

    def _timestamp(self) -> str:
        return (self.clock() + timedelta(seconds=self.clock_offset)).isoformat()

    def _signed(self, method: str, path: str, body: bytes = b"",
                headers: dict[str, str] | None = None, persist: bool = True,
                limit: int = MAX_ANSWER_BYTES) -> Answer:
        """A signed request; a ``clock_skew`` 401 corrects the offset and retries once."""
        creds = self._creds()
        sign_path = urlsplit(self._url(path)).path
        for attempt in range(2):
            timestamp, nonce = self._timestamp(), secrets.token_hex(16)
            signature = creds.sign(signing_string(method, sign_path, creds.device_id,
                                                  timestamp, nonce, body))
            all_headers = {HEADER_DEVICE: creds.device_id, HEADER_TIMESTAMP: timestamp,
                           HEADER_NONCE: nonce, HEADER_SIGNATURE: signature,
                           HEADER_CLOCK_OFFSET: f"{self.clock_offset:.3f}", **(headers or {})}
            if self.boot_id is not None:
                all_headers[HEADER_BOOT] = self.boot_id
                mono = self.mono_ns()
                if mono is not None:
                    all_headers[HEADER_MONO] = str(mono)
            answer = self._send(method, path, body, all_headers, limit)
            doc = _json_of(answer) if answer.status in (401, 403) else None
            if answer.status == 401 and doc and doc.get("error") == "clock_skew":
                server_time = parse_time(doc.get("server_time"))
                if server_time is None:
                    raise BadAnswer(f"{method} {path}: clock_skew without a usable server_time")
                self._saw_server_time(server_time, persist)
                if attempt == 0:
                    log.info("clock offset corrected to %+.1f s; retrying", self.clock_offset)
                    continue
                raise ClockSkew(f"{method} {path}: server still finds the clock off after "
                                f"correcting it to {self.clock_offset:+.1f} s", status=401,
                                code="clock_skew")
            if answer.status == 401 and doc and doc.get("error") == "replayed":
                # The server saw this nonce already: a proxy sent the request twice and this
                # is the second copy's answer (the first may have committed). Resending with a
                # fresh nonce is safe: a batch's events are taken once, by id. Treated as a
                # refusal, it stopped the device's sync until the kiosk restarted.
                if attempt == 0:
                    log.info("%s %s: the server saw this request already; resending", method, path)
                    continue
                raise BadAnswer(f"{method} {path}: the server found the nonce used twice in a "
                                "row (a proxy repeating requests?)", status=401, code="replayed")
            if answer.status in (401, 403):
                if doc is None or not isinstance(doc.get("error"), str):
                    # Not our server speaking (a proxy asking for a login, say): try again later.
                    raise BadAnswer(f"{method} {path}: {answer.describe()} that is not the "
                                    "protocol's error", status=answer.status)
                if doc["error"] not in FINAL_AUTH_CODES:
                    # A proxy that strips a signing header (missing_header), a WAF's JSON 403,
                    # a closed window, a code of a newer server: every one stopped the kiosk's
                    # sync until someone pressed "sync now". Retried, a while later.
                    raise AuthRejected(f"{method} {path}: refused for now: {answer.describe()}; "
                                       f"tried again in {AUTH_RETRY_S:g} s",
                                       status=answer.status, code=doc["error"],
                                       retry_after=AUTH_RETRY_S)
                raise NotAuthorised(f"device not authorised: {answer.describe()}",
                                    status=answer.status, code=doc["error"])
            return answer
        raise AssertionError("unreachable")

    def mono_ns(self) -> int | None:
        """The store's monotonic clock now (thread-safe: no database), None when it has none."""
        mono = self._mono() if self._mono is not None else None
        return mono if type(mono) is int and 0 <= mono <= MAX_MONO_NS else None

    def _creds(self) -> Credentials:
        if self.credentials is None:
            raise NotEnrolled("this kiosk is not enrolled: enrol it with a code first")
        return self.credentials

    def _saw_server_time(self, server_time: datetime, persist: bool = True) -> None:
        """Remember how far the device clock is from the server's (``persist=False`` from a
        sending thread, which must not touch the store: ``drain`` persists it later)."""
        device_now = self.clock()
        skew = (device_now - server_time).total_seconds()
        self.last_skew_s = skew
        self.last_server_time = server_time
        self.clock_offset = -skew
        if persist:
            self._persist_offset()

    def _fail(self, answer: Answer, what: str) -> SyncError:
        """The error for an answer that is not a success."""
        if answer.status in RETRYABLE_STATUS:
            retry_after = parse_retry_after(answer.headers.get("retry-after"), self._now_for(answer))
            return ServerUnavailable(f"{what}: {answer.describe()}", status=answer.status,
                                     retry_after=retry_after)
        if 300 <= answer.status < 400:
            return BadAnswer(f"{what}: redirected ({answer.describe()}, to "
                             f"{answer.headers.get('location', '?')[:200]})", status=answer.status)
        if 400 <= answer.status < 500:
            doc = _json_of(answer) or {}
            return BatchRefused(f"{what}: {answer.describe()}", status=answer.status,
                                code=doc.get("error"))
        return BadAnswer(f"{what}: unexpected {answer.describe()}", status=answer.status)

    def _now_for(self, answer: Answer) -> datetime:
        """The time a ``Retry-After`` date counts from: the answer's own ``Date`` (RFC 9110
        measures it so), else the device clock corrected by the known offset. The kiosk's raw
        clock may be years off: a date read against it meant a wait of the 24 h cap."""
        sent = parse_http_date(answer.headers.get("date"))
        return sent if sent is not None else self.clock() + timedelta(seconds=self.clock_offset)

    def _note_error(self, exc: SyncError) -> SyncError:
        self.last_error = str(exc)
        return exc

    # ---------------------------------------------------------------- enrol
    def enroll(self, code: str) -> dict[str, Any]:
        """Enrol this device with a one-time code; saves and returns its new credential info."""
        creds = Credentials.generate(self.store.device_id)
        body = json.dumps({"code": code, "device_id": creds.device_id,
                           "public_key": creds.public_key_b64,
                           "app_version": self.app_version}).encode("utf-8")
        answer = self._send("POST", ENROLL_PATH, body, {"Content-Type": "application/json"})
        doc = _json_of(answer)
        if _not_the_server(answer, doc):
            # A wrong path (http://host:8700/wrong) said only "enrolment refused: 404: Not
            # Found", which reads as a wrong code.
            raise self._note_error(EnrolmentFailed(
                f"{self.server_url} does not answer as an aggregation server (POST "
                f"{self._url(ENROLL_PATH)}: {answer.describe()}); check the server address, "
                "e.g. http://host:8700", status=answer.status, code="not_a_server"))
        if answer.status in (400, 404, 409, 410):
            detail = (doc or {}).get("detail") or answer.describe()
            raise self._note_error(EnrolmentFailed(
                f"enrolment refused: {(doc or {}).get('error', answer.status)}: {detail}",
                status=answer.status, code=(doc or {}).get("error")))
        if answer.status != 200:
            raise self._note_error(self._fail(answer, "enrolment"))
        if doc is None or doc.get("device_id") != creds.device_id or not doc.get("window_id"):
            raise self._note_error(BadAnswer(f"enrolment: not the protocol's answer "
                                             f"({answer.describe()})"))
        creds.server_url = self.server_url
        creds.window_id = doc["window_id"]
        creds.unit_id = doc.get("unit_id")
        creds.enrolled_at = doc.get("server_time")
        creds.save(self.data_dir)
        self.credentials = creds
        server_time = parse_time(doc.get("server_time"))
        if server_time is not None:
            self._saw_server_time(server_time)
        log.info("enrolled device %s to window %s at %s", creds.device_id, creds.window_id,
                 self.server_url)
        return {"device_id": creds.device_id, "window_id": creds.window_id,
                "unit_id": creds.unit_id, "unit_name": doc.get("unit_name"),
                "server_time": doc.get("server_time")}

    # --------------------------------------------------------------- upload
    def compress(self, body: bytes) -> bytes:
        """The frozen body as sent: the store freezes it gzipped already; a body frozen as
        plain JSON (by a version before 2026-11) is gzipped with mtime 0, so a retry still
        sends the same bytes."""
        if body[:2] == GZIP_MAGIC:
            return body
        return gzip.compress(body, compresslevel=self.gzip_level, mtime=0)

    def upload_once(self) -> UploadResult:
        """Send the open (or next frozen) batch once and apply the answer.

        Raises ``NotAuthorised`` (stop), or a retryable ``SyncError`` (back off and call again);
        every event stays in the store until an echoed answer lists it.
        """
        self._creds()
        batch = self.store.freeze_batch(max_events=self.batch_size, gzip_level=self.gzip_level)
        if batch is None:
            return UploadResult("empty")
        try:
            answer = self._post_batch(self.compress(bytes(batch["body"])))
        except SyncError as exc:
            raise self._failed(batch, exc) from None
        return self._apply_answer(batch, answer)

    def _post_batch(self, body: bytes, persist: bool = True) -> Answer:
        """Sign and POST one frozen, compressed batch (no store access when not ``persist``)."""
        return self._signed("POST", BATCHES_PATH, body, {
            "Content-Type": "application/json", "Content-Encoding": "gzip"}, persist)

    def _failed(self, batch: dict[str, Any], exc: SyncError) -> SyncError:
        self._note_error(exc)
        if not isinstance(exc, NotAuthorised):
            self.store.note_attempt(batch["id"], str(exc)[:500])
        return exc

    def _apply_answer(self, batch: dict[str, Any], answer: Answer) -> UploadResult:
        """Apply the server's answer to ``batch``: split on 413, mark acked only what an
        answer echoing this batch and device lists; anything else raises (and is noted)."""
        batch_id = batch["id"]
        try:
            if answer.status == 413:
                return self._split(batch, answer)
            if answer.status != 200:
                raise self._fail(answer, f"batch {batch_id}")
            doc = _json_of(answer)
            if (doc is None or doc.get("batch_id") != batch_id
                    or doc.get("device_id") != self._creds().device_id
                    or not isinstance(doc.get("results"), list)):
                raise BadAnswer(f"batch {batch_id}: the answer is not an acknowledgement "
                                f"({answer.describe()})")
        except SyncError as exc:
            raise self._failed(batch, exc) from None
        acked, quarantined = [], {}
        for item in doc["results"]:
            if not isinstance(item, dict) or not isinstance(item.get("id"), str):
                continue
            status = item.get("status")
            if status in ACKED:
                acked.append(item["id"])
            elif status in QUARANTINED:
                quarantined[item["id"]] = f"{status}: {item.get('reason') or ''}".strip()[:500]
        n_acked = self.store.mark_acked(batch_id, acked, quarantined)
        unlisted = []
        if n_acked < batch["n"]:   # the usual answer acks the whole batch: nothing to read
            listed = set(acked) | set(quarantined)
            unlisted = [i for i in _event_ids(batch["body"]) if i not in listed]
        if quarantined:
            log.warning("batch %s: %d events quarantined by the server: %s", batch_id,
                        len(quarantined), "; ".join(list(quarantined.values())[:3]))
        server_time = parse_time(doc.get("server_time"))
        if server_time is not None:
            self._saw_server_time(server_time)
        if unlisted:
            # An answer listing none of the batch (``"results": []``), or some events under a
            # status this client does not know: taken as a success, the worker sent the
            # events again at once, hundreds of times a second, for ever and silently. They
            # are back in the outbox (``mark_acked``: frozen again into a later batch) and the
            # worker backs off.
            raise self._failed(batch, BadAnswer(
                f"batch {batch_id}: the answer left {len(unlisted)} of its {batch['n']} events "
                f"unlisted (e.g. {unlisted[0]}); they stay in the outbox and are sent again"))
        high_water = doc.get("high_water") if isinstance(doc.get("high_water"), dict) else {}
        self.last_error = None  # the heartbeat's last_error is what still goes wrong
        return UploadResult("acked", batch_id, batch["n"], n_acked, quarantined, high_water)

    def _split(self, batch: dict[str, Any], answer: Answer) -> UploadResult:
        """413: send the batch again in halves. One event is kept out (quarantined
        ``too_large``) only when the server itself says it is too large: a proxy's page or a
        passing 413 quarantined ratings for good, though they would have gone through."""
        batch_id = batch["id"]
        doc = _json_of(answer)
        servers = bool(doc) and doc.get("error") == "too_large"
        events = self.store.batch_events(batch_id) if batch["n"] <= 1 else []
        if batch["n"] <= 1 and not servers:
            raise BadAnswer(f"batch {batch_id}: {answer.describe()}, not the server's own "
                            "refusal (a proxy's body limit?); the event stays in the outbox",
                            status=413)
        halves = self.store.split_batch(batch_id, gzip_level=self.gzip_level)
        log.info("batch %s (%d events) too large for %s; split in %d", batch_id, batch["n"],
                 "the server" if servers else "something on the way", len(halves))
        quarantined = {} if halves else {e["id"]: "too_large" for e in events}
        return UploadResult("split", batch_id, batch["n"], 0, quarantined)

    def drain(self, max_batches: int | None = None) -> list[UploadResult]:
        """Upload batch after batch until the outbox is empty (errors propagate).

        With ``pipeline`` > 1, up to that many frozen batches are in flight at once: they are
        sent in seq order from sending threads (which only sign and POST; the store stays in
        this thread), and each answer is applied on its own, in order, as it comes. After a
        failure no new batch is sent; the answers of those in flight are still applied, then
        the first error is raised.
        """
        if self.pipeline <= 1:
            results = []
            while max_batches is None or len(results) < max_batches:
                result = self.upload_once()
                if result.status == "empty":
                    break
                results.append(result)
            return results
        self._creds()
        if self._pool is None:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(self.pipeline, thread_name_prefix="sync-send")
        results: list[UploadResult] = []
        in_flight: collections.deque = collections.deque()
        error: SyncError | None = None
        exhausted = False
        while True:
            while (error is None and not exhausted and len(in_flight) < self.pipeline
                   and (max_batches is None or len(results) + len(in_flight) < max_batches)):
                batch = self.store.freeze_batch(max_events=self.batch_size,
                                                skip={b["id"] for b, _ in in_flight},
                                                gzip_level=self.gzip_level)
                if batch is None:
                    exhausted = True
                    break
                body = self.compress(bytes(batch["body"]))
                in_flight.append((batch, self._pool.submit(self._post_batch, body, False)))
            if not in_flight:
                break
            batch, future = in_flight.popleft()
            try:
                try:
                    answer = future.result()
                except SyncError as exc:
                    raise self._failed(batch, exc) from None
                result = self._apply_answer(batch, answer)
            except SyncError as exc:
                error = error or exc
                continue
            finally:
                self._persist_offset()
            results.append(result)
            if result.status == "split":
                exhausted = False  # the halves are open batches again
        if error is not None:
            raise error
        return results

    def _persist_offset(self) -> None:
        """Keep the offset measured (in the store's thread): the kiosk's, and this boot's."""
        if getattr(self.store, "read_only", None) is not None:
            return  # a database that cannot be written (a full disk): the heartbeat only
        if abs(self.clock_offset - self._saved_offset) > 1.0:
            # Persisted so a restart does not start with a year-old offset of zero.
            self.store.set_meta(META_OFFSET, f"{self.clock_offset:.3f}")
            self._saved_offset = self.clock_offset
        if self.boot_id is None or self.last_server_time is None:
            return
        offsets = self._boot_offsets()
        known = offsets.get(self.boot_id)
        if known is None or abs(known - self.clock_offset) > 1.0:
            # This boot's own: what its events' device_time needs to read server time once
            # the kiosk has rebooted with another clock (the heartbeat's backlog age).
            offsets.pop(self.boot_id, None)
            offsets[self.boot_id] = round(self.clock_offset, 3)
            while len(offsets) > MAX_BOOT_OFFSETS:
                offsets.pop(next(iter(offsets)))
            self.store.set_meta(META_BOOT_OFFSETS, json.dumps(offsets))

    def _boot_offsets(self) -> dict[str, float]:
        """{boot id: clock offset measured in it}, oldest first, as kept in the store."""
        if self._boot_offsets_cache is None:
            try:
                doc = json.loads(self.store.get_meta(META_BOOT_OFFSETS, None) or "{}")
            except (ValueError, RecursionError):
                doc = {}
            self._boot_offsets_cache = {
                k: float(v) for k, v in (doc.items() if isinstance(doc, dict) else ())
                if isinstance(k, str) and isinstance(v, (int, float)) and not isinstance(v, bool)
                and math.isfinite(v)}
        return self._boot_offsets_cache

    def close(self) -> None:
        """Stop the sending threads of ``drain`` (the session stays usable)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    # --------------------------------------------------------------- config
    def pull_config(self) -> dict[str, Any]:
        """Fetch the window's config if it changed, its photos, and apply it to the store.

        A photo that cannot be fetched is logged and shown as an avatar; it is asked for
        again at the next pull (also when the config is unchanged)."""
        stored, etag = self.store.device_config()
        headers = {"If-None-Match": f'"{etag}"'} if etag else {}
        try:
            answer = self._signed("GET", CONFIG_PATH, b"", headers, limit=MAX_CONFIG_BYTES)
            if answer.status == 304:
                fetched, failed = self._fetch_photos(stored or {})
                self.last_error = failed
                return {"status": "unchanged", "etag": etag, "photos_fetched": fetched,
                        "photos_failed": failed}
            if answer.status != 200:
                raise self._fail(answer, "config")
            config = _config_of(answer, self._creds().window_id)
            new_etag = config.get("etag") or strip_etag(answer.headers.get("etag"))
            fetched, failed = self._fetch_photos(config)
        except SyncError as exc:
            self._note_error(exc)
            raise
        version = config["version"]
        self.store.apply_config(config, new_etag, version)
        self.last_error = failed
        log.info("applied config version %s (etag %s), %d new photos", version, new_etag, fetched)
        return {"status": "applied", "etag": new_etag, "version": version,
                "photos_fetched": fetched, "photos_failed": failed}

    def _fetch_photos(self, config: dict[str, Any]) -> tuple[int, str | None]:
        """Fetch the roster's photos not in the cache: (how many were, what failed or None).

        One photo the server (or a proxy) would not give (a 502, a rewritten image, too large)
        failed the whole config pull, and the worker's cycle with it: no heartbeat went out
        and every upload waited out a growing backoff. Now it is logged, the badge shows an
        avatar, and the next pull asks again. Only a final refusal (``NotAuthorised``) passes.
        """
        roster = config.get("roster")
        wanted = {s.get("photo") for s in roster if isinstance(s, dict)} \
            if isinstance(roster, list) else set()
        fetched, failed = 0, []
        for sha in sorted(s for s in wanted if isinstance(s, str) and s):
            if not PhotoCache.valid(sha):
                log.warning("config names a photo %r that is not a SHA-256; skipped", sha)
                continue
            if self.photos.has(sha):
                continue
            try:
                answer = self._signed("GET", PHOTOS_PATH + sha, limit=MAX_PHOTO_BYTES)
                if answer.status == 404:
                    log.warning("photo %s is not on the server; the badge shows an avatar", sha)
                    continue
                if answer.status != 200:
                    raise self._fail(answer, f"photo {sha}")
                try:
                    self.photos.put(sha, answer.content)
                except ValueError as exc:
                    raise BadAnswer(str(exc)) from None
            except NotAuthorised:
                raise
            except SyncError as exc:
                log.warning("photo %s not fetched (%s); the badge shows an avatar and the next "
                            "config pull tries again", sha, exc)
                failed.append(str(exc))
                continue
            fetched += 1
        if not failed:
            return fetched, None
        more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
        return fetched, f"{failed[0]}{more}"[:500]

    # ------------------------------------------------------------ heartbeat
    def heartbeat(self, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """Report the device's health; returns the server's answer."""
        doc = self.health()
        doc.update(extra or {})
        body = json.dumps(doc, ensure_ascii=False).encode("utf-8")
        try:
            answer = self._signed("POST", HEARTBEAT_PATH, body, {"Content-Type": "application/json"})
            if answer.status != 200:
                raise self._fail(answer, "heartbeat")
            reply = _json_of(answer)
            if reply is None:
                raise BadAnswer(f"heartbeat: not the protocol's answer ({answer.describe()})")
        except SyncError as exc:
            self._note_error(exc)
            raise
        server_time = parse_time(reply.get("server_time"))
        if server_time is not None:
            self._saw_server_time(server_time)
        return reply

    def health(self) -> dict[str, Any]:
        """The heartbeat's fields, from the store's diagnostics."""
        diag = self.store.diagnostics()
        age = self._oldest_pending_age(diag) if diag["pending"] else 0.0
        return {
            "app_version": self.app_version,
            "pending": diag["pending"],
            "oldest_pending_age_s": None if age is None else round(age, 1),
            "disk_free_bytes": diag.get("disk_free_bytes"),
            "clock_offset_s": round(self.clock_offset, 3),
            "last_error": (self.last_error or "")[:500] or None,
            "db_bytes": diag.get("db_bytes"),
            "config_version": (self.store.device_config()[0] or {}).get("version"),
            "boot_id": self.boot_id,
            "mono_ns": self.mono_ns() if self.boot_id is not None else None,
        }


    def _oldest_pending_age(self, diag: dict[str, Any]) -> float | None:
        """Seconds the oldest pending event (lowest seq) has waited, by server time; None
        when that cannot be known. It was this kiosk's clock now minus the smallest
        device_time: a backlog of days read 0 s once the kiosk rebooted with its clock further
        back, and ratings of a minute 400 days once NTP set a build-date clock right (the
        server's ``backlog_stuck`` alert counts from it).

        Recorded in this boot: by the monotonic clock, which no clock step moves. Of another
        boot: its device_time corrected by the offset measured in that boot, against the
        clock now corrected by this boot's (docs/protocol.md 1.1)."""
        boot, mono = diag.get("oldest_pending_boot_id"), diag.get("oldest_pending_mono_ns")
        if self.boot_id is not None and boot == self.boot_id:
            now_ns = self.mono_ns()
            if now_ns is not None and type(mono) is int and 0 <= mono <= now_ns:
                return (now_ns - mono) / 1e9
        offsets = self._boot_offsets()
        then = offsets.get(boot) if isinstance(boot, str) else None
        if self.last_server_time is not None:   # measured by this client: in this boot
            now = self.clock_offset
        else:
            now = offsets.get(self.boot_id) if self.boot_id is not None else None
        recorded = parse_time(diag.get("oldest_pending"))
        if recorded is None or then is None or now is None:
            return None
        server_now = self.clock() + timedelta(seconds=now)
        return max(0.0, (server_now - recorded - timedelta(seconds=then)).total_seconds())


def _config_of(answer: Answer, window_id: str | None = None) -> dict[str, Any]:
    """The device config of a 200 answer to ``GET /api/v1/config``, its shape checked
    (sync/device_config_check.py); ``BadAnswer`` naming what is wrong, and then nothing is
    stored: the last good config stays. One wrong-typed field stopped ``kiosk run`` at every
    start, before the sync worker could pull a corrected config."""
    try:
        config = finite_json(answer.content)
    except NotFinite as exc:
        raise BadAnswer(f"config: refused, {exc}; the last good config stays") from None
    except (UnicodeDecodeError, ValueError, RecursionError):   # a captive portal's page
        config = None
    if not isinstance(config, dict):
        raise BadAnswer(f"config: not the protocol's answer ({answer.describe()})")
    problem = device_config_problem(config) or _identity_problem(
        config, window_id, strip_etag(answer.headers.get("etag")))
    if problem:
        raise BadAnswer(f"config: refused, {problem}; the last good config stays")
    return config


def _identity_problem(config: dict[str, Any], window_id: str | None,
                      header_etag: str | None) -> str | None:
    """What a config answer lacks of the protocol's identity: an ``etag`` (the body's, else
    the ``ETag`` header's), a whole ``version``, and a ``window`` whose ``id`` is the window
    this kiosk was enrolled to. A gateway's ``200 {"code": 0, "msg": "ok"}`` passed the shape
    check (every field may be null) and replaced the stored config: roster, window and
    follow-up key gone, and a ``config_applied`` event at every pull."""
    if not (isinstance(config.get("etag"), str) and config["etag"]) and not header_etag:
        return f"etag must be non-empty text, got {config.get('etag')!r:.80}"
    if type(config.get("version")) is not int:
        return f"version must be a whole number, got {config.get('version')!r:.80}"
    window = config.get("window")
    got = window.get("id") if isinstance(window, dict) else None
    if not isinstance(got, str) or not got or (window_id is not None and got != window_id):
        want = f"this kiosk's window {window_id!r}" if window_id else "a window id"
        return f"window.id must be {want}, got {got!r:.80}"
    return None


def _event_ids(body: bytes) -> list[str]:
    """The event ids of a frozen batch body (gzipped, or plain JSON as frozen before 2026-11)."""
    body = bytes(body)
    raw = gzip.decompress(body) if body[:2] == GZIP_MAGIC else body
    return [e["id"] for e in json.loads(raw)["events"]]


def _not_the_server(answer: Answer, doc: Any) -> bool:
    """True when the answer is not the enrolment endpoint's: its refusals always name an
    ``error`` (its only 404 is ``unknown_code``), and its success is JSON. A 404 or 405 of
    another path (the aggregator's own ``not_found`` under a wrong prefix), or a web server's
    page, is someone else's answer."""
    error = doc.get("error") if isinstance(doc, dict) else None
    if answer.status in (404, 405):
        return error != "unknown_code"
    if answer.status in (400, 409, 410):
        return not isinstance(error, str)
    return answer.status == 200 and not isinstance(doc, dict)


def _short(exc: Exception) -> str:
    """What went wrong, short: the innermost reason of requests' wrapping (its ConnectionError
    holds urllib3's MaxRetryError, which holds the NewConnectionError …), its end kept when
    long. Cut at 200 characters from the front, "Connection refused" never showed."""
    inner: BaseException = exc
    for _ in range(5):
        reason = getattr(inner, "reason", None)
        arg = inner.args[0] if inner.args else None
        nested = reason if isinstance(reason, BaseException) else arg
        if not isinstance(nested, BaseException):
            break
        inner = nested
    text = str(inner) or str(exc)
    return text if len(text) <= 200 else "…" + text[-200:]


class AdminClient:
    """The few admin API calls the simulator and the tests need (``Authorization: Bearer``).

    >>> admin = AdminClient("http://127.0.0.1:8700", token)     # doctest: +SKIP
    >>> admin.enroll_code("W-001")["code"]                       # doctest: +SKIP
    'K7Q-2MX-9TD'
    """

    def __init__(self, server_url: str, token: str, *, timeout: float = 15,
                 session: Any = None) -> None:
        self.server_url = server_url.rstrip("/")
        self._token = token
        self.timeout = timeout
        self.session = session if session is not None else requests.Session()

    def __repr__(self) -> str:  # the token never shows
        return f"AdminClient({self.server_url!r})"

    def call(self, method: str, path: str, doc: Any = None) -> Any:
        body = json.dumps(doc, ensure_ascii=False).encode("utf-8") if doc is not None else b""
        headers = {"Authorization": f"Bearer {self._token}", "Content-Type": "application/json"}
        try:
            resp = self.session.request(method, self.server_url + path, data=body or None,
                                        headers=headers, timeout=(self.timeout, self.timeout),
                                        allow_redirects=False)
            answer = Answer(resp.status_code, {k.lower(): v for k, v in resp.headers.items()},
                            resp.content)
        except requests.exceptions.RequestException as exc:
            raise ServerUnavailable(f"{method} {path}: {type(exc).__name__}: {_short(exc)}") from None
        if answer.status in (401, 403):
            raise NotAuthorised(f"admin API refused: {answer.describe()}", status=answer.status)
        if answer.status != 200:
            if answer.status in RETRYABLE_STATUS:
                raise ServerUnavailable(f"{method} {path}: {answer.describe()}", status=answer.status)
            raise BatchRefused(f"{method} {path}: {answer.describe()}", status=answer.status)
        try:
            return finite_json(answer.content)
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise BadAnswer(f"{method} {path}: {answer.describe()} is not JSON") from None

    def save(self, entity: str, items: list[dict[str, Any]]) -> Any:
        """Create or replace organisation rows (``units``, ``windows``, ``staff`` …)."""
        return self.call("POST", f"/api/v1/{entity}", items)

    def enroll_code(self, window_id: str, ttl_hours: float | None = None) -> dict[str, Any]:
        doc: dict[str, Any] = {"window_id": window_id}
        if ttl_hours is not None:
            doc["ttl_hours"] = ttl_hours
        return self.call("POST", "/api/v1/enroll-codes", doc)

    def revoke(self, device_id: str) -> Any:
        return self.call("POST", f"/api/v1/devices/{device_id}/revoke", {})

    def devices(self) -> list[dict[str, Any]]:
        return self.call("GET", "/api/v1/devices")
