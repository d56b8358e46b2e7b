"""The config panel under SDL's dummy driver: keys in, rules and pixels out."""

from __future__ import annotations

import os

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")

import pygame  # noqa: E402
import pytest  # noqa: E402
from conftest import LEVELS  # noqa: E402

from classroom.game.ui import theme  # noqa: E402
from classroom.game.ui.panel import FORM, YAML, ConfigPanel  # noqa: E402
from classroom.game.ui.widgets import ERROR_BACK, TextEditor, TextField  # noqa: E402
from classroom.level import Level, load_level  # noqa: E402

PANEL_RECT = pygame.Rect(20, 20, 400, 420)


@pytest.fixture(autouse=True)
def _pygame() -> None:
    pygame.init()


def level(stem: str) -> Level:
    return load_level(str(LEVELS / f"{stem}.yaml"))


def key(k: int, mod: int = 0) -> pygame.event.Event:
    return pygame.event.Event(pygame.KEYDOWN, key=k, mod=mod, unicode="")


def press(panel: ConfigPanel, *keys: int, mod: int = 0) -> list[bool]:
    return [panel.handle(key(k, mod)) for k in keys]


def type_text(panel: ConfigPanel, text: str) -> None:
    for char in text:
        assert panel.handle(pygame.event.Event(pygame.TEXTINPUT, text=char))


def draw(panel: ConfigPanel, size: tuple[int, int] = (640, 480), rect: pygame.Rect = PANEL_RECT,
         scale: float = 1.0) -> pygame.Surface:
    surface = pygame.Surface(size)
    surface.fill(theme.BACKGROUND)
    panel.draw(surface, rect, scale)
    return surface


def pixels_near(surface: pygame.Surface, rect: pygame.Rect, colour: theme.Colour, tol: int = 24) -> int:
    """How many pixels of ``rect`` are within ``tol`` of ``colour`` on every channel."""
    rect = rect.clip(surface.get_rect())
    count = 0
    for y in range(rect.top, rect.bottom):
        for x in range(rect.left, rect.right):
            pixel = surface.get_at((x, y))
            if all(abs(pixel[i] - colour[i]) <= tol for i in range(3)):
                count += 1
    return count


def focus(panel: ConfigPanel, key_: str) -> None:
    for _ in range(40):
        if panel.focused_key == key_:
            return
        press(panel, pygame.K_TAB)
    raise AssertionError(f"Tab never reached {key_}")


MODE = "PeerAuthentication/default/spec.mtls.mode"
ATTEMPTS = "VirtualService/dana/spec.http[0].retries.attempts"
PER_TRY = "VirtualService/dana/spec.http[0].retries.perTryTimeout"


def test_left_and_right_change_the_mtls_mode_and_the_game_hears_of_it() -> None:
    seen: list[tuple[dict[str, object], ...]] = []
    panel = ConfigPanel(level("08-teacher-in-the-aisle"), on_change=seen.append)
    assert panel.focused_key == MODE
    assert press(panel, pygame.K_RIGHT) == [True]
    assert panel.resources()[0]["spec"]["mtls"]["mode"] == "STRICT"
    assert panel.version == 1 and len(seen) == 1 and seen[0] == panel.resources()
    press(panel, pygame.K_LEFT)
    assert panel.resources()[0]["spec"]["mtls"]["mode"] == "DISABLE"


def test_the_game_keeps_its_own_keys_when_the_form_has_the_focus() -> None:
    panel = ConfigPanel(level("03-lost-notes"))
    game_keys = (pygame.K_SPACE, pygame.K_r, pygame.K_ESCAPE, pygame.K_PLUS, pygame.K_MINUS, pygame.K_F5)
    assert press(panel, *game_keys) == [False] * len(game_keys)
    assert not panel.handle(pygame.event.Event(pygame.TEXTINPUT, text="r"))
    assert panel.version == 0 and not panel.editing


def test_tab_shift_tab_and_arrows_move_the_focus_in_form_order() -> None:
    panel = ConfigPanel(level("03-lost-notes"))
    order = [f.key for f in panel.editor.fields()]
    assert panel.focused_key == order[0]
    press(panel, pygame.K_TAB)
    assert panel.focused_key == order[1]
    press(panel, pygame.K_DOWN)
    assert panel.focused_key == order[2]
    press(panel, pygame.K_TAB, mod=pygame.KMOD_SHIFT)
    assert panel.focused_key == order[1]
    press(panel, pygame.K_UP, pygame.K_UP)
    assert panel.focused_key == order[-1]  # wraps around


def test_a_slider_steps_the_retries_and_below_its_minimum_unsets_them() -> None:
    panel = ConfigPanel(level("03-lost-notes"))
    focus(panel, ATTEMPTS)
    press(panel, pygame.K_RIGHT, pygame.K_RIGHT)
    assert panel.resources()[1]["spec"]["http"][0]["retries"] == {"attempts": 2}
    press(panel, pygame.K_LEFT, pygame.K_LEFT, pygame.K_LEFT)
    assert panel.resources()[1]["spec"]["http"][0] == {"timeout": "4s", "route": [{"destination": {"host": "dana"}}]}
    assert panel.editor.field(ATTEMPTS).display() == "(not set)"
    press(panel, pygame.K_END)
    assert panel.resources()[1]["spec"]["http"][0]["retries"]["attempts"] == 10


