"""Coverage-guided fuzzing of the pump's protocol gate with atheris (libFuzzer for Python).

Why a script and not a test: libFuzzer owns the process (its own argv, its own exit), so the
campaign runs this file in a subprocess.  Each input is fed to a paired pump with a session open
(firmware ``CommandLink`` in-process); an exception is a crash, and any change of what only an
authenticated request may change is printed as a FINDING line and fails the run.

    python tests/reliability/atheris_device.py -runs=100000 -seed=1
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports():
    import firmware  # noqa: F401
    import protocol  # noqa: F401
    from tests.reliability.inprocess import captured_clinic, pump_fingerprint
    from tests.reliability.mutators import carries_genuine_frame

PUMP, PROGRAMMER = captured_clinic(3, test_keys=True)
CORPUS = PROGRAMMER.capture.to_pump


def test_one_input(data: bytes) -> None:
    if carries_genuine_frame(data, CORPUS):
        return  # byte-identical replays are the attack campaign's business
    before = pump_fingerprint(PUMP)
    PUMP.receive(data, PUMP.now)
    PUMP.take_output()
    if pump_fingerprint(PUMP) != before:
        print(f"FINDING unauthenticated state change: {data.hex()}", file=sys.stderr)
        raise AssertionError("state changed without a valid authenticated request")


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
