"""Detours in the route table: only neighbours with a way on that does not come back through the hand."""

from __future__ import annotations

import networkx as nx
import pytest
from conftest import level_doc
from hypothesis import given, settings
from hypothesis import strategies as st

from classroom.level import load_level
from classroom.mesh.runtime.round import Round, wait_gone
from classroom.mesh.control.routes import next_hops, ranked_next_hops, seating_graph
from classroom.report import build_report


def test_a_neighbour_behind_the_hand_is_no_detour() -> None:
    # gus sits behind alice and has no other neighbour: he can reach cara only through alice.
    links = [("alice", "ben"), ("ben", "cara"), ("alice", "gus")]
    graph = seating_graph(["alice", "ben", "cara", "gus"], links)
    table = ranked_next_hops(graph)
    assert table["alice"]["cara"] == ["ben"]
    assert table["alice"]["gus"] == ["gus"]
    assert table["ben"]["gus"] == ["alice"]  # cara is a dead end for ben's notes to gus


def test_a_detour_is_ranked_by_its_way_round_not_back_through_the_hand() -> None:
    # A ring of six: from a, b is next door; f reaches b only the long way (f-e-d-c-b, four passes),
    # although in the whole room f is two passes from b (back through a).
    ring = seating_graph("abcdef", [("a", "b"), ("b", "c"), ("c", "d"), ("d", "e"), ("e", "f"), ("f", "a")])
    table = ranked_next_hops(ring)
    assert table["a"]["b"] == ["b", "f"]
    assert table["a"]["d"] == ["b", "f"]  # a tie either way round
    # A star: the centre's neighbours reach one another only through it.
    star = seating_graph("hxyz", [("h", "x"), ("h", "y"), ("h", "z")])
    assert ranked_next_hops(star)["h"] == {"x": ["x"], "y": ["y"], "z": ["z"]}


@settings(max_examples=60, deadline=None)
@given(st.integers(2, 9).flatmap(lambda n: st.tuples(
    st.just(n), st.sets(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=20))))
def test_every_listed_neighbour_has_a_way_on_without_the_hand(case: tuple[int, set[tuple[int, int]]]) -> None:
    n, pairs = case
    graph = seating_graph([f"s{i}" for i in range(n)], [(f"s{a}", f"s{b}") for a, b in pairs if a != b])
    table, shortest = ranked_next_hops(graph), next_hops(graph)
    for hand in graph.nodes:
        without = graph.subgraph(x for x in graph.nodes if x != hand)
        assert set(table[hand]) == set(shortest[hand])  # the same destinations
        for dest, hops in table[hand].items():
            assert hops[: len(shortest[hand][dest])] == shortest[hand][dest]
            able = {x for x in graph.neighbors(hand) if nx.has_path(without, x, dest)}
            assert set(hops) == able


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
        "spec": {"hosts": ["cara"], "http": [{"retries": {"attempts": 3, "retryOn": "5xx"}}]}})
    level = load_level(str(write_level(doc)))
    round_ = Round(level, level.resources, seed=level.seed)
    result = await round_.run()
    assert wait_gone(round_.pids()) == []
    report = build_report(level, level.seed, result.events, result.processes)
    assert report["ledger_ok"] and report["notes"]["failed"] == 5
    assert report["failures"]["refused"] == 5  # every try went to ben, who refused
    assert report["hop_load"].get("gus", 0) == 0
    assert [e for e in result.events if e.get("hand") == "gus" and e.get("note")] == []