def test_an_invalid_duration_is_explained_under_its_field_and_the_rules_stay() -> None:
    lost_notes = level("03-lost-notes")
    panel = ConfigPanel(lost_notes, lost_notes.solution)  # attempts 2: a per-try timeout means something
    before = panel.resources()
    focus(panel, PER_TRY)
    press(panel, pygame.K_RETURN)
    assert panel.editing
    assert press(panel, pygame.K_SPACE, pygame.K_r) == [True, True]  # typing: every key is the field's
    press(panel, pygame.K_HOME, *[pygame.K_DELETE] * 12)
    type_text(panel, "soon")
    press(panel, pygame.K_RETURN)
    assert not panel.editing
    assert panel.error is not None and "'soon' is not a duration" in panel.error
    assert panel.resources() == before and panel.version == 0

    surface = draw(panel)
    row = panel.field_rect(PER_TRY)
    assert row is not None
    under = pygame.Rect(PANEL_RECT.x, row.bottom, PANEL_RECT.width, 40)
    assert pixels_near(surface, under, theme.BAD, tol=40) > 30  # the message, in place
    label = pygame.Rect(row.x, row.y, row.width // 2, row.height)
    assert pixels_near(surface, label, theme.BAD, tol=40) > 10  # the label turns red too

    press(panel, pygame.K_RETURN, pygame.K_HOME, *[pygame.K_DELETE] * 10)
    type_text(panel, "1s")
    press(panel, pygame.K_RETURN)
    assert panel.error is None
    assert panel.resources()[1]["spec"]["http"][0]["retries"]["perTryTimeout"] == "1s"
    surface = draw(panel)
    row = panel.field_rect(PER_TRY)
    assert row is not None
    under = pygame.Rect(PANEL_RECT.x, row.bottom, PANEL_RECT.width, 40)
    assert pixels_near(surface, under, theme.BAD, tol=40) == 0


def test_escape_while_typing_puts_the_text_back() -> None:
    panel = ConfigPanel(level("03-lost-notes"))
    focus(panel, "VirtualService/dana/spec.http[0].timeout")
    press(panel, pygame.K_RETURN)
    type_text(panel, "0")
    assert press(panel, pygame.K_ESCAPE) == [True]  # the field's, not the game's
    assert not panel.editing and panel.error is None and panel.version == 0
    assert panel.resources()[1]["spec"]["http"][0]["timeout"] == "4s"


def test_a_toggle_adds_outlier_detection_and_its_fields_and_keeps_the_focus() -> None:
    panel = ConfigPanel(level("04-stubborn-student"))
    toggle = "DestinationRule/fay/spec.trafficPolicy.outlierDetection"
    focus(panel, toggle)
    count = len(panel.editor.fields())
    press(panel, pygame.K_RETURN)
    assert panel.focused_key == toggle
    assert len(panel.editor.fields()) == count + 4
    assert panel.resources()[-1]["spec"]["trafficPolicy"]["outlierDetection"]["consecutive5xxErrors"] == 5
    press(panel, pygame.K_DOWN, pygame.K_LEFT, pygame.K_LEFT)
    assert panel.resources()[-1]["spec"]["trafficPolicy"]["outlierDetection"]["consecutive5xxErrors"] == 3


def test_the_focused_field_is_framed_in_the_accent_colour() -> None:
    panel = ConfigPanel(level("10-class-rules"))
    surface = draw(panel)
    keys = [f.key for f in panel.editor.fields()]
    focused, other = panel.field_rect(keys[0]), panel.field_rect(keys[1])
    assert focused is not None and other is not None
    assert pixels_near(surface, focused, theme.ACCENT, tol=10) > 50
    assert pixels_near(surface, other, theme.ACCENT, tol=10) == 0


def test_the_form_scrolls_to_keep_the_focused_field_in_view() -> None:
    panel = ConfigPanel(level("04-stubborn-student"))
    for toggle in ("outlierDetection", "retryBudget"):
        focus(panel, f"DestinationRule/fay/spec.trafficPolicy.{toggle}")
        press(panel, pygame.K_RETURN)
    small = pygame.Rect(0, 0, 380, 260)
    press(panel, pygame.K_TAB)
    for _ in range(len(panel.editor.fields())):
        draw(panel, rect=small)
        row = panel.field_rect(panel.focused_key or "")
        assert row is not None and small.contains(row), panel.focused_key
        press(panel, pygame.K_TAB)


def test_the_panel_scales_with_the_window() -> None:
    panel = ConfigPanel(level("03-lost-notes"))
    draw(panel, (1280, 720), pygame.Rect(880, 300, 380, 400), 1.0)
    small = panel.field_rect(ATTEMPTS)
    draw(panel, (3840, 2160), pygame.Rect(2640, 900, 1140, 1200), 3.0)
    big = panel.field_rect(ATTEMPTS)
    assert small is not None and big is not None
    assert 2.5 <= big.height / small.height <= 3.5


# --------------------------------------------------------------------------- the YAML face


def goto(panel: ConfigPanel, words: str) -> None:
    """Put the YAML editor's cursor at the end of the first line holding ``words``."""
    lines = panel.editor.yaml_text().split("\n")
    row = next(i for i, line in enumerate(lines) if words in line)
    press(panel, *[pygame.K_UP] * len(lines), *[pygame.K_DOWN] * row, pygame.K_END)


def test_f2_and_y_open_the_yaml_and_esc_comes_back() -> None:
    panel = ConfigPanel(level("03-lost-notes"))
    press(panel, pygame.K_F2)
    assert panel.mode == YAML and panel.editing
    press(panel, pygame.K_ESCAPE)
    assert panel.mode == FORM and not panel.editing
    press(panel, pygame.K_y)
    assert panel.mode == YAML
    press(panel, pygame.K_F2)
    assert panel.mode == FORM


def test_a_yaml_edit_becomes_the_rules_and_the_form_follows() -> None:
    lv = level("05-absent-friend")
    panel = ConfigPanel(lv)
    press(panel, pygame.K_F2)
    goto(panel, "timeout: 1s")
    press(panel, pygame.K_BACKSPACE, pygame.K_BACKSPACE)
    assert panel.error is not None  # "timeout: " is not a duration: shown, not adopted
    type_text(panel, "6s")
    assert panel.error is None
    assert panel.resources()[1]["spec"]["http"][0]["timeout"] == "6s"
    press(panel, pygame.K_ESCAPE)
    assert panel.editor.field("VirtualService/dana/spec.http[0].timeout").value == "6s"


def test_invalid_yaml_highlights_its_line_and_keeps_the_last_valid_rules() -> None:
    panel = ConfigPanel(level("03-lost-notes"))
    before = panel.resources()
    press(panel, pygame.K_F2)
    surface = draw(panel)
    assert pixels_near(surface, PANEL_RECT, ERROR_BACK, tol=4) == 0
    goto(panel, "kind: VirtualService")
    type_text(panel, "x")
    assert panel.yaml_error is not None
    wanted = panel.editor.yaml_text().split("\n").index("kind: VirtualService") + 1
    assert panel.yaml_error.line == wanted
    assert panel.error is not None and f"line {wanted}:" in panel.error and "VirtualServicex" in panel.error
    assert panel.resources() == before
    surface = draw(panel)
    assert pixels_near(surface, PANEL_RECT, ERROR_BACK, tol=4) > 200  # the line, highlighted
    lower = pygame.Rect(PANEL_RECT.x, PANEL_RECT.bottom - 70, PANEL_RECT.width, 70)
    assert pixels_near(surface, lower, theme.BAD, tol=40) > 30  # and the message under the editor
    press(panel, pygame.K_BACKSPACE)
    assert panel.error is None and panel.resources() == before


def test_leaving_invalid_yaml_keeps_it_for_later() -> None:
    panel = ConfigPanel(level("03-lost-notes"))
    press(panel, pygame.K_F2)
    goto(panel, "hosts: [dana]")
    type_text(panel, "]")
    press(panel, pygame.K_ESCAPE)
    assert panel.mode == FORM and panel.version == 0
    press(panel, pygame.K_F2)
    assert panel.yaml_error is not None  # the text the player was fixing is still there


# --------------------------------------------------------------------------- widgets on their own


def test_text_editor_keeps_indent_on_enter_and_joins_lines_on_backspace() -> None:
    changes: list[str] = []
    editor = TextEditor("spec:\n  hosts: [dana]", changes.append)
    for k in (pygame.K_DOWN, pygame.K_END, pygame.K_RETURN):
        editor.handle(key(k))
    editor.handle(pygame.event.Event(pygame.TEXTINPUT, text="http: []"))
    assert editor.text == "spec:\n  hosts: [dana]\n  http: []"
    for k in (pygame.K_HOME, pygame.K_BACKSPACE):
        editor.handle(key(k))
    assert editor.text == "spec:\n  hosts: [dana]  http: []"
    assert changes[-1] == editor.text


def test_text_field_edits_where_the_cursor_is() -> None:
    committed: list[str] = []
    field = TextField("4s", committed.append)
    assert not field.handle(key(pygame.K_LEFT))  # not editing: arrows are the panel's
    field.handle(key(pygame.K_RETURN))
    for k in (pygame.K_LEFT, pygame.K_BACKSPACE):
        field.handle(key(k))
    field.handle(pygame.event.Event(pygame.TEXTINPUT, text="1"))
    field.handle(key(pygame.K_RETURN))
    assert committed == ["1s"]
