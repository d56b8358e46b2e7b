"""The results of a round: the verdict, the stars, each objective, the numbers and a latency histogram.

Stars (see :func:`classroom.game.model.progress.stars_for`): three when every
objective is met and the ledger is sound, two when one objective is missed,
one when at least one is met.  The best stars of each level are saved, and a
pass opens the next level.
"""

from __future__ import annotations

from typing import Any

import pygame

from classroom.game.model.session import Session
from classroom.game.ui import theme
from classroom.game.ui.chart import draw_histogram
from classroom.game.ui.fonts import scaled
from classroom.game.ui.scenes.base import Host, Scene, register
from classroom.game.ui.scenes.common import Menu, key_hints, stars, text, wrap
from classroom.level import Level
from classroom.mesh.outcomes import explain
from classroom.objectives import goal_words, metric

NEXT, RETRY, REPLAY, LEVELS = "Next level", "Retry", "Replay", "Levels"


@register("results")
class ResultsScene(Scene):
    def __init__(self, app: Host, level: Level, session: Session,
                 resources: tuple[dict[str, Any], ...]) -> None:
        super().__init__(app)
        assert session.report is not None
        self.level = level
        self.session = session
        self.report: dict[str, Any] = session.report
        self.resources = resources
        self.stars, self.new_best, self.save_problem = app.record_result(level, self.report)
        self.latencies = session.latencies()
        self.next_level = app.next_level(level) if self.report["passed"] else None
        labels = ([NEXT] if self.next_level is not None else []) + [RETRY, REPLAY, LEVELS]
        self.menu = Menu(labels, horizontal=True)
        self.hint: tuple[int, str] | None = None  # (number, words) of the hint shown
        if not self.passed:
            self.next_hint()

    def next_hint(self) -> None:
        """Show the level's next hint (a failed round offers one; H another, up to the last)."""
        hints = self.level.hints
        if not hints:
            return
        shown = self.app.hints_shown.get(self.level.name, 0)
        index = min(shown, len(hints) - 1)
        self.app.hints_shown[self.level.name] = index + 1
        self.hint = (index + 1, hints[index])

    def why(self) -> list[str]:
        """Why the round failed, in words: the objectives missed, then where and how notes failed."""
        lines = []
        for objective in self.report["objectives"]:
            if not objective["passed"]:
                m = metric(objective["metric"])
                lines.append(f"Missed: {goal_words(objective['metric'], objective['op'], objective['target'])}"
                             f" (it was {m.format(objective['value'])})")
        lines += [f"Failed: {line}" for line in explain(self.report.get("failed_at") or {})]
        return lines

    @property
    def passed(self) -> bool:
        return bool(self.report["passed"])

    def handle(self, event: pygame.event.Event) -> None:
        event = self.menu.as_key(event)  # a click on a button is Enter on it
        if event.type != pygame.KEYDOWN or self.menu.handle(event):
            return
        if event.key in (pygame.K_RETURN, pygame.K_KP_ENTER, pygame.K_SPACE):
            self.choose(self.menu.choice)
        elif event.key == pygame.K_r:
            self.choose(RETRY)
        elif event.key == pygame.K_h:
            self.next_hint()
        elif event.key == pygame.K_ESCAPE:
            self.choose(LEVELS)

    def choose(self, choice: str) -> None:
        if choice == NEXT and self.next_level is not None:
            self.app.switch("lesson", level=self.next_level)
        elif choice == RETRY:
            self.app.switch("play", level=self.level, resources=self.resources)
        elif choice == REPLAY:
            self.app.switch("replay", path=self.session.recording_path, back=self)
        elif choice == LEVELS:
            self.app.switch("levels", selected=self.level.name)

    def draw(self, surface: pygame.Surface) -> None:
        width, height = surface.get_size()
        scale = theme.scale_for(height)
        surface.fill(theme.BACKGROUND)
        margin = 28 * scale
        head = text(surface, f"Results · {self.level.title}", scaled("bold", 28, scale), theme.TEXT,
                    (margin, margin))
        verdict = "Passed: every objective met" if self.passed else "Not yet: some objectives missed"
        said = text(surface, verdict, scaled("bold", 22, scale), theme.GOOD if self.passed else theme.ORANGE,
                    (margin, head.bottom + 12 * scale))
        radius = 22 * scale
        stars(surface, said.right + 30 * scale, said.centery, self.stars, radius, scale)
        note = "a new best!" if self.new_best and self.stars else ""
        if self.save_problem:
            note = self.save_problem
        if note:
            text(surface, note, scaled("sans", 15, scale), theme.TEXT_DIM,
                 (said.right + 30 * scale + 3 * radius * 2.3 + 12 * scale, said.centery), "midleft")
        top = said.bottom + 24 * scale
        column = (width - 3 * margin) / 2
        left = pygame.Rect(round(margin), round(top), round(column), 0)
        bottom = self._draw_objectives(surface, left, scale)
        bottom = self._draw_numbers(surface, pygame.Rect(left.left, round(bottom + 18 * scale), left.width, 0),
                                    scale)
        if not self.passed:
            self._draw_why(surface, pygame.Rect(left.left, round(bottom + 14 * scale), left.width,
                                                round(height - 110 * scale - bottom - 14 * scale)), scale)
        chart = pygame.Rect(round(2 * margin + column), round(top), round(column),
                            round(height - top - 110 * scale))
        draw_histogram(surface, chart, self.latencies, scale)
        self.menu.draw(surface, (margin, height - 30 * scale - 62 * scale), scale, size=18)
        keys = [("←→", "choose"), ("Enter", "select"), ("R", "retry"), ("Esc", "levels")]
        if self.hint is not None and self.hint[0] < len(self.level.hints):
            keys.insert(3, ("H", "next hint"))
        key_hints(surface, keys, scale)

    def _draw_objectives(self, surface: pygame.Surface, rect: pygame.Rect, scale: float) -> float:
        """Each objective with a check or a cross (shape and colour); the y below the list."""
        label, body = scaled("bold", 17, scale), scaled("sans", 16, scale)
        y = text(surface, "Objectives", label, theme.TEXT, rect.topleft).bottom + 6 * scale
        for objective in self.report["objectives"]:
            row = pygame.Rect(rect.left, round(y), rect.width, round(body.get_linesize() + 10 * scale))
            pygame.draw.rect(surface, theme.PANEL, row, border_radius=round(5 * scale))
            mark = pygame.Rect(0, 0, round(16 * scale), round(16 * scale))
            mark.midleft = (row.left + round(10 * scale), row.centery)
            draw_mark(surface, mark, bool(objective["passed"]), scale)
            words = goal_words(objective["metric"], objective["op"], objective["target"])
            text(surface, words, body, theme.TEXT, (mark.right + 10 * scale, row.centery), "midleft")
            value = metric(objective["metric"]).format(objective["value"])
            text(surface, value, scaled("bold", 16, scale), theme.GOOD if objective["passed"] else theme.BAD,
                 (row.right - 12 * scale, row.centery), "midright")
            y = row.bottom + 6 * scale
        if not self.report.get("ledger_ok", True):
            y = text(surface, f"Not {metric('ledger_ok').words}: some note did not end exactly once.", body,
                     theme.BAD, (rect.left, y)).bottom
        return y

    def _draw_why(self, surface: pygame.Surface, rect: pygame.Rect, scale: float) -> None:
        """Why the round failed, in words, and the level's next hint."""
        body = scaled("sans", 14, scale)
        y = text(surface, "Why", scaled("bold", 17, scale), theme.TEXT, rect.topleft).bottom + 4 * scale
        lines = [(line, theme.TEXT) for reason in self.why() for line in wrap(reason, body, rect.width)]
        if self.hint is not None:
            number, words = self.hint
            hint = f"Hint {number} of {len(self.level.hints)}: {words}"
            lines += [("", theme.TEXT)] + [(line, theme.YELLOW) for line in wrap(hint, body, rect.width)]
        for line, colour in lines:
            if y + body.get_linesize() > rect.bottom:
                break
            text(surface, line, body, colour, (rect.left, y))
            y += body.get_linesize()

    def _draw_numbers(self, surface: pygame.Surface, rect: pygame.Rect, scale: float) -> float:
        notes, latency = self.report["notes"], self.report["latency_ms"]
        sent = notes["sent"]
        rate = f"{notes['delivered'] / sent * 100:.0f}%" if sent else "–"
        arrived = notes["delivered"] > 0  # with none, there is no delivery time to give
        cells = [("sent", str(sent)), ("delivered", str(notes["delivered"])),
                 ("failed", str(notes["failed"])), ("success", rate),
                 ("retries", str(self.report["retries"])),
                 ("p50", f"{latency['p50']:.0f} ms" if arrived else "no note arrived"),
                 ("p99", f"{latency['p99']:.0f} ms" if arrived else "no note arrived")]
        name_font, value_font = scaled("sans", 13, scale), scaled("bold", 18, scale)
        cell_w = rect.width / 4
        for i, (name, value) in enumerate(cells):
            x = rect.left + (i % 4) * cell_w
            y = rect.top + (i // 4) * (name_font.get_linesize() + value_font.get_linesize() + 10 * scale)
            text(surface, name, name_font, theme.TEXT_DIM, (x, y))
            text(surface, value, value_font if arrived or name not in ("p50", "p99") else name_font, theme.TEXT,
                 (x, y + name_font.get_linesize()))
        rows = (len(cells) + 3) // 4
        return rect.top + rows * (name_font.get_linesize() + value_font.get_linesize() + 10 * scale)


def draw_mark(surface: pygame.Surface, rect: pygame.Rect, met: bool, scale: float) -> None:
    """A check in a green circle, or a cross in a vermillion square: shape and colour both."""
    width = max(2, round(2.5 * scale))
    if met:
        pygame.draw.circle(surface, theme.GOOD, rect.center, rect.width // 2 + round(2 * scale))
        points = [(rect.left + rect.width * 0.2, rect.top + rect.height * 0.55),
                  (rect.left + rect.width * 0.42, rect.top + rect.height * 0.78),
                  (rect.left + rect.width * 0.82, rect.top + rect.height * 0.25)]
        pygame.draw.lines(surface, theme.TEXT, False, points, width)
    else:
        pygame.draw.rect(surface, theme.BAD, rect.inflate(round(4 * scale), round(4 * scale)),
                         border_radius=round(3 * scale))
        inset = rect.inflate(round(-6 * scale), round(-6 * scale))
        pygame.draw.line(surface, theme.TEXT, inset.topleft, inset.bottomright, width)
        pygame.draw.line(surface, theme.TEXT, inset.topright, inset.bottomleft, width)
