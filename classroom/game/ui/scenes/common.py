"""What the scenes share for drawing: text, wrapping, key hints, stars and a keyboard menu.

Theory of operation
-------------------
A scene keeps no pixel sizes: it reads the surface's size at every draw and
scales its fonts and margins with :func:`~classroom.game.ui.theme.scale_for`,
so the same code draws at 1280x720 and at 4K.  The helpers here take that
scale and draw one thing each.  (The scene protocol and the registry of
scenes by name are in :mod:`classroom.game.ui.scenes.base`.)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pygame

from classroom.game.ui import theme
from classroom.game.ui.fonts import scaled


def text(
    surface: pygame.Surface,
    words: str,
    font: pygame.font.Font,
    colour: theme.Colour,
    pos: tuple[float, float],
    anchor: str = "topleft",
) -> pygame.Rect:
    """Draw one line of text with its ``anchor`` (a pygame.Rect attribute) at ``pos``."""
    image = font.render(words, True, colour)
    rect = image.get_rect(**{anchor: (round(pos[0]), round(pos[1]))})
    surface.blit(image, rect)
    return rect


def wrap(words: str, font: pygame.font.Font, width: int) -> list[str]:
    """``words`` broken into lines no wider than ``width``; blank lines between paragraphs kept."""
    lines: list[str] = []
    for paragraph in words.rstrip().split("\n"):
        line = ""
        for word in paragraph.split():
            candidate = f"{line} {word}" if line else word
            if line and font.size(candidate)[0] > width:
                lines.append(line)
                line = word
            else:
                line = candidate
        lines.append(line)
    return lines


def paragraphs(words: str) -> list[str]:
    """The paragraphs of a lesson, each joined into one line."""
    return [" ".join(p.split()) for p in words.strip().split("\n\n") if p.strip()]


# The keys a footer hint names, for a click on it: each hint is a button that presses its key.
HINT_KEYS = {"Space": pygame.K_SPACE, "Enter": pygame.K_RETURN, "Esc": pygame.K_ESCAPE, "Esc/F2": pygame.K_ESCAPE,
             "R": pygame.K_r, "L": pygame.K_l, "Y": pygame.K_y, "H": pygame.K_h, "F5": pygame.K_F5,
             "F2": pygame.K_F2, "PgUp/PgDn": pygame.K_PAGEDOWN, "+/−": pygame.K_PLUS, "+/-": pygame.K_PLUS,
             "Home/End": pygame.K_HOME, "C": pygame.K_c}
HINT_TARGETS: list[tuple[pygame.Rect, int]] = []  # the footer's buttons as last drawn: (rect, key)


def click_to_key(event: pygame.event.Event) -> pygame.event.Event | None:
    """A left click on a footer hint, as the key it names (None for any other event)."""
    if event.type != pygame.MOUSEBUTTONDOWN or getattr(event, "button", 0) != 1:
        return None
    for rect, key in HINT_TARGETS:
        if rect.collidepoint(event.pos):
            return pygame.event.Event(pygame.KEYDOWN, key=key, mod=0, unicode="", scancode=0)
    return None


def key_hints(surface: pygame.Surface, hints: Sequence[tuple[str, str]], scale: float) -> None:
    """A footer of key hints, e.g. ``[("Enter", "play"), ("Esc", "back")]``; each one whose key is
    in :data:`HINT_KEYS` is also a button (:func:`click_to_key`)."""
    HINT_TARGETS.clear()
    width, height = surface.get_size()
    bar = pygame.Rect(0, height - round(30 * scale), width, round(30 * scale))
    surface.fill(theme.PANEL, bar)
    pygame.draw.line(surface, theme.PANEL_EDGE, bar.topleft, bar.topright, max(1, round(scale)))
    key_font, label_font = scaled("bold", 14, scale), scaled("sans", 14, scale)
    x = 16 * scale
    for key, label in hints:
        keycap = key_font.render(key, True, theme.BACKGROUND)
        cap = keycap.get_rect().inflate(round(10 * scale), round(4 * scale))
        cap.midleft = (round(x), bar.centery)
        pygame.draw.rect(surface, theme.TEXT_DIM, cap, border_radius=round(4 * scale))
        surface.blit(keycap, keycap.get_rect(center=cap.center))
        drawn = text(surface, label, label_font, theme.TEXT, (cap.right + 6 * scale, bar.centery), "midleft")
        if key in HINT_KEYS:
            HINT_TARGETS.append((cap.union(drawn).inflate(round(6 * scale), round(4 * scale)), HINT_KEYS[key]))
        x = drawn.right + 22 * scale


def star_points(center: tuple[float, float], radius: float) -> list[tuple[float, float]]:
    """The ten corners of a five-pointed star."""
    cx, cy = center
    points = []
    for i in range(10):
        r = radius if i % 2 == 0 else radius * 0.45
        angle = -math.pi / 2 + i * math.pi / 5
        points.append((cx + r * math.cos(angle), cy + r * math.sin(angle)))
    return points


def stars(surface: pygame.Surface, left: float, centery: float, earned: int, radius: float,
          scale: float, out_of: int = 3) -> pygame.Rect:
    """``out_of`` stars in a row, the first ``earned`` filled, the rest outlined."""
    step = radius * 2.3
    for i in range(out_of):
        points = star_points((left + radius + i * step, centery), radius)
        if i < earned:
            pygame.draw.polygon(surface, theme.YELLOW, points)
        pygame.draw.polygon(surface, theme.YELLOW if i < earned else theme.TEXT_DIM, points,
                            max(1, round(1.5 * scale)))
    return pygame.Rect(round(left), round(centery - radius), round(step * out_of), round(radius * 2))


class Menu:
    """A row or column of choices, moved through with the arrow keys."""

    def __init__(self, labels: Sequence[str], horizontal: bool = False) -> None:
        self.labels = list(labels)
        self.horizontal = horizontal
        self.index = 0
        self.rects: list[pygame.Rect] = []  # where each button was last drawn (for the mouse)

    @property
    def choice(self) -> str:
        return self.labels[self.index]

    def click(self, event: pygame.event.Event) -> bool:
        """The mouse: hovering a button selects it; True when a left click chose one (act as Enter)."""
        if event.type not in (pygame.MOUSEMOTION, pygame.MOUSEBUTTONDOWN):
            return False
        for i, rect in enumerate(self.rects):
            if rect.collidepoint(event.pos):
                self.index = i
                return event.type == pygame.MOUSEBUTTONDOWN and getattr(event, "button", 0) == 1
        return False

    def as_key(self, event: pygame.event.Event) -> pygame.event.Event:
        """``event``, or Enter when it is a click that chose a button (hovering selects)."""
        if self.click(event):
            return pygame.event.Event(pygame.KEYDOWN, key=pygame.K_RETURN, mod=0, unicode="\r", scancode=0)
        return event

    def handle(self, event: pygame.event.Event) -> bool:
        """Arrows (and Tab) move the selection; True when the event was used."""
        if event.type != pygame.KEYDOWN:
            return False
        back = (pygame.K_LEFT,) if self.horizontal else (pygame.K_UP,)
        forward = (pygame.K_RIGHT,) if self.horizontal else (pygame.K_DOWN,)
        if event.key in back or (event.key == pygame.K_TAB and event.mod & pygame.KMOD_SHIFT):
            self.index = (self.index - 1) % len(self.labels)
        elif event.key in forward or event.key == pygame.K_TAB:
            self.index = (self.index + 1) % len(self.labels)
        else:
            return False
        return True

    def draw(self, surface: pygame.Surface, origin: tuple[float, float], scale: float,
             size: float = 20) -> list[pygame.Rect]:
        """Buttons from ``origin`` (top-left); the selected one filled with the accent colour."""
        font = scaled("bold", size, scale)
        x, y = origin
        pad_x, pad_y, gap = 18 * scale, 8 * scale, 14 * scale
        rects = []
        for i, label in enumerate(self.labels):
            w, h = font.size(label)
            rect = pygame.Rect(round(x), round(y), round(w + 2 * pad_x), round(h + 2 * pad_y))
            chosen = i == self.index
            pygame.draw.rect(surface, theme.ACCENT if chosen else theme.PANEL, rect,
                             border_radius=round(6 * scale))
            pygame.draw.rect(surface, theme.TEXT if chosen else theme.PANEL_EDGE, rect,
                             max(1, round(2 * scale)), border_radius=round(6 * scale))
            text(surface, label, font, theme.BACKGROUND if chosen else theme.TEXT, rect.center, "center")
            rects.append(rect)
            if self.horizontal:
                x = rect.right + gap
            else:
                y = rect.bottom + gap
        self.rects = rects
        return rects
