"""``classroom teach``'s window: projector type, live actions on keys and in a menu, speaker notes, hands.

Scene tests drive keys and the mouse under SDL's dummy driver (conftest sets it); the live actions
are proven on a real round: the leave key sends a student out, the office routes around her.
"""

from __future__ import annotations

import queue
import time
from pathlib import Path
from typing import Any

import pygame
import pytest
from conftest import REPO, level_doc

from classroom.game.model.lecturedesk import ACTIONS, LectureDesk, Question, class_wide, mtls_mode
from classroom.game.model.progress import Progress
from classroom.game.ui import lecturer, theme
from classroom.game.ui.app import App, Options
from classroom.level import Level, list_levels, load_level
from classroom.telemetry.recorder import header

FIRST = REPO / "levels" / "01-first-note.yaml"
MIGRATION = REPO / "levels" / "13-safe-migration.yaml"


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CLASSROOM_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


def press(app: App, key: int, mod: int = 0, unicode: str = "") -> None:
    pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=key, mod=mod, unicode=unicode))
    app.step()


def click(app: App, pos: tuple[int, int]) -> None:
    pygame.event.post(pygame.event.Event(pygame.MOUSEBUTTONDOWN, button=1, pos=pos))
    app.step()


def count(surface: pygame.Surface, rect: pygame.Rect, colour: tuple[int, int, int], tolerance: int = 12) -> int:
    rect = rect.clip(surface.get_rect())
    return sum(1 for x in range(rect.left, rect.right, 2) for y in range(rect.top, rect.bottom, 2)
               if max(abs(a - b) for a, b in zip(surface.get_at((x, y))[:3], colour, strict=True)) <= tolerance)


# --- the desk, without a window ------------------------------------------------------------------

def test_the_desk_turns_each_action_into_the_control_a_script_step_uses() -> None:
    level = load_level(str(MIGRATION))
    desk = LectureDesk()
    desk.next_student(level, 1)
    student = level.students[1].name
    calls = {a.name: desk.call(a, level, level.resources) for a in ACTIONS if a.name != "rate"}
    assert calls["leave"] is not None and calls["leave"][:2] == ("leave", (student,))
    assert calls["kill"] is not None and calls["kill"][:2] == ("kill", (student,))
    aisle = desk.chosen_aisle(level)
    assert aisle is not None and calls["cut"] is not None and calls["cut"][:2] == ("cut", (aisle,))
    assert calls["slow"] is not None and calls["slow"][1] == (aisle, 0.3)
    control, (resources,), words = calls["mtls"]  # type: ignore[misc]
    assert mtls_mode(level.resources) == "DISABLE" and control == "set" and "STRICT" in words
    assert mtls_mode(resources) == "STRICT"
    assert mtls_mode((class_wide("STRICT", level.resources),)) == "STRICT"
    assert calls["drops"] is not None and calls["drops"][:2] == ("behave", (student, 1.0))
    assert calls["solution"] is not None and calls["solution"][:2] == ("set", (tuple(level.solution or ()),))
    again = desk.call(next(a for a in ACTIONS if a.name == "drops"), level, level.resources)
    assert again is not None and again[:2] == ("behave", (student, level.student(student).behaviour.drops))
    # Slow motion cycles 1 -> 0.5 -> 0.25 -> 0.1 -> 1.
    rates = [desk.call(ACTIONS[-1], level, ())[1][0] for _ in range(4)]  # type: ignore[index]
    assert rates == [0.5, 0.25, 0.1, 1.0]


def test_a_show_of_hands_counts_and_shares() -> None:
    question = Question("Who reroutes?", ("the office", "nobody", "ben"))
    question.choose(1)
    question.count(3)
    question.choose(0)
    question.count(1)
    question.count(-5)  # never below zero
    question.count(9)
    assert question.hands == [9, 3, 0] and question.shares() == [0.75, 0.25, 0.0]
    assert not question.choose(3)  # there is no fourth answer


# --- the projector window ------------------------------------------------------------------------

