"""The seating graph, the ranked next hops over it, and the teacher's patrol geometry (all pure)."""

from __future__ import annotations

import subprocess
import sys

import networkx as nx
from conftest import REPO
from hypothesis import given, settings
from hypothesis import strategies as st

from classroom.level.seating import (
    REACH,
    connected_parts,
    links_near,
    patrol_position,
    ranked_next_hops,
    seating_graph,
)


def shortest_next_hops(graph: nx.Graph, hand: str, dest: str) -> list[str]:
    """The neighbours of ``hand`` on a shortest path to ``dest``, sorted: what a ranked list starts with."""
    return sorted({path[1] for path in nx.all_shortest_paths(graph, hand, dest)})


def head(graph: nx.Graph, table: dict[str, dict[str, list[str]]], hand: str, dest: str) -> list[str]:
    """The first hops of ``table[hand][dest]`` that are as near to ``dest`` as the nearest one."""
    hops = table[hand][dest]
    nearest = nx.shortest_path_length(graph, hops[0], dest)
    return [n for n in hops if nx.shortest_path_length(graph, n, dest) == nearest]


# --------------------------------------------------------------------------- the graph


def test_seating_graph_keeps_students_without_links() -> None:
    graph = seating_graph(["ada", "bob", "cy"], [("ada", "bob")])
    assert set(graph.nodes) == {"ada", "bob", "cy"}
    assert set(map(frozenset, graph.edges)) == {frozenset({"ada", "bob"})}


def test_connected_parts() -> None:
    assert connected_parts(seating_graph("abc", [("a", "b"), ("b", "c")])) == [{"a", "b", "c"}]
    parts = connected_parts(seating_graph(["a", "b", "c", "d", "loner"], [("a", "b"), ("c", "d")]))
    assert sorted(map(sorted, parts)) == [["a", "b"], ["c", "d"], ["loner"]]


def test_importing_the_seating_module_does_not_import_networkx() -> None:
    # The teacher's process uses the patrol geometry only; networkx costs a third of a second to import.
    code = "import sys, classroom.level.seating, classroom.mesh.room.teacher; print('networkx' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.strip() == "False"


# --------------------------------------------------------------------------- shortest next hops first


def test_line() -> None:
    graph = seating_graph("abcd", [("a", "b"), ("b", "c"), ("c", "d")])
    table = ranked_next_hops(graph)
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
    graph = _grid(3, 3)
    table = ranked_next_hops(graph)
    # corner to opposite corner: right and down are equally good
    assert table["r0c0"]["r2c2"] == ["r0c1", "r1c0"]
    assert table["r2c2"]["r0c0"] == ["r1c2", "r2c1"]
    # the centre to a corner: two ways, then the two detours round the far side
    assert head(graph, table, "r1c1", "r0c0") == ["r0c1", "r1c0"]
    assert table["r1c1"]["r0c0"] == ["r0c1", "r1c0", "r1c2", "r2c1"]
    # straight along a row: only one way, then the detour down and round
    assert table["r0c0"]["r0c2"] == ["r0c1", "r1c0"]
    assert head(graph, table, "r0c0", "r0c2") == ["r0c1"]
    # a neighbour is reached directly
    assert head(graph, table, "r1c1", "r1c2") == ["r1c2"]


def test_ties_are_sorted_whatever_the_insertion_order() -> None:
    # a square: zed and amy both lie between top and bottom; zed is linked first
    graph = seating_graph(
        ["top", "zed", "amy", "bottom"],
        [("top", "zed"), ("zed", "bottom"), ("top", "amy"), ("amy", "bottom")],
    )
    assert ranked_next_hops(graph)["top"]["bottom"] == ["amy", "zed"]


def test_disconnected_parts_have_no_entry() -> None:
    graph = seating_graph(["a", "b", "c", "d", "loner"], [("a", "b"), ("c", "d")])
    table = ranked_next_hops(graph)
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
    table = ranked_next_hops(graph)
    dist = dict(nx.all_pairs_shortest_path_length(graph))
    for source in graph.nodes:
        assert set(table[source]) == set(graph.nodes) - {source}
        for dest in graph.nodes:
            if dest == source:
                continue
            hand, steps = source, 0
            while hand != dest:
                hops = table[hand][dest]
                assert hops, f"{hand} has no way to {dest}"
                nearest = shortest_next_hops(graph, hand, dest)
                assert hops[: len(nearest)] == nearest == sorted(nearest)
                nxt = hops[0]
                assert graph.has_edge(hand, nxt)
                hand, steps = nxt, steps + 1
                assert steps <= len(graph)
            assert steps == dist[source][dest]


@settings(max_examples=100, deadline=None)
@given(graph=connected_graphs())
def test_listed_hops_start_with_exactly_the_neighbours_on_shortest_paths(graph: nx.Graph) -> None:
    table = ranked_next_hops(graph)
    for source in graph.nodes:
        for dest, hops in table[source].items():
            on_shortest = {
                n
                for n in graph.neighbors(source)
                if any(path[1] == n for path in nx.all_shortest_paths(graph, source, dest))
            }
            assert set(head(graph, table, source, dest)) == on_shortest
            assert hops[: len(on_shortest)] == sorted(on_shortest)
            assert len(hops) == len(set(hops))


# --------------------------------------------------------------------------- detours


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
    table = ranked_next_hops(graph)
    for hand in graph.nodes:
        without = graph.subgraph(x for x in graph.nodes if x != hand)
        reachable = set(nx.node_connected_component(graph, hand)) - {hand}
        assert set(table[hand]) == reachable  # the same destinations as the shortest paths reach
        for dest, hops in table[hand].items():
            shortest = shortest_next_hops(graph, hand, dest)
            assert hops[: len(shortest)] == shortest
            able = {x for x in graph.neighbors(hand) if nx.has_path(without, x, dest)}
            assert set(hops) == able


# --------------------------------------------------------------------------- the teacher's patrol


def test_she_walks_her_patrol_back_and_forth() -> None:
    patrol = [(0.0, 0.0), (0.0, 4.0)]
    assert patrol_position(patrol, 0) == (0.0, 0.0)
    assert patrol_position(patrol, 1.5) == (0.0, 1.5)
    assert patrol_position(patrol, 5.0) == (0.0, 3.0)  # on her way back
    assert patrol_position(patrol, 8.0) == (0.0, 0.0)
    assert patrol_position([(1.0, 1.0)], 7.0) == (1.0, 1.0)


def test_she_watches_the_links_next_to_her() -> None:
    seats = {"a": (0, 0), "b": (0, 1), "c": (0, 2), "d": (0, 3)}
    links = [("a", "b"), ("b", "c"), ("c", "d")]
    assert REACH == 1.0
    assert links_near((0.0, 0.0), seats, links) == [("a", "b"), ("b", "c")]  # b is a seat away
    assert links_near((0.0, 1.5), seats, links) == [("a", "b"), ("b", "c"), ("c", "d")]
