"""Populations of virtual patients (docs/POPULATION.md): the file format and one patient's run.

Why: a risk question ("how often does a reservoir run dry before its refill?") needs many pumps
and patients that differ.  A population file gives the distributions; each patient ``i`` gets
its own seed, a hash of (population seed, i), so a patient's result does not depend on how many
workers ran or in which order.  Each patient is a scenario (``hw_sim.scenarios.scenario_runner``) built
from the draws: implant, fill, prime, start dose, titration to a target, refill appointments
booked from the pump's own low-reservoir date and slipping by drawn days, the per-pump flow bias
as the board's systematic flow error (``VirtualBoard.over_infusion``), the patient model at the
catheter tip.  What is kept of a run is one flat row; ``population_cmd`` schedules batches and
``summarise`` turns rows into risks with exact intervals.

Population mode differs from ``vpump run`` in one documented way: the firmware persists its
counters at every change and at least every 30 days instead of every 4 h
(``POPULATION_PERSIST_INTERVAL_S``).  No population injects a power loss, so only the NVM
writes change - and the wakeup times (no wakeups to persist; the daily housekeeping is the
rhythm), hence the noise draws: a patient's numbers are those of a statistically equivalent
run, not the bytes ``vpump run`` would give for the same seed.  Any interval of a day or more
gives the same rows; longer ones only write less.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import random
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from hw_sim.profiles.loader import LoadedProfile, ProfileError, load_profile
from hw_sim.scenarios.scenario import Action, Scenario
from hw_sim.scenarios.scenario_runner import ACTION_PRIORITY, ScenarioRunner
from hw_sim.scenarios.timeparse import DAY_S, DEFAULT_START_TIME
from hw_sim.studies.population_stats import distribution, proportion
from patient.profiles import PatientProfile, PatientProfileError, draw, load_patient_profile
from patient.screening import screening_trial

YEAR_S = 365 * DAY_S
POPULATION_PERSIST_INTERVAL_S = 30 * DAY_S
APPOINTMENT_PRIORITY = 20
DEFAULT_BATCH = 8
LABEL_CONCENTRATIONS = (50, 500, 1000, 2000)


class PopulationError(ValueError):
    """The population file is malformed; the message names the table and key."""


# ---------------------------------------------------------------------- distributions
@dataclass(frozen=True, slots=True)
class Dist:
    """A number drawn per patient: fixed, uniform, normal (clipped) or triangular."""

    kind: str  # "fixed", "uniform", "normal", "triangular"
    params: tuple[float, ...]
    clip: tuple[float, float] | None = None

    def sample(self, rng: random.Random) -> float:
        p = self.params
        if self.kind == "fixed":
            value = p[0]
        elif self.kind == "uniform":
            value = rng.uniform(p[0], p[1])
        elif self.kind == "triangular":
            value = rng.triangular(p[0], p[2], p[1])
        else:
            value = rng.gauss(p[0], p[1])
        if self.clip is not None:
            value = min(self.clip[1], max(self.clip[0], value))
        return value

    def describe(self) -> str:
        return f"{self.kind}{list(self.params)}" + (
            "" if self.clip is None else f" clip {list(self.clip)}"
        )


@dataclass(frozen=True, slots=True)
class Choice:
    """A name drawn per patient with weights."""

    names: tuple[str, ...]
    weights: tuple[float, ...]

    def sample(self, rng: random.Random) -> str:
        if len(self.names) == 1:
            return self.names[0]
        x = rng.random() * math.fsum(self.weights)
        for name, weight in zip(self.names, self.weights, strict=True):
            x -= weight
            if x < 0:
                return name
        return self.names[-1]


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise PopulationError(f"{where}: expected a number, got {value!r}")
    return float(value)


def parse_dist(value: Any, where: str, low: float | None = None, high: float | None = None) -> Dist:
    """``5`` (fixed), ``{ uniform = [lo, hi] }``, ``{ normal = [mean, sd], clip = [lo, hi] }``,
    ``{ triangular = [lo, mode, hi] }``; ``low``/``high`` bound what may be drawn."""
    if not isinstance(value, dict):
        dist = Dist("fixed", (_number(value, where),))
    else:
        kinds = [k for k in ("uniform", "normal", "triangular") if k in value]
        unknown = sorted(set(value) - {"uniform", "normal", "triangular", "clip"})
        if unknown:
            raise PopulationError(
                f"{where}: unknown key {unknown[0]!r} (uniform, normal, triangular, clip)"
            )
        if len(kinds) != 1:
            raise PopulationError(f"{where}: give exactly one of uniform, normal, triangular")
        kind = kinds[0]
        raw = value[kind]
        size = {"uniform": 2, "normal": 2, "triangular": 3}[kind]
        if not isinstance(raw, list) or len(raw) != size:
            shape = {
                "uniform": "[low, high]",
                "normal": "[mean, sd]",
                "triangular": "[low, mode, high]",
            }
            raise PopulationError(f"{where}: {kind} needs {shape[kind]}")
        params = tuple(_number(v, f"{where}.{kind}") for v in raw)
        if kind == "uniform" and params[0] > params[1]:
            raise PopulationError(f"{where}: uniform needs low <= high")
        if kind == "triangular" and not params[0] <= params[1] <= params[2]:
            raise PopulationError(f"{where}: triangular needs low <= mode <= high")
        if kind == "normal" and params[1] < 0:
            raise PopulationError(f"{where}: normal needs sd >= 0")
        clip = None
        if "clip" in value:
            c = value["clip"]
            if not isinstance(c, list) or len(c) != 2:
                raise PopulationError(f"{where}: clip needs [low, high]")
            clip = (_number(c[0], f"{where}.clip"), _number(c[1], f"{where}.clip"))
            if clip[0] > clip[1]:
                raise PopulationError(f"{where}: clip needs low <= high")
        elif kind == "normal" and (low is not None or high is not None):
            raise PopulationError(f"{where}: a normal distribution here needs clip = [low, high]")
        dist = Dist(kind, params, clip)
    lo, hi = _support(dist)
    if (low is not None and lo < low) or (high is not None and hi > high):
        raise PopulationError(
            f"{where}: values must stay within [{low}, {high}], got {dist.describe()}"
        )
    return dist


def _support(dist: Dist) -> tuple[float, float]:
    if dist.clip is not None:
        return dist.clip
    p = dist.params
    if dist.kind == "fixed":
        return p[0], p[0]
    if dist.kind == "normal":
        return (p[0], p[0]) if p[1] == 0 else (-math.inf, math.inf)
    return p[0], p[-1]


def parse_choice(value: Any, where: str, check: Callable[[str], object]) -> Choice:
    """``"name"`` or ``{ name = weight, ... }``; ``check(name)`` raises on an unknown name."""
    if isinstance(value, str):
        items = [(value, 1.0)]
    elif isinstance(value, dict) and value:
        items = [(str(k), _number(v, f"{where}.{k}")) for k, v in value.items()]
        if any(w < 0 for _, w in items) or not any(w > 0 for _, w in items):
            raise PopulationError(f"{where}: weights must be >= 0 and not all 0")
    else:
        raise PopulationError(f"{where}: expected a name or a table of weights {{ name = 1.0 }}")
    for name, _ in items:
        try:
            check(name)
        except (ProfileError, PatientProfileError) as exc:
            raise PopulationError(f"{where}: {exc}") from None
    return Choice(tuple(n for n, _ in items), tuple(w for _, w in items))


# ---------------------------------------------------------------------- the file
@dataclass(frozen=True, slots=True)
class Population:
    """A parsed population file (every path resolved, every unit converted)."""

    name: str
    seed: int
    patients: int
    years: float
    batch: int
    device_profile: Choice
    flow_bias_pct: Dist
    catheter_cm: Dist
    patient_profile: Choice
    variability: bool
    concentration: int
    start_mcg_per_day: Dist | None  # None: from the screening trial
    target_mcg_per_day: Dist
    step_pct: int
    titrate_every_s: int
    first_interval_days: int
    book_at_ml: float | None  # None: the pump's low-reservoir alarm threshold
    max_interval_days: int
    slip_days: Dist
    replace_after_eri_days: int | None
    sha256: str  # of the file's bytes: a resumed run checks it
    base_dir: str = ""


_TABLES: dict[str, set[str]] = {
    "": {
        "name",
        "seed",
        "patients",
        "years",
        "batch",
        "device",
        "patient",
        "therapy",
        "refill",
        "replacement",
    },
    "device": {"profile", "flow_bias_pct", "catheter_cm"},
    "patient": {"profile", "variability"},
    "therapy": {
        "concentration_mcg_per_ml",
        "start_mcg_per_day",
        "target_mcg_per_day",
        "step_pct",
        "every_days",
    },
    "refill": {"first_interval_days", "book_at_ml", "max_interval_days", "slip_days"},
    "replacement": {"after_eri_days"},
}


def _int(value: Any, where: str, low: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise PopulationError(f"{where}: expected a whole number >= {low}, got {value!r}")
    return value


def _table(data: dict[str, Any], name: str, source: str) -> dict[str, Any]:
    raw = data.get(name, {})
    if not isinstance(raw, dict):
        raise PopulationError(f"{source}: [{name}] must be a table")
    unknown = sorted(set(raw) - _TABLES[name])
    if unknown:
        raise PopulationError(
            f"{source}: [{name}] unknown key {unknown[0]!r}; allowed: {', '.join(sorted(_TABLES[name]))}"
        )
    return raw


def load_population(path: str | Path) -> Population:
    """Read and check a population file; PopulationError names what is wrong."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise PopulationError(f"population file not found: {path}") from None
    except OSError as exc:
        raise PopulationError(f"{path}: {exc.strerror}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise PopulationError(f"{path.name}: not valid TOML: {exc}") from None
    return parse_population(data, hashlib.sha256(raw).hexdigest(), path.name, path.parent)


def parse_population(
    data: dict[str, Any],
    sha256: str = "",
    source: str = "<population>",
    base_dir: Path | None = None,
) -> Population:
    top_unknown = sorted(set(data) - _TABLES[""])
    if top_unknown:
        raise PopulationError(
            f"{source}: unknown key {top_unknown[0]!r}; allowed: {', '.join(sorted(_TABLES['']))}"
        )
    base = base_dir or Path(".")

    def resolve(name: str) -> str:
        if name.endswith(".toml") and not Path(name).is_absolute():
            return str(base / name)
        return name

    device, patient = _table(data, "device", source), _table(data, "patient", source)
    therapy, refill = _table(data, "therapy", source), _table(data, "refill", source)
    replacement = _table(data, "replacement", source)
    name = data.get("name", Path(source).stem)
    if not isinstance(name, str):
        raise PopulationError(f"{source}: name: expected a string")
    years = _number(data.get("years", 7), f"{source}: years")
    if not 0 < years <= 15:
        raise PopulationError(f"{source}: years: expected 0 < years <= 15, got {years}")
    concentration = _int(
        therapy.get("concentration_mcg_per_ml", 2000),
        f"{source}: [therapy] concentration_mcg_per_ml",
        1,
    )
    if concentration not in LABEL_CONCENTRATIONS:
        raise PopulationError(
            f"{source}: [therapy] concentration_mcg_per_ml: {concentration} is not a label "
            f"concentration ({', '.join(map(str, LABEL_CONCENTRATIONS))})"
        )
    start = therapy.get("start_mcg_per_day", "screening")
    device_choice = parse_choice(
        device.get("profile", "vp20"),
        f"{source}: [device] profile",
        lambda n: load_profile(resolve(n)),
    )
    patient_choice = parse_choice(
        patient.get("profile", "spinal_adult"),
        f"{source}: [patient] profile",
        lambda n: load_patient_profile(resolve(n)),
    )
    variability = patient.get("variability", True)
    if not isinstance(variability, bool):
        raise PopulationError(f"{source}: [patient] variability: expected true or false")
    book_at = refill.get("book_at_ml", "low_reservoir")
    eri_days = replacement.get("after_eri_days")
    return Population(
        name=name,
        seed=_int(data.get("seed", 0), f"{source}: seed"),
        patients=_int(data.get("patients", 100), f"{source}: patients", 1),
        years=years,
        batch=_int(data.get("batch", DEFAULT_BATCH), f"{source}: batch", 1),
        device_profile=Choice(
            tuple(resolve(n) for n in device_choice.names), device_choice.weights
        ),
        flow_bias_pct=parse_dist(
            device.get("flow_bias_pct", 0), f"{source}: [device] flow_bias_pct", -50, 50
        ),
        catheter_cm=parse_dist(
            device.get("catheter_cm", 60), f"{source}: [device] catheter_cm", 10, 120
        ),
        patient_profile=Choice(
            tuple(resolve(n) for n in patient_choice.names), patient_choice.weights
        ),
        variability=variability,
        concentration=concentration,
        start_mcg_per_day=None
        if start == "screening"
        else parse_dist(start, f"{source}: [therapy] start_mcg_per_day", 1, 3000),
        target_mcg_per_day=parse_dist(
            therapy.get("target_mcg_per_day", 500),
            f"{source}: [therapy] target_mcg_per_day",
            1,
            3000,
        ),
        step_pct=_int(therapy.get("step_pct", 20), f"{source}: [therapy] step_pct", 1),
        titrate_every_s=round(
            _number(therapy.get("every_days", 1), f"{source}: [therapy] every_days") * DAY_S
        ),
        first_interval_days=_int(
            refill.get("first_interval_days", 30), f"{source}: [refill] first_interval_days", 1
        ),
        book_at_ml=None
        if book_at == "low_reservoir"
        else _number(book_at, f"{source}: [refill] book_at_ml"),
        max_interval_days=_int(
            refill.get("max_interval_days", 180), f"{source}: [refill] max_interval_days", 1
        ),
        slip_days=parse_dist(refill.get("slip_days", 0), f"{source}: [refill] slip_days", -60, 120),
        replace_after_eri_days=None
        if eri_days is None
        else _int(eri_days, f"{source}: [replacement] after_eri_days", 7),
        sha256=sha256,
        base_dir=str(base),
    )


# ---------------------------------------------------------------------- one patient
def patient_seed(population_seed: int, index: int) -> int:
    """Patient ``index``'s seed: 63 bits of SHA-256 over (population seed, index) (63, so it
    fits a signed 64-bit column in Parquet)."""
    digest = hashlib.sha256(f"itbp-population:{population_seed}:{index}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


@dataclass(frozen=True, slots=True)
class PatientDraw:
    index: int
    seed: int
    device_profile: str
    flow_bias_pct: float
    catheter_cm: int
    patient_profile: str
    patient_seed: int | None
    start_mcg_per_day: float | None  # None: from the screening trial
    target_mcg_per_day: int


def draw_patient(population: Population, index: int) -> tuple[PatientDraw, random.Random]:
    """The draws of patient ``index``; the returned generator then draws appointment slips."""
    seed = patient_seed(population.seed, index)
    rng = random.Random(seed)
    device = population.device_profile.sample(rng)
    bias = round(population.flow_bias_pct.sample(rng), 3)
    catheter = round(population.catheter_cm.sample(rng))
    patient = population.patient_profile.sample(rng)
    variant = rng.getrandbits(63) if population.variability else None
    start = (
        None
        if population.start_mcg_per_day is None
        else round(population.start_mcg_per_day.sample(rng))
    )
    target = round(population.target_mcg_per_day.sample(rng))
    return (
        PatientDraw(index, seed, device, bias, catheter, patient, variant, start, target),
        rng,
    )


_PROFILE_CACHE: dict[str, LoadedProfile] = {}
_PATIENT_CACHE: dict[str, PatientProfile] = {}


def _device(name: str) -> LoadedProfile:
    profile = _PROFILE_CACHE.get(name)
    if profile is None:
        loaded = load_profile(name)
        device = dataclasses.replace(
            loaded.device, persist_interval_s=POPULATION_PERSIST_INTERVAL_S
        )
        profile = _PROFILE_CACHE[name] = dataclasses.replace(loaded, device=device)
    return profile


def _patient(name: str, seed: int | None) -> PatientProfile:
    profile = _PATIENT_CACHE.get(name)
    if profile is None:
        profile = _PATIENT_CACHE[name] = load_patient_profile(name)
    return profile if seed is None else draw(profile, seed)


def load_profiles(population: Population) -> None:
    """Load every device and patient profile the population names into this process's caches
    (a worker's first patients then pay no file parsing: benchmarks warm their workers so)."""
    for name in population.device_profile.names:
        _device(name)
    for name in population.patient_profile.names:
        _patient(name, None)


def build_scenario(population: Population, d: PatientDraw) -> Scenario:
    """The patient's scenario: fill, prime, start, titrate (refills come from the policy)."""
    start = DEFAULT_START_TIME
    conc = population.concentration
    begin: dict[str, Any] = (
        {"from_screening": True}
        if d.start_mcg_per_day is None
        else {"mcg_per_day": round(d.start_mcg_per_day * 1000)}
    )
    actions = (
        Action(1, start, "refill", {"concentration": conc}),
        Action(2, start + 600, "prime", {}),
        Action(3, start + 7200, "continuous", {**begin, "ack_warnings": True}),
        Action(
            4,
            start + DAY_S + 7200,
            "titrate",
            {
                "to_mcg_per_day": d.target_mcg_per_day * 1000,
                "step_pct": population.step_pct,
                "every": population.titrate_every_s,
                "ack_warnings": True,
            },
        ),
    )
    end = start + round(population.years * YEAR_S)
    return Scenario(
        name=f"{population.name}#{d.index}",
        profile=d.device_profile,
        seed=d.seed,
        start=start,
        serial_number=None,
        catheter_cm=d.catheter_cm,
        end_at=end,
        end_after_eos_s=DAY_S,
        max_end=end,
        actions=actions,
        patient=_patient(d.patient_profile, d.patient_seed),
        source=population.name,
    )


class PopulationRunner(ScenarioRunner):
    """A scenario runner with the population's refill policy and the true-dry bookkeeping."""

    def __init__(self, population: Population, d: PatientDraw, rng: random.Random) -> None:
        scenario = build_scenario(population, d)
        super().__init__(scenario, _device(d.device_profile))
        self.population = population
        self.draw = d
        self._slip_rng = rng
        self.dry_since: int | None = None
        self.dry_events: list[float] = []  # days early: how long before each refill it was dry
        self.appointments = 0
        self._last_batch = scenario.start
        self._air_before = self._pumped_before = 0
        self._alarms_seen = 0  # report alarm entries already looked at for ERI

    # -- the policy ----------------------------------------------------------------
    def _schedule_rule_refill(self, now: int) -> None:
        """At each refill: book the next appointment (the pump's date, then the slip)."""
        if self._next_rule_refill is not None:
            self.board.scheduler.cancel(self._next_rule_refill)
            self._next_rule_refill = None
        if self.dry_since is not None:
            self.dry_events.append(round((now - self.dry_since) / DAY_S, 3))
            self.dry_since = None
        p = self.population
        status = self.firmware.status(now)
        if self.appointments == 0 or status.rate_nl_per_day <= 0:
            days = p.first_interval_days
        else:
            days = p.max_interval_days
            threshold = (
                status.low_reservoir_nl if p.book_at_ml is None else round(p.book_at_ml * 1e6)
            )
            excess = status.reservoir_nl - threshold
            predicted = max(0, excess) // status.rate_nl_per_day
            days = max(1, min(days, predicted))
        self.appointments += 1
        slip = round(p.slip_days.sample(self._slip_rng))
        at = now + max(1, days + slip) * DAY_S
        self._next_rule_refill = self.board.schedule(
            at, self._appointment, priority=APPOINTMENT_PRIORITY, name="appointment"
        )

    def _appointment(self, now: int) -> None:
        self._next_rule_refill = None
        status = self.firmware.status(now)
        if status.eos_time is not None:
            return  # end of service: the pump is replaced, not refilled
        self._refill(now, None, self.population.concentration)

    def _on_delivered(self, sync: Callable[[int, float], None], now: int, share: float) -> None:
        sync(now, share)
        motor = self.board.motor
        if self.dry_since is None and self.board.reservoir.volume_nl == 0:
            # Somewhere in the last batch: place it by the share of the batch that was air.
            air, pumped = motor.air_nl - self._air_before, motor.pumped_nl - self._pumped_before
            share = air / pumped if pumped > 0 else 0.0
            self.dry_since = now - round((now - self._last_batch) * share)
        self._last_batch, self._air_before, self._pumped_before = now, motor.air_nl, motor.pumped_nl

    def _look(self) -> None:
        """The weekly look without a status (a row needs only the last one, ``_watch`` at the
        end): the alarm transitions and the daily totals, as ``_watch`` reads them."""
        firmware = self.firmware
        self.report.observe_alarm_events(firmware.drain_alarm_events())
        self.report.tail_logs(firmware)

    def _eri_reported(self) -> bool:
        """Did the pump raise ERI since the last question (the report's new alarm entries)?"""
        alarms, seen = self.report.alarms, self._alarms_seen
        self._alarms_seen = len(alarms)
        return any(a["name"] == "elective_replacement" for a in alarms[seen:])

    # -- the run ------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        board, scenario = self.board, self.scenario
        board.power_on(scenario.start)
        board.reset_listeners.append(self._on_reset)
        assert scenario.patient is not None
        link = board.attach_patient(scenario.patient.params, scenario.patient.name)
        board.motor.on_delivered = partial(self._on_delivered, link.sync)
        if self.draw.flow_bias_pct:  # the pump's own bias; each fill still varies on top
            board.set_pump_bias(self.draw.flow_bias_pct, scenario.start)
        for action in scenario.actions:
            board.schedule(
                action.at,
                partial(self._perform, action),
                priority=ACTION_PRIORITY,
                name=f"action {action.index} {action.do}",
            )
        end = scenario.max_end
        replace = self.population.replace_after_eri_days
        eri_seen = False
        first = True
        while board.now < end:
            board.run_until(min(end, board.now + 7 * DAY_S))
            if first:
                self._watch()  # the clock offset the weekly looks convert event times with
                first = False
            else:
                self._look()
            if replace is not None and not eri_seen and self._eri_reported():
                status = self.firmware.status(board.now)
                assert status.eri_time is not None  # set at the wakeup that raised the alarm
                eri_seen = True
                end = min(end, status.eri_time - (status.pump_time - board.now) + replace * DAY_S)
        self._watch()
        return self.report.finish(self.ledger.total_ng(board.now))


def run_patient(population: Population, index: int) -> dict[str, Any]:
    """Play patient ``index`` and return its result row (JSON-ready, deterministic)."""
    d, rng = draw_patient(population, index)
    device = _device(d.device_profile).device
    floor_mcg = device.min_rate_nl_per_day * population.concentration / 1_000_000
    if d.start_mcg_per_day is None:
        profile = _patient(d.patient_profile, d.patient_seed)
        dose = screening_trial(profile.params, profile.name).start_dose_mcg_per_day
        if dose is None:
            return _not_a_candidate(d)
        d = dataclasses.replace(d, start_mcg_per_day=dose)
    assert d.start_mcg_per_day is not None
    # A start dose below the pump's minimum rate at this concentration is raised to it.
    d = dataclasses.replace(d, start_mcg_per_day=max(d.start_mcg_per_day, floor_mcg))
    runner = PopulationRunner(population, d, rng)
    report = runner.run()
    years = (runner.board.now - runner.scenario.start) / YEAR_S
    patient = report["patient"]
    dry_now = runner.dry_since is not None
    alarms = {a["name"] for a in report["alarms"]}
    refills = report["refills"]
    starts = [c for c in report["therapy_changes"] if c["action"] == "continuous"]
    return {
        **_draw_fields(d),
        "index": index,
        "candidate": True,
        "start_mcg_per_day": starts[0]["daily_dose_mcg"] if starts else None,
        "years": round(years, 4),
        "refills": len(refills),
        "dry_before_refill": len(runner.dry_events),
        "days_early": runner.dry_events,
        "dry_at_end": dry_now,
        "discrepancy_warnings": sum(1 for r in refills if r["discrepancy_warning"]),
        "reservoir_empty_alarm": "reservoir_empty" in alarms,
        "eri_day": report["eri_day"],
        "eos_day": report["eos_day"],
        "withdrawal_signs_h": patient["withdrawal_signs_h"],
        "withdrawal_h_per_patient_year": round(patient["withdrawal_signs_h"] / years, 3)
        if years
        else 0.0,
        "overdose_signs_h": patient["overdose_signs_h"],
        "therapeutic_h": patient["therapeutic_h"],
        "refusals": len(report["refusals"]),
        "final_mcg_per_day": report["final"]["daily_dose_mcg"],
    }


def _not_a_candidate(d: PatientDraw) -> dict[str, Any]:
    """The screening trial found no response: no pump is implanted, nothing is simulated.
    The row has every key of an implanted patient's (outcomes null), so tables stay rectangular."""
    return {
        **dict.fromkeys(OUTCOME_KEYS),
        **_draw_fields(d),
        "index": d.index,
        "candidate": False,
        "start_mcg_per_day": None,
        "years": 0.0,
        "days_early": [],
    }


def _draw_fields(d: PatientDraw) -> dict[str, Any]:
    """The columns of a row that are the patient's draws (the same for candidates or not)."""
    return {
        "seed": d.seed,
        "device_profile": Path(d.device_profile).stem,
        "flow_bias_pct": d.flow_bias_pct,
        "catheter_cm": d.catheter_cm,
        "patient_profile": Path(d.patient_profile).stem,
        "patient_seed": d.patient_seed,
        "target_mcg_per_day": d.target_mcg_per_day,
    }


#: The keys of a row that only a simulated patient has values for.
OUTCOME_KEYS = (
    "refills",
    "dry_before_refill",
    "days_early",
    "dry_at_end",
    "discrepancy_warnings",
    "reservoir_empty_alarm",
    "eri_day",
    "eos_day",
    "withdrawal_signs_h",
    "withdrawal_h_per_patient_year",
    "overdose_signs_h",
    "therapeutic_h",
    "refusals",
    "final_mcg_per_day",
)


def run_batch(population: Population, indices: Sequence[int]) -> list[dict[str, Any]]:
    """Rows of the patients ``indices`` (a task of the joblib or Dask backend)."""
    return [run_patient(population, i) for i in indices]


def batches(population: Population) -> list[tuple[int, list[int]]]:
    """(batch number, patient indices): fixed by the file, not by the worker count."""
    size = population.batch
    return [
        (number, list(range(first, min(first + size, population.patients))))
        for number, first in enumerate(range(0, population.patients, size))
    ]


# ---------------------------------------------------------------------- summary
RISKS = {
    "reservoir_dry_before_refill": "the true reservoir ran dry before a refill appointment",
    "withdrawal_signs": "any hour with withdrawal signs",
    "overdose_signs": "any hour with overdose signs",
    "eri_within_horizon": "the battery reached ERI within the horizon",
    "eos_within_horizon": "the pump reached end of service within the horizon",
    "refill_discrepancy_warning": "a refill found more than the warning threshold off the estimate",
}


def _risk_events(rows: Sequence[dict[str, Any]]) -> dict[str, int]:
    return {
        "reservoir_dry_before_refill": sum(
            1 for r in rows if r["dry_before_refill"] or r["dry_at_end"]
        ),
        "withdrawal_signs": sum(1 for r in rows if r["withdrawal_signs_h"] > 0),
        "overdose_signs": sum(1 for r in rows if r["overdose_signs_h"] > 0),
        "eri_within_horizon": sum(1 for r in rows if r["eri_day"] is not None),
        "eos_within_horizon": sum(1 for r in rows if r["eos_day"] is not None),
        "refill_discrepancy_warning": sum(1 for r in rows if r["discrepancy_warnings"]),
    }


def summarise(population: Population, rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Risks as proportions with exact 95 % intervals, distributions as quantiles."""
    everyone = sorted(rows, key=lambda r: r["index"])
    rows = [r for r in everyone if r["candidate"]]
    n = len(rows)
    events = _risk_events(rows)
    risks = {}
    for key, meaning in RISKS.items():
        risk = proportion(events[key], n)
        risk["meaning"] = meaning
        risks[key] = risk
    zero = sorted(k for k, v in events.items() if v == 0)
    return {
        "population": population.name,
        "population_sha256": population.sha256,
        "seed": population.seed,
        "patients": len(everyone),
        "implanted": n,
        "not_candidates": len(everyone) - n,
        "patient_years": round(math.fsum(r["years"] for r in rows), 3),
        "risks": risks,
        "zero_event_risks": zero,
        "zero_event_note": (
            "risks with no events still have an upper bound: the exact 95 % interval's upper end "
            "(about 3/N, the rule of three)"
            if zero
            else ""
        ),
        "distributions": {
            "days_early": distribution([x for r in rows for x in r["days_early"]]),
            "eri_day": distribution([r["eri_day"] for r in rows if r["eri_day"] is not None]),
            "withdrawal_h_per_patient_year": distribution(
                [r["withdrawal_h_per_patient_year"] for r in rows]
            ),
            "flow_bias_pct": distribution([r["flow_bias_pct"] for r in rows]),
        },
    }
