"""The headless front end: a live progress line, then a summary table (rich)."""

from __future__ import annotations

import contextlib
import sys
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from classroom.level import Level
from classroom.level.script import Step
from classroom.mesh.control.profiles import PROFILES
from classroom.mesh.outcomes import explain
from classroom.mesh.runtime import net
from classroom.mesh.runtime.round import RemoteDesks, Round, RoundError, RoundResult
from classroom.objectives import metric
from classroom.report import build_report
from classroom.telemetry.recorder import Recorder


def _progress(counts: Counter[str], expected: int, level: Level) -> Text:
    settled = counts["delivered"] + counts["failed"]
    state = "ready" if counts["ready"] else "starting"
    return Text.assemble(
        (f"{level.name} ", "bold"),
        f"[{state}] ",
        f"sent {counts['sent']}/{expected}  ",
        ("delivered ", "green"),
        f"{counts['delivered']}  ",
        ("failed ", "red"),
        f"{counts['failed']}  ",
        f"in flight {counts['sent'] - settled}  ",
        f"forwarded {counts['forwarded']}",
    )


def run_headless(
    level: Level,
    resources: tuple[dict[str, Any], ...],
    seed: int,
    speed: float,
    quiet: bool = False,
    ca_dir: str | None = None,
    record: Recorder | None = None,
    metrics_port: int | None = None,
    serve: bool = False,
    script: tuple[Step, ...] = (),
    remote: RemoteDesks | None = None,
    prelude: Callable[[], Awaitable[None]] | None = None,
) -> dict[str, Any] | None:
    """Run a round in the terminal; its report, or None when it could not run.

    ``record`` gets every event as it arrives (and the round's end); ``metrics_port`` has the
    office serve Prometheus metrics; ``serve`` prints the office's events port for
    ``classroom tap|stat|top --connect``.  ``remote`` are desks played from laptops
    (``classroom host``); ``prelude`` runs on the round's loop before the round (waiting for them).
    """
    console = Console(stderr=True)
    counts: Counter[str] = Counter()
    round_ = Round(level, resources, seed, speed, ca_dir=ca_dir, metrics_port=metrics_port, script=script,
                   on_say=lambda step: console.print(_said(step)), remote=remote)
    expected = round_.expected_notes()
    live = Live(_progress(counts, expected, level), console=console, refresh_per_second=8, transient=False)

    announced: list[bool] = []

    def on_event(event: dict[str, Any]) -> None:
        if record is not None:
            record.write(event)
        if not announced:  # the first event: the hub is listening by now
            announced.append(True)
            _announce(console, round_, serve)
        kind = event.get("kind")
        if kind == "metrics_unavailable":
            console.print(f"[yellow]no metrics[/]: {event.get('reason')}")
        elif kind == "result":
            counts[event["state"]] += 1
        elif kind in ("sent", "forwarded"):
            counts[kind] += 1
        elif kind == "room_ready":
            counts["ready"] = 1
            if remote is not None:  # a hosted class: the lecturer sees the notes may start
                console.print(f"the room is ready: {len(remote.seats())} desk(s) from laptops", highlight=False)
        elif kind == "tls_rejected":
            console.print(f"[yellow]refused[/] at {event.get('hand')}: {event.get('reason')}")
        elif kind in ("paused", "resumed", "stepped", "rules_set", "live_action", "live_action_failed"):
            console.print(f"[cyan]lecture[/]: {_lecture_line(event)}")
        elif kind in ("desk_remote", "desk_left"):
            console.print(f"[cyan]laptop[/]: {_desk_line(event)}", highlight=False)
        elif kind == "protocol_error":
            console.print(f"[yellow]protocol error[/] at {event.get('hand')}: {event.get('reason')}")
        if not quiet:
            live.update(_progress(counts, expected, level))

    round_.on_event = on_event
    console.print(mesh_line(level.profile), highlight=False, soft_wrap=True)
    end: dict[str, Any] = {"processes": round_.processes}
    try:
        with live if not quiet else contextlib.nullcontext():
            result = net.run(_after(prelude, round_.run()))
        end.update(timed_out=result.timed_out, expected=result.expected)
    except RoundError as exc:
        end["error"] = str(exc)
        print(f"classroom: {level.path}: {exc}", file=sys.stderr)
        return None
    finally:
        if record is not None:
            record.close(t=round_.now(), **end)
    report = build_report(level, seed, result.events, result.processes, speed)
    if result.timed_out:
        console.print(f"[red]time limit reached with {report['notes']['in_flight']} notes still in flight[/]")
    if record is not None:
        console.print(f"recorded {record.count} events to {record.path}")
    _export_traces(console, result.events, level.name)
    print_summary(Console(), report, level)
    return report


