"""``refill``, ``patient-bolus``, ``stop``, ``resume`` and ``clock sync``."""

from __future__ import annotations

import click

from protocol.catalog import RefillFlag
from protocol.units import format_mcg, format_utc_offset, ml

from ..cli_support import (
    ack_warnings_option,
    confirm,
    confirm_and_commit,
    connected,
    declined,
    emit,
    note,
)
from ..cli_types import CONCENTRATION, DOSE, DURATION, LENGTH, VOLUME, VOLUME_OR_ZERO
from ..clinic_time import TZ_HELP, UTC_OFFSET_HELP, host_time, local_iso
from ..finish import STOP_WARNING, for_clock, for_patient_bolus, for_refill, for_settings
from ..therapy import describe_change
from ..views import iso_time, mode_name, status_document


@click.command()
@click.option(
    "--withdrawn", type=VOLUME_OR_ZERO, required=True, help="Volume aspirated, e.g. 1.8mL."
)
@click.option("--added", type=VOLUME, required=True, help="Volume injected, e.g. 20mL.")
@click.option("--concentration", type=CONCENTRATION, required=True, help="e.g. 500mcg/mL.")
@click.option(
    "--catheter-length",
    "catheter",
    type=LENGTH,
    default=None,
    help="The implanted catheter, e.g. 60cm; the pump stores it (default: the one it knows).",
)
@click.option(
    "--no-bridge",
    "no_bridge",
    is_flag=True,
    help="Skip the bridge bolus a concentration change needs (the pump logs the choice). Only "
    "where it cannot run or is not wanted: the pump is stopped or has no basal program, or the "
    "catheter is being replaced and will be primed. Without it the old drug left in the tubing "
    "and catheter is pushed at the new concentration's rate (2000 -> 500 mcg/mL: four times "
    "the dose for hours).",
)
def refill(
    withdrawn: int, added: int, concentration: int, catheter: int | None, no_bridge: bool
) -> None:
    """Record a refill: volume withdrawn, volume added, drug concentration.

    The pump stages the refill and computes its Finish view: the expected volume and the
    discrepancy against its own threshold (a large one may mean a pocket fill: drug injected
    outside the reservoir), the rate for the same dose at the new concentration, the
    low-reservoir and refill dates and, when the concentration changes, the bridge bolus that
    pushes the old drug out of the tubing and catheter at the prescribed dose.  The refill and
    its bridge are committed together.

    Example: pumpctl refill --withdrawn 1.8mL --added 20mL --concentration 500mcg/mL
    """
    with connected() as client:
        status = client.status()
        staged = client.stage_refill(
            withdrawn, added, concentration, bridge=not no_bridge, catheter_length_mm=catheter
        )
        view, result = confirm_and_commit(
            client, lambda: for_refill(status, staged), lambda: client.commit_refill(staged)
        )
    flags = RefillFlag(int(result["flags"]))
    doc = {
        "expected_ml": ml(int(result["expected_nl"])),
        "discrepancy_ml": ml(int(result["discrepancy_nl"])),
        "discrepancy_warning": bool(flags & RefillFlag.DISCREPANCY_WARNING),
        "concentration_changed": bool(flags & RefillFlag.CONCENTRATION_CHANGED),
        "bridge_started": bool(flags & RefillFlag.BRIDGE_INCLUDED),
        "bridge_skipped": bool(flags & RefillFlag.BRIDGE_SKIPPED),
        "bridge_end_time": iso_time(int(result["bridge_end_time"])),
        "reservoir_ml": ml(int(result["reservoir_nl"])),
        "low_reservoir_time": iso_time(int(result["low_reservoir_time"])),
        "finish": view.to_dict(),
    }
    if doc["discrepancy_warning"]:
        note(
            f"WARNING: withdrawn volume differs from the pump's estimate by "
            f"{doc['discrepancy_ml']:+g} mL: rule out a pocket fill."
        )
    if doc["bridge_skipped"]:
        note("WARNING: concentration changed and the bridge was skipped (logged by the pump).")
    text = f"Refill recorded: reservoir {doc['reservoir_ml']:g} mL at {concentration} mcg/mL."
    if doc["bridge_started"]:
        text += f" Bridge bolus running until {doc['bridge_end_time']}."
    emit(doc, text)


@click.group(name="patient-bolus")
def patient_bolus() -> None:
    """Patient-activated boluses: configure limits (clinician) or request one.

    Example: pumpctl --yes patient-bolus request
    """


@patient_bolus.command(name="config")
@click.option("--dose", type=DOSE, required=True, help="Dose per bolus, e.g. 25mcg.")
@click.option("--over", "duration", type=DURATION, required=True, help="Duration, e.g. 10min.")
@click.option("--max-per-day", type=click.IntRange(1, 24), required=True, help="Boluses per 24 h.")
@click.option("--lockout", type=DURATION, required=True, help="Minimum time between, e.g. 3h.")
@click.option("--disable", is_flag=True, help="Disable patient boluses instead.")
@ack_warnings_option
def patient_bolus_config(
    dose: int, duration: int, max_per_day: int, lockout: int, disable: bool
) -> None:
    """Set the patient-bolus dose, duration, maximum per 24 h and lockout.

    The pump checks the configuration like a dose increase: its worst day (basal + every allowed
    patient bolus) against the hard limit (refused), the soft limit and the titration baseline
    (warnings to acknowledge).  The Finish view shows the pump's worst day before and after.

    Example: pumpctl patient-bolus config --dose 25mcg --over 10min --max-per-day 4 --lockout 3h
    """
    enabled = not disable
    with connected() as client:
        current = client.read_prescription()["patient_bolus"]
        summary = client.configure_patient_bolus(
            dose, duration, max_per_day, lockout, enabled=enabled, preview=True
        )
        new = {
            "enabled": enabled,
            "dose_ng": dose,
            "duration_s": duration,
            "max_per_day": max_per_day,
            "lockout_s": lockout,
        }
        view = for_patient_bolus(current, new, summary)
        if not confirm(view):
            raise declined()
        client.configure_patient_bolus(
            dose,
            duration,
            max_per_day,
            lockout,
            enabled=enabled,
            ack_warnings=int(summary["warnings"]),
        )
    emit({"configured": True, "finish": view.to_dict()}, "Patient bolus configured.")