class FakeSession:
    """A running round that takes live actions and records them, as the session would pass them on."""

    def __init__(self, level: Level, resources: Any, seed: int, speed: float) -> None:
        self.level, self.resources, self.seed, self.speed = level, resources, seed, speed
        self.header = header(level, seed, speed)
        self.expected = 2
        self.report: dict[str, Any] | None = None
        self.error: str | None = None
        self.recording_path = ""
        self.said: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.controls: list[tuple[str, tuple[Any, ...]]] = []
        self.paused = False
        self.round = None

    def drain(self) -> list[dict[str, Any]]:
        return []

    def stop(self) -> None:
        pass

    def now(self) -> float:
        return 1000.0

    def control(self, action: str, *args: Any) -> bool:
        self.controls.append((action, args))
        return True

    def press_key(self) -> None:
        self.controls.append(("key", ()))


@pytest.fixture
def teach(monkeypatch: pytest.MonkeyPatch) -> Any:
    window = App(list_levels(), Options(teacher=True, projector=True), Progress.load(), size=(1920, 1080))
    sessions: list[FakeSession] = []

    def start(level: Level, resources: Any, seed: int, speed: float) -> FakeSession:
        sessions.append(FakeSession(level, resources, seed, speed))
        return sessions[-1]

    monkeypatch.setattr(window, "start_session", start)
    yield window, sessions
    window.close()
    assert lecturer.PROJECTOR["BACKGROUND"] != theme.BACKGROUND  # the screen's theme is back


def test_projector_type_is_28_px_at_1080p_high_contrast_and_the_size_keys_last_for_the_window(teach: Any) -> None:
    app, _ = teach
    scene: Any = app.switch("play", level=load_level(str(MIGRATION)))
    app.step()
    assert theme.BACKGROUND == (0, 0, 0) and theme.TEXT == (255, 255, 255)
    assert lecturer.body(1.5, app.lecture_desk).point_size >= 28  # the lesson's body text at 1080p
    from classroom.game.ui.fonts import scaled
    assert scaled("sans", 9, 1.5).point_size >= 21  # nothing under the floor, however small it was asked
    narration = scene.layout(app.surface.get_size())["narration"]
    assert count(app.surface, narration, theme.TEXT) > 400  # the lesson is written there
    press(app, pygame.K_PLUS)
    press(app, pygame.K_PLUS)
    assert app.lecture_desk.type_scale > 1.2 and "Type size" in scene.message
    bigger = lecturer.body(1.5, app.lecture_desk).point_size
    press(app, pygame.K_ESCAPE)  # to the lesson and back: the size stays
    app.switch("play", level=load_level(str(MIGRATION)))
    app.step()
    assert lecturer.body(1.5, app.lecture_desk).point_size == bigger > 28


def test_speaker_notes_show_only_behind_their_key(teach: Any) -> None:
    app, _ = teach
    level = load_level(str(REPO / "levels" / "14-the-office-goes-home.yaml"))
    assert level.speaker_notes
    scene: Any = app.switch("play", level=level)
    app.step()
    room = scene.layout(app.surface.get_size())["room"]
    before = count(app.surface, room, theme.SKY_BLUE, tolerance=4)
    press(app, pygame.K_s)
    assert app.lecture_desk.notes_shown
    assert count(app.surface, room, theme.SKY_BLUE, tolerance=4) > before + 200  # the notes' frame and title
    press(app, pygame.K_s)
    assert not app.lecture_desk.notes_shown


def test_a_script_steps_notes_reach_the_lecturers_notes_not_the_banner(teach: Any) -> None:
    from classroom.level.script import Step

    app, sessions = teach
    scene: Any = app.switch("play", level=load_level(str(MIGRATION)))
    press(app, pygame.K_SPACE)
    scene.message = ""
    sessions[0].said.put(Step("say", 7, notes="Ask who has seen an outage like this."))
    app.step()
    assert scene.message == "" and "line 7" in app.lecture_desk.step_notes
    assert "outage like this" in app.lecture_desk.step_notes


