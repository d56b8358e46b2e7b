"""Routes over the seating graph: which neighbour to hand a note to.

The office computes, for every hand and every destination, the neighbours
that lie on a shortest path to it (several when there are ties), best first.
A proxy takes the first of them whose link is up, and another one when a
retry wants a different next hop.  Pure functions over a networkx graph.
"""

from __future__ import annotations

from collections.abc import Iterable

import networkx as nx


def seating_graph(students: Iterable[str], links: Iterable[tuple[str, str]]) -> nx.Graph:
    graph = nx.Graph()
    graph.add_nodes_from(students)
    graph.add_edges_from(links)
    return graph


def next_hops(graph: nx.Graph) -> dict[str, dict[str, list[str]]]:
    """For each hand, each reachable destination: neighbours on a shortest path, sorted."""
    distance = dict(nx.all_pairs_shortest_path_length(graph))
    table: dict[str, dict[str, list[str]]] = {}
    for hand in graph.nodes:
        row: dict[str, list[str]] = {}
        for dest, d in distance[hand].items():
            if dest == hand:
                continue
            row[dest] = sorted(n for n in graph.neighbors(hand) if distance[n].get(dest, -1) == d - 1)
        table[hand] = row
    return table


def ranked_next_hops(graph: nx.Graph) -> dict[str, dict[str, list[str]]]:
    """For each hand and destination, every neighbour that can reach it, nearest first.

    The head of each list is the shortest-path next hops (as :func:`next_hops`);
    the rest are detours, for routing around a refusing or ejected neighbour.
    A neighbour's distance is measured with the hand itself taken out of the
    room: a note is never handed back to a hand it has passed (the path it
    carries forbids that), so a neighbour whose only way on is back through
    this hand is a dead end and is not listed.  Longer loops are avoided by
    that path too, not by the table.
    """
    table: dict[str, dict[str, list[str]]] = {}
    for hand in graph.nodes:
        without = graph.subgraph(n for n in graph.nodes if n != hand)
        reach = {n: nx.single_source_shortest_path_length(without, n) for n in graph.neighbors(hand)}
        destinations = sorted({dest for distances in reach.values() for dest in distances})
        table[hand] = {
            dest: sorted(
                (n for n in reach if dest in reach[n]),
                key=lambda n, dest=dest: (reach[n][dest], n),  # type: ignore[misc]
            )
            for dest in destinations
        }
    return table
