"""The window's compare screen: the same class under several meshes, each round real, side by side.

Reached from level select with C; each column fills in as that mesh's round ends; Esc stops the round
under way and leaves no process behind.  Runs under SDL's dummy driver (conftest sets it).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pygame
import pytest

from classroom.game.model.progress import Progress
from classroom.game.ui.app import App, Options
from classroom.level import list_levels
from classroom.mesh.runtime.round import wait_gone


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CLASSROOM_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


def press(app: App, key: int) -> None:
    pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=key, mod=0, unicode=""))
    app.step()


def group_members(pgid: int) -> list[int]:
    """Every live process of the process group ``pgid`` (read from /proc)."""
    members = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                members.append(int(entry))
    return members


def test_c_on_level_select_opens_the_compare_screen_for_the_chosen_level() -> None:
    app = App(list_levels(), Options(teacher=True), Progress.load())
    try:
        app.switch("levels", selected="teacher-in-the-aisle")
        app.step()
        press(app, pygame.K_c)
        assert app.scene.name == "compare" and app.scene.level.name == "teacher-in-the-aisle"
        assert [e.profile for e in app.scene.comparison.entries][:2] == ["istio", "linkerd"]
        press(app, pygame.K_ESCAPE)  # before any round has got far: stopped, and back
        assert app.scene.name == "levels"
    finally:
        app.close()


def test_the_compare_screen_plays_each_mesh_for_real_and_shows_who_read_the_notes() -> None:
    levels = list_levels()
    level = next(lv for lv in levels if lv.name == "teacher-in-the-aisle")
    app = App(levels, Options(teacher=True, speed=4), Progress.load())
    try:
        scene = app.switch("compare", level=level, profiles=("traefik", "istio"))
        deadline = time.monotonic() + 240
        while not scene.comparison.done and time.monotonic() < deadline:  # type: ignore[attr-defined]
            app.step()
        rows = {e.profile: e.row for e in scene.comparison.entries}  # type: ignore[attr-defined]
        assert rows["traefik"] is not None and rows["istio"] is not None, scene.comparison.entries  # type: ignore[attr-defined]
        assert rows["traefik"]["teacher_read"] > 0 == rows["istio"]["teacher_read"]
        assert rows["traefik"]["proxy_processes"] < rows["istio"]["proxy_processes"]
        app.step()  # drawn with both columns filled
    finally:
        app.close()


def test_esc_in_the_middle_of_a_round_stops_it_and_every_process_it_started() -> None:
    levels = list_levels()
    level = next(lv for lv in levels if lv.name == "teacher-in-the-aisle")
    app = App(levels, Options(teacher=True), Progress.load())
    try:
        scene = app.switch("compare", level=level, profiles=("istio", "consul"))
        app.step()
        proc = scene.comparison._proc  # type: ignore[attr-defined]
        assert proc is not None
        pgid = proc.pid
        deadline = time.monotonic() + 60
        while len(group_members(pgid)) < 5 and time.monotonic() < deadline:  # its round's processes are up
            app.step()
        assert len(group_members(pgid)) >= 5
        press(app, pygame.K_ESCAPE)
        assert app.scene.name == "levels"
        assert wait_gone(group_members(pgid), timeout=20) == []
        assert [e.error for e in scene.comparison.entries] == ["stopped", "stopped"]  # type: ignore[attr-defined]
    finally:
        app.close()
