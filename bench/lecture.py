"""Lecture mode on a 30-student room: how fast a live rule change reaches every proxy, and what
100 pause/resume cycles cost the ledger.

    .venv/bin/python bench/lecture.py            # 20 pushes, 100 pauses
    .venv/bin/python bench/lecture.py --json     # the last line of stdout is one JSON object

One real round of a 5×6 grid (30 students, 30 sidecars, the office, the aisles), ten
senders writing across the room, and a lecture script (classroom.level.script) that pushes
a rule change live every 400 ms of room time (a VirtualService timeout, alternately 5 s and
6 s: a new version each time) and pauses the class for 100 ms of wall time 100 times.

* push → ack: room time from the runner's push (``rules_set``) to each proxy's
  acknowledgement of that version (``config_acked``), p50 and p99 over every proxy and push,
  and the time until the last proxy of a push has it. The baseline, in the same run, is the
  round's first configuration (the office's push at the start → each ack), which the office
  sends the same way with nothing else going on.
* pauses: the ledger after 100 pause/resume cycles (``ledger_ok``, duplicates), and the notes
  that moved once the class was paused: for each pause (100 ms of wall time), how long after it
  began the hub still heard a note move (events travel in batches of a few ms), against one
  passing time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from classroom.level import load_level
from classroom.level.script import load_script
from classroom.mesh.runtime.round import Round, wait_gone
from classroom.report import build_report

ROWS, COLS = 5, 6
PASSING_MS = 50


def level_doc() -> dict[str, Any]:
    names = [f"s{r}{c}" for r in range(ROWS) for c in range(COLS)]
    students = [{"name": n, "seat": [int(n[1]), int(n[2])]} for n in names]
    traffic = [{"from": names[i], "to": names[-1 - i], "count": 40, "every": "250ms", "text": "across"}
               for i in range(10)]
    return {"apiVersion": "classroom.mesh/v1", "kind": "Level",
            "metadata": {"name": "lecture-bench", "title": "Lecture bench"}, "seed": 3,
            "room": {"rows": ROWS, "cols": COLS, "passing_time": f"{PASSING_MS}ms", "links": "neighbours"},
            "students": students, "traffic": traffic,
            "mesh": {"resources": [{"apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
                                    "metadata": {"name": "default"}, "spec": {"mtls": {"mode": "STRICT"}}}]}}


def script(pushes: int, pauses: int) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = []
    for i in range(max(pushes, pauses)):
        at = f"{200 + i * 90}ms"
        if i < pushes and i % 4 == 0:
            vs = {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService", "metadata": {"name": "s45"},
                  "spec": {"hosts": ["s45"], "http": [{"timeout": f"{5 + (i // 4) % 2}s",
                                                        "route": [{"destination": {"host": "s45"}}]}]}}
            steps.append({"at": at, "do": "set", "resources": [vs]})
        if i < pauses:  # 45 ms after a push: room time stands still in a pause, so none may overlap one
            steps.append({"at": f"{245 + i * 90}ms", "do": "pause", "for": "100ms"})
    return steps


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))] if ordered else 0.0


async def main(pushes: int, pauses: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="classroom-lecture-") as tmp:
        level_path, script_path = Path(tmp) / "level.yaml", Path(tmp) / "script.yaml"
        level_path.write_text(yaml.safe_dump(level_doc()))
        script_path.write_text(yaml.safe_dump(script(pushes * 4, pauses)))
        level = load_level(str(level_path))
        steps = load_script(str(script_path), level)
        arrivals: list[tuple[float, str]] = []
        round_ = Round(level, level.resources, seed=level.seed, script=steps,
                       on_event=lambda e: arrivals.append((time.monotonic(), e["kind"])))
        result = await round_.run()
        assert wait_gone(round_.pids()) == []
    events = result.events
    report = build_report(level, level.seed, events, result.processes)
    pushed_at: dict[int, float] = {}
    for e in events:
        if e["kind"] == "config_pushed":
            pushed_at.setdefault(e["version"], e["t"])
    live = {e["version"] for e in events if e["kind"] == "policy_changed"}
    lags: dict[int, list[float]] = {}
    for e in events:
        if e["kind"] == "config_acked" and e["version"] in pushed_at:
            lags.setdefault(e["version"], []).append((e["t"] - pushed_at[e["version"]]) * 1000)
    first = lags.get(1, [])
    pushed = [lag for v, vs in lags.items() if v in live for lag in vs]
    last_of_push = [max(vs) for v, vs in lags.items() if v in live]
    # Each pause in real time (when the hub heard it), and the last note that moved after it began.
    windows: list[tuple[float, float]] = []
    began = None
    for real, kind in arrivals:
        if kind == "paused":
            began = real
        elif kind == "resumed" and began is not None:
            windows.append((began, real))
            began = None
    stops = []
    for a, b in windows:
        moves = [real - a for real, kind in arrivals if a <= real < b and kind in ("delivered", "forwarded")]
        stops.append(max(moves, default=0.0) * 1000)
    moved = sum(1 for s in stops if s > PASSING_MS + 10)
    out = {
        "students": ROWS * COLS, "proxies": sum(1 for p in result.processes if p["role"] == "proxy"),
        "live_pushes": len(live), "pauses": len(windows),
        "push_to_ack_p50_ms": round(percentile(pushed, 50), 2), "push_to_ack_p99_ms": round(percentile(pushed, 99), 2),
        "last_ack_of_push_p50_ms": round(statistics.median(last_of_push), 2) if last_of_push else None,
        "first_config_to_ack_p50_ms": round(percentile(first, 50), 2),
        "first_config_to_ack_p99_ms": round(percentile(first, 99), 2),
        "ledger_ok": report["ledger_ok"], "duplicates": report["notes"]["duplicates"],
        "delivered": report["notes"]["delivered"], "sent": report["notes"]["sent"],
        "pause_stop_p50_ms": round(percentile(stops, 50), 2), "pause_stop_max_ms": round(max(stops, default=0), 2),
        "passing_time_ms": PASSING_MS, "pauses_over_one_passing_time": moved,
    }
    print(f"{out['students']} students, {out['live_pushes']} live pushes, {out['pauses']} pause/resume cycles")
    print(f"push -> ack (room time): p50 {out['push_to_ack_p50_ms']} ms, p99 {out['push_to_ack_p99_ms']} ms; "
          f"the last proxy of a push: p50 {out['last_ack_of_push_p50_ms']} ms")
    print(f"baseline, the first configuration -> ack: p50 {out['first_config_to_ack_p50_ms']} ms, "
          f"p99 {out['first_config_to_ack_p99_ms']} ms")
    print(f"after the pauses: ledger_ok {out['ledger_ok']}, duplicates {out['duplicates']}, "
          f"delivered {out['delivered']}/{out['sent']}")
    print(f"a pause stops the class: the last note moved {out['pause_stop_p50_ms']} ms after it began (p50), "
          f"{out['pause_stop_max_ms']} ms at most; passing time {PASSING_MS} ms; pauses over it: {moved}")
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pushes", type=int, default=20)
    parser.add_argument("--pauses", type=int, default=100)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = asyncio.run(main(args.pushes, args.pauses))
    if args.json:
        print(json.dumps(result))
