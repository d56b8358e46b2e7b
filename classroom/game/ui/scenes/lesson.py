"""The lesson card: what the level teaches, what to reach, and the way into class."""

from __future__ import annotations

import pygame

from classroom.game.ui import theme
from classroom.game.ui.fonts import scaled
from classroom.game.ui.scenes.base import Host, Scene, register
from classroom.game.ui.scenes.common import Menu, key_hints, paragraphs, text, wrap
from classroom.level import Level
from classroom.mesh.control.profiles import profile as mesh_profile
from classroom.objectives import goal_words


@register("lesson")
class LessonScene(Scene):
    def __init__(self, app: Host, level: Level) -> None:
        super().__init__(app)
        self.level = level
        self.menu = Menu(["To class", "Back"], horizontal=True)
        self.scroll = 0  # lines of the lesson scrolled past
        self._lines_shown = 0
        self._lines_total = 0

    def handle(self, event: pygame.event.Event) -> None:
        event = self.menu.as_key(event)  # a click on a button is Enter on it
        if event.type != pygame.KEYDOWN or self.menu.handle(event):
            return
        if event.key in (pygame.K_DOWN, pygame.K_PAGEDOWN):
            step = self._lines_shown if event.key == pygame.K_PAGEDOWN else 1
            self.scroll = min(self.scroll + step, max(0, self._lines_total - self._lines_shown))
        elif event.key in (pygame.K_UP, pygame.K_PAGEUP):
            step = self._lines_shown if event.key == pygame.K_PAGEUP else 1
            self.scroll = max(0, self.scroll - step)
        elif event.key in (pygame.K_RETURN, pygame.K_KP_ENTER, pygame.K_SPACE):
            if self.menu.choice == "To class":
                self.app.switch("play", level=self.level)
            else:
                self._back()
        elif event.key == pygame.K_ESCAPE:
            self._back()

    def _back(self) -> None:
        self.app.switch("levels", selected=self.level.name)

    def draw(self, surface: pygame.Surface) -> None:
        width, height = surface.get_size()
        scale = theme.scale_for(height)
        surface.fill(theme.BACKGROUND)
        margin = 28 * scale
        number = self.app.level_number(self.level)
        heading = text(surface, f"Lesson {number}: {self.level.title}", scaled("bold", 30, scale),
                       theme.TEXT, (margin, margin))
        aside_w = round(width * 0.30)
        card = pygame.Rect(round(margin), round(heading.bottom + 16 * scale),
                           round(width - 3 * margin - aside_w), 0)
        card.height = round(height - 30 * scale - 2 * margin - card.top - 50 * scale)
        aside = pygame.Rect(card.right + round(margin), card.top, aside_w, card.height)
        self._draw_card(surface, card, scale)
        self._draw_aside(surface, aside, scale)
        self.menu.draw(surface, (card.left, card.bottom + 14 * scale), scale, size=18)
        hints = [("←→", "choose"), ("Enter", "select"), ("Esc", "levels")]
        if self._lines_total > self._lines_shown:
            hints.insert(0, ("↑↓", "scroll the lesson"))
        key_hints(surface, hints, scale)

    def _draw_card(self, surface: pygame.Surface, card: pygame.Rect, scale: float) -> None:
        pygame.draw.rect(surface, theme.PANEL, card, border_radius=round(8 * scale))
        font = scaled("sans", 18, scale)
        inner = card.inflate(round(-40 * scale), round(-32 * scale))
        lines = wrap("\n\n".join(paragraphs(self.level.lesson)), font, inner.width)  # reflowed to the card
        per_line = font.get_linesize()
        self._lines_total, self._lines_shown = len(lines), max(1, inner.height // per_line)
        self.scroll = min(self.scroll, max(0, self._lines_total - self._lines_shown))
        y = inner.top
        for line in lines[self.scroll:self.scroll + self._lines_shown]:
            text(surface, line, font, theme.TEXT, (inner.left, y))
            y += per_line
        if self._lines_total > self._lines_shown:  # a scroll bar: where we are in the lesson
            track = pygame.Rect(card.right - round(10 * scale), inner.top, round(4 * scale), inner.height)
            pygame.draw.rect(surface, theme.PANEL_EDGE, track)
            thumb = track.copy()
            thumb.height = max(round(12 * scale), track.height * self._lines_shown // self._lines_total)
            thumb.top = track.top + (track.height - thumb.height) * self.scroll // max(
                1, self._lines_total - self._lines_shown)
            pygame.draw.rect(surface, theme.ACCENT, thumb)

    def _draw_aside(self, surface: pygame.Surface, aside: pygame.Rect, scale: float) -> None:
        pygame.draw.rect(surface, theme.PANEL, aside, border_radius=round(8 * scale))
        inner = aside.inflate(round(-32 * scale), round(-32 * scale))
        label, body = scaled("bold", 17, scale), scaled("sans", 15, scale)
        y = float(inner.top)
        for title, items in (
            ("To pass", [goal_words(o.metric, o.op, o.value) for o in self.level.objectives]),
            ("You may change", list(self.level.editable) or ["nothing: watch and learn"]),
            ("Concepts", [", ".join(self.level.concepts)]),
            ("The mesh", mesh_profile(self.level.profile).facts()),
        ):
            text(surface, title, label, theme.ACCENT, (inner.left, y))
            y += label.get_linesize() + 2 * scale
            for item in items:
                for line in wrap("•  " + item, body, inner.width):
                    text(surface, line, body, theme.TEXT, (inner.left, y))
                    y += body.get_linesize()
            y += 14 * scale
