"""``classroom run LEVEL``: one round of a level, in the terminal (CI) or in a window."""

from __future__ import annotations

import argparse
import hashlib
import json
import socket
import time
from pathlib import Path
from typing import Any

from classroom.cli.common import EXIT_FAILED, EXIT_OK, Command, bad_input, has_display, port, script_and_recorder, speed


def arguments(run: argparse.ArgumentParser) -> None:
    run.add_argument("level", help="a level file, or a level's name")
    run.add_argument("--headless", action="store_true",
                     help="no window, even with a display: progress and summary in the terminal "
                          "(without a display a round is always headless)")
    config = run.add_mutually_exclusive_group()
    config.add_argument("--solution", action="store_true", help="use the level's own solution")
    config.add_argument("--config", metavar="FILE", help="your mesh configuration (YAML resources)")
    run.add_argument("--seed", type=int, help="seed of the round's random choices")
    run.add_argument("--speed", type=speed, default=1.0, help="scale every time of the level")
    run.add_argument("--report", metavar="FILE", help="write the run report (JSON)")
    run.add_argument("--junit", metavar="FILE", help="write JUnit XML: a testcase per objective, the ledger "
                                                     "and the configuration")
    run.add_argument("--ca-dir", metavar="DIR", help="plug in a class CA (ca.crt, ca.key)")
    run.add_argument("--quiet", action="store_true", help="no progress line")
    run.add_argument("--record", metavar="FILE", help="write every event of the round to FILE (JSON Lines)")
    run.add_argument("--metrics-port", type=port, metavar="N",
                     help="serve Prometheus metrics on http://127.0.0.1:N/metrics while the round runs")
    run.add_argument("--script", metavar="FILE",
                     help="play a lecture script on the round (pauses, live rule pushes, leave/back, cuts)")
    run.add_argument("--serve", action="store_true",
                     help="print the office's events port, for `classroom tap|stat|top --connect`")


def resources_for(args: argparse.Namespace) -> tuple[Any, tuple[dict[str, Any], ...]] | int:
    """The level and the configuration a command asked for; an exit code on bad input."""
    from classroom.level import LevelError, load_config, load_level

    try:
        level = load_level(args.level)
        if getattr(args, "config", None):
            return level, load_config(args.config, level)
        if getattr(args, "solution", False):
            if level.solution is None:
                return bad_input(f"{level.path}: level {level.name} has no solution")
            return level, level.solution
        return level, level.resources
    except LevelError as exc:
        return bad_input(str(exc))
    except OSError as exc:
        return bad_input(f"{exc.filename}: {exc.strerror}")


def run(args: argparse.Namespace) -> int:
    chosen = resources_for(args)
    if isinstance(chosen, int):
        if args.junit:
            _junit_of_a_bad_config(args)
        return chosen
    level, resources = chosen
    if args.ca_dir and not (Path(args.ca_dir) / "ca.crt").is_file():
        return bad_input(f"{args.ca_dir}: no ca.crt there (--ca-dir wants ca.crt and ca.key)")
    if args.metrics_port is not None:
        problem = _port_in_use(args.metrics_port)
        if problem:
            return bad_input(f"--metrics-port {args.metrics_port}: {problem}")
    seed = level.seed if args.seed is None else args.seed
    if not args.headless and has_display():
        return _in_a_window(level, resources, seed, args)
    chosen_run = script_and_recorder(args, level, seed)
    if isinstance(chosen_run, int):
        return chosen_run
    script, recorder = chosen_run
    from classroom.headless import run_headless

    started = time.monotonic()
    report = run_headless(level, resources, seed, args.speed, quiet=args.quiet, ca_dir=args.ca_dir,
                          record=recorder, metrics_port=args.metrics_port, serve=args.serve, script=script)
    if args.junit:
        _junit(args, level, report, seed, time.monotonic() - started,
               round_problem=None if report is not None else "the round could not run")
    if report is None:
        return EXIT_FAILED
    if args.report:
        Path(args.report).write_text(json.dumps(report, indent=2) + "\n")
    return EXIT_OK if report["passed"] else EXIT_FAILED


def _junit(args: argparse.Namespace, level: Any, report: dict[str, Any] | None, seed: int, seconds: float,
           **problems: str | None) -> None:
    """Write ``--junit``: the round's testsuite (see :mod:`classroom.grade.junit`)."""
    from classroom import __version__
    from classroom.grade import junit

    config = args.config or ("solution" if args.solution else "the level's own")
    properties = [("speed", f"{args.speed:g}"), ("config", config), ("classroom_version", __version__),
                  ("level_sha256", hashlib.sha256(Path(level.path).read_bytes()).hexdigest())]
    tree = junit.round_suites(level, report, seed, seconds=seconds, properties=properties, **problems)
    try:
        junit.write(tree, args.junit)
    except OSError as exc:
        bad_input(f"{args.junit}: cannot write it: {exc.strerror or exc}")


def _junit_of_a_bad_config(args: argparse.Namespace) -> None:
    """``--junit`` for a configuration that does not load: ``configuration loads`` fails at its line."""
    from classroom.level import LevelError, load_config, load_level

    try:
        level = load_level(args.level)
    except (LevelError, OSError):
        return  # no level, no testsuite to name after it: the one line said why
    try:
        if args.config:
            load_config(args.config, level)
        problem = f"{level.path}: level {level.name} has no solution"
    except LevelError as exc:
        problem = str(exc)
    except OSError as exc:
        problem = f"{exc.filename}: {exc.strerror}"
    _junit(args, level, None, level.seed if args.seed is None else args.seed, 0.0, config_problem=problem)


def _in_a_window(level: Any, resources: tuple[dict[str, Any], ...], seed: int, args: argparse.Namespace) -> int:
    """The round played in the game's window, with this configuration; the exit code by its objectives."""
    for option in ("report", "junit", "record", "metrics_port", "serve", "ca_dir", "script"):
        if getattr(args, option):
            flag = "--" + option.replace("_", "-")
            return bad_input(f"{flag} goes with --headless (the window keeps its own recording)")
    from classroom.cli.play import prepare_display
    from classroom.game.ui.app import Options, play
    from classroom.level import list_levels

    prepare_display(off_screen_ok=True)
    return play(list_levels(), level, Options(seed=seed, speed=args.speed), autoplay=True, resources=resources)


def _port_in_use(number: int) -> str | None:
    """Why the office could not serve metrics on 127.0.0.1:number, or None."""
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", number))
        except OSError as exc:
            return f"cannot listen on 127.0.0.1:{number}: {exc.strerror or exc}"
    return None


COMMANDS = [Command("run", "run a level's round (in a window if there is a display; --headless in CI)",
                    arguments, run)]
