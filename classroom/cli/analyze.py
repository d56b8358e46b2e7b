"""``classroom analyze CONFIG... [--level LEVEL] [--solution] [-o text|json] [--failure-threshold LEVEL]``.

As ``istioctl analyze``: one line per message (``Error [IST0101] (VirtualService
first-note/dana FILE:LINE) ...``), or a JSON list with ``-o json``; "✔ No
validation issues found" on stderr when there are none.  The exit code is
istioctl's: 0 when no message is at or above the failure threshold (Error
unless told), 79 ("analyzers found issues") when one is, and 2 on bad input
(a file that is missing, unreadable or not YAML, a level that does not load),
with one line.  With ``--level`` the config is merged into the level's
editable kinds, as ``run --config`` merges it, and names are checked against
its students; ``--level`` without a CONFIG analyzes the level's own
resources, or its solution with ``--solution``.
"""

from __future__ import annotations

import argparse
import json
import sys

from classroom.cli.common import EXIT_OK, Command, bad_input

EXIT_FOUND_ISSUES = 79  # istioctl's ExitAnalyzerFoundIssues, for CI
THRESHOLDS = {"info": "Info", "warning": "Warning", "error": "Error"}


def threshold(text: str) -> str:
    try:
        return THRESHOLDS[text.lower()]
    except KeyError:
        raise argparse.ArgumentTypeError(f"--failure-threshold is Info, Warning or Error, got {text!r}") from None


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", nargs="*", metavar="CONFIG", help="files of resources, as --config files hold")
    parser.add_argument("--level", metavar="LEVEL", help="the class (a level file or name) the rules are for")
    parser.add_argument("--solution", action="store_true", help="with --level and no CONFIG: its solution")
    parser.add_argument("-o", "--output", choices=("text", "json"), default="text", help="text (default) or json")
    parser.add_argument("--failure-threshold", type=threshold, default="Error", metavar="LEVEL",
                        help="the level at which a message makes the exit code 79: Info, Warning or Error "
                             "(default Error)")


def run(args: argparse.Namespace) -> int:
    from classroom.analyze import analyze, analyze_config, read_config
    from classroom.level import LevelError, load_level

    if not args.config and not args.level:
        return bad_input("analyze needs a CONFIG file, or --level LEVEL (see `classroom analyze --help`)")
    if args.solution and (args.config or not args.level):
        return bad_input("--solution goes with --level and no CONFIG: it analyzes the level's own solution")
    try:
        level = load_level(args.level) if args.level else None
        resources, sources = [], []
        for path in args.config:
            found = read_config(path)
            resources += found
            sources += [path] * len(found)
    except LevelError as exc:
        return bad_input(str(exc))
    if level is not None and not args.config:
        if args.solution and level.solution is None:
            return bad_input(f"{level.path}: level {level.name} has no solution")
        own = level.solution if args.solution else level.resources
        messages = analyze(list(own or ()), level, sources=level.path)
        targets = [level.path]
    elif level is not None:
        messages = analyze_config(resources, level, sources=sources)
        targets = list(args.config)
    else:
        messages = analyze(resources, sources=sources)
        targets = list(args.config)
    if args.output == "json":
        print(json.dumps([m.to_json() for m in messages], indent=2, ensure_ascii=False))
    else:
        for message in messages:
            print(message)
    if not messages:
        if len(targets) > 1:
            print("\u2714 No validation issues found when analyzing:\n  - " + "\n  - ".join(targets), file=sys.stderr)
        else:
            print(f"\u2714 No validation issues found when analyzing {targets[0]}.", file=sys.stderr)
    if any(m.at_least(args.failure_threshold) for m in messages):
        return EXIT_FOUND_ISSUES
    return EXIT_OK


COMMANDS = [Command("analyze", "lint a configuration like `istioctl analyze` (IST codes where one fits)",
                    arguments, run)]