async def _after(prelude: Callable[[], Awaitable[None]] | None, then: Coroutine[Any, Any, RoundResult]) -> RoundResult:
    if prelude is not None:
        try:
            await prelude()
        except BaseException:
            then.close()
            raise
    return await then


def _said(step: Step) -> str:
    if step.do == "ask":
        return f"[bold]ask[/]: {step.question} " + " ".join(f"({i}) {a}" for i, a in enumerate(step.answers, 1))
    if not step.say and step.notes:
        return f"[bold]notes[/] (for the lecturer): {step.notes}"
    return f"[bold]say[/]: {step.say}"


def _desk_line(event: dict[str, Any]) -> str:
    if event["kind"] == "desk_remote":
        return f"{event.get('seat')}'s desk is played from the laptop at {event.get('address')}"
    return f"{event.get('seat')}'s desk went away: {event.get('reason')}"


def _lecture_line(event: dict[str, Any]) -> str:
    kind = event["kind"]
    if kind == "stepped":
        return f"stepped {event.get('seconds', 0) * 1000:.0f} ms of room time"
    if kind == "rules_set":
        return "rules pushed live: " + ", ".join(event.get("resources", []))
    if kind in ("live_action", "live_action_failed"):
        what = event.get("student") or "-".join(event.get("link") or [])
        return f"{event.get('action')} {what}" + (f" failed: {event.get('reason')}" if kind.endswith("failed") else "")
    return "the class is paused" if kind == "paused" else "the class goes on"


def _announce(console: Console, round_: Round, serve: bool) -> None:
    """Once the office is up: where to watch the round from another terminal."""
    if serve and round_.events_address is not None:
        host, port = round_.events_address[:2]
        console.print(f"events on {host}:{port}  (watch: classroom tap --connect {host}:{port})",
                      highlight=False, soft_wrap=True)
    if round_.metrics_port:
        console.print(f"metrics on http://127.0.0.1:{round_.metrics_port}/metrics", highlight=False,
                      soft_wrap=True)


def _export_traces(console: Console, events: list[dict[str, Any]], namespace: str) -> None:
    """OTLP export of the round's traces, when OTEL_EXPORTER_OTLP_ENDPOINT is set."""
    from classroom.telemetry.traces import export_otlp, otlp_endpoint

    if otlp_endpoint() is None:
        return
    console.print(export_otlp(events, namespace), highlight=False, soft_wrap=True)


def mesh_line(profile: str) -> str:
    """Which mesh the class runs, in one line: its name, its shape, its defaults, retired or not."""
    known = PROFILES.get(profile)
    return known.describe() if known is not None else f"mesh: {profile}"


def print_summary(console: Console, report: dict[str, Any], level: Level | None = None) -> None:
    """The summary table, the objectives and the verdict of a report; then why it failed, in words,
    and what to do next (the level's first hint, or the next level)."""
    notes = report["notes"]
    table = Table(title=f"{report['level']} (seed {report['seed']}, {report['profile']})")
    for column in ("sent", "delivered", "failed", "duplicates", "retries", "p50 ms", "p99 ms", "ledger"):
        table.add_column(column, justify="right")
    table.add_row(
        str(notes["sent"]),
        str(notes["delivered"]),
        str(notes["failed"]),
        str(notes["duplicates"]),
        str(report["retries"]),
        f"{report['latency_ms']['p50']:.1f}",
        f"{report['latency_ms']['p99']:.1f}",
        "ok" if report["ledger_ok"] else "BROKEN",
    )
    console.print(table)
    console.print(mesh_line(str(report.get("profile", "istio"))), highlight=False, soft_wrap=True)
    objectives = Table(title="objectives")
    for column in ("objective", "metric", "target", "value", ""):
        objectives.add_column(column)
    for o in report["objectives"]:
        known = metric(o["metric"])
        objectives.add_row(
            known.words,
            Text(o["metric"], style="dim"),
            f"{o['op']} {known.format(o['target'])}",
            known.format(o["value"]),
            "[green]met[/]" if o["passed"] else "[red]missed[/]",
        )
    console.print(objectives)
    console.print("[bold green]PASSED[/]" if report["passed"] else "[bold red]NOT PASSED[/]")
    if not report["passed"]:
        for line in explain(report.get("failed_at", {})):
            console.print(f"  why: {line}", highlight=False)
    next_step = what_next(report, level)
    if next_step:
        console.print(next_step, highlight=False)


def what_next(report: dict[str, Any], level: Level | None) -> str | None:
    """One line: the level's first hint after a failed round, the next level after a passed one."""
    if level is None:
        return None
    if not report["passed"]:
        hints = level.hints
        return f"hint: {hints[0]}" if hints else None
    from classroom.level import LevelError, list_levels

    try:
        names = [known.name for known in list_levels()]
    except LevelError:
        return None
    if level.name in names and names.index(level.name) + 1 < len(names):
        return f"next: classroom play {names[names.index(level.name) + 1]}"
    return None
