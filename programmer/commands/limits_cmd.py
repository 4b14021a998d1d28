"""``pumpctl limits``: the pump's own limits and drug library (DEVICE_LIMITS)."""

from __future__ import annotations

import click

from ..cli_support import connected, emit
from ..limits import limits_document, limits_text


@click.command()
def limits() -> None:
    """Show the pump's limits and drug library, in clinical units.

    The numbers every request is checked against: concentrations, hard and soft daily dose,
    bolus, rate, titration, patient-bolus, alarm and clock ranges.  Any paired role may read
    them.  pumpctl also uses them to explain, before sending, a request the pump would refuse.
    --json prints the pump's integers (ng, nL, s, pump time) grouped as on the wire, with
    serial_number.

    Example: pumpctl --port /dev/pts/3 --json limits
    """
    with connected() as client:
        body = client.device_limits()
        doc = {"serial_number": client.serial_number, "limits": limits_document(body)}
    emit(doc, "\n".join(limits_text(body)))
