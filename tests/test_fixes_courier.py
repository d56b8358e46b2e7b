"""Real rounds for the courier's tries: each retry may wait again for a cut link being dialed back."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import level_doc

from classroom.level import load_level
from classroom.mesh.runtime.round import Round, wait_gone
from classroom.report import build_report

pytestmark = pytest.mark.timeout(180)


def virtual_service(host: str, **http: Any) -> dict[str, Any]:
    return {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
            "metadata": {"name": host}, "spec": {"hosts": [host], "http": [http]}}


async def play(write_level, doc: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    level = load_level(str(write_level(doc)))
    round_ = Round(level, level.resources, seed=level.seed)
    result = await round_.run()
    assert wait_gone(round_.pids()) == []
    return build_report(level, level.seed, result.events, result.processes), result.events


async def test_every_retry_waits_again_for_a_link_being_dialed_back(write_level) -> None:
    # alice, ben and cara in a row: alice's only way to cara is her link to ben, cut for 4 s.
    # Each try may wait up to its per-try time for that link to come back; twelve tries
    # outlast the cut, but only if every retry gets its own wait.
    doc = level_doc(traffic=[{"from": "alice", "to": "cara", "count": 4, "every": "100ms",
                              "text": "after the bump"}])
    doc["room"] = {"rows": 1, "cols": 3, "passing_time": "0ms", "links": "neighbours"}
    doc["students"] = [{"name": n, "seat": [0, i]} for i, n in enumerate(("alice", "ben", "cara"))]
    doc["aisles"] = {"faults": [{"kind": "reset", "links": [["alice", "ben"]], "at": "0ms", "until": "4s"}]}
    doc["mesh"]["resources"].append(virtual_service(
        "cara", timeout="30s", retries={"attempts": 12, "perTryTimeout": "500ms", "retryOn": "5xx,reset"}))
    report, events = await play(write_level, doc)
    assert report["ledger_ok"]
    assert any(e.get("kind") == "link_down" and e.get("hand") == "alice" for e in events)  # the cut happened
    assert report["notes"]["delivered"] == report["notes"]["sent"] == 4
