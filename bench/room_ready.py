"""How long a room takes to get ready: certificates issued, configuration pushed, links up.

    python bench/room_ready.py [--quick] [--json]

Runs real rounds of 7, 30 and (without --quick) 60 students seated in a grid,
with no traffic, and reports two times per room: the office's (from its start
to every proxy acknowledging its configuration with its links up) and the
runner's (from launching the first process to that moment). The 7-student
room is the baseline the others are compared with, in the same run.
"""

from __future__ import annotations

import argparse
import json
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


def grid_level(directory: Path, students: int) -> Path:
    cols = 6
    doc = {
        "apiVersion": "classroom.mesh/v1",
        "kind": "Level",
        "metadata": {"name": f"room-{students}"},
        "room": {"rows": (students + cols - 1) // cols, "cols": cols, "passing_time": "0ms",
                 "links": "neighbours"},
        "students": [{"name": f"s{i:03d}", "seat": [i // cols, i % cols]} for i in range(students)],
        "traffic": [],
        "mesh": {"resources": [{"apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
                                "metadata": {"name": "default"}, "spec": {"mtls": {"mode": "STRICT"}}}]},
    }
    path = directory / f"room-{students}.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def measure(path: Path) -> tuple[float, float, int]:
    level = load_level(str(path))
    round_ = Round(level, level.resources, seed=1)
    start = time.perf_counter()
    result = net.run(round_.run())
    assert result.room_ready_s is not None
    runner_ready = next(e["t"] for e in result.events if e["kind"] == "room_ready")
    launched = start + (time.time() - time.perf_counter())  # perf_counter → wall clock
    left = wait_gone(round_.pids())
    assert not left, f"processes left behind: {left}"
    links = sum(1 for e in result.events if e["kind"] == "link_accepted")
    return result.room_ready_s, runner_ready - launched, links


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    sizes = [7, 30] if args.quick else [7, 30, 60]
    repeats = 2 if args.quick else 3
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        paths = {n: grid_level(Path(tmp), n) for n in sizes}
        samples: dict[int, list[tuple[float, float, int]]] = {n: [] for n in sizes}
        for _ in range(repeats):  # interleaved, so noise hits every size alike
            for n in sizes:
                samples[n].append(measure(paths[n]))
    print(f"{'students':>8} {'links':>6} {'office ready s':>15} {'runner ready s':>15} {'vs 7':>6}")
    base = statistics.median(s[1] for s in samples[sizes[0]])
    for n in sizes:
        office = statistics.median(s[0] for s in samples[n])
        runner = statistics.median(s[1] for s in samples[n])
        links = samples[n][0][2]
        print(f"{n:>8} {links:>6} {office:>15.3f} {runner:>15.3f} {runner / base:>6.2f}")
        out[f"room{n}_office_ready_s"] = round(office, 3)
        out[f"room{n}_ready_s"] = round(runner, 3)
    if args.json:
        print(json.dumps(out))


if __name__ == "__main__":
    main()
