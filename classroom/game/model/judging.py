"""The objectives judged while the round runs, without costing the window a frame.

Theory of operation
-------------------
The HUD shows each objective as the report's own code judges it
(:func:`classroom.report.build_report`) over the events so far, less the
sending of notes still in flight: a note on its way is neither a failure nor a
success yet, so a running round is judged on the notes that have settled;
once the round is over, on all of them.  The model keeps its events that way
(a stand-in the report skips holds the place of each note's sending until its
result comes), so a judgement needs no pass of its own over them.

A report reads every event of the round, so its cost grows with the round:
tens of milliseconds for a few thousand events, hundreds for a hundred
thousand.  A :class:`Judge` therefore

* judges at most every :data:`JUDGE_SECONDS` of the events' time, and
* in the window (``background=True``) judges in a thread of its own, over a
  snapshot of the events, so that no frame waits for a report (the rows
  appear at the next frame after the judgement is done), and never sooner
  after the last judgement than :data:`COST_FACTOR` times what that one cost
  (so judging takes at most a tenth of the time however big the round).
  Tests and scripts judge synchronously, when they ask.

No pygame here.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Any

from classroom.game.model.classstate import ObjectiveRow
from classroom.level import Level
from classroom.objectives import metric as objective_metric
from classroom.report import build_report

JUDGE_SECONDS = 0.5  # events' time between two judgements of the objectives
COST_FACTOR = 10.0  # wall time between two judgements, at least, in units of the last one's cost
_BAD = (KeyError, TypeError, ValueError, AttributeError, IndexError, ZeroDivisionError)


def judge(level: Level, seed: int, speed: float, events: list[dict[str, Any]], over: bool,
          settled: bool = True) -> tuple[list[ObjectiveRow], list[bool]] | None:
    """The objectives' rows over ``events`` (of a round ``over`` or still running, in which notes
    have ``settled`` or not yet); None when no report could be made of them even without the events
    it cannot read.  The sending of a note still in flight is left out of ``events`` by the model.

    With the rows comes, for each, whether it is short of a goal it may still reach (a count or a
    share below an ``>=`` or ``==`` goal while the round runs): not yet, rather than off track."""
    try:
        report = build_report(level, seed, events, [], speed)
    except _BAD:
        try:  # an event the report cannot read: leave such events out, judge the rest
            report = build_report(level, seed, [e for e in events if _reportable(level, e)], [], speed)
        except _BAD:
            return None
    rows: list[ObjectiveRow] = []
    short: list[bool] = []
    for verdict in report["objectives"]:
        metric = objective_metric(str(verdict["metric"]))
        value = None if verdict["value"] is None else float(verdict["value"])
        target = f"{verdict['op']} {metric.format(float(verdict['target']))}"
        met: bool | None = bool(verdict["passed"]) if settled or over else None
        rows.append((metric.words, metric.format(value), target, met))
        below = value is not None and value < float(verdict["target"]) and verdict["op"] in (">=", "==")
        short.append(bool(not over and met is False and below))
    return rows, short


def _reportable(level: Level, event: dict[str, Any]) -> bool:
    try:
        build_report(level, 0, [event], [])
    except _BAD:
        return False
    return True


class Judge:
    """Judges a model's objectives when due (see the module docstring)."""

    def __init__(self, level: Level, seed: int, speed: float, background: bool = False,
                 wall: Callable[[], float] = time.perf_counter) -> None:
        self.level, self.seed, self.speed = level, seed, speed
        self.background = background
        self.wall = wall
        self.rows: list[ObjectiveRow] = []
        self.short: list[bool] = []  # per row: short of a goal it may still reach (see judge)
        self._at = -math.inf  # events' time of the last judgement
        self._count = -1  # events it judged
        self._over = False
        self._next_wall = -math.inf
        self._worker: threading.Thread | None = None
        self._done: tuple[list[ObjectiveRow], list[bool]] | None = None

    def rows_for(self, events: list[dict[str, Any]], now: float, over: bool, settled: bool = True
                 ) -> list[ObjectiveRow]:
        """The rows to show now; starts a judgement of ``events`` when one is due."""
        if self._done is not None:
            (self.rows, self.short), self._done = self._done, None
        stale = len(events) != self._count or over != self._over
        first = self._count < 0 or (over and not self._over)
        # In the window, also not sooner than its cost allows; a test or a script judges when it asks.
        affordable = not self.background or self.wall() >= self._next_wall
        due = first or (stale and now - self._at >= JUDGE_SECONDS and affordable)
        if not due or (self._worker is not None and self._worker.is_alive()):
            return self.rows
        self._at, self._count, self._over = now, len(events), over
        snapshot = events[:]  # the model appends as events arrive; a judgement reads what it was given
        if self.background and not first:
            self._worker = threading.Thread(target=self._run, args=(snapshot, over, settled), daemon=True,
                                            name="judge-objectives")
            self._worker.start()
        else:
            self._run(snapshot, over, settled)
            if self._done is not None:
                (self.rows, self.short), self._done = self._done, None
        return self.rows

    def _run(self, events: list[dict[str, Any]], over: bool, settled: bool) -> None:
        start = self.wall()
        judged = judge(self.level, self.seed, self.speed, events, over, settled)
        end = self.wall()
        self._next_wall = end + COST_FACTOR * (end - start)
        if judged is not None:
            self._done = judged
