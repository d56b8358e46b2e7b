"""What every command of ``classroom`` shares: the parser, its value types, exit codes, bad input.

Theory of operation
-------------------
Each command lives in a module of its own in this package and describes
itself as a :class:`Command` (its name, its help line, the options it adds,
the function that runs it); :mod:`classroom.cli` puts them under one parser.
A command module is imported only when its command runs (a ``run`` never
loads pygame, a ``play`` never loads the grader).

Bad input gets one line naming what and where, and exit code 2, never a
traceback: an unknown option or a misspelt one (options are never
abbreviated: ``--sol`` is not ``--solution``), a value out of range, a file
that does not load.  The line points to the command's own ``--help``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors that point to this (sub)command's help, and no abbreviations."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"classroom: error: {message} (see `{self.prog} --help`)\n")


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


def bad_input(message: str) -> int:
    print(f"classroom: error: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT


def script_and_recorder(args: argparse.Namespace, level: Any, seed: int) -> tuple[tuple[Any, ...], Any] | int:
    """What ``--script`` and ``--record`` ask of a round (``run`` and ``host`` take both): the lecture's
    steps and the recorder, or the exit code of one clear line when either is bad."""
    script: tuple[Any, ...] = ()
    if getattr(args, "script", None):
        from classroom.level import LevelError
        from classroom.level.script import load_script

        try:
            script = load_script(args.script, level)
        except LevelError as exc:
            return bad_input(str(exc))
    recorder = None
    if getattr(args, "record", None):
        from classroom.telemetry.recorder import Recorder, header

        try:
            recorder = Recorder(args.record, header(level, seed, args.speed))
        except OSError as exc:
            return bad_input(f"{args.record}: cannot write the recording: {exc.strerror or exc}")
    return script, recorder


def has_display() -> bool:
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


# --- value types ---------------------------------------------------------------------------------


def speed(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--speed wants a number, got {text!r}") from None
    if not 0.01 <= value <= 1000:
        raise argparse.ArgumentTypeError(f"--speed must be between 0.01 and 1000, got {value}")
    return value


def port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"wants a port number, got {text!r}") from None
    if not 0 < value < 65536:
        raise argparse.ArgumentTypeError(f"a port is between 1 and 65535, got {value}")
    return value


def seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"wants a number of seconds, got {text!r}") from None
    if not 0 < value <= 86400:
        raise argparse.ArgumentTypeError(f"must be between 0 and 86400 seconds, got {value:g}")
    return value


def window_size(text: str) -> tuple[int, int]:
    width, _, height = text.lower().partition("x")
    try:
        size = int(width), int(height)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--size wants WIDTHxHEIGHT, e.g. 1920x1080, got {text!r}") from None
    if not (640 <= size[0] <= 7680 and 360 <= size[1] <= 4320):
        raise argparse.ArgumentTypeError(f"--size must be between 640x360 and 7680x4320, got {text}")
    return size


def format_seconds(value: float) -> str:
    """Seconds for people: ``0.866 s``, ``12.4 s``, ``3 min 20 s``."""
    if value < 10:
        return f"{value:.3f} s"
    if value < 120:
        return f"{value:.1f} s"
    minutes, secs = divmod(round(value), 60)
    return f"{minutes} min {secs} s"