def test_every_live_action_is_on_a_key_and_in_the_menu_by_keys_and_mouse(teach: Any) -> None:
    app, sessions = teach
    level = load_level(str(MIGRATION))
    scene: Any = app.switch("play", level=level)
    app.step()
    press(app, pygame.K_o, unicode="o")
    assert "Space runs it first" in scene.message  # nothing to act on before the round runs
    press(app, pygame.K_SPACE)
    session = sessions[0]
    press(app, pygame.K_TAB)  # the next student
    ben = level.students[1].name
    assert ben in scene.message
    for key, char in ((pygame.K_o, "o"), (pygame.K_b, "b"), (pygame.K_k, "k"), (pygame.K_c, "c"),
                      (pygame.K_d, "d"), (pygame.K_h, "h"), (pygame.K_x, "x"), (pygame.K_t, "t"), (pygame.K_p, "p"),
                      (pygame.K_z, "z")):
        press(app, key, unicode=char)
    done = [name for name, _ in session.controls]
    assert done == ["leave", "back", "kill", "cut", "slow", "heal", "behave", "set", "set", "slow_motion"]
    assert session.controls[0][1] == (ben,)
    assert scene.message.startswith("Slow motion")
    # The menu: M opens it, the arrows choose a row, Enter does it.
    press(app, pygame.K_m)
    assert app.lecture_desk.menu_open and scene.lecturer.menu_rects
    press(app, pygame.K_DOWN)
    press(app, pygame.K_DOWN)  # the first action: the chosen student leaves
    press(app, pygame.K_RETURN)
    assert session.controls[-1] == ("leave", (ben,)) and not app.lecture_desk.menu_open
    assert "leaves the room" in scene.message
    # ... and the mouse: a click on the row of "cut the aisle" cuts it.
    press(app, pygame.K_m)
    rows = scene.lecturer.menu_rects
    click(app, rows[2 + [a.name for a in ACTIONS].index("cut")].midleft)
    assert session.controls[-1][0] == "cut" and not app.lecture_desk.menu_open


def test_a_question_takes_a_show_of_hands_and_reveals_it_as_bars(teach: Any) -> None:
    app, sessions = teach
    level = load_level(str(MIGRATION))
    scene: Any = app.switch("play", level=level)
    press(app, pygame.K_SPACE)
    from classroom.level.script import Step
    sessions[0].said.put(Step("ask", 3, question="What happens now?", answers=("nothing", "nia fails")))
    app.step()
    question = app.lecture_desk.question
    assert question is not None and question.answers == ("nothing", "nia fails")
    room = scene.layout(app.surface.get_size())["room"]
    assert count(app.surface, room, theme.SKY_BLUE, tolerance=4) < 50  # no bars before the reveal
    press(app, pygame.K_2)
    for _ in range(4):
        press(app, pygame.K_UP)
    press(app, pygame.K_1)
    press(app, pygame.K_UP)
    assert question.hands == [1, 4] and not question.revealed
    press(app, pygame.K_RETURN)  # the script goes on, and the class's counts are shown
    assert ("key", ()) in sessions[0].controls and question.revealed
    assert count(app.surface, room, theme.SKY_BLUE, tolerance=4) > 300  # the bars
    press(app, pygame.K_v)
    assert app.lecture_desk.question is None


# --- on a real round -----------------------------------------------------------------------------

def test_the_leave_key_sends_a_student_out_of_a_real_round_and_the_office_routes_around_her(
        write_level, tmp_path: Path) -> None:
    doc = level_doc(traffic=[{"from": "alice", "to": "cara", "count": 40, "every": "100ms", "text": "around"}])
    doc["students"] = [{"name": n, "seat": s} for n, s in
                       {"alice": [0, 0], "ben": [0, 1], "cara": [0, 2], "dev": [1, 0], "eli": [1, 1],
                        "fay": [1, 2]}.items()]
    doc["room"] = {"rows": 2, "cols": 3, "passing_time": "0ms", "links": "neighbours"}
    level = load_level(str(write_level(doc)))
    app = App([level], Options(teacher=True, projector=True), Progress.load(), size=(1280, 720))
    try:
        scene: Any = app.switch("play", level=level)
        press(app, pygame.K_SPACE)
        session = scene.session
        assert session is not None
        first = session.wait_for("result", 60, state="delivered")
        assert first is not None and "ben" in first["path"], "notes go through ben at first"
        press(app, pygame.K_TAB)  # alice -> ben
        press(app, pygame.K_o, unicode="o")
        assert "ben leaves the room" in scene.message
        left = session.wait_for("student_left", 60, hand="ben")
        assert left is not None, "ben never left"
        assert session.wait_for("live_action", 5, action="leave", student="ben") is not None  # recorded
        press(app, pygame.K_t, unicode="t")  # and a rule change pushed live: mTLS PERMISSIVE
        pushed = session.wait_for("rules_set", 30)
        assert pushed is not None and pushed["resources"] == ["PeerAuthentication/default"]
        app.step()  # the window takes the push in: the rules form follows the rules in force
        assert mtls_mode(scene.panel.resources()) == "PERMISSIVE"
        assert session.wait(120), "the round did not end"
        events = session.round.events
    finally:
        app.close()
    paths = [(e["t"], e["path"]) for e in events if e.get("kind") == "result" and e["state"] == "delivered"]
    around = [p for t, p in paths if t > left["t"] + 0.5]
    assert around and all("ben" not in p for p in around)  # the office routed around her
    assert any(e.get("kind") == "config_acked" and e["t"] > pushed["t"] for e in events)


