"""What a level is, once loaded: frozen dataclasses, and the one error for bad input.

Theory of operation
-------------------
A :class:`Level` and its parts (:class:`Room`, :class:`Student` and her
:class:`Behaviour`, :class:`Teacher`, :class:`Traffic`, :class:`AisleFault`,
:class:`Objective`) are plain frozen values: durations in seconds, links
resolved to sorted pairs of names.  Only :mod:`classroom.level.build` makes
them from a level file; the rest of the game reads them.

Every fault in a level or a ``--config`` file is one :class:`LevelError`, and
``str(error)`` is ``FILE:LINE: message`` (``FILE: message`` when no line
applies, such as an unknown level name or a missing file).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from classroom.level.seating import seating_graph

if TYPE_CHECKING:
    import networkx as nx

# The workload label that names a student, as Istio's samples label pods: app: <name>.
STUDENT_LABEL = "app"
AISLE_FAULT_KINDS = ("latency", "reset", "blackhole", "partition")


class LevelError(Exception):
    """Bad input in a level or config file. ``str(err) == f"{path}:{line}: {message}"``.

    ``line`` is 1-based; 0 means the error is about the file as a whole (it does
    not exist, or a level name is unknown), and then ``str(err)`` is
    ``f"{path}: {message}"``.
    """

    def __init__(self, path: str, line: int, message: str) -> None:
        self.path = path
        self.line = line
        self.message = message
        super().__init__(str(self))

    def __str__(self) -> str:
        if self.line:
            return f"{self.path}:{self.line}: {self.message}"
        return f"{self.path}: {self.message}"

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.path, self.line, self.message))


@dataclass(frozen=True)
class Behaviour:
    drops: float = 0.0
    refuses: bool = False
    absent: bool = False
    absent_after: float | None = None
    back_after: float | None = None
    slow: float = 0.0
    nosy: bool = False
    fails: float = 0.0  # chance she cannot take a note addressed to her (503): a broken new seat


@dataclass(frozen=True)
class Student:
    name: str
    seat: tuple[int, int]
    behaviour: Behaviour = field(default_factory=Behaviour)
    labels: tuple[tuple[str, str], ...] = ()  # e.g. (("app", "dana"), ("version", "v2"))
    meshed: bool = True  # false: no sidecar of the mesh yet, she speaks plaintext only

    @property
    def app(self) -> str:
        """The service she answers for (label ``app``), her own name by default."""
        return dict(self.labels).get(STUDENT_LABEL, self.name)


@dataclass(frozen=True)
class Room:
    rows: int
    cols: int
    passing_time: float
    links: tuple[tuple[str, str], ...]  # resolved undirected edges, each pair sorted


@dataclass(frozen=True)
class Teacher:
    patrol: tuple[tuple[int, int], ...]
    speed: float = 1.0
    eavesdrops: bool = False
    catches: float = 0.0
    impersonates: bool = False
    forges: bool = False  # she connects in plaintext and hands in a note claiming to be a student


@dataclass(frozen=True)
class Traffic:
    sender: str
    to: str
    count: int
    every: float
    text: str
    reply: bool = False
    hold: bool = False  # hold notes for an absent recipient until it comes back, within the note's timeout
    # The note's operation, carried in its routing header (never in its sealed text): what
    # AuthorizationPolicy operations, `when` conditions and VirtualService matches look at.
    path: str = "/note"
    method: str = "POST"
    headers: tuple[tuple[str, str], ...] = ()  # (name, value) pairs, sorted; names in lowercase


@dataclass(frozen=True)
class AisleFault:
    """A fault the aisles (the room network) injects on some links, times in seconds at speed 1."""

    kind: str  # one of AISLE_FAULT_KINDS
    links: tuple[tuple[str, str], ...]  # unordered pairs, each sorted: a pair covers both directions
    at: float
    until: float | None = None  # None: to the end of the round
    latency: float | None = None  # only (and always) for kind latency
    probability: float | None = None  # reset / partition: the chance each connection is cut (None: every one)


@dataclass(frozen=True)
class Objective:
    metric: str
    op: str
    value: float


@dataclass(frozen=True)
class Level:
    path: str
    name: str
    title: str
    concepts: tuple[str, ...]
    lesson: str
    seed: int
    room: Room
    students: tuple[Student, ...]
    teacher: Teacher | None
    traffic: tuple[Traffic, ...]
    profile: str
    resources: tuple[dict[str, Any], ...]
    editable: tuple[str, ...]
    objectives: tuple[Objective, ...]
    solution: tuple[dict[str, Any], ...] | None
    aisles: tuple[AisleFault, ...] = ()
    hints: tuple[str, ...] = ()  # revealed one at a time after a failed round
    speaker_notes: str = ""  # for the lecturer only
    office_goes_home: float | None = None  # room seconds after the class starts; the office is killed
    chapter: str = ""  # metadata.chapter: the mesh whose chapter it is, when not the one it runs (a migration)

    @property
    def mesh_chapter(self) -> str:
        """The campaign chapter (a mesh) the level belongs to: its own profile, or the mesh it moves off."""
        return self.chapter or self.profile

    def student(self, name: str) -> Student:
        for student in self.students:
            if student.name == name:
                return student
        raise KeyError(f"no student named {name!r} in level {self.name}")

    def graph(self) -> nx.Graph:
        """The seating graph: a node per student, an edge per link."""
        return seating_graph((s.name for s in self.students), self.room.links)
