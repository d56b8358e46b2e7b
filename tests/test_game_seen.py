"""What the player saw, as data: autoplay of real rounds writes ``LEVEL-seen.json``.

Each case plays a real level in the window (SDL's dummy driver, off-screen) as
``classroom play LEVEL --autoplay --screenshot DIR`` does, and reads back how
many times each kind of moment was on screen: the lesson's moments must be
shown, not only happen.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

from classroom.game.ui.app import Options, play
from classroom.level import list_levels

pytestmark = pytest.mark.timeout(300)


def autoplay(name: str, folder: Path, own_rules: bool = False) -> dict:
    """Autoplay level ``name`` (its solution, or with ``own_rules`` the level's own broken rules)."""
    levels = list_levels()
    level = next(candidate for candidate in levels if candidate.name == name)
    folder.mkdir(parents=True, exist_ok=True)
    play(levels, level, Options(speed=4.0), autoplay=True, screenshot_dir=folder,
         resources=level.resources if own_rules else None)
    return json.loads((folder / f"{name}-seen.json").read_text())


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLASSROOM_DATA_DIR", str(tmp_path / "data"))


def test_under_mtls_the_teacher_is_shown_ciphertext_and_without_it_the_words(tmp_path: Path) -> None:
    locked = autoplay("teacher-in-the-aisle", tmp_path / "strict")
    assert locked["passed"]
    assert locked["shown"]["bubble_ciphertext"] > 0 and locked["shown"]["bubble_plaintext"] == 0
    assert any("bytes of TLS" in line and "17 03 03" in line for line in locked["ticker"])
    open_ = autoplay("teacher-in-the-aisle", tmp_path / "disable", own_rules=True)
    assert not open_["passed"]
    assert open_["shown"]["bubble_plaintext"] > 0 and open_["shown"]["bubble_ciphertext"] == 0
    assert open_["shown"]["forgery_believed"] > 0
    assert {"note in flight", "aisle mtls", "aisle plain", "impostor_refused"} <= set(open_["legend"])


def test_nosy_classmates_are_shown_peeking(tmp_path: Path) -> None:
    seen = autoplay("nosy-neighbours", tmp_path)
    assert seen["shown"]["peek"] > 0
    assert any("peeks at" in line and "sealed" in line for line in seen["ticker"])


def test_refused_impostors_are_shown_with_both_identities(tmp_path: Path) -> None:
    seen = autoplay("the-impostor", tmp_path)
    assert seen["shown"]["impostor_refused"] > 0 and seen["shown"]["impostor_accepted"] == 0
    assert any("refused an impostor posing as" in line for line in seen["ticker"])


def test_the_command_writes_seen_json_beside_the_screenshots(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.update(SDL_VIDEODRIVER="dummy", CLASSROOM_DATA_DIR=str(tmp_path / "data"))
    done = subprocess.run([sys.executable, "-m", "classroom.cli", "play", "first-note", "--autoplay",
                           "--speed", "4", "--screenshot", str(tmp_path)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr
    seen = json.loads((tmp_path / "first-note-seen.json").read_text())
    assert seen["level"] == "first-note" and seen["passed"]
    assert set(seen["shown"]) >= {"bubble_plaintext", "bubble_ciphertext", "peek", "impostor_refused",
                                  "confiscated", "denied", "retry", "ejected"}
    assert "first-note-seen.json" in done.stdout
