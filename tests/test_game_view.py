"""The classroom and the HUD as drawn (SDL's dummy driver): pixels at the places the view names."""

from __future__ import annotations

import os

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")

import pygame  # noqa: E402
import pytest  # noqa: E402
from test_game_model import PEER_AUTH, T0, ev, row_header, sent  # noqa: E402

from classroom.game.model.classmodel import ClassModel  # noqa: E402
from classroom.game.ui import theme  # noqa: E402
from classroom.game.ui.chart import draw_histogram, nice_ticks, x_range  # noqa: E402
from classroom.game.ui.hud import draw_hud  # noqa: E402
from classroom.game.ui.view import AISLE_UP, BUBBLE, ClassroomView, envelope  # noqa: E402

SIZE = (1280, 720)


@pytest.fixture(autouse=True)
def _pygame() -> None:
    # Initialised once and never quit: fonts.font() caches Font objects, which die with pygame.quit().
    pygame.init()


def drawn(model: ClassModel, size: tuple[int, int] = SIZE) -> tuple[pygame.Surface, ClassroomView]:
    surface = pygame.Surface(size)
    surface.fill(theme.BACKGROUND)
    view = ClassroomView(model)
    view.draw(surface, surface.get_rect(), theme.scale_for(size[1]))
    return surface, view


def count(surface: pygame.Surface, rect: pygame.Rect, colour: theme.Colour) -> int:
    """Pixels of exactly ``colour`` inside ``rect``."""
    rect = rect.clip(surface.get_rect())
    return sum(1 for x in range(rect.left, rect.right) for y in range(rect.top, rect.bottom)
               if surface.get_at((x, y))[:3] == colour)


def test_desks_show_their_state() -> None:
    model = ClassModel.from_header(row_header())
    model.apply(ev("student_left", 0.0, hand="cara"))
    surface, view = drawn(model)
    ben, cara = view.seat_rect("ben"), view.seat_rect("cara")
    assert count(surface, ben, theme.DESK) > ben.w * ben.h // 2
    assert count(surface, cara, theme.DESK) == 0
    assert count(surface, cara, theme.DESK_ABSENT) > cara.w * cara.h // 2
    model.apply(ev("student_back", 1.0, hand="cara"))
    view.draw(surface, surface.get_rect(), 1.0)  # the same view notices the change
    assert count(surface, cara, theme.DESK) > cara.w * cara.h // 2


def test_each_note_state_is_drawn_in_its_own_colour_on_its_way() -> None:
    model = ClassModel.from_header(row_header())
    model.apply(sent("n1", 0.0))
    model.apply(sent("n2", 0.0, frm="dev", to="alice"))
    model.apply(ev("dropped", 0.5, note="n2", hand="cara", attempt=1, what="note"))
    model.tick(T0 + 0.5)
    surface, view = drawn(model)
    n1, n2 = model.notes["n1"], model.notes["n2"]
    x1, y1 = view.note_center(n1)
    a, b = view.desk_center("alice"), view.desk_center("ben")
    assert a[0] < x1 < b[0]  # between the desks it is passing between
    box = pygame.Rect(0, 0, 30, 24)
    box.center = (x1, y1)
    assert count(surface, box, theme.NOTE_COLOURS["in_flight"]) > 20
    box.center = view.note_center(n2)
    assert count(surface, box, theme.NOTE_COLOURS["dropped"]) > 20
    assert count(surface, box, theme.NOTE_COLOURS["in_flight"]) == 0


