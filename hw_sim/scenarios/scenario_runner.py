"""Play a scenario on a virtual board, offline and deterministically, and collect its report.

Why: ``vpump run`` must replay years of a pump's life in about a second and give the same bytes
every time.  Actions are board events (same-time actions in file order); between them the board
jumps from firmware wakeup to firmware wakeup.  Every few simulated days the runner looks at the
pump (status, alarm transitions, daily totals from the therapy log) the way a remote monitor
would; it never steers the firmware except through the clinical API and the bench faults.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from functools import partial
from typing import Any

from firmware.prescription import (
    BridgeBolus,
    Continuous,
    Flex,
    FlexStep,
    PatientBolusConfig,
    PrimingBolus,
    SingleBolus,
    Stopped,
    TherapyChange,
)
from firmware.pump import PumpFirmware
from firmware.reports import PumpStatus
from hw_sim.board.board import VirtualBoard
from hw_sim.board.programmed import ProgrammedLedger
from hw_sim.board.scheduler import ScheduledEvent
from hw_sim.profiles.loader import LoadedProfile, load_profile
from hw_sim.scenarios.report import ScenarioReport
from hw_sim.scenarios.scenario import Action, Scenario, parse_clock_offset
from hw_sim.scenarios.timeparse import DAY_S, parse_datetime
from patient.screening import screening_trial
from protocol.catalog import StageWarning
from protocol.enums import AlarmId
from protocol.errors import Refusal

ACTION_PRIORITY = 10  # scenario actions, in file order
RULE_PRIORITY = 20  # recurring refills run after the actions of the same second
WATCH_INTERVAL_S = 7 * DAY_S  # how often the runner looks at the pump


class ScenarioRunner:
    """One scenario on one fresh board."""

    def __init__(self, scenario: Scenario, profile: LoadedProfile | None = None) -> None:
        self.scenario = scenario
        self.profile = profile or load_profile(scenario.profile)
        self.board = VirtualBoard(
            self.profile,
            scenario.seed,
            start_time=scenario.start,
            serial_number=scenario.serial_number,
            catheter_length_cm=scenario.catheter_cm,
        )
        self.ledger = ProgrammedLedger(scenario.start)
        self.report = ScenarioReport(scenario, self.profile, self.board)
        self._refill_started = False
        self._last_concentration: int | None = None
        self._next_rule_refill: ScheduledEvent | None = None
        self._end_of_service_at: int | None = None
        self._observed: PumpFirmware = self.board.firmware  # the instance being watched

    @property
    def firmware(self) -> PumpFirmware:
        """The board's current firmware (a reset replaces it: RAM is lost)."""
        return self.board.firmware

    # ------------------------------------------------------------------ main loop
    def run(self) -> dict[str, Any]:
        board, scenario = self.board, self.scenario
        board.power_on(scenario.start)
        board.reset_listeners.append(self._on_reset)
        if scenario.patient is not None:
            board.attach_patient(scenario.patient.params, scenario.patient.name)
        for action in scenario.actions:
            board.schedule(
                action.at,
                partial(self._perform, action),
                priority=ACTION_PRIORITY,
                name=f"action {action.index} {action.do}",
            )
        end = scenario.end_at if scenario.end_at is not None else scenario.max_end
        while board.now < end:
            board.run_until(min(end, board.now + WATCH_INTERVAL_S))
            self._watch()
            if scenario.end_at is None and self._end_of_service_at is not None:
                end = min(scenario.max_end, self._end_of_service_at + scenario.end_after_eos_s)
        self._watch()
        return self.report.finish(self.ledger.total_ng(board.now))

    def _on_reset(self, firmware: PumpFirmware, cause: object) -> None:
        """A reset replaced the firmware: take the transitions the old one had announced,
        then close report entries for alarms the rebooted pump no longer holds."""
        now = self.board.now
        old, self._observed = self._observed, firmware
        status = firmware.status(now)
        self.report.observe(status, old.drain_alarm_events(), status.pump_time - now)
        active = {alarm.alarm_id for alarm in firmware.alarms(now)}
        self.report.close_alarms_not_in(active, now)

    def _watch(self) -> PumpStatus:
        """Look at the pump as a remote monitor would: status, alarm transitions, daily totals
        (returns the status it saw)."""
        now = self.board.now
        status = self.firmware.status(now)
        offset = status.pump_time - now
        self.report.observe(status, self.firmware.drain_alarm_events(), offset)
        self.report.tail_logs(self.firmware)
        eos = status.eos_time if status.eos_time is not None else status.replace_by_time
        if eos is not None and self._end_of_service_at is None:
            self._end_of_service_at = eos - offset  # known from ERI on: ERI + 90 days
        return status

    # ------------------------------------------------------------------ actions
    def _perform(self, action: Action, now: int) -> None:
        handler: Callable[[Action, int], None] = getattr(self, f"_do_{action.do}")
        try:
            handler(action, now)
        except Refusal as refusal:
            self.report.refusal(now, action.do, refusal.code.name, refusal.message)

    def _commit(self, change: TherapyChange, action: Action, now: int) -> bool:
        """Stage then commit; soft warnings need ``ack_warnings = true`` in the scenario."""
        firmware = self.firmware
        staged = firmware.stage(change, now)
        ack = staged.warnings if action.args.get("ack_warnings", False) else StageWarning(0)
        try:
            version = firmware.commit(staged.staged_hash, staged.active_version, ack, now)
        except Refusal as refusal:
            warnings = sorted(str(w.name) for w in staged.warnings)
            message = refusal.message + (f" (warnings: {', '.join(warnings)})" if warnings else "")
            with contextlib.suppress(Refusal):
                firmware.abort(now)  # leave the staging slot empty
            self.report.refusal(now, action.do, refusal.code.name, message)
            return False
        self.report.therapy_change(now, action.do, version, staged)
        return True

    def _do_refill(self, action: Action, now: int) -> None:
        args = action.args
        self._refill(
            now,
            added_nl=args.get("added_ml"),
            concentration=args["concentration"],
            withdraw_limit_nl=args.get("withdrawn_ml"),
            pocket_fill=bool(args.get("pocket_fill", False)),
        )

    def _refill(
        self,
        now: int,
        added_nl: int | None,
        concentration: int,
        withdraw_limit_nl: int | None = None,
        pocket_fill: bool = False,
    ) -> None:
        board = self.board
        true_before = board.reservoir.volume_nl
        withdrawn = board.aspirate(now, withdraw_limit_nl)
        if pocket_fill:
            board.pocket_fill(now)
        if added_nl is None:  # "full": what the reservoir can take
            added_nl = board.reservoir.capacity_nl - board.reservoir.volume_nl
        went_to_pocket = board.reservoir.pocket_fill_armed
        board.inject(added_nl, concentration, now)
        self._last_concentration = concentration
        try:
            result = self.firmware.refill(withdrawn, added_nl, concentration, now)
        except Refusal as refusal:
            self.report.refusal(now, "refill", refusal.code.name, refusal.message)
        else:
            self.report.refill(
                now, withdrawn, added_nl, concentration, result, true_before, went_to_pocket
            )
        self._refill_started = True
        self._schedule_rule_refill(now)

    def _do_prime(self, action: Action, now: int) -> None:
        length_cm = action.args.get("catheter_cm", self.board.catheter.length_cm)
        if self._commit(PrimingBolus(length_cm * 10), action, now):
            device = self.profile.device
            volume = device.pump_tubing_volume_nl + length_cm * device.catheter_volume_nl_per_cm
            self.ledger.add_mass(volume * self._concentration(now) // 1000)
            self.ledger.set_basal(now, Stopped())

    def _do_bridge(self, action: Action, now: int) -> None:
        length_cm = action.args.get("catheter_cm", self.board.catheter.length_cm)
        self._commit(BridgeBolus(length_cm * 10), action, now)

    def _do_continuous(self, action: Action, now: int) -> None:
        args = action.args
        if args.get("from_screening"):
            dose = self._screening_start_dose(now)
            if dose is None:
                return
        elif "mcg_per_day" in args:
            dose = args["mcg_per_day"]
        else:
            dose = 2 * args["screening_bolus_mcg"]
        self._set_basal(Continuous(dose), action, now)

    def _screening_start_dose(self, now: int) -> int | None:
        """Run the screening trial on the scenario's patient: the label's start dose in ng/day,
        or None (not a candidate: nothing is programmed, the refusal is reported)."""
        patient = self.scenario.patient
        assert patient is not None  # parse_scenario refuses from_screening without [patient]
        trial = screening_trial(patient.params, patient.name)
        self.report.event(
            now,
            "screening trial",
            boluses_mcg=[b.dose_mcg for b in trial.boluses],
            candidate=trial.candidate,
            effective_dose_mcg=trial.effective_dose_mcg,
            start_dose_mcg_per_day=trial.start_dose_mcg_per_day,
            rule=trial.start_dose_rule,
        )
        if trial.start_dose_mcg_per_day is None:
            self.report.refusal(now, "continuous", "NOT_A_CANDIDATE", trial.start_dose_rule)
            return None
        return round(trial.start_dose_mcg_per_day * 1_000)

    def _set_basal(self, program: Continuous | Flex | Stopped, action: Action, now: int) -> bool:
        if self._commit(program, action, now):
            self.ledger.set_basal(now, program)
            return True
        return False

    def _do_flex(self, action: Action, now: int) -> None:
        args = action.args
        programs = args["programs"] if "programs" in args else (args["steps"],)
        weekdays = args.get("weekdays", (0,) * 7)
        flex = Flex(
            tuple(tuple(FlexStep(minute, dose) for minute, dose in p) for p in programs),
            tuple(weekdays),
        )
        self._set_basal(flex, action, now)

    def _do_titrate(self, action: Action, now: int) -> None:
        """Raise the continuous dose by ``step_pct`` (whole mcg) until ``to_mcg_per_day``."""
        args = action.args
        target = args["to_mcg_per_day"]
        current = self.firmware.status(now).daily_dose_ng
        new_dose = min(target, current * (100 + args["step_pct"]) // 100 // 1000 * 1000)
        if current >= target or new_dose <= current:
            return
        if self._set_basal(Continuous(new_dose), action, now) and new_dose < target:
            every = args.get("every", DAY_S)
            self.board.schedule(
                now + every,
                partial(self._perform, action),
                priority=ACTION_PRIORITY,
                name=f"action {action.index} titrate",
            )

    def _do_bolus(self, action: Action, now: int) -> None:
        dose, duration = action.args["mcg"], action.args["over"]
        if self._commit(SingleBolus(dose, duration), action, now):
            self.ledger.replace_basal_for(now, duration, dose)

    def _do_stop(self, action: Action, now: int) -> None:
        self.firmware.stop(now)
        self.ledger.pause(now)
        self.report.event(now, "stop")

    def _do_resume(self, action: Action, now: int) -> None:
        self.firmware.resume(now)
        self.ledger.resume(now)
        self.report.event(now, "resume")

    def _do_patient_bolus_config(self, action: Action, now: int) -> None:
        args = action.args
        cfg = PatientBolusConfig(
            bool(args.get("enabled", True)),
            args["mcg"],
            args["over"],
            args["max_per_day"],
            args["lockout"],
        )
        # checked like a dose increase: its warnings need ``ack_warnings = true``, as a commit's
        summary = self.firmware.configure_patient_bolus(cfg, now, preview=True)
        ack = summary.warnings if args.get("ack_warnings", False) else StageWarning(0)
        self.firmware.configure_patient_bolus(cfg, now, ack)
        self.report.event(now, "patient_bolus_config")

    def _do_patient_bolus(self, action: Action, now: int) -> None:
        grant = self.firmware.request_patient_bolus(now)
        self.ledger.add_mass(grant.dose_ng)
        self.report.event(now, "patient_bolus", dose_mcg=grant.dose_ng / 1000)

    def _do_alarms_config(self, action: Action, now: int) -> None:
        status = self.firmware.status(now)
        low = action.args.get("low_reservoir_ml", status.low_reservoir_nl)
        interval = action.args.get("critical_interval", status.critical_interval_s)
        self.firmware.configure_alarms(low, interval, now)
        self.report.event(now, "alarms_config")

    def _do_ack_alarms(self, action: Action, now: int) -> None:
        names = action.args.get("alarms")
        ids = None if names is None else [_alarm_id(name) for name in names]
        count = self.firmware.acknowledge_alarms(ids, now)
        self.report.event(now, "ack_alarms", acknowledged=count)

    def _do_alarm_test(self, action: Action, now: int) -> None:
        self.firmware.test_alarm_tones(now)
        self.report.event(now, "alarm_test")

    def _do_set_clock(self, action: Action, now: int) -> None:
        args = action.args
        if "to" in args:
            pump_time = parse_datetime(args["to"])
        else:
            pump_time = self.firmware.status(now).pump_time + parse_clock_offset(args["offset"])
        self.firmware.set_clock(pump_time, now)
        self.ledger.set_pump_offset(now, pump_time - now)
        self.report.event(now, "set_clock", pump_time=pump_time)

    def _do_power_cycle(self, action: Action, now: int) -> None:
        self.board.power_cycle(now)
        self.report.event(now, "power_cycle")

    def _do_fault(self, action: Action, now: int) -> None:
        board, name = self.board, action.args["fault"]
        if name == "motor-stall":
            board.motor_stall(now)
        elif name == "low-battery-reset":
            board.low_battery_reset(now)
        elif name == "over-infusion":
            board.over_infusion(action.args["pct"], now)
        elif name == "memory-error":
            board.memory_error(now)
        elif name == "pocket-fill":
            board.pocket_fill(now)
        elif name == "power-loss":
            board.power_loss(now)
        elif name in ("catheter-occlusion", "catheter-kink"):
            board.catheter_occlusion(action.args.get("pct", 100.0), now)
        elif name == "catheter-leak":
            board.catheter_leak(action.args["pct"], now)
        elif name == "catheter-disconnect":
            board.catheter_disconnect(now)
        elif name == "catheter-migration":
            board.catheter_tip_migration(now)
        else:
            board.clear_faults(now)
        self.report.event(
            now, f"fault {name}", **({"pct": action.args["pct"]} if "pct" in action.args else {})
        )

    def _do_access_port_aspirate(self, action: Action, now: int) -> None:
        """The clinic's patency test: CSF comes back through a patent catheter only."""
        asked_nl = action.args["ml"]
        got_nl, drug_pg = self.board.aspirate_access_port(asked_nl, now)
        self.report.event(
            now,
            "access port aspiration",
            asked_ml=asked_nl / 1_000_000,
            returned_ml=round(got_nl / 1_000_000, 4),
            drug_mcg=round(drug_pg / 1_000_000, 3),
            csf_returned=got_nl >= asked_nl > 0,
        )

    # ------------------------------------------------------------------ recurring refills
    def _schedule_rule_refill(self, now: int) -> None:
        rule = self.scenario.refill_rule
        if rule is None:
            return
        if self._next_rule_refill is not None:
            self.board.scheduler.cancel(self._next_rule_refill)
        at: int | None
        if rule.every_days is not None:
            low, high = rule.every_days
            at = now + self.board.rng.randint(low, high) * DAY_S
        else:
            at = self._time_below(now)
        if at is not None:
            self._next_rule_refill = self.board.schedule(
                at, self._rule_refill, priority=RULE_PRIORITY, name="rule refill"
            )

    def _time_below(self, now: int) -> int | None:
        """When the pump's estimate will fall under the rule's threshold (re-checked then)."""
        rule = self.scenario.refill_rule
        assert rule is not None and rule.below_nl is not None
        status = self.firmware.status(now)
        excess = status.reservoir_nl - rule.below_nl
        if excess <= 0:
            return now
        # Upper bound of the flow: the flow in force now, or the largest day total of the
        # program (a flex day's low step must not make us late).  Look again at least weekly,
        # so a later change of therapy is noticed.
        conc = status.concentration_mcg_per_ml
        largest_day_nl = self.firmware.prescription().daily_dose_ng * 1000 // conc if conc else 0
        rate = max(status.rate_nl_per_day, largest_day_nl)
        if rate <= 0:
            return now + WATCH_INTERVAL_S
        return now + min(WATCH_INTERVAL_S, max(3_600, excess * DAY_S // rate))

    def _rule_refill(self, now: int) -> None:
        self._next_rule_refill = None
        rule = self.scenario.refill_rule
        assert rule is not None
        status = self.firmware.status(now)
        if status.eos_time is not None:
            return  # the pump no longer delivers: replace it, do not refill it
        if rule.below_nl is not None and status.reservoir_nl > rule.below_nl:
            self._schedule_rule_refill(now)
            return
        concentration = rule.concentration or self._last_concentration or self._concentration(now)
        self._refill(now, rule.added_nl, concentration)

    def _concentration(self, now: int) -> int:
        return int(self.firmware.status(now).concentration_mcg_per_ml)


def _alarm_id(name: str) -> AlarmId:
    return AlarmId[name.upper()]  # names were checked when the scenario was parsed


def run_scenario(scenario: Scenario) -> dict[str, Any]:
    """Play ``scenario`` and return its report as a JSON-ready dict."""
    return ScenarioRunner(scenario).run()
