"""Chaos: how many seeded kill-runs hold the ledger, and what the kills cost the round's time.

    .venv/bin/python bench/chaos.py              # 10 runs of 4 kills each (40 kills, every role)
    .venv/bin/python bench/chaos.py --runs 3     # quicker
    .venv/bin/python bench/chaos.py --json       # the last line of stdout is one JSON object

Each run is the chaos test's (tests/test_chaos.py, the same level and the same seeded plan):
a real round of 8 students, their sidecars, the aisles, a teacher and the office, in which
the seed picks which processes to SIGKILL and when. A run *holds* when every note sent ended
in exactly one recorded state (``ledger_ok``), none was delivered twice, no process of the
round is left, and the round ended within its notes' timeouts plus a few seconds. The
baseline is the same round with no kill, in the same run: its time is what the kills are
compared with.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from test_chaos import chaos_run  # noqa: E402  (the chaos test's own run, not a copy of it)


def held(run: dict[str, Any]) -> bool:
    report = run["report"]
    return bool(report["ledger_ok"] and report["notes"]["duplicates"] == 0 and not run["left"]
                and run["took"] < run["limit"] + 30)


async def main(runs: int, kills: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="classroom-chaos-") as tmp:
        base = await chaos_run(Path(tmp), seed=1000, kills=0)
        print(f"baseline (no kill): {base['took']:.2f} s, ledger_ok {base['report']['ledger_ok']}, "
              f"notes {base['report']['notes']}")
        results = []
        for seed in range(1, runs + 1):
            run = await chaos_run(Path(tmp), seed, kills)
            ok = held(run)
            results.append({"seed": seed, "killed": run["killed"], "held": ok, "took_s": round(run["took"], 2),
                            "notes": run["report"]["notes"], "left": run["left"]})
            print(f"seed {seed:3d}  {'held' if ok else 'BROKE'}  {run['took']:6.2f} s "
                  f"({run['took'] / base['took']:.2f}x the baseline)  killed {', '.join(run['killed'])}")
    total_kills = sum(len(r["killed"]) for r in results)
    roles = sorted({k.split(":")[0] for r in results for k in r["killed"]})
    summary = {"runs": runs, "kills": total_kills, "held": sum(r["held"] for r in results),
               "roles_killed": roles, "baseline_s": round(base["took"], 2),
               "median_run_over_baseline": round(sorted(r["took_s"] for r in results)[len(results) // 2]
                                                 / base["took"], 2) if results else None}
    print(f"{summary['held']} of {runs} kill-runs held ({total_kills} kills across {', '.join(roles)})")
    return summary


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--kills", type=int, default=4, help="kills per run")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    out = asyncio.run(main(args.runs, args.kills))
    if args.json:
        print(json.dumps(out))