@patient_bolus.command(name="request")
def patient_bolus_request() -> None:
    """Ask for one patient bolus within the configured limits.

    Example: pumpctl --port /dev/pts/3 --yes patient-bolus request
    """
    with connected() as client:
        view = for_settings("patient bolus", [("bolus", "none", "configured patient bolus")])
        if not confirm(view):
            raise declined()
        grant = client.request_patient_bolus()
    doc = {
        "dose_mcg": int(grant["dose_ng"]) / 1000,
        "duration_s": int(grant["duration_s"]),
        "end_time": iso_time(int(grant["end_time"])),
        "remaining_today": int(grant["remaining_today"]),
    }
    emit(
        doc,
        f"Patient bolus {format_mcg(int(grant['dose_ng']))} running until {doc['end_time']}"
        f" ({doc['remaining_today']} left today).",
    )


@click.command()
def stop() -> None:
    """Stop delivery now.  Therapy stays stopped until `pumpctl resume`.

    Example: pumpctl --port /dev/pts/3 --yes stop
    """
    with connected() as client:
        current = status_document(client.status())
        view = for_settings(
            "stop the pump",
            [
                ("mode", current["mode"], "stopped"),
                ("delivery (mL/day)", current["rate_ml_per_day"], 0.0),
            ],
            [STOP_WARNING],
        )
        if not confirm(view):
            raise declined()
        client.stop()
    note("warning: the pump is STOPPED: no drug is delivered until `pumpctl resume`.")
    emit({"stopped": True, "finish": view.to_dict()}, "Pump stopped.")


@click.command()
def resume() -> None:
    """Resume the therapy that was in force before the stop.

    Example: pumpctl --port /dev/pts/3 --yes resume
    """
    with connected() as client:
        current = status_document(client.status())
        prescription = client.read_prescription()
        view = for_settings(
            "resume the pump", [("mode", current["mode"], describe_change(prescription["therapy"]))]
        )
        if not confirm(view):
            raise declined()
        client.resume()
        after = client.status()
    emit(
        {"resumed": True, "mode": mode_name(int(after["mode"])), "finish": view.to_dict()},
        f"Pump resumed: {mode_name(int(after['mode']))}.",
    )


@click.group()
def clock() -> None:
    """The pump's real-time clock.

    Example: pumpctl --yes clock sync
    """


@clock.command(name="sync")
@click.option("--utc-offset", "utc_offset", default=None, help=UTC_OFFSET_HELP)
@click.option("--tz", default=None, help=TZ_HELP)
def clock_sync(utc_offset: str | None, tz: str | None) -> None:
    """Set the pump clock to this computer's time and the clinic's time zone offset.

    The pump keeps UTC and the clinic's UTC offset; flex steps and the midnight of the daily
    totals run on its local time (UTC + offset).  The offset is this computer's zone's at this
    moment (daylight saving included), or the one given with --utc-offset or --tz.  Sync again
    after a daylight-saving change: `pumpctl status` warns when the pump's local time is off.

    The Finish view warns when the clock moves by more than 15 minutes either way (log times
    going backwards, flex steps repeating or skipped) and when the offset changes; confirm it or
    pass --yes.  The pump refuses dates outside its accepted range and offsets outside
    UTC-12:00 .. UTC+14:00 or not in quarter hours (CLOCK_INVALID).

    Example: pumpctl --port /dev/pts/3 --yes clock sync --tz Europe/Paris
    """
    host = host_time(utc_offset, tz)  # a bad option is refused before connecting
    with connected() as client:
        status = client.status()
        pump_time, pump_offset = int(status["pump_time"]), int(status["utc_offset_s"])
        view = for_clock(pump_time, host.utc_s, pump_offset, host.utc_offset_s)
        if not confirm(view):
            raise declined()
        host = host_time(utc_offset, tz)  # the time of writing, not of showing
        previous = client.set_clock(host.utc_s, host.utc_offset_s)
    now, offset = host.utc_s, host.utc_offset_s
    emit(
        {
            "previous_time": iso_time(previous),
            "pump_time": iso_time(now),
            "adjusted_s": now - previous,
            "previous_utc_offset": format_utc_offset(pump_offset),
            "utc_offset": format_utc_offset(offset),
            "utc_offset_s": offset,
            "previous_local_time": local_iso(previous, pump_offset),
            "local_time": local_iso(now, offset),
            "zone": host.zone,
            "finish": view.to_dict(),
        },
        f"Pump clock set to {local_iso(now, offset)} local ({format_utc_offset(offset)}, "
        f"{iso_time(now)}); was {local_iso(previous, pump_offset)} "
        f"({format_utc_offset(pump_offset)}).",
    )
