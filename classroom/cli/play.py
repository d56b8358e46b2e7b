"""``classroom play [LEVEL]``: the game in a desktop window."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from classroom.cli.common import Command, bad_input, speed, window_size


def arguments(play: argparse.ArgumentParser) -> None:
    play.add_argument("level", nargs="?", help="start at this level's lesson (a file or a name)")
    play.add_argument("--autoplay", action="store_true",
                      help="play LEVEL with its solution, no input; exit 0 when its objectives are met")
    play.add_argument("--screenshot", metavar="DIR",
                      help="with --autoplay: save PNGs of the round mid-way and of the results in DIR")
    play.add_argument("--seed", type=int, help="seed of the rounds' random choices")
    play.add_argument("--speed", type=speed, default=1.0, help="scale every time of the levels")
    play.add_argument("--teacher", action="store_true",
                      help="teacher mode: every level open, the lesson narrated over the room")
    play.add_argument("--size", type=window_size, default=(1280, 720), metavar="WxH",
                      help="the window's starting size (default 1280x720; resizable)")
    play.add_argument("--replay", metavar="FILE",
                      help="open a recording (run --record, or the window's own) in the replay scene")


def prepare_display(off_screen_ok: bool) -> str | None:
    """Set SDL up for this machine; why there can be no window, or None."""
    if not any(os.environ.get(name) for name in ("DISPLAY", "WAYLAND_DISPLAY", "SDL_VIDEODRIVER")):
        if not off_screen_ok:
            return ("no display for the window (set DISPLAY; or `classroom run LEVEL --headless`, "
                    "or `classroom play LEVEL --autoplay` which draws off-screen)")
        os.environ["SDL_VIDEODRIVER"] = "dummy"  # autoplay draws off-screen on a machine with no screen
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    return None


def run(args: argparse.Namespace) -> int:
    from classroom.level import LevelError, list_levels, load_level

    try:
        levels = list_levels()
        level = load_level(args.level) if args.level else None
    except LevelError as exc:
        return bad_input(str(exc))
    except OSError as exc:
        return bad_input(f"{exc.filename}: {exc.strerror}")
    if args.replay is not None:
        if args.autoplay or level is not None:
            return bad_input("--replay FILE opens a recording: not with a LEVEL or --autoplay")
        from classroom.telemetry.recorder import RecordingError, read_recording

        try:
            read_recording(args.replay)  # a recording that does not read is one line here, not a window
        except RecordingError as exc:
            return bad_input(str(exc))
    if args.autoplay and level is None:
        return bad_input("--autoplay needs a LEVEL to play (a file or a name)")
    if args.autoplay and level is not None and level.solution is None:
        return bad_input(f"{level.path}: level {level.name} has no solution to autoplay")
    if args.screenshot and not args.autoplay:
        return bad_input("--screenshot goes with --autoplay")
    screenshots = None
    if args.screenshot:
        screenshots = Path(args.screenshot)
        try:
            screenshots.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            return bad_input(f"{args.screenshot}: cannot make the screenshot folder: {exc.strerror or exc}")
        if not os.access(screenshots, os.W_OK):
            return bad_input(f"{args.screenshot}: cannot write screenshots there")
    problem = prepare_display(off_screen_ok=args.autoplay)
    if problem:
        return bad_input(problem)
    if level is not None and level.name not in {known.name for known in levels}:
        levels.append(level)  # a level file from elsewhere: playable, after the others
    from classroom.game.ui.app import Options, play

    options = Options(seed=args.seed, speed=args.speed, teacher=args.teacher)
    return play(levels, level, options, autoplay=args.autoplay, screenshot_dir=screenshots, size=args.size,
                replay=args.replay)


COMMANDS = [Command("play", "play in a window: levels, lessons, the live class, results, replays", arguments, run)]
