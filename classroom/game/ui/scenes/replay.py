"""Replay: a finished round from its recording, with a timeline to play, scrub and step.

Theory of operation
-------------------
A recording (:mod:`classroom.telemetry.recorder`) is the round's whole event
history, so the state at any moment is the model after the events up to that
moment.  The scene keeps a playhead on the events' own clock and the number of
events applied.  Going forward applies the next events; going back rebuilds
the model from the header and applies the history up to the new playhead
(a few thousand events take milliseconds), which keeps one code path and no
undo logic.  The same :class:`~classroom.game.model.classmodel.ClassModel`, view and
HUD as the live play scene draw it.

Keys: Space plays and pauses; Left/Right step one event back or forward;
Shift+Left/Right scrub one second, PgUp/PgDn a tenth of the round;
Home/End jump to the start or end; +/- change the playback rate; Esc goes
back.  A click or drag on the timeline scrubs with the mouse.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pygame

from classroom.game.model.classmodel import ClassModel
from classroom.game.ui import theme
from classroom.game.ui.fonts import scaled
from classroom.game.ui.hud import draw_hud
from classroom.game.ui.moments_view import draw_moments, draw_ticker
from classroom.game.ui.scenes.base import Host, Scene, register
from classroom.game.ui.scenes.common import key_hints, text
from classroom.game.ui.view import ClassroomView
from classroom.telemetry.recorder import RecordingError, read_recording

RATES = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
FASTER = (pygame.K_PLUS, pygame.K_EQUALS, pygame.K_KP_PLUS)
SLOWER = (pygame.K_MINUS, pygame.K_KP_MINUS)
# Timeline ticks: the colour of the envelope state each event kind leads to.
TICK_COLOURS = {
    "sent": theme.NOTE_COLOURS["in_flight"],
    "delivered": theme.NOTE_COLOURS["delivered"],
    "dropped": theme.NOTE_COLOURS["dropped"],
    "refused": theme.NOTE_COLOURS["refused"],
    "teacher_caught": theme.NOTE_COLOURS["confiscated"],
    "retried": theme.NOTE_COLOURS["retrying"],
}


TICKER_LINES = 3  # the moments the ticker under the room lists


@register("replay")
class ReplayScene(Scene):
    def __init__(self, app: Host, path: str, back: Scene | None = None,
                 wall: Callable[[], float] = time.monotonic) -> None:
        super().__init__(app)
        self.back = back
        self.wall = wall
        self.error = ""
        try:
            recording = read_recording(path)
        except RecordingError as exc:
            self.error = str(exc)
            self.header: dict[str, Any] = {}
            self.events: list[dict[str, Any]] = []
        else:
            self.header = recording.header
            self.events = sorted((e for e in recording.events if isinstance(e.get("t"), int | float)),
                                 key=lambda e: float(e["t"]))
        self.start = float(self.events[0]["t"]) if self.events else 0.0
        self.end = float(self.events[-1]["t"]) if self.events else 0.0
        self.model = self._fresh_model()
        self.view = ClassroomView(self.model)
        self.applied = 0  # events[:applied] are in the model
        self.playhead = self.start
        self.playing = False
        self.rate = 1.0
        self._last = wall()
        self._timeline = pygame.Rect(0, 0, 0, 0)

    # --- moving the playhead ----------------------------------------------------------------

    def _fresh_model(self) -> ClassModel:
        model = ClassModel.from_header(self.header)
        model.judge.background = True  # scrubbing a long recording must not wait for reports
        return model

    def seek(self, t: float) -> None:
        """Show the round as it was at time ``t`` (on the events' clock)."""
        t = max(self.start, min(self.end, t))
        if t < self.playhead or (self.applied and float(self.events[self.applied - 1]["t"]) > t):
            self._rewind()
        while self.applied < len(self.events) and float(self.events[self.applied]["t"]) <= t:
            self.model.apply(self.events[self.applied])
            self.applied += 1
        self.playhead = t
        self.model.tick(t)

    def step(self, direction: int) -> None:
        """One event forward (+1) or back (-1)."""
        self.playing = False
        target = max(0, min(len(self.events), self.applied + direction))
        if target == self.applied:
            return
        if target < self.applied:
            self._rewind()
        while self.applied < target:
            self.model.apply(self.events[self.applied])
            self.applied += 1
        self.playhead = float(self.events[target - 1]["t"]) if target else self.start
        self.model.tick(self.playhead)

    def _rewind(self) -> None:
        self.model, self.applied = self._fresh_model(), 0
        self.view = ClassroomView(self.model)  # a fresh model's version restarts: so must the view's cache

    @property
    def current(self) -> dict[str, Any] | None:
        """The last event applied."""
        return self.events[self.applied - 1] if self.applied else None

    # --- input ------------------------------------------------------------------------------

    def handle(self, event: pygame.event.Event) -> None:
        if event.type in (pygame.MOUSEBUTTONDOWN, pygame.MOUSEMOTION):
            pressed = event.type == pygame.MOUSEBUTTONDOWN or event.buttons[0]
            if pressed and self._timeline.collidepoint(event.pos) and self._timeline.width:
                share = (event.pos[0] - self._timeline.left) / self._timeline.width
                self.seek(self.start + share * (self.end - self.start))
            return
        if event.type != pygame.KEYDOWN:
            return
        shift = event.mod & pygame.KMOD_SHIFT
        span = self.end - self.start
        if event.key == pygame.K_SPACE:
            if self.playhead >= self.end:
                self.seek(self.start)
            self.playing = not self.playing
            self._last = self.wall()
        elif event.key in (pygame.K_RIGHT, pygame.K_LEFT):
            direction = 1 if event.key == pygame.K_RIGHT else -1
            if shift:
                self.seek(self.playhead + direction)
            else:
                self.step(direction)
        elif event.key in (pygame.K_PAGEDOWN, pygame.K_PAGEUP):
            self.seek(self.playhead + (span / 10 if event.key == pygame.K_PAGEDOWN else -span / 10))
        elif event.key == pygame.K_HOME:
            self.seek(self.start)
        elif event.key == pygame.K_END:
            self.seek(self.end)
        elif event.key in FASTER or event.key in SLOWER:
            step = 1 if event.key in FASTER else -1
            nearest = min(range(len(RATES)), key=lambda i: abs(RATES[i] - self.rate))
            self.rate = RATES[max(0, min(len(RATES) - 1, nearest + step))]
        elif event.key == pygame.K_ESCAPE:
            if self.back is not None:
                self.app.switch(self.back)
            else:
                self.app.quit(0)

    def update(self) -> None:
        now = self.wall()
        elapsed, self._last = now - self._last, now
        if self.playing:
            self.seek(self.playhead + elapsed * self.rate)
            if self.playhead >= self.end:
                self.playing = False

    # --- drawing ----------------------------------------------------------------------------

    def draw(self, surface: pygame.Surface) -> None:
        width, height = surface.get_size()
        scale = theme.scale_for(height)
        surface.fill(theme.BACKGROUND)
        bar_h, foot_h, gap = round(44 * scale), round(30 * scale), round(10 * scale)
        timeline_h = round(64 * scale)
        side_w = round(max(340 * scale, width * 0.26))
        body = pygame.Rect(gap, bar_h + gap, width - 2 * gap, height - bar_h - foot_h - timeline_h - 3 * gap)
        room = pygame.Rect(body.left, body.top, body.width - side_w - gap, body.height)
        hud = pygame.Rect(room.right + gap, body.top, side_w, body.height)
        ticker_h = round(TICKER_LINES * 17 * scale + 14 * scale)
        room.height -= ticker_h
        self.view.draw(surface, room, scale)
        draw_moments(surface, self.view, self.model, scale)
        draw_ticker(surface, pygame.Rect(room.left, room.bottom, room.width, ticker_h), self.model.moments, scale,
                    TICKER_LINES)
        draw_hud(surface, hud, self.model, scale)
        self._draw_bar(surface, pygame.Rect(0, 0, width, bar_h), scale)
        self._draw_timeline(surface, pygame.Rect(gap, body.bottom + gap, width - 2 * gap, timeline_h), scale)
        if self.error:
            text(surface, self.error, scaled("bold", 16, scale), theme.BAD, room.center, "center")
        key_hints(surface, [("Space", "pause" if self.playing else "play"), ("←→", "step"),
                            ("Shift+←→", "±1 s"), ("PgUp/PgDn", "scrub"), ("+/−", "rate"),
                            ("Esc", "back")], scale)

    def _draw_bar(self, surface: pygame.Surface, bar: pygame.Rect, scale: float) -> None:
        surface.fill(theme.PANEL, bar)
        pad = 14 * scale
        title = self.header.get("title") or self.header.get("level") or "a recorded round"
        left = text(surface, f"Replay · {title}", scaled("bold", 20, scale), theme.TEXT,
                    (pad, bar.centery), "midleft")
        clock = f"{self.playhead - self.start:6.2f} s / {self.end - self.start:.2f} s"
        text(surface, f"{clock}   event {self.applied}/{len(self.events)}   ×{self.rate:g}",
             scaled("mono", 16, scale), theme.ACCENT, (left.right + 24 * scale, bar.centery), "midleft")

    def _draw_timeline(self, surface: pygame.Surface, rect: pygame.Rect, scale: float) -> None:
        pygame.draw.rect(surface, theme.PANEL, rect, border_radius=round(6 * scale))
        pad = round(14 * scale)
        font = scaled("mono", 14, scale)
        current = self.current
        words = describe(current, self.start) if current else "the start of the round"
        text(surface, words, font, theme.TEXT, (rect.left + pad, rect.top + 6 * scale))
        track = pygame.Rect(rect.left + pad, rect.bottom - round(26 * scale), rect.width - 2 * pad,
                            round(16 * scale))
        self._timeline = track.inflate(0, round(16 * scale))
        pygame.draw.rect(surface, theme.FLOOR, track)
        span = (self.end - self.start) or 1.0
        for event in self.events:
            colour = TICK_COLOURS.get(str(event.get("kind")))
            if colour is None:
                continue
            x = track.left + (float(event["t"]) - self.start) / span * track.width
            pygame.draw.line(surface, colour, (x, track.top), (x, track.bottom), 1)
        x = track.left + (self.playhead - self.start) / span * track.width
        pygame.draw.line(surface, theme.TEXT, (x, track.top - 6 * scale), (x, track.bottom + 6 * scale),
                         max(2, round(3 * scale)))


def describe(event: dict[str, Any], start: float) -> str:
    """One line for the event under the playhead: time, kind, note and where."""
    at = float(event.get("t", start)) - start
    parts = [f"{at:+8.3f}s", str(event.get("kind"))]
    for key in ("note", "hand", "peer", "state", "reason"):
        if event.get(key) not in (None, ""):
            parts.append(f"{key}={event[key]}")
    return "  ".join(parts)
