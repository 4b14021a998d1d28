"""``vpump serve``: a virtual pump on a pseudo-terminal or any serial port.

Why a module of its own: one module per console command (python-can's habit), so the command's
options, defaults and help text are in one place and the loop itself stays free of click.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from hw_sim.bench.bench import BenchPump
from hw_sim.bench.control import ControlPathError, ControlServer, check_control_path
from hw_sim.board.restore import open_pump, power_on, shut_down
from hw_sim.board.state_files import Checkpointer, StateError
from hw_sim.link import registry
from hw_sim.link.capture import CaptureClock, LineCapture
from hw_sim.link.ports import LinePort, PtyPort, SerialUrlPort
from hw_sim.link.serve import EarlyStop, ServeLoop, SimClock, announce
from hw_sim.profiles.loader import ProfileError, load_profile
from hw_sim.scenarios.timeparse import DEFAULT_START_TIME
from patient.profiles import PatientProfile, PatientProfileError, draw, load_patient_profile

INSECURE_TEST_KEYS_BANNER = (
    "vpump: WARNING: --insecure-test-keys: keys and nonces follow from the seed; anyone who "
    "knows it can take over this pump. For golden-transcript tests only."
)


def default_state_path(profile_name: str, seed: int) -> Path:
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "state"
    )
    return Path(base) / "intrathecal-pump" / f"{profile_name}-seed{seed}.nvm"


def _check_control_option(
    ctx: click.Context, param: click.Parameter, value: Path | None
) -> Path | None:
    """Refuse early (before the pump starts) a --control path that holds anything but a stale
    socket; ControlServer checks again when it binds."""
    if value is not None:
        try:
            check_control_path(value)
        except ControlPathError as exc:
            raise click.BadParameter(str(exc).removeprefix(f"--control {value}: ")) from exc
    return value


@click.command("serve")
@click.option(
    "--profile",
    "profile_name",
    default="vp20",
    show_default=True,
    help="Device profile: a name (vp20, vp40) or a TOML file.",
)
@click.option(
    "--state",
    "state_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help=(
        "NVM image file, with its hardware state beside it (FILE.board.json): the two are one "
        "pump and are refused unless they belong together. A path where neither exists is a pump "
        "fresh from the factory. Locked while serving. Default: under $XDG_STATE_HOME/intrathecal-pump/."
    ),
)
@click.option(
    "--seed",
    default=1,
    show_default=True,
    type=click.IntRange(min=0),
    help="Seed of the board's random generator (also names the serial number); a pump restored from --state keeps its own.",
)
@click.option(
    "--lockstep",
    is_flag=True,
    help="Freeze simulated time except when `vpump ctl advance` moves it: byte-for-byte reproducible sessions.",
)
@click.option(
    "--time-scale",
    default=1.0,
    show_default=True,
    type=click.FloatRange(min=0.001, max=1e7),
    help="Simulated seconds per wall-clock second.",
)
@click.option(
    "--port",
    "port_url",
    help="Serve on this serial device or pyserial URL instead of a new pty (e.g. /dev/ttyUSB0, socket://localhost:7000).",
)
@click.option(
    "--baud",
    type=click.IntRange(min=300, max=4_000_000),
    help="Emulate this line rate by pacing output (a pty has none).",
)
@click.option(
    "--control",
    "control_path",
    type=click.Path(dir_okay=False, path_type=Path),
    callback=_check_control_option,
    help="Unix socket of the bench control channel, created mode 0600; only a stale socket there "
    "is replaced (default: control.sock in a new private directory under $XDG_RUNTIME_DIR or "
    "the temp directory, printed on the CONTROL line).",
)
@click.option(
    "--insecure-test-keys",
    is_flag=True,
    help="TESTS ONLY, INSECURE: draw keys, nonces and session ids from a DRBG keyed by --seed "
    "instead of the OS, for byte-identical golden transcripts. Anyone who knows the seed (the "
    "serial number shows it) can compute every key. Announced in HELLO; pumpctl warns.",
)
@click.option(
    "--start-time",
    default=DEFAULT_START_TIME,
    show_default=True,
    type=int,
    help="Board time (Unix seconds) of a new pump's first power-on.",
)
@click.option(
    "--auto-accept-pairing",
    is_flag=True,
    help="UNSAFE, scripted rigs only: store a pairing key as soon as the programmer proves it, "
    "without anyone comparing the code at the pump (`vpump ctl pairing accept CODE`); a man in "
    "the middle would get a key.",
)
@click.option(
    "--patient",
    "patient_name",
    metavar="spinal_adult|cerebral_adult|child|FILE.toml",
    help="Put a virtual patient at the catheter tip (drug-free at first): a shipped patient "
    "profile or a patient profile file (docs/PATIENT.md). Read it with `vpump ctl patient`. "
    "Saved with the hardware state: a restart keeps the patient (a restart without --patient "
    "too); a different --patient on a saved patient is refused.",
)
@click.option(
    "--patient-seed",
    type=click.IntRange(min=0),
    help="Draw a population variant of --patient with this seed (parameters within the "
    "profile's published ranges).",
)
@click.option(
    "--link",
    "link_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Keep a symlink at PATH to this start's pty (printed on a LINK line; removed at exit), "
    "so PUMP_PORT=PATH survives restarts. Only an older symlink there is replaced.",
)
@click.option(
    "--capture",
    "capture_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write everything on the line (both directions) to this pcapng file for Wireshark: one "
    "packet per COBS frame, direction in epb_flags, link type USER0 (147); dissector: "
    "`pumpctl trace --dissector`.",
)
@click.option(
    "--capture-clock",
    type=click.Choice(["pump", "wall"]),
    default="pump",
    show_default=True,
    help="Timestamps of --capture: the pump's clock (reproducible with --lockstep) or the host's.",
)
def serve(
    profile_name: str,
    state_path: Path | None,
    seed: int,
    lockstep: bool,
    time_scale: float,
    port_url: str | None,
    baud: int | None,
    control_path: Path | None,
    start_time: int,
    insecure_test_keys: bool,
    auto_accept_pairing: bool,
    patient_name: str | None,
    patient_seed: int | None,
    link_path: Path | None,
    capture_path: Path | None,
    capture_clock: CaptureClock,
) -> None:
    """Run a virtual pump until SIGINT/SIGTERM.

    Prints `PORT <path>` then `CONTROL <path>` as its first two lines (and `LINK <path>` with
    --link), then serves the telemetry
    protocol on PORT and the bench on CONTROL.  The pump's side of pairing (the confirmation
    code to compare, then `vpump ctl pairing accept CODE`) is printed on stderr.

    \b
    Examples:
      vpump serve --lockstep --state pump.nvm
      vpump serve --port socket://localhost:7000 --baud 115200
      vpump serve --lockstep --state pump.nvm --patient spinal_adult
      vpump serve --lockstep --capture line.pcapng
      pumpctl --port /dev/pts/5 identify
    """
    try:
        profile = load_profile(profile_name)
    except (ProfileError, OSError) as exc:
        raise click.UsageError(str(exc)) from exc
    patient = _load_patient(patient_name, patient_seed)
    state = state_path or default_state_path(profile.name, seed)
    try:
        opened, board = open_pump(
            state,
            profile,
            seed,
            start_time=start_time,
            insecure_test_keys=insecure_test_keys,
            patient=patient,
        )
    except (StateError, OSError) as exc:
        raise click.ClickException(f"refused: {exc}") from exc
    for note in opened.notes:
        print(f"vpump: {note}", file=sys.stderr)
    power_on(board, opened.saved)
    bench = BenchPump(board, auto_accept_pairing=auto_accept_pairing, console=_console_line)
    port: LinePort
    try:
        port = SerialUrlPort(port_url, baud or 115200) if port_url else PtyPort()
    except Exception as exc:  # pyserial raises several types for a bad URL or a busy device
        raise click.UsageError(f"--port {port_url}: {exc}") from exc
    try:
        control = ControlServer(control_path) if control_path else ControlServer.in_private_dir()
    except ControlPathError as exc:
        raise click.UsageError(str(exc)) from exc
    try:
        if link_path is not None:
            registry.make_link(link_path, port.path)
    except registry.LinkError as exc:
        control.close()
        port.close()
        opened.close()
        raise click.UsageError(str(exc)) from exc
    early_stop = EarlyStop()  # a SIGTERM right after the announcement still flushes the state
    announce(port.path, control.path)
    if link_path is not None:
        print(f"LINK {link_path}", flush=True)
    entry = registry.register(
        port.path,
        control.path,
        board.identity.serial_number,
        profile.name,
        str(link_path) if link_path is not None else None,
    )
    print(
        f"vpump: {board.identity.serial_number} ({profile.name}) state={state} "
        f"{'lockstep' if lockstep else f'time-scale={time_scale:g}'}",
        file=sys.stderr,
    )
    if insecure_test_keys:
        print(INSECURE_TEST_KEYS_BANNER, file=sys.stderr)
    if auto_accept_pairing:
        _console_line(
            "WARNING: --auto-accept-pairing: pairing keys are stored without anyone comparing "
            "the confirmation code at the pump (scripted rigs only)"
        )
    clock = SimClock.start(board.now, lockstep, time_scale)
    checkpoint = Checkpointer(opened, bench.board)
    checkpoint()
    capture: LineCapture | None = None
    capture_error: OSError | None = None
    try:
        try:
            if capture_path is not None:
                capture = LineCapture(capture_path, capture_clock, source=port.path)
        except OSError as exc:
            capture_error = exc
        else:
            loop = ServeLoop(bench, port, control, clock, baud, checkpoint, capture)
            early_stop.forward_to(loop.stop)
            loop.run()
    finally:
        early_stop.restore()
        registry.unregister(entry)
        registry.remove_link(link_path, port.path)
        if capture is not None:
            capture.close()
        saved_all = shut_down(opened, bench.board)
        control.close()
        port.close()
    if capture_error is not None:
        raise click.ClickException(f"--capture {capture_path}: {capture_error}")
    if not saved_all:
        sys.exit(1)
    print("vpump: state flushed, bye", file=sys.stderr)


def _load_patient(name: str | None, seed: int | None) -> PatientProfile | None:
    """``--patient`` and ``--patient-seed`` as a profile; a usage error (exit 2) if unusable."""
    if name is None:
        if seed is not None:
            raise click.UsageError("--patient-seed needs --patient")
        return None
    try:
        profile = load_patient_profile(name)
        return profile if seed is None else draw(profile, seed)
    except (PatientProfileError, OSError) as exc:
        raise click.UsageError(f"--patient {name}: {exc}") from exc


def _console_line(text: str) -> None:
    """One line on the pump's console (stderr): what a real pump would show on its display."""
    print(f"vpump: {text}", file=sys.stderr, flush=True)
