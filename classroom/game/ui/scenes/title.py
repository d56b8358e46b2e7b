"""The title screen: the game's name, what it teaches, and the way in."""

from __future__ import annotations

import pygame

from classroom.game.ui import theme
from classroom.game.ui.fonts import scaled
from classroom.game.ui.scenes.base import Host, Scene, register
from classroom.game.ui.scenes.common import Menu, key_hints, text

TAGLINE = "Learn how a service mesh works by passing notes in class"
BLURB = ("Every student is a real program, every pass a real mTLS connection. "
         "Fix the class's mesh configuration and get the notes through.")


@register("title")
class TitleScene(Scene):
    def __init__(self, app: Host) -> None:
        super().__init__(app)
        self.menu = Menu(["Play", "Quit"])

    def handle(self, event: pygame.event.Event) -> None:
        event = self.menu.as_key(event)  # a click on a button is Enter on it
        if self.menu.handle(event) or event.type != pygame.KEYDOWN:
            return
        if event.key in (pygame.K_RETURN, pygame.K_KP_ENTER, pygame.K_SPACE):
            if self.menu.choice == "Play":
                self.app.switch("levels")
            else:
                self.app.quit(0)
        elif event.key == pygame.K_ESCAPE:
            self.app.quit(0)

    def draw(self, surface: pygame.Surface) -> None:
        width, height = surface.get_size()
        scale = theme.scale_for(height)
        surface.fill(theme.BACKGROUND)
        _draw_passing(surface, scale)
        cx = width / 2
        title = text(surface, "Classroom Mesh", scaled("bold", 64, scale), theme.TEXT,
                     (cx, height * 0.30), "center")
        text(surface, TAGLINE, scaled("sans", 22, scale), theme.ACCENT, (cx, title.bottom + 18 * scale),
             "midtop")
        text(surface, BLURB, scaled("sans", 15, scale), theme.TEXT_DIM, (cx, title.bottom + 58 * scale),
             "midtop")
        font = scaled("bold", 22, scale)
        widest = max(font.size(label)[0] for label in self.menu.labels) + 36 * scale
        self.menu.draw(surface, (cx - widest / 2, height * 0.55), scale, size=22)
        key_hints(surface, [("↑↓", "choose"), ("Enter", "select"), ("Esc", "quit")], scale)


def _draw_passing(surface: pygame.Surface, scale: float) -> None:
    """A row of desks along the bottom with an envelope passing between two of them."""
    width, height = surface.get_size()
    desk_w, desk_h = 90 * scale, 44 * scale
    y = height * 0.76
    count = max(3, int(width // (desk_w * 1.9)))
    gap = (width - count * desk_w) / (count + 1)
    centers = []
    for i in range(count):
        rect = pygame.Rect(round(gap + i * (desk_w + gap)), round(y), round(desk_w), round(desk_h))
        pygame.draw.rect(surface, theme.DESK, rect, border_radius=round(6 * scale))
        pygame.draw.rect(surface, theme.DESK_EDGE, rect, max(1, round(2 * scale)),
                         border_radius=round(6 * scale))
        centers.append(rect.center)
    for (x1, y1), (x2, _) in zip(centers, centers[1:], strict=False):
        pygame.draw.line(surface, theme.PANEL_EDGE, (x1 + desk_w / 2, y1), (x2 - desk_w / 2, y1),
                         max(1, round(3 * scale)))
    (x1, y1), (x2, _) = centers[0], centers[1]
    envelope = pygame.Rect(0, 0, round(30 * scale), round(20 * scale))
    envelope.center = (round((x1 + x2) / 2), round(y1 - 34 * scale))
    pygame.draw.rect(surface, theme.NOTE_COLOURS["in_flight"], envelope)
    pygame.draw.lines(surface, theme.BACKGROUND, False,
                      [envelope.topleft, envelope.center, envelope.topright], max(1, round(2 * scale)))
