"""``classroom teach``: the game on a projector, the lecturer driving a real round live.

Every level is open, the lesson is narrated over the room (Page Up / Page Down), and Space
pauses the whole class for real: the round's shared clock stops in every process. With
``--script FILE`` a lecture script plays on the level's round, and its waits (a pause without
``for``, an ``ask``, a ``wait_key``) last until the lecturer presses Enter.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from classroom.cli.common import Command, bad_input, speed, window_size

PROJECTOR = (1920, 1080)


def arguments(teach: argparse.ArgumentParser) -> None:
    teach.add_argument("level", nargs="?", help="start at this level's lesson (a file or a name)")
    teach.add_argument("--script", metavar="FILE", help="a lecture script to play on the level's round")
    teach.add_argument("--record", metavar="FILE", help="also write each round's recording to FILE")
    teach.add_argument("--screen", type=window_size, default=PROJECTOR, metavar="WxH",
                       help=f"the window's size (default {PROJECTOR[0]}x{PROJECTOR[1]}, a projector)")
    teach.add_argument("--seed", type=int, help="seed of the rounds' random choices")
    teach.add_argument("--speed", type=speed, default=1.0, help="scale every time of the levels")


def run(args: argparse.Namespace) -> int:
    from classroom.cli.play import prepare_display
    from classroom.level import LevelError, list_levels, load_level
    from classroom.level.script import load_script

    try:
        levels = list_levels()
        level = load_level(args.level) if args.level else None
        if args.script and level is None:
            return bad_input("--script needs a LEVEL: a lecture script is written for one level")
        script = load_script(args.script, level) if args.script and level is not None else ()
    except LevelError as exc:
        return bad_input(str(exc))
    except OSError as exc:
        return bad_input(f"{exc.filename}: {exc.strerror}")
    if args.record:
        folder = Path(args.record).resolve().parent
        if not folder.is_dir():
            return bad_input(f"{args.record}: no folder {folder} to write the recording in")
    problem = prepare_display(off_screen_ok=False)
    if problem:
        return bad_input(problem)
    if level is not None and level.name not in {known.name for known in levels}:
        levels.append(level)
    from classroom.game.ui.app import Options, play

    options = Options(seed=args.seed, speed=args.speed, teacher=True, projector=True, script=script,
                      script_level=level.name if level is not None else "", record=args.record)
    return play(levels, level, options, size=args.screen)


COMMANDS = [Command("teach", "teacher mode for a projector: a real pause, lecture scripts, narration",
                    arguments, run)]