def test_lock_badges_tell_mtls_from_plaintext() -> None:
    model = ClassModel(row_header(), resources=[PEER_AUTH])
    model.apply(ev("link_up", 0.0, hand="alice", peer="ben", tls="TLSv1.3"))
    model.apply(ev("link_up", 0.0, hand="cara", peer="dev", tls=None))
    surface, view = drawn(model)

    def lock_body(a: str, b: str) -> tuple[int, int, int]:
        """The pixel in the middle of the padlock's body, which sits just below the aisle's midpoint."""
        (ax, ay), (bx, by) = view.desk_center(a), view.desk_center(b)
        return tuple(surface.get_at(((ax + bx) // 2, (ay + by) // 2 + 4)))[:3]

    assert lock_body("alice", "ben") == AISLE_UP["mtls"]  # a filled padlock
    assert lock_body("cara", "dev") == theme.PANEL  # an outline, open, on the badge's dark backdrop


def test_the_teacher_says_what_she_read() -> None:
    model = ClassModel.from_header(row_header())
    model.apply(ev("teacher_moved", 0.0, at=[1.0, 2.0], watching=[["ben", "cara"]]))
    surface, view = drawn(model)
    assert count(surface, surface.get_rect(), BUBBLE) == 0
    model.apply(ev("teacher_read", 0.1, note="n1", link=["ben", "cara"], text="Lunch at the fountain?"))
    view.draw(surface, surface.get_rect(), 1.0)
    x, y = view.seat_point(1.0, 2.0)
    above = pygame.Rect(0, 0, 500, 200)
    above.midbottom = (round(x), round(y))
    assert count(surface, above, BUBBLE) > 2000


def test_the_room_scales_with_the_window() -> None:
    model = ClassModel.from_header(row_header())
    _, small = drawn(model, (1280, 720))
    _, large = drawn(model, (3840, 2160))
    assert large.seat_rect("ben").w == pytest.approx(3 * small.seat_rect("ben").w, abs=2)


def test_the_hud_marks_met_and_unmet_objectives() -> None:
    model = ClassModel.from_header(row_header())
    model.apply(sent("n1", 0.0))
    model.apply(ev("teacher_read", 0.5, note="n1", link=["alice", "ben"], text="hi"))
    model.apply(ev("result", 3.0, note="n1", **{"from": "alice"}, to="dev", state="delivered", latency=3.0))
    surface = pygame.Surface(SIZE)
    hud = pygame.Rect(980, 0, 300, 720)
    draw_hud(surface, hud, model, 1.0)
    top = pygame.Rect(hud.x, 0, 40, 160)  # the marks column beside the objectives
    assert count(surface, top, theme.GOOD) > 0  # every note delivered
    assert count(surface, top, theme.ORANGE) > 0  # but the teacher read one: off track...
    assert count(surface, top, theme.BAD) == 0
    model.apply(ev("round_end", 4.0, events=3))
    draw_hud(surface, hud, model, 1.0)
    assert count(surface, top, theme.BAD) > 0 and count(surface, top, theme.ORANGE) == 0  # ...then missed


def test_four_objectives_and_the_numbers_fit_the_hud_at_1280x720() -> None:
    header = row_header()
    header["objectives"] = [{"metric": "delivered_ratio", "op": ">=", "value": 0.9},
                            {"metric": "teacher_read", "op": "==", "value": 0},
                            {"metric": "impersonations_accepted", "op": "==", "value": 0},
                            {"metric": "ledger_ok", "op": "==", "value": True}]
    model = ClassModel.from_header(header)
    model.apply(sent("n1", 0.0))
    model.apply(ev("result", 3.0, note="n1", **{"from": "alice"}, to="dev", state="delivered", latency=3.0))
    surface = pygame.Surface(SIZE)
    surface.fill(theme.BACKGROUND)
    hud = pygame.Rect(890, 54, 380, 350)  # the play scene's HUD at 1280x720
    draw_hud(surface, hud, model, 1.0, show_legend=False)
    assert len(model.objectives()) == 4
    # Everything, the success bar last, is drawn inside the HUD: nothing spills below it.
    below = pygame.Rect(hud.x, hud.bottom, hud.w, 40)
    assert count(surface, below, theme.GOOD) == 0 and count(surface, below, theme.TEXT) == 0
    assert count(surface, hud, theme.GOOD) > 2000  # the success bar (350 x 10 px) made it in


def test_the_histogram_draws_bars_only_when_there_are_latencies() -> None:
    surface = pygame.Surface((600, 260))
    draw_histogram(surface, surface.get_rect(), [], 1.0)
    assert count(surface, surface.get_rect(), theme.SKY_BLUE) == 0
    draw_histogram(surface, surface.get_rect(), [100.0, 120.0, 125.0, 130.0, 400.0], 1.0)
    assert count(surface, surface.get_rect(), theme.SKY_BLUE) > 500


@pytest.mark.parametrize("latencies", [
    [1212.0, 1215.0, 1222.0, 1230.0, 1246.0, 1248.0] * 3,  # a tight bunch: p50 and p99 markers close
    [100.0, 120.0, 125.0, 130.0, 400.0],
    [5.0] * 40,  # every note alike
    [float(x) for x in range(1, 2000, 7)],
])
@pytest.mark.parametrize("size", [(600, 460), (1200, 900)])
def test_no_histogram_label_overlaps_another_or_a_bar(latencies: list[float], size: tuple[int, int]) -> None:
    surface = pygame.Surface(size)
    scale = size[1] / 460
    at = draw_histogram(surface, surface.get_rect(), latencies, scale)
    labels = at.labels
    assert len(labels) >= 8  # title, key, y ticks, x ticks, axis titles, the two tags
    for i, a in enumerate(labels):
        assert surface.get_rect().contains(a)
        assert not a.colliderect(at.plot), ("a label on the bars", a)
        for b in labels[i + 1:]:
            assert not a.colliderect(b), ("two labels overlap", a, b)


def test_the_histogram_says_no_note_arrived_and_its_range_is_never_drawn_as_wide() -> None:
    low, high = x_range([1212.0, 1216.0])
    assert high - low >= 0.1 * 1216  # a 4 ms spread is a close bunch, not the whole width
    assert nice_ticks(0, 7, 4) == [0, 2, 4, 6] and nice_ticks(1100, 1350, 5) == [1100, 1200, 1300]
    surface = pygame.Surface((600, 460))
    at = draw_histogram(surface, surface.get_rect(), [], 1.0)
    assert count(surface, surface.get_rect(), theme.SKY_BLUE) == 0 and len(at.labels) == 2


def _silhouette(state: str, w: int = 26, h: int = 18) -> set[tuple[int, int]]:
    sprite = envelope(theme.NOTE_SHAPES[state], theme.NOTE_COLOURS[state], w, h)
    mask = pygame.mask.from_surface(sprite)
    return {(x, y) for x in range(w) for y in range(h) if mask.get_at((x, y))}


def test_envelope_states_are_told_apart_without_colour() -> None:
    # A colour-blind player tells dropped from refused (and each state from in flight) by shape alone.
    for a, b in [("dropped", "refused"), ("in_flight", "delivered"), ("in_flight", "retrying"),
                 ("refused", "confiscated"), ("dropped", "confiscated"), ("in_flight", "dropped")]:
        assert _silhouette(a) != _silhouette(b), (a, b)
    # Refused and failed share a cross; their colours differ in lightness, not only in hue.
    def lightness(c: theme.Colour) -> float:
        return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]

    assert abs(lightness(theme.NOTE_COLOURS["failed"]) - lightness(theme.NOTE_COLOURS["refused"])) > 40
