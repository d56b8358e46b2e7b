"""Small keyboard-first widgets: Toggle, Choice, Slider, TextField, Button and a multi-line TextEditor.

Theory of operation
-------------------
A widget holds a value and two verbs: ``handle(event) -> bool`` (True when the
event was the widget's) and ``draw(surface, rect, scale)``.  Whoever owns the
widgets (the config panel) decides which one has the focus, sets
``focused``, and passes that one the keyboard; a focused widget draws an
accent frame.  Values change only through keys, and each change is reported
through the widget's ``on_change`` callback (a TextField reports when Enter
commits its text), so the owner can check it and keep or refuse it.

Keys: Left/Right change a Toggle, Choice or Slider (Shift: ten steps;
Home/End: the ends); Enter flips a Toggle, presses a Button, and starts and
commits a TextField's edit (Esc cancels it).  Space is left to the game
(run/pause).  While a TextField or the TextEditor is *editing*, it takes
every key and the typed text (``TEXTINPUT`` events).

Sizes are given at 720 px of window height and multiplied by ``scale``;
fonts come from :mod:`classroom.game.ui.fonts`, colours from
:mod:`classroom.game.ui.theme`.  Rendered text is cached, since the same
labels are drawn every frame.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import pygame

from classroom.game.ui import theme
from classroom.game.ui.fonts import font

FONT_PX = 15  # body text at 720 px
MONO_PX = 14
ROW_PX = 26  # a one-line widget's height at 720 px
FIELD_BACK: theme.Colour = (34, 38, 47)
ERROR_BACK: theme.Colour = (72, 38, 24)
NOT_SET = "(not set)"


@functools.lru_cache(maxsize=1024)
def render_text(kind: str, px: int, text: str, colour: theme.Colour) -> pygame.Surface:
    """``text`` drawn once in font ``kind`` at ``px`` pixels; cached (the same labels come every frame)."""
    return font(kind, px).render(text, True, colour)


def px(size: float, scale: float) -> int:
    """A size given at 720 px, for this window."""
    return max(1, round(size * scale))


def fit(kind: str, size: int, text: str, width: int) -> str:
    """``text``, cut with an ellipsis to fit ``width`` pixels."""
    face = font(kind, size)
    if face.size(text)[0] <= width:
        return text
    while text and face.size(text + "…")[0] > width:
        text = text[:-1]
    return text + "…"


def wrap(kind: str, size: int, text: str, width: int) -> list[str]:
    """``text`` broken into lines of at most ``width`` pixels, at spaces where possible."""
    face = font(kind, size)
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        line = ""
        for word in paragraph.split(" "):
            trial = f"{line} {word}" if line else word
            if face.size(trial)[0] <= width or not line:
                line = trial
            else:
                lines.append(line)
                line = word
            while face.size(line)[0] > width and len(line) > 1:  # one word wider than the line
                cut = len(line) - 1
                while cut > 1 and face.size(line[:cut])[0] > width:
                    cut -= 1
                lines.append(line[:cut])
                line = line[cut:]
        lines.append(line)
    return lines


def blit_text(
    surface: pygame.Surface, text: str, pos: tuple[int, int], size: int, colour: theme.Colour,
    kind: str = "sans", anchor: str = "topleft",
) -> pygame.Rect:
    """Draw ``text`` with its ``anchor`` point (a pygame.Rect attribute name) at ``pos``."""
    image = render_text(kind, size, text, colour)
    rect = image.get_rect(**{anchor: pos})
    surface.blit(image, rect)
    return rect


def _box(surface: pygame.Surface, rect: pygame.Rect, focused: bool, scale: float,
         back: theme.Colour = FIELD_BACK) -> None:
    radius = px(4, scale)
    pygame.draw.rect(surface, back, rect, border_radius=radius)
    edge = theme.ACCENT if focused else theme.PANEL_EDGE
    pygame.draw.rect(surface, edge, rect, width=px(2 if focused else 1, scale), border_radius=radius)


def want_text() -> None:
    """Ask SDL for TEXTINPUT events (on by default on desktops; an on-screen keyboard may need it)."""
    if pygame.display.get_init():
        pygame.key.start_text_input()


def _key(event: pygame.event.Event) -> int | None:
    return event.key if event.type == pygame.KEYDOWN else None


def _shift(event: pygame.event.Event) -> bool:
    return bool(getattr(event, "mod", 0) & pygame.KMOD_SHIFT)


class Widget:
    """What every widget has: a focus flag, ``handle``, ``draw``, and its height for a layout."""

    focused: bool = False

    @property
    def editing(self) -> bool:
        """True while the widget takes every key (typing into a text)."""
        return False

    def height(self, scale: float) -> int:
        return px(ROW_PX, scale)

    def handle(self, event: pygame.event.Event) -> bool:
        raise NotImplementedError

    def draw(self, surface: pygame.Surface, rect: pygame.Rect, scale: float) -> None:
        raise NotImplementedError


class Toggle(Widget):
    """On or off: Enter, Left or Right flips it.  Drawn as a switch *and* the word on/off."""

    def __init__(self, value: bool, on_change: Callable[[bool], None] | None = None) -> None:
        self.value = value
        self.on_change = on_change

    def handle(self, event: pygame.event.Event) -> bool:
        key = _key(event)
        if key in (pygame.K_RETURN, pygame.K_KP_ENTER) or (key == pygame.K_LEFT and self.value) or (
            key == pygame.K_RIGHT and not self.value
        ):
            self.value = not self.value
            if self.on_change:
                self.on_change(self.value)
            return True
        return key in (pygame.K_LEFT, pygame.K_RIGHT)

    def draw(self, surface: pygame.Surface, rect: pygame.Rect, scale: float) -> None:
        height = rect.height - px(6, scale)
        track = pygame.Rect(rect.x, rect.centery - height // 2, height * 2, height)
        pygame.draw.rect(surface, theme.GOOD if self.value else theme.DESK_ABSENT, track,
                         border_radius=height // 2)
        knob_x = track.right - height // 2 if self.value else track.x + height // 2
        pygame.draw.circle(surface, theme.TEXT, (knob_x, track.centery), max(2, height // 2 - px(3, scale)))
        if self.focused:
            pygame.draw.rect(surface, theme.ACCENT, track.inflate(px(6, scale), px(6, scale)),
                             width=px(2, scale), border_radius=height)
        blit_text(surface, "on" if self.value else "off", (track.right + px(8, scale), rect.centery),
                  px(FONT_PX, scale), theme.TEXT, anchor="midleft")


class Choice(Widget):
    """One of ``options``; Left/Right cycle through them.  ``None`` is an option shown as "(not set)"."""

    def __init__(self, options: Sequence[str | None], value: str | None,
                 on_change: Callable[[str | None], None] | None = None, not_set: str = NOT_SET) -> None:
        self.not_set = not_set  # what "not set" shows: the value then in force, where it is known
        self.options = list(options)
        if value not in self.options:
            self.options.insert(0, value)
        self.value = value
        self.on_change = on_change

    def handle(self, event: pygame.event.Event) -> bool:
        key = _key(event)
        if key not in (pygame.K_LEFT, pygame.K_RIGHT):
            return False
        index = self.options.index(self.value) + (1 if key == pygame.K_RIGHT else -1)
        self.value = self.options[index % len(self.options)]
        if self.on_change:
            self.on_change(self.value)
        return True

    def draw(self, surface: pygame.Surface, rect: pygame.Rect, scale: float) -> None:
        _box(surface, rect, self.focused, scale)
        size = px(FONT_PX, scale)
        colour = theme.TEXT if self.focused else theme.TEXT_DIM
        pad = px(8, scale)
        left = blit_text(surface, "◀", (rect.x + pad, rect.centery), size, colour, anchor="midleft")
        right = blit_text(surface, "▶", (rect.right - pad, rect.centery), size, colour, anchor="midright")
        text = self.not_set if self.value is None else self.value
        room = right.left - left.right - 2 * pad
        blit_text(surface, fit("sans", size, text, room), rect.center, size,
                  theme.TEXT if self.value is not None else theme.TEXT_DIM, anchor="center")


class Slider(Widget):
    """A number from ``minimum`` to ``maximum`` in ``step``s; Left/Right move it (Shift: ten steps).

    With ``optional``, one step below the minimum is ``None`` ("not set").
    """

    def __init__(self, value: float | None, minimum: float, maximum: float, step: float = 1.0, *,
                 optional: bool = False, on_change: Callable[[float | None], None] | None = None,
                 not_set: str = NOT_SET) -> None:
        self.not_set = not_set
        self.value = value
        self.minimum = minimum
        self.maximum = maximum
        self.step = step
        self.optional = optional
        self.on_change = on_change

    def _set(self, value: float | None) -> None:
        if value is not None:
            steps = round((value - self.minimum) / self.step)
            value = min(self.maximum, max(self.minimum, self.minimum + steps * self.step))
            value = round(value, 6)
            if float(value).is_integer() and float(self.step).is_integer():
                value = int(value)
        if value != self.value:
            self.value = value
            if self.on_change:
                self.on_change(value)

    def handle(self, event: pygame.event.Event) -> bool:
        key = _key(event)
        if key in (pygame.K_LEFT, pygame.K_RIGHT):
            sign = 1 if key == pygame.K_RIGHT else -1
            steps = 10 if _shift(event) else 1
            if self.value is None:
                self._set(self.minimum if sign > 0 else None)
            elif sign < 0 and self.optional and self.value <= self.minimum:
                self._set(None)
            else:
                self._set(self.value + sign * steps * self.step)
            return True
        if key == pygame.K_HOME:
            self._set(self.minimum)
            return True
        if key == pygame.K_END:
            self._set(self.maximum)
            return True
        return False

    def draw(self, surface: pygame.Surface, rect: pygame.Rect, scale: float) -> None:
        size = px(FONT_PX, scale)
        label_w = px(64, scale)
        text = self.not_set if self.value is None else f"{self.value:g}"
        blit_text(surface, fit("sans", size, text, label_w), (rect.right, rect.centery), size,
                  theme.TEXT if self.value is not None else theme.TEXT_DIM, anchor="midright")
        track = pygame.Rect(rect.x + px(6, scale), rect.centery - px(3, scale),
                            rect.width - label_w - px(18, scale), px(6, scale))
        pygame.draw.rect(surface, theme.PANEL_EDGE, track, border_radius=track.height // 2)
        if self.value is not None and self.maximum > self.minimum:
            share = (self.value - self.minimum) / (self.maximum - self.minimum)
            filled = track.copy()
            filled.width = max(track.height, round(track.width * share))
            pygame.draw.rect(surface, theme.ACCENT, filled, border_radius=track.height // 2)
            knob = (track.x + round(track.width * share), track.centery)
            radius = px(8, scale)
            pygame.draw.circle(surface, theme.TEXT, knob, radius)
            if self.focused:
                pygame.draw.circle(surface, theme.ACCENT, knob, radius + px(3, scale), width=px(2, scale))
        elif self.focused:
            pygame.draw.rect(surface, theme.ACCENT, track.inflate(px(6, scale), px(8, scale)),
                             width=px(2, scale), border_radius=px(6, scale))


class TextField(Widget):
    """One line of text.  Enter starts editing; typing, Left/Right/Home/End, Backspace/Delete edit;
    Enter commits (``on_change(text)``), Esc puts the text back as it was."""

    def __init__(self, text: str = "", on_change: Callable[[str], None] | None = None, *,
                 placeholder: str = "", mono: bool = False) -> None:
        self.text = text
        self.on_change = on_change
        self.placeholder = placeholder
        self.mono = mono
        self.cursor = len(text)
        self._editing = False
        self._before = text

    @property
    def editing(self) -> bool:
        return self._editing

    def begin(self) -> None:
        want_text()
        self._editing = True
        self._before = self.text
        self.cursor = len(self.text)

    def handle(self, event: pygame.event.Event) -> bool:
        key = _key(event)
        if not self._editing:
            if key in (pygame.K_RETURN, pygame.K_KP_ENTER):
                self.begin()
                return True
            return False
        if event.type == pygame.TEXTINPUT:
            self.text = self.text[: self.cursor] + event.text + self.text[self.cursor :]
            self.cursor += len(event.text)
            return True
        if key is None:
            return False
        if key in (pygame.K_RETURN, pygame.K_KP_ENTER):
            self._editing = False
            if self.on_change:
                self.on_change(self.text)
        elif key == pygame.K_ESCAPE:
            self._editing = False
            self.text = self._before
        elif key == pygame.K_BACKSPACE and self.cursor > 0:
            self.text = self.text[: self.cursor - 1] + self.text[self.cursor :]
            self.cursor -= 1
        elif key == pygame.K_DELETE:
            self.text = self.text[: self.cursor] + self.text[self.cursor + 1 :]
        elif key == pygame.K_LEFT:
            self.cursor = max(0, self.cursor - 1)
        elif key == pygame.K_RIGHT:
            self.cursor = min(len(self.text), self.cursor + 1)
        elif key == pygame.K_HOME:
            self.cursor = 0
        elif key == pygame.K_END:
            self.cursor = len(self.text)
        return True  # while editing, every key is the field's

    def draw(self, surface: pygame.Surface, rect: pygame.Rect, scale: float) -> None:
        _box(surface, rect, self.focused, scale)
        kind = "mono" if self.mono else "sans"
        size = px(MONO_PX if self.mono else FONT_PX, scale)
        pad = px(8, scale)
        room = rect.width - 2 * pad
        face = font(kind, size)
        if not self.text and not self._editing:
            hint = self.placeholder or NOT_SET
            blit_text(surface, fit(kind, size, hint, room), (rect.x + pad, rect.centery), size,
                      theme.TEXT_DIM, kind, "midleft")
            return
        # Keep the cursor in view: show the text from where it fits.
        start = 0
        while self._editing and face.size(self.text[start : self.cursor])[0] > room and start < self.cursor:
            start += 1
        shown = self.text[start:] if self._editing else fit(kind, size, self.text, room)
        clip = surface.get_clip()
        surface.set_clip(rect.inflate(-2 * pad + 2, 0).clip(clip))
        blit_text(surface, shown, (rect.x + pad, rect.centery), size, theme.TEXT, kind, "midleft")
        if self._editing:
            x = rect.x + pad + face.size(self.text[start : self.cursor])[0]
            pygame.draw.line(surface, theme.ACCENT, (x, rect.y + px(4, scale)),
                             (x, rect.bottom - px(5, scale)), max(1, px(2, scale)))
        surface.set_clip(clip)


class Button(Widget):
    """Enter presses it (``on_press()``)."""

    def __init__(self, label: str, on_press: Callable[[], None] | None = None) -> None:
        self.label = label
        self.on_press = on_press

    def handle(self, event: pygame.event.Event) -> bool:
        if _key(event) in (pygame.K_RETURN, pygame.K_KP_ENTER):
            if self.on_press:
                self.on_press()
            return True
        return False

    def draw(self, surface: pygame.Surface, rect: pygame.Rect, scale: float) -> None:
        _box(surface, rect, self.focused, scale, back=theme.PANEL_EDGE if self.focused else FIELD_BACK)
        size = px(FONT_PX, scale)
        blit_text(surface, fit("bold", size, self.label, rect.width - px(8, scale)), rect.center, size,
                  theme.TEXT, "bold", "center")


class TextEditor(Widget):
    """Several lines of monospace text with a cursor, a line-number gutter and scrolling.

    Every key is the editor's while it has the focus (``editing`` is always
    True): typing, arrows, Home/End, PageUp/PageDown, Backspace/Delete, Enter
    (keeping the line's indent), Tab (two spaces).  ``on_change(text)`` is
    called after each change.  ``mark(line, message)`` highlights a line
    (1-based; 0 clears it) for an error shown in place.
    """

    INDENT = "  "

    def __init__(self, text: str = "", on_change: Callable[[str], None] | None = None) -> None:
        self.lines = text.split("\n")
        self.row = 0
        self.col = 0
        self.top = 0  # first line in view
        self.left = 0  # first column in view
        self.on_change = on_change
        self.marked = 0
        self.visible_rows = 20  # set by draw, for PageUp/PageDown

    @property
    def editing(self) -> bool:
        return True

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def set_text(self, text: str) -> None:
        """Replace the text (the cursor stays on its line where it can)."""
        self.lines = text.split("\n")
        self.row = min(self.row, len(self.lines) - 1)
        self.col = min(self.col, len(self.lines[self.row]))

    def mark(self, line: int) -> None:
        self.marked = line

    def _changed(self) -> None:
        if self.on_change:
            self.on_change(self.text)

    def _insert(self, text: str) -> None:
        line = self.lines[self.row]
        self.lines[self.row] = line[: self.col] + text + line[self.col :]
        self.col += len(text)

    def handle(self, event: pygame.event.Event) -> bool:
        if event.type == pygame.TEXTINPUT:
            self._insert(event.text)
            self._changed()
            return True
        key = _key(event)
        if key is None:
            return False
        line = self.lines[self.row]
        changed = True
        if key in (pygame.K_RETURN, pygame.K_KP_ENTER):
            indent = line[: len(line) - len(line.lstrip(" "))][: self.col]
            self.lines[self.row : self.row + 1] = [line[: self.col], indent + line[self.col :]]
            self.row += 1
            self.col = len(indent)
        elif key == pygame.K_TAB:
            self._insert(self.INDENT)
        elif key == pygame.K_BACKSPACE:
            if self.col > 0:
                self.lines[self.row] = line[: self.col - 1] + line[self.col :]
                self.col -= 1
            elif self.row > 0:
                self.col = len(self.lines[self.row - 1])
                self.lines[self.row - 1 : self.row + 1] = [self.lines[self.row - 1] + line]
                self.row -= 1
            else:
                changed = False
        elif key == pygame.K_DELETE:
            if self.col < len(line):
                self.lines[self.row] = line[: self.col] + line[self.col + 1 :]
            elif self.row + 1 < len(self.lines):
                self.lines[self.row : self.row + 2] = [line + self.lines[self.row + 1]]
            else:
                changed = False
        else:
            changed = False
            self._move(key)
        if changed:
            self._changed()
        return True

    def _move(self, key: int) -> None:
        if key == pygame.K_LEFT:
            if self.col > 0:
                self.col -= 1
            elif self.row > 0:
                self.row -= 1
                self.col = len(self.lines[self.row])
        elif key == pygame.K_RIGHT:
            if self.col < len(self.lines[self.row]):
                self.col += 1
            elif self.row + 1 < len(self.lines):
                self.row += 1
                self.col = 0
        elif key in (pygame.K_UP, pygame.K_DOWN, pygame.K_PAGEUP, pygame.K_PAGEDOWN):
            step = self.visible_rows if key in (pygame.K_PAGEUP, pygame.K_PAGEDOWN) else 1
            sign = -1 if key in (pygame.K_UP, pygame.K_PAGEUP) else 1
            self.row = min(len(self.lines) - 1, max(0, self.row + sign * step))
            self.col = min(self.col, len(self.lines[self.row]))
        elif key == pygame.K_HOME:
            self.col = 0
        elif key == pygame.K_END:
            self.col = len(self.lines[self.row])

    def height(self, scale: float) -> int:
        return px(ROW_PX, scale) * 10

    def draw(self, surface: pygame.Surface, rect: pygame.Rect, scale: float) -> None:
        _box(surface, rect, self.focused, scale)
        size = px(MONO_PX, scale)
        face = font("mono", size)
        line_h = face.get_linesize()
        pad = px(6, scale)
        self.visible_rows = max(1, (rect.height - 2 * pad) // line_h)
        if self.row < self.top:
            self.top = self.row
        elif self.row >= self.top + self.visible_rows:
            self.top = self.row - self.visible_rows + 1
        gutter = face.size(str(len(self.lines)))[0] + 2 * pad
        columns = max(1, (rect.width - gutter - pad) // face.size("m")[0])
        if self.col < self.left:
            self.left = max(0, self.col - columns // 2)
        elif self.col >= self.left + columns:
            self.left = self.col - columns + 1
        clip = surface.get_clip()
        surface.set_clip(rect.inflate(-2, -2).clip(clip))
        y = rect.y + pad
        for number in range(self.top, min(len(self.lines), self.top + self.visible_rows)):
            row_rect = pygame.Rect(rect.x + 1, y, rect.width - 2, line_h)
            if number + 1 == self.marked:
                pygame.draw.rect(surface, ERROR_BACK, row_rect)
                pygame.draw.rect(surface, theme.BAD, (rect.x + 1, y, px(4, scale), line_h))
            blit_text(surface, str(number + 1), (rect.x + gutter - pad, y), size,
                      theme.BAD if number + 1 == self.marked else theme.TEXT_DIM, "mono", "topright")
            text = self.lines[number][self.left : self.left + columns + 1]
            if text:
                blit_text(surface, text, (rect.x + gutter, y), size, theme.TEXT, "mono")
            if number == self.row and self.focused:
                x = rect.x + gutter + face.size(text[: self.col - self.left])[0]
                pygame.draw.line(surface, theme.ACCENT, (x, y), (x, y + line_h - 1), max(1, px(2, scale)))
            y += line_h
        surface.set_clip(clip)
