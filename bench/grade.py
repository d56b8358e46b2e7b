"""How long `classroom grade` takes, against the same grade at speed 1, and whether the verdicts agree.

    python bench/grade.py [--quick] [--submissions N] [--jobs J] [--speed X] [--json]

1. One submission over the whole campaign (every level, its solution, 1 visible + 1 hidden seed),
   graded as a course grades it (`classroom grade DIR`, the grading speed, one round per core),
   and, in the same run, the same grade at speed 1 (same seeds: --hidden-seed-values). Reported:
   both wall times and their ratio, and the verdict agreement, objective by objective (the target
   is 100%), and how many rounds missed something at the grading speed and were judged again at
   speed 1 (a miss that was the machine's, not the configuration's).
2. N submissions (default 30; --quick: 3), two in three right and one in three half right (the
   level's starting configuration on every other level, so its misses are judged again at speed
   1 as a real class's are), graded in one run. Reported: the wall time and per submission.

Targets (measured, not asserted): 1. ≤ 60 s on 2 cores; 2. thirty in ≤ 20 min. Every round is real;
the bench starts every process it measures through `classroom grade`, which stops them all.
The last line of stdout with --json is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from classroom.grade.speed import GRADING_SPEED  # noqa: E402
from classroom.level import Level, list_levels  # noqa: E402


def _plain(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _plain(v) for k, v in node.items()}
    if isinstance(node, list | tuple):
        return [_plain(v) for v in node]
    return node


def submission(folder: Path, levels: list[Level], half: bool) -> Path:
    folder.mkdir(parents=True)
    for i, level in enumerate(levels):
        resources = level.resources if half and i % 2 else level.solution
        (folder / f"{level.name}.yaml").write_text(yaml.safe_dump(_plain(list(resources or ())), sort_keys=False))
    return folder


def grade(folders: list[Path], report: Path, *options: str) -> float:
    """Wall seconds of one `classroom grade` run (its report written to ``report``)."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "classroom.cli", "grade", *map(str, folders), "--quiet",
                           "--report", str(report), *options], capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"classroom grade failed (exit {done.returncode}):\n{done.stderr}")
    return seconds


def _rounds(report: dict[str, Any]) -> dict[tuple[str, str, int, bool], list[dict[str, Any]]]:
    rounds: dict[tuple[str, str, int, bool], list[dict[str, Any]]] = defaultdict(list)
    for s in report["submissions"]:
        for lg in s["levels"]:
            for c in lg["checks"]:
                rounds[s["name"], lg["level"], c["seed"], c["hidden"]].append(c)
    return rounds


def agreement(fast: dict[str, Any], slow: dict[str, Any]) -> tuple[int, int, int, int]:
    """(objectives agreeing, objectives, rounds judged again at speed 1, of which met everything there)."""
    a, b = _rounds(fast), _rounds(slow)
    agree = total = 0
    for key, checks in a.items():
        for mine, theirs in zip(checks, b[key], strict=True):
            total += 1
            agree += mine["passed"] == theirs["passed"]
    again = [checks for checks in a.values() if checks and checks[0]["speed"] not in (None, fast["speed"])]
    return agree, total, len(again), sum(1 for checks in again if all(c["passed"] for c in checks))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 submissions in part 2, not 30")
    parser.add_argument("--submissions", type=int, help="part 2's submissions (0: skip part 2)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--speed", type=float, default=GRADING_SPEED)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    many = args.submissions if args.submissions is not None else (3 if args.quick else 30)
    levels = list_levels()
    out: dict[str, Any] = {"cores": os.cpu_count(), "jobs": args.jobs, "speed": args.speed, "levels": len(levels)}
    with tempfile.TemporaryDirectory(prefix="bench-grade-") as tmp:
        root = Path(tmp)
        one = submission(root / "one" / "right", levels, half=False)
        common = ["--seeds", "1", "--jobs", str(args.jobs)]
        fast_seconds = grade([one], root / "fast.json", *common, "--hidden-seeds", "1", "--speed", f"{args.speed:g}")
        fast = json.loads((root / "fast.json").read_text())
        seeds = ",".join(str(s) for s in fast["hidden_seeds"])
        slow_seconds = grade([one], root / "slow.json", *common, "--hidden-seed-values", seeds, "--speed", "1")
        slow = json.loads((root / "slow.json").read_text())
        agree, total, again, flipped = agreement(fast, slow)
        out.update(one_submission_s=round(fast_seconds, 1), one_submission_speed1_s=round(slow_seconds, 1),
                   speedup=round(slow_seconds / fast_seconds, 2), verdicts_agreeing=agree, verdicts=total,
                   agreement_pct=round(100 * agree / total, 1), rounds=2 * len(levels),
                   judged_again_at_speed1=again, judged_again_and_met=flipped,
                   score=fast["submissions"][0]["score"], max_score=fast["submissions"][0]["max_score"])
        print(f"one submission, {len(levels)} levels x (1 visible + 1 hidden seed) = {2 * len(levels)} rounds, "
              f"{args.jobs} at a time on {os.cpu_count()} cores:")
        print(f"  at speed {args.speed:g}: {fast_seconds:.1f} s (target <= 60 s); at speed 1: {slow_seconds:.1f} s; "
              f"{slow_seconds / fast_seconds:.2f}x faster")
        print(f"  verdicts agreeing with speed 1: {agree} of {total} objectives ({100 * agree / total:.1f}%); "
              f"{again} rounds missed something at speed {args.speed:g} and were judged again at speed 1, "
              f"{flipped} of them met everything there")
        if many:
            folders = [submission(root / "many" / f"s{i:02d}", levels, half=i % 3 == 2) for i in range(many)]
            seconds = grade(folders, root / "many.json", *common, "--hidden-seed-values", seeds,
                            "--speed", f"{args.speed:g}")
            report = json.loads((root / "many.json").read_text())
            again_many = sum(1 for checks in _rounds(report).values()
                             if checks and checks[0]["speed"] not in (None, report["speed"]))
            out.update(submissions=many, submissions_s=round(seconds, 1),
                       per_submission_s=round(seconds / many, 1), submissions_judged_again=again_many)
            print(f"{many} submissions ({many - many // 3} right, {many // 3} half right): {seconds:.1f} s, "
                  f"{seconds / many:.1f} s each (thirty: target <= 1200 s); {again_many} rounds judged again "
                  f"at speed 1")
    if args.json:
        print(json.dumps(out))


if __name__ == "__main__":
    main()
