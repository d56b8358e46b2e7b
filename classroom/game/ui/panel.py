"""The configuration panel: the class rules a level lets the player change, as a form or as YAML.

Theory of operation
-------------------
:class:`ConfigPanel` puts widgets (:mod:`classroom.game.ui.widgets`) over a
:class:`~classroom.game.model.configedit.ConfigEditor`, which knows the fields,
checks every edit with the level's own checker and keeps the last valid
resources.  The panel has two faces, switched with F2 (or Y in the form):

* **Form.**  One row per field, grouped under its resource: a Choice for
  modes and actions, a Toggle for parts that are there or not (outlier
  detection, retry budget), a Slider for numbers, a TextField for durations,
  names and retry conditions.  Tab/Shift-Tab and Up/Down move the focus;
  Left/Right change the focused value; Enter flips a toggle, or starts and
  commits a text edit.  Each change goes to the editor at once.  A valid one
  becomes the resources (``version`` goes up, ``on_change`` is called, the
  form is rebuilt since fields may come and go); an invalid one leaves the
  widget showing what was tried and the reason under it, in place.
* **YAML.**  The editable resources as text in a
  :class:`~classroom.game.ui.widgets.TextEditor`.  The text is read after
  every change: valid text becomes the resources at once; otherwise the line
  at fault is highlighted and the message is shown under the editor, and the
  last valid resources stay in force.  Esc (or F2) returns to the form.

The panel takes keys only when they are its own, so the game keeps Space,
R, +/- and Esc; while ``editing`` is True (a text being typed, or the YAML
face) it takes every key and the typed text, and the owner should pass it
all keyboard events first.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pygame

from classroom.game.model.configedit import (
    CHOICE,
    INT,
    NUMBER,
    TOGGLE,
    ConfigEditor,
    ConfigError,
    Field,
    Resource,
)
from classroom.game.ui import theme
from classroom.game.ui.widgets import (
    FONT_PX,
    Choice,
    Slider,
    TextEditor,
    TextField,
    Toggle,
    Widget,
    blit_text,
    fit,
    px,
    want_text,
    wrap,
)
from classroom.level import Level

FORM = "form"
YAML = "yaml"
TITLE_PX = 18
SMALL_PX = 13
GAP_PX = 6


def _key_event(key: int) -> pygame.event.Event:
    return pygame.event.Event(pygame.KEYDOWN, key=key, mod=0, unicode="", scancode=0)


class ConfigPanel:
    """The config panel of one level; ``resources`` are where it starts (the level's own by default)."""

    def __init__(
        self,
        level: Level,
        resources: Sequence[Resource] | None = None,
        on_change: Callable[[tuple[Resource, ...]], None] | None = None,
    ) -> None:
        self.editor = ConfigEditor(level, resources)
        self._level = level
        self.on_change = on_change
        self.mode = FORM
        self.version = 0  # goes up each time the valid resources change
        self.yaml_error: ConfigError | None = None
        self._field_errors: dict[str, str] = {}
        self._fields: list[Field] = []
        self._widgets: list[Widget] = []
        self._focus = 0
        self._scroll = 0
        self._rects: dict[str, pygame.Rect] = {}  # where each field's row was last drawn
        self._tabs: dict[str, pygame.Rect] = {}  # where the Form and YAML tabs were last drawn
        self._text = TextEditor(self.editor.yaml_text(), self._yaml_changed)
        self._rebuild()

    # ----------------------------------------------------------------- what the game reads

    def resources(self) -> tuple[Resource, ...]:
        """The current valid resources (an invalid edit never gets here)."""
        return self.editor.resources()

    @property
    def error(self) -> str | None:
        """The message of the invalid edit on show, or None."""
        if self.mode == YAML:
            return str(self.yaml_error) if self.yaml_error else None
        focused = self.focused_key
        if focused is not None and focused in self._field_errors:
            return self._field_errors[focused]
        return next(iter(self._field_errors.values()), None)

    @property
    def unapplied(self) -> str | None:
        """Why what the panel shows is not what would run, in one line: an invalid YAML text or field
        edit the last valid rules stand in for; None when what is shown is in force."""
        if self.yaml_error is not None:
            where = f" at line {self.yaml_error.line}" if self.yaml_error.line else ""
            return f"the YAML is invalid{where}: {self.yaml_error.message}"
        if self._field_errors:
            key, message = next(iter(self._field_errors.items()))
            label = next((f.label for f in self._fields if f.key == key), key)
            return f"{label}: {message}"
        return None

    @property
    def editing(self) -> bool:
        """True while the panel takes every key (the YAML face, or a text field being typed in)."""
        return self.mode == YAML or (bool(self._widgets) and self._widgets[self._focus].editing)

    @property
    def focused_key(self) -> str | None:
        """The :attr:`Field.key` of the focused form field."""
        return self._fields[self._focus].key if self._fields else None

    def field_rect(self, key: str) -> pygame.Rect | None:
        """Where the row of field ``key`` was last drawn (None: not in view, or not drawn yet)."""
        return self._rects.get(key)

    def focus(self, key: str) -> None:
        """Put the focus on the field ``key`` (KeyError if the form has none)."""
        self._set_focus(next(i for i, f in enumerate(self._fields) if f.key == key))

    # ----------------------------------------------------------------- input

    def click(self, pos: tuple[int, int]) -> bool:
        """A left click at ``pos``: on the Form/YAML tabs, shows that face; on a field, focuses it and
        acts on its widget as the keys would (the left half of a choice or slider steps back, the
        right half forward; a toggle flips; a text field starts an edit).  True when it was used."""
        for mode, rect in self._tabs.items():
            if rect.collidepoint(pos):
                self.show(mode)
                return True
        if self.mode == YAML:
            return False
        for key, row in self._rects.items():
            if not row.collidepoint(pos):
                continue
            index = next(i for i, f in enumerate(self._fields) if f.key == key)
            if self._widgets[self._focus].editing and index != self._focus:
                self._widgets[self._focus].handle(_key_event(pygame.K_RETURN))  # commit the edit first
            self._set_focus(index)
            widget = self._widgets[self._focus]
            label_w = round(row.width * 0.48)
            if pos[0] < row.x + label_w:
                return True  # on the label: focus only
            if isinstance(widget, (Toggle, TextField)):
                if not widget.editing:
                    widget.handle(_key_event(pygame.K_RETURN))
            else:
                middle = row.x + label_w + (row.width - label_w) / 2
                widget.handle(_key_event(pygame.K_RIGHT if pos[0] >= middle else pygame.K_LEFT))
            return True
        return False

    def handle(self, event: pygame.event.Event) -> bool:
        """Take ``event`` if it is the panel's: True when it was used."""
        if event.type == pygame.MOUSEBUTTONDOWN and getattr(event, "button", 0) == 1:
            return self.click(event.pos)
        if event.type == pygame.MOUSEWHEEL and self.mode == FORM and self._widgets:
            self._set_focus(max(0, min(len(self._widgets) - 1, self._focus - int(event.y))))
            return True
        if event.type == pygame.KEYDOWN and event.key == pygame.K_F2:
            self.show(FORM if self.mode == YAML else YAML)
            return True
        if self.mode == YAML:
            if event.type == pygame.KEYDOWN and event.key == pygame.K_ESCAPE:
                self.show(FORM)
                return True
            return self._text.handle(event)
        if not self._widgets:
            return False
        widget = self._widgets[self._focus]
        if widget.editing:
            return widget.handle(event)
        if event.type != pygame.KEYDOWN:
            return False
        shift = bool(event.mod & pygame.KMOD_SHIFT)
        if event.key == pygame.K_y and not event.mod & (pygame.KMOD_CTRL | pygame.KMOD_ALT):
            self.show(YAML)
            return True
        if event.key in (pygame.K_DOWN, pygame.K_UP) or event.key == pygame.K_TAB:
            back = event.key == pygame.K_UP or (event.key == pygame.K_TAB and shift)
            self._set_focus((self._focus + (-1 if back else 1)) % len(self._widgets))
            return True
        return widget.handle(event)

    def show(self, mode: str) -> None:
        """Show the form (``FORM``) or the YAML text (``YAML``)."""
        if mode == YAML and self.mode != YAML:
            want_text()
            if self.yaml_error is None:
                self._text.set_text(self.editor.yaml_text())
        self.mode = mode

    # ----------------------------------------------------------------- edits

    def _set_focus(self, index: int) -> None:
        self._widgets[self._focus].focused = False
        self._focus = index
        self._widgets[index].focused = True

    def _set_field(self, key: str, value: Any) -> None:
        try:
            self.editor.set(key, value)
        except ConfigError as exc:
            self._field_errors = {key: exc.message}
            return
        self._adopted()

    def follow(self, resources: Sequence[Resource]) -> bool:
        """A rule change pushed live: show the rules now in force, unless an edit is under way (then
        False: the lecturer's edit is kept).  Not a change of the player's, so ``on_change`` is quiet."""
        if self.editing or self.unapplied is not None:
            return False
        self.editor = ConfigEditor(self._level, resources)
        self.version += 1
        self._text.set_text(self.editor.yaml_text())
        self._rebuild()
        return True

    def _yaml_changed(self, text: str) -> None:
        try:
            self.editor.apply_yaml(text)
        except ConfigError as exc:
            self.yaml_error = exc
            self._text.mark(exc.line)
            return
        self.yaml_error = None
        self._text.mark(0)
        self._adopted()

    def _adopted(self) -> None:
        self.version += 1
        self._field_errors = {}
        self.yaml_error = None
        self._text.mark(0)
        self._rebuild()
        if self.mode != YAML:
            self._text.set_text(self.editor.yaml_text())
        if self.on_change:
            self.on_change(self.resources())

    def _rebuild(self) -> None:
        """Widgets for the editor's fields as they are now; the focus stays on the same field."""
        key = self.focused_key
        self._fields = self.editor.fields()
        self._widgets = [self._widget(f) for f in self._fields]
        keys = [f.key for f in self._fields]
        self._focus = keys.index(key) if key in keys else min(self._focus, max(0, len(keys) - 1))
        if self._widgets:
            self._widgets[self._focus].focused = True

    def _widget(self, field: Field) -> Widget:
        def change(value: Any) -> None:
            self._set_field(field.key, value)

        # Not set, a field says what is in force then: "(not set: 2)", "(not set: 15s)".
        not_set = f"(not set: {field.default})" if field.default else "(not set)"
        if field.kind == TOGGLE:
            return Toggle(bool(field.value), change)
        if field.kind == CHOICE:
            options: list[str | None] = [*([None] if field.optional else []), *field.choices]
            return Choice(options, field.value, change, not_set=not_set)
        if field.kind in (INT, NUMBER):
            return Slider(field.value, field.minimum, field.maximum, field.step, optional=field.optional,
                          on_change=change, not_set=not_set)
        text = "" if field.value is None else field.display()
        return TextField(text, change, placeholder=not_set if field.optional else "")

    # ----------------------------------------------------------------- drawing

    def draw(self, surface: pygame.Surface, rect: pygame.Rect, scale: float) -> None:
        """Draw the panel into ``rect`` of ``surface``, sizes at 720 px times ``scale``."""
        rect = pygame.Rect(rect)
        self._rects = {}
        pygame.draw.rect(surface, theme.PANEL, rect)
        pygame.draw.rect(surface, theme.PANEL_EDGE, rect, width=max(1, px(1, scale)))
        pad = px(12, scale)
        inner = rect.inflate(-2 * pad, -2 * pad)
        top = self._draw_header(surface, inner, scale)
        body = pygame.Rect(inner.x, top, inner.width, inner.bottom - top)
        clip = surface.get_clip()
        surface.set_clip(body.clip(clip))
        if self.mode == YAML:
            self._draw_yaml(surface, body, scale)
        else:
            self._draw_form(surface, body, scale)
        surface.set_clip(clip)

    def _draw_header(self, surface: pygame.Surface, inner: pygame.Rect, scale: float) -> int:
        title = blit_text(surface, "Class rules", inner.topleft, px(TITLE_PX, scale), theme.TEXT, "bold")
        small = px(SMALL_PX, scale)
        x = inner.right
        for mode, label in ((YAML, "YAML"), (FORM, "Form")):
            image_rect = blit_text(surface, label, (x, title.centery), small,
                                   theme.TEXT if self.mode == mode else theme.TEXT_DIM,
                                   "bold" if self.mode == mode else "sans", "midright")
            self._tabs[mode] = image_rect.inflate(px(8, scale), px(6, scale))
            if self.mode == mode:
                pygame.draw.line(surface, theme.ACCENT, (image_rect.x, image_rect.bottom + 1),
                                 (image_rect.right, image_rect.bottom + 1), max(1, px(2, scale)))
            x = image_rect.x - px(12, scale)
        if self.mode == YAML:
            hint = "checked as you type · Esc/F2: form"
        else:
            hint = "↑↓ move · ←→ change · Enter edit · F2 YAML"
        hint_rect = blit_text(surface, fit("sans", small, hint, inner.width),
                              (inner.x, title.bottom + px(4, scale)), small, theme.TEXT_DIM)
        return hint_rect.bottom + px(GAP_PX * 2, scale)

    def _draw_yaml(self, surface: pygame.Surface, body: pygame.Rect, scale: float) -> None:
        small = px(SMALL_PX, scale)
        lines: list[str] = []
        if self.yaml_error is not None:
            lines = wrap("sans", small, f"✗ {self.yaml_error}", body.width - px(8, scale))
        line_h = small + px(4, scale)
        message_h = len(lines) * line_h + (px(GAP_PX, scale) if lines else 0)
        editor_rect = pygame.Rect(body.x, body.y, body.width, body.height - message_h)
        self._text.focused = True
        self._text.draw(surface, editor_rect, scale)
        y = editor_rect.bottom + px(GAP_PX, scale)
        for line in lines:
            blit_text(surface, line, (body.x, y), small, theme.BAD)
            y += line_h

    def _layout(self, body: pygame.Rect, scale: float) -> list[tuple[str, int, Any]]:
        """What the form shows, top to bottom, as (what, height, item) before scrolling."""
        size = px(FONT_PX, scale)
        small = px(SMALL_PX, scale)
        rows: list[tuple[str, int, Any]] = []
        group = None
        for index, field in enumerate(self._fields):
            if field.group != group:
                group = field.group
                rows.append(("group", size + px(GAP_PX * 2, scale), group))
            rows.append(("field", self._widgets[index].height(scale) + px(GAP_PX, scale), index))
            message = self._field_errors.get(field.key)
            if message:
                for line in wrap("sans", small, f"✗ {message}", body.width - px(16, scale)):
                    rows.append(("error", small + px(4, scale), line))
            elif index == self._focus and field.help:
                for line in wrap("sans", small, field.help, body.width - px(16, scale)):
                    rows.append(("help", small + px(4, scale), line))
        return rows

    def _draw_form(self, surface: pygame.Surface, body: pygame.Rect, scale: float) -> None:
        if not self._fields:
            blit_text(surface, "Nothing to change in this level.", body.topleft, px(FONT_PX, scale),
                      theme.TEXT_DIM)
            return
        rows = self._layout(body, scale)
        # Scroll so that the focused row, its group heading and its help or error are in view.
        y = 0
        top = bottom = -1
        for index, (what, height, item) in enumerate(rows):
            if what == "field" and item == self._focus:
                top = y - (rows[index - 1][1] if index and rows[index - 1][0] == "group" else 0)
                bottom = y + height
            elif what in ("help", "error") and bottom == y:
                bottom = y + height
            y += height
        if top < self._scroll:
            self._scroll = top
        elif bottom > self._scroll + body.height:
            self._scroll = bottom - body.height
        self._scroll = max(0, min(self._scroll, y - body.height))
        self._draw_rows(surface, body, scale, rows)

    def _draw_rows(self, surface: pygame.Surface, body: pygame.Rect, scale: float,
                   rows: list[tuple[str, int, Any]]) -> None:
        size = px(FONT_PX, scale)
        small = px(SMALL_PX, scale)
        label_w = round(body.width * 0.48)
        y = body.y - self._scroll
        for what, height, item in rows:
            if y + height <= body.y or y >= body.bottom:
                y += height
                continue
            if what == "group":
                blit_text(surface, fit("bold", size, item, body.width), (body.x, y + px(GAP_PX, scale)), size,
                          theme.ACCENT, "bold")
            elif what == "field":
                field, widget = self._fields[item], self._widgets[item]
                row = pygame.Rect(body.x, y, body.width, height - px(GAP_PX, scale))
                self._rects[field.key] = row.clip(body)
                if item == self._focus:
                    pygame.draw.rect(surface, theme.FLOOR, row.inflate(px(6, scale), px(4, scale)),
                                     border_radius=px(4, scale))
                colour = theme.BAD if field.key in self._field_errors else theme.TEXT
                blit_text(surface, fit("sans", size, field.label, label_w - px(8, scale)),
                          (row.x, row.centery), size, colour, anchor="midleft")
                widget_rect = pygame.Rect(row.x + label_w, row.y, row.width - label_w, row.height)
                widget.draw(surface, widget_rect, scale)
            else:
                blit_text(surface, item, (body.x + px(8, scale), y), small,
                          theme.BAD if what == "error" else theme.TEXT_DIM)
            y += height
