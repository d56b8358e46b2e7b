"""The heads-up display beside the classroom, and its legend.

Theory of operation
-------------------
:func:`draw_hud` draws, top to bottom in its rectangle: the level's
objectives with a met / unmet / not-yet mark (a shape and a word, not colour
alone) and their live value against the target; the notes delivered and
failed; the success rate as a bar; p50 and p99 delivery time; retries; and a
legend of the envelope states.  Everything comes from the model
(:meth:`~classroom.game.model.classmodel.ClassModel.objectives` and ``stats``).

Rendering text is the dear part of a HUD, and most of it does not change
from one frame to the next, so rendered lines are kept in a small cache keyed
by (text, font, size, colour).  The results' latency histogram is
:mod:`classroom.game.ui.chart`.
"""

from __future__ import annotations

from collections import OrderedDict

import pygame

from classroom.game.model.classmodel import ClassModel
from classroom.game.ui import fonts, theme
from classroom.game.ui.fonts import scaled
from classroom.game.ui.view import AISLE_UP, envelope, lock

_TEXT_CACHE: OrderedDict[tuple[str, str, int, theme.Colour], pygame.Surface] = OrderedDict()
_TEXT_CACHE_SIZE = 512
_LEGEND: dict[int, list[tuple[str, pygame.Surface]]] = {}
LEGEND_NAMES = {"in_flight": "in flight", "delivered": "delivered", "dropped": "dropped",
                "refused": "refused", "confiscated": "confiscated", "retrying": "retrying",
                "failed": "failed"}
LOCK_NAMES = {"mtls": "mTLS only (STRICT)", "permissive": "mTLS, plaintext allowed (PERMISSIVE)",
              "plain": "plaintext: anyone can read"}
# What an objective's mark says: a shape and a word for each verdict, not colour alone.
VERDICTS = {
    "waiting": ("…", "waiting for a note", theme.TEXT_DIM),
    "on_track": ("✔", "on track", theme.GOOD),
    "not_yet": ("…", "not yet", theme.TEXT),
    "off_track": ("!", "off track", theme.ORANGE),
    "met": ("✔", "met", theme.GOOD),
    "missed": ("✘", "missed", theme.BAD),
}


def verdict(met: bool | None, over: bool, short: bool = False) -> str:
    """The word for an objective judged ``met`` (None: no note settled yet) in a round that is
    ``over`` or still running: notes still in flight are not failures, and a goal still within reach
    (``short``: a count below the number it must reach) is not yet met rather than off track."""
    if met is None:
        return "waiting"
    if over:
        return "met" if met else "missed"
    if met:
        return "on_track"
    return "not_yet" if short else "off_track"


def text(s: str, kind: str, px_at_720: float, scale: float, colour: theme.Colour) -> pygame.Surface:
    """A rendered line of text, from the cache when it was rendered before."""
    size = round(max(px_at_720, fonts.FLOOR_PX) * scale)
    key = (s, kind, size, colour)
    surface = _TEXT_CACHE.get(key)
    if surface is None:
        surface = scaled(kind, px_at_720, scale).render(s, True, colour)
        _TEXT_CACHE[key] = surface
        if len(_TEXT_CACHE) > _TEXT_CACHE_SIZE:
            _TEXT_CACHE.popitem(last=False)
    return surface


_FIT_CACHE: dict[tuple[str, str, int, int], str] = {}


def fit(s: str, kind: str, px: float, scale: float, width: int) -> str:
    """``s``, shortened with an ellipsis until it fits ``width`` pixels (remembered: a HUD asks the
    same every frame)."""
    key = (s, kind, round(px * scale), round(width))
    shown = _FIT_CACHE.get(key)
    if shown is None:
        font = scaled(kind, px, scale)
        shown = s
        if font.size(s)[0] > width:
            while len(shown) > 1 and font.size(shown + "…")[0] > width:
                shown = shown[:-1]
            shown += "…"
        if len(_FIT_CACHE) > 4096:
            _FIT_CACHE.clear()
        _FIT_CACHE[key] = shown
    return shown


