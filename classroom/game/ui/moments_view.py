"""The moments drawn where they happen, the event ticker, and the legend.

Theory of operation
-------------------
:func:`draw_moments` draws each moment of the model
(:mod:`classroom.game.model.moments`) at its place, over the room the
:class:`~classroom.game.ui.view.ClassroomView` drew: a mark of its own shape
and colour (an eye for a peek, a no-entry sign for a denial, a shield for a
refused impostor, a circling arrow for a retry, a warning triangle on a
broken desk, a clock on an ejected one...), larger while it is fresh, and a
pill under it with its title and detail (the bytes, the words, both
identities, the policy's name).  A desk's moments sit on its top edge and
its pills below it, so they never cover its name; an aisle's sit at its
middle.  Each drawn moment is marked shown (:meth:`Moments.mark_shown`): that
is what ``LEVEL-seen.json`` counts.

:func:`draw_ticker` lists the last moments in words, newest last; and
:func:`draw_legend` explains every shape on screen (envelopes, padlocks,
marks), each entry recorded in ``Moments.legend`` as it is drawn.
"""

from __future__ import annotations

import math
from collections import OrderedDict

import pygame

from classroom.game.model.classmodel import ClassModel
from classroom.game.model.moments import Moment, Moments
from classroom.game.ui import theme
from classroom.game.ui.hud import LEGEND_NAMES, fit, legend_sprites, text
from classroom.game.ui.view import AISLE_UP, ClassroomView, lock

# Each kind of moment: its mark's colour and shape (no two kinds that can meet on screen share both).
MARKS: dict[str, tuple[theme.Colour, str]] = {
    "bubble_plaintext": (theme.VERMILLION, "speech"),
    "bubble_ciphertext": (theme.BLUISH_GREEN, "speech"),
    "bubble_sealed": (theme.BLUISH_GREEN, "speech"),
    "peek": (theme.REDDISH_PURPLE, "eye"),
    "impostor_refused": (theme.BLUISH_GREEN, "shield"),
    "impostor_accepted": (theme.VERMILLION, "mask"),
    "forgery_believed": (theme.VERMILLION, "mask"),
    "confiscated": (theme.REDDISH_PURPLE, "hand"),
    "denied": (theme.VERMILLION, "no_entry"),
    "retry": (theme.YELLOW, "arrow"),
    "ejected": (theme.ORANGE, "clock"),
    "broken": (theme.VERMILLION, "warning"),
    "dropped": (theme.ORANGE, "torn"),
    "refused": (theme.VERMILLION, "cross"),
    "absent": (theme.TEXT_DIM, "cross"),
    "seal_broken": (theme.VERMILLION, "cross"),
    "tls_refused": (theme.SKY_BLUE, "shield"),
    "lecture": (theme.SKY_BLUE, "hand"),  # ticker only: a lecturer's live action
    "lecture_failed": (theme.VERMILLION, "warning"),
}
LEGEND_MARKS = (("peek", "a peek"), ("impostor_refused", "impostor refused"),
                ("impostor_accepted", "impostor let in"), ("confiscated", "confiscated"),
                ("denied", "policy denies"), ("retry", "retry"), ("ejected", "ejected, time left"),
                ("broken", "broken desk"), ("dropped", "dropped"), ("tls_refused", "refused plain"))
PULSE = 0.6  # room seconds a fresh moment pulses


