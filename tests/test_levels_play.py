"""Every shipped level is playable: it starts broken and its solution wins.

For each level file in levels/ (a glob, so new levels are covered the day
they land) two real rounds run side by side, each a ``classroom run
--headless`` subprocess:

* the level's own starting configuration (``mesh.resources``) must NOT pass:
  exit 1, with a report that shows at least one objective missed. A level
  whose starting configuration *is* its solution (the tutorial levels, where
  nothing is broken yet) must pass instead;
* the level's ``solution`` must pass: exit 0, every objective met, ledger_ok.

The two rounds of a level run concurrently; the levels run one after another,
so at most two rounds share the machine's cores at a time.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import LEVELS, REPO

SPEED = 4  # every time of a level divided by 4: short rounds, passing times still visible
ROUND_LIMIT = 150.0  # seconds; a round at this speed takes under 10

LEVEL_FILES = sorted(LEVELS.glob("*.yaml"))


def _command(level: Path, report: Path, solution: bool, seed: int | None = None) -> list[str]:
    command = [sys.executable, "-m", "classroom.cli", "run", str(level), "--headless", "--quiet",
               "--speed", str(SPEED), "--report", str(report)]
    if seed is not None:
        command += ["--seed", str(seed)]
    return command + ["--solution"] if solution else command


def _start(level: Path, report: Path, solution: bool, seed: int | None = None) -> subprocess.Popen[str]:
    """A ``classroom run`` of the level (its solution, or its start), at the level's seed unless given."""
    env = {**os.environ, "SDL_VIDEODRIVER": "dummy", "SDL_AUDIODRIVER": "dummy"}
    return subprocess.Popen(_command(level, report, solution, seed), cwd=REPO, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)  # its own group: we can stop all it started


def _finish(proc: subprocess.Popen[str], deadline: float) -> tuple[int, str]:
    try:
        out, err = proc.communicate(timeout=max(deadline - time.monotonic(), 1.0))
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the group of the run we started, nothing else
        out, err = proc.communicate()
        pytest.fail(f"the round did not end within {ROUND_LIMIT:.0f} s:\n{out}\n{err}")
    return proc.returncode, out + err


def _report(path: Path, output: str) -> dict[str, Any]:
    assert path.is_file(), f"no report written; the run said:\n{output}"
    return json.loads(path.read_text())


def _summary(report: dict[str, Any]) -> str:
    objectives = ", ".join(
        f"{o['metric']} {o['op']} {o['target']:g}: {o['value']} ({'met' if o['passed'] else 'MISSED'})"
        for o in report["objectives"]
    )
    return f"notes {report['notes']}, ledger_ok {report['ledger_ok']}; {objectives}"


def test_levels_are_found() -> None:
    assert len(LEVEL_FILES) >= 7, [p.name for p in LEVEL_FILES]


@pytest.mark.timeout(2 * ROUND_LIMIT + 30)
@pytest.mark.parametrize("level", LEVEL_FILES, ids=[p.stem for p in LEVEL_FILES])
def test_level_starts_broken_and_solution_wins(level: Path, tmp_path: Path) -> None:
    doc = yaml.safe_load(level.read_text())
    assert doc.get("solution") is not None, f"{level.name} has no solution"
    starts_solved = (doc.get("mesh") or {}).get("resources") == doc["solution"].get("resources")

    start_report, solution_report = tmp_path / "start.json", tmp_path / "solution.json"
    deadline = time.monotonic() + ROUND_LIMIT
    start = _start(level, start_report, solution=False)
    solution = _start(level, solution_report, solution=True)
    start_code, start_output = _finish(start, deadline)
    solution_code, solution_output = _finish(solution, deadline)

    report = _report(solution_report, solution_output)
    assert solution_code == 0 and report["passed"], (
        f"{level.name}: the solution does not win (exit {solution_code}): {_summary(report)}"
    )
    assert report["ledger_ok"] is True
    assert all(o["passed"] for o in report["objectives"])

    report = _report(start_report, start_output)
    if starts_solved:
        assert start_code == 0 and report["passed"], (
            f"{level.name}: its starting configuration is its solution, yet it does not pass "
            f"(exit {start_code}): {_summary(report)}"
        )
    else:
        missed = [o["metric"] for o in report["objectives"] if not o["passed"]]
        assert start_code == 1 and (missed or not report["ledger_ok"]), (
            f"{level.name}: the starting configuration already wins (exit {start_code}); a level "
            f"must start broken: {_summary(report)}"
        )
