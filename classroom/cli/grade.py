"""``classroom grade SUBMISSION...``: every submission's configurations run on every level, scored.

A submission is a folder holding ``<level-name>.yaml`` per level.  Every
level runs with that configuration over ``--seeds`` of its own seeds and
``--hidden-seeds`` drawn fresh (printed, and written to every output, with
the options that grade again exactly), at a speed whose verdicts match
speed 1's.  Exit 0 when every submission was graded, whatever the scores;
2 on bad input (a submission folder that does not exist, a points file
that names an unknown level or objective), with one line each.  A
configuration that does not load scores 0 for its level; the run goes on.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from classroom.cli.common import EXIT_BAD_INPUT, EXIT_OK, Command, bad_input, format_seconds, speed
from classroom.grade.speed import GRADING_SPEED

if TYPE_CHECKING:
    from rich.console import Console

    from classroom.grade.course import Course, Submission
    from classroom.grade.result import Grade
    from classroom.grade.runner import RoundJob, RoundOutcome


def count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"wants a whole number, got {text!r}") from None
    if not 0 <= value <= 100:
        raise argparse.ArgumentTypeError(f"must be between 0 and 100, got {value}")
    return value


def jobs(text: str) -> int:
    value = count(text)
    if value < 1:
        raise argparse.ArgumentTypeError("--jobs is at least 1")
    return value


def seed_values(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"wants seeds separated by commas (12345,67890), got {text!r}") from None
    if not values or any(v < 0 for v in values) or len(set(values)) != len(values):
        raise argparse.ArgumentTypeError(f"wants different seeds, 0 or more, separated by commas, got {text!r}")
    return values


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("submission", nargs="+", metavar="SUBMISSION",
                        help="a folder holding <level-name>.yaml for each level")
    parser.add_argument("--levels", metavar="L,...", help="the levels to grade (default: the points file's, "
                                                          "else every level)")
    parser.add_argument("--seeds", type=count, default=1, metavar="N",
                        help="visible seeds per level: its own seed and the next ones (default 1)")
    parser.add_argument("--hidden-seeds", type=count, default=0, metavar="N",
                        help="seeds drawn fresh for this grading run, the same for every level (default 0)")
    parser.add_argument("--hidden-seed-values", type=seed_values, metavar="S,...",
                        help="these hidden seeds instead of fresh ones (to grade again exactly)")
    parser.add_argument("--jobs", type=jobs, default=os.cpu_count() or 1, metavar="J",
                        help="rounds side by side (default: the machine's cores)")
    parser.add_argument("--points", metavar="FILE", help="points per level and objective, and analyze's cost")
    parser.add_argument("--speed", type=speed, default=GRADING_SPEED,
                        help=f"how fast room time runs (default {GRADING_SPEED:g}: verdicts as at speed 1)")
    parser.add_argument("--junit", metavar="FILE", help="write JUnit XML: a testsuite per submission and level")
    parser.add_argument("--gradescope", metavar="FILE", help="write Gradescope's results.json")
    parser.add_argument("--csv", metavar="FILE", help="write a row per submission, a column per level")
    parser.add_argument("--feedback", metavar="DIR", help="write DIR/<submission>.md for each submission")
    parser.add_argument("--report", metavar="FILE", help="write the whole grade as JSON")
    parser.add_argument("--log", metavar="FILE", help="write what the rounds' processes say (access logs, "
                                                       "errors) to FILE (default: nowhere)")
    parser.add_argument("--quiet", action="store_true", help="no progress line")


def run(args: argparse.Namespace) -> int:
    from classroom import __version__
    from classroom.grade.course import Course, draw_hidden_seeds, find_submission
    from classroom.grade.points import Points, load_points
    from classroom.level import LevelError, list_levels

    try:
        every = list_levels()
        points = load_points(args.points, every) if args.points else Points()
    except LevelError as exc:
        return bad_input(str(exc))
    by_name = {level.name: level for level in every}
    names = [n.strip() for n in args.levels.split(",") if n.strip()] if args.levels else list(points.levels or by_name)
    unknown = [n for n in names if n not in by_name]
    if unknown or not names:
        return bad_input(f"--levels: unknown level {unknown[0]!r}; the levels are {', '.join(by_name)}" if unknown
                         else "--levels names no level")
    if args.seeds == 0 and args.hidden_seeds == 0 and not args.hidden_seed_values:
        return bad_input("no seed to grade on: give --seeds or --hidden-seeds at least 1")
    hidden = args.hidden_seed_values or draw_hidden_seeds(args.hidden_seeds)
    course = Course(tuple(by_name[n] for n in dict.fromkeys(names)), points, args.seeds, hidden, args.speed)

    code = EXIT_OK
    submissions = []
    for folder in args.submission:
        try:
            submissions.append(find_submission(folder, course, list(by_name), [args.points] if args.points else []))
        except OSError as exc:
            code = bad_input(str(exc))
    seen: dict[str, str] = {}
    for s in submissions:
        if s.name in seen:
            return bad_input(f"two submissions are named {s.name} ({seen[s.name]}, {s.path}): "
                             "each output names a submission by its folder's name")
        seen[s.name] = s.path
    if not submissions:
        return EXIT_BAD_INPUT
    written = _grade(course, submissions, args, __version__)
    return code if written == EXIT_OK else written


def _grade(course: Course, submissions: Sequence[Submission], args: argparse.Namespace, version: str) -> int:
    from rich.console import Console

    from classroom.grade.course import grade, plan
    from classroom.grade.runner import run_confirmed

    err = Console(stderr=True, highlight=False, soft_wrap=True)
    the_plan = plan(course, submissions)
    seeds = course.seeds + len(course.hidden_seeds)
    err.print(f"grading {len(submissions)} submission{'s' if len(submissions) != 1 else ''} on "
              f"{len(course.levels)} levels × {seeds} seeds: {len(the_plan.jobs)} rounds at speed "
              f"{course.speed:g}, {min(args.jobs, max(len(the_plan.jobs), 1))} at a time; hidden seeds: "
              f"{', '.join(str(s) for s in course.hidden_seeds) or 'none'}")
    started = time.monotonic()
    try:
        log = open(args.log, "a") if args.log else None  # noqa: SIM115 (closed below)
    except OSError as exc:
        return bad_input(f"{args.log}: cannot write the log: {exc.strerror or exc}")
    try:
        outcomes = _run(the_plan.jobs, args, err, functools.partial(run_confirmed, log=log or subprocess.DEVNULL))
    finally:
        if log is not None:
            log.close()
    result = grade(course, submissions, the_plan, outcomes, version)
    again = sum(1 for outcome in outcomes if outcome.confirmed)
    err.print(f"graded in {format_seconds(time.monotonic() - started)}" + (
        f"; {again} round{'s' if again != 1 else ''} that missed something at speed {course.speed:g} "
        f"ran again at speed 1, and {'their' if again != 1 else 'its'} verdicts stand" if again else ""))
    return _write(result, args, err)


def _run(jobs_: list[RoundJob], args: argparse.Namespace, err: Console,
         runner: Callable[..., list[RoundOutcome]]) -> list[RoundOutcome]:
    if args.quiet or not jobs_:
        return runner(jobs_, args.jobs)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("rounds"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err, transient=True) as progress:
        task = progress.add_task("rounds", total=len(jobs_))

        def confirming(count: int) -> None:  # a miss runs again at speed 1: a round more
            progress.update(task, total=(progress.tasks[0].total or 0) + count)

        return runner(jobs_, args.jobs, lambda outcome: progress.advance(task), confirming)


def _write(result: Grade, args: argparse.Namespace, err: Console) -> int:
    from rich.console import Console

    from classroom.grade import feedback, junit, outputs

    code = EXIT_OK
    writers: list[tuple[str | None, Callable[[str], Any]]] = [
        (args.junit, lambda path: junit.write(junit.grade_suites(result), path)),
        (args.gradescope, lambda path: Path(path).write_text(json.dumps(outputs.gradescope(result), indent=2,
                                                                        ensure_ascii=False) + "\n")),
        (args.csv, lambda path: Path(path).write_text(outputs.csv_text(result))),
        (args.report, lambda path: Path(path).write_text(json.dumps(result.to_json(), indent=2,
                                                                    ensure_ascii=False) + "\n")),
    ]
    for path, write in writers:
        if path:
            try:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
                write(path)
            except OSError as exc:
                code = bad_input(f"{path}: cannot write it: {exc.strerror or exc}")
    if args.feedback:
        try:
            folder = Path(args.feedback)
            folder.mkdir(parents=True, exist_ok=True)
            for submission in result.submissions:
                (folder / f"{submission.name}.md").write_text(feedback.feedback(result, submission))
        except OSError as exc:
            code = bad_input(f"{args.feedback}: cannot write the feedback there: {exc.strerror or exc}")
    out = Console(highlight=False, soft_wrap=True)
    out.print(outputs.summary(result))
    for line in outputs.seeds_lines(result):
        out.print(line)
    for submission in result.submissions:
        for note in submission.notes:
            err.print(f"[yellow]note[/]: {submission.name}: {note}")
        for lg in submission.levels:
            if lg.problem is not None and lg.config is not None:
                err.print(f"[yellow]not graded[/]: {submission.name}: {lg.problem}")
            elif lg.problem is None and any(not c.judged for c in lg.checks):
                err.print(f"[red]round failed[/]: {submission.name}: {lg.level}: "
                          f"{next(c.message for c in lg.checks if not c.judged)}")
    sys.stdout.flush()
    return code


COMMANDS = [Command("grade", "grade folders of configurations: every level, over seeds, with points "
                             "(JUnit, Gradescope, CSV)", arguments, run)]
