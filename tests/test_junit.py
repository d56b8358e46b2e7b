"""`classroom run --junit FILE` as CI reads it: one testsuite for the round, a testcase per objective
(named in words, classname the level), ledger and configuration loads; read with junitparser."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, level_doc
from junitparser import Error, Failure, JUnitXml

pytestmark = pytest.mark.timeout(180)


def classroom(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "classroom.cli", *args], capture_output=True, text=True,
                          timeout=150, cwd=REPO)


def _cases(path: Path) -> tuple[dict[str, str], dict[str, object]]:
    xml = JUnitXml.fromfile(str(path))
    suites = list(xml)
    assert len(suites) == 1
    suite = suites[0]
    return {p.name: p.value for p in suite.properties()}, {case.name: case for case in suite}


def test_a_round_is_a_testsuite_with_a_testcase_per_objective(write_level, tmp_path: Path) -> None:
    objectives = [{"metric": "delivered_ratio", "op": ">=", "value": 1.0},
                  {"metric": "retries", "op": ">=", "value": 5}]  # nobody retries in this row: missed
    level = write_level(level_doc(objectives=objectives))
    junit = tmp_path / "round.xml"
    done = classroom("run", str(level), "--headless", "--quiet", "--junit", str(junit))
    assert done.returncode == 1, done.stderr
    properties, cases = _cases(junit)
    assert list(cases) == ["notes delivered ≥ 100%", "retries ≥ 5", "ledger", "configuration loads"]
    assert all(case.classname == "test-row" for case in cases.values())
    assert not cases["notes delivered ≥ 100%"].result
    missed = cases["retries ≥ 5"].result
    assert isinstance(missed[0], Failure) and missed[0].message == "retries: 0, wanted ≥ 5"
    assert not cases["ledger"].result and not cases["configuration loads"].result
    assert properties["seed"] == "7" and properties["level"] == "test-row" and properties["classroom_version"]


def test_a_failure_says_why_by_flag_and_hand(write_level, tmp_path: Path) -> None:
    # ben refuses to pass notes on and nobody retries: alice's notes to fay fail at ben.
    doc = level_doc(behaviours={"ben": {"refuses": True}}, traffic=[
        {"from": "alice", "to": "cara", "count": 3, "every": "10ms"}],
        room={"rows": 1, "cols": 3, "passing_time": "0ms", "links": "neighbours"})
    doc["students"] = [s for s in doc["students"] if s["name"] in ("alice", "ben", "cara")]
    junit = tmp_path / "round.xml"
    done = classroom("run", str(write_level(doc)), "--headless", "--quiet", "--junit", str(junit))
    assert done.returncode == 1, done.stderr
    _, cases = _cases(junit)
    missed = cases["notes delivered ≥ 100%"].result[0]
    assert missed.message.startswith("notes delivered: 0%, wanted ≥ 100%: 3 notes at ")
    assert "ben" in missed.message


def test_a_configuration_that_does_not_load_fails_configuration_loads(tmp_path: Path) -> None:
    config = tmp_path / "mine.yaml"
    config.write_text("- apiVersion: security.istio.io/v1\n  kind: PeerAuthentication\n"
                      "  metadata: {name: default}\n  spec: {mtls: {mode: STRICTLY}}\n")
    junit = tmp_path / "round.xml"
    done = classroom("run", "first-note", "--config", str(config), "--junit", str(junit))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1 and "mine.yaml:4:" in done.stderr
    _, cases = _cases(junit)
    broken = cases["configuration loads"].result[0]
    assert isinstance(broken, Failure) and "mine.yaml:4:" in broken.message
    unjudged = [case for name, case in cases.items() if name != "configuration loads"]
    assert len(unjudged) == 4 and all(isinstance(c.result[0], Error) for c in unjudged)
