"""Process specs: what the runner tells each process of a round when it is forked.

Theory of operation
-------------------
The runner (:mod:`classroom.mesh.runtime.round`) builds one spec per process
from the level and the configuration; the launcher sends it to the new child
as JSON (:meth:`Spec.to_json`), and the child's role reads it back as the
same typed dataclass (:meth:`Spec.from_json`).  A spec holds plain data only:
names, numbers, addresses and the mesh policy in its JSON form.  Sockets go
separately, as file descriptors, in the order each spec's docstring gives.

Every spec carries the path of the round's clock file (``clock``) and the
round's seed: a process knows the time and the dice only through them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar


@dataclass(frozen=True)
class Spec:
    """What every process of a round is told: its clock, its seed, its class (namespace)."""

    role: ClassVar[str] = ""
    clock: str | None  # the round's shared clock file; None: a private clock (benches, tests)
    seed: int
    namespace: str

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Any:
        return cls(**data)


@dataclass(frozen=True)
class Behaviour:
    """What a student's hand does with the notes it is handed (the level's behaviour)."""

    nosy: bool = False
    drops: float = 0.0
    refuses: bool = False
    slow: float = 0.0  # seconds (room time) she sits on a note before passing it on
    fails: float = 0.0  # chance she cannot take a note addressed to her
    meshed: bool = True  # has a sidecar of the mesh (else plaintext only)


@dataclass(frozen=True)
class HandSpec:
    name: str
    behaviour: Behaviour = field(default_factory=Behaviour)


@dataclass(frozen=True)
class ProxySpec(Spec):
    """A proxy process.  File descriptors: its control socket, then (peer, app) listeners per hand."""

    role: ClassVar[str] = "proxy"
    id: str
    hands: tuple[HandSpec, ...]
    renew_at: float = 0.5
    passing_time: float = 0.0  # added by the proxy itself when no aisles carry the links (benches)
    capture_dir: str | None = None
    telemetry: bool = True

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ProxySpec:
        hands = tuple(HandSpec(h["name"], Behaviour(**h.get("behaviour", {}))) for h in data["hands"])
        return cls(**{**data, "hands": hands})


@dataclass(frozen=True)
class OfficeSpec(Spec):
    """The office.  File descriptors: the events listener, then one control socket per channel
    (each proxy in ``proxies`` order, then the aisles', then the teacher's)."""

    role: ClassVar[str] = "office"
    students: tuple[str, ...]
    links: tuple[tuple[str, str], ...]
    hands: dict[str, dict[str, Any]]  # student -> {"proxy": id, "address": [host, port]}
    labels: dict[str, dict[str, str]]
    unmeshed: tuple[str, ...]
    proxies: tuple[str, ...]
    policy: dict[str, Any]
    ca_dir: str | None = None
    aisles: bool = True
    teacher: bool = False
    via: dict[str, list[Any]] = field(default_factory=dict)  # "a>b" -> the aisles' listener for that link
    metrics_port: int | None = None
    subscriber_buffer: int | None = None
    profile: str = "istio"  # the mesh: a linkerd class's cards also carry Linkerd's identity string

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> OfficeSpec:
        return cls(**{**data, "students": tuple(data["students"]),
                      "links": tuple((str(a), str(b)) for a, b in data["links"]),
                      "unmeshed": tuple(data["unmeshed"]), "proxies": tuple(data["proxies"])})


@dataclass(frozen=True)
class TrafficLine:
    to: str
    count: int
    every: float
    text: str
    reply: bool = False
    hold: bool = False
    path: str = "/note"  # the notes' operation: carried in their routing header, never in their text
    method: str = "POST"
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class StudentSpec(Spec):
    """A student (the workload).  No file descriptors: she dials her proxy's app port."""

    role: ClassVar[str] = "student"
    name: str
    proxy: tuple[str, int]
    traffic: tuple[TrafficLine, ...] = ()
    absent_after: float | None = None
    back_after: float | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StudentSpec:
        host, port = data["proxy"]
        return cls(**{**data, "proxy": (str(host), int(port)),
                      "traffic": tuple(TrafficLine(**{**t, "headers": tuple(tuple(p) for p in t.get("headers", ()))})
                                       for t in data.get("traffic", ()))})


@dataclass(frozen=True)
class AisleLink:
    """One directed link a→b the aisles carry: a dials the aisles' listener, the aisles dial b."""

    a: str
    b: str
    target: tuple[str, int]


@dataclass(frozen=True)
class AisleFaultSpec:
    kind: str
    links: tuple[tuple[str, str], ...]
    at: float = 0.0
    until: float | None = None
    latency: float | None = None
    probability: float | None = None


@dataclass(frozen=True)
class AislesSpec(Spec):
    """The aisles.  File descriptors: the control socket, one listener per link (``links`` order),
    then the teacher's socket when ``teacher`` is set."""

    role: ClassVar[str] = "aisles"
    passing_time: float
    links: tuple[AisleLink, ...]
    faults: tuple[AisleFaultSpec, ...] = ()
    teacher: bool = False
    teacher_address: tuple[str, int] | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AislesSpec:
        address = data.get("teacher_address")
        return cls(**{**data,
                      "links": tuple(AisleLink(d["a"], d["b"], (str(d["target"][0]), int(d["target"][1])))
                                     for d in data["links"]),
                      "faults": tuple(AisleFaultSpec(**{**f, "links": tuple(tuple(p) for p in f["links"])})
                                      for f in data.get("faults", ())),
                      "teacher_address": (str(address[0]), int(address[1])) if address else None})


@dataclass(frozen=True)
class TeacherSpec(Spec):
    """The teacher.  File descriptors: her channel to the office, her channel to the aisles, and the
    listener on which she poses as a student."""

    role: ClassVar[str] = "teacher"
    patrol: tuple[tuple[float, float], ...]
    walk: float  # seats per second (room time)
    eavesdrops: bool
    catches: float
    impersonates: bool
    seats: dict[str, tuple[int, int]]
    links: tuple[tuple[str, str], ...]
    forges: bool = False  # she hands in plaintext notes claiming to come from a student

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TeacherSpec:
        return cls(**{**data, "patrol": tuple((float(r), float(c)) for r, c in data["patrol"]),
                      "seats": {n: (int(s[0]), int(s[1])) for n, s in data["seats"].items()},
                      "links": tuple((str(a), str(b)) for a, b in data["links"])})


SPECS: dict[str, type[Spec]] = {
    cls.role: cls for cls in (ProxySpec, OfficeSpec, StudentSpec, AislesSpec, TeacherSpec)
}
