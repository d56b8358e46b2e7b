"""The results' latency histogram: bars, two axes with ticks, p50 / p99 markers, no label on a bar.

Theory of operation
-------------------
:func:`histogram_layout` works out, without drawing, where every part goes in
the chart's rectangle: the title and the key line (``p50 1222 ms · p99 1246
ms``) over the plot, the y axis (notes per bar) with its ticks left of it, the
x axis (delivery time) with its ticks and its title under it, and the short
``p50`` / ``p99`` tags in a band of their own between the key and the plot.
So no label is ever drawn over a bar, and no two labels meet: tick labels are
spaced by their own width (:func:`nice_ticks` picks fewer, rounder ticks
until they fit), and the two tags, when their markers are close, are pushed
apart within their band.

The x range is never narrower than :data:`MIN_SPAN_MS` nor than a tenth of the
slowest time, so twenty notes between 1212 and 1248 ms are drawn as the close
bunch they are, not spread as if they differed a lot.  With no note delivered
the chart says "no note arrived" instead of drawing a range of zero.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pygame

from classroom.game.ui import theme
from classroom.game.ui.fonts import scaled
from classroom.report import percentile

MIN_SPAN_MS = 10.0  # the narrowest x range drawn, in ms
MAX_BINS = 30
P50_COLOUR, P99_COLOUR = theme.BLUISH_GREEN, theme.ORANGE


def nice_ticks(low: float, high: float, most: int) -> list[float]:
    """At most ``most`` (at least 2) round tick values (1, 2 or 5 times a power of ten) within [low, high]."""
    most = max(2, most)
    span = max(high - low, 1e-9)
    raw = span / (most - 1)
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        step = factor * power
        first = math.ceil(low / step - 1e-9) * step
        ticks = []
        value = first
        while value <= high + 1e-9 * step:
            ticks.append(round(value, 9))
            value += step
        if len(ticks) <= most:
            return ticks
    return [low, high]


def x_range(latencies: list[float]) -> tuple[float, float]:
    """The x axis's range: the times with a margin, never narrower than a tenth of the slowest or 10 ms."""
    low, high = min(latencies), max(latencies)
    span = max(high - low, MIN_SPAN_MS, high * 0.1)
    middle = (low + high) / 2
    start = max(0.0, middle - span * 0.55)
    return start, start + span * 1.1


@dataclass
class Layout:
    title: pygame.Rect
    key: pygame.Rect
    tags: pygame.Rect  # the band of the p50 / p99 tags, over the plot
    plot: pygame.Rect
    y_labels: pygame.Rect
    x_labels: pygame.Rect
    x_title: pygame.Rect
    labels: list[pygame.Rect] = field(default_factory=list)  # every text drawn, for tests


def histogram_layout(rect: pygame.Rect, scale: float) -> Layout:
    pad = round(12 * scale)
    title_h = scaled("bold", 14, scale).get_linesize()
    small_h = scaled("sans", 12, scale).get_linesize()
    tick_w = scaled("sans", 12, scale).size("0000")[0]
    title = pygame.Rect(rect.x + pad, rect.y + pad, rect.w - 2 * pad, title_h)
    key = pygame.Rect(title.x, title.bottom + round(2 * scale), title.w, small_h)
    tags = pygame.Rect(title.x + small_h + tick_w + pad, key.bottom + round(4 * scale), 0, small_h)
    tags.w = rect.right - pad - tags.x
    x_title = pygame.Rect(tags.x, rect.bottom - pad - small_h, tags.w, small_h)
    x_labels = pygame.Rect(tags.x, x_title.y - small_h - round(2 * scale), tags.w, small_h)
    plot = pygame.Rect(tags.x, tags.bottom + round(2 * scale), tags.w,
                       x_labels.y - round(4 * scale) - tags.bottom - round(2 * scale))
    y_labels = pygame.Rect(title.x + small_h, plot.y, tick_w, plot.h)
    return Layout(title, key, tags, plot, y_labels, x_labels, x_title)


