"""Editing that never surprises: an invalid edit is never run, leaving with changed rules asks, and a
rule left unset says the value in force."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pygame
import pytest
from conftest import LEVELS
from test_game_app import FakeSession, press
from test_game_panel import ATTEMPTS, focus, goto, type_text
from test_game_panel import press as press_panel

from classroom.game.model.progress import Progress
from classroom.game.ui.app import App, Options
from classroom.game.ui.panel import ConfigPanel
from classroom.level import Level, list_levels, load_level

LOST = LEVELS / "03-lost-notes.yaml"


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("CLASSROOM_DATA_DIR", str(tmp_path / "data"))
    window = App(list_levels(), Options(), Progress.load())
    yield window
    window.close()


@pytest.fixture
def scene(app: App, monkeypatch: pytest.MonkeyPatch) -> Any:
    sessions: list[FakeSession] = []

    def start(level: Level, resources: Any, seed: int, speed: float) -> FakeSession:
        sessions.append(FakeSession(level, resources, seed, speed))
        return sessions[-1]

    monkeypatch.setattr(app, "start_session", start)
    play: Any = app.switch("play", level=load_level(str(LOST)), wall=lambda: 1000.0)
    play.sessions = sessions
    app.step()
    return play


def test_f5_on_invalid_yaml_refuses_to_run_and_says_why(app: App, scene: Any) -> None:
    press(app, pygame.K_F2)
    goto(scene.panel, "kind: VirtualService")
    type_text(scene.panel, "x")
    press(app, pygame.K_F5)
    assert not scene.sessions and scene.state == "ready"
    assert scene.message.startswith("Not run: the YAML is invalid at line") and "VirtualServicex" in scene.message
    press(app, pygame.K_BACKSPACE)  # fixed: now it runs
    press(app, pygame.K_F5)
    assert len(scene.sessions) == 1 and scene.state == "running"


def test_leaving_with_changed_rules_asks_and_a_second_esc_leaves(app: App, scene: Any) -> None:
    focus(scene.panel, ATTEMPTS)
    press(app, pygame.K_RIGHT)  # one more retry: the rules differ from the level's
    press(app, pygame.K_ESCAPE)
    assert app.scene is scene and "Esc again to leave" in scene.message
    press(app, pygame.K_l)  # any other key stays (this one hides the legend)
    assert app.scene is scene and "Staying" in scene.message
    press(app, pygame.K_ESCAPE)
    press(app, pygame.K_ESCAPE)
    assert app.scene.name == "lesson"


def test_leaving_with_the_rules_untouched_does_not_ask(app: App, scene: Any) -> None:
    press(app, pygame.K_ESCAPE)
    assert app.scene.name == "lesson"


def test_a_rule_left_unset_says_the_value_in_force() -> None:
    pygame.init()
    panel = ConfigPanel(load_level(str(LOST)))
    fields = {field.label: field for field in panel.editor.fields()}
    assert fields["retry attempts"].default == "2"  # Istio's
    assert fields["timeout"].default == "15s"
    assert "connect-failure" in fields["retry on"].default
    focus(panel, ATTEMPTS)
    press_panel(panel, pygame.K_LEFT)  # below 0: not set, so Istio's default is in force
    fields = {field.label: field for field in panel.editor.fields()}
    assert fields["retry attempts"].value is None
    assert panel._widgets[panel._focus].not_set == "(not set: 2)"
