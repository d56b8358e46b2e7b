"""``classroom replay | trace | tap | stat | top``: a recorded or running round, read back.

``replay`` prints a recording and judges it again; ``trace`` draws one note's
hops as a waterfall; ``tap``, ``stat`` and ``top`` are Linkerd viz's views, of
a recording (``--from``) or of a running round's events port (``--connect``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from classroom.cli.common import EXIT_FAILED, EXIT_OK, Command, bad_input, seconds


def _add_source(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--from", dest="source", metavar="FILE", help="a recording (`run --record FILE`)")
    source.add_argument("--connect", metavar="HOST:PORT",
                        help="a running round's events port (`run --serve`)")


def replay_arguments(replay: argparse.ArgumentParser) -> None:
    replay.add_argument("file", metavar="FILE", help="a recording (`run --record FILE`)")
    shown = replay.add_mutually_exclusive_group()
    shown.add_argument("--all", action="store_true", help="every note event (as tap prints them)")
    shown.add_argument("--quiet", action="store_true", help="only the summary")
    replay.add_argument("--report", metavar="FILE", help="write the replayed round's report (JSON)")


def trace_arguments(trace: argparse.ArgumentParser) -> None:
    trace.add_argument("note", metavar="NOTE", help="a note id (e.g. alice>fay#3) or its trace id")
    trace.add_argument("--from", dest="source", metavar="FILE", required=True,
                       help="a recording (`run --record FILE`)")


def stat_arguments(stat: argparse.ArgumentParser) -> None:
    _add_source(stat)
    stat.add_argument("--window", type=seconds, default=10.0, metavar="SECONDS",
                      help="with --connect: how long to watch (ends earlier with the round; default 10)")


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
        return bad_input(str(exc))
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
                fields = (f"{k}={_shown(v)}" for k, v in event.items() if k not in ("kind", "t", "src"))
                line = " ".join([str(kind), *fields])
            if line is not None:
                print(f"{float(event.get('t', t0)) - t0:+9.3f}s  {line}")
        if recording.end.get("timed_out"):
            print("the round reached its time limit with notes still in flight")
    if args.report:
        try:
            Path(args.report).write_text(json.dumps(report, indent=2) + "\n")
        except OSError as exc:
            return bad_input(f"{args.report}: cannot write the report: {exc.strerror or exc}")
    print_summary(Console(), report)
    from classroom.telemetry.traces import export_otlp

    exported = export_otlp(recording.events, level.name)  # None unless OTEL_EXPORTER_OTLP_ENDPOINT is set
    if exported:
        print(exported, file=sys.stderr)
    return EXIT_OK if report["passed"] else EXIT_FAILED


# Events that are not about one note but worth a line when a round is replayed.
NOTABLE = frozenset({"room_ready", "tls_rejected", "protocol_error", "ejected", "student_left",
                     "student_back", "proxy_lost", "roll_changed", "aisle_fault", "missed",
                     "metrics_unavailable", "ca_rotated", "old_root_removed", "aisle_policy_drop"})


def _shown(value: Any) -> str:
    """A field's value in a replay line: times and ratios to the millisecond, not 17 digits."""
    if isinstance(value, float):
        return f"{value:.3f}".rstrip("0").rstrip(".") or "0"
    return str(value)


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
        return bad_input(str(exc))
    traces = collect(recording.events)
    note = find(traces, args.note)
    if note is None:
        examples = ", ".join(list(traces)[:3])
        return bad_input(f"{args.source}: no note {args.note!r} in this recording"
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
            return bad_input(str(exc))
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
        return bad_input(str(exc))
    view = MeshView()
    try:
        if args.command == "top" and sys.stdout.isatty():
            _live_top(address, view)
        else:
            _follow(address, view, args)
    except LiveError as exc:
        return bad_input(str(exc))
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


COMMANDS = [
    Command("replay", "print a recorded round and judge it again", replay_arguments, _replay),
    Command("trace", "a note's hops as a waterfall, from a recording", trace_arguments, _trace),
    Command("tap", "one line per note event, as `linkerd viz tap`", _add_source, _viz),
    Command("stat", "per student: MESHED SUCCESS RPS LATENCY_P50/P95/P99, as linkerd's", stat_arguments, _viz),
    Command("top", "notes by route, best/worst/last latency, as `linkerd viz top`", _add_source, _viz),
]
