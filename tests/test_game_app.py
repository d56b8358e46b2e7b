"""The window's app: progress, scenes driven by keys, the play scene fed events, replay, the session.

Scene tests run under SDL's dummy driver (conftest sets it) with a stand-in
session that hands the play scene the events a test chooses; the session's
own tests start real rounds.
"""

from __future__ import annotations

import ast
import json
import os
import queue
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pygame
import pytest

from classroom.cli import main
from classroom.game.model.progress import FILE_NAME, Progress, stars_for
from classroom.game.model.session import Session
from classroom.game.ui import app as app_module
from classroom.game.ui import theme
from classroom.game.ui.app import App, Options
from classroom.level import Level, list_levels, load_level
from classroom.mesh.runtime.round import wait_gone
from classroom.telemetry.recorder import Recorder, header

REPO = Path(__file__).resolve().parent.parent
FIRST = REPO / "levels" / "01-first-note.yaml"


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "data"
    monkeypatch.setenv("CLASSROOM_DATA_DIR", str(folder))
    return folder


@pytest.fixture(scope="module")
def levels() -> list[Level]:
    return list_levels()


@pytest.fixture
def app(levels: list[Level]) -> Any:
    window = App(levels, Options(), Progress.load())
    yield window
    window.close()


def press(app: App, key: int, mod: int = 0, unicode: str = "") -> None:
    pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=key, mod=mod, unicode=unicode))
    app.step()


def report(passed: bool, met: int, of: int) -> dict[str, Any]:
    objectives = [{"metric": "delivered_ratio", "op": ">=", "target": 1.0, "value": 1.0 if i < met else 0.5,
                   "passed": i < met} for i in range(of)]
    return {"passed": passed, "objectives": objectives, "ledger_ok": True,
            "notes": {"sent": 2, "delivered": 2, "failed": 0, "duplicates": 0, "in_flight": 0},
            "retries": 0, "latency_ms": {"p50": 900.0, "p99": 950.0}}


# --- progress -------------------------------------------------------------------------------------

def test_stars_count_the_objectives_met() -> None:
    assert stars_for(report(True, 3, 3)) == 3
    assert stars_for(report(False, 2, 3)) == 2
    assert stars_for(report(False, 1, 3)) == 1
    assert stars_for(report(False, 0, 3)) == 0


def test_progress_is_saved_and_reloaded(data_dir: Path) -> None:
    progress = Progress.load()
    assert progress.unlocked(["a", "b", "c"]) == [True, False, False]
    assert progress.record("a", 3) and not progress.record("a", 2)  # only a better result counts
    progress.record("b", 2)
    assert progress.save() is None
    again = Progress.load()
    assert (again.stars_of("a"), again.stars_of("b"), again.stars_of("c")) == (3, 2, 0)
    assert again.unlocked(["a", "b", "c"]) == [True, True, False]  # b is open, c waits for b's pass
    assert json.loads((data_dir / FILE_NAME).read_text())["stars"] == {"a": 3, "b": 2}


