"""Finding 11 (and issue 13 item 10): the state files of ``vpump serve`` are one pump, or refused.

The attacks, before the fix (each with real ``vpump serve`` processes):

- copying only the NVM image started a fresh board on it: the clock 20 days back, the true
  reservoir 0 (the motor pumping air) while the firmware showed 10.55 mL, and no alarm;
- another pump's image under this pump's side file ran under this pump's serial number with the
  other pump's prescription and keys;
- a side file holding ``{}`` gave a traceback;
- a random file of the image's size was overwritten with factory state;
- deleting only the image gave an aged "fresh" pump (the side file kept clock and battery).

Specification: the image carries a factory area (a random pump id, serial number, model and run
generation) and the side file a binding to it (id, serial, generation, and after a clean
shutdown the NVM's SHA-256).  A restart needs both files, of the same pump, of the same run;
anything else is refused with a clear reason, exit 1, no traceback, and no file created,
modified or removed.  Copying both files together moves the pump.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from hw_sim.board import board_state
from tests.integration.harness import ServedPump, run_vpump, served_pump, xdg_env

SIZE = 1_048_576


def _make_pump(workdir: Path, seed: int) -> Path:
    """A used pump, stopped cleanly: paired, filled, programmed, 20 days of therapy."""
    workdir.mkdir(parents=True)
    env = xdg_env(workdir)
    state = workdir / "pump.nvm"
    with served_pump(workdir, env, state=state, extra=("--seed", str(seed))) as pump:
        pump.pair()
        for args in (
            ("refill", "--withdrawn", "0mL", "--added", "20mL", "--concentration", "2000mcg/mL"),
            ("program", "continuous", "--dose", "500mcg/day"),
        ):
            assert pump.pumpctl("--json", "--yes", *args).code == 0
        pump.advance("20d")
    return state


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("made")
    return {"a": _make_pump(root / "a", 1), "b": _make_pump(root / "b", 2)}


def _copy(image: Path, to: Path, *, side: bool = True, image_too: bool = True) -> Path:
    to.mkdir(parents=True, exist_ok=True)
    target = to / "pump.nvm"
    if image_too:
        shutil.copyfile(image, target)
    if side:
        shutil.copyfile(board_state.sidecar_path(image), board_state.sidecar_path(target))
    return target


def _files(directory: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.iterdir())
        if p.is_file()
    }


@pytest.fixture
def env(tmp_path: Path) -> Iterator[dict[str, str]]:
    yield xdg_env(tmp_path / "xdg")


def refused(state: Path, env: dict[str, str], *extra: str) -> str:
    """Run ``vpump serve`` on ``state``: it must refuse, change nothing, and say why (stderr)."""
    before = _files(state.parent)
    done = run_vpump(
        "serve",
        "--lockstep",
        "--state",
        str(state),
        "--control",
        str(state.parent / "bench.ctl"),
        *extra,
        env=env,
    )
    assert done.returncode == 1, done
    assert "PORT" not in done.stdout, done.stdout  # it never started serving
    assert "Traceback" not in done.stderr, done.stderr
    assert "refused" in done.stderr, done.stderr
    assert _files(state.parent) == before  # no file created, modified or removed
    return done.stderr


def test_an_image_copied_without_its_side_file_is_refused(
    made: dict[str, Path], tmp_path: Path, env: dict[str, str]
) -> None:
    state = _copy(made["a"], tmp_path / "copy", side=False)
    message = refused(state, env)
    assert "hardware state file" in message and "copy both files together" in message


def test_another_pumps_image_under_this_pumps_side_file_is_refused(
    made: dict[str, Path], tmp_path: Path, env: dict[str, str]
) -> None:
    state = _copy(made["a"], tmp_path / "mixed")
    shutil.copyfile(made["b"], state)  # pump B's image, pump A's side file
    message = refused(state, env)
    assert "VP20-000001" in message and "VP20-000002" in message
    assert "two pumps" in message


@pytest.mark.parametrize(
    "content",
    ["{}", "[]", "{not json", '{"format": 2}'],
    ids=["empty-object", "array", "not-json", "format-only"],
)
def test_a_damaged_side_file_is_refused_without_a_traceback(
    made: dict[str, Path], tmp_path: Path, env: dict[str, str], content: str
) -> None:
    state = _copy(made["a"], tmp_path / "damaged")
    board_state.sidecar_path(state).write_text(content)
    message = refused(state, env)
    assert str(board_state.sidecar_path(state)) in message


def test_a_side_file_with_a_field_of_the_wrong_type_is_refused(
    made: dict[str, Path], tmp_path: Path, env: dict[str, str]
) -> None:
    state = _copy(made["a"], tmp_path / "typed")
    side = board_state.sidecar_path(state)
    document = json.loads(side.read_text())
    document["reservoir"]["volume_nl"] = "lots"
    side.write_text(json.dumps(document))
    assert "reservoir.volume_nl" in refused(state, env)


def test_a_random_file_of_the_right_size_is_refused_and_left_as_it_is(
    tmp_path: Path, env: dict[str, str]
) -> None:
    (tmp_path / "random").mkdir()
    state = tmp_path / "random" / "pump.nvm"
    state.write_bytes(os.urandom(SIZE))
    assert "not an NVM image" in refused(state, env)


def test_a_side_file_without_its_image_is_refused_and_no_image_is_made(
    made: dict[str, Path], tmp_path: Path, env: dict[str, str]
) -> None:
    state = _copy(made["a"], tmp_path / "no-image", image_too=False)
    message = refused(state, env)
    assert "missing" in message and not state.exists()


def test_an_older_copy_of_the_image_is_refused(
    made: dict[str, Path], tmp_path: Path, env: dict[str, str]
) -> None:
    state = _copy(made["a"], tmp_path / "older")
    old_image = state.read_bytes()
    with served_pump(state.parent, env, state=state) as pump:  # one more run of the pump
        pump.advance("1d")
    state.write_bytes(old_image)  # the image of the run before, with the newest side file
    assert "older copy" in refused(state, env)


def test_an_image_changed_after_a_clean_shutdown_is_refused(
    made: dict[str, Path], tmp_path: Path, env: dict[str, str]
) -> None:
    state = _copy(made["a"], tmp_path / "changed")
    with state.open("r+b") as image:
        image.seek(SIZE // 2)
        image.write(b"\x01")
    assert "changed after the clean shutdown" in refused(state, env)


def test_an_image_of_another_model_is_refused(
    made: dict[str, Path], tmp_path: Path, env: dict[str, str]
) -> None:
    state = _copy(made["a"], tmp_path / "model")
    assert "VP-20" in refused(state, env, "--profile", "vp40")


def test_both_files_copied_together_are_the_same_pump(
    made: dict[str, Path], tmp_path: Path, env: dict[str, str]
) -> None:
    state = _copy(made["a"], tmp_path / "moved")
    stopped_at = json.loads(board_state.sidecar_path(state).read_text())["now"]
    pump = ServedPump(state.parent, env, state=state).start()
    try:
        hw = pump.bench("hw-status")
        assert pump.identity["serial_number"] == "VP20-000001"
        assert hw["reservoir_nl"] == pytest.approx(20_000_000 - 20 * 250_000, rel=0.02)
        assert hw["time"] == stopped_at  # its own clock, not a factory-fresh board's
    finally:
        assert pump.stop() == 0
