"""What becomes of a note: the one table of failures, their flags, causes and words.

Theory of operation
-------------------
Every way a try can fail is a :class:`Why`: the *kind* of failure that
Envoy's ``retryOn`` conditions name (``connect-failure``, ``refused-stream``,
``reset``, a per-try timeout ...), the HTTP status it stands for, the
Envoy-style response :class:`Flag` the access log would show, and the
report's *cause* (the five counters of the report's ``failures``).  The
layers of the proxy's stacks never write a status, flag or cause by hand:
they fail a try with a ``Why`` and a reason in words
(:meth:`Outcome.failure`), and this table says the rest.  The report, the
window and the telemetry read the same table for their words.

An :class:`Outcome` is what one try (or one whole note, at its sender) ends
in: delivered, with the path it took and any sealed reply, or failed, with
its kind, status, flag, cause and reason.  It travels back hand to hand as an
ACK (:mod:`classroom.mesh.runtime.messages`), so a hand up the path retries
on exactly what the hand below saw.

:func:`retryable` is Envoy's decision whether a ``retryOn`` list covers a
failure; a policy denial (403) is never retried.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Flag(enum.StrEnum):
    """Envoy's response flags, the ones a classroom can raise."""

    UH = "UH"  # no healthy upstream: nobody to hand the note to
    UF = "UF"  # upstream connection failure: the next hand could not be reached
    UC = "UC"  # upstream connection termination: the link was cut mid-try
    UT = "UT"  # upstream request timeout: no answer in time
    URX = "URX"  # upstream retry limit exceeded: retries were made and ran out
    UO = "UO"  # upstream overflow: a circuit breaker said no
    NR = "NR"  # no route configured for the note
    DI = "DI"  # a delay was injected (fault injection)
    FI = "FI"  # an abort was injected (fault injection)


FLAG_WORDS: dict[str, str] = {
    Flag.UH: "no healthy hand to pass it to",
    Flag.UF: "could not reach the next hand",
    Flag.UC: "the link was cut while the note was on it",
    Flag.UT: "no answer in time",
    Flag.URX: "retried until the retries ran out",
    Flag.UO: "a circuit breaker turned it away",
    Flag.NR: "no route for it",
    Flag.DI: "a delay was injected",
    Flag.FI: "a fault was injected",
}


class Kind(enum.StrEnum):
    """What went wrong with one try, in the terms of Envoy's retry conditions."""

    CONNECT_FAILURE = "connect-failure"  # the next hop could not be reached
    REFUSED = "refused-stream"  # the next hop refused to take the note
    RESET = "reset"  # the connection was cut mid-try
    TIMEOUT = "timeout"  # no answer within the per-try or the note's timeout
    DENIED = "denied"  # a policy said no (403): never retried
    ABORTED = "aborted"  # an injected fault (fault.abort.httpStatus)
    NO_ROUTE = "no-route"  # no healthy next hop at all, or no route rule takes it
    TAMPERED = "tampered"  # the envelope did not open: forged or altered
    OVERFLOW = "overflow"  # a circuit breaker turned it away before any hand saw it: never retried


# The report's failure causes (its `failures` object), in the order it lists them.
TIMEOUT, REFUSED, DENIED, RESET, ABSENT = "timeout", "refused", "denied", "reset", "absent"
CAUSES = (TIMEOUT, REFUSED, DENIED, RESET, ABSENT)
CAUSE_WORDS = {
    TIMEOUT: "no answer in time",
    REFUSED: "a hand refused it",
    DENIED: "a class rule (or a broken seal) denied it",
    RESET: "a link was cut or could not be reached",
    ABSENT: "nobody there to take it",
}


@dataclass(frozen=True, slots=True)
class Why:
    """One way a try fails: its kind, status, flag and the report's cause."""

    kind: Kind
    status: int
    flag: Flag | None
    cause: str


NO_HEALTHY_UPSTREAM = Why(Kind.NO_ROUTE, 503, Flag.UH, ABSENT)  # nobody reachable answers for it
NO_ROUTE = Why(Kind.NO_ROUTE, 503, Flag.NR, ABSENT)  # no student answers for its host or subset
NO_MATCHING_RULE = Why(Kind.NO_ROUTE, 404, Flag.NR, ABSENT)  # the host's VirtualService has no rule that takes it
HAND_ABSENT = Why(Kind.REFUSED, 503, Flag.UH, ABSENT)  # the hand it reached is not at the desk
HAND_REFUSES = Why(Kind.REFUSED, 503, None, REFUSED)  # the hand it reached will not pass it on
CANNOT_TAKE = Why(Kind.REFUSED, 503, None, REFUSED)  # the recipient could not take it (behaviour.fails)
RBAC_DENIED = Why(Kind.DENIED, 403, None, DENIED)  # an AuthorizationPolicy said no
SEAL_BROKEN = Why(Kind.TAMPERED, 400, None, DENIED)  # the envelope did not open
TRY_TIMEOUT = Why(Kind.TIMEOUT, 504, Flag.UT, TIMEOUT)  # the per-try timeout, or the note's own
LINK_RESET = Why(Kind.RESET, 503, Flag.UC, RESET)  # the link to the next hand was cut
CONNECT_FAILURE = Why(Kind.CONNECT_FAILURE, 503, Flag.UF, RESET)  # the next hand could not be reached
FAULT_ABORT = Why(Kind.ABORTED, 503, Flag.FI, REFUSED)  # fault injection (status from the fault)
OVERFLOW = Why(Kind.OVERFLOW, 503, Flag.UO, REFUSED)  # the connectionPool's limits: no room, no queue

