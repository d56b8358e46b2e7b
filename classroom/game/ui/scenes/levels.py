"""Level select: every level, what it teaches, the stars earned, and which are still locked."""

from __future__ import annotations

import pygame

from classroom.game.ui import theme
from classroom.game.ui.fonts import scaled
from classroom.game.ui.scenes.base import Host, Scene, register
from classroom.game.ui.scenes.common import key_hints, paragraphs, stars, text, wrap
from classroom.level import Level
from classroom.mesh.control.profiles import profile as mesh_profile
from classroom.objectives import goal_words


@register("levels")
class LevelSelectScene(Scene):
    def __init__(self, app: Host, selected: str | None = None) -> None:
        super().__init__(app)
        names = [level.name for level in app.levels]
        self.index = names.index(selected) if selected in names else self._first_unplayed()
        self.notice = ""  # why Enter did nothing (a locked level)
        self.row_rects: dict[str, pygame.Rect] = {}  # where each visible level's row was last drawn

    def _first_unplayed(self) -> int:
        """Start on the first open level not yet passed (the next thing to do)."""
        for i, level in enumerate(self.app.levels):
            if self.app.is_open(i) and not self.app.progress.passed(level.name):
                return i
        return 0

    @property
    def level(self) -> Level:
        return self.app.levels[self.index]

    def handle(self, event: pygame.event.Event) -> None:
        if event.type == pygame.MOUSEBUTTONDOWN and getattr(event, "button", 0) == 1:
            # A click selects a level; a click on the selected one opens it, as Enter does.
            names = [level.name for level in self.app.levels]
            hit = next((name for name, rect in self.row_rects.items() if rect.collidepoint(event.pos)), None)
            if hit is None:
                return
            if names.index(hit) != self.index:
                self.index, self.notice = names.index(hit), ""
                return
            event = pygame.event.Event(pygame.KEYDOWN, key=pygame.K_RETURN, mod=0, unicode="\r", scancode=0)
        elif event.type == pygame.MOUSEWHEEL:
            count = len(self.app.levels)
            self.index = max(0, min(count - 1, self.index - int(event.y)))
            return
        if event.type != pygame.KEYDOWN:
            return
        count = len(self.app.levels)
        if event.key in (pygame.K_UP, pygame.K_LEFT) or (
                event.key == pygame.K_TAB and event.mod & pygame.KMOD_SHIFT):
            self.index = (self.index - 1) % count
            self.notice = ""
        elif event.key in (pygame.K_DOWN, pygame.K_RIGHT, pygame.K_TAB):
            self.index = (self.index + 1) % count
            self.notice = ""
        elif event.key == pygame.K_HOME:
            self.index = 0
        elif event.key == pygame.K_END:
            self.index = count - 1
        elif event.key in (pygame.K_RETURN, pygame.K_KP_ENTER, pygame.K_SPACE):
            if self.app.is_open(self.index):
                self.app.switch("lesson", level=self.level)
            else:
                before = self.app.levels[self.index - 1]
                self.notice = f"Locked: pass \u201c{before.title}\u201d first (all its objectives met)."
        elif event.key == pygame.K_c:  # the same class under every mesh, side by side
            self.app.switch("compare", level=self.level)
        elif event.key == pygame.K_ESCAPE:
            self.app.switch("title")

    def draw(self, surface: pygame.Surface) -> None:
        width, height = surface.get_size()
        scale = theme.scale_for(height)
        surface.fill(theme.BACKGROUND)
        margin = 24 * scale
        heading = text(surface, "Choose a level", scaled("bold", 30, scale), theme.TEXT, (margin, margin))
        earned = sum(self.app.progress.stars_of(level.name) for level in self.app.levels)
        text(surface, f"{earned} / {3 * len(self.app.levels)} stars", scaled("sans", 16, scale),
             theme.TEXT_DIM, (width - margin, heading.centery), "midright")
        top = heading.bottom + 16 * scale
        bottom = height - 30 * scale - margin
        list_rect = pygame.Rect(round(margin), round(top), round(width * 0.44), round(bottom - top))
        detail = pygame.Rect(list_rect.right + round(margin), list_rect.top,
                             round(width - list_rect.right - 2 * margin), list_rect.height)
        self._draw_list(surface, list_rect, scale)
        self._draw_detail(surface, detail, scale)
        key_hints(surface, [("↑↓", "choose"), ("Enter", "lesson and play"), ("C", "compare the seven meshes"),
                            ("Esc", "title")], scale)

    def _draw_list(self, surface: pygame.Surface, rect: pygame.Rect, scale: float) -> None:
        row_h = round(44 * scale)
        visible = max(1, rect.height // row_h)
        first = min(max(0, self.index - visible // 2), max(0, len(self.app.levels) - visible))
        name_font, number_font = scaled("sans", 17, scale), scaled("bold", 15, scale)
        self.row_rects = {}
        for row, i in enumerate(range(first, min(len(self.app.levels), first + visible))):
            level = self.app.levels[i]
            line = pygame.Rect(rect.left, rect.top + row * row_h, rect.width, row_h - round(4 * scale))
            self.row_rects[level.name] = line
            chosen = i == self.index
            is_open = self.app.is_open(i)
            pygame.draw.rect(surface, theme.PANEL, line, border_radius=round(6 * scale))
            if chosen:
                pygame.draw.rect(surface, theme.ACCENT, line, max(2, round(2 * scale)),
                                 border_radius=round(6 * scale))
            colour = theme.TEXT if is_open else theme.TEXT_DIM
            number = text(surface, f"{i + 1:02d}", number_font, theme.ACCENT if is_open else theme.TEXT_DIM,
                          (line.left + 12 * scale, line.centery), "midleft")
            text(surface, level.title, name_font, colour, (number.right + 12 * scale, line.centery),
                 "midleft")
            right = line.right - 12 * scale
            if level.profile != "istio":  # the chapter: which mesh this class runs
                text(surface, mesh_profile(level.profile).title, scaled("sans", 13, scale), theme.TEXT_DIM,
                     (right - 3 * 8 * scale * 2.3 - 12 * scale, line.centery), "midright")
            if is_open:
                radius = 8 * scale
                stars(surface, right - 3 * radius * 2.3, line.centery, self.app.progress.stars_of(level.name),
                      radius, scale)
            else:
                _padlock(surface, (right - 10 * scale, line.centery), scale)

    def _draw_detail(self, surface: pygame.Surface, rect: pygame.Rect, scale: float) -> None:
        level = self.level
        pygame.draw.rect(surface, theme.PANEL, rect, border_radius=round(8 * scale))
        pad = 18 * scale
        inner = rect.inflate(round(-2 * pad), round(-2 * pad))
        y = float(inner.top)
        title = text(surface, level.title, scaled("bold", 24, scale), theme.TEXT, (inner.left, y))
        y = title.bottom + 10 * scale
        y = _chips(surface, level.concepts, inner, y, scale) + 14 * scale
        small, body = scaled("sans", 15, scale), scaled("sans", 16, scale)
        label = scaled("bold", 15, scale)
        mesh = mesh_profile(level.profile)
        text(surface, "Mesh: " + mesh.facts()[0] + (f" ({mesh.status})" if mesh.status else ""), label,
             theme.ORANGE if mesh.retired else theme.TEXT, (inner.left, y))
        y += label.get_linesize() + 6 * scale
        text(surface, "You change: " + ", ".join(level.editable or ("nothing",)), label, theme.ACCENT,
             (inner.left, y))
        y += label.get_linesize() + 10 * scale
        text(surface, "Objectives", label, theme.TEXT, (inner.left, y))
        y += label.get_linesize()
        for objective in level.objectives:
            text(surface, "•  " + goal_words(objective.metric, objective.op, objective.value), small,
                 theme.TEXT_DIM, (inner.left + 6 * scale, y))
            y += small.get_linesize()
        y += 12 * scale
        lesson = paragraphs(level.lesson)
        lines = wrap(lesson[0] if lesson else "", body, inner.width)
        room = int((inner.bottom - y - body.get_linesize() * 2) // body.get_linesize())
        for line in lines[:max(0, room)]:
            text(surface, line, body, theme.TEXT, (inner.left, y))
            y += body.get_linesize()
        if self.notice:
            text(surface, self.notice, scaled("bold", 16, scale), theme.ORANGE,
                 (inner.left, inner.bottom), "bottomleft")
        elif not self.app.is_open(self.index):
            text(surface, "Locked until the level before it is passed.", small, theme.TEXT_DIM,
                 (inner.left, inner.bottom), "bottomleft")


def _chips(surface: pygame.Surface, words: tuple[str, ...], rect: pygame.Rect, y: float,
           scale: float) -> float:
    """Concepts as rounded chips, wrapping to new rows; the y below the last row."""
    font = scaled("sans", 13, scale)
    x, row_h = float(rect.left), font.get_linesize() + 8 * scale
    for word in words:
        w = font.size(word)[0] + 16 * scale
        if x + w > rect.right and x > rect.left:
            x, y = rect.left, y + row_h + 6 * scale
        chip = pygame.Rect(round(x), round(y), round(w), round(row_h))
        pygame.draw.rect(surface, theme.PANEL_EDGE, chip, border_radius=round(row_h / 2))
        text(surface, word, font, theme.TEXT, chip.center, "center")
        x += w + 6 * scale
    return y + row_h


def _padlock(surface: pygame.Surface, center: tuple[float, float], scale: float) -> None:
    cx, cy = center
    body = pygame.Rect(0, 0, round(16 * scale), round(12 * scale))
    body.midtop = (round(cx), round(cy - 2 * scale))
    shackle = pygame.Rect(0, 0, round(10 * scale), round(14 * scale))
    shackle.midbottom = (round(cx), body.top + round(5 * scale))
    pygame.draw.rect(surface, theme.TEXT_DIM, shackle, max(2, round(2 * scale)),
                     border_radius=round(5 * scale))
    pygame.draw.rect(surface, theme.TEXT_DIM, body, border_radius=round(2 * scale))
