"""What the class model keeps, as plain data: desks, links, notes, the teacher and the counts.  No pygame.

:class:`~classroom.game.model.classmodel.ClassModel` builds and changes these
from the event stream; a view draws them and a test reads them.  Times are
room time, the clock of the events' ``t``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from classroom.game.model.moments import Moment
from classroom.report import percentile

NOTE_STATES = ("in_flight", "delivered", "dropped", "refused", "confiscated", "retrying", "failed")
DESK_STATES = ("present", "absent", "refusing", "ejected", "unmeshed")
LINK_MODES = ("mtls", "permissive", "plain", "unknown")


@dataclass(slots=True)
class Desk:
    name: str
    seat: tuple[int, int]  # (row, col)
    state: str = "present"  # one of DESK_STATES
    meshed: bool = True
    absent: bool = False
    refusing: bool = False
    ejected_until: float = 0.0  # events' clock
    failed_here: int = 0  # notes whose one outcome was a failure at this hand


@dataclass
class Link:
    a: str  # a < b
    b: str
    mode: str = "unknown"  # one of LINK_MODES
    up: bool = False
    tls: bool | None = None  # None until a proxy reported the link


@dataclass(slots=True)  # thousands of them are read every frame: slots make that cheaper
class Note:
    id: str
    sender: str
    recipient: str
    state: str = "in_flight"  # one of NOTE_STATES
    hop: tuple[str, str] | None = None  # (from, to) of the current hop; None while held at `at`
    progress: float = 0.0  # 0..1 along `hop`
    at: str = ""  # the last hand it reached
    hop_start: float = 0.0
    visited: list[str] = field(default_factory=list)
    avoid: set[str] = field(default_factory=set)
    ended: float | None = None  # when its outcome was known; retired LINGER passing times later
    final: bool = False


@dataclass
class TeacherState:
    present: bool = False
    x: float = 0.0  # column, in seats
    y: float = 0.0  # row, in seats
    watching: list[tuple[str, str]] = field(default_factory=list)
    bubble: str | None = None
    bubble_kind: str = ""  # "read", "ciphertext", "sealed", "caught", "impostor"
    bubble_until: float = 0.0
    bubble_moment: Moment | None = None  # the moment her bubble shows (the view marks it seen)


@dataclass
class Stats:
    sent: int = 0
    delivered: int = 0
    failed: int = 0
    retries: int = 0
    latencies_ms: list[float] = field(default_factory=list)

    @property
    def success_rate(self) -> float:
        """Delivered over notes whose outcome is known (1.0 before any)."""
        done = self.delivered + self.failed
        return self.delivered / done if done else 1.0

    @property
    def p50_ms(self) -> float:
        return percentile(self.latencies_ms, 50)

    @property
    def p99_ms(self) -> float:
        return percentile(self.latencies_ms, 99)


ObjectiveRow = tuple[str, str, str, bool | None]  # (label, current value, target, met or None: not yet)