# A cause for a kind, when an answer from a peer names a kind but no cause.
_CAUSE_OF_KIND = {
    Kind.TIMEOUT: TIMEOUT, Kind.REFUSED: REFUSED, Kind.ABORTED: REFUSED, Kind.DENIED: DENIED,
    Kind.TAMPERED: DENIED, Kind.RESET: RESET, Kind.CONNECT_FAILURE: RESET, Kind.NO_ROUTE: ABSENT,
    Kind.OVERFLOW: REFUSED,
}
_STATUS_OF_KIND = {
    Kind.CONNECT_FAILURE: 503, Kind.REFUSED: 503, Kind.RESET: 503, Kind.TIMEOUT: 504, Kind.DENIED: 403,
    Kind.NO_ROUTE: 503, Kind.TAMPERED: 400, Kind.ABORTED: 503, Kind.OVERFLOW: 503,
}
# The events that end one arrival of a note at a hand (any try): exactly one each.  The ones that
# turn the note away there are the failures of that try as the hand saw them.
ARRIVALS = frozenset({"forwarded", "refused", "dropped", "delivered", "duplicate_suppressed", "absent_refused",
                      "seal_broken"})
TURNED_AWAY = frozenset({"refused", "absent_refused", "policy_denied", "seal_broken", "dropped"})

KINDS = frozenset(k.value for k in Kind)
FLAGS = frozenset(f.value for f in Flag)
DELIVERED, FAILED = "delivered", "failed"


def cause_of(kind: str) -> str:
    return _CAUSE_OF_KIND.get(Kind(kind), REFUSED) if kind in KINDS else REFUSED


class Outcome:
    """How a try, or a whole note, ended: delivered, or failed with why.

    Made with :meth:`delivered` and :meth:`failure`; read, never changed,
    except :meth:`with_flag` (a new outcome that only swaps the flag).
    """

    __slots__ = ("ok", "kind", "status", "flag", "cause", "reason", "path", "reply", "sealed", "by", "hop")

    def __init__(self, ok: bool, kind: str | None, status: int, flag: str | None, cause: str | None,
                 reason: str | None, path: list[str] | None, reply: bytes, sealed: bool, by: str,
                 hop: str | None) -> None:
        self.ok = ok
        self.kind = kind
        self.status = status
        self.flag = flag
        self.cause = cause
        self.reason = reason
        self.path = path
        self.reply = reply
        self.sealed = sealed
        self.by = by  # the hand that decided it
        self.hop = hop  # the next hand the try went to, if it went anywhere

    @classmethod
    def delivered(cls, path: list[str] | None, reply: bytes = b"", sealed: bool = True, by: str = "",
                  hop: str | None = None) -> Outcome:
        return cls(True, None, 200, None, None, None, path, reply, sealed, by, hop)

    @classmethod
    def failure(cls, why: Why, reason: str, by: str = "", hop: str | None = None,
                status: int | None = None) -> Outcome:
        return cls(False, why.kind, why.status if status is None else status, why.flag, why.cause, reason,
                   None, b"", True, by, hop)

    @classmethod
    def answered(cls, kind: str, status: int | None, flag: str | None, cause: str | None, reason: str | None,
                 by: str, hop: str | None) -> Outcome:
        """A failure as the hand below reported it in its answer."""
        kind = kind if kind in KINDS else Kind.REFUSED
        return cls(False, kind, status if status is not None else _STATUS_OF_KIND[Kind(kind)],
                   flag if flag in FLAGS else None, cause if cause in CAUSES else cause_of(kind), reason,
                   None, b"", True, by, hop)

    @property
    def state(self) -> str:
        return DELIVERED if self.ok else FAILED

    @property
    def is_5xx(self) -> bool:
        return self.status >= 500

    def with_flag(self, flag: str | None) -> Outcome:
        return Outcome(self.ok, self.kind, self.status, flag, self.cause, self.reason, self.path, self.reply,
                       self.sealed, self.by, self.hop)

    def __repr__(self) -> str:
        if self.ok:
            return f"Outcome(delivered, path={self.path})"
        return f"Outcome(failed {self.kind} {self.status} {self.flag}: {self.reason})"


def retryable(retry_on: frozenset[str], outcome: Outcome) -> bool:
    """Whether a ``retryOn`` list (Envoy's tokens and bare status codes) covers the failure."""
    kind = outcome.kind
    if outcome.ok or kind in (Kind.DENIED, Kind.OVERFLOW):  # Envoy never retries a circuit breaker's overflow
        return False
    if str(outcome.status) in retry_on:
        return True
    if "5xx" in retry_on and outcome.is_5xx:
        return True
    if "gateway-error" in retry_on and outcome.status in (502, 503, 504) and kind != Kind.ABORTED:
        return True
    if kind == Kind.CONNECT_FAILURE:
        return "connect-failure" in retry_on
    if kind == Kind.REFUSED:
        return bool({"refused-stream", "unavailable"} & retry_on)
    if kind == Kind.RESET:
        return "reset" in retry_on
    return False



def explain(failed_at: dict[str, dict[str, int]], limit: int = 3) -> list[str]:
    """Why notes failed, in words, most common first: ``7 notes at eli: retried until the retries ran
    out (URX)``.  ``failed_at`` is the report's: for each hand, its failures by flag (or by cause)."""
    counted = sorted(((n, hand, why) for hand, whys in failed_at.items() for why, n in whys.items()),
                     key=lambda item: (-item[0], item[1], item[2]))
    lines = []
    for n, hand, why in counted[:limit]:
        words = FLAG_WORDS.get(why) or CAUSE_WORDS.get(why, why)
        code = f" ({why})" if why in FLAGS else ""
        lines.append(f"{n} note{'s' if n != 1 else ''} at {hand}: {words}{code}")
    return lines
