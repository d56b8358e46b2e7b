"""End to end: ``classroom play LEVEL --autoplay --screenshot DIR`` in a subprocess, as CI runs it.

Level 1 is played with its solution through the real command, with SDL's
dummy video driver (no screen): a real round of real processes, the window
drawing it off-screen, the results screen reached with every note delivered,
two screenshots saved and the three stars kept in the player's progress.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pygame

REPO = Path(__file__).resolve().parent.parent


def test_autoplay_of_level_1_reaches_the_results_with_every_note_delivered(tmp_path: Path) -> None:
    shots, data = tmp_path / "shots", tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.update(SDL_VIDEODRIVER="dummy", CLASSROOM_DATA_DIR=str(data))
    done = subprocess.run(
        [sys.executable, "-m", "classroom.cli", "play", "levels/01-first-note.yaml", "--autoplay",
         "--screenshot", str(shots)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=240,
    )
    assert done.returncode == 0, done.stderr
    assert "objectives met, 15/15 notes delivered, 3 stars" in done.stdout
    for name in ("first-note-play.png", "first-note-results.png"):
        image = pygame.image.load(str(shots / name))
        assert image.get_size() == (1280, 720)
    assert json.loads((data / "progress.json").read_text())["stars"] == {"first-note": 3}
    assert "Traceback" not in done.stderr
