"""The play scene: the live classroom, the HUD, the class rules to edit, and run / pause / reset.

Theory of operation
-------------------
The scene owns at most one :class:`~classroom.game.model.session.Session` (a
round running in the background) and a :class:`~classroom.game.model.classmodel.ClassModel`
built from the same header the session records.  Every frame it drains the
session's queue into the model and advances the model's animations to the
round's room time (:meth:`~classroom.game.model.session.Session.now`), the
clock the mesh stamps its events with, which runs at the round's speed; the
view and the HUD draw the model.  Nothing here waits for the mesh.

**Pause freezes the view; the mesh keeps going.**  The round is real
processes passing real notes: they cannot be paused, only stopped.  While
paused the scene neither drains the queue nor moves the clock, so the picture
holds still; on resume it applies everything that happened meanwhile and is
live again.  The replay scene shows any moment of a finished round.

The scene's states: ``ready`` (edit the rules, then run), ``running``,
``ended`` (the round is over; the results follow after a moment) and
``error`` (the round could not run).  R stops the round and resets the room;
+/- change the round's speed, which a round takes when it starts.

In teacher mode Space pauses the whole class for real (the round's shared clock stops in every
process) and N steps it.  Under ``classroom teach`` (``Options.projector``) the scene also has a
lecturer (:class:`~classroom.game.ui.lecturer.LecturerKeys`), who gets each event first: live
actions on keys and in the M menu, slow motion, speaker notes, the show of hands on a question,
and +/- for the type size instead of the speed.

Keyboard: the configuration panel keeps the keys it uses (Tab and the
arrows move through the rules and change them, Enter edits, Y shows the
YAML); the scene keeps Space, R, +/-, PgUp/PgDn and Esc.  While the panel is
editing text it gets every key but F5, which runs the round from anywhere.
Rules changed during a round take effect at the next run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pygame

from classroom.game.model.classmodel import ClassModel
from classroom.game.model.session import Session
from classroom.game.ui import theme
from classroom.game.ui.fonts import scaled
from classroom.game.ui.hud import draw_hud
from classroom.game.ui.lecturer import BODY_PX, LecturerKeys, draw_menu, draw_notes, draw_question, draw_targets
from classroom.game.ui.moments_view import LEGEND_WIDTH, draw_legend, draw_moments, draw_ticker
from classroom.game.ui.panel import ConfigPanel
from classroom.game.ui.scenes.base import Host, Scene, register
from classroom.game.ui.scenes.common import key_hints, paragraphs, text, wrap
from classroom.game.ui.view import ClassroomView
from classroom.level import Level
from classroom.telemetry.recorder import END

SPEEDS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
NARRATION_PX = 16  # teacher mode's narration, at 720 px
TICKER_LINES = 4  # the moments the ticker under the room lists
RESULTS_AFTER = 2.0  # seconds the ended round stays on screen before the results
READY, RUNNING, ENDED, ERROR = "ready", "running", "ended", "error"


@register("play")
class PlayScene(Scene):
    def __init__(self, app: Host, level: Level, resources: tuple[dict[str, Any], ...] | None = None,
                 autoplay: bool = False, wall: Callable[[], float] | None = None) -> None:
        super().__init__(app)
        self.level = level
        self.autoplay = autoplay
        self._wall = wall  # the events' clock (room time); by default the round's own
        self.seed = level.seed if app.options.seed is None else app.options.seed
        self.speed = app.options.speed
        self.panel = ConfigPanel(level, resources if resources is not None else level.resources,
                                 on_change=self._rules_changed)
        self.session: Session | None = None
        self.state = READY
        self.paused = False
        self.settled = 0  # notes with a final result so far
        self.ended_at = 0.0
        self.message = ""  # one line under the top bar: an error, or what a key did
        self.narration = 0  # teacher mode: the lesson paragraph shown
        self.narration_page = 0  # ... and the page of it (a long paragraph in large type; -1: its last)
        self._narration_pages = 1  # pages of the paragraph shown, as last drawn
        self.legend = True  # the legend over the room (L toggles it)
        self.leaving = False  # Esc was pressed once with changed rules: a second Esc leaves
        self._started_with = self.panel.resources()
        self.model = self._fresh_model()
        self.view = ClassroomView(self.model)
        # classroom teach: the lecturer's keys, menu and overlays (projector type, live actions)
        self.projector = app.options.projector
        self.lecturer = LecturerKeys(self, app.lecture_desk) if self.projector else None

    # --- the round --------------------------------------------------------------------------

    def _fresh_model(self) -> ClassModel:
        model = ClassModel.from_level(self.level, self.seed, self.speed, self.panel.resources())
        model.judge.background = True  # a report over a big round must not cost a frame
        return model

    def _show(self, model: ClassModel) -> None:
        self.model, self.view = model, ClassroomView(model)

    def _rules_changed(self, resources: tuple[dict[str, Any], ...]) -> None:
        if self.state == RUNNING:
            self.message = "Rules changed: they take effect at the next run (R, then Space)."
        else:
            self.model.set_resources(resources)  # the locks on the aisles follow the mTLS mode

    def run(self) -> None:
        """Start a round with the panel's current (valid) rules."""
        self._stop()
        self.session = self.app.start_session(self.level, self.panel.resources(), self.seed, self.speed)
        desk = self.app.lecture_desk
        desk.question, desk.step_notes, desk.rate = None, "", 1.0  # a new round starts at ×1, no question
        self._show(self._fresh_model())
        self.state, self.paused, self.settled, self.message = RUNNING, False, 0, ""

    def reset(self) -> None:
        """Stop the round (if one runs) and show the room as it was before it."""
        self._stop()
        self._show(self._fresh_model())
        self.state, self.paused, self.settled = READY, False, 0
        self.message = "Reset: change the rules, then Space to run."

    def _stop(self) -> None:
        if self.session is not None:
            self.session.stop()
            self.session = None

    def leave(self) -> None:
        if self.session is not None and self.state == RUNNING:
            self._stop()

    def _changed(self) -> bool:
        """The rules on show are not those the scene opened with (or are invalid): leaving loses them."""
        return self.panel.unapplied is not None or self.panel.resources() != self._started_with

    @property
    def expected(self) -> int:
        return self.session.expected if self.session is not None else 0

    # --- input ------------------------------------------------------------------------------

    def handle(self, event: pygame.event.Event) -> None:
        if event.type == pygame.TEXTINPUT and self.panel.editing:
            self.panel.handle(event)  # typed text for a field or the YAML editor
            return
        if self.lecturer is not None and not self.panel.editing and self.lecturer.handle(event):
            return
        if event.type in (pygame.MOUSEBUTTONDOWN, pygame.MOUSEWHEEL):
            self.panel.handle(event)  # a click on a rule, or the wheel over the form (the footer's
            return                    # buttons reach the scene as their keys)
        if event.type != pygame.KEYDOWN:
            return
        leaving, self.leaving = self.leaving, False
        if event.key == pygame.K_ESCAPE and not self.panel.editing and (leaving or not self._changed()):
            self._stop()
            self.app.switch("lesson", level=self.level)
            return
        if leaving:
            self.message = "Staying: your rules are as they were."
        if event.key == pygame.K_F5:
            self._space()
        elif self.panel.editing:
            self.panel.handle(event)
        elif (event.key in (pygame.K_RETURN, pygame.K_KP_ENTER) and self.state == RUNNING
              and self.app.options.teacher and self.session is not None):
            self.session.press_key()  # a lecture script waiting for the lecturer goes on
            question = self.app.lecture_desk.question
            if self.projector and question is not None:
                question.revealed = True  # predict, then reveal: the class's counts as the script goes on
        elif event.key == pygame.K_n and self.app.options.teacher and self.state == RUNNING:
            self._step()
        elif event.key == pygame.K_SPACE or (
                event.key in (pygame.K_RETURN, pygame.K_KP_ENTER) and self.state == ENDED):
            self._space()
        elif event.key == pygame.K_r:
            self.reset()
        elif event.key == pygame.K_l:
            self.legend = not self.legend
        elif event.key in (pygame.K_PLUS, pygame.K_EQUALS, pygame.K_KP_PLUS):
            self._change_speed(+1)
        elif event.key in (pygame.K_MINUS, pygame.K_KP_MINUS):
            self._change_speed(-1)
        elif event.key in (pygame.K_PAGEDOWN, pygame.K_PAGEUP) and self.app.options.teacher:
            self._page(1 if event.key == pygame.K_PAGEDOWN else -1)
        elif event.key == pygame.K_ESCAPE:  # rules changed, or invalid: ask first
            self.leaving = True
            why = "an invalid edit" if self.panel.unapplied else "the rules you changed"
            self.message = f"Leave for the lesson? You will lose {why}. Esc again to leave, any other key to stay."
        else:
            self.panel.handle(event)

    def _space(self) -> None:
        if self.state in (READY, ERROR):
            problem = self.panel.unapplied
            if problem is not None:  # never run other rules than the ones on show
                self.message = f"Not run: {problem}. Fix it first (the last valid rules are not what you see)."
                return
            self.run()
        elif self.state == RUNNING and self.app.options.teacher and self.session is not None:
            # Teacher mode pauses the class itself: the round's clock stops in every process.
            pausing = not self.session.paused
            if self.session.control("pause" if pausing else "resume"):
                self.message = ("The whole class stands still: N steps, Space goes on."
                                if pausing else "")
        elif self.state == RUNNING:
            self.paused = not self.paused
            self.message = ("Paused: the view is frozen; the round goes on. Space to return to it live."
                            if self.paused else "")
        elif self.state == ENDED:
            self._show_results()

    def _step(self) -> None:
        """The class moves on by one passing time, and stands still again."""
        if self.session is not None and self.session.control("step", self.level.room.passing_time or 0.1):
            self.message = "Stepped one passing time. N again, or Space to go on."

    def _change_speed(self, step: int) -> None:
        nearest = min(range(len(SPEEDS)), key=lambda i: abs(SPEEDS[i] - self.speed))
        self.speed = SPEEDS[max(0, min(len(SPEEDS) - 1, nearest + step))]
        if self.state == READY:
            self._show(self._fresh_model())
            self.message = f"Speed ×{self.speed:g}."
        else:
            self.message = f"Speed ×{self.speed:g} from the next run (R to reset)."

    # --- every frame ------------------------------------------------------------------------

    def wall(self) -> float:
        """Now on the events' clock: the round's room time (a test may give its own clock)."""
        if self._wall is not None:
            return self._wall()
        return self.session.now() if self.session is not None else time.time()

    def update(self) -> None:
        if self.autoplay and self.state == READY:
            self.run()
        if self.session is None or self.paused:
            return
        while not self.session.said.empty():  # what a lecture script says, on screen
            step = self.session.said.get_nowait()
            if step.do == "ask" and self.projector:
                self.app.lecture_desk.ask(step.question, step.answers)
            if step.notes:
                self.app.lecture_desk.step_notes = f"Now (script line {step.line}): {step.notes}"
            if not step.say and step.do != "ask":
                continue  # notes only: for the lecturer's eyes, not the banner
            self.message = (f"{step.question}  " + "  ".join(f"({i}) {a}" for i, a in enumerate(step.answers, 1))
                            if step.do == "ask" else step.say) + ("  [Enter]" if step.do in ("ask", "wait_key")
                                                                  else "")
        for event in self.session.drain():
            self.model.apply(event)
            kind = event.get("kind")
            if kind == "result":
                self.settled += 1
            elif kind == "rules_set" and self.session.round.controls is not None:
                # A rule change pushed live: the locks on the aisles and the form follow the rules in force.
                self.model.set_resources(self.session.round.controls.resources)
                self.panel.follow(self.session.round.controls.resources)
            elif kind == END:
                self._round_over()
        self.model.tick(self.wall())
        if self.state == ENDED and self.wall() - self.ended_at >= RESULTS_AFTER:
            self._show_results()

    def _round_over(self) -> None:
        session = self.session
        assert session is not None
        if session.error is not None:
            self.state, self.message = ERROR, f"The round could not run: {session.error}"
        elif session.report is not None:
            self.state, self.ended_at = ENDED, self.wall()

    def _show_results(self) -> None:
        session = self.session
        if session is None or session.report is None:
            return
        self.session = None  # the results own the finished round (and its recording) now
        self.app.switch("results", level=self.level, session=session, resources=self.panel.resources())

    # --- drawing ----------------------------------------------------------------------------

    def layout(self, size: tuple[int, int]) -> dict[str, pygame.Rect]:
        """Where each part goes in a window of ``size``: top bar, room, HUD, panel, footer."""
        width, height = size
        scale = theme.scale_for(height)
        bar_h, foot_h, gap = round(44 * scale), round(30 * scale), round(10 * scale)
        side_w = round(max(380 * scale, width * 0.30))
        body_top, body_bottom = bar_h + gap, height - foot_h - gap
        narration_h = round(NARRATION_PX * 6.6 * scale) if self.app.options.teacher else 0
        if self.projector:  # three lines of the lecture's body type and the page number
            narration_h = round(BODY_PX * self.app.lecture_desk.type_scale * 1.17 * 3 * scale + 36 * scale)
        legend_w = round(LEGEND_WIDTH * (1.3 if self.projector else 1.0) * scale) + gap if self.legend else 0
        room = pygame.Rect(gap, body_top, width - side_w - 3 * gap - legend_w,
                           body_bottom - body_top - (narration_h + gap if narration_h else 0))
        side = pygame.Rect(room.right + gap + legend_w, body_top, side_w, body_bottom - body_top)
        hud_h = round(side.height * (0.62 if self.projector else 0.56))  # teach: four goals on two lines each
        ticker_h = round(TICKER_LINES * 17 * scale + 14 * scale)  # under the room: it hides no desk
        ticker = pygame.Rect(room.left, room.bottom - ticker_h, room.width, ticker_h)
        room.height -= ticker_h
        return {
            "bar": pygame.Rect(0, 0, width, bar_h),
            "room": room,
            "ticker": ticker,
            "hud": pygame.Rect(side.left, side.top, side.width, hud_h),
            "panel": pygame.Rect(side.left, side.top + hud_h + gap, side.width, side.height - hud_h - gap),
            "narration": pygame.Rect(room.left, ticker.bottom + gap, room.width + legend_w, narration_h),
            "legend": pygame.Rect(room.right + gap, room.top, legend_w - gap, room.height),
            "footer": pygame.Rect(0, height - foot_h, width, foot_h),
        }

    def draw(self, surface: pygame.Surface) -> None:
        scale = theme.scale_for(surface.get_height())
        parts = self.layout(surface.get_size())
        surface.fill(theme.BACKGROUND)
        self.view.draw(surface, parts["room"], scale)
        draw_moments(surface, self.view, self.model, scale)
        if self.projector and self.state == RUNNING:
            draw_targets(surface, self.view, self.app.lecture_desk, self.level, scale)
        if self.legend:
            draw_legend(surface, parts["legend"], self.model.moments, scale)
        draw_ticker(surface, parts["ticker"], self.model.moments, scale, TICKER_LINES)
        draw_hud(surface, parts["hud"], self.model, scale, show_legend=not self.legend)
        self.panel.draw(surface, parts["panel"], scale)
        self._draw_bar(surface, parts["bar"], scale)
        self._draw_banner(surface, parts["room"], scale)
        if self.app.options.teacher:
            self._draw_narration(surface, parts["narration"], scale)
        if self.lecturer is not None:
            self._draw_lecturer(surface, parts["room"], scale)
        key_hints(surface, self._hints(), scale)

    def _draw_lecturer(self, surface: pygame.Surface, room: pygame.Rect, scale: float) -> None:
        """teach: the question and its hands, the speaker notes, the actions menu, over the room."""
        assert self.lecturer is not None
        desk = self.app.lecture_desk
        over = room.union(pygame.Rect(room.left, room.bottom, room.width, self.layout(surface.get_size())
                                      ["ticker"].height))
        if desk.question is not None:
            draw_question(surface, over, desk.question, desk, scale)
        if desk.notes_shown:
            notes = [n for n in (desk.step_notes, self.level.speaker_notes.strip()) if n]
            draw_notes(surface, over, "\n\n".join(notes), desk, scale)
        self.lecturer.menu_rects = (draw_menu(surface, over, desk, self.level, self.lecturer.resources(), scale)
                                    if desk.menu_open else [])

    def _status(self) -> tuple[str, theme.Colour]:
        if self.state == READY:
            return "ready: Space runs the round", theme.TEXT
        if self.state == ERROR:
            return "could not run", theme.BAD
        if self.state == ENDED:
            return "round over", theme.GOOD
        progress = f"{self.settled}/{self.expected} notes settled"
        if self.app.options.teacher and self.session is not None and self.session.paused:
            return f"CLASS PAUSED · {progress}", theme.YELLOW
        if self.paused:
            return f"PAUSED (the round goes on) · {progress}", theme.YELLOW
        return f"running · {progress}", theme.ACCENT

    def _draw_bar(self, surface: pygame.Surface, bar: pygame.Rect, scale: float) -> None:
        surface.fill(theme.PANEL, bar)
        pad = 14 * scale
        title = text(surface, f"{self.app.level_number(self.level)}  {self.level.title}",
                     scaled("bold", 20, scale), theme.TEXT, (pad, bar.centery), "midleft")
        words, colour = self._status()
        text(surface, words, scaled("bold", 16, scale), colour, (title.right + 24 * scale, bar.centery),
             "midleft")
        running_speed = self.session.speed if self.session is not None else self.speed
        speed = f"speed ×{running_speed:g}" + (f" → ×{self.speed:g}" if running_speed != self.speed else "")
        if self.projector and self.app.lecture_desk.rate != 1.0:
            speed = f"slow motion ×{self.app.lecture_desk.rate:g} · {speed}"
        text(surface, f"{speed}   seed {self.seed}", scaled("sans", 15, scale), theme.TEXT_DIM,
             (bar.right - pad, bar.centery), "midright")

    def _draw_banner(self, surface: pygame.Surface, room: pygame.Rect, scale: float) -> None:
        """One line over the top of the room: an error, or what the last key did."""
        words = self.message
        if not words and self.state == READY:
            words = "Change the class rules on the right (Tab, arrows), then Space to run the round."
        if not words:
            return
        font = scaled("bold" if self.state == ERROR else "sans", 15, scale)
        if self.projector:
            font = scaled("bold" if self.state == ERROR else "sans", BODY_PX * self.app.lecture_desk.type_scale, scale)
        colour = theme.BAD if self.state == ERROR else theme.YELLOW if self.paused else theme.TEXT
        lines = wrap(words, font, room.width - round(40 * scale))
        box = pygame.Rect(0, 0, room.width - round(20 * scale),
                          round(len(lines) * font.get_linesize() + 12 * scale))
        box.midtop = (room.centerx, room.top + round(8 * scale))
        shade = pygame.Surface(box.size, pygame.SRCALPHA)
        shade.fill((*theme.PANEL, 225))
        surface.blit(shade, box)
        y = box.top + 6 * scale
        for line in lines:
            text(surface, line, font, colour, (box.centerx, y), "midtop")
            y += font.get_linesize()

    def _page(self, step: int) -> None:
        """PgDn / PgUp: the next (previous) page of the paragraph, else the next (previous) paragraph."""
        page = self.narration_page if self.narration_page >= 0 else self._narration_pages - 1
        count = len(paragraphs(self.level.lesson))
        if 0 <= page + step < self._narration_pages:
            self.narration_page = page + step
        elif 0 <= self.narration + step < count:
            self.narration += step
            self.narration_page = 0 if step > 0 else -1  # back: the previous paragraph's last page

    def _draw_narration(self, surface: pygame.Surface, box: pygame.Rect, scale: float) -> None:
        """Teacher mode: the lesson, a paragraph at a time (a page at a time when it is long), under the room."""
        parts = paragraphs(self.level.lesson)
        pygame.draw.rect(surface, theme.PANEL, box, border_radius=round(6 * scale))
        if not parts:
            return
        font = scaled("sans", BODY_PX * self.app.lecture_desk.type_scale if self.projector else NARRATION_PX, scale)
        lines = wrap(parts[self.narration], font, box.width - round(40 * scale))
        room_for = max(1, int((box.height - 28 * scale) // font.get_linesize()))
        pages = [lines[i:i + room_for] for i in range(0, len(lines), room_for)] or [[]]
        self._narration_pages = len(pages)
        page = self.narration_page if 0 <= self.narration_page < len(pages) else len(pages) - 1
        self.narration_page = page
        lines = pages[page][:-1] + [pages[page][-1] + " …"] if page < len(pages) - 1 else pages[page]
        y = box.top + 8 * scale
        for line in lines:
            text(surface, line, font, theme.TEXT, (box.left + 20 * scale, y))
            y += font.get_linesize()
        where = f"{self.narration + 1}/{len(parts)}" + (f" · page {page + 1}/{len(pages)}" if len(pages) > 1 else "")
        text(surface, f"{where}  PgUp/PgDn", scaled("sans", 13, scale),
             theme.TEXT_DIM, (box.right - 12 * scale, box.bottom - 6 * scale), "bottomright")

    def _hints(self) -> list[tuple[str, str]]:
        first = {READY: "run", RUNNING: "resume" if self.paused else "pause", ENDED: "results",
                 ERROR: "try again"}[self.state]
        if self.panel.editing and self.panel.mode == "yaml":
            return [("type", "edit the rules"), ("Esc/F2", "back to the form"), ("F5", first)]
        if self.panel.editing:
            return [("type", "the value"), ("Enter", "done"), ("F5", first)]
        if self.projector and self.state == RUNNING:
            first = "resume" if self.session is not None and self.session.paused else "pause"
            return [("Space", first), ("N", "step"), ("Enter", "go on"), ("M", "live actions"), ("S", "notes"),
                    ("Z", "slow motion"), ("+/−", "type size"), ("PgUp/PgDn", "narration"), ("Esc", "lesson")]
        if self.projector:
            return [("Space", first), ("Tab ↑↓", "choose a rule"), ("←→", "change it"), ("S", "notes"),
                    ("+/−", "type size"), ("PgUp/PgDn", "narration"), ("Esc", "lesson")]
        hints = [("Space", first), ("R", "reset"), ("+/−", "speed"), ("L", "legend"), ("Tab ↑↓", "choose a rule"),
                 ("←→", "change it"), ("Y", "YAML"), ("Esc", "lesson")]
        if self.app.options.teacher:
            hints.insert(-1, ("PgUp/PgDn", "narration"))
        return hints
