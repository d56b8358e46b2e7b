"""How long a room takes to get ready, and what it costs: certificates issued, configuration
pushed, links up; memory (PSS) and CPU of every process of the round.

    python bench/room_ready.py [--quick] [--sizes 30,60,120,200] [--traffic] [--json]

Runs real rounds of students seated in a grid of 6 columns (7 and 30 with --quick; 7, 30,
60, 120 and 200 otherwise), and reports per room: the office's ready time (from its start
to every proxy acknowledging its configuration with its links up), the runner's (from
launching the first process to that moment), the directed links, the PSS of every process
of the round summed (read from /proc/PID/smaps_rollup the moment the room is ready: the
processes are forked from one preloaded parent, so RSS would count their shared pages once
per process) and per process, and the CPU seconds every process had used by then. The
7-student room is the baseline the others are compared with, in the same run; the time ratio
is set beside the link ratio (the target: no worse than 1.2x linear in links).

With --traffic a third of the students each send one note to the student farthest from
them (through every hand between), and the report says how many arrived.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from classroom.level import load_level  # noqa: E402
from classroom.mesh.runtime import net  # noqa: E402
from classroom.mesh.runtime.round import Round, wait_gone  # noqa: E402


def grid_level(directory: Path, students: int, traffic: bool = False) -> Path:
    cols = 6
    doc = {
        "apiVersion": "classroom.mesh/v1",
        "kind": "Level",
        "metadata": {"name": f"room-{students}"},
        "room": {"rows": (students + cols - 1) // cols, "cols": cols, "passing_time": "0ms",
                 "links": "neighbours"},
        "students": [{"name": f"s{i:03d}", "seat": [i // cols, i % cols]} for i in range(students)],
        "traffic": [{"from": f"s{i:03d}", "to": f"s{students - 1 - i:03d}", "count": 1, "text": "across the hall"}
                    for i in range(max(students // 3, 1))] if traffic else [],
        "mesh": {"resources": [{"apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
                                "metadata": {"name": "default"}, "spec": {"mtls": {"mode": "STRICT"}}}]},
    }
    path = directory / f"room-{students}.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def _pss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("Pss:"))
    except (OSError, StopIteration, ValueError):
        return 0


def _cpu_s(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def measure(path: Path) -> dict[str, float]:
    level = load_level(str(path))
    at_ready: dict[str, float] = {}

    def on_event(event: dict[str, object]) -> None:
        if event.get("kind") == "room_ready" and not at_ready:
            pids = [int(p["pid"]) for p in round_.processes if p.get("role") != "launcher"]
            at_ready.update(pss_mb=sum(_pss_kb(p) for p in pids) / 1024, cpu_s=sum(_cpu_s(p) for p in pids),
                            processes=len(pids))

    round_ = Round(level, level.resources, seed=1, on_event=on_event)
    start = time.perf_counter()
    result = net.run(round_.run())
    assert result.room_ready_s is not None
    runner_ready = next(e["t"] for e in result.events if e["kind"] == "room_ready")
    launched = start + (time.time() - time.perf_counter())  # perf_counter → wall clock
    left = wait_gone(round_.pids())
    assert not left, f"processes left behind: {left}"
    links = sum(1 for e in result.events if e["kind"] == "link_accepted")
    results = [e for e in result.events if e["kind"] == "result"]
    return {"office": result.room_ready_s, "runner": runner_ready - launched, "links": links,
            "sent": sum(1 for e in result.events if e["kind"] == "sent"),
            "delivered": sum(1 for e in results if e.get("state") == "delivered"), **at_ready}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--sizes", help="comma-separated room sizes (the first is the baseline)")
    parser.add_argument("--traffic", action="store_true", help="a third of the students send a note")
    parser.add_argument("--repeats", type=int)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    sizes = [int(n) for n in args.sizes.split(",")] if args.sizes else (
        [7, 30] if args.quick else [7, 30, 60, 120, 200])
    repeats = args.repeats or (2 if args.quick else 3)
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        paths = {n: grid_level(Path(tmp), n, args.traffic) for n in sizes}
        samples: dict[int, list[dict[str, float]]] = {n: [] for n in sizes}
        for _ in range(repeats):  # interleaved, so noise hits every size alike
            for n in sizes:
                samples[n].append(measure(paths[n]))
    print(f"{'students':>8} {'procs':>6} {'links':>6} {'office s':>9} {'runner s':>9} {'x base':>7} "
          f"{'x links':>8} {'PSS MB':>8} {'MB/proc':>8} {'CPU s':>7} {'notes':>9}")
    def med(n: int, key: str) -> float:
        return statistics.median(s.get(key, 0.0) for s in samples[n])

    base, base_links = med(sizes[0], "runner"), med(sizes[0], "links")
    for n in sizes:
        runner, links, procs = med(n, "runner"), med(n, "links"), med(n, "processes")
        pss = med(n, "pss_mb")
        notes = f"{med(n, 'delivered'):.0f}/{med(n, 'sent'):.0f}" if args.traffic else "-"
        print(f"{n:>8} {procs:>6.0f} {links:>6.0f} {med(n, 'office'):>9.3f} {runner:>9.3f} {runner / base:>7.2f} "
              f"{links / base_links:>8.2f} {pss:>8.1f} {pss / max(procs, 1):>8.2f} {med(n, 'cpu_s'):>7.2f} {notes:>9}")
        out.update({f"room{n}_office_ready_s": round(med(n, "office"), 3), f"room{n}_ready_s": round(runner, 3),
                    f"room{n}_links": links, f"room{n}_pss_mb": round(pss, 1),
                    f"room{n}_pss_mb_per_process": round(pss / max(procs, 1), 2),
                    f"room{n}_cpu_s": round(med(n, "cpu_s"), 2)})
        if args.traffic:
            out[f"room{n}_delivered"], out[f"room{n}_sent"] = med(n, "delivered"), med(n, "sent")
    if args.json:
        print(json.dumps(out))


if __name__ == "__main__":
    main()
