"""The one result of a grading run, from which every output is written.

Theory of operation
-------------------
A :class:`Grade` holds, for each submission, a :class:`LevelGrade` per level
graded, and in it a :class:`Check` per objective × seed: its points, whether
it was met, and a sentence saying the value against the target and why
(``notes delivered 95% against ≥ 98%: 1 note at ben: no answer within the
per-try timeout (UT)``).  A level that could not be judged (no configuration,
one that does not load, a round that could not run) keeps its checks, each
missed with that reason, so that every submission has the same checks and
the same maximum.

The grade also names what reproduces it: the project's version, the speed,
each level's file hash and seeds, and the hidden seeds.  The JUnit,
Gradescope, CSV, Markdown and terminal outputs (:mod:`.outputs`,
:mod:`.feedback`) read this and nothing else; :meth:`Grade.to_json` is the
grade report.  Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from classroom.mesh.outcomes import explain
from classroom.objectives import SIGNS, YES_NO, goal_words, metric


def rounded(value: float) -> float:
    """Points as they are written: 4 decimals, no float noise (1/3 of a point is 0.3333)."""
    return round(value + 0.0, 4)


@dataclass(frozen=True)
class Check:
    """One objective judged on one seed."""

    objective: str  # in words: "notes delivered ≥ 98%"
    metric: str
    seed: int
    hidden: bool
    points: float  # what meeting it is worth
    passed: bool
    message: str  # the value against the target, and why in words; or why it was not judged
    value: float | None = None
    judged: bool = True  # False: no round judged it (no configuration, one that does not load, ...)
    speed: float | None = None  # the speed of the round that judged it (1 when a miss was confirmed there)

    @property
    def score(self) -> float:
        return self.points if self.passed else 0.0

    @property
    def seed_words(self) -> str:
        return f"hidden seed {self.seed}" if self.hidden else f"seed {self.seed}"

    @property
    def name(self) -> str:
        return f"{self.objective} ({self.seed_words})"

    def said(self, grading_speed: float) -> str:
        """Its message, saying so when the round that judged it ran at another speed than the grade's."""
        if self.speed is None or self.speed == grading_speed:
            return self.message
        return f"{self.message} (judged again at speed {self.speed:g})"


@dataclass(frozen=True)
class Deduction:
    """Points off a level for one ``classroom analyze`` message about its configuration."""

    message: str  # istioctl's line: "Warning [CLS0001] (VirtualService ... FILE:LINE) ..."
    level: str  # Error, Warning or Info
    points: float


@dataclass
class LevelGrade:
    level: str
    title: str
    config: str | None  # the configuration file graded, or None
    config_sha256: str | None
    problem: str | None  # no configuration / the FILE:LINE it does not load at / ...; None when judged
    checks: list[Check]
    max_points: float
    hint: str | None = None
    deductions: list[Deduction] = field(default_factory=list)
    seconds: float = 0.0  # real time its rounds took

    @property
    def earned(self) -> float:
        return sum(check.score for check in self.checks)

    @property
    def score(self) -> float:
        return rounded(max(0.0, self.earned - sum(d.points for d in self.deductions)))

    @property
    def complete(self) -> bool:
        return self.problem is None and all(check.passed for check in self.checks) and not self.deductions


@dataclass
class SubmissionGrade:
    name: str  # the folder's name
    path: str
    levels: list[LevelGrade]
    notes: list[str] = field(default_factory=list)  # files no level is named by, and the like

    @property
    def score(self) -> float:
        return rounded(sum(level.score for level in self.levels))

    @property
    def max_score(self) -> float:
        return rounded(sum(level.max_points for level in self.levels))


@dataclass(frozen=True)
class LevelInfo:
    name: str
    title: str
    file: str
    sha256: str
    seeds: tuple[int, ...]  # the visible ones


@dataclass
class Grade:
    version: str
    speed: float
    levels: list[LevelInfo]
    hidden_seeds: tuple[int, ...]
    submissions: list[SubmissionGrade]
    points_file: str | None = None

    def reproduce(self) -> str:
        """The options that grade again exactly what this grade graded."""
        words = f"--speed {self.speed:g} --levels {','.join(lv.name for lv in self.levels)}"
        seeds = {len(lv.seeds) for lv in self.levels}
        if seeds:
            words += f" --seeds {max(seeds)}"
        if self.hidden_seeds:
            words += f" --hidden-seed-values {','.join(str(s) for s in self.hidden_seeds)}"
        if self.points_file:
            words += f" --points {self.points_file}"
        return words

    def to_json(self) -> dict[str, Any]:
        return {
            "classroom_version": self.version,
            "speed": self.speed,
            "hidden_seeds": list(self.hidden_seeds),
            "points_file": self.points_file,
            "reproduce": self.reproduce(),
            "levels": [{**asdict(lv), "seeds": list(lv.seeds)} for lv in self.levels],
            "submissions": [{
                "name": s.name, "path": s.path, "score": s.score, "max_score": s.max_score, "notes": s.notes,
                "levels": [{
                    "level": lg.level, "config": lg.config, "config_sha256": lg.config_sha256,
                    "problem": lg.problem, "score": lg.score, "max_points": rounded(lg.max_points),
                    "seconds": round(lg.seconds, 3),
                    "deductions": [asdict(d) for d in lg.deductions],
                    "checks": [{**asdict(c), "points": rounded(c.points), "score": rounded(c.score)}
                               for c in lg.checks],
                } for lg in s.levels],
            } for s in self.submissions],
        }


def judged(objectives: list[dict[str, Any]], report: dict[str, Any], points: tuple[float, ...], seed: int,
           hidden: bool, share: int) -> list[Check]:
    """The checks of one round's report: each objective's verdict, with ``points / share`` at stake."""
    why = explain(report.get("failed_at", {}))
    if report.get("timed_out"):
        why.append(f"the time limit came with {report['notes']['in_flight']} notes still in flight")
    checks = []
    speed = report.get("speed")
    for o, worth in zip(objectives, points, strict=True):
        checks.append(Check(goal_words(o["metric"], o["op"], o["target"]), o["metric"], seed, hidden,
                            worth / share, bool(o["passed"]), verdict(o, why), o["value"], speed=speed))
    return checks


def verdict(objective: dict[str, Any], why: list[str]) -> str:
    """``notes delivered: 100% (≥ 98%)`` when met; ``notes delivered: 95%, wanted ≥ 98%; why ...`` when not."""
    known = metric(objective["metric"])
    target = f"{SIGNS.get(objective['op'], objective['op'])} {known.format(objective['target'])}"
    value = known.format(objective["value"])
    if objective["passed"]:
        return f"{known.words}: {value}" + ("" if known.unit == YES_NO else f" ({target})")
    text = f"{known.words}: {value}" + ("" if known.unit == YES_NO else f", wanted {target}")
    return text + (": " + "; ".join(why) if why else "")


def unjudged(objectives: list[tuple[str, str]], points: tuple[float, ...], seeds: list[tuple[int, bool]],
             share: int, reason: str) -> list[Check]:
    """Every check of a level that could not be judged, each missed with ``reason``."""
    return [Check(words, name, seed, hidden, worth / share, False, reason, judged=False)
            for seed, hidden in seeds for (words, name), worth in zip(objectives, points, strict=True)]
