"""The points file: which levels a course grades, what each objective is worth, what analyze costs.

Theory of operation
-------------------
Without a points file every objective of every level is worth one point, and
``classroom analyze`` costs nothing.  A points file (YAML, read with lines,
so every fault is one ``FILE:LINE: message``) says otherwise::

    levels:                    # the levels graded, in this order (default: every level)
      first-note: 5            # the level's points, shared equally by its objectives
      lost-notes:
        points: 10             # the level's points, shared by its objectives' weights
        objectives:            # weights by metric (default 1 each)
          delivered_ratio: 3
          duplicates: 1
      retry-storm: {}          # one point per objective
    analyze:                   # points off a level per `classroom analyze` message about its configuration
      Error: 2
      Warning: 0.5

An objective's weight names its metric, so both of a level's objectives on
one metric (``split_v2_ratio >= 0.05`` and ``<= 0.2``) get it.  Without
``points`` a level's objectives are worth their weights; with it, the
weights are scaled to add up to it.  An objective's points are shared
equally by the seeds it is judged on, visible and hidden alike.  A level's
score never goes below zero, whatever analyze costs.

A points file is checked against the levels before any round runs: a level
or a metric the course does not have is refused at its line.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from classroom.level import Level, LevelError, line_of
from classroom.level.yamlines import _parse_documents, _read_text
from classroom.objectives import goal_words

ANALYZE_LEVELS = ("Error", "Warning", "Info")  # classroom analyze's, as its messages write them


@dataclass(frozen=True)
class LevelPoints:
    """What one level's objectives are worth: a number per objective, in the level's order."""

    objectives: tuple[float, ...]

    @property
    def total(self) -> float:
        return sum(self.objectives)


@dataclass(frozen=True)
class Points:
    """A course's points: the levels it grades (None: every level), weights, analyze's cost per message."""

    levels: tuple[str, ...] | None = None
    weights: Mapping[str, Mapping[str, float]] = field(default_factory=dict)  # level -> metric -> weight
    totals: Mapping[str, float] = field(default_factory=dict)  # level -> its points
    analyze: Mapping[str, float] = field(default_factory=dict)  # Error/Warning/Info -> points off
    path: str | None = None

    def for_level(self, level: Level) -> LevelPoints:
        weights = self.weights.get(level.name, {})
        raw = [float(weights.get(o.metric, 1.0)) for o in level.objectives]
        total = self.totals.get(level.name)
        if total is not None and sum(raw) > 0:
            raw = [total * w / sum(raw) for w in raw]
        return LevelPoints(tuple(raw))

    def cost(self, message_level: str) -> float:
        """Points off for one analyze message at ``message_level``."""
        return float(self.analyze.get(message_level, 0.0))

    def describe(self, level: Level) -> list[tuple[str, float]]:
        """Each objective of ``level`` in words, with its points."""
        return [(goal_words(o.metric, o.op, o.value), p)
                for o, p in zip(level.objectives, self.for_level(level).objectives, strict=True)]


def _number(path: str, node: Any, key: Any, what: str) -> float:
    value = node[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise LevelError(path, line_of(node, key, line_of(node)), f"{what} is a number of points, 0 or more, "
                                                                  f"not {value!r}")
    return float(value)


def load_points(path: str, levels: Sequence[Level]) -> Points:
    """The points file at ``path``, checked against ``levels`` (every level the course may grade)."""
    documents = [(doc, line) for doc, line, _ in _parse_documents(path, _read_text(path)) if doc is not None]
    if len(documents) != 1 or not isinstance(documents[0][0], dict):
        raise LevelError(path, documents[1][1] if len(documents) > 1 else 1,
                         "a points file is one YAML mapping with `levels:` and/or `analyze:`")
    doc, _ = documents[0]
    unknown = [key for key in doc if key not in ("levels", "analyze")]
    if unknown:
        raise LevelError(path, line_of(doc, unknown[0]), f"unknown key {unknown[0]!r}: a points file has "
                                                          f"`levels:` and `analyze:`")
    known = {level.name: level for level in levels}
    names: list[str] = []
    weights: dict[str, dict[str, float]] = {}
    totals: dict[str, float] = {}
    if "levels" in doc:
        entries = doc["levels"]
        if not isinstance(entries, dict) or not entries:
            raise LevelError(path, line_of(doc, "levels"), "levels: is a mapping of level names to their points")
        for name, entry in entries.items():
            at = line_of(entries, name)
            if name not in known:
                raise LevelError(path, at, f"unknown level {name!r}; the levels are {', '.join(known)}")
            names.append(name)
            if entry is None:
                continue
            if isinstance(entry, int | float) and not isinstance(entry, bool):
                totals[name] = _number(path, entries, name, f"levels.{name}")
                continue
            if not isinstance(entry, dict):
                raise LevelError(path, at, f"levels.{name} is a number of points, or a mapping with "
                                           f"points: and objectives:")
            for key in entry:
                if key not in ("points", "objectives"):
                    raise LevelError(path, line_of(entry, key), f"unknown key {key!r} in levels.{name}: "
                                                                "it may have points: and objectives:")
            if "points" in entry:
                totals[name] = _number(path, entry, "points", f"levels.{name}.points")
            weights[name] = _weights(path, entry.get("objectives"), entry, name, known[name])
    analyze: dict[str, float] = {}
    if "analyze" in doc:
        costs = doc["analyze"]
        if not isinstance(costs, dict):
            raise LevelError(path, line_of(doc, "analyze"), "analyze: maps Error, Warning and Info to the "
                                                            "points off per message")
        for key in costs:
            level_name = next((lv for lv in ANALYZE_LEVELS if lv.lower() == str(key).lower()), None)
            if level_name is None:
                raise LevelError(path, line_of(costs, key), f"unknown analyze level {key!r}: write Error, "
                                                            "Warning or Info")
            analyze[level_name] = _number(path, costs, key, f"analyze.{key}")
    return Points(tuple(names) if names else None, weights, totals, analyze, path)


def _weights(path: str, node: Any, entry: Any, name: str, level: Level) -> dict[str, float]:
    if node is None:
        return {}
    if not isinstance(node, dict):
        raise LevelError(path, line_of(entry, "objectives"), f"levels.{name}.objectives maps the level's "
                                                             "metrics to their weights")
    metrics = [o.metric for o in level.objectives]
    weights = {}
    for metric in node:
        if metric not in metrics:
            raise LevelError(path, line_of(node, metric), f"level {name} has no objective on {metric!r}; "
                                                          f"its objectives are on {', '.join(dict.fromkeys(metrics))}")
        weights[metric] = _number(path, node, metric, f"levels.{name}.objectives.{metric}")
    return weights
