"""``classroom levels``: the campaign, and what each level teaches."""

from __future__ import annotations

import argparse

from classroom.cli.common import EXIT_OK, Command, bad_input


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from classroom.level import LevelError, list_levels

    try:
        levels = list_levels()
    except LevelError as exc:
        return bad_input(str(exc))
    table = Table("level", "title", "teaches")
    for level in levels:
        table.add_row(level.name, level.title, ", ".join(level.concepts))
    Console().print(table)
    return EXIT_OK


COMMANDS = [Command("levels", "list the levels and what each teaches", lambda parser: None, run)]
