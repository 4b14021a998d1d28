"""A virtual pump on the bench: the board, the firmware's telemetry link, and the bench's hands.

Why: ``vpump serve`` and in-process tests need the same thing - a board whose firmware answers
the protocol, plus the operations an engineer performs by hand (wand over the pump, advance time,
inject a fault, read the true reservoir).  This class is that, with no I/O of its own; the serve
loop moves bytes and wall-clock time in and out of it.

The syringe work of a refill is the bench's too: when the pump accepts a REFILL, the bench
empties the true reservoir and injects the added volume at the given concentration (into the
tissue pocket instead, if a pocket-fill fault is armed), as the clinician's syringe would.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from firmware.command_link import CommandLink
from hw_sim.board.board import VirtualBoard
from hw_sim.scenarios.timeparse import parse_duration
from protocol.catalog import MsgType
from protocol.device import PairingDecisionError
from protocol.events import Reply, Request

#: Most link wakeups (TELEMETRY events) one advance of bench time produces; the rest coalesce.
TELEMETRY_PER_ADVANCE_MAX = 1024

FAULTS = (
    "motor-stall",
    "mri",
    "low-battery-reset",
    "over-infusion",
    "memory-error",
    "pocket-fill",
    "line-noise",
    "clear",
)

#: Catheter faults the reference device cannot detect (``vpump ctl catheter ...``), and the
#: access-port aspiration.  PCT: partial-occlusion (required, 0 < PCT < 100), leak (optional,
#: default 100: all of the outflow to the tissue).
CATHETER_ACTIONS = (
    "occlusion",
    "partial-occlusion",
    "kink",
    "leak",
    "disconnect",
    "migration",
    "clear",
    "aspirate",
)
#: Default access-port aspiration (the shipped occlusion scenario's): more than the fluid in the
#: default catheter and tubing, so a patent catheter returns CSF.
DEFAULT_ASPIRATE_ML = 0.5
#: The largest aspiration the bench accepts (a syringe's worth).
MAX_ASPIRATE_ML = 10.0
NO_PATIENT = (
    "no patient at the catheter tip: start `vpump serve --patient "
    "spinal_adult|cerebral_adult|child|FILE.toml`"
)


class BenchError(ValueError):
    """A bench command that cannot be carried out (bad name, bad argument)."""


class BenchPump:
    def __init__(
        self,
        board: VirtualBoard,
        *,
        auto_accept_pairing: bool = False,
        console: Callable[[str], None] | None = None,
    ) -> None:
        self.board = board
        #: Scripted rigs only: the pump stores a pairing key without anyone accepting its code.
        self.auto_accept_pairing = auto_accept_pairing
        #: Where the pump's side of pairing is shown (the confirmation code); `vpump serve`
        #: prints it on stderr.
        self.console = console
        if not board.powered:
            board.power_on()
        self.line_noise_ppm = 0
        self.wand = False
        self._staged_refill: dict[str, Any] | None = None  # the last STAGE_REFILL accepted
        #: Set when the physical state changed in a way a restart must not lose (a refill's
        #: syringe work, a fault): the serve loop saves the board state at once, then clears it.
        self.checkpoint_due = False
        self._resets_seen = len(board.resets)
        self.link = self._new_link()

    # -- time and bytes --------------------------------------------------------------------------
    @property
    def now(self) -> int:
        return self.board.now

    def advance_to(self, t: int) -> None:
        """Run the board to ``t``, waking the link at every telemetry interval on the way, so an
        advance of 4 h at a 3600 s interval sends four TELEMETRY events, each with its own pump
        time, as real time would.  At most ``TELEMETRY_PER_ADVANCE_MAX`` wakeups are taken per
        advance; beyond that the remaining intervals are coalesced into the event at ``t``
        (docs/PROTOCOL.md section 8)."""
        t = max(t, self.board.now)
        for _ in range(TELEMETRY_PER_ADVANCE_MAX - 1):
            wake = self.link.next_wakeup()
            if wake is None or wake >= t:
                break
            self.board.run_until(max(wake, self.board.now))
            self._after_board_change()
            self.link.on_timer(self.board.now)
        self.board.run_until(t)
        self._after_board_change()
        self.link.on_timer(t)

    def next_event_time(self) -> int | None:
        times = [
            t for t in (self.board.next_event_time(), self.link.next_wakeup()) if t is not None
        ]
        return min(times) if times else None

    def receive(self, data: bytes, now: int) -> None:
        self.advance_to(now)
        self.link.receive_data(data, self.board.now)
        self._after_board_change()

    def pending_output(self) -> int:
        return self.board.telemetry.pending()

    def take_output(self, max_bytes: int | None = None) -> bytes:
        return self.board.telemetry.drain(max_bytes)

    def _new_link(self) -> CommandLink:
        link = CommandLink(
            self.board.firmware, self.board.hal, auto_accept_pairing=self.auto_accept_pairing
        )
        link.after_request = self._after_request
        link.on_pairing = self._show
        if self.wand:
            link.set_wand(True, self.board.now)
        return link

    def _after_board_change(self) -> None:
        """After any reboot (power cut, reset fault) the firmware is a new one, booted from NVM
        (RAM is lost), so the link is rebuilt on it: sessions end, pairings come from NVM."""
        if len(self.board.resets) != self._resets_seen:
            self._resets_seen = len(self.board.resets)
            self.link = self._new_link()

    def _after_request(self, request: Request, reply: Reply) -> None:
        if not reply.ok:
            return
        body: dict[str, Any] | None = None
        if request.msg is MsgType.REFILL:
            body = request.body
        elif request.msg is MsgType.STAGE_REFILL:
            self._staged_refill = request.body  # what the clinician will inject at the commit
        elif request.msg is MsgType.COMMIT_REFILL:
            body, self._staged_refill = self._staged_refill, None
        if body is not None:
            now = self.board.now
            self.board.aspirate(now)
            self.board.inject(body["added_nl"], body["concentration_mcg_per_ml"], now)

    def _show(self, text: str) -> None:
        if self.console is not None:
            self.console(text)

    # -- the bench's hands ---------------------------------------------------------------------------
    def set_wand(self, on: bool) -> None:
        self.wand = on
        self.link.set_wand(on, self.board.now)

    def accept_pairing(self, code: str) -> None:
        """Accept the waiting pairing: ``code`` is the code the programmer shows, typed in."""
        try:
            self.link.accept_pairing(code, self.board.now)
        except PairingDecisionError as exc:
            raise BenchError(str(exc)) from None

    def reject_pairing(self) -> None:
        try:
            self.link.reject_pairing(self.board.now)
        except PairingDecisionError as exc:
            raise BenchError(str(exc)) from None

    def pairing_status(self) -> dict[str, Any]:
        """What the pump's side of pairing shows: the waiting pairing and its code."""
        endpoint = self.link.endpoint
        now = self.board.now
        pending = endpoint.pending_pairing(now)
        self.link.drain_events(now)  # a pairing that just timed out is audited
        doc: dict[str, Any] = {
            "state": "none",
            "code": None,
            "role": None,
            "programmer_id": None,
            "replaces_key_id": None,
            "accepted": False,
            "auto_accept": self.auto_accept_pairing,
            "patient_pairing_authorized": endpoint.patient_pairing_authorized(now),
        }
        if pending is not None:
            doc.update(
                state="awaiting_acceptance" if pending.confirmed else "awaiting_programmer",
                accepted=pending.accepted,
                code=pending.code,
                role=pending.role.name.lower(),
                programmer_id=pending.programmer_id,
                replaces_key_id=pending.replaces_key_id or None,
            )
        return doc

    def power_cycle(self) -> None:
        self.board.power_cycle(self.board.now)
        self._after_board_change()

    def fault(self, name: str, arg: str | None = None) -> None:
        now = self.board.now
        if name in ("motor-stall", "mri"):
            # DURATION (e.g. 30min): a transient stall; an MRI scan always has one
            if arg is None and name == "mri":
                raise BenchError("mri needs the scan's duration, e.g. 30min")
            until = None if arg is None else now + _duration(arg, name)
            self.board.motor_stall(now, until)
        elif name == "low-battery-reset":
            self.board.low_battery_reset(now)
        elif name == "over-infusion":
            self.board.over_infusion(_number(arg, "over-infusion needs a percentage, e.g. 15"), now)
        elif name == "memory-error":
            self.board.memory_error(now)
        elif name == "pocket-fill":
            self.board.pocket_fill(now)
        elif name == "line-noise":
            rate = _number(arg, "line-noise needs a byte error rate, e.g. 0.01")
            if not 0 <= rate <= 1:
                raise BenchError("line-noise rate must be between 0 and 1")
            self.line_noise_ppm = round(rate * 1_000_000)
        elif name == "clear":
            self.board.clear_faults(now)
            self.line_noise_ppm = 0
        else:
            raise BenchError(f"unknown fault {name!r}; known: {', '.join(FAULTS)}")
        self.checkpoint_due = True
        self._after_board_change()

    def catheter(self, action: str, arg: str | None = None) -> dict[str, Any]:
        """A catheter fault, its repair, or an access-port aspiration (``CATHETER_ACTIONS``)."""
        board, now = self.board, self.board.now
        answer: dict[str, Any] = {}
        if action in ("occlusion", "kink"):
            _no_argument(action, arg)
            board.catheter_occlusion(100.0, now)
        elif action == "partial-occlusion":
            pct = _number(arg, "partial-occlusion needs the blocked share in percent, e.g. 50")
            if not 0 < pct < 100:
                raise BenchError("partial-occlusion PCT must be above 0 and below 100")
            board.catheter_occlusion(pct, now)
        elif action == "leak":
            pct = 100.0 if arg is None else _number(arg, "leak takes a percentage, e.g. 30")
            if not 0 < pct <= 100:
                raise BenchError("leak PCT must be above 0 and at most 100")
            board.catheter_leak(pct, now)
        elif action == "disconnect":
            _no_argument(action, arg)
            board.catheter_disconnect(now)
        elif action == "migration":
            _no_argument(action, arg)
            board.catheter_tip_migration(now)
        elif action == "clear":
            _no_argument(action, arg)
            board.catheter_clear(now)
        elif action == "aspirate":
            answer = self.aspirate_access_port(arg)
        else:
            raise BenchError(
                f"unknown catheter action {action!r}; known: {', '.join(CATHETER_ACTIONS)}"
            )
        self.checkpoint_due = True
        return {**answer, "catheter": board.hw_status()["catheter"]}

    def aspirate_access_port(self, volume: str | None) -> dict[str, Any]:
        """The clinic's patency test: what came back through the catheter access port."""
        ml = DEFAULT_ASPIRATE_ML if volume is None else parse_ml(volume)
        asked_nl = round(ml * 1_000_000)
        got_nl, drug_pg = self.board.aspirate_access_port(asked_nl, self.board.now)
        return {
            "asked_ml": asked_nl / 1_000_000,
            "returned_ml": round(got_nl / 1_000_000, 4),
            "drug_mcg": round(drug_pg / 1_000_000, 3),
            "csf_returned": got_nl >= asked_nl > 0,
        }

    def patient_status(self) -> dict[str, Any]:
        """The patient at the catheter tip (``hw_status()["patient"]``); BenchError if none."""
        link = self.board.patient_link
        if link is None:
            raise BenchError(NO_PATIENT)
        self.board.run_until(self.board.now)
        return link.status()

    def corrupt(self, data: bytes) -> bytes:
        """Line noise: each byte replaced by a random one with the configured probability."""
        if not self.line_noise_ppm or not data:
            return data
        rng = self.board.rng
        out = bytearray(data)
        for i in range(len(out)):
            if rng.randrange(1_000_000) < self.line_noise_ppm:
                out[i] = rng.randrange(256)
        return bytes(out)

    def hw_status(self) -> dict[str, Any]:
        status = self.board.hw_status()
        endpoint = self.link.endpoint
        status["wand"] = self.wand
        status["pairing_window_open"] = endpoint.pairing_window_open(self.board.now)
        status["pairing_code"] = endpoint.pairing_code  # the last code shown
        status["pairing"] = self.pairing_status()
        status["paired_keys"] = len(endpoint.pairings)
        status["line_noise_ppm"] = self.line_noise_ppm
        status["frames_dropped"] = {r.name.lower(): n for r, n in endpoint.decoder.dropped.items()}
        status["unauthenticated_dropped"] = endpoint.unauthenticated.dropped
        status["output_dropped_bytes"] = self.board.telemetry.dropped_bytes()
        return status

    # -- control channel ---------------------------------------------------------------------------
    def control(
        self, request: dict[str, Any], advance: Callable[[int], None] | None = None
    ) -> dict[str, Any]:
        """Carry out one control request (see hw_sim/bench/control.py for the framing).

        ``advance`` lets the serve loop move its own clock along with a time jump.
        """
        cmd = request.get("cmd")
        try:
            if cmd == "wand":
                self.set_wand(bool(request.get("on")))
                return {"ok": True, "wand": self.wand, "pairing_window_open": self.wand}
            if cmd == "advance":
                seconds = parse_duration(request.get("duration", 0))
                (advance or (lambda s: self.advance_to(self.board.now + s)))(seconds)
                return {"ok": True, "time": self.board.now}
            if cmd == "fault":
                self.fault(str(request.get("name")), request.get("arg"))
                return {"ok": True}
            if cmd == "power-cycle":
                self.power_cycle()
                return {"ok": True, "time": self.board.now}
            if cmd == "pairing":
                action = request.get("action")
                if action == "accept":
                    self.accept_pairing(str(request.get("code", "")))
                elif action == "reject":
                    self.reject_pairing()
                elif action != "status":
                    raise BenchError(f"unknown pairing action {action!r}: accept, reject, status")
                return {"ok": True, **self.pairing_status()}
            if cmd == "hw-status":
                return {"ok": True, **self.hw_status()}
            if cmd == "time":
                return {"ok": True, "time": self.board.now}
            if cmd == "patient":
                return {"ok": True, **self.patient_status()}
            if cmd == "catheter":
                arg = request.get("arg")
                answer = self.catheter(
                    str(request.get("action")), None if arg is None else str(arg)
                )
                return {"ok": True, **answer}
        except (BenchError, ValueError, TypeError) as exc:
            return {"ok": False, "error": str(exc)}
        return {"ok": False, "error": f"unknown bench command {cmd!r}"}


