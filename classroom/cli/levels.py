"""``classroom levels``: the campaign, chapter by chapter (a chapter is a mesh), and what each level teaches."""

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
    from classroom.mesh.control.profiles import PROFILES

    table = Table("level", "title", "mesh", "teaches")
    chapters = {name: [lv for lv in levels if lv.profile == name] for name in PROFILES}
    for name, chapter in chapters.items():
        for level in chapter:
            status = PROFILES[name].status
            retired = f" ({status})" if status else ""
            table.add_row(level.name, level.title, PROFILES[name].title + retired, ", ".join(level.concepts))
        if chapter:
            table.add_section()
    Console().print(table)
    return EXIT_OK


COMMANDS = [Command("levels", "list the levels and what each teaches", lambda parser: None, run)]
