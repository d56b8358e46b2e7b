"""``classroom compare LEVEL``: the same class under each mesh profile, run for real, side by side."""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path
from typing import Any

from classroom.cli.common import EXIT_FAILED, EXIT_OK, Command, bad_input, speed

# The rows of the side-by-side table: (title, how a profile's entry shows it).
_ROWS: list[tuple[str, Any]] = [
    ("architecture", lambda r: r["architecture"]),
    ("mTLS by default", lambda r: r["mtls"]),
    ("retired", lambda r: "yes" if r["retired"] else "no"),
    ("delivered", lambda r: f"{r['delivered']}/{r['sent']} ({r['delivered_ratio']:.0%})"),
    ("failed by flag", lambda r: ", ".join(f"{f} {n}" for f, n in sorted(r["failed_by_flag"].items())) or "-"),
    ("retries", lambda r: str(r["retries"])),
    ("p50 / p99 ms", lambda r: f"{r['p50_ms']:.0f} / {r['p99_ms']:.0f}"),
    ("teacher read", lambda r: str(r["teacher_read"])),
    ("impersonations accepted", lambda r: str(r["impersonations_accepted"])),
    ("forgeries accepted", lambda r: str(r["forged_accepted"])),
    ("processes", lambda r: str(r["processes"])),
    ("proxy processes", lambda r: str(r["proxy_processes"])),
    ("memory (PSS, MB)", lambda r: "?" if r["pss_mb"] is None else f"{r['pss_mb']:.1f}"),
    ("proxy CPU s / 1,000 notes", lambda r: "?" if r["cpu_s_per_1000_notes"] is None
     else f"{r['cpu_s_per_1000_notes']:.2f}"),
    ("room ready (s)", lambda r: "?" if r["room_ready_s"] is None else f"{r['room_ready_s']:.2f}"),
    ("objectives", lambda r: "met" if r["passed"] else "missed"),
]


def arguments(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument("level", help="a level file, or a level's name")
    cmd.add_argument("--profiles", metavar="P,...",
                     help="the profiles to compare, in order (default: all seven)")
    cmd.add_argument("--config-dir", metavar="DIR",
                     help="DIR/<profile>.yaml: a configuration for that profile (default: its mesh's defaults)")
    cmd.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    cmd.add_argument("--report", metavar="FILE", help="write the comparison and every round's report (JSON)")
    cmd.add_argument("--seed", type=int, help="seed of the rounds' random choices (default: the level's)")
    cmd.add_argument("--speed", type=speed, default=1.0, help="scale every time of the level")


def run(args: argparse.Namespace) -> int:
    from classroom.compare import config_for, unknown_profiles
    from classroom.level import LevelError, load_level
    from classroom.mesh.control.profiles import PROFILES

    names = [p.strip() for p in args.profiles.split(",")] if args.profiles is not None else list(PROFILES)
    unknown = unknown_profiles(names)
    if unknown or not names or len(set(names)) != len(names):
        what = (f"unknown profile {unknown[0]!r}" if unknown else "a profile named twice" if names
                else "no profile given")
        return bad_input(f"--profiles: {what}; the seven are {', '.join(PROFILES)}")
    if args.config_dir and not Path(args.config_dir).is_dir():
        return bad_input(f"--config-dir {args.config_dir}: no such directory")
    if args.report and not Path(args.report).resolve().parent.is_dir():  # before the rounds, not after
        return bad_input(f"--report {args.report}: no such directory to write it in")
    try:
        level = load_level(args.level)
        configs = {}
        sources = {}
        for name in names:
            under, resources, source = config_for(level, name, args.config_dir)
            configs[name] = (under, resources)
            sources[name] = source
    except LevelError as exc:
        return bad_input(str(exc))
    except OSError as exc:
        return bad_input(f"{exc.filename}: {exc.strerror}")
    seed = level.seed if args.seed is None else args.seed
    result = _run_with_progress(level, names, configs, seed, args.speed)
    if result is None:
        return EXIT_FAILED
    from rich.console import Console

    wide = Console()  # side by side: as wide as the profiles need, even in a pipe's 80 columns
    wide = Console(width=max(wide.width, 28 + 16 * len(names)))
    _print_table(wide, level.name, result["profiles"], sources, seed)
    summary = {"level": result["level"], "profiles": result["profiles"]}
    if args.report:
        try:
            Path(args.report).write_text(json.dumps({**summary, "configs": sources, "seed": seed,
                                                     "reports": result["reports"]}, indent=2) + "\n")
        except OSError as exc:
            return bad_input(f"--report {args.report}: cannot write it: {exc.strerror or exc}")
    if args.json:
        print(json.dumps(summary, separators=(",", ":")), flush=True)
    return EXIT_OK


def _run_with_progress(level: Any, names: list[str], configs: dict[str, Any], seed: int,
                       speed_: float) -> dict[str, Any] | None:
    from rich.console import Console
    from rich.live import Live
    from rich.table import Table

    from classroom.compare import compare
    from classroom.mesh.runtime.round import RoundError

    console = Console(stderr=True)
    counts: dict[str, Counter[str]] = {name: Counter() for name in names}
    state = {name: "waiting" for name in names}
    expected = {name: _expected(configs[name][0]) for name in names}

    def view() -> Table:
        table = Table(title=f"compare {level.name}: one round per mesh, for real", title_justify="left")
        for column in ("profile", "state", "sent", "delivered", "failed", "teacher read"):
            table.add_column(column, justify="left" if column in ("profile", "state") else "right")
        for name in names:
            c = counts[name]
            table.add_row(name, state[name], f"{c['sent']}/{expected[name]}", str(c["delivered"]),
                          str(c["failed"]), str(c["read"]))
        return table

    with Live(view(), console=console, refresh_per_second=8, transient=False) as live:
        def progress(name: str, event: dict[str, Any]) -> None:
            kind = event.get("kind")
            c = counts[name]
            if state[name] == "waiting":
                state[name] = "starting"
            if kind == "room_ready":
                state[name] = "running"
            elif kind == "sent":
                c["sent"] += 1
            elif kind == "result":
                c[str(event.get("state"))] += 1
            elif kind == "teacher_read":
                c["read"] += 1
            elif kind == "compared":
                state[name] = "done"
            live.update(view())

        try:
            return compare(level, names, configs, seed, speed_, progress)
        except RoundError as exc:
            console.print(f"classroom: {level.path}: {exc}")
            return None


def _expected(level: Any) -> int:
    present = {s.name for s in level.students if not s.behaviour.absent}
    return sum(t.count for t in level.traffic if t.sender in present)


def _print_table(console: Any, level: str, rows: dict[str, dict[str, Any]], sources: dict[str, str],
                 seed: int) -> None:
    from rich.table import Table

    table = Table(title=f"{level} under each mesh (seed {seed})", title_justify="left")
    table.add_column("")
    for name in rows:
        table.add_column(name, justify="right")
    table.add_row("configuration", *(sources[name] for name in rows), style="dim")
    for title, show in _ROWS:
        table.add_row(title, *(show(r) for r in rows.values()))
    console.print(table)
    retired = [f"{name}: {r['retired_why']}" for name, r in rows.items() if r.get("retired_why")]
    if retired:
        console.print("retired: " + "; ".join(retired), highlight=False)


COMMANDS = [Command("compare", "the same class under each mesh profile, run for real, side by side",
                    arguments, run)]
