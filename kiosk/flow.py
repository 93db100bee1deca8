"""The rating session of one window as plain Python: no widgets, no SQL, testable alone.

States (kiosk/constants.py): ``paused`` (nobody signed in, or paused) → ``idle`` (badge and
pledge screen) → ``rate`` (five faces) → ``follow_up`` (only after a bad rating) → ``thanks``
→ ``idle``. ``retry`` is shown instead of ``thanks`` when the store could not commit.

The screens call the methods below and then show ``flow.state``; the app calls ``tick()``
from a clock so that timeouts fire.

>>> flow = RatingFlow(store, FlowSettings(), roster=[{"staff_id": "S1", "name": "王芳", "badge": "1"}])  # doctest: +SKIP
>>> flow.sign_in_badge("1"); flow.start_rating(); flow.rate("satisfied")   # doctest: +SKIP
'thanks'
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable

from . import constants as C
from .config import BY_NAME
from .errors import FlowError, StoreError
from .pin import check_pin, pin_hash_problem

log = logging.getLogger(__name__)
# A face pressed sooner than this after the faces appeared is the tail of the tap that opened
# them, not a choice (see ``RatingFlow.rate``); so is a touch on the follow-up form sooner than
# this after it replaced the faces (``RatingFlow.settling``).
SETTLE_SECONDS = 0.5
# A case number rated less than this ago (in this boot) is not invited again: one service, one
# rating. Half a day covers a hall's opening hours; queue tickets (A012) start again every
# morning, and a kiosk left on overnight takes this morning's A012 (``invite``).
CASE_MEMORY_SECONDS = 12 * 3600
# A finger on the faces (or the follow-up form) holds their timeout: it fires no sooner than
# this after the finger lifted. A face records on release, and a tap that began a moment before
# an invitation's timeout and lifted just after it was lost, recorded as "not rated" (``tick``).
TOUCH_HOLD_SECONDS = 1.0
# ... but a finger down longer than this holds nothing: a resting palm or a stuck touch must
# not keep an invitation open (and the window busy) for ever. No tap lasts this long.
TOUCH_HOLD_MAX_SECONDS = 10.0
# Where an invitation came from (``RatingFlow.invite``): the staff key, or the window's queue
# or business system calling the local endpoint (kiosk/invite_server.py).
SOURCE_KEY = "key"
SOURCE_QUEUE = "http"
# A callback number: digits only, no phone number is shorter or longer (E.164 allows 15).
PHONE_MIN_DIGITS, PHONE_MAX_DIGITS = 5, 15


def callback_number(phone: str | None) -> str | None:
    """``phone`` when it can be a callback number, else None.

    >>> callback_number("13812341234"), callback_number("1381"), callback_number("")
    ('13812341234', None, None)
    """
    if phone and phone.isdigit() and PHONE_MIN_DIGITS <= len(phone) <= PHONE_MAX_DIGITS:
        return phone
    return None


# Config settings (kiosk/config.py) that the session reads, and the field each becomes.
CONFIG_FIELDS = {
    "trigger.mode": "mode",
    "scale.levels": "scale",
    "trigger.lockout_seconds": "lockout_seconds",
    "trigger.invite_timeout_seconds": "invite_timeout_seconds",
    "trigger.burst_count": "burst_count",
    "trigger.burst_seconds": "burst_seconds",
    "idle.return_seconds": "return_seconds",
    "idle.thanks_seconds": "thanks_seconds",
    "window.id": "window_id",
    "window.unit_id": "unit_id",
}


@dataclass
class FlowSettings:
    """What the rating session needs from the configuration."""

    mode: str = C.MODE_OPEN
    scale: int = 5
    lockout_seconds: float = 10
    invite_timeout_seconds: float = 20
    burst_count: int = 5
    burst_seconds: float = 60
    return_seconds: float = 30
    thanks_seconds: float = 4
    window_id: str = "W-001"
    unit_id: str = "U-001"
    reasons: dict[str, tuple[str, ...]] = field(default_factory=lambda: dict(C.REASONS))
    reasons_version: int = C.REASONS_VERSION

    @classmethod
    def from_config(cls, cfg: Any) -> "FlowSettings":
        return cls(**{field_: cfg.get(name) for name, field_ in CONFIG_FIELDS.items()})

    def with_device_config(self, body: dict[str, Any]) -> "FlowSettings":
        """These settings updated by a config pulled from the server (docs/protocol.md);
        fields the server did not send, or sent with a wrong type, keep their value, and so do
        the trigger values outside the kiosk's own limits (kiosk/config.py, logged).

        >>> FlowSettings().with_device_config({"trigger": {"invite_timeout_seconds": 1}}).invite_timeout_seconds
        20
        """
        window = _mapping(body.get("window")) if isinstance(body, dict) else {}
        trigger = _mapping(body.get("trigger")) if isinstance(body, dict) else {}
        body = body if isinstance(body, dict) else {}
        changes: dict[str, Any] = {}
        if body.get("scale") in (4, 5) and not isinstance(body.get("scale"), bool):
            changes["scale"] = int(body["scale"])
        if trigger.get("mode") in (C.MODE_OPEN, C.MODE_INVITED):
            changes["mode"] = trigger["mode"]
        # The kiosk's limits (config.yaml's): an invitation timeout of 1 s recorded every
        # invitation "not rated", a lockout of Infinity flagged every press after the first,
        # a burst count of 0 or 1 would flag every press. A unit must not be able to do that.
        for key in PUSHED_TRIGGER_FIELDS:
            if key not in trigger or trigger[key] is None:
                continue
            value, (low, high) = trigger[key], _limits(f"trigger.{key}")
            if isinstance(value, (int, float)) and not isinstance(value, bool) \
                    and math.isfinite(value) and low <= value <= high:
                changes[key] = int(value) if key == "burst_count" else value
            else:
                log.warning("the server's trigger.%s %r is outside the kiosk's %g to %g; the "
                            "kiosk keeps %r", key, value, low, high, getattr(self, key))
        reasons = body.get("reasons")
        if isinstance(reasons, dict):
            changes["reasons"] = {k: tuple(v) for k, v in reasons.items()
                                  if isinstance(v, list) and all(isinstance(c, str) for c in v)}
            version = reasons.get("version", self.reasons_version)
            changes["reasons_version"] = version if isinstance(version, int) \
                and not isinstance(version, bool) else self.reasons_version
        for key in ("id", "unit_id"):
            if isinstance(window.get(key), str):
                changes["window_id" if key == "id" else key] = window[key]
        return dataclasses.replace(self, **changes)


# The trigger values a server config may set, each within the kiosk's limits (``_limits``).
PUSHED_TRIGGER_FIELDS = ("lockout_seconds", "invite_timeout_seconds", "burst_count",
                         "burst_seconds")


def _limits(name: str) -> tuple[float, float]:
    """The (min, max) kiosk/config.py declares for the setting ``name``."""
    setting = BY_NAME[name]
    return setting.min, setting.max


def roster_from_server(roster: list[Any]) -> list[dict[str, Any]]:
    """The staff of a pulled config's roster, each with a ``pin_hash`` the kiosk can check:
    one that is not as ``kiosk set-pin`` writes it, or has more iterations than a server may
    send (kiosk/pin.py), is left out, logged: that person signs in with the badge only.
    ``check_pin`` runs on the UI thread, and 999,999,999 iterations froze it for minutes."""
    staff_list = []
    for staff in roster:
        staff = dict(staff)
        problem = pin_hash_problem(staff["pin_hash"]) if staff.get("pin_hash") else None
        if problem:
            log.warning("the server's PIN hash of staff %r is ignored (PIN sign-in off for "
                        "them): it %s", staff.get("staff_id"), problem)
            staff["pin_hash"] = ""
        staff_list.append(staff)
    return staff_list


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


class RatingFlow:
    """One window's rating session: staff on duty, invitations, ratings, follow-ups, timeouts."""

    def __init__(
        self,
        store: Any,
        settings: FlowSettings,
        roster: list[dict[str, Any]] | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.settings = settings
        self.roster = list(roster or [])
        self._clock = clock
        self.state = C.ST_PAUSED
        self.staff: dict[str, Any] | None = None
        self.invitation: dict[str, Any] | None = None
        self.deadline: float | None = None
        self.last_error: str | None = None
        # The rating a follow-up will refer to, and what the citizen chose so far.
        self.pending_rating: dict[str, Any] | None = None
        self.chosen: list[str] = []
        # The callback number typed on the follow-up form and whether its consent is ticked,
        # as the form shows them (``set_callback``): a form left to time out keeps a consented
        # number, as it keeps the reasons chosen (``_keep_unfinished``).
        self.callback_phone = ""
        self.callback_consent = False
        self._timer_seconds: float | None = None   # the length of the running timeout
        self._last_counted: float | None = None
        self._rate_opened: float | None = None   # when the faces last appeared
        self._follow_up_opened: float | None = None   # when the follow-up form last appeared
        self._rate_scale: int | None = None      # and how many there were
        self._presses: deque[float] = deque()
        self._fingers: dict[Any, float] = {}   # fingers down on the faces or the form: when
        self._paused = False
        self._staff_removed = False   # the roster dropped the staff signed in
        self.refusal: str | None = None   # why the last invitation was refused (``C.REFUSED_*``)

    # ------------------------------------------------------------- helpers
    def _now(self) -> float:
        return self._clock()

    def _rest_state(self) -> str:
        return C.ST_IDLE if self.staff is not None and not self._paused else C.ST_PAUSED

    def _go_to_rest(self) -> str:
        """The end of a session: idle, paused, or signed out if the roster dropped the staff."""
        if self._staff_removed:
            return self.sign_out(reason="removed_from_roster")
        return self._go(self._rest_state())

    def _go(self, state: str, seconds: float | None = None) -> str:
        if state == C.ST_RATE and self.state != C.ST_RATE:
            self._rate_opened = self._now()
            self._rate_scale = self.settings.scale
        if state == C.ST_FOLLOW_UP and self.state != C.ST_FOLLOW_UP:
            self._follow_up_opened = self._now()
        if state not in (C.ST_RATE, C.ST_FOLLOW_UP):
            self._fingers.clear()
        if state == C.ST_THANKS:
            # A commit just worked (the app clears its status line now): the next failure
            # must show it again, also when its message is the same as the last one's.
            self.last_error = None
        self.state = state
        self._set_deadline(seconds)
        return state

    def _set_deadline(self, seconds: float | None) -> None:
        self.deadline = None if seconds is None else self._now() + seconds
        self._timer_seconds = seconds

    def countdown(self) -> tuple[int, float] | None:
        """What the faces and the follow-up form show of their timeout: (whole seconds left,
        the fraction of the time left, 1 → 0), or None on the other screens.

        The citizen saw no timer: the faces went after 20 s (invited) or 30 s, the form after
        30 s, without a sign. A finger held on the screen (``finger_down``) shows at least 1.
        """
        if self.state not in (C.ST_RATE, C.ST_FOLLOW_UP) or self.deadline is None \
                or not self._timer_seconds:
            return None
        left = max(0.0, round(self.deadline - self._now(), 6))   # 30.000000000000114 is 30
        return math.ceil(left), min(1.0, left / self._timer_seconds)

    def note(self, type_: str, payload: dict[str, Any]) -> dict[str, Any] | None:
        """Record an event whose failure must not stop the window (sign-in, pause, technician
        login …); None when the store failed (the error is kept in ``last_error``)."""
        try:
            event = self.store.record(type_, payload)
            return event
        except StoreError as exc:
            self.last_error = str(exc)
            log.error("could not record %s: %s", type_, exc)
            return None

    def _scale(self) -> int:
        """The scale of the faces shown: the one they opened with while they are up (a config
        pull that switches it changes the next session's faces), else the configured one."""
        return self._rate_scale if self.state == C.ST_RATE and self._rate_scale else self.settings.scale

    def levels(self) -> tuple[str, ...]:
        """The faces to show, best first: while the faces are up, those they opened with, so
        the screen, rebuilt after a technician's visit, shows what ``rate`` takes."""
        return C.levels_for(self._scale())

    def reasons_for(self, level: str) -> tuple[str, ...]:
        return tuple(self.settings.reasons.get(level, ()))

    def update(self, settings: FlowSettings, roster: list[dict[str, Any]] | None = None) -> None:
        """Apply a new configuration (config pull) without losing the current session."""
        self.settings = settings
        if roster is not None:
            self.roster = list(roster)
            if self.staff is not None:
                fresh = next((s for s in self.roster if s.get("staff_id") == self.staff.get("staff_id")), None)
                if fresh is not None:
                    self.staff, self._staff_removed = fresh, False
                else:
                    # Taken off the roster (left, moved to another unit): the idle screen must
                    # not go on showing them, nor ratings name them. A citizen's session in
                    # progress ends first.
                    self._staff_removed = True
                    if self.state in (C.ST_IDLE, C.ST_PAUSED):
                        self._go_to_rest()

    # ----------------------------------------------------------------- staff
    def _sign_in(self, staff: dict[str, Any], method: str) -> str:
        if self._paused and self.staff is not None and self.staff.get("staff_id") == staff.get("staff_id"):
            # The one who paused is back: the window resumes. (A new sign-in was recorded,
            # so the log said a new shift began where there had only been a pause.)
            return self.resume()
        if self.staff is not None and self.staff.get("staff_id") != staff.get("staff_id"):
            self.sign_out()
        self.staff = staff
        self._paused = False
        self.note(
            C.EV_STAFF_SIGN_IN,
            {"staff_id": staff.get("staff_id"), "staff_name": staff.get("name"), "method": method},
        )
        return self._go(C.ST_IDLE)

    def sign_in_badge(self, badge: str) -> bool:
        """Sign in the staff member whose badge the reader typed; False when unknown."""
        badge = badge.strip()
        staff = next((s for s in self.roster if badge and s.get("badge") == badge), None)
        if staff is None:
            return False
        self._sign_in(staff, "badge")
        return True

    def sign_in_pin(self, staff_no: str, pin: str) -> bool:
        """Sign in with staff number and PIN; False on any mismatch."""
        staff = next((s for s in self.roster if staff_no and s.get("staff_no") == staff_no), None)
        if staff is None or not staff.get("pin_hash") or not check_pin(pin, staff["pin_hash"]):
            return False
        self._sign_in(staff, "pin")
        return True

    def sign_out(self, reason: str | None = None) -> str:
        if self.staff is not None:
            payload = {"staff_id": self.staff.get("staff_id")}
            if reason:
                payload["reason"] = reason
            self.note(C.EV_STAFF_SIGN_OUT, payload)
        self.staff = None
        self._staff_removed = False
        self._cancel_session()
        return self._go(C.ST_PAUSED)

    def pause(self) -> str:
        if self.staff is None:
            return self.state
        self._paused = True
        self.note(C.EV_PAUSE, {"staff_id": self.staff.get("staff_id")})
        self._cancel_session()
        return self._go(C.ST_PAUSED)

    def resume(self) -> str:
        if self.staff is None:
            return self.state
        self._paused = False
        self.note(C.EV_RESUME, {"staff_id": self.staff.get("staff_id")})
        return self._go(C.ST_IDLE)

    def _cancel_session(self) -> None:
        if self.invitation is not None:
            self._not_rated()
        if self.state in (C.ST_FOLLOW_UP, C.ST_RETRY) and self.pending_rating is not None:
            # The citizen walked away from the follow-up, also from a submit that could not
            # be saved (the retry screen): the rating stands, the form goes. Kept from the
            # retry screen, the old rating and its reasons came back as the next citizen's
            # follow-up after the pause. Reasons chosen are kept, as a timeout keeps them;
            # with none, nothing is recorded, as after a timeout or "skip" (an empty
            # follow-up event said only that a pause or sign-out came).
            self._keep_unfinished()

    # ------------------------------------------------------------ inviting
    def start_rating(self) -> str:
        """Open mode: the citizen touched "rate" on the idle screen."""
        if self.settings.mode != C.MODE_OPEN or self.state != C.ST_IDLE:
            return self.state
        if self._staff_removed:   # off the roster: no new session names them
            return self._go_to_rest()
        return self._go(C.ST_RATE, self.settings.return_seconds)

    def invite(self, case_no: str | None = None, service_item: str | None = None,
               source: str = SOURCE_KEY) -> bool:
        """An invitation (staff key or the queue system); one rating per invitation.

        Taken at rest, during the last citizen's thank-you (which it ends: the queue system
        calls as soon as the next service is done, and a refusal there lost the invitation),
        and in open mode while the faces wait for a press (the rating then carries the case
        number); refused while a rating or a follow-up is under way.

        One case number, one rating: the same case number again while its invitation is open
        is answered True and changes nothing (a queue system retrying its POST after its own
        timeout); a case number rated in the last ``CASE_MEMORY_SECONDS`` is refused
        (``refusal``). A second invitation of one service was counted as a second rating, and
        re-inviting until the rating was good was a way to steer results.
        """
        self.refusal = None
        if self.staff is None or self._paused:
            self.refusal = C.REFUSED_BUSY
            return False
        if case_no and self.invitation is not None and self.invitation.get("case_no") == case_no:
            log.info("invitation for case %s is already open: nothing new", case_no)
            return True
        if self._staff_removed:
            # Taken off the roster: the session under way ends with them, and no new one
            # starts (an invitation during the thank-you started one, and its rating named
            # the person removed). At rest, they are signed out now; busy, as with nobody on duty.
            if self.state in (C.ST_IDLE, C.ST_PAUSED, C.ST_THANKS):
                self._go_to_rest()
            log.info("invitation refused: the staff member on duty was taken off the roster")
            self.refusal = C.REFUSED_BUSY
            return False
        if case_no:
            self.refusal = self._case_rated_lately(case_no)
            if self.refusal is not None:
                log.warning("invitation for case %s refused: %s today", case_no, self.refusal)
                return False
        waiting_faces = self.state == C.ST_RATE and self.invitation is None
        if self.state not in (C.ST_IDLE, C.ST_THANKS) and not waiting_faces:
            self.refusal = C.REFUSED_BUSY
            return False
        invitation = {
            "invitation_id": str(uuid.uuid4()),
            "source": source,
            "case_no": case_no,
            "service_item": service_item,
            # who invited: a "not rated" recorded for it after a restart names them too
            "staff_id": self.staff.get("staff_id"),
        }
        if self.note(C.EV_INVITATION, invitation) is None:
            self.refusal = C.REFUSED_BUSY
            return False
        self.invitation = invitation
        self._go(C.ST_RATE, self.settings.invite_timeout_seconds)
        return True

    def _case_rated_lately(self, case_no: str) -> str | None:
        """``C.REFUSED_RATED`` when ``case_no`` was rated in the last ``CASE_MEMORY_SECONDS``
        of this boot (the store's record: it survives the app's restart); None otherwise.
        Not after a "not rated": a timeout, a restart or a pause is no rating, and the citizen
        may still give theirs. A store that cannot be read refuses nothing: the invitation's
        own record then fails and says so."""
        try:
            event = self.store.case_rated_lately(case_no, CASE_MEMORY_SECONDS)
        except StoreError as exc:
            log.error("could not look up case %s: %s", case_no, exc)
            return None
        return None if event is None else C.REFUSED_RATED

    def _not_rated(self) -> None:
        inv, self.invitation = self.invitation, None
        if inv is None:
            return
        self.note(
            C.EV_NOT_RATED,
            {
                "invitation_id": inv["invitation_id"],
                "case_no": inv.get("case_no"),
                # the invitation's item, so that the item's response rate counts the silence
                "service_item": inv.get("service_item"),
                "window_id": self.settings.window_id,
                # who invited, as a restart's record says: a sign-out cleared self.staff
                # before it closed the invitation, and "not rated" named nobody
                "staff_id": inv.get("staff_id") or (self.staff or {}).get("staff_id"),
            },
        )

    def close_interrupted_invitation(self, lookback: int = 50) -> bool:
        """At start: record "not rated" for an invitation the last run left open; True if so.

        The kiosk lost power or was restarted while the faces waited for an invited citizen:
        the timeout that records "not rated" never fired, so the invitation was neither rated
        nor counted as unanswered, and the response rate read high. The event names the
        invitation's window, staff member and service item, and is dated now (the restart).
        Such an invitation is among the last events: its run ended within the timeout.
        """
        head, _ = self.store.chain_head()
        left_open: dict[str, Any] | None = None
        for event in self.store.iter_events(after_seq=max(0, head - lookback)):
            payload = event["payload"] or {}
            if event["type"] == C.EV_INVITATION:
                left_open = payload
            elif event["type"] in (C.EV_RATING, C.EV_NOT_RATED) and left_open is not None \
                    and payload.get("invitation_id") == left_open.get("invitation_id"):
                left_open = None
        if left_open is None or not left_open.get("invitation_id"):
            return False
        log.warning("invitation %s was left open by the last run: recorded as not rated",
                    left_open["invitation_id"])
        return self.note(C.EV_NOT_RATED, {
            "invitation_id": left_open["invitation_id"],
            "case_no": left_open.get("case_no"),
            "service_item": left_open.get("service_item"),
            "window_id": self.settings.window_id,
            "staff_id": left_open.get("staff_id"),
        }) is not None

    # --------------------------------------------------------------- rating
    def flags_for_press(self, now: float) -> list[str]:
        """Why a press now would be suspicious (empty when it is a clean rating)."""
        flags = []
        if self.staff is None:
            flags.append(C.FLAG_NO_STAFF)
        if self.settings.mode == C.MODE_INVITED and self.invitation is None:
            flags.append(C.FLAG_OUTSIDE_INVITATION)
        # The queue system's invitation of a case number is one service (one not rated
        # lately: ``invite`` refused it otherwise), so its rating is not a second press within
        # the lockout: it may invite the next citizen seconds after the last rated. The staff
        # key's is not: staff who pressed it during the thank-you and then 非常满意 themselves
        # had every press counted, unflagged.
        if (
            self.settings.mode == C.MODE_OPEN
            and not self._queue_invitation()
            and self._last_counted is not None
            and now - self._last_counted < self.settings.lockout_seconds
        ):
            flags.append(C.FLAG_LOCKOUT)
        while self._presses and now - self._presses[0] >= self.settings.burst_seconds:
            self._presses.popleft()
        if len(self._presses) >= self.settings.burst_count:
            flags.append(C.FLAG_BURST)
        return flags

    def _queue_invitation(self) -> bool:
        inv = self.invitation or {}
        return inv.get("source") == SOURCE_QUEUE and bool(inv.get("case_no"))

    def rate(self, level: str, *, touched: bool = False) -> str:
        """Record a press of one face; flagged presses are recorded too, never dropped.

        ``touched``: the press is a finger on the screen's faces (the app's), so a press in
        the first ``SETTLE_SECONDS`` after they appeared is the tail of the tap that opened
        them and is ignored. Programs that rate (the simulator, the reliability runs) have no
        fingers.
        """
        # The faces the citizen saw: a config pull that switches the scale while they are
        # shown changes the next session's faces, not the choice made on these (a tap on
        # 基本满意 was refused when 5 levels became 4).
        scale = self._scale()
        if level not in C.levels_for(scale):
            raise FlowError(f"unknown level {level!r} for a {scale}-level scale")
        now = self._now()
        if touched and self.state == C.ST_RATE and self._rate_opened is not None \
                and now - self._rate_opened < SETTLE_SECONDS:
            # The second tap of a double tap on "rate" lands on the face that appears under
            # the finger (the rightmost, 非常不满意): it stored a very dissatisfied rating
            # nobody chose. Nobody reads five faces and chooses one this fast.
            log.info("ignored a press of %s %.0f ms after the faces appeared", level,
                     (now - self._rate_opened) * 1000)
            return self.state
        flags = self.flags_for_press(now)
        staff = self.staff or {}
        inv = self.invitation or {}
        payload = {
            "level": level,
            "stars": C.STARS[level],
            "scale": scale,
            "channel": C.CHANNEL_HALL_TABLET,
            "window_id": self.settings.window_id,
            "unit_id": self.settings.unit_id,
            "staff_id": staff.get("staff_id"),
            "staff_name": staff.get("name"),
            "service_item": inv.get("service_item"),
            "case_no": inv.get("case_no"),
            "invitation_id": inv.get("invitation_id"),
            "flags": flags,
        }
        try:
            event = self.store.record(C.EV_RATING, payload)
        except StoreError as exc:
            # Never a false thanks: the citizen is asked to try again, the invitation stays.
            self.last_error = str(exc)
            log.error("rating not recorded: %s", exc)
            return self._go(C.ST_RETRY, self.settings.thanks_seconds)
        self._presses.append(now)
        if not flags:
            self._last_counted = now
        self.invitation = None
        if C.is_bad(level):
            self.pending_rating = event
            self._clear_form()
            return self._go(C.ST_FOLLOW_UP, self.settings.return_seconds)
        return self._go(C.ST_THANKS, self.settings.thanks_seconds)

    def not_now(self, *, touched: bool = False) -> str:
        """The citizen does not want to rate ("暂不评价" under the faces): the session ends at
        once, as its timeout ends it. Invited: recorded "not rated", exactly as the timeout
        records it; open: back to rest, nothing recorded. Never a rating: no default level.

        Without it a mistaken tap on "rate" had to be rated, or waited out for 20-30 s.
        ``touched`` as for ``rate``: a touch in the first ``SETTLE_SECONDS`` after the faces
        appeared is the tail of the tap that opened them, and is ignored.
        """
        if self.state != C.ST_RATE:
            raise FlowError("no faces are shown")
        if touched and self._rate_opened is not None \
                and self._now() - self._rate_opened < SETTLE_SECONDS:
            log.info("ignored a press of 'not now' %.0f ms after the faces appeared",
                     (self._now() - self._rate_opened) * 1000)
            return self.state
        if self.invitation is not None:
            self._not_rated()
        return self._go_to_rest()

    # ------------------------------------------------------------ follow-up
    def toggle_reason(self, code: str) -> list[str]:
        if self.state != C.ST_FOLLOW_UP or self.pending_rating is None:
            raise FlowError("no follow-up is open")
        if code not in self.reasons_for(self.pending_rating["payload"]["level"]):
            raise FlowError(f"unknown reason {code!r}")
        if code in self.chosen:
            self.chosen.remove(code)
        else:
            self.chosen.append(code)
        self._set_deadline(self.settings.return_seconds)
        return list(self.chosen)

    def set_callback(self, phone: str, consent: bool) -> None:
        """The follow-up form's callback number and consent tick as they are now (the form
        calls this at each key and tick). Kept only with the consent ticked, and only when
        it can be a phone number: by a submit, or by a timeout or a pause (``tick``)."""
        if self.state == C.ST_FOLLOW_UP and self.pending_rating is not None:
            self.callback_phone, self.callback_consent = phone or "", bool(consent)

    def _clear_form(self) -> None:
        self.chosen, self.callback_phone, self.callback_consent = [], "", False

    def settling(self) -> bool:
        """True in the first ``SETTLE_SECONDS`` after the follow-up form replaced the faces:
        a touch on it now is the second tap of a double tap on a bad face, which ticked the
        callback consent or typed a digit of the phone number (portrait screens put them
        under the faces). The form ignores it, as the faces ignore their own (``rate``)."""
        return self.state == C.ST_FOLLOW_UP and self._follow_up_opened is not None \
            and self._now() - self._follow_up_opened < SETTLE_SECONDS

    def touch(self) -> None:
        """Any touch on the rate or follow-up screen restarts its idle timeout (not an
        invitation's: that one is a cap, held only while a finger is down, ``finger_down``)."""
        if self.state in (C.ST_RATE, C.ST_FOLLOW_UP) and self.invitation is None:
            self._set_deadline(self.settings.return_seconds)

    def finger_down(self, finger: Any) -> None:
        """A finger (any hashable id, e.g. Kivy's ``touch.uid``) went down on the rate or
        follow-up screen: ``touch``, and until ``finger_up`` the screen's timeout comes no
        sooner than ``TOUCH_HOLD_SECONDS`` after now (``tick``), for at most
        ``TOUCH_HOLD_MAX_SECONDS``. A face records on release: a tap begun just before an
        invitation's timeout was lost when the timeout fired while the finger was down."""
        if self.state not in (C.ST_RATE, C.ST_FOLLOW_UP):
            return
        self.touch()
        self._fingers[finger] = self._now()

    def finger_up(self, finger: Any) -> None:
        self._fingers.pop(finger, None)

    def _hold_for_fingers(self, now: float) -> None:
        if not self._fingers:
            return
        self._fingers = {f: t for f, t in self._fingers.items() if now - t < TOUCH_HOLD_MAX_SECONDS}
        if self._fingers and self.deadline is not None and self.state in (C.ST_RATE, C.ST_FOLLOW_UP):
            self.deadline = max(self.deadline, now + TOUCH_HOLD_SECONDS)

    def _keep_follow_up(self, completed: bool, phone: str | None = None, consent: bool = False,
                        comment: str | None = None) -> bool:
        rating, self.pending_rating = self.pending_rating, None
        if rating is None:
            return True
        payload = {
            "rating_id": rating["id"],
            "reasons": list(self.chosen),
            "reasons_version": self.settings.reasons_version,
            "phone": phone if (phone and consent) else None,
            "callback_consent": bool(phone and consent),
            "comment": comment or None,
            "completed": completed,
        }
        try:
            self.store.record(C.EV_FOLLOW_UP, payload)
        except StoreError as exc:
            # The reasons stay chosen: a submit that failed comes back to its form (tick).
            self.last_error = str(exc)
            log.error("follow-up not recorded: %s", exc)
            return False
        self._clear_form()
        return True

    def _keep_entered(self) -> bool:
        """Keep what the citizen entered on a form they did not send, as an unfinished
        follow-up: the reasons chosen and a number with its consent ticked (never one
        without); nothing when they entered neither. False when the store failed."""
        phone = callback_number(self.callback_phone) if self.callback_consent else None
        if not (self.chosen or phone):
            return True
        return self._keep_follow_up(completed=False, phone=phone, consent=phone is not None)

    def _keep_unfinished(self) -> None:
        """The follow-up form left without a submit (a timeout, a pause, a sign-out): what was
        entered is kept (``_keep_entered``), and the form goes. A consented number typed but
        not sent was lost at the timeout."""
        self._keep_entered()
        self.pending_rating = None
        self._clear_form()

    def submit_follow_up(self, phone: str | None = None, consent: bool = False, comment: str | None = None) -> str:
        """Record the follow-up as the citizen sent it. A callback number is kept only with
        the consent ticked, so a number without it is refused (FlowError) rather than
        dropped: the form asks whether they want a call back, then sends it with the consent
        or without the number. Typed and thrown away, it left a citizen waiting for a call."""
        if self.state != C.ST_FOLLOW_UP:
            raise FlowError("no follow-up is open")
        if phone is not None and callback_number(phone) is None:
            raise FlowError(f"a callback number is {PHONE_MIN_DIGITS} to {PHONE_MAX_DIGITS} "
                            f"digits, got {len(phone)} characters")
        if phone and not consent:
            raise FlowError("a callback number is kept only with the citizen's consent: ask "
                            "them, then submit with the consent or without the number")
        pending = self.pending_rating
        if not self._keep_follow_up(True, phone, consent, comment):
            self.pending_rating = pending  # keep the form; the citizen may try again
            return self._go(C.ST_RETRY, self.settings.thanks_seconds)
        return self._go(C.ST_THANKS, self.settings.thanks_seconds)

    def skip_follow_up(self) -> str:
        """The citizen chose not to say more: the rating stands, with what they entered, as
        when they walk away (``_keep_entered``): the reasons already chosen ("skip" dropped
        them, though many press it to skip the phone number) and a number only with its
        consent ticked (typed and ticked, it was dropped by "skip")."""
        if self.state != C.ST_FOLLOW_UP:
            raise FlowError("no follow-up is open")
        pending = self.pending_rating
        if not self._keep_entered():
            # Never a false thanks: the reasons were not saved. The form comes back with them
            # (as after a submit that failed), and "skip" there tries again.
            self.pending_rating = pending
            return self._go(C.ST_RETRY, self.settings.thanks_seconds)
        self.pending_rating = None
        self._clear_form()
        return self._go(C.ST_THANKS, self.settings.thanks_seconds)

    # -------------------------------------------------------------- timing
    def tick(self) -> str:
        """Fire the timeout of the current state, if it has passed (not while a finger is
        down on the faces or the form: ``finger_down``)."""
        self._hold_for_fingers(self._now())
        if self.deadline is None or self._now() < self.deadline:
            return self.state
        if self.state == C.ST_RATE:
            if self.invitation is not None:
                self._not_rated()
        elif self.state == C.ST_FOLLOW_UP:
            self._keep_unfinished()
        elif self.state == C.ST_RETRY:
            # Back to what could not be saved, as the retry screen says: the follow-up's form
            # with what was chosen (it went to idle, and the reasons and the number were lost
            # while the screen asked for a new rating), or the faces.
            if self.pending_rating is not None:
                return self._go(C.ST_FOLLOW_UP, self.settings.return_seconds)
            if self.invitation is not None:
                return self._go(C.ST_RATE, self.settings.invite_timeout_seconds)
            if self.settings.mode == C.MODE_OPEN and self._rest_state() == C.ST_IDLE:
                return self._go(C.ST_RATE, self.settings.return_seconds)
        return self._go_to_rest()