def test_an_unreadable_progress_file_costs_one_warning(data_dir: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    data_dir.mkdir()
    (data_dir / FILE_NAME).write_text("{not json")
    progress = Progress.load()
    assert progress.stars == {}
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and FILE_NAME in err and "Traceback" not in err
    progress.record("a", 1)
    assert progress.save() is None and Progress.load().stars_of("a") == 1


def test_the_model_side_imports_no_pygame() -> None:
    code = ("import sys, classroom.game.model.session, classroom.game.model.progress; "
            "print('pygame' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.strip() == "False"


# --- scenes by name -------------------------------------------------------------------------------

SCENE_NAMES = {"title", "levels", "lesson", "play", "results", "replay", "compare"}
SCENES_DIR = REPO / "classroom" / "game" / "ui" / "scenes"


def test_every_scene_is_registered_under_its_name(app: App) -> None:
    from classroom.game.ui.scenes.base import SCENES

    assert set(SCENES) == SCENE_NAMES
    assert all(cls.name == name for name, cls in SCENES.items())
    shown = app.switch("levels", selected="first-note")
    assert app.scene is shown and shown.name == "levels"
    with pytest.raises(KeyError, match="no scene registered as 'credits'.*known: compare, lesson, levels"):
        app.switch("credits")
    assert app.scene is shown  # an unknown name changes nothing


def test_no_scene_module_imports_another_scene_or_the_app() -> None:
    """Scenes switch by name through the app: an import of a sibling, anywhere in a scene, is a mistake."""
    siblings = {f"classroom.game.ui.scenes.{name}" for name in SCENE_NAMES}
    for path in sorted(SCENES_DIR.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            own = f"classroom.game.ui.scenes.{path.stem}"
            wrong = [n for n in names if (n in siblings and n != own) or n.startswith("classroom.game.ui.app")]
            assert not wrong, f"{path.name}:{node.lineno} imports {wrong[0]}"


# --- scenes by keyboard ---------------------------------------------------------------------------

def test_keyboard_alone_goes_from_title_to_play(app: App) -> None:
    app.step()
    assert app.scene.name == "title"
    press(app, pygame.K_RETURN)
    assert app.scene.name == "levels"
    press(app, pygame.K_RETURN)  # the first level is open on a fresh start
    assert app.scene.name == "lesson" and app.scene.level.name == "first-note"  # type: ignore[attr-defined]
    press(app, pygame.K_RETURN)
    assert app.scene.name == "play"
    press(app, pygame.K_ESCAPE)
    assert app.scene.name == "lesson"
    press(app, pygame.K_ESCAPE)
    assert app.scene.name == "levels"
    press(app, pygame.K_ESCAPE)
    assert app.scene.name == "title"
    press(app, pygame.K_ESCAPE)
    assert not app.running


def test_a_locked_level_says_why_and_a_pass_opens_it(app: App) -> None:
    scene: Any = app.switch("levels")
    press(app, pygame.K_DOWN)
    press(app, pygame.K_RETURN)
    assert app.scene is scene and "Locked" in scene.notice and "The first note" in scene.notice
    app.progress.record("first-note", 3)
    press(app, pygame.K_RETURN)
    assert app.scene.name == "lesson" and app.scene.level.name == "nosy-neighbours"  # type: ignore[attr-defined]


def test_level_select_draws_earned_stars_filled(app: App) -> None:
    app.progress.record("first-note", 3)
    app.switch("levels", selected="first-note")
    app.step()
    row = app.scene.row_rects["first-note"]  # type: ignore[attr-defined]
    yellow = _count(app.surface, row, theme.YELLOW)
    app.progress.stars.clear()
    app.step()
    assert yellow > 50 and _count(app.surface, row, theme.YELLOW) < yellow / 3  # outlines only


def _count(surface: pygame.Surface, rect: pygame.Rect, colour: tuple[int, int, int],
           tolerance: int = 12) -> int:
    """Pixels of ``rect`` within ``tolerance`` of ``colour`` in every channel."""
    rect = rect.clip(surface.get_rect())
    def near(x: int, y: int) -> bool:
        return max(abs(a - b) for a, b in zip(surface.get_at((x, y))[:3], colour, strict=True)) <= tolerance

    return sum(1 for x in range(rect.left, rect.right) for y in range(rect.top, rect.bottom) if near(x, y))


# --- the play scene, fed events -------------------------------------------------------------------

class FakeSession:
    """Stands in for a round: the test decides what arrives and when."""

    def __init__(self, level: Level, resources: Any, seed: int, speed: float) -> None:
        self.level, self.resources, self.seed, self.speed = level, resources, seed, speed
        self.header = header(level, seed, speed)
        self.expected = 2
        self.queue: list[dict[str, Any]] = []
        self.report: dict[str, Any] | None = None
        self.error: str | None = None
        self.stopped = False
        self.recording_path = ""
        self.said: queue.SimpleQueue[Any] = queue.SimpleQueue()  # a lecture script's words (none here)

    def drain(self) -> list[dict[str, Any]]:
        out, self.queue = self.queue, []
        return out

    def stop(self) -> None:
        self.stopped = True

    def latencies(self) -> list[float]:
        return [900.0, 950.0]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def play(app: App, monkeypatch: pytest.MonkeyPatch) -> Any:
    sessions: list[FakeSession] = []

    def start(level: Level, resources: Any, seed: int, speed: float) -> FakeSession:
        sessions.append(FakeSession(level, resources, seed, speed))
        return sessions[-1]

    monkeypatch.setattr(app, "start_session", start)
    clock = Clock()
    scene = app.switch("play", level=load_level(str(FIRST)), wall=clock)
    return scene, sessions, clock


def _note_events(t: float) -> list[dict[str, Any]]:
    return [
        {"kind": "link_up", "t": t, "hand": "alice", "peer": "ben", "tls": "TLSv1.3", "mutual": True},
        {"kind": "sent", "t": t, "note": "alice>fay#1", "from": "alice", "to": "fay"},
    ]


def test_space_runs_a_round_and_its_notes_are_drawn_on_the_aisles(app: App, play: Any) -> None:
    scene, sessions, clock = play
    app.step()
    assert scene.state == "ready" and not sessions
    press(app, pygame.K_SPACE)
    assert scene.state == "running" and len(sessions) == 1
    assert sessions[0].resources == scene.panel.resources()
    sessions[0].queue += _note_events(clock.now)
    clock.now += scene.model.hop_seconds / 2  # halfway along its first hop
    app.step()
    note = scene.model.notes["alice>fay#1"]
    assert note.state == "in_flight" and 0.3 < note.progress < 0.7
    x, y = scene.view.note_center(note)
    envelope = pygame.Rect(0, 0, 24, 24)
    envelope.center = (x, y)
    assert _count(app.surface, envelope, theme.NOTE_COLOURS["in_flight"]) > 20
    desk = scene.view.seat_rect("alice")
    assert _count(app.surface, desk, theme.DESK) > desk.width * desk.height // 4


def test_pause_freezes_the_view_while_the_round_goes_on(app: App, play: Any) -> None:
    scene, sessions, clock = play
    press(app, pygame.K_SPACE)
    sessions[0].queue += _note_events(clock.now)
    app.step()
    press(app, pygame.K_SPACE)
    assert scene.paused and "round goes on" in scene.message
    frozen = scene.model.notes["alice>fay#1"].progress
    sessions[0].queue.append({"kind": "result", "t": clock.now, "note": "alice>fay#1", "state": "delivered",
                              "latency": 0.9})
    clock.now += 5
    app.step()
    assert scene.model.notes["alice>fay#1"].progress == frozen and scene.settled == 0
    assert sessions[0].queue, "the events wait on the queue while paused"
    press(app, pygame.K_SPACE)
    assert not scene.paused and scene.settled == 1 and not sessions[0].queue


def test_reset_stops_the_round_and_speed_keys_change_the_next_run(app: App, play: Any) -> None:
    scene, sessions, clock = play
    press(app, pygame.K_PLUS)
    assert scene.speed == 2.0
    press(app, pygame.K_SPACE)
    assert sessions[0].speed == 2.0
    press(app, pygame.K_MINUS)
    press(app, pygame.K_MINUS)
    assert scene.speed == 0.5 and "next run" in scene.message
    press(app, pygame.K_r)
    assert sessions[0].stopped and scene.state == "ready"
    press(app, pygame.K_SPACE)
    assert sessions[1].speed == 0.5


def test_the_end_of_a_round_leads_to_its_results_and_saves_the_stars(app: App, play: Any,
                                                                   data_dir: Path) -> None:
    from classroom.game.ui.scenes.play import RESULTS_AFTER

    scene, sessions, clock = play
    press(app, pygame.K_SPACE)
    session = sessions[0]
    session.report = report(True, 3, 3)
    session.queue.append({"kind": "round_end", "t": clock.now})
    app.step()
    assert scene.state == "ended" and app.scene is scene
    clock.now += RESULTS_AFTER + 0.1
    app.step()
    results = app.scene
    assert results.name == "results" and results.stars == 3  # type: ignore[attr-defined]
    assert Progress.load(data_dir).stars_of("first-note") == 3
    assert app.is_open(1)  # the pass opened level 2
    press(app, pygame.K_RETURN)  # "Next level" is chosen first after a pass
    assert app.scene.name == "lesson" and app.scene.level.name == "nosy-neighbours"  # type: ignore[attr-defined]


def test_a_round_that_could_not_run_says_why_in_the_room(app: App, play: Any) -> None:
    scene, sessions, clock = play
    press(app, pygame.K_SPACE)
    sessions[0].error = "the room did not get ready within 30 s"
    sessions[0].queue.append({"kind": "round_end", "t": clock.now})
    app.step()
    assert scene.state == "error" and "did not get ready" in scene.message
    press(app, pygame.K_SPACE)  # try again
    assert scene.state == "running" and len(sessions) == 2


def test_the_play_scene_scales_with_the_window(levels: list[Level]) -> None:
    for size in ((1280, 720), (3840, 2160)):
        window = App(levels, Options(), Progress.load(), size=size)
        try:
            scene: Any = window.switch("play", level=load_level(str(FIRST)))
            window.step()
            parts = scene.layout(window.surface.get_size())
            assert window.surface.get_size() == size
            assert parts["bar"].height == round(44 * size[1] / 720)
            assert parts["room"].width > size[0] * 0.55 and parts["footer"].bottom == size[1]
            desk = scene.view.seat_rect("alice")
            assert _count(window.surface, desk, theme.DESK) > desk.width * desk.height // 4
        finally:
            window.close()


# --- replay ---------------------------------------------------------------------------------------

def test_replay_steps_forward_and_back_through_a_recording(app: App, tmp_path: Path) -> None:
    level = load_level(str(FIRST))
    path = tmp_path / "round.jsonl"
    with Recorder(path, header(level, 1, 1.0)) as rec:
        t = 2000.0
        rec.write({"kind": "room_ready", "t": t, "seconds": 1.0, "students": 7, "links_down": []})
        rec.write({"kind": "sent", "t": t + 0.1, "note": "alice>fay#1", "from": "alice", "to": "fay"})
        rec.write({"kind": "forwarded", "t": t + 0.4, "note": "alice>fay#1", "hand": "ben", "attempt": 1})
        rec.write({"kind": "result", "t": t + 1.6, "note": "alice>fay#1", "state": "delivered",
                   "latency": 1.5})
    scene: Any = app.switch("replay", path=str(path))
    app.step()
    press(app, pygame.K_RIGHT)
    press(app, pygame.K_RIGHT)
    assert scene.applied == 2 and "alice>fay#1" in scene.model.notes
    press(app, pygame.K_RIGHT)
    assert scene.model.notes["alice>fay#1"].at == "ben"
    press(app, pygame.K_LEFT)
    assert scene.applied == 2 and scene.model.notes["alice>fay#1"].at == "alice"
    press(app, pygame.K_END)
    assert scene.applied == 4 and scene.model.stats.delivered == 1
    press(app, pygame.K_HOME)
    assert scene.applied == 1 and scene.model.stats.sent == 0
    press(app, pygame.K_ESCAPE)
    assert not app.running  # opened on its own, Esc closes it


def test_replay_of_a_broken_recording_shows_the_reason(app: App, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text("not json\n")
    scene: Any = app.switch("replay", path=str(bad))
    app.step()
    assert "bad.jsonl:1" in scene.error and scene.events == []


def test_play_replay_opens_any_recording_in_the_replay_scene(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             levels: list[Level]) -> None:
    level = load_level(str(FIRST))
    path = tmp_path / "round.jsonl"
    with Recorder(path, header(level, 1, 1.0)) as rec:
        rec.write({"kind": "sent", "t": 2000.1, "note": "alice>fay#1", "from": "alice", "to": "fay"})
    shown: list[Any] = []

    def first_frame(window: App) -> int:
        window.step()
        shown.append(window.scene)
        window.close()
        return 0

    monkeypatch.setattr(App, "run", first_frame)
    assert app_module.play(levels, None, Options(), replay=str(path)) == 0
    assert shown[0].name == "replay" and not shown[0].error and len(shown[0].events) == 1


# --- the command line: bad input is one line, exit 2 ----------------------------------------------

@pytest.mark.parametrize("argv, words", [
    (["play", "--autoplay"], "--autoplay needs a LEVEL"),
    (["play", "no-such-level", "--autoplay"], "no level named 'no-such-level'"),
    (["play", "first-note", "--screenshot", "x"], "--screenshot goes with --autoplay"),
    (["play", "--replay", "/nonexistent/round.jsonl"], "round.jsonl"),
    (["play", "first-note", "--replay", "round.jsonl"], "not with a LEVEL or --autoplay"),
])
def test_play_rejects_bad_input_in_one_line(argv: list[str], words: str,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1 and "Traceback" not in err


def test_play_rejects_a_window_size_out_of_range(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        main(["play", "--size", "10x10"])
    err = capsys.readouterr().err
    assert raised.value.code == 2 and "--size must be between" in err and err.count("\n") == 1


# --- the session: a real round behind the window --------------------------------------------------

def test_a_session_queues_every_event_and_records_the_round() -> None:
    level = load_level(str(FIRST))
    session = Session(level, level.resources, seed=1, speed=4.0).start()
    try:
        assert session.wait(120), "the round did not end"
        events = session.drain()
        assert events[-1]["kind"] == "round_end" and session.report is not None
        assert session.report["notes"]["delivered"] == session.expected == 15
        lines = Path(session.recording_path).read_text().splitlines()
        assert json.loads(lines[0])["kind"] == "recording" and json.loads(lines[-1])["kind"] == "round_end"
        assert len(lines) == len(events) + 1  # the header, then every event the window saw
        assert len(session.latencies()) == 15
        assert not wait_gone([p["pid"] for p in session.round.processes], 10)
    finally:
        session.discard()
    assert not os.path.exists(session.recording_path)


def test_stopping_a_session_mid_round_stops_every_process() -> None:
    level = load_level(str(FIRST))
    session = Session(level, level.resources, seed=1, speed=0.5).start()
    try:
        deadline = time.monotonic() + 60
        seen: list[dict[str, Any]] = []
        while not any(e.get("kind") == "sent" for e in seen):
            assert time.monotonic() < deadline, "no note was sent"
            seen += session.drain()
            time.sleep(0.05)
        session.stop()
        assert session.done and session.stopped and session.report is None
        assert not wait_gone([p["pid"] for p in session.round.processes], 10)
        assert session.drain()[-1]["kind"] == "round_end"
    finally:
        session.discard()


def test_teacher_mode_opens_every_level_and_narrates_the_lesson(levels: list[Level]) -> None:
    window = App(levels, Options(teacher=True), Progress.load())
    try:
        assert all(window.is_open(i) for i in range(len(levels)))
        scene: Any = window.switch("play", level=load_level(str(FIRST)))
        window.step()
        box = scene.layout(window.surface.get_size())["narration"]
        assert box.height > 0 and box.top > scene.layout(window.surface.get_size())["room"].bottom
        assert _count(window.surface, box, theme.TEXT) > 100  # the first paragraph is written there
        press(window, pygame.K_PAGEDOWN)
        assert scene.narration == 1
    finally:
        window.close()


def test_text_typed_in_the_play_scene_reaches_the_yaml_editor(app: App, play: Any) -> None:
    scene, _, _ = play
    app.step()
    press(app, pygame.K_F2)
    assert scene.panel.editing and scene.panel.error is None
    pygame.event.post(pygame.event.Event(pygame.TEXTINPUT, text="]]"))
    app.step()
    assert scene.panel.error is not None  # the typed text arrived, and broke the YAML
