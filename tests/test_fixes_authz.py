"""AuthorizationPolicy selectors pick students by their labels, as Istio's matchLabels pick pods."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import level_doc

from classroom.level import LevelError, load_level
from classroom.mesh.control.authz import DENY, Policy, Rule, decide, from_json, policies_from, to_json
from classroom.mesh.runtime.round import Round, wait_gone
from classroom.report import build_report

pytestmark = pytest.mark.timeout(180)
V1 = {"app": "dana", "version": "v1"}
V2 = {"app": "dana", "version": "v2"}


def policy(match_labels: dict[str, str] | None) -> dict[str, Any]:
    spec: dict[str, Any] = {"action": "DENY", "rules": [{"from": [{"source": {"namespaces": ["test-row"]}}]}]}
    if match_labels is not None:
        spec["selector"] = {"matchLabels": match_labels}
    return {"apiVersion": "security.istio.io/v1", "kind": "AuthorizationPolicy",
            "metadata": {"name": "dana-takes-no-notes"}, "spec": spec}


def test_a_selector_matches_labels_not_names() -> None:
    (by_app,) = policies_from([policy({"app": "dana"})], "test-row")
    (by_version,) = policies_from([policy(V2)], "test-row")
    gus = "classroom.local/ns/test-row/sa/gus"
    assert not decide((by_app,), "dana-v1", gus, "dana-v1", V1).allowed
    assert not decide((by_app,), "dana-v2", gus, "dana-v2", V2).allowed
    assert decide((by_version,), "dana-v1", gus, "dana-v1", V1).allowed  # the other version
    assert not decide((by_version,), "dana-v2", gus, "dana-v2", V2).allowed
    # Without labels of her own, a student's app label is her name.
    assert not decide(policies_from([policy({"app": "ben"})], "test-row"), "ben", gus, "ben").allowed
    assert decide((by_app,), "ben", gus, "ben").allowed
    assert from_json(to_json((by_app, by_version))) == (by_app, by_version)


def test_labels_given_replace_the_name_as_app() -> None:
    only_dana_v1 = (Policy("rules/by-name", DENY, "dana-v1", (Rule(),)),)
    assert decide(only_dana_v1, "dana-v1", None, "dana-v1", V1).allowed  # her app is dana, not dana-v1


def canary_level(tmp_path: Path, resources: list[dict[str, Any]]) -> Path:
    doc = level_doc(traffic=[{"from": "alice", "to": "dana", "count": 6, "every": "10ms", "text": "seat?"},
                             {"from": "alice", "to": "ben", "count": 3, "every": "10ms", "text": "hi"}])
    doc["room"] = {"rows": 2, "cols": 2, "passing_time": "0ms", "links": "neighbours"}
    doc["students"] = [{"name": "alice", "seat": [0, 0]}, {"name": "ben", "seat": [0, 1]},
                       {"name": "dana-v1", "seat": [1, 0], "labels": V1},
                       {"name": "dana-v2", "seat": [1, 1], "labels": V2}]
    doc["mesh"]["resources"] += resources
    path = tmp_path / "canary.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


@pytest.mark.parametrize("labels", [{"app": "dana-v1"}, {"app": "dana", "version": "v3"}])
def test_a_selector_that_fits_no_student_is_refused(tmp_path: Path, labels: dict[str, str]) -> None:
    with pytest.raises(LevelError) as info:
        load_level(str(canary_level(tmp_path, [policy(labels)])))
    assert "selector matches nobody" in str(info.value)


async def test_an_app_selector_guards_both_seats_of_a_canary_pair(tmp_path: Path) -> None:
    level = load_level(str(canary_level(tmp_path, [policy({"app": "dana"})])))
    round_ = Round(level, level.resources, seed=level.seed)
    result = await round_.run()
    assert wait_gone(round_.pids()) == []
    report = build_report(level, level.seed, result.events, result.processes)
    outcomes = [e for e in result.events if e.get("kind") == "result"]
    to_dana = [r for r in outcomes if r["to"].startswith("dana")]
    assert len(to_dana) == 6 and all(r["state"] == "failed" and r["cause"] == "denied" for r in to_dana)
    assert {r["to"] for r in to_dana} == {"dana-v1", "dana-v2"}  # both seats took some, both said no
    assert all(r["state"] == "delivered" for r in outcomes if r["to"] == "ben")
    denials = [e for e in result.events if e.get("kind") == "policy_denied"]
    assert {d["hand"] for d in denials} <= {"dana-v1", "dana-v2"}
    assert all(d["policy"] == "test-row/dana-takes-no-notes" for d in denials)
    assert report["ledger_ok"]