def test_the_teacher_keys_stop_her_reading_and_forging_in_a_real_round() -> None:
    level = load_level(str(REPO / "levels" / "21-no-locks-at-all.yaml"))  # Traefik: she reads every pass
    app = App([level], Options(teacher=True, projector=True), Progress.load(), size=(1280, 720))
    try:
        scene: Any = app.switch("play", level=level)
        press(app, pygame.K_SPACE)
        session = scene.session
        assert session is not None
        assert session.wait_for("teacher_read", 60) is not None, "the teacher reads plain passes"
        deadline = time.monotonic() + 60
        while scene.state != "running" and time.monotonic() < deadline:  # the window takes the room's events in
            app.step()
        press(app, pygame.K_e, unicode="e")
        assert "no longer reads" in scene.message
        press(app, pygame.K_f, unicode="f")
        assert "no longer slips forged notes in" in scene.message
        told = session.wait_for("teacher_changed", 30, forges=False)
        assert told is not None
        press(app, pygame.K_p, unicode="p")  # the level's fix, pushed live: every note sealed
        assert "solution pushed (EnvelopePolicy)" in scene.message
        pushed = session.wait_for("rules_set", 30)
        assert pushed is not None and pushed["resources"] == ["EnvelopePolicy/default"]
        assert session.wait_for("config_acked", 30, version=2) is not None  # the new version reached a proxy
        assert session.wait(120), "the round did not end"
        events = session.round.events
    finally:
        app.close()
    assert all(e["t"] < told["t"] for e in events if e.get("kind") in ("teacher_read", "teacher_forged"))


def test_a_live_action_is_told_in_the_ticker() -> None:
    from classroom.game.model.moments import Moments

    moments = Moments({"alice", "ben"})
    moments.observe({"kind": "live_action", "t": 1.0, "action": "leave", "student": "ben"}, 1.0)
    moments.observe({"kind": "rules_set", "t": 2.0, "resources": ["PeerAuthentication/default"]}, 2.0)
    moments.observe({"kind": "live_action_failed", "t": 3.0, "action": "kill", "student": "ben",
                     "reason": "no sidecar of ben's own"}, 3.0)
    lines = [(line.kind, line.text) for line in moments.ticker]
    assert lines == [("lecture", "lecturer: leave ben"),
                     ("lecture", "lecturer: pushed PeerAuthentication/default live"),
                     ("lecture_failed", "lecturer: kill ben failed: no sidecar of ben's own")]


def test_a_long_paragraph_in_projector_type_pages_instead_of_being_cut(teach: Any) -> None:
    app, _ = teach
    scene: Any = app.switch("play", level=load_level(str(REPO / "levels" / "11-the-new-seat.yaml")))
    app.step()
    pages = scene._narration_pages
    assert pages > 1 and scene.narration == 0  # the first paragraph is longer than three lines
    for page in range(1, pages):
        press(app, pygame.K_PAGEDOWN)
        assert (scene.narration, scene.narration_page) == (0, page)
    press(app, pygame.K_PAGEDOWN)
    assert (scene.narration, scene.narration_page) == (1, 0)
    press(app, pygame.K_PAGEUP)
    assert (scene.narration, scene.narration_page) == (0, pages - 1)  # back to the end of the paragraph
