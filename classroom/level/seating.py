"""The seating graph: who passes notes to whom, the routes over it, and where the teacher walks.

Theory of operation
-------------------
The room is a graph: a node per student, an edge per link (two desks that
pass notes to each other directly).  It is built in one place,
:func:`seating_graph`, for everyone who needs it: the level builder (every
student must be reachable: :func:`connected_parts`), :meth:`Level.graph
<classroom.level.model.Level.graph>`, the office (which routes notes over it)
and the window (which predicts each note's next hop the way the office does).

**Routes.**  The office computes, for every hand and every destination, the
neighbours that can take a note on towards it, nearest first
(:func:`ranked_next_hops`).  A proxy takes the first of them whose link is up,
and another one when a retry wants a different next hop.

**The teacher's patrol.**  She walks her waypoints back and forth
(:func:`patrol_position`, in seats) and watches the links with a desk within
:data:`REACH` of where she stands (:func:`links_near`).  Her own process uses
this to know what to watch, the window to draw her where she is.

All of it is pure.  networkx is imported only where a graph is made: the
teacher's process needs just the patrol geometry, and starts faster without it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import networkx as nx

REACH = 1.0  # she watches a link when one of its desks is this close (in seats)


def seating_graph(students: Iterable[str], links: Iterable[tuple[str, str]]) -> nx.Graph:
    """A node per student (linked or not), an edge per link."""
    import networkx as nx

    graph = nx.Graph()
    graph.add_nodes_from(students)
    graph.add_edges_from(links)
    return graph


def connected_parts(graph: nx.Graph) -> list[set[str]]:
    """The parts of the room that can pass notes within themselves (one when everyone is reachable)."""
    import networkx as nx

    return [set(part) for part in nx.connected_components(graph)]


def ranked_next_hops(graph: nx.Graph) -> dict[str, dict[str, list[str]]]:
    """For each hand and destination, every neighbour that can reach it, nearest first (see :func:`route_table`)."""
    return route_table(graph)[0]


def route_table(graph: nx.Graph) -> tuple[dict[str, dict[str, list[str]]], dict[str, dict[str, int]]]:
    """For each hand and destination, every neighbour that can reach it, nearest first; and how many
    of the first are equally near (a load balancer chooses among those).

    The head of each list is the shortest-path next hops (every neighbour on a
    shortest path, sorted); the rest are detours, for routing around a refusing
    or ejected neighbour.  A neighbour's distance is measured with the hand
    itself taken out of the room: a note is never handed back to a hand it has
    passed (the path it carries forbids that), so a neighbour whose only way on
    is back through this hand is a dead end and is not listed.  Longer loops
    are avoided by that path too, not by the table.
    """
    import networkx as nx

    table: dict[str, dict[str, list[str]]] = {}
    ties: dict[str, dict[str, int]] = {}
    for hand in graph.nodes:
        without = graph.subgraph(n for n in graph.nodes if n != hand)
        reach = {n: nx.single_source_shortest_path_length(without, n) for n in graph.neighbors(hand)}
        destinations = sorted({dest for distances in reach.values() for dest in distances})
        table[hand], ties[hand] = {}, {}
        for dest in destinations:
            ranked = sorted((n for n in reach if dest in reach[n]),
                            key=lambda n, dest=dest: (reach[n][dest], n))  # type: ignore[misc]
            table[hand][dest] = ranked
            ties[hand][dest] = sum(1 for n in ranked if reach[n][dest] == reach[ranked[0]][dest])
    return table, ties


def patrol_position(patrol: list[tuple[float, float]], distance: float) -> tuple[float, float]:
    """Where she stands after walking ``distance`` seats along her patrol, back and forth."""
    if len(patrol) == 1:
        return patrol[0]
    legs = [math.dist(a, b) for a, b in zip(patrol, patrol[1:], strict=False)]
    total = sum(legs)
    if total == 0:
        return patrol[0]
    distance %= 2 * total
    if distance > total:  # walking back
        distance = 2 * total - distance
    for (a, b), leg in zip(zip(patrol, patrol[1:], strict=False), legs, strict=True):
        if distance <= leg and leg > 0:
            f = distance / leg
            return (a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f)
        distance -= leg
    return patrol[-1]


def links_near(
    where: tuple[float, float], seats: dict[str, tuple[int, int]], links: list[tuple[str, str]]
) -> list[tuple[str, str]]:
    """The links with a desk within reach of where she stands."""
    return [
        (a, b) for a, b in links if min(math.dist(where, seats[a]), math.dist(where, seats[b])) <= REACH
    ]
