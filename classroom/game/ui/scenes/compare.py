"""The compare screen: the chosen level's class under each mesh, run for real, side by side.

Reached from level select with C.  Each column is one mesh; its rows fill in
as that mesh's round ends (:class:`classroom.game.model.comparing.Comparison`
runs ``classroom compare`` once per mesh).  Esc stops the round under way and
goes back.  What to look for is said under the table: who read the notes,
who believed a forgery, how many proxies each shape runs.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import pygame

from classroom.game.model.comparing import ROWS, Comparison, Entry
from classroom.game.ui import theme
from classroom.game.ui.fonts import scaled
from classroom.game.ui.scenes.base import Host, Scene, register
from classroom.game.ui.scenes.common import key_hints, text, wrap
from classroom.level import Level
from classroom.mesh.control.profiles import PROFILES


@register("compare")
class CompareScene(Scene):
    def __init__(self, app: Host, level: Level, profiles: Sequence[str] | None = None) -> None:
        super().__init__(app)
        self.level = level
        self.comparison = Comparison(level.path or level.name, tuple(profiles or PROFILES),
                                     speed=app.options.speed)

    def handle(self, event: pygame.event.Event) -> None:
        if event.type == pygame.KEYDOWN and event.key in (pygame.K_ESCAPE, pygame.K_BACKSPACE):
            self.comparison.stop()
            self.app.switch("levels", selected=self.level.name)

    def update(self) -> None:
        self.comparison.poll()

    def leave(self) -> None:
        self.comparison.stop()

    def draw(self, surface: pygame.Surface) -> None:
        width, height = surface.get_size()
        scale = theme.scale_for(height)
        surface.fill(theme.BACKGROUND)
        margin = 24 * scale
        count = len(self.comparison.entries)
        meshes = "seven meshes" if count == len(PROFILES) else f"{count} meshes"
        heading = text(surface, f"One class, {meshes}: {self.level.title}", scaled("bold", 28, scale),
                       theme.TEXT, (margin, margin))
        entries = self.comparison.entries
        done = sum(entry.done for entry in entries)
        status = ("every round played: the same students, teacher and notes, each mesh's defaults"
                  if self.comparison.done else f"playing round {done + 1} of {len(entries)} for real ...")
        text(surface, status, scaled("sans", 15, scale), theme.TEXT_DIM, (margin, heading.bottom + 4 * scale))
        table = pygame.Rect(round(margin), round(heading.bottom + 34 * scale), round(width - 2 * margin),
                            round(height - heading.bottom - 150 * scale))
        self._draw_table(surface, table, entries, scale)
        self._draw_lesson(surface, pygame.Rect(table.left, table.bottom + round(10 * scale), table.width,
                                               round(height - table.bottom - 50 * scale)), scale)
        key_hints(surface, [("Esc", "back to the levels")], scale)

    def _draw_table(self, surface: pygame.Surface, rect: pygame.Rect, entries: list[Entry], scale: float) -> None:
        pygame.draw.rect(surface, theme.PANEL, rect, border_radius=round(8 * scale))
        label_w = round(rect.width * 0.2)
        column_w = (rect.width - label_w - round(16 * scale)) / max(1, len(entries))
        head, cell, label = scaled("bold", 15, scale), scaled("sans", 15, scale), scaled("bold", 14, scale)
        row_h = max(cell.get_linesize() + 8 * scale, (rect.height - 2 * head.get_linesize()) / (len(ROWS) + 1))
        top = rect.top + 10 * scale
        for i, entry in enumerate(entries):
            profile = PROFILES[entry.profile]
            x = rect.left + label_w + (i + 0.5) * column_w
            colour = theme.ORANGE if profile.status else theme.TEXT
            for n, line in enumerate(wrap(profile.title, head, round(column_w - 8 * scale))[:2]):
                text(surface, line, head, colour, (x, top + n * head.get_linesize()), "midtop")
        y = top + 2 * head.get_linesize() + 8 * scale
        for r, (title, show) in enumerate(ROWS):
            line_y = y + r * row_h
            if r % 2 == 0:
                band = pygame.Rect(rect.left + round(6 * scale), round(line_y), rect.width - round(12 * scale),
                                   round(row_h))
                pygame.draw.rect(surface, theme.BACKGROUND, band, border_radius=round(4 * scale))
            middle = line_y + row_h / 2
            text(surface, title, label, theme.TEXT_DIM, (rect.left + 14 * scale, middle), "midleft")
            for i, entry in enumerate(entries):
                x = rect.left + label_w + (i + 0.5) * column_w
                words, colour = self._cell(entry, title, show, r)
                fitted = _fit(words, cell, round(column_w - 6 * scale))
                text(surface, fitted, cell, colour, (x, middle), "center")

    def _cell(self, entry: Entry, title: str, show: object, r: int) -> tuple[str, theme.Colour]:
        if entry.row is not None:
            words = show(entry.row)  # type: ignore[operator]
            if title == "status":
                words = PROFILES[entry.profile].status or "maintained"
            bad = (title in ("teacher read", "forgeries believed") and words != "0")
            return words, theme.BAD if bad else theme.TEXT
        if entry.error is not None:
            return (entry.error if r == 0 else ""), theme.BAD
        if entry.started is not None and r == 0:
            dots = "." * (1 + int(time.monotonic() * 2) % 3)
            return f"playing{dots}", theme.ACCENT
        return ("waiting" if r == 0 else ""), theme.TEXT_DIM

    def _draw_lesson(self, surface: pygame.Surface, rect: pygame.Rect, scale: float) -> None:
        font = scaled("sans", 16, scale)
        words = ("Look along the rows: under a mesh without locks the teacher reads every note she passes; "
                 "where plaintext is accepted she slips in forgeries; one proxy per row runs fewer processes "
                 "than a sidecar per student, and takes the whole row down when it fails.  These are the "
                 "classroom's own Python proxies in each mesh's shape, not Envoy or linkerd2-proxy.")
        y = rect.top
        for line in wrap(words, font, rect.width):
            text(surface, line, font, theme.TEXT, (rect.left, y))
            y += font.get_linesize()


def _fit(words: str, font: pygame.font.Font, width: int) -> str:
    """``words`` cut with an ellipsis to fit ``width`` pixels."""
    if font.size(words)[0] <= width:
        return words
    while words and font.size(words + "…")[0] > width:
        words = words[:-1]
    return words + "…"
