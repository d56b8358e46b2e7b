"""Routes over the seating graph: next hops on shortest paths."""

from __future__ import annotations

import networkx as nx
from hypothesis import given, settings
from hypothesis import strategies as st

from classroom.mesh.control.routes import next_hops, seating_graph


def test_seating_graph_keeps_students_without_links() -> None:
    graph = seating_graph(["ada", "bob", "cy"], [("ada", "bob")])
    assert set(graph.nodes) == {"ada", "bob", "cy"}
    assert set(map(frozenset, graph.edges)) == {frozenset({"ada", "bob"})}


def test_line() -> None:
    graph = seating_graph("abcd", [("a", "b"), ("b", "c"), ("c", "d")])
    table = next_hops(graph)
    assert table["a"] == {"b": ["b"], "c": ["b"], "d": ["b"]}
    assert table["b"] == {"a": ["a"], "c": ["c"], "d": ["c"]}
    assert table["d"] == {"a": ["c"], "b": ["c"], "c": ["c"]}
    assert all(hand not in row for hand, row in table.items())


def _grid(rows: int, cols: int) -> nx.Graph:
    def name(r: int, c: int) -> str:
        return f"r{r}c{c}"

    students = [name(r, c) for r in range(rows) for c in range(cols)]
    links = [(name(r, c), name(r, c + 1)) for r in range(rows) for c in range(cols - 1)]
    links += [(name(r, c), name(r + 1, c)) for r in range(rows - 1) for c in range(cols)]
    return seating_graph(students, links)


def test_grid_ties_list_both_neighbours_sorted() -> None:
    table = next_hops(_grid(3, 3))
    # corner to opposite corner: right and down are equally good
    assert table["r0c0"]["r2c2"] == ["r0c1", "r1c0"]
    assert table["r2c2"]["r0c0"] == ["r1c2", "r2c1"]
    # the centre to a corner: two ways
    assert table["r1c1"]["r0c0"] == ["r0c1", "r1c0"]
    # straight along a row: only one way
    assert table["r0c0"]["r0c2"] == ["r0c1"]
    # a neighbour is reached directly
    assert table["r1c1"]["r1c2"] == ["r1c2"]


def test_ties_are_sorted_whatever_the_insertion_order() -> None:
    # a square: zed and amy both lie between top and bottom; zed is linked first
    graph = seating_graph(
        ["top", "zed", "amy", "bottom"],
        [("top", "zed"), ("zed", "bottom"), ("top", "amy"), ("amy", "bottom")],
    )
    assert next_hops(graph)["top"]["bottom"] == ["amy", "zed"]


def test_disconnected_parts_have_no_entry() -> None:
    graph = seating_graph(["a", "b", "c", "d", "loner"], [("a", "b"), ("c", "d")])
    table = next_hops(graph)
    assert table["a"] == {"b": ["b"]}
    assert table["c"] == {"d": ["d"]}
    assert table["loner"] == {}
    assert "loner" not in table["a"]
    assert set(table) == {"a", "b", "c", "d", "loner"}


@st.composite
def connected_graphs(draw: st.DrawFn) -> nx.Graph:
    n = draw(st.integers(2, 10))
    names = draw(st.permutations([f"s{i:02d}" for i in range(n)]))
    # a random spanning tree makes it connected, then some extra links make cycles and ties
    links = [(names[i], names[draw(st.integers(0, i - 1))]) for i in range(1, n)]
    pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1 :]]
    links += draw(st.lists(st.sampled_from(pairs), max_size=n))
    return seating_graph(names, links)


@settings(max_examples=150, deadline=None)
@given(graph=connected_graphs())
def test_following_first_hops_takes_a_shortest_path(graph: nx.Graph) -> None:
    table = next_hops(graph)
    dist = dict(nx.all_pairs_shortest_path_length(graph))
    for source in graph.nodes:
        assert set(table[source]) == set(graph.nodes) - {source}
        for dest in graph.nodes:
            if dest == source:
                continue
            hand, steps = source, 0
            while hand != dest:
                hops = table[hand][dest]
                assert hops == sorted(hops)
                assert hops, f"{hand} has no way to {dest}"
                nxt = hops[0]
                assert graph.has_edge(hand, nxt)
                hand, steps = nxt, steps + 1
                assert steps <= len(graph)
            assert steps == dist[source][dest]


@settings(max_examples=100, deadline=None)
@given(graph=connected_graphs())
def test_listed_hops_are_exactly_the_neighbours_on_shortest_paths(graph: nx.Graph) -> None:
    table = next_hops(graph)
    for source in graph.nodes:
        for dest, hops in table[source].items():
            on_shortest = {
                n
                for n in graph.neighbors(source)
                if any(path[1] == n for path in nx.all_shortest_paths(graph, source, dest))
            }
            assert set(hops) == on_shortest
            assert len(hops) == len(set(hops))
