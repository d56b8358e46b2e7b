"""One note at one hand: the request every outbound layer works on.

An :class:`Exchange` is the hand's job of getting one note one step closer to
its recipient and bringing the outcome back: the note's routing header as the
hand will pass it on (its own name already on ``path``), the sealed body, the
retry policy of the route, and the state of the tries this hand makes.  The
layers of :mod:`classroom.mesh.data.outbound` read and update it as the note
goes down the stack; the outcome comes back up as an
:class:`~classroom.mesh.outcomes.Outcome`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from classroom.mesh.control.policy import MeshPolicy, Retries, RouteRule
from classroom.mesh.control.request import DEFAULT_OPERATION, Operation
from classroom.mesh.runtime.clock import Clock
from classroom.mesh.runtime.dice import Dice

if TYPE_CHECKING:
    from classroom.mesh.data.cluster import Cluster
    from classroom.mesh.data.links import Link
    from classroom.mesh.outcomes import Outcome


@dataclass(slots=True)
class Exchange:
    id: str
    sender: str
    to: str  # the student it is for
    host: str  # the service it was written to (VirtualService host)
    trace: str
    deadline: float  # room time: the note's own timeout, set by its sender's hand
    path: list[str]  # the hands it has crossed, this one last
    body: bytes  # the sealed envelope (or the bare text when nothing is sealed)
    sealed: bool
    reply: bool  # its sender wants an answer
    retries: Retries
    origin: bool  # written by this hand's own student (else handed over by a classmate)
    cluster: Cluster  # this hand's state for the note's host and subset (budget, detector, breaker)
    rule: RouteRule | None = None  # the VirtualService http rule that took the note
    op: Operation = DEFAULT_OPERATION  # what it asks for
    arrival_tries: list[int] = field(default_factory=list)  # the tries along its path so far (dice keys)
    parent_span: str | None = None  # the try that handed it to us (W3C traceparent)
    subset: str | None = None  # the DestinationRule subset the route picked
    hold: bool = False  # wait for an absent recipient (at the origin, within the deadline)
    started: float = 0.0
    # The tries this hand makes:
    tries: int = 0  # retries made so far
    tried: list[str] = field(default_factory=list)  # next hops tried, in order
    try_deadline: float = 0.0  # room time the try in flight gives up (per-try timeout or the note's)
    try_delay: float = 0.0  # injected delay of the try in flight (DI), counted inside its timeout
    waited: bool = False  # the try in flight already waited once for a link being dialed again
    hop: Link | None = None  # the next hand the try in flight goes to (the balancer's choice)

    @property
    def arrival(self) -> str:
        """Which arrival of the note this is at this hand, as the dice know it ("0.1")."""
        return ".".join(map(str, self.arrival_tries))


class HandView(Protocol):
    """What the layers of a stack may ask of the hand they work for (:class:`~classroom.mesh.data.hand.Hand`)."""

    name: str
    clock: Clock
    dice: Dice
    policy: MeshPolicy
    neighbours: dict[str, Link]
    routes: dict[str, list[str]]
    ties: dict[str, int]  # how many of a destination's first next hops are equally near
    in_class: frozenset[str]
    passing_delay: float
    capture: Callable[[bytes], None] | None

    def emit(self, kind: str, **fields: Any) -> None: ...

    async def wait_present(self, student: str, until: float) -> bool: ...

    async def wait_link_up(self, links: list[Link], until: float) -> None: ...

    def settle(self, ex: Exchange, outcome: Outcome) -> None: ...
