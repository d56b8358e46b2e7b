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


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"wants a port number, got {text!r}") from None
    if not 0 < value < 65536:
        raise argparse.ArgumentTypeError(f"a port is between 1 and 65535, got {value}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"wants a number of seconds, got {text!r}") from None
    if not 0 < value <= 86400:
        raise argparse.ArgumentTypeError(f"must be between 0 and 86400 seconds, got {value:g}")
    return value


def _add_source(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--from", dest="source", metavar="FILE", help="a recording (`run --record FILE`)")
    source.add_argument("--connect", metavar="HOST:PORT",
                        help="a running round's events port (`run --serve`)")


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
    run.add_argument("--record", metavar="FILE", help="write every event of the round to FILE (JSON Lines)")
    run.add_argument("--metrics-port", type=_port, metavar="N",
                     help="serve Prometheus metrics on http://127.0.0.1:N/metrics while the round runs")
    run.add_argument("--serve", action="store_true",
                     help="print the office's events port, for `classroom tap|stat|top --connect`")

    sub.add_parser("levels", help="list the levels and what each teaches")

    replay = sub.add_parser("replay", help="print a recorded round and judge it again")
    replay.add_argument("file", metavar="FILE", help="a recording (`run --record FILE`)")
    shown = replay.add_mutually_exclusive_group()
    shown.add_argument("--all", action="store_true", help="every note event (as tap prints them)")
    shown.add_argument("--quiet", action="store_true", help="only the summary")
    replay.add_argument("--report", metavar="FILE", help="write the replayed round's report (JSON)")

    trace = sub.add_parser("trace", help="a note's hops as a waterfall, from a recording")
    trace.add_argument("note", metavar="NOTE", help="a note id (e.g. alice>fay#3) or its trace id")
    trace.add_argument("--from", dest="source", metavar="FILE", required=True,
                       help="a recording (`run --record FILE`)")

    tap = sub.add_parser("tap", help="one line per note event, as `linkerd viz tap`")
    _add_source(tap)
    stat = sub.add_parser("stat", help="per student: MESHED SUCCESS RPS LATENCY_P50/P95/P99, as linkerd's")
    _add_source(stat)
    stat.add_argument("--window", type=_seconds, default=10.0, metavar="SECONDS",
                      help="with --connect: how long to watch (ends earlier with the round; default 10)")
    top = sub.add_parser("top", help="notes by route, best/worst/last latency, as `linkerd viz top`")
    _add_source(top)

    play = sub.add_parser("play", help="play in a window: levels, lessons, the live class, results, replays")
    play.add_argument("level", nargs="?", help="start at this level's lesson (a file or a name)")
    play.add_argument("--autoplay", action="store_true",
                      help="play LEVEL with its solution, no input; exit 0 when its objectives are met")
    play.add_argument("--screenshot", metavar="DIR",
                      help="with --autoplay: save PNGs of the round mid-way and of the results in DIR")
    play.add_argument("--seed", type=int, help="seed of the rounds' random choices")
    play.add_argument("--speed", type=_speed, default=1.0, help="scale every time of the levels")
    play.add_argument("--teacher", action="store_true",
                      help="teacher mode: every level open, the lesson narrated over the room")
    play.add_argument("--size", type=_window_size, default=(1280, 720), metavar="WxH",
                      help="the window's starting size (default 1280x720; resizable)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "run":
            return _run(args)
        if args.command == "levels":
            return _levels()
        if args.command == "replay":
            return _replay(args)
        if args.command == "trace":
            return _trace(args)
        if args.command in ("tap", "stat", "top"):
            return _viz(args)
        if args.command == "play":
            return _play(args)
    except KeyboardInterrupt:
        print("classroom: interrupted; every process of the round was stopped", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `classroom tap ... | head`: the reader has seen enough
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
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
    if args.metrics_port is not None:
        problem = _port_in_use(args.metrics_port)
        if problem:
            return _bad_input(f"--metrics-port {args.metrics_port}: {problem}")
    from classroom.headless import run_headless
    from classroom.telemetry.recorder import Recorder, header

    seed = level.seed if args.seed is None else args.seed
    recorder = None
    if args.record:
        try:
            recorder = Recorder(args.record, header(level, seed, args.speed))
        except OSError as exc:
            return _bad_input(f"{args.record}: cannot write the recording: {exc.strerror or exc}")
    report = run_headless(level, resources, seed, args.speed, quiet=args.quiet, ca_dir=args.ca_dir,
                          record=recorder, metrics_port=args.metrics_port, serve=args.serve)
    if report is None:
        return EXIT_FAILED
    if args.report:
        Path(args.report).write_text(json.dumps(report, indent=2) + "\n")
    return EXIT_OK if report["passed"] else EXIT_FAILED


def _port_in_use(port: int) -> str | None:
    """Why the office could not serve metrics on 127.0.0.1:port, or None."""
    import socket

    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            return f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}"
    return None


# --- play: the window ---------------------------------------------------------------------------

def _window_size(text: str) -> tuple[int, int]:
    width, _, height = text.lower().partition("x")
    try:
        size = int(width), int(height)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--size wants WIDTHxHEIGHT, e.g. 1920x1080, got {text!r}") from None
    if not (640 <= size[0] <= 7680 and 360 <= size[1] <= 4320):
        raise argparse.ArgumentTypeError(f"--size must be between 640x360 and 7680x4320, got {text}")
    return size


def _play(args: argparse.Namespace) -> int:
    from classroom.level import LevelError, list_levels, load_level

    try:
        levels = list_levels()
        level = load_level(args.level) if args.level else None
    except LevelError as exc:
        return _bad_input(str(exc))
    except OSError as exc:
        return _bad_input(f"{exc.filename}: {exc.strerror}")
    if args.autoplay and level is None:
        return _bad_input("--autoplay needs a LEVEL to play (a file or a name)")
    if args.autoplay and level is not None and level.solution is None:
        return _bad_input(f"{level.path}: level {level.name} has no solution to autoplay")
    if args.screenshot and not args.autoplay:
        return _bad_input("--screenshot goes with --autoplay")
    screenshots = None
    if args.screenshot:
        screenshots = Path(args.screenshot)
        try:
            screenshots.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            return _bad_input(f"{args.screenshot}: cannot make the screenshot folder: {exc.strerror or exc}")
        if not os.access(screenshots, os.W_OK):
            return _bad_input(f"{args.screenshot}: cannot write screenshots there")
    if not any(os.environ.get(name) for name in ("DISPLAY", "WAYLAND_DISPLAY", "SDL_VIDEODRIVER")):
        if not args.autoplay:
            return _bad_input("no display for the window (set DISPLAY; or `classroom run LEVEL --headless`, "
                              "or `classroom play LEVEL --autoplay` which draws off-screen)")
        os.environ["SDL_VIDEODRIVER"] = "dummy"  # autoplay draws off-screen on a machine with no screen
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    if level is not None and level.name not in {known.name for known in levels}:
        levels.append(level)  # a level file from elsewhere: playable, after the others
    from classroom.game.ui.app import Options, play

    options = Options(seed=args.seed, speed=args.speed, teacher=args.teacher)
    return play(levels, level, options, autoplay=args.autoplay, screenshot_dir=screenshots, size=args.size)


# --- telemetry: replay, trace, tap, stat, top ---------------------------------------------------

def _recording(path: str) -> Any:
    from classroom.telemetry.recorder import read_recording

    return read_recording(path)


def _replay(args: argparse.Namespace) -> int:
    from rich.console import Console

    from classroom.headless import print_summary
    from classroom.report import build_report
    from classroom.telemetry.recorder import RecordingError
    from classroom.telemetry.viz import MeshView, tap_line

    try:
        recording = _recording(args.file)
    except RecordingError as exc:
        return _bad_input(str(exc))
    level = recording.level()
    report = build_report(level, recording.seed, recording.events, recording.processes, recording.speed)
    if not args.quiet:
        h = recording.header
        print(f"recorded round of {level.name} (seed {recording.seed}, {level.profile}, "
              f"speed {recording.speed:g}): {len(recording.notes())} notes, {len(recording.events)} events"
              + ("" if h else " (no header: a bare event log)"))
        view = MeshView(recording.students, level.name if h else None, recording.unmeshed)
        t0 = _replay_origin(recording.events)
        for event in recording.events:
            view.observe(event)
            kind = event.get("kind")
            line = None
            if "note" in event:
                if args.all or kind == "result":
                    line = tap_line(event, view.book)
            elif kind in NOTABLE or str(kind).startswith("teacher_"):
                fields = (f"{k}={v}" for k, v in event.items() if k not in ("kind", "t", "src"))
                line = " ".join([str(kind), *fields])
            if line is not None:
                print(f"{float(event.get('t', t0)) - t0:+9.3f}s  {line}")
        if recording.end.get("timed_out"):
            print("the round reached its time limit with notes still in flight")
    if args.report:
        try:
            Path(args.report).write_text(json.dumps(report, indent=2) + "\n")
        except OSError as exc:
            return _bad_input(f"{args.report}: cannot write the report: {exc.strerror or exc}")
    print_summary(Console(), report)
    from classroom.telemetry.traces import export_otlp

    exported = export_otlp(recording.events, level.name)  # None unless OTEL_EXPORTER_OTLP_ENDPOINT is set
    if exported:
        print(exported, file=sys.stderr)
    return EXIT_OK if report["passed"] else EXIT_FAILED


# Events that are not about one note but worth a line when a round is replayed.
NOTABLE = frozenset({"room_ready", "tls_rejected", "protocol_error", "ejected", "student_left",
                     "student_back", "proxy_lost", "roll_changed", "aisle_fault", "missed",
                     "metrics_unavailable", "ca_rotated", "old_root_removed"})


def _replay_origin(events: list[dict[str, Any]]) -> float:
    """Times in a replay count from the moment the room was ready (else the first event)."""
    for event in events:
        if event.get("kind") == "room_ready":
            return float(event["t"])
    return float(events[0].get("t", 0.0)) if events else 0.0


def _trace(args: argparse.Namespace) -> int:
    from rich.console import Console

    from classroom.telemetry.recorder import RecordingError
    from classroom.telemetry.traces import collect, find, otel_spans, waterfall

    try:
        recording = _recording(args.source)
    except RecordingError as exc:
        return _bad_input(str(exc))
    traces = collect(recording.events)
    note = find(traces, args.note)
    if note is None:
        examples = ", ".join(list(traces)[:3])
        return _bad_input(f"{args.source}: no note {args.note!r} in this recording"
                          + (f" ({len(traces)} notes, e.g. {examples})" if traces else " (it has no notes)"))
    namespace = recording.header.get("level")
    spans = otel_spans(recording.events, namespace, notes=[note.note])
    console = Console()
    console.print(waterfall(note, spans, console.width))
    if not note.hops:
        console.print("(no hop spans for this note: was the round run with per-hop telemetry off?)")
    return EXIT_OK


def _viz(args: argparse.Namespace) -> int:
    from classroom.telemetry.live import LiveError, parse_address
    from classroom.telemetry.recorder import RecordingError
    from classroom.telemetry.viz import MeshView

    if args.source:
        try:
            recording = _recording(args.source)
        except RecordingError as exc:
            return _bad_input(str(exc))
        view = MeshView(recording.students, recording.header.get("level"), recording.unmeshed)
        for event in recording.events:
            view.observe(event)
            if args.command == "tap":
                _tap(event, view)
        _print_view(args.command, view)
        return EXIT_OK
    try:
        address = parse_address(args.connect)
    except ValueError as exc:
        return _bad_input(str(exc))
    view = MeshView()
    try:
        if args.command == "top" and sys.stdout.isatty():
            _live_top(address, view)
        else:
            _follow(address, view, args)
    except LiveError as exc:
        return _bad_input(str(exc))
    except KeyboardInterrupt:
        pass  # Ctrl-C is how one stops watching: show what was seen
    _print_view(args.command, view)
    return EXIT_OK


def _tap(event: dict[str, Any], view: Any) -> None:
    from classroom.telemetry.viz import tap_line

    line = tap_line(event, view.book)
    if line is not None:
        print(line, flush=True)


def _follow(address: tuple[str, int], view: Any, args: argparse.Namespace) -> None:
    from classroom.telemetry.live import run_follow

    def on_event(event: dict[str, Any]) -> None:
        view.observe(event)
        if args.command == "tap":
            _tap(event, view)

    run_follow(address, on_event, args.window if args.command == "stat" else None)


def _live_top(address: tuple[str, int], view: Any) -> None:
    from rich.console import Console
    from rich.live import Live
    from rich.text import Text

    from classroom.telemetry.live import run_follow

    with Live(console=Console(), get_renderable=lambda: Text(view.top()), refresh_per_second=2,
              transient=True):
        run_follow(address, view.observe)


def _print_view(command: str, view: Any) -> None:
    if command == "stat":
        print(view.stat())
    elif command == "top":
        print(view.top())
    footer = view.footer()
    if footer:
        print(footer, file=sys.stderr)


def entry() -> Any:  # pragma: no cover
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