def _duration(arg: str, name: str) -> int:
    try:
        seconds = parse_duration(arg)
    except ValueError as exc:
        raise BenchError(f"{name}: {exc}") from None
    if seconds <= 0:
        raise BenchError(f"{name}: the duration must be positive")
    return seconds


def _number(arg: str | None, message: str) -> float:
    try:
        value = float(str(arg))
    except ValueError:
        raise BenchError(message) from None
    if not math.isfinite(value):
        raise BenchError(message)
    return value


def _no_argument(action: str, arg: str | None) -> None:
    if arg is not None:
        raise BenchError(f"catheter {action} takes no argument (got {arg!r})")


def parse_ml(text: str) -> float:
    """An aspiration volume: ``0.5``, ``0.5mL`` or ``500uL``; 1 uL to ``MAX_ASPIRATE_ML``."""
    raw = text.strip().lower().replace("µ", "u")
    scale = 1.0
    if raw.endswith("ul"):
        raw, scale = raw[:-2], 0.001
    elif raw.endswith("ml"):
        raw = raw[:-2]
    message = f"aspiration volume {text!r}: give mL, e.g. 0.5 or 0.5mL (or 500uL)"
    value = _number(raw.strip(), message) * scale
    if not 0.001 <= value <= MAX_ASPIRATE_ML:
        raise BenchError(
            f"aspiration volume {text!r} must be at least 0.001 mL (1 uL) and at most "
            f"{MAX_ASPIRATE_ML:g} mL"
        )
    return value
