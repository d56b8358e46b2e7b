"""``classroom compare``: one class under several meshes, each round run for real, one after another.

Theory of operation
-------------------
The same room, students, behaviours, teacher and traffic are played once per
profile (:mod:`classroom.mesh.control.profiles`) with that mesh's defaults:
the level's own ``mesh.resources`` are left out, unless a config directory
holds ``<profile>.yaml`` for it (checked as ``run --config`` checks a config,
under that profile, so a PeerAuthentication in ``linkerd.yaml`` is refused at
its line).  Each round is a real :class:`~classroom.mesh.runtime.round.Round`
and is judged by the run report's own code; on top, the comparison reads what
the kernel says the round cost (:mod:`classroom.mesh.runtime.procstat`):

* memory: PSS summed over every process of the round, read once the room is
  ready (the ``room_ready`` event), when every process is up and holds its
  keys, cards and links;
* proxy CPU: ``utime + stime`` of each proxy process, read when the room is
  ready and again after every note settled, before any process stops (the
  Round's ``before_stop``); the difference, per 1,000 notes sent, is what
  passing the notes cost (the part before is getting ready: keys, cards,
  links, reported apart).  The kernel counts in ticks of 10 ms, so a round
  of 20 notes reads in steps of 0.5 s per 1,000 notes.

The numbers are this machine's, measured while the round runs: they compare
the shapes of the meshes as the classroom builds them (a sidecar per student
or one proxy per row, TLS or none), not the real proxies.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from classroom.level import Level, load_config
from classroom.mesh.control.profiles import PROFILES, Profile
from classroom.mesh.runtime import net, procstat
from classroom.mesh.runtime.round import Round
from classroom.report import build_report, report_metrics

# The keys of each profile's entry in `compare --json` (a public contract: LEVELS.md).
JSON_KEYS = ("delivered_ratio", "teacher_read", "impersonations_accepted", "retries", "p50_ms", "p99_ms",
             "processes", "proxy_processes", "pss_mb", "cpu_s_per_1000_notes", "room_ready_s", "retired")
Progress = Callable[[str, dict[str, Any]], None]


def unknown_profiles(names: Sequence[str]) -> list[str]:
    return [name for name in names if name not in PROFILES]


def config_for(level: Level, profile: str, config_dir: str | None) -> tuple[Level, tuple[dict[str, Any], ...], str]:
    """The level under ``profile`` (none of its own resources), the resources to run, and where they
    come from; raises LevelError for a config that does not load under that profile."""
    under = dataclasses.replace(level, profile=profile, resources=(), editable=(), solution=None)
    path = Path(config_dir) / f"{profile}.yaml" if config_dir else None
    if path is None or not path.is_file():
        return under, (), "defaults"
    return under, load_config(str(path), under), str(path)


@dataclasses.dataclass
class Sample:
    """What the kernel said about one round while it ran."""

    pss_kib: int = 0
    pss_unread: int = 0  # processes whose smaps_rollup could not be read
    proxy_cpu_ready_s: float = 0.0  # proxies' CPU once the room was ready: cards, keys, links
    proxy_cpu_s: float = 0.0  # proxies' CPU once every note settled
    proxy_cpu_unread: int = 0


def run_one(level: Level, resources: tuple[dict[str, Any], ...], seed: int, speed: float,
            on_event: Callable[[dict[str, Any]], None] | None = None) -> tuple[dict[str, Any], Sample]:
    """One real round; its report and what it cost.  Raises RoundError when it could not run."""
    sample = Sample()
    round_ = Round(level, resources, seed, speed)

    def measure_memory() -> None:
        for process in round_.processes:
            kib = procstat.pss_kib(int(process["pid"]))
            if kib is None:
                sample.pss_unread += 1
            else:
                sample.pss_kib += kib

    def proxy_cpu() -> float:
        total = 0.0
        for process in round_.processes:
            if process.get("role") != "proxy":
                continue
            seconds = procstat.cpu_seconds(int(process["pid"]))
            if seconds is None:
                sample.proxy_cpu_unread += 1
            else:
                total += seconds
        return total

    def measure_cpu() -> None:
        sample.proxy_cpu_s = proxy_cpu()

    def event(e: dict[str, Any]) -> None:
        if e.get("kind") == "room_ready":
            measure_memory()
            sample.proxy_cpu_ready_s = proxy_cpu()
        if on_event is not None:
            on_event(e)

    round_.on_event = event
    round_.before_stop = measure_cpu
    result = net.run(round_.run())
    return build_report(level, seed, result.events, result.processes, speed), sample


def row(report: dict[str, Any], sample: Sample, profile: Profile) -> dict[str, Any]:
    """One profile's entry of the comparison: the contract's keys, then what else a reader needs."""
    metrics = report_metrics(report)
    sent = report["notes"]["sent"]
    processes = report["processes"]
    entry: dict[str, Any] = {
        "delivered_ratio": round(metrics["delivered_ratio"], 4),
        "teacher_read": report["teacher"]["read"],
        "impersonations_accepted": report["teacher"]["impersonations_accepted"],
        "retries": report["retries"],
        "p50_ms": report["latency_ms"]["p50"],
        "p99_ms": report["latency_ms"]["p99"],
        "processes": len(processes),
        "proxy_processes": sum(1 for p in processes if p.get("role") == "proxy"),
        "pss_mb": round(sample.pss_kib / 1024.0, 1) if sample.pss_kib else None,
        # The notes' share only: what the proxies spent after the room was ready.
        "cpu_s_per_1000_notes": round(max(sample.proxy_cpu_s - sample.proxy_cpu_ready_s, 0.0) * 1000.0 / sent, 3)
        if sent else None,
        "room_ready_s": round(report["room_ready_s"], 3) if report.get("room_ready_s") is not None else None,
        "retired": profile.retired is not None,
        # Beyond the contract's keys:
        "architecture": profile.architecture,
        "mtls": profile.mtls_mode,
        "sent": sent,
        "delivered": report["notes"]["delivered"],
        "failed_by_flag": dict(report.get("flags", {})),
        "forged_accepted": report["teacher"]["forged_accepted"],
        "proxy_cpu_setup_s": round(sample.proxy_cpu_ready_s, 2),  # getting ready: keys, cards, links
        "passed": report["passed"],
    }
    if profile.retired:
        entry["retired_why"] = profile.retired
    return entry


def compare(level: Level, profiles: Sequence[str], configs: dict[str, tuple[Level, tuple[dict[str, Any], ...]]],
            seed: int, speed: float, on_progress: Progress | None = None) -> dict[str, Any]:
    """Run the level under each profile (``configs`` from :func:`config_for`), one after another.

    ``on_progress(profile, event)`` sees every event of each round, then ``{"kind": "compared"}``
    with the profile's row.  Returns ``{"level", "profiles": {name: row}, "reports": {name: report}}``.
    """
    rows: dict[str, dict[str, Any]] = {}
    reports: dict[str, dict[str, Any]] = {}
    for name in profiles:
        under, resources = configs[name]

        def seen(event: dict[str, Any], profile: str = name) -> None:
            if on_progress is not None:
                on_progress(profile, event)

        report, sample = run_one(under, resources, seed, speed, seen)
        rows[name] = row(report, sample, PROFILES[name])
        reports[name] = report
        if on_progress is not None:
            on_progress(name, {"kind": "compared", "row": rows[name]})
    return {"level": level.name, "profiles": rows, "reports": reports}
