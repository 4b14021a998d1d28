"""The README pictures (docs/img, ``make pictures``) are what the code draws today.

Rendered again into a temporary directory; the plotted data must equal the JSON sidecars that
``make pictures`` wrote next to the checked-in PNGs (data, not pixels), and the PNGs must be real
images of the size the plotting functions report.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest

from .pngcheck import png_size

ROOT = Path(__file__).resolve().parents[2]
IMG = ROOT / "docs" / "img"


def _make_pictures() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "make_pictures", ROOT / "docs/tools/make_pictures.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_shows_both_pictures() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "docs/img/timeline.png" in readme and "docs/img/trumpet.png" in readme


@pytest.mark.parametrize("stem", ["timeline", "trumpet"])
def test_checked_in_pngs_are_real_images_of_the_recorded_size(stem: str) -> None:
    sidecar = json.loads((IMG / f"{stem}.json").read_text(encoding="utf-8"))
    assert png_size(IMG / f"{stem}.png") == tuple(sidecar["size_px"])


def test_rendering_again_gives_the_plotted_data_of_the_sidecars(tmp_path: Path) -> None:
    rendered = _make_pictures().render(tmp_path)
    for stem, data in rendered.items():
        sidecar = json.loads((IMG / f"{stem}.json").read_text(encoding="utf-8"))
        assert data == sidecar, f"docs/img/{stem} is stale: run make pictures"
        assert png_size(tmp_path / f"{stem}.png") == tuple(sidecar["size_px"])
