"""The ``classroom`` command.

Bad input (a level or config that does not load, an unknown option) gets one
line naming what and where, and exit code 2, never a traceback.  ``run``
exits 0 when every objective is met and 1 when one is not.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, NoReturn

from classroom import __version__

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"classroom: error: {message} (see `{self.prog} --help`)\n")


def _bad_input(message: str) -> int:
    print(f"classroom: error: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT


def _speed(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--speed wants a number, got {text!r}") from None
    if not 0.01 <= value <= 1000:
        raise argparse.ArgumentTypeError(f"--speed must be between 0.01 and 1000, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="classroom", description="Classroom Mesh: learn a service mesh by passing notes in class."
    )
    parser.add_argument("--version", action="version", version=f"classroom {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = sub.add_parser("run", help="run a level's round (headless in CI)")
    run.add_argument("level", help="a level file, or a level's name")
    run.add_argument(
        "--headless", action="store_true", help="no window: progress and summary in the terminal"
    )
    config = run.add_mutually_exclusive_group()
    config.add_argument("--solution", action="store_true", help="use the level's own solution")
    config.add_argument("--config", metavar="FILE", help="your mesh configuration (YAML resources)")
    run.add_argument("--seed", type=int, help="seed of the round's random choices")
    run.add_argument("--speed", type=_speed, default=1.0, help="scale every time of the level")
    run.add_argument("--report", metavar="FILE", help="write the run report (JSON)")
    run.add_argument("--ca-dir", metavar="DIR", help="plug in a class CA (ca.crt, ca.key)")
    run.add_argument("--quiet", action="store_true", help="no progress line")

    sub.add_parser("levels", help="list the levels and what each teaches")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "run":
            return _run(args)
        if args.command == "levels":
            return _levels()
    except KeyboardInterrupt:
        print("classroom: interrupted; every process of the round was stopped", file=sys.stderr)
        return 130
    return EXIT_BAD_INPUT


def _levels() -> int:
    from rich.console import Console
    from rich.table import Table

    from classroom.level import LevelError, list_levels

    try:
        levels = list_levels()
    except LevelError as exc:
        return _bad_input(str(exc))
    table = Table("level", "title", "teaches")
    for level in levels:
        table.add_row(level.name, level.title, ", ".join(level.concepts))
    Console().print(table)
    return EXIT_OK


def _run(args: argparse.Namespace) -> int:
    from classroom.level import LevelError, load_config, load_level

    try:
        level = load_level(args.level)
        if args.config:
            resources = load_config(args.config, level)
        elif args.solution:
            if level.solution is None:
                return _bad_input(f"{level.path}: level {level.name} has no solution")
            resources = level.solution
        else:
            resources = level.resources
    except LevelError as exc:
        return _bad_input(str(exc))
    except OSError as exc:
        return _bad_input(f"{exc.filename}: {exc.strerror}")
    if args.ca_dir and not (Path(args.ca_dir) / "ca.crt").is_file():
        return _bad_input(f"{args.ca_dir}: no ca.crt there (--ca-dir wants ca.crt and ca.key)")
    if not args.headless and not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        args.headless = True
    from classroom.headless import run_headless

    seed = level.seed if args.seed is None else args.seed
    report = run_headless(level, resources, seed, args.speed, quiet=args.quiet, ca_dir=args.ca_dir)
    if report is None:
        return EXIT_FAILED
    if args.report:
        Path(args.report).write_text(json.dumps(report, indent=2) + "\n")
    return EXIT_OK if report["passed"] else EXIT_FAILED


def entry() -> Any:  # pragma: no cover
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