def draw_hud(surface: pygame.Surface, rect: pygame.Rect, model: ClassModel, scale: float,
             show_legend: bool = True) -> None:
    """Objectives judged on the notes settled so far (on track / off track, then met / missed),
    delivered / failed, success rate, p50 / p99, retries, and the envelopes' legend when there is
    room and ``show_legend`` (the play scene has a legend of its own)."""
    rect = pygame.Rect(rect)
    pygame.draw.rect(surface, theme.PANEL, rect)
    pygame.draw.line(surface, theme.PANEL_EDGE, rect.topleft, rect.bottomleft, max(1, round(2 * scale)))
    pad = round(14 * scale)
    x, y = rect.x + pad, rect.y + pad
    inner = rect.w - 2 * pad
    gap = round(6 * scale)

    surface.blit(text("Objectives", "bold", 17, scale, theme.TEXT), (x, y))
    y += round(28 * scale)
    rows = model.objectives()
    line = round(22 * scale)
    rest = line * 3 + gap * 4 + line + max(4, round(10 * scale)) + gap * 3  # stats and the success bar
    two_lines = y + len(rows) * (round(38 * scale) + gap) + rest <= rect.bottom - pad
    short = model.judge.short
    for i, (label, value, target, met) in enumerate(rows):
        mark, word, colour = VERDICTS[verdict(met, model.over, i < len(short) and short[i])]
        surface.blit(text(mark, "bold", 16, scale, colour), (x, y))
        lx = x + round(24 * scale)
        if two_lines:
            surface.blit(text(fit(label, "sans", 14, scale, rect.right - pad - lx), "sans", 14, scale, theme.TEXT),
                         (lx, y))
            y += round(19 * scale)
            surface.blit(text(f"{value}  (goal {target}) · {word}", "sans", 12, scale,
                              colour if met is not None else theme.TEXT_DIM), (lx, y))
            y += round(19 * scale) + gap
        else:  # many objectives: one line each, the value and the verdict's word at the right
            right = text(f"{value} · {word}", "bold", 12, scale, colour)
            surface.blit(right, (rect.right - pad - right.get_width(), y + round(2 * scale)))
            room = rect.right - pad - right.get_width() - lx - gap
            surface.blit(text(fit(label, "sans", 13, scale, room), "sans", 13, scale, theme.TEXT), (lx, y))
            y += round(22 * scale)

    y += gap
    pygame.draw.line(surface, theme.PANEL_EDGE, (x, y), (rect.right - pad, y))
    y += gap * 2
    stats = model.stats
    # Two to a row, so that four objectives and the numbers fit at 1280x720.
    cells = [
        ("Delivered", f"{stats.delivered}", theme.GOOD),
        ("Failed", f"{stats.failed}", theme.BAD if stats.failed else theme.TEXT),
        ("In flight", f"{max(stats.sent - stats.delivered - stats.failed, 0)}", theme.TEXT),
        ("Retries", f"{stats.retries}", theme.YELLOW if stats.retries else theme.TEXT),
        ("p50", f"{stats.p50_ms:.0f} ms" if stats.latencies_ms else "no note yet", theme.TEXT),
        ("p99", f"{stats.p99_ms:.0f} ms" if stats.latencies_ms else "no note yet", theme.TEXT),
    ]
    half = inner // 2
    for i, (name, value, colour) in enumerate(cells):
        cx = x + (i % 2) * (half + gap)
        surface.blit(text(name, "sans", 14, scale, theme.TEXT_DIM), (cx, y))
        shown = text(value, "bold", 14, scale, colour)
        surface.blit(shown, (cx + half - gap - shown.get_width(), y))
        if i % 2:
            y += line

    y += gap
    rate = stats.success_rate
    surface.blit(text("Success rate", "sans", 14, scale, theme.TEXT_DIM), (x, y))
    settled = stats.delivered + stats.failed
    shown = text(f"{rate * 100:.0f}%" if settled else "–", "bold", 14, scale, theme.TEXT)
    surface.blit(shown, (rect.right - pad - shown.get_width(), y))
    y += line
    bar = pygame.Rect(x, y, inner, max(4, round(10 * scale)))
    pygame.draw.rect(surface, theme.BAD if stats.failed else theme.PANEL_EDGE, bar, border_radius=bar.h // 2)
    if stats.delivered or not stats.failed:
        done = bar.copy()
        done.w = round(bar.w * rate) if settled else 0
        if done.w:
            pygame.draw.rect(surface, theme.GOOD, done, border_radius=bar.h // 2)
    y = bar.bottom + gap * 3

    legend = legend_sprites(scale)
    row_h = round(20 * scale)
    if show_legend and y + row_h * ((len(legend) + 1) // 2) <= rect.bottom - pad:
        pygame.draw.line(surface, theme.PANEL_EDGE, (x, y - gap), (rect.right - pad, y - gap))
        half = inner // 2
        for i, (name, sprite) in enumerate(legend):
            lx, ly = x + (i % 2) * half, y + (i // 2) * row_h
            surface.blit(sprite, (lx, ly + (row_h - sprite.get_height()) // 2 - gap // 2))
            surface.blit(text(name, "sans", 12, scale, theme.TEXT_DIM), (lx + sprite.get_width() + gap, ly))
        y += row_h * ((len(legend) + 1) // 2) + gap
        if y + row_h * 3 <= rect.bottom - pad:  # and what the padlocks on the aisles say
            for mode, name in LOCK_NAMES.items():
                lock(surface, (x + 9 * scale, y + row_h * 0.55), 7 * scale, mode, AISLE_UP[mode])
                surface.blit(text(name, "sans", 12, scale, theme.TEXT_DIM), (x + 24 * scale, y))
                y += row_h


def legend_sprites(scale: float) -> list[tuple[str, pygame.Surface]]:
    size = round(18 * scale)
    legend = _LEGEND.get(size)
    if legend is None:
        legend = [(LEGEND_NAMES[state], envelope(theme.NOTE_SHAPES[state], theme.NOTE_COLOURS[state], size,
                                                  round(size * 0.68)))
                  for state in theme.NOTE_COLOURS]
        _LEGEND[size] = legend
    return legend
