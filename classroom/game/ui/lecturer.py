"""``classroom teach`` on screen: projector type, the actions menu, speaker notes, a show of hands.

Theory of operation
-------------------
:func:`use_projector` turns the window into a projector's: a high-contrast
theme (black room, white type, light greys instead of dim ones) and a floor
under every font (:data:`FLOOR_PX` at 720 px, 21 px at 1080p), so nothing is
too small to read from the back of a hall; the lesson, the banner and these
overlays are drawn at :data:`BODY_PX` (28 px at 1080p) times the lecturer's
type size (+/−, kept for the whole window by the
:class:`~classroom.game.model.lecturedesk.LectureDesk`).

:class:`LecturerKeys` is the play scene's lecturer: the keys of the live
actions (each also a row of the M menu, which the arrows, Enter and the mouse
work), the choice of student (Tab) and aisle (``[`` / ``]``), slow motion (Z),
the speaker notes (S), and the show of hands on a question (1–4 choose an
answer, ↑/↓ count its hands, V or Enter reveals the counts as bars).
An action goes to the round through the session
(:meth:`~classroom.game.model.session.Session.control`), which acts as a
lecture script's step would and records the same events.
"""

from __future__ import annotations

from typing import Any

import pygame

from classroom.game.model.lecturedesk import ACTION_KEYS, ACTIONS, LectureDesk, Question
from classroom.game.ui import fonts, hud, moments_view, theme, widgets
from classroom.game.ui.scenes.common import text, wrap

BODY_PX = 19  # the lecture's body text, px at 720: 28.5 px at 1080p
FLOOR_PX = 14  # nothing smaller, px at 720: 21 px at 1080p
PROJECTOR = {  # a high-contrast theme: what a washed-out projector still shows
    "BACKGROUND": (0, 0, 0), "FLOOR": (24, 28, 36), "PANEL": (8, 9, 12), "PANEL_EDGE": (170, 176, 188),
    "TEXT": (255, 255, 255), "TEXT_DIM": (214, 218, 226),
}
_SCREEN = {name: getattr(theme, name) for name in PROJECTOR}


def use_projector(on: bool) -> None:
    """Switch the projector theme and the font floor on (or back off), forgetting drawn text."""
    for name, colour in (PROJECTOR if on else _SCREEN).items():
        setattr(theme, name, colour)
    fonts.set_floor(FLOOR_PX if on else 0.0)
    hud._TEXT_CACHE.clear()
    hud._FIT_CACHE.clear()
    hud._LEGEND.clear()
    moments_view._LEGENDS.clear()
    moments_view._MARK_SPRITES.clear()
    widgets.render_text.cache_clear()


def body(scale: float, desk: LectureDesk, kind: str = "sans", px: float = BODY_PX) -> pygame.font.Font:
    return fonts.scaled(kind, px * desk.type_scale, scale)


def _panel(surface: pygame.Surface, box: pygame.Rect, scale: float, edge: theme.Colour) -> None:
    surface.fill(theme.PANEL, box)  # opaque: nothing of the room shows through the words
    pygame.draw.rect(surface, edge, box, max(2, round(2 * scale)), border_radius=round(8 * scale))


# --- the question and its show of hands -----------------------------------------------------------

