"""The mouse everywhere: from the title to a running round with clicks alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pygame
import pytest
from test_game_app import FakeSession
from test_game_results import Finished, failed_report

from classroom.game.model.progress import Progress
from classroom.game.ui.app import App, Options
from classroom.game.ui.scenes import common
from classroom.level import Level, list_levels

MODE = "PeerAuthentication/default/spec.mtls.mode"


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("CLASSROOM_DATA_DIR", str(tmp_path / "data"))
    window = App(list_levels(), Options(), Progress.load())
    sessions: list[FakeSession] = []

    def start(level: Level, resources: Any, seed: int, speed: float) -> FakeSession:
        sessions.append(FakeSession(level, resources, seed, speed))
        return sessions[-1]

    monkeypatch.setattr(window, "start_session", start)
    window.sessions_started = sessions  # type: ignore[attr-defined]
    yield window
    window.close()


def click(app: App, pos: tuple[int, int]) -> None:
    pygame.event.post(pygame.event.Event(pygame.MOUSEBUTTONDOWN, pos=pos, button=1))
    app.step()


def test_clicks_alone_go_from_the_title_to_a_running_round(app: App) -> None:
    app.step()
    title: Any = app.scene
    click(app, title.menu.rects[title.menu.labels.index("Play")].center)
    assert app.scene.name == "levels"
    levels: Any = app.scene
    app.step()
    second = app.levels[1].name
    click(app, levels.row_rects[second].center)  # a click selects...
    assert app.scene is levels and levels.index == 1
    first = app.levels[0].name
    click(app, levels.row_rects[first].center)
    click(app, levels.row_rects[first].center)  # ...and a click on the selected level opens it
    assert app.scene.name == "lesson"
    lesson: Any = app.scene
    app.step()
    click(app, lesson.menu.rects[lesson.menu.labels.index("To class")].center)
    assert app.scene.name == "play"
    play: Any = app.scene
    play._wall = lambda: 1000.0
    app.step()
    before = {f.key: f.value for f in play.panel.editor.fields()}[MODE]
    row = play.panel.field_rect(MODE)
    assert row is not None
    click(app, (row.right - 4, row.centery))  # the right half of the choice: the next mode
    after = {f.key: f.value for f in play.panel.editor.fields()}[MODE]
    assert after != before and play.model.mtls_mode == after
    run = next(rect for rect, key in common.HINT_TARGETS if key == pygame.K_SPACE)
    click(app, run.center)  # the footer's "Space run" is a button
    assert play.state == "running" and len(app.sessions_started) == 1  # type: ignore[attr-defined]
    assert app.sessions_started[0].resources == play.panel.resources()  # type: ignore[attr-defined]


def test_results_buttons_take_a_click(app: App) -> None:
    level = app.levels[7]
    results: Any = app.switch("results", level=level, session=Finished(failed_report()), resources=level.resources)
    app.step()
    click(app, results.menu.rects[results.menu.labels.index("Levels")].center)
    assert app.scene.name == "levels"
