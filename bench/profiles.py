"""The seven meshes' shapes on a bigger room than any level: what a sidecar per student costs
against a proxy per row, with enough notes that the kernel's 10 ms CPU ticks matter little.

    .venv/bin/python bench/profiles.py                       # istio, linkerd, cilium, traefik, consul
    .venv/bin/python bench/profiles.py --profiles istio,traefik --json   # last stdout line: one object

One real round per profile (classroom.compare, the code behind ``classroom compare``) of a
4×6 grid (24 students), eight senders writing across the room, 60 notes each (480 notes),
no faults, no teacher, each profile's defaults. For each: processes and proxy processes,
PSS summed over the round's processes just after room_ready, proxy CPU seconds per 1,000
notes after room_ready, p50/p99 delivery time, room-ready time.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

import yaml

from classroom.compare import compare, config_for
from classroom.level import load_level

ROWS, COLS = 4, 6
PASSING_MS = 20


def level_doc() -> dict[str, Any]:
    names = [f"s{r}{c}" for r in range(ROWS) for c in range(COLS)]
    students = [{"name": n, "seat": [int(n[1]), int(n[2])]} for n in names]
    traffic = [{"from": names[i], "to": names[-1 - i], "count": 60, "every": "50ms", "text": "across the room"}
               for i in range(8)]
    return {"apiVersion": "classroom.mesh/v1", "kind": "Level",
            "metadata": {"name": "profiles-bench", "title": "Profiles bench"}, "seed": 5,
            "room": {"rows": ROWS, "cols": COLS, "passing_time": f"{PASSING_MS}ms", "links": "neighbours"},
            "students": students, "traffic": traffic}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", default="istio,linkerd,cilium,traefik,consul")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    names = args.profiles.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "profiles-bench.yaml"
        path.write_text(yaml.safe_dump(level_doc(), sort_keys=False))
        level = load_level(str(path))
        configs = {}
        for name in names:
            under, resources, _ = config_for(level, name, None)
            configs[name] = (under, resources)
        result = compare(level, names, configs, level.seed, 1.0)
    rows = result["profiles"]
    print(f"{'profile':8} {'arch':8} {'mtls':10} {'procs':>5} {'proxies':>7} {'PSS MB':>7} {'CPU s/1k':>8} "
          f"{'p50 ms':>7} {'p99 ms':>7} {'ready s':>7} {'delivered':>9}")
    for name, r in rows.items():
        print(f"{name:8} {r['architecture']:8} {r['mtls']:10} {r['processes']:5} {r['proxy_processes']:7} "
              f"{r['pss_mb']:7.1f} {r['cpu_s_per_1000_notes']:8.2f} {r['p50_ms']:7.1f} {r['p99_ms']:7.1f} "
              f"{r['room_ready_s']:7.2f} {r['delivered']:4}/{r['sent']}")
    if args.json:
        print(json.dumps({"bench": "profiles", "profiles": rows}))


if __name__ == "__main__":
    main()