def draw_moments(surface: pygame.Surface, view: ClassroomView, model: ClassModel, scale: float) -> None:
    """Every active moment at its desk or aisle; each drawn one is marked shown."""
    moments = model.moments
    if model.teacher.bubble and model.teacher.bubble_moment is not None:
        moments.mark_shown(model.teacher.bubble_moment)  # the view drew her bubble this frame
    if not moments.active:
        return
    clip = surface.get_clip()
    surface.set_clip(view.rect)
    size = max(7.0, min(min(view.cell) * 0.11, 15 * scale))
    stacked: dict[str, int] = {}
    now = model.now
    # What a pill must not cover: the desks' names, the teacher and her bubble, the marks.
    taken = view.name_bands + view.teacher_boxes
    pills: list[tuple[float, str, str, theme.Colour, tuple[float, float]]] = []
    for moment in moments.active:  # the marks first, then the pills round them
        if moment.kind in ("bubble_plaintext", "bubble_ciphertext", "bubble_sealed"):
            continue  # her speech bubble, drawn by the view
        where = _place(view, moment, size, stacked)
        if where is None:
            continue
        (x, y), below = where
        colour, shape = MARKS[moment.kind]
        age = (now - moment.t) / max(moments.time_scale, 1e-9)
        # Fresh, the mark pulses: drawn larger, shrinking back in steps (it never grows over a name).
        grow = 1.0 + 0.15 * (3 - min(3, int(3 * age / PULSE))) if 0.0 <= age < PULSE else 1.0
        _mark(surface, shape, (x, y), size * grow, colour)
        taken.append(pygame.Rect(round(x - size * 1.2), round(y - size * 1.2), round(size * 2.4), round(size * 2.4)))
        words = (f"×{moment.occurrences} " if moment.occurrences > 1 else "") + moment.title
        if moment.kind == "ejected" and moment.ends is not None:
            left = max(moment.ends - now, 0.0) / max(moments.time_scale, 1e-9)
            words = f"ejected · back in {left:.1f} s"
            _timer(surface, (x, y), size, left / max((moment.ends - moment.t) / moments.time_scale, 1e-9))
        pills.append((moment.t, words, moment.detail, colour, below))
        moments.mark_shown(moment)
    for name, desk in model.desks.items():  # a desk where notes failed keeps its count, by its foot
        if desk.failed_here:
            r = view.seat_rect(name)
            badge = text(f"✘ {desk.failed_here}", "bold", 11, scale, theme.TEXT)
            box = badge.get_rect(midleft=(r.left + 3 * scale, r.bottom)).inflate(round(8 * scale), 2)
            pygame.draw.rect(surface, theme.BAD, box, border_radius=box.h // 3)
            surface.blit(badge, badge.get_rect(center=box.center))
            taken.append(box)
    pills.sort(key=lambda pill: -pill[0])
    for _, words, detail, colour, below in pills[:MAX_PILLS]:
        _pill(surface, words, detail, colour, below, scale, view.rect, view.cell[0] * 0.96, taken)
    view.redraw_bubble(surface)  # what she says stays readable over the marks round her
    surface.set_clip(clip)


def _place(view: ClassroomView, moment: Moment, size: float, stacked: dict[str, int]
           ) -> tuple[tuple[float, float], tuple[float, float]] | None:
    """Where the mark goes, and the top centre of its pill: never over a desk's name.

    A desk's mark sits on its top edge, its pill under the desk.  An aisle's mark sits beside the
    aisle's middle (below a level aisle, right of an upright one), clear of its padlock, with the
    pill beyond it, in the space between desks.
    """
    if moment.link is not None:
        a, b = moment.link
        if a not in view.desk_names or b not in view.desk_names:
            return None
        (ax, ay), (bx, by) = view.desk_center(a), view.desk_center(b)
        x, y = (ax + bx) / 2, (ay + by) / 2
        key = "|".join(sorted(moment.link))
        i = stacked.get(key, 0)
        stacked[key] = i + 1
        if abs(bx - ax) >= abs(by - ay):  # a level aisle: below it, under the desks' bottom edges
            half = view.seat_rect(a).h / 2
            y += half + size * (1.4 + 2.6 * i)
            return (x, y), (x, y + size * 1.3)
        x += size * 2.2
        y += size * 2.6 * i
        return (x, y), (x + view.cell[0] * 0.5, y - size * 0.9)
    if moment.desk is None or moment.desk not in view.desk_names:
        return None
    r = view.seat_rect(moment.desk)
    i = stacked.get(moment.desk, 0)
    stacked[moment.desk] = i + 1
    x = r.right - size * (1.0 + 2.3 * i)
    y = r.top - size * 0.35  # on the desk's top edge, above its name
    return (x, y), (r.centerx, r.bottom + 2 + size * 0.6 + i * size * 2.6)


_PILLS: OrderedDict[tuple[str, str, theme.Colour, int, float], pygame.Surface] = OrderedDict()
_MARK_SPRITES: dict[tuple[str, theme.Colour, int], pygame.Surface] = {}
MAX_PILLS = 16  # pills drawn in a frame, the newest moments' first; the others show their mark only


def _pill_surface(title: str, detail: str, colour: theme.Colour, width: float, scale: float) -> pygame.Surface:
    key = (title, detail, colour, round(width), scale)
    pill = _PILLS.get(key)
    if pill is not None:
        _PILLS.move_to_end(key)
        return pill
    inner = max(round(width) - round(10 * scale), 20)
    head = text(fit(title, "bold", 11, scale, inner), "bold", 11, scale, colour)
    font = "mono" if _bytes(detail) else "sans"
    body = text(fit(detail, font, 10, scale, inner), font, 10, scale, theme.TEXT) if detail else None
    w = max(head.get_width(), body.get_width() if body else 0) + round(10 * scale)
    h = head.get_height() + (body.get_height() if body else 0) + round(4 * scale)
    pill = pygame.Surface((w, h), pygame.SRCALPHA)
    pill.fill((*theme.PANEL, 230))
    pygame.draw.rect(pill, colour, pill.get_rect(), 1, border_radius=round(3 * scale))
    pill.blit(head, (round(5 * scale), round(2 * scale)))
    if body:
        pill.blit(body, (round(5 * scale), round(2 * scale) + head.get_height()))
    _PILLS[key] = pill
    if len(_PILLS) > 256:
        _PILLS.popitem(last=False)
    return pill


def _pill(surface: pygame.Surface, title: str, detail: str, colour: theme.Colour, top: tuple[float, float],
          scale: float, bounds: pygame.Rect, width: float, taken: list[pygame.Rect]) -> None:
    """A title and a detail under a mark, no wider than ``width`` (a desk's cell), moved down (or
    up) until it covers no desk's name and no other pill; left out when there is no such place."""
    pill = _pill_surface(title, detail, colour, width, scale)
    box = pill.get_rect()
    h = box.h
    for shift in (0, 1, 2, -1, 3, -2):
        box.midtop = (round(top[0]), round(top[1] + shift * (h + 2)))
        box.clamp_ip(bounds)
        if box.collidelist(taken) < 0:
            break
    else:
        return
    taken.append(box)
    surface.blit(pill, box)


def _mark(surface: pygame.Surface, shape: str, centre: tuple[float, float], size: float,
          colour: theme.Colour) -> None:
    """A moment's mark, drawn once per shape, colour and size and blitted after."""
    key = (shape, colour, round(size * 4))
    sprite = _MARK_SPRITES.get(key)
    if sprite is None:
        side = round(size * 2.4) + 4
        sprite = pygame.Surface((side, side), pygame.SRCALPHA)
        draw_mark(sprite, shape, (side / 2, side / 2), size, colour)
        _MARK_SPRITES[key] = sprite
    surface.blit(sprite, sprite.get_rect(center=(round(centre[0]), round(centre[1]))))


def _bytes(detail: str) -> bool:
    return "sealed:" in detail or (len(detail) > 8 and all(c in "0123456789abcdef …" for c in detail))


def _timer(surface: pygame.Surface, centre: tuple[float, float], size: float, left: float) -> None:
    """The share of the ejection still to run, as an arc round the clock mark that shrinks."""
    if left <= 0:
        return
    x, y = centre
    r = size * 1.6
    ring = pygame.Rect(round(x - r), round(y - r), round(2 * r), round(2 * r))
    pygame.draw.arc(surface, theme.ORANGE, ring, math.pi / 2, math.pi / 2 + 2 * math.pi * min(left, 1.0),
                    max(2, round(size / 3)))


def draw_mark(surface: pygame.Surface, shape: str, centre: tuple[float, float], size: float,
              colour: theme.Colour) -> None:
    """One moment's mark, ``size`` its radius: a dark disc, then the shape in its colour."""
    x, y = centre
    c = (round(x), round(y))
    line = max(2, round(size / 4))
    pygame.draw.circle(surface, theme.PANEL, c, round(size * 1.15))
    pygame.draw.circle(surface, colour, c, round(size * 1.15), max(1, line // 2))
    s = size * 0.7
    if shape == "eye":
        eye = pygame.Rect(0, 0, round(s * 2.2), round(s * 1.2))
        eye.center = c
        pygame.draw.ellipse(surface, colour, eye, line)
        pygame.draw.circle(surface, colour, c, round(s * 0.35))
    elif shape == "shield":
        pts = [(x - s, y - s * 0.9), (x + s, y - s * 0.9), (x + s * 0.8, y + s * 0.2), (x, y + s * 1.1),
               (x - s * 0.8, y + s * 0.2)]
        pygame.draw.polygon(surface, colour, pts)
        pygame.draw.line(surface, theme.PANEL, (x - s * 0.4, y - s * 0.4), (x + s * 0.4, y + s * 0.4), line)
        pygame.draw.line(surface, theme.PANEL, (x + s * 0.4, y - s * 0.4), (x - s * 0.4, y + s * 0.4), line)
    elif shape == "mask":
        face = pygame.Rect(round(x - s), round(y - s * 0.6), round(2 * s), round(s * 1.2))
        pygame.draw.ellipse(surface, colour, face)
        for dx in (-0.45, 0.45):
            pygame.draw.circle(surface, theme.PANEL, (round(x + s * dx), round(y - s * 0.05)), round(s * 0.25))
    elif shape == "hand":
        palm = pygame.Rect(round(x - s * 0.6), round(y - s * 0.1), round(s * 1.2), round(s * 0.9))
        pygame.draw.rect(surface, colour, palm, border_radius=max(1, palm.h // 3))
        for i in range(4):
            fx = x - s * 0.5 + s * 0.33 * i
            pygame.draw.line(surface, colour, (fx, y - s * 0.9), (fx, y), line)
    elif shape == "no_entry":
        pygame.draw.circle(surface, colour, c, round(s))
        pygame.draw.line(surface, theme.TEXT, (x - s * 0.6, y), (x + s * 0.6, y), line + 1)
    elif shape == "arrow":
        arc = pygame.Rect(0, 0, round(s * 1.8), round(s * 1.8))
        arc.center = c
        pygame.draw.arc(surface, colour, arc, 0.5, 5.6, line)
        tx, ty = x + s * 0.9 * math.cos(0.5), y - s * 0.9 * math.sin(0.5)
        pygame.draw.polygon(surface, colour, [(tx - s * 0.5, ty - s * 0.1), (tx + s * 0.5, ty - s * 0.1),
                                              (tx, ty + s * 0.55)])
    elif shape == "clock":
        pygame.draw.circle(surface, colour, c, round(s), line)
        pygame.draw.line(surface, colour, c, (x, y - s * 0.7), line)
        pygame.draw.line(surface, colour, c, (x + s * 0.5, y), line)
    elif shape == "warning":
        pts = [(x, y - s * 1.05), (x + s * 1.05, y + s * 0.8), (x - s * 1.05, y + s * 0.8)]
        pygame.draw.polygon(surface, colour, pts)
        pygame.draw.line(surface, theme.PANEL, (x, y - s * 0.45), (x, y + s * 0.2), line)
        pygame.draw.circle(surface, theme.PANEL, (round(x), round(y + s * 0.5)), max(1, line // 2 + 1))
    elif shape == "torn":
        pts = [(x - s, y - s * 0.6), (x + s * 0.4, y - s * 0.6), (x + s, y - s * 0.2), (x + s * 0.5, y + s * 0.1),
               (x + s, y + s * 0.6), (x - s, y + s * 0.6)]
        pygame.draw.polygon(surface, colour, pts, line)
    elif shape == "speech":
        oval = pygame.Rect(round(x - s), round(y - s * 0.7), round(2 * s), round(s * 1.3))
        pygame.draw.ellipse(surface, colour, oval)
        tail = [(x - s * 0.3, y + s * 0.4), (x - s * 0.7, y + s), (x + s * 0.1, y + s * 0.5)]
        pygame.draw.polygon(surface, colour, tail)
    else:  # cross
        pygame.draw.line(surface, colour, (x - s * 0.7, y - s * 0.7), (x + s * 0.7, y + s * 0.7), line + 1)
        pygame.draw.line(surface, colour, (x + s * 0.7, y - s * 0.7), (x - s * 0.7, y + s * 0.7), line + 1)


def draw_ticker(surface: pygame.Surface, rect: pygame.Rect, moments: Moments, scale: float,
                lines: int = 4) -> None:
    """The last ``lines`` moments in words, newest at the bottom, over the bottom of ``rect``."""
    shown = list(moments.ticker)[-lines:]
    row = round(17 * scale)
    pad = round(6 * scale)
    box = pygame.Rect(rect.left, rect.top + pad, rect.width, rect.height - pad)
    pygame.draw.rect(surface, theme.PANEL, box, border_radius=round(4 * scale))
    if not shown:
        surface.blit(text("What happens in the room is told here.", "sans", 12, scale, theme.TEXT_DIM),
                     (box.left + round(26 * scale), box.top + pad // 2))
        return
    y = box.top + pad // 2
    width = box.width - round(40 * scale)
    for line in shown:
        colour, shape = MARKS.get(line.kind, (theme.TEXT_DIM, "cross"))
        _mark(surface, shape, (box.left + round(12 * scale), y + row / 2), 5.5 * scale, colour)
        words = f"{line.t:5.1f}s  {line.text}" + (f"  ×{line.count}" if line.count > 1 else "")
        surface.blit(text(fit(words, "sans", 12, scale, width), "sans", 12, scale, theme.TEXT),
                     (box.left + round(26 * scale), y))
        y += row


LEGEND_WIDTH = 140  # px at 720: the column the legend takes beside the room
LEGEND_LOCKS = {"mtls": "mTLS only", "permissive": "mTLS or plain", "plain": "plaintext"}


_LEGENDS: dict[tuple[int, int, float], tuple[pygame.Surface, set[str]]] = {}


def draw_legend(surface: pygame.Surface, box: pygame.Rect, moments: Moments, scale: float) -> None:
    """What every shape means, in a column of its own (``box``): the envelopes, the padlocks and the
    marks of the moments, under a heading each; each entry drawn is recorded in ``moments.legend``.
    It is drawn once per size and blitted after."""
    key = (box.w, box.h, scale)
    if key not in _LEGENDS:
        legend = pygame.Surface(box.size)
        legend.fill(theme.BACKGROUND)
        keys: set[str] = set()
        _render_legend(legend, legend.get_rect(), keys, scale)
        _LEGENDS[key] = (legend.convert() if pygame.display.get_surface() is not None else legend, keys)
    legend, keys = _LEGENDS[key]
    surface.blit(legend, box)
    moments.legend |= keys


def _render_legend(surface: pygame.Surface, box: pygame.Rect, drawn: set[str], scale: float) -> None:
    pad = round(7 * scale)
    sprites = legend_sprites(scale)
    entries = len(sprites) + len(LEGEND_LOCKS) + len(LEGEND_MARKS) + 4
    row = min(round(18 * scale), (box.h - 2 * pad) // entries)
    pygame.draw.rect(surface, theme.PANEL, box, border_radius=round(4 * scale))
    x, y = box.left + pad, box.top + pad
    icon_w = round(24 * scale)
    width = box.w - 2 * pad - icon_w
    surface.blit(text("Legend (L)", "bold", 12, scale, theme.TEXT), (x, y))
    y += row

    def heading(words: str) -> None:
        nonlocal y
        surface.blit(text(words, "bold", 11, scale, theme.TEXT_DIM), (x, y + row // 4))
        y += row

    def entry(name: str, key: str) -> None:
        nonlocal y
        surface.blit(text(fit(name, "sans", 12, scale, width), "sans", 12, scale, theme.TEXT),
                     (x + icon_w, y + (row - round(15 * scale)) // 2))
        drawn.add(key)
        y += row

    heading("Notes")
    for name, sprite in sprites:
        surface.blit(sprite, (x, y + (row - sprite.get_height()) // 2))
        entry(name, f"note {name}")
    heading("Aisles")
    for mode, name in LEGEND_LOCKS.items():
        lock(surface, (x + 9 * scale, y + row * 0.55), 6 * scale, mode, AISLE_UP[mode])
        entry(name, f"aisle {mode}")
    heading("What happens")
    for kind, name in LEGEND_MARKS:
        if y + row > box.bottom:
            return
        colour, shape = MARKS[kind]
        draw_mark(surface, shape, (x + 9 * scale, y + row / 2), 6 * scale, colour)
        entry(name, kind)


__all__ = ["LEGEND_NAMES", "MARKS", "draw_legend", "draw_mark", "draw_moments", "draw_ticker"]
