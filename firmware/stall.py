"""Motor stall recovery: a stalled motor is tried again on a schedule, and therapy resumes when
it turns.

Why: a stall may be transient.  A strong magnetic field (an MRI scan) holds the reference
device's rotor until the field is gone; a pump that stayed stopped after every scan would put
the patient into baclofen withdrawal for nothing.  So the firmware keeps the critical
``motor_stall`` alarm while the stall lasts, commands one trial stroke every
``profile.motor_retry_interval_s`` (simulator choice), and when a trial stroke completes it
clears the stall, logs the recovery and goes back to the programmed therapy (the dose missed
during the stall is not made up: no catch-up bolus).  The trial stroke that turned moved drug:
it is counted like any delivered stroke (one stroke above the programmed integral per
recovery).  A clinician's ``resume`` still ends the stall at once, as before.

Log records (therapy log): ``MOTOR_STALLED`` (a = strokes that did not complete) when the stall
is found, ``MOTOR_RECOVERED`` (a = seconds stalled, b = trial strokes commanded) when it ends by
itself.  The stall's start is RAM only: after a reset the firmware knows from NVM that it is
stalled, and counts the stall and the schedule from the boot.

Sans-I/O like the rest of the firmware: times are board seconds passed in, the motor is the HAL's.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class StallRecovery:
    """The retry schedule of a stalled motor (board times)."""

    retry_interval_s: int
    since: int | None = None  # when the stall was found (or the boot that found it latched)
    next_retry: int | None = None  # when the next trial stroke is due
    attempts: int = 0  # trial strokes commanded during this stall

    @property
    def active(self) -> bool:
        return self.since is not None

    def start(self, now: int) -> None:
        """The motor stalled at ``now``: the first trial stroke is one interval later."""
        self.since, self.next_retry, self.attempts = now, now + self.retry_interval_s, 0

    def due(self, now: int) -> bool:
        return self.next_retry is not None and now >= self.next_retry

    def failed(self, now: int) -> None:
        """A trial stroke did not complete: try again one interval later."""
        self.attempts += 1
        self.next_retry = now + self.retry_interval_s

    def recovered(self, now: int) -> tuple[int, int]:
        """A trial stroke completed: (seconds stalled, trial strokes) for the log (which
        saturates them to its 32-bit arguments); schedule off."""
        since = now if self.since is None else self.since
        result = (now - since, self.attempts + 1)
        self.clear()
        return result

    def clear(self) -> None:
        """No stall (a clinician resumed, or the pump reached end of service)."""
        self.since = self.next_retry = None
        self.attempts = 0
