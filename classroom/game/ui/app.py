"""The window: one pygame loop, the scenes it shows, the rounds it starts, and autoplay.

Theory of operation
-------------------
:class:`App` opens a resizable window (1280x720 by default, any size up to
4K: every scene scales with the window's height) and runs a plain loop at up
to 60 frames a second: hand each pygame event to the current scene, let it
update (drain its round's events), draw it, flip.  Scenes go title -> level
select -> lesson card -> play -> results, with replay from the results.

Scenes are switched **by name**: a scene moves on with
``self.app.switch("results", level=..., session=..., resources=...)``, and
:meth:`App.switch` makes the scene registered under that name
(:mod:`classroom.game.ui.scenes.base`) with those arguments.  No scene
imports another; this module imports every scene module once
(:data:`SCENE_MODULES`), which is what fills the registry.

Rounds run in their own processes, driven from a background thread
(:class:`~classroom.game.model.session.Session`); the app only keeps track of the
sessions so that closing the window, Ctrl-C or an exception stops every one
of them and removes their recordings (:meth:`App.close`).

Progress (stars, open levels) is kept by :class:`~classroom.game.model.progress.Progress`
and saved after every finished round.

**Autoplay** (``classroom play LEVEL --autoplay --screenshot DIR``) starts
the level's play scene with its solution and no input; :class:`Autoplay`
watches each drawn frame, saves ``<level>-play.png`` once half the notes have
settled, ``<level>-results.png`` on the results screen and ``<level>-seen.json``
(how many times each kind of moment was shown, the legend entries drawn), and ends the app
with 0 when the objectives were met, 1 when not.  Under SDL's dummy video
driver this works on a machine with no screen.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pygame

from classroom.game.model.progress import Progress, stars_for
from classroom.game.model.session import Session
from classroom.game.ui.collector import FrameCollector
from classroom.game.ui.scenes import compare as compare_scene
from classroom.game.ui.scenes import lesson as lesson_scene
from classroom.game.ui.scenes import levels as levels_scene
from classroom.game.ui.scenes import play as play_scene
from classroom.game.ui.scenes import replay as replay_scene
from classroom.game.ui.scenes import results as results_scene
from classroom.game.ui.scenes import title as title_scene
from classroom.game.ui.scenes.base import Options, Scene, scene_class
from classroom.game.ui.scenes.common import click_to_key
from classroom.level import Level
from classroom.mesh.runtime.round import READY_LIMIT, Round

FPS = 60
DEFAULT_SIZE = (1280, 720)
CAPTION = "Classroom Mesh"
# The one place that imports the scene modules: importing each registers its scene by name.
SCENE_MODULES = (title_scene, levels_scene, lesson_scene, play_scene, replay_scene, results_scene, compare_scene)
__all__ = ["App", "Autoplay", "Options", "autoplay_limit", "play"]


class App:
    """The window and its scenes."""

    def __init__(self, levels: list[Level], options: Options | None = None, progress: Progress | None = None,
                 size: tuple[int, int] = DEFAULT_SIZE) -> None:
        self.levels = levels
        self.options = options or Options()
        self.progress = progress if progress is not None else Progress.load()
        pygame.display.init()
        pygame.font.init()
        pygame.display.set_caption(CAPTION)
        self.surface = pygame.display.set_mode(size, pygame.RESIZABLE)
        pygame.key.set_repeat(350, 45)
        self.sessions: list[Session] = []
        self.hints_shown: dict[str, int] = {}
        self.running = True
        self.exit_code = 0
        self.watchers: list[Callable[[App], None]] = []  # called after every drawn frame
        self.scene: Scene = scene_class("title")(self)
        self.collector = FrameCollector()

    # --- what scenes ask of the app (scenes.base.Host) -------------------------------------

    def switch(self, scene: str | Scene, **arguments: Any) -> Scene:
        """Show the scene registered as ``scene``, made with ``arguments``; or the scene given itself.

        The scene shown before is told to ``leave()``.  Returns the scene now shown.
        """
        target = scene_class(scene)(self, **arguments) if isinstance(scene, str) else scene
        if target is not self.scene:
            self.scene.leave()
            self.scene = target
            self.collector.quiet_moment()
        return target

    def quit(self, code: int = 0) -> None:
        self.running, self.exit_code = False, code

    def is_open(self, index: int) -> bool:
        """May the player start the level at ``index``? (Teacher mode opens every level.)"""
        if self.options.teacher:
            return True
        return self.progress.unlocked([level.name for level in self.levels])[index]

    def level_number(self, level: Level) -> str:
        for i, candidate in enumerate(self.levels):
            if candidate.name == level.name:
                return f"{i + 1:02d}"
        return "··"

    def next_level(self, level: Level) -> Level | None:
        names = [candidate.name for candidate in self.levels]
        if level.name in names and names.index(level.name) + 1 < len(names):
            return self.levels[names.index(level.name) + 1]
        return None

    def start_session(self, level: Level, resources: tuple[dict[str, Any], ...], seed: int,
                      speed: float) -> Session:
        """Start a round in the background; the app stops it when the window closes."""
        options = self.options
        script = options.script if options.script_level == level.name else ()
        session = Session(level, resources, seed, speed, script=script, keys=options.teacher,
                          record_path=options.record).start()
        self.sessions.append(session)
        return session

    def record_result(self, level: Level, report: dict[str, Any]) -> tuple[int, bool, str | None]:
        """Stars of a finished round, whether they beat the saved best, and a save problem if any."""
        stars = stars_for(report)
        best = self.progress.record(level.name, stars)
        return stars, best, self.progress.save() if best else None

    # --- the loop ---------------------------------------------------------------------------

    def step(self) -> None:
        """One frame: events, update, draw, flip."""
        for event in pygame.event.get():
            if event.type == pygame.QUIT or (event.type == pygame.KEYDOWN and event.key == pygame.K_q
                                             and event.mod & pygame.KMOD_CTRL):
                self.quit(0)
                return
            self.scene.handle(click_to_key(event) or event)  # a click on a footer hint presses its key
        self.surface = pygame.display.get_surface() or self.surface  # a resize may give a new one
        self.scene.update()
        self.scene.draw(self.surface)
        for watch in list(self.watchers):
            watch(self)
        pygame.display.flip()
        self.collector.after_frame()

    def run(self) -> int:
        """Run until the player quits (or autoplay is done); stops every round on the way out."""
        clock = pygame.time.Clock()
        try:
            while self.running:
                self.step()
                clock.tick(FPS)
        finally:
            self.close()
        return self.exit_code

    def close(self) -> None:
        """Stop every round this window started and remove their recordings; close the window."""
        self.scene.leave()
        for session in self.sessions:
            session.discard()
        self.sessions.clear()
        self.collector.close()
        pygame.display.quit()

    def screenshot(self, path: Path) -> None:
        pygame.image.save(self.surface, str(path))


class Autoplay:
    """Drives a round with the level's solution; screenshots mid-round and of the results."""

    def __init__(self, level: Level, directory: Path | None, limit: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.level = level
        self.directory = directory
        self.deadline = clock() + limit
        self.clock = clock
        self.saved: list[Path] = []
        self._play_saved = False
        self.moments: Any = None  # the play scene's moments: what the round showed
        self.passed: bool | None = None
        self.outcome = "no results"  # what the results screen said, in one line

    def _save(self, app: App, what: str) -> None:
        if self.directory is None:
            return
        path = self.directory / f"{self.level.name}-{what}.png"
        app.screenshot(path)
        self.saved.append(path)

    def _save_seen(self, report: dict[str, Any]) -> None:
        """``<level>-seen.json``: what the round showed the player, counted (see ``Moments.seen``)."""
        if self.directory is None or self.moments is None:
            return
        path = self.directory / f"{self.level.name}-seen.json"
        seen = {"level": self.level.name, "passed": bool(report.get("passed")), **self.moments.seen()}
        path.write_text(json.dumps(seen, indent=2) + "\n")
        self.saved.append(path)

    def __call__(self, app: App) -> None:
        scene: Any = app.scene
        if scene.name == "play":
            self.moments = scene.model.moments
            if scene.state == "error":
                print(f"classroom: {self.level.path}: {scene.message}", file=sys.stderr)
                app.quit(1)
            elif not self._play_saved and scene.expected and scene.settled >= max(1, scene.expected // 2):
                self._save(app, "play")
                self._play_saved = True
        elif scene.name == "results":
            if not self._play_saved:  # a round too quick to catch mid-way
                self._play_saved = True
            self._save(app, "results")
            self._save_seen(scene.report)
            self.passed = bool(scene.passed)
            notes = scene.report["notes"]
            self.outcome = (f"objectives {'met' if self.passed else 'missed'}, "
                            f"{notes['delivered']}/{notes['sent']} notes delivered, {scene.stars} stars")
            app.quit(0 if self.passed else 1)
        if app.running and self.clock() > self.deadline:
            print(f"classroom: {self.level.name}: autoplay gave up: no results in time", file=sys.stderr)
            app.quit(1)


def autoplay_limit(level: Level, speed: float, resources: tuple[dict[str, Any], ...] | None = None) -> float:
    """Real seconds autoplay waits for the results: the round's own limit (room time, at the
    round's speed), start-up, and slack."""
    if resources is None:
        resources = level.solution if level.solution is not None else level.resources
    return Round(level, resources, level.seed, speed).time_limit() / speed + READY_LIMIT + 30.0


def play(levels: list[Level], level: Level | None, options: Options, autoplay: bool = False,
         screenshot_dir: Path | None = None, size: tuple[int, int] = DEFAULT_SIZE,
         resources: tuple[dict[str, Any], ...] | None = None, replay: str | None = None) -> int:
    """``classroom play``: the exit code (autoplay: 0 objectives met, 1 not).

    ``replay`` (``play --replay FILE``) opens that recording in the replay scene; Esc closes it.

    Autoplay plays ``resources`` (by default the level's solution): ``classroom run`` with a
    display shows its round this way.
    """
    app = App(levels, options, size=size)
    if autoplay:
        assert level is not None
        resources = resources if resources is not None else level.solution
        assert resources is not None
        watcher = Autoplay(level, screenshot_dir, autoplay_limit(level, options.speed, resources))
        app.watchers.append(watcher)
        app.switch("play", level=level, resources=resources, autoplay=True)
        code = app.run()
        shots = ", ".join(str(p) for p in watcher.saved) or "no screenshots"
        print(f"{level.name}: {watcher.outcome}; {shots}")
        return code
    if replay is not None:
        app.switch("replay", path=replay)
    elif level is not None:
        app.switch("lesson", level=level)
    return app.run()
