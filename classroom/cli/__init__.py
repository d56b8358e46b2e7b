"""The ``classroom`` command: one module per command, put under one parser here.

Bad input (a level or config that does not load, an unknown or misspelt
option) gets one line naming what and where, and exit code 2, never a
traceback.  ``run`` exits 0 when every objective is met and 1 when one is
not; see :mod:`classroom.cli.common`.
"""

from __future__ import annotations

import os
import sys

from classroom import __version__
from classroom.cli import analyze, check, compare, grade, host, levels, play, run, teach, viz
from classroom.cli.common import EXIT_BAD_INPUT, EXIT_OK, Command, Parser

# In the order `classroom --help` lists them.
COMMANDS: list[Command] = [*run.COMMANDS, *levels.COMMANDS, *play.COMMANDS, *teach.COMMANDS, *viz.COMMANDS,
                           *analyze.COMMANDS, *compare.COMMANDS, *check.COMMANDS, *grade.COMMANDS,
                           *host.COMMANDS]


def build_parser() -> tuple[Parser, dict[str, Parser]]:
    parser = Parser(prog="classroom", description="Classroom Mesh: learn a service mesh by passing notes in class.")
    parser.add_argument("--version", action="version", version=f"classroom {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    parsers: dict[str, Parser] = {}
    for command in COMMANDS:
        one: Parser = sub.add_parser(command.name, help=command.help, description=command.help)
        command.arguments(one)
        one.set_defaults(handler=command.run)
        parsers[command.name] = one
    return parser, parsers


def main(argv: list[str] | None = None) -> int:
    parser, parsers = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # an option the command does not have: say so with the command's own help
        parsers[args.command].error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        return int(args.handler(args))
    except KeyboardInterrupt:
        print("classroom: interrupted; every process of the round was stopped", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `classroom tap ... | head`: the reader has seen enough
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    return EXIT_BAD_INPUT


def entry() -> None:  # pragma: no cover
    sys.exit(main())
