"""The `classroom` command as a user, a grader or CI calls it: exit codes, one-line errors, reports."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import LEVELS, REPO, descendants, level_doc

from classroom.mesh.runtime.round import alive, wait_gone

pytestmark = pytest.mark.timeout(180)


def classroom(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "classroom.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
    )


def test_first_level_runs_headless_and_writes_the_report(tmp_path: Path) -> None:
    report_file = tmp_path / "r.json"
    done = classroom(
        "run", str(LEVELS / "01-first-note.yaml"), "--headless", "--speed", "5", "--report", str(report_file)
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(report_file.read_text())
    for key in (
        "level",
        "seed",
        "profile",
        "passed",
        "objectives",
        "notes",
        "ledger_ok",
        "failures",
        "retries",
        "latency_ms",
        "teacher",
        "intermediaries_read",
        "processes",
        "links",
    ):
        assert key in report, key
    assert report["passed"] and report["ledger_ok"]
    assert report["notes"]["delivered"] == report["notes"]["sent"] > 0
    assert report["hands"]["max"] >= 3
    roles = {p["role"] for p in report["processes"]}
    assert {"office", "student", "proxy"} <= roles
    assert all(isinstance(p["pid"], int) for p in report["processes"])
    assert report["links"] and all(lk["tls"] == "TLSv1.3" and lk["mutual"] for lk in report["links"])
    assert "PASSED" in done.stdout
    assert wait_gone([p["pid"] for p in report["processes"]]) == []


def test_a_level_can_be_named_instead_of_a_path(tmp_path: Path) -> None:
    done = classroom(
        "run",
        "nosy-neighbours",
        "--headless",
        "--speed",
        "10",
        "--solution",
        "--quiet",
        "--report",
        str(tmp_path / "r.json"),
    )
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "r.json").read_text())["intermediaries_read"] == 0


def test_an_unmet_objective_exits_1(write_level, tmp_path: Path) -> None:
    doc = level_doc(traffic=[{"from": "alice", "to": "cara", "count": 3, "every": "10ms", "text": "hi"}])
    doc["objectives"] = [{"metric": "delivered_ratio", "op": "<", "value": 0.5}]
    done = classroom(
        "run", str(write_level(doc)), "--headless", "--quiet", "--report", str(tmp_path / "r.json")
    )
    assert done.returncode == 1, done.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["passed"] is False and report["objectives"][0]["passed"] is False


@pytest.mark.parametrize(
    "args, phrase",
    [
        (["run", "no-such-level", "--headless"], "no-such-level"),
        (["run", "first-note", "--headless", "--frobnicate"], "--frobnicate"),
        (["run", "first-note", "--speed", "fast"], "--speed"),
        (["run", "first-note", "--config", "/nonexistent/mesh.yaml"], "/nonexistent/mesh.yaml"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], phrase: str) -> None:
    done = classroom(*args)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert phrase in lines[0] and "Traceback" not in done.stderr


def test_a_broken_level_names_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    doc = level_doc()
    doc["students"][2]["seat"] = [9, 9]
    bad.write_text(yaml.safe_dump(doc, sort_keys=False))
    done = classroom("run", str(bad), "--headless")
    assert done.returncode == 2
    line = done.stderr.strip()
    assert line.startswith(f"classroom: error: {bad}:") and "outside the room" in line
    assert "\n" not in line


def test_ctrl_c_stops_every_process_of_the_round(write_level) -> None:
    doc = level_doc(
        traffic=[{"from": "alice", "to": "fay", "count": 200, "every": "100ms", "text": "a long lesson"}]
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "classroom.cli", "run", str(write_level(doc)), "--headless", "--quiet"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        family: set[int] = set()
        while time.monotonic() < deadline:  # until the launcher has forked the whole room
            family = descendants(proc.pid)
            if len(family) >= 17:
                break
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            time.sleep(0.05)
        assert len(family) >= 17
        # Ctrl-C in a terminal: SIGINT to the whole foreground process group.
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(60)
        assert proc.returncode == 130
        assert "interrupted" in (proc.stderr.read() if proc.stderr else "")
        assert wait_gone(sorted(family)) == []
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert not any(alive(p) for p in family)


@pytest.mark.parametrize("misspelt", ["--headles", "--sol", "--spee=2"])
def test_a_misspelt_or_abbreviated_option_is_an_unknown_option_of_that_command(misspelt: str) -> None:
    done = classroom("run", "first-note", misspelt)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "see `classroom run --help`" in done.stderr and misspelt.split("=")[0] in done.stderr


def test_replay_prints_times_to_the_millisecond(tmp_path: Path) -> None:
    recording = tmp_path / "round.jsonl"
    done = classroom("run", "first-note", "--headless", "--quiet", "--speed", "5", "--record", str(recording))
    assert done.returncode == 0, done.stderr
    replayed = classroom("replay", str(recording))
    assert replayed.returncode == 0, replayed.stderr
    numbers = [word.split("=", 1)[1] for line in replayed.stdout.splitlines() for word in line.split()
               if "=" in word and word.split("=", 1)[1].replace(".", "", 1).isdigit()]
    assert numbers and all(len(n.partition(".")[2]) <= 3 for n in numbers), numbers
