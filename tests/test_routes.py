"""The mesh's routes: the office's table over the seating graph, and a round that relies on it.

The table itself (:func:`classroom.level.seating.ranked_next_hops`) is tested in test_seating.py.
"""

from __future__ import annotations

import pytest
from conftest import level_doc

from classroom.level import load_level
from classroom.mesh.runtime.round import Round, wait_gone
from classroom.report import build_report


@pytest.mark.timeout(180)
async def test_a_refused_note_is_not_handed_into_a_dead_end(write_level) -> None:
    # ben refuses; alice's only other neighbour, gus, could hand cara's notes only back to alice.
    doc = level_doc(traffic=[{"from": "alice", "to": "cara", "count": 5, "every": "10ms", "text": "psst"}])
    doc["room"] = {"rows": 2, "cols": 3, "passing_time": "0ms", "links": "neighbours"}
    doc["students"] = [{"name": "alice", "seat": [0, 0]},
                       {"name": "ben", "seat": [0, 1], "behaviour": {"refuses": True}},
                       {"name": "cara", "seat": [0, 2]}, {"name": "gus", "seat": [1, 0]}]
    doc["mesh"]["resources"].append({
        "apiVersion": "networking.istio.io/v1", "kind": "VirtualService", "metadata": {"name": "cara"},
        "spec": {"hosts": ["cara"], "http": [{"retries": {"attempts": 3, "retryOn": "5xx"},
                                            "route": [{"destination": {"host": "cara"}}]}]}})
    level = load_level(str(write_level(doc)))
    round_ = Round(level, level.resources, seed=level.seed)
    result = await round_.run()
    assert wait_gone(round_.pids()) == []
    report = build_report(level, level.seed, result.events, result.processes)
    assert report["ledger_ok"] and report["notes"]["failed"] == 5
    assert report["failures"]["refused"] == 5  # every try went to ben, who refused
    assert report["hop_load"].get("gus", 0) == 0
    assert [e for e in result.events if e.get("hand") == "gus" and e.get("note")] == []
