"""A grading run's plan: the course (levels, points, seeds, speed), the submissions, the rounds, the grade.

Theory of operation
-------------------
:class:`Course` is what every submission is graded against: the levels in
order, their points (:mod:`.points`), the visible seeds of each level (its
own ``seed``, then the next ones: what a student sees with ``classroom
run``), the hidden seeds (drawn fresh per grading run by the caller, the
same for every level and every submission, so the grade is fair and can be
reproduced), and the speed the rounds run at.

A submission is a folder with one configuration per level, named
``<level-name>.yaml`` (or ``.yml``).  :func:`plan` looks at each folder and
each level: a missing file or one that does not load (its ``FILE:LINE``) is
settled at once, with no round; the others become one
:class:`~.runner.RoundJob` per seed.  Files no level is named by are noted.
:func:`grade` turns the rounds' outcomes into the :class:`~.result.Grade`.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from classroom.grade.points import Points
from classroom.grade.result import (
    Deduction,
    Grade,
    LevelGrade,
    LevelInfo,
    SubmissionGrade,
    judged,
    unjudged,
)
from classroom.grade.runner import RoundJob, RoundOutcome, expected_length
from classroom.level import Level, LevelError, load_config
from classroom.objectives import goal_words

SUFFIXES = (".yaml", ".yml")
HIDDEN_SEED_RANGE = (100_000, 1_000_000)  # six digits: never a level's own seed, easy to read back


def draw_hidden_seeds(count: int) -> tuple[int, ...]:
    """``count`` different seeds, fresh from the operating system's randomness."""
    low, high = HIDDEN_SEED_RANGE
    drawn: list[int] = []
    while len(drawn) < count:
        seed = low + secrets.randbelow(high - low)
        if seed not in drawn:
            drawn.append(seed)
    return tuple(drawn)


def file_sha256(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@dataclass(frozen=True)
class Course:
    levels: tuple[Level, ...]
    points: Points
    seeds: int = 1  # visible seeds per level
    hidden_seeds: tuple[int, ...] = ()
    speed: float = 1.0

    def visible(self, level: Level) -> tuple[int, ...]:
        return tuple(level.seed + i for i in range(self.seeds))

    def seeds_of(self, level: Level) -> list[tuple[int, bool]]:
        """Every seed ``level`` is judged on, with whether it is hidden."""
        return [(s, False) for s in self.visible(level)] + [(s, True) for s in self.hidden_seeds]

    def info(self) -> list[LevelInfo]:
        return [LevelInfo(lv.name, lv.title, lv.path, file_sha256(lv.path), self.visible(lv)) for lv in self.levels]


@dataclass
class Submission:
    name: str
    path: str
    configs: dict[str, str | None]  # level name -> its configuration file, or None
    notes: list[str] = field(default_factory=list)


def find_submission(folder: str, course: Course, known_levels: Sequence[str],
                    ignore: Sequence[str] = ()) -> Submission:
    """The configurations in ``folder`` for the course's levels; raises OSError when it is no folder.

    ``ignore`` names files that are not configurations although they may sit there (the points file
    of a student's repository).
    """
    path = Path(folder)
    if not path.exists():
        raise FileNotFoundError(f"{folder}: no such submission folder")
    if not path.is_dir():
        raise NotADirectoryError(f"{folder}: a submission is a folder of configurations, this is a file")
    skip = {Path(p).resolve() for p in ignore}
    files = sorted(p for p in path.iterdir() if p.suffix in SUFFIXES and p.is_file() and p.resolve() not in skip)
    graded = {level.name for level in course.levels}
    configs: dict[str, str | None] = {level.name: None for level in course.levels}
    notes = []
    for file in files:
        if file.stem in graded:
            if configs[file.stem] is not None:
                notes.append(f"{file}: two configurations for {file.stem}; graded {configs[file.stem]}")
                continue
            configs[file.stem] = str(file)
        elif file.stem not in known_levels:
            notes.append(f"{file}: no level is named {file.stem!r}, so this file is not graded "
                         f"(a configuration is named <level-name>.yaml)")
    return Submission(path.resolve().name or str(path), str(path), configs, notes)


@dataclass
class Plan:
    """What a grading run does: the rounds to run, and the levels settled without one."""

    jobs: list[RoundJob]
    problems: dict[tuple[int, str], str]  # (submission index, level) -> why it scores 0 without a round
    deductions: dict[tuple[int, str], list[Deduction]]


def plan(course: Course, submissions: Sequence[Submission]) -> Plan:
    jobs: list[RoundJob] = []
    problems: dict[tuple[int, str], str] = {}
    deductions: dict[tuple[int, str], list[Deduction]] = {}
    for i, submission in enumerate(submissions):
        for level in course.levels:
            config = submission.configs.get(level.name)
            if config is None:
                problems[i, level.name] = f"no configuration for {level.name} (write {level.name}.yaml)"
                continue
            try:
                load_config(config, level)
            except LevelError as exc:
                problems[i, level.name] = str(exc)
                continue
            if course.points.analyze:
                deductions[i, level.name] = _deductions(config, level, course.points)
            weight = expected_length(level) / course.speed
            for seed, hidden in course.seeds_of(level):
                jobs.append(RoundJob((i, level.name, seed, hidden), level.path, config, seed, course.speed, weight))
    return Plan(jobs, problems, deductions)


def _deductions(config: str, level: Level, points: Points) -> list[Deduction]:
    from classroom.analyze import analyze_config, read_config

    out = []
    for message in analyze_config(read_config(config), level, sources=config):
        cost = points.cost(message.level)
        if cost > 0:
            out.append(Deduction(str(message), message.level, cost))
    return out


def grade(course: Course, submissions: Sequence[Submission], the_plan: Plan, outcomes: Sequence[RoundOutcome],
          version: str) -> Grade:
    """The grade of every submission, from the plan and its rounds' outcomes."""
    by_key = {outcome.key: outcome for outcome in outcomes}
    graded = []
    for i, submission in enumerate(submissions):
        levels = []
        for level in course.levels:
            points = course.points.for_level(level).objectives
            seeds = course.seeds_of(level)
            config = submission.configs.get(level.name)
            problem = the_plan.problems.get((i, level.name))
            entry = LevelGrade(level.name, level.title, config, file_sha256(config) if config else None, problem,
                               [], sum(points), level.hints[0] if level.hints else None,
                               the_plan.deductions.get((i, level.name), []))
            words = [(goal_words(o.metric, o.op, o.value), o.metric) for o in level.objectives]
            if problem is not None:
                entry.checks = unjudged(words, points, seeds, len(seeds), problem)
            else:
                for seed, hidden in seeds:
                    outcome = by_key[(i, level.name, seed, hidden)]
                    entry.seconds += outcome.seconds
                    if outcome.report is None:
                        entry.checks += unjudged(words, points, [(seed, hidden)], len(seeds),
                                                 outcome.error or "the round could not run")
                    else:
                        entry.checks += judged(outcome.report["objectives"], outcome.report, points, seed, hidden,
                                               len(seeds))
            levels.append(entry)
        graded.append(SubmissionGrade(submission.name, submission.path, levels, list(submission.notes)))
    return Grade(version, course.speed, course.info(), course.hidden_seeds, graded, course.points.path)