def draw_histogram(surface: pygame.Surface, rect: pygame.Rect, latencies: list[float], scale: float) -> Layout:
    """Latencies (ms) as a bar histogram with axes, ticks and p50 / p99 markers; the layout drawn."""
    rect = pygame.Rect(rect)
    pygame.draw.rect(surface, theme.PANEL, rect)
    at = histogram_layout(rect, scale)
    small, bold = scaled("sans", 12, scale), scaled("bold", 12, scale)

    def put(words: str, font: pygame.font.Font, colour: theme.Colour, **where: tuple[float, float]) -> pygame.Rect:
        image = font.render(words, True, colour)
        box = image.get_rect(**{k: (round(v[0]), round(v[1])) for k, v in where.items()})
        surface.blit(image, box)
        at.labels.append(box)
        return box

    put("Delivery time", scaled("bold", 14, scale), theme.TEXT, topleft=at.title.topleft)
    if at.plot.w <= 8 or at.plot.h <= 8:
        return at
    line = max(1, round(scale))
    if not latencies:
        put("no note arrived", scaled("sans", 14, scale), theme.TEXT_DIM, center=at.plot.center)
        return at
    p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
    key = put(f"p50 {p50:.0f} ms", bold, P50_COLOUR, topleft=at.key.topleft)
    key = put(f"p99 {p99:.0f} ms", bold, P99_COLOUR, topleft=(key.right + 18 * scale, at.key.y))
    put(f"{len(latencies)} notes", small, theme.TEXT_DIM, topleft=(key.right + 18 * scale, at.key.y))

    low, high = x_range(latencies)
    plot = at.plot
    bins = max(1, min(MAX_BINS, plot.w // max(4, round(8 * scale))))
    counts = [0] * bins
    for value in latencies:
        counts[min(max(int((value - low) / (high - low) * bins), 0), bins - 1)] += 1
    y_ticks = [int(t) for t in nice_ticks(0, max(counts), max(2, plot.h // (small.get_linesize() * 2)))
               if float(t).is_integer()]
    top = max(max(counts), y_ticks[-1] if y_ticks else 1)
    for tick in y_ticks:  # the y axis: notes per bar
        y = plot.bottom - plot.h * tick / top
        pygame.draw.line(surface, theme.PANEL_EDGE, (plot.x - round(4 * scale), y), (plot.right, y), line)
        put(str(tick), small, theme.TEXT_DIM, midright=(plot.x - round(6 * scale), y))
    bar_w = plot.w / bins
    for i, count in enumerate(counts):
        h = round(plot.h * count / top)
        if h:
            bar = pygame.Rect(round(plot.x + i * bar_w + 1), plot.bottom - h, max(1, round(bar_w) - 2), h)
            pygame.draw.rect(surface, theme.SKY_BLUE, bar)
    pygame.draw.line(surface, theme.TEXT_DIM, plot.bottomleft, plot.bottomright, line)
    pygame.draw.line(surface, theme.TEXT_DIM, plot.topleft, plot.bottomleft, line)

    def x_of(value: float) -> float:
        return plot.x + (value - low) / (high - low) * plot.w

    widest = small.size(f"{high:.0f} ms")[0] + round(14 * scale)
    for ms in nice_ticks(low, high, max(2, plot.w // widest)):  # the x axis: delivery time
        x = x_of(ms)
        pygame.draw.line(surface, theme.TEXT_DIM, (x, plot.bottom), (x, plot.bottom + round(4 * scale)), line)
        words = f"{ms:.0f}" if ms >= 10 or float(ms).is_integer() else f"{ms:g}"
        label = small.render(words, True, theme.TEXT_DIM)
        box = label.get_rect(midtop=(round(x), at.x_labels.y))
        box.clamp_ip(at.x_labels)
        surface.blit(label, box)
        at.labels.append(box)
    put("delivery time (ms)", small, theme.TEXT_DIM, midtop=(plot.centerx, at.x_title.y))
    y_title = pygame.transform.rotate(small.render("notes", True, theme.TEXT_DIM), 90)
    box = y_title.get_rect(midright=(at.y_labels.x, plot.centery))
    surface.blit(y_title, box)
    at.labels.append(box)

    # The markers: a line through the plot each, and its tag in the band above, never on a bar.
    tags = []
    for name, value, colour, dash in (("p50", p50, P50_COLOUR, False), ("p99", p99, P99_COLOUR, True)):
        x = min(max(x_of(value), plot.x + 1), plot.right - 2)
        width = max(1, round(2 * scale))
        if dash:
            step = max(3, round(6 * scale))
            for yy in range(plot.top, plot.bottom, step * 2):
                pygame.draw.line(surface, colour, (x, yy), (x, min(yy + step, plot.bottom)), width)
        else:
            pygame.draw.line(surface, colour, (x, plot.top), (x, plot.bottom), width)
        image = bold.render(name, True, colour)
        tags.append((image, image.get_rect(midbottom=(round(x), at.tags.bottom))))
    (_, a), (_, b) = tags
    gap = round(6 * scale)
    if a.colliderect(b.inflate(2 * gap, 0)):  # close markers: p50's tag to the left, p99's to the right
        middle = (a.centerx + b.centerx) // 2
        a.right, b.left = middle - gap // 2, middle + gap // 2
    b.clamp_ip(at.tags)
    a.clamp_ip(at.tags)
    if a.right + gap > b.left:  # pushed against an end of the band: side by side from that end
        if a.left == at.tags.left:
            b.left = a.right + gap
        else:
            a.right = b.left - gap
    for image, box in tags:
        surface.blit(image, box)
        at.labels.append(box)
    return at
