"""The headless front end: a live progress line, then a summary table (rich)."""

from __future__ import annotations

import contextlib
import sys
from collections import Counter
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from classroom.level import Level
from classroom.mesh import net
from classroom.mesh.round import Round, RoundError
from classroom.report import build_report


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
) -> dict[str, Any] | None:
    console = Console(stderr=True)
    counts: Counter[str] = Counter()
    round_ = Round(level, resources, seed, speed, ca_dir=ca_dir)
    expected = round_.expected_notes()
    live = Live(_progress(counts, expected, level), console=console, refresh_per_second=8, transient=False)

    def on_event(event: dict[str, Any]) -> None:
        kind = event.get("kind")
        if kind == "result":
            counts[event["state"]] += 1
        elif kind in ("sent", "forwarded"):
            counts[kind] += 1
        elif kind == "room_ready":
            counts["ready"] = 1
        elif kind == "tls_rejected":
            console.print(f"[yellow]refused[/] at {event.get('hand')}: {event.get('reason')}")
        elif kind == "protocol_error":
            console.print(f"[yellow]protocol error[/] at {event.get('hand')}: {event.get('reason')}")
        if not quiet:
            live.update(_progress(counts, expected, level))

    round_.on_event = on_event
    try:
        with live if not quiet else contextlib.nullcontext():
            result = net.run(round_.run())
    except RoundError as exc:
        print(f"classroom: {level.path}: {exc}", file=sys.stderr)
        return None
    report = build_report(level, seed, result.events, result.processes, speed)
    if result.timed_out:
        console.print(f"[red]time limit reached with {report['notes']['in_flight']} notes still in flight[/]")
    _summary(Console(), report)
    return report


def _summary(console: Console, report: dict[str, Any]) -> None:
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
    objectives = Table(title="objectives")
    for column in ("metric", "target", "value", ""):
        objectives.add_column(column)
    for o in report["objectives"]:
        objectives.add_row(
            o["metric"],
            f"{o['op']} {o['target']:g}",
            "-" if o["value"] is None else f"{o['value']:g}",
            "[green]met[/]" if o["passed"] else "[red]missed[/]",
        )
    console.print(objectives)
    console.print("[bold green]PASSED[/]" if report["passed"] else "[bold red]NOT PASSED[/]")
