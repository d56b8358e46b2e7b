"""The classroom's look, drawn procedurally: a floor of boards, the blackboard, students at their
desks and the teacher.

Everything here draws into the static layer of :class:`~classroom.game.ui.view.ClassroomView`
(once per change, never per frame) except the teacher, who walks.  A student's look comes from
their name (the same hair and jumper every round), in colours kept away from the note and aisle
colours so that nothing here reads as a state.
"""

from __future__ import annotations

import hashlib

import pygame

from classroom.game.ui import theme
from classroom.game.ui.fonts import scaled

PLANK: theme.Colour = (49, 55, 67)  # the floor's board lines, a shade off the floor
BOARD: theme.Colour = (32, 58, 48)
BOARD_FRAME: theme.Colour = (120, 92, 62)
CHALK: theme.Colour = (222, 228, 220)
SKIN = ((241, 206, 170), (224, 172, 128), (190, 134, 94), (141, 92, 62), (96, 62, 42))
HAIR = ((40, 30, 24), (92, 58, 32), (168, 120, 64), (30, 30, 34), (120, 40, 30), (200, 190, 170))
JUMPER = ((112, 96, 150), (150, 100, 80), (90, 110, 130), (128, 128, 96), (160, 110, 140), (96, 120, 104))
TEACHER_DRESS: theme.Colour = (245, 245, 245)
TEACHER_EDGE: theme.Colour = (20, 20, 24)
TEACHER_HAIR: theme.Colour = (70, 50, 40)


def floor(layer: pygame.Surface, cell: tuple[float, float]) -> None:
    """The floor: boards running across the room, a line every half row."""
    layer.fill(theme.FLOOR)
    step = max(6, round(cell[1] / 2))
    for y in range(step, layer.get_height(), step):
        pygame.draw.line(layer, PLANK, (0, y), (layer.get_width(), y))


def board(layer: pygame.Surface, cell: tuple[float, float], title: str, scale: float) -> pygame.Rect:
    """The blackboard along the front wall, with the lesson's title in chalk; where it is."""
    h = max(8, min(round(cell[1] * 0.16), round(28 * scale)))
    w = round(layer.get_width() * 0.56)
    rect = pygame.Rect((layer.get_width() - w) // 2, max(1, round(2 * scale)), w, h)
    pygame.draw.rect(layer, BOARD_FRAME, rect.inflate(max(2, round(4 * scale)), max(2, round(4 * scale))),
                     border_radius=max(1, round(2 * scale)))
    pygame.draw.rect(layer, BOARD, rect)
    if h >= 12 and title:
        font = scaled("sans", max(6.0, h * 0.62 / max(scale, 0.01)), scale)
        words = title
        while len(words) > 3 and font.size(words)[0] > w - 8:
            words = words[:-2]
        chalk = font.render(words if words == title else words + "…", True, CHALK)
        layer.blit(chalk, chalk.get_rect(center=rect.center))
    return rect


def _pick(name: str, palette: tuple[theme.Colour, ...], salt: str) -> theme.Colour:
    digest = hashlib.sha256(f"{salt}:{name}".encode()).digest()
    return palette[digest[0] % len(palette)]


def student(layer: pygame.Surface, desk: pygame.Rect, name: str, present: bool) -> None:
    """A student sitting at ``desk``: head and shoulders rising behind its top edge (an empty chair
    when they are not there).  Drawn before the desk, which hides the rest of them."""
    head = max(3, round(min(desk.h * 0.34, desk.w * 0.16)))
    cx, top = desk.centerx, desk.top
    chair = pygame.Rect(0, 0, round(head * 3.2), round(head * 2.2))
    chair.midbottom = (cx, top + head)
    pygame.draw.rect(layer, theme.DESK_EDGE, chair, border_radius=max(1, head // 2))
    if not present:
        return
    jumper = _pick(name, JUMPER, "jumper")
    shoulders = pygame.Rect(0, 0, round(head * 2.8), round(head * 1.8))
    shoulders.midbottom = (cx, top + head)
    pygame.draw.ellipse(layer, jumper, shoulders)
    centre = (cx, top - round(head * 0.9))
    pygame.draw.circle(layer, _pick(name, SKIN, "skin"), centre, head)
    hair = pygame.Rect(0, 0, head * 2 + 2, head + 1)
    hair.midbottom = (cx, centre[1] - head // 4)
    pygame.draw.ellipse(layer, _pick(name, HAIR, "hair"), hair)
    pygame.draw.circle(layer, TEACHER_EDGE, centre, head, 1)


def teacher(surface: pygame.Surface, x: float, y: float, size: float) -> None:
    """The teacher: taller than any student, a long white dress, hair in a bun and a pointer, so
    that she is told from the class at a glance."""
    body = [(x - size * 0.75, y + size * 1.1), (x + size * 0.75, y + size * 1.1), (x + size * 0.35, y),
            (x - size * 0.35, y)]
    pygame.draw.polygon(surface, TEACHER_DRESS, body)
    pygame.draw.polygon(surface, TEACHER_EDGE, body, 2)
    head = (round(x), round(y - size * 0.45))
    radius = round(size * 0.45)
    pygame.draw.circle(surface, (236, 200, 168), head, radius)
    pygame.draw.circle(surface, TEACHER_HAIR, (head[0], head[1] - radius), max(2, round(radius * 0.55)))
    pygame.draw.circle(surface, TEACHER_EDGE, head, radius, 2)
    pygame.draw.line(surface, BOARD_FRAME, (x + size * 0.45, y + size * 0.35), (x + size * 1.3, y - size * 0.6),
                     max(2, round(size / 6)))