def draw_question(surface: pygame.Surface, room: pygame.Rect, question: Question, desk: LectureDesk,
                  scale: float) -> pygame.Rect:
    """The question, its answers with the hands counted, and (revealed) the counts as bars."""
    font, bold = body(scale, desk), body(scale, desk, "bold")
    pad = round(16 * scale)
    width = room.width - 2 * pad
    lines = wrap(question.text, bold, width - 2 * pad)
    row = font.get_linesize() + round(10 * scale)
    height = pad * 2 + len(lines) * bold.get_linesize() + round(8 * scale) + row * len(question.answers)
    height += font.get_linesize()
    box = pygame.Rect(room.left + pad, room.top + pad, width, min(height, room.height - 2 * pad))
    box.bottom = room.bottom - pad  # at the foot of the room: the banner and the board stay in view
    _panel(surface, box, scale, theme.YELLOW)
    y = box.top + pad
    for line in lines:
        text(surface, line, bold, theme.TEXT, (box.left + pad, y))
        y += bold.get_linesize()
    y += round(8 * scale)
    label_w = max(font.size(f"{i}  {a}")[0] for i, a in enumerate(question.answers, 1)) + pad
    label_w = min(label_w, box.width // 2)
    bar_x = box.left + pad + label_w + pad
    bar_w = box.right - pad - bar_x - font.size(" 999 (100%)")[0]
    for i, (answer, hands, share) in enumerate(zip(question.answers, question.hands, question.shares(),
                                                    strict=True)):
        chosen = i == question.chosen
        words = f"{i + 1}  {answer}"
        while font.size(words)[0] > label_w and len(words) > 4:
            words = words[:-2] + "…"
        text(surface, words, bold if chosen else font, theme.YELLOW if chosen else theme.TEXT,
             (box.left + pad, y + row / 2), "midleft")
        if question.revealed:
            bar = pygame.Rect(bar_x, round(y + row * 0.18), max(0, round(bar_w * share)), round(row * 0.64))
            pygame.draw.rect(surface, theme.SKY_BLUE, bar, border_radius=round(3 * scale))
            pygame.draw.rect(surface, theme.PANEL_EDGE, pygame.Rect(bar_x, bar.top, bar_w, bar.height),
                             max(1, round(scale)), border_radius=round(3 * scale))
            text(surface, f" {hands} ({share * 100:.0f}%)", font, theme.TEXT, (bar_x + bar_w, y + row / 2),
                 "midleft")
        else:
            text(surface, f"{hands} hands" if hands != 1 else "1 hand", font, theme.TEXT_DIM,
                 (bar_x, y + row / 2), "midleft")
        y += row
    how = ("V puts the question away" if question.revealed else
           "1–4 choose an answer · ↑↓ count its hands (Shift: 5) · V or Enter reveals")
    text(surface, how, fonts.scaled("sans", FLOOR_PX, scale), theme.TEXT_DIM, (box.left + pad, y))
    return box


# --- speaker notes --------------------------------------------------------------------------------

def draw_notes(surface: pygame.Surface, room: pygame.Rect, words: str, desk: LectureDesk, scale: float) -> None:
    """The speaker notes over the room (S hides them): for the lecturer, not the slides."""
    font = body(scale, desk)
    pad = round(18 * scale)
    box = room.inflate(-2 * pad, -2 * pad)
    _panel(surface, box, scale, theme.SKY_BLUE)
    y = box.top + pad
    y = text(surface, "Speaker notes (S hides them)", body(scale, desk, "bold"), theme.SKY_BLUE,
             (box.left + pad, y)).bottom + round(8 * scale)
    lines = wrap(words or "This level has no speaker_notes.", font, box.width - 2 * pad)
    for line in lines:
        if y + font.get_linesize() > box.bottom - pad:
            text(surface, "…", font, theme.TEXT, (box.left + pad, y - font.get_linesize() // 2))
            break
        text(surface, line, font, theme.TEXT, (box.left + pad, y))
        y += font.get_linesize()


# --- the actions menu -----------------------------------------------------------------------------

def menu_rows(desk: LectureDesk, level: Any, resources: tuple[dict[str, Any], ...]) -> list[tuple[str, str]]:
    """(key, words) of each row: the two targets, then every action."""
    aisle = desk.chosen_aisle(level)
    return ([("Tab", f"student: {desk.chosen_student(level)}  ◀ ▶"),
             ("[ ]", f"aisle: {'–'.join(aisle) if aisle else '(none)'}  ◀ ▶")]
            + [(a.key, desk.words(a, level, resources)) for a in ACTIONS])


def draw_menu(surface: pygame.Surface, room: pygame.Rect, desk: LectureDesk, level: Any,
              resources: tuple[dict[str, Any], ...], scale: float) -> list[pygame.Rect]:
    """The live actions as a menu over the room; the rows' rectangles, for the mouse."""
    font, bold = body(scale, desk), body(scale, desk, "bold")
    rows = menu_rows(desk, level, resources)
    pad = round(14 * scale)
    row_h = font.get_linesize() + round(8 * scale)
    key_w = bold.size("Tab")[0] + pad
    title = "Live actions (M closes · ↑↓ Enter or click)"
    width = min(room.width - 2 * pad, max(key_w + max(font.size(w)[0] for _, w in rows), bold.size(title)[0]) + 3 * pad)
    height = 2 * pad + bold.get_linesize() + round(6 * scale) + row_h * len(rows)
    box = pygame.Rect(0, 0, width, min(height, room.height - 2 * pad))
    box.center = room.center
    _panel(surface, box, scale, theme.ACCENT)
    y = box.top + pad
    text(surface, title, bold, theme.TEXT, (box.left + pad, y))
    y += bold.get_linesize() + round(6 * scale)
    rects = []
    for i, (key, words) in enumerate(rows):
        rect = pygame.Rect(box.left + pad // 2, y, box.width - pad, row_h)
        if rect.bottom > box.bottom:
            break
        if i == desk.menu_row:
            pygame.draw.rect(surface, theme.PANEL_EDGE, rect, border_radius=round(5 * scale))
        colour = theme.BACKGROUND if i == desk.menu_row else theme.TEXT
        text(surface, key, bold, theme.BACKGROUND if i == desk.menu_row else theme.ACCENT,
             (rect.left + pad // 2, rect.centery), "midleft")
        text(surface, words, font, colour, (rect.left + key_w, rect.centery), "midleft")
        rects.append(rect)
        y += row_h
    return rects


def draw_targets(surface: pygame.Surface, view: Any, desk: LectureDesk, level: Any, scale: float) -> None:
    """The chosen student's desk and the chosen aisle, outlined (what O/B/K and C/D/H act on)."""
    width = max(2, round(3 * scale))
    student = desk.chosen_student(level)
    aisle = desk.chosen_aisle(level)
    if aisle is not None and all(name in view.desk_names for name in aisle):
        a, b = view.desk_center(aisle[0]), view.desk_center(aisle[1])
        # From desk edge to desk edge: the names on the desks stay readable.
        inside_a = view.seat_rect(aisle[0]).inflate(width * 2, width * 2).clipline(a, b)
        inside_b = view.seat_rect(aisle[1]).inflate(width * 2, width * 2).clipline(b, a)
        start = inside_a[1] if inside_a else a
        end = inside_b[1] if inside_b else b
        pygame.draw.line(surface, theme.REDDISH_PURPLE, start, end, width * 3)
    if student in view.desk_names:
        pygame.draw.rect(surface, theme.YELLOW, view.seat_rect(student).inflate(width * 4, width * 4), width,
                         border_radius=round(8 * scale))


# --- the keys -------------------------------------------------------------------------------------

class LecturerKeys:
    """The lecturer's keys and mouse in the play scene of ``classroom teach``.

    ``scene`` is the play scene: its ``level``, ``session``, ``state``, ``message`` and ``app``."""

    def __init__(self, scene: Any, desk: LectureDesk) -> None:
        self.scene = scene
        self.desk = desk
        self.menu_rects: list[pygame.Rect] = []

    def resources(self) -> tuple[dict[str, Any], ...]:
        session = self.scene.session
        controls = getattr(getattr(session, "round", None), "controls", None)
        return tuple(controls.resources) if controls is not None else tuple(self.scene.panel.resources())

    def act(self, name: str) -> bool:
        """Do the live action ``name`` on the chosen targets; what it did goes in the banner."""
        action = next(a for a in ACTIONS if a.name == name)
        scene = self.scene
        call = self.desk.call(action, scene.level, self.resources())
        if call is None:
            scene.message = ("This class has no teacher in the aisle." if action.name in ("eavesdrop", "forge")
                             else "This level has no solution to push." if action.name == "solution"
                             else "This room has no aisles to act on.")
            return False
        control, arguments, words = call
        if scene.session is None or scene.state != "running" or not scene.session.control(control, *arguments):
            scene.message = "Live actions act on a running round: Space runs it first."
            return False
        scene.message = words
        return True

    def handle(self, event: pygame.event.Event) -> bool:
        """True when the lecturer's desk used ``event``."""
        desk, scene = self.desk, self.scene
        if event.type == pygame.MOUSEMOTION and desk.menu_open:
            for i, rect in enumerate(self.menu_rects):
                if rect.collidepoint(event.pos):
                    desk.menu_row = i
            return True
        if event.type == pygame.MOUSEBUTTONDOWN and desk.menu_open and getattr(event, "button", 0) == 1:
            for i, rect in enumerate(self.menu_rects):
                if rect.collidepoint(event.pos):
                    desk.menu_row = i
                    self._menu_enter(+1 if event.pos[0] > rect.centerx else -1)
                    return True
            desk.menu_open = False  # a click outside closes it
            return True
        if event.type != pygame.KEYDOWN:
            return False
        key, char = event.key, (getattr(event, "unicode", "") or "").lower()
        if key in (pygame.K_PLUS, pygame.K_EQUALS, pygame.K_KP_PLUS, pygame.K_MINUS, pygame.K_KP_MINUS):
            size = desk.bigger(+1 if key in (pygame.K_PLUS, pygame.K_EQUALS, pygame.K_KP_PLUS) else -1)
            scene.message = f"Type size ×{size:g} (+/−); it stays for this window."
            return True
        if key == pygame.K_m:
            desk.menu_open = not desk.menu_open
            return True
        if key == pygame.K_s:
            desk.notes_shown = not desk.notes_shown
            return True
        if desk.menu_open:
            return self._menu_key(key)
        question = desk.question
        if question is not None and self._hands_key(question, key):
            return True
        if scene.panel.editing:
            return False
        action = ACTION_KEYS.get(char) or ACTION_KEYS.get(pygame.key.name(key))
        if action is not None:
            self.act(action.name)  # before a round runs, it says how to start one
            return True
        if scene.state != "running":
            return False  # Tab and the brackets are the rules form's until the round runs
        if key == pygame.K_TAB:
            step = -1 if event.mod & pygame.KMOD_SHIFT else 1
            scene.message = f"Chosen student: {desk.next_student(scene.level, step)} (O leaves, B back, K kill)."
            return True
        if key in (pygame.K_LEFTBRACKET, pygame.K_RIGHTBRACKET):
            aisle = desk.next_aisle(scene.level, 1 if key == pygame.K_RIGHTBRACKET else -1)
            scene.message = (f"Chosen aisle: {'–'.join(aisle)} (C cut, D slow, H heal)." if aisle
                             else "This room has no aisles.")
            return True
        return False

    def _menu_key(self, key: int) -> bool:
        desk = self.desk
        rows = 2 + len(ACTIONS)
        if key in (pygame.K_UP, pygame.K_DOWN):
            desk.menu_row = (desk.menu_row + (1 if key == pygame.K_DOWN else -1)) % rows
        elif key in (pygame.K_LEFT, pygame.K_RIGHT):
            self._menu_enter(1 if key == pygame.K_RIGHT else -1)
        elif key in (pygame.K_RETURN, pygame.K_KP_ENTER, pygame.K_SPACE):
            self._menu_enter(1)
        elif key == pygame.K_ESCAPE:
            desk.menu_open = False
        return True

    def _menu_enter(self, step: int) -> None:
        desk, level = self.desk, self.scene.level
        if desk.menu_row == 0:
            desk.next_student(level, step)
        elif desk.menu_row == 1:
            desk.next_aisle(level, step)
        elif self.act(ACTIONS[desk.menu_row - 2].name):
            desk.menu_open = False

    def _hands_key(self, question: Question, key: int) -> bool:
        if pygame.K_1 <= key <= pygame.K_4 and question.choose(key - pygame.K_1):
            return True
        if key in (pygame.K_UP, pygame.K_DOWN):
            step = 5 if pygame.key.get_mods() & pygame.KMOD_SHIFT else 1
            question.count(step if key == pygame.K_UP else -step)
            return True
        if key == pygame.K_BACKSPACE:
            question.count(-question.hands[question.chosen])
            return True
        if key == pygame.K_v:  # reveal the counts; V again puts the question away
            if question.revealed:
                self.desk.question = None
            question.revealed = True
            return True
        return False
