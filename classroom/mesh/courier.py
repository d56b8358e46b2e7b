"""The courier: what a hand does with notes — send, relay, retry, receive, account.

Theory of operation
-------------------
Every note that passes through a hand, its own student's or a classmate's, is
an :class:`Exchange`: the hand's job of getting that note one step closer to
its recipient and bringing the outcome back.  An exchange makes *tries*: it
picks a next hop (the route's nearest healthy neighbour, another one on a
retry when there is one), sends the note with a fresh attempt number, and
starts the per-try timer.  A try ends in one of three ways:

* an ACK comes back: delivered, or failed with a kind (``refused-stream``,
  ``reset``, ``timeout`` ...) and a status;
* the per-try timer fires (504, ``UT``);
* the connection to the next hop is reset (503, ``UC``).

A failed try is retried when the VirtualService's ``retries`` allow it
(``attempts``, ``retryOn``), time remains before the note's deadline, and the
DestinationRule's retry budget has room; between tries it waits a jittered
exponential backoff.  Each try also feeds outlier detection, which ejects a
neighbour after consecutive failures so that later tries skip it.

When the exchange settles, the outcome goes back to whoever handed us the
note (an ACK on the connection it came on), or, for our own student's note,
into the ledger: :meth:`Courier._finish` is the one place a note gets its
terminal state, exactly once.

Every hand that takes a note applies the route's retry policy to its own next
hop, as each sidecar in a chain of services does.  Without a budget, a
failing last hop therefore sees its load multiplied hop by hop: the retry
storm that retry budgets exist to stop.

The recipient opens the seal, hands the note to its student once (receipts
are kept by note id), waits for the student's reply if one was asked for,
and answers every try of that note, first or retried, with the same sealed
reply: a lost reply is survived by the sender retrying, never by the student
reading the note twice.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from classroom.mesh import authz, net, pki, wire
from classroom.mesh.config import DISABLE, Retries
from classroom.mesh.dice import chance, happens
from classroom.mesh.net import FrameConnection
from classroom.mesh.resilience import (
    ABORTED,
    CONNECT_FAILURE,
    DENIED,
    NO_ROUTE,
    REFUSED,
    RESET,
    TIMEOUT,
    Failure,
    OutlierDetector,
    RetryBudget,
    backoff,
    classify,
    retryable,
)
from classroom.mesh.seal import SealError

if TYPE_CHECKING:
    from classroom.mesh.proxy import Hand, Link

NOTE, ACK = wire.FrameType.NOTE, wire.FrameType.ACK
DELIVERED, FAILED = "delivered", "failed"
RECEIPT_MARGIN = 10.0  # seconds (at speed 1) a receipt outlives its note's deadline
CONNECT_WAIT = 1.0  # seconds a try may wait for a cut link to come back (Envoy's connect timeout)
# The report's failure causes, from the kind of the last try's failure.
CAUSES = {TIMEOUT: "timeout", REFUSED: "refused", ABORTED: "refused", DENIED: "denied",
          "tampered": "denied", RESET: "reset", CONNECT_FAILURE: "reset", NO_ROUTE: "absent"}


@dataclass
class Exchange:
    """One note at one hand: the tries this hand makes to pass it on."""

    id: str
    sender: str
    to: str
    trace: str
    deadline: float  # wall clock: processes share the machine's clock
    header: dict[str, Any]  # what we forward, our name already on its path
    body: bytes
    retries: Retries
    upstream: FrameConnection | None = None  # who handed it to us; None: our own student
    upstream_attempt: int = 0
    arrival: str = ""  # which arrival of the note this is (the tries along its path); keys its dice
    started: float = field(default_factory=time.time)
    tries: int = 0  # retries made so far
    tried: list[str] = field(default_factory=list)
    key: tuple[str, int] | None = None  # the try in flight
    hop: Link | None = None
    timer: asyncio.TimerHandle | None = None  # the try's per-try timeout
    deadline_timer: asyncio.TimerHandle | None = None  # the note's timeout, at its origin
    settled: bool = False
    reply_wanted: bool = False
    hold: bool = False  # wait for an absent recipient (at the origin, within the deadline)
    waited: bool = False  # the try in flight already waited for a link being dialed again
    budgeted: bool = False  # holds a retry of the retry budget, from its decision to its outcome
    host: str = ""  # the service the note was written to (VirtualService host); ``to`` is its student
    subset: str | None = None  # the DestinationRule subset the route picked
    parent_span: str | None = None  # the try that handed the note to us (W3C traceparent)
    span: str = ""  # the try in flight: one span per hop attempt
    span_start: float = 0.0


@dataclass
class Receipt:
    """The recipient's memory of a note: handed over once, answered as often as asked."""

    expires: float  # after the note's deadline no sender still tries it
    answer: dict[str, Any] | None = None
    reply: bytes = b""
    waiting: list[tuple[FrameConnection, int]] = field(default_factory=list)


class Courier:
    def __init__(self, hand: Hand, seed: int, speed: float) -> None:
        self.hand = hand
        self.name = hand.name
        self.seed = seed
        self.speed = speed
        self.emit = hand.emit
        self.pending: dict[tuple[str, int], Exchange] = {}
        # Note ids our student sent; the exchange itself is dropped once the note is settled.
        self.ledger: dict[str, Exchange | None] = {}
        self.receipts: dict[str, Receipt] = {}
        self.forgotten: set[str] = set()  # receipts past their note's deadline: ids only
        self.budgets: dict[str, RetryBudget] = {}
        self.outliers: dict[str, OutlierDetector] = {}
        self.reply_paths: dict[str, tuple[str, list[str]]] = {}
        self.held: dict[str, list[Exchange]] = {}  # notes waiting for an absent recipient
        self._attempts = 0

    # --- policy lookups ---------------------------------------------------------------
    def _budget(self, host: str) -> RetryBudget | None:
        policy = self.hand.policy.destination(host).budget
        if policy is None:
            return None
        budget = self.budgets.get(host)
        if budget is None:
            budget = self.budgets[host] = RetryBudget(policy.percent, policy.min_retry_concurrency)
        return budget

    def _outlier(self, host: str) -> OutlierDetector | None:
        policy = self.hand.policy.destination(host).outlier
        if policy is None:
            return None
        detector = self.outliers.get(host)
        if detector is None:
            detector = self.outliers[host] = OutlierDetector(
                policy.consecutive_errors, policy.base_ejection_time / self.speed,
                policy.max_ejection_percent, clock=time.monotonic)
        return detector

    # --- our own student's notes --------------------------------------------------------
    def _pick(self, host: str, note_id: str) -> tuple[str | None, str | None, str]:
        """Which student gets a note written to ``host``: (student, subset, why none).

        The VirtualService's weighted routes pick a subset (a canary); the subset's labels,
        from the DestinationRule, pick the students; one of them takes the note.
        """
        policy = self.hand.policy
        route = policy.route(host).route
        subset = None
        if route:
            total = sum(d.weight for d in route) or 1
            point = chance(self.seed, "split", note_id) * total
            for destination in route:
                point -= destination.weight
                if point < 0:
                    host, subset = destination.host, destination.subset
                    break
        wanted: dict[str, str] = {}
        if subset is not None:
            subsets = policy.destination(host).subsets
            if subset not in subsets:
                return None, subset, f"subset {subset} of {host} is not in any DestinationRule"
            wanted = subsets[subset]
        labels = self.hand.labels
        candidates = sorted(
            name for name in self.hand.roll
            if (name == host or labels.get(name, {}).get("app") == host)
            and all(labels.get(name, {}).get(k) == v for k, v in wanted.items())
        )
        if not candidates:
            what = f"subset {subset} of {host}" if subset else host
            return None, subset, f"no student answers for {what}"
        present = [c for c in candidates if c in self.hand.in_class]
        candidates = present or candidates
        return candidates[int(chance(self.seed, "pick", note_id) * len(candidates))], subset, ""

    def originate(self, header: dict[str, Any], text: bytes) -> None:
        note_id, host = str(header.get("id")), str(header.get("to"))
        if note_id in self.ledger:
            return  # the student said it twice; the ledger keeps one entry
        policy = self.hand.policy
        now = time.time()
        trace = os.urandom(16).hex()
        to, subset, why = self._pick(host, note_id)
        ex = Exchange(note_id, self.name, to or host, trace, now + policy.note_timeout(host) / self.speed,
                      {}, b"", policy.retries(host), started=now, reply_wanted=bool(header.get("reply")),
                      host=host, subset=subset)
        self.ledger[note_id] = ex
        self.emit("sent", note=note_id, **{"from": self.name}, to=ex.to, host=host, subset=subset,
                  trace=trace)
        if to is None:
            never = host not in self.hand.roll and not why.startswith("subset")
            self._settle(ex, FAILED, "UH" if never else "NR",
                         f"no healthy upstream: {host} never came to class" if never else f"no route: {why}",
                         classify(NO_ROUTE), cause="absent")
            return
        ex.body, sealed = self._seal(to, note_id, text)
        ex.header = {"id": note_id, "from": self.name, "to": to, "host": host, "path": [self.name],
                     "deadline": ex.deadline, "trace": trace, "reply": ex.reply_wanted, "sealed": sealed}
        ex.deadline_timer = asyncio.get_running_loop().call_later(ex.deadline - now, self._expire, ex)
        ex.hold = bool(header.get("hold"))
        if to not in self.hand.in_class:
            if ex.hold:
                self._hold(ex)
            else:
                self._settle(ex, FAILED, "UH", f"no healthy upstream: {to} is absent",
                             classify(NO_ROUTE), cause="absent")
            return
        self._try(ex)

    def _hold(self, ex: Exchange) -> None:
        self.emit("held", note=ex.id, hand=self.name, to=ex.to)
        self.held.setdefault(ex.to, []).append(ex)

    def roll_changed(self) -> None:
        """New routes and a new roll: hand over the notes held for students who are back."""
        for to in [t for t in self.held if t in self.hand.in_class]:
            for ex in self.held.pop(to):
                if not ex.settled:
                    self.emit("released", note=ex.id, hand=self.name, to=to)
                    self._try(ex)

    def _expire(self, ex: Exchange) -> None:
        """The note's overall timeout: whatever try is in flight, the note has failed."""
        if ex.settled:
            return
        self._end_try(ex, "timeout", "UT")
        self._settle(ex, FAILED, "UT", "no answer within the note's timeout", classify(TIMEOUT))

    # --- tries ----------------------------------------------------------------------------
    def _choose(self, ex: Exchange) -> Link | None:
        visited = ex.header.get("path", ())
        outlier = self.outliers.get(ex.host)
        fallback = None
        for name in self.hand.routes.get(ex.to, ()):
            link = self.hand.neighbours.get(name)
            if link is None or link.conn is None or name in visited:
                continue
            if outlier is not None and outlier.ejected(name):
                continue
            if name not in ex.tried:
                return link
            fallback = fallback or link
        return fallback

    def _redialing(self, ex: Exchange) -> list[Link]:
        visited = ex.header.get("path", ())
        outlier = self.outliers.get(ex.host)
        out = []
        for name in self.hand.routes.get(ex.to, ()):
            link = self.hand.neighbours.get(name)
            if (link is not None and link.conn is None and link.dialing and name not in visited
                    and not (outlier is not None and outlier.ejected(name))):
                out.append(link)
        return out

    async def _await_link(self, ex: Exchange, links: list[Link]) -> None:
        per_try = ex.retries.per_try_timeout
        limit = min(ex.deadline - time.time(), (per_try or CONNECT_WAIT) / self.speed, CONNECT_WAIT)
        waits = [asyncio.ensure_future(link.up.wait()) for link in links]
        try:
            await asyncio.wait(waits, timeout=max(limit, 0.0), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waits:
                waiter.cancel()
        self._send_try(ex)  # the same try, now with the link back or not

    def _try(self, ex: Exchange) -> None:
        """Start a try (the first, or a retry): it may wait once for a link being dialed again."""
        ex.waited = False
        self._send_try(ex)

    def _send_try(self, ex: Exchange) -> None:
        if ex.settled:
            return
        loop = asyncio.get_running_loop()
        now = time.time()
        if now >= ex.deadline:
            self._settle(ex, FAILED, "UT", "no answer within the note's timeout", classify(TIMEOUT))
            return
        link = self._choose(ex)
        if link is None and ex.hold and ex.to not in self.hand.in_class:
            self._hold(ex)  # she left while the note was on its way: wait for her
            return
        if link is None:
            redialing = self._redialing(ex)
            if redialing and not ex.waited:
                # Like a connection pool's pending queue: a link that was cut is being dialed
                # again; wait for it (once per try, within the per-try time) before giving up.
                ex.waited = True
                asyncio.get_running_loop().create_task(self._await_link(ex, redialing))
                return
            self._failed_try(ex, classify(NO_ROUTE), "UH",
                             f"{self.name} has no healthy next hop to {ex.to}")
            return
        fault = self.hand.policy.route(ex.host).fault if ex.upstream is None else None
        if fault is not None and fault.abort_percent and happens(
                fault.abort_percent / 100, self.seed, "abort", ex.id, self.name, ex.tries):
            self.emit("fault_injected", note=ex.id, hand=self.name, fault="abort",
                      status=fault.abort_status, flag="FI")
            self._failed_try(ex, classify(ABORTED, fault.abort_status), "FI",
                             f"fault injected: abort with {fault.abort_status}")
            return
        self._attempts += 1
        key = (ex.id, self._attempts)
        ex.key, ex.hop = key, link
        ex.span, ex.span_start = os.urandom(8).hex(), time.time()
        ex.tried.append(link.peer)
        self.pending[key] = ex
        link.inflight.add(key)
        budget = self._budget(ex.host)
        if budget is not None:
            budget.started()
        data = wire.encode_parts(
            NOTE, {**ex.header, "attempt": key[1], "tries": [*ex.header.get("tries", ()), ex.tries],
                   "traceparent": f"00-{ex.trace}-{ex.span}-01"}, ex.body)
        if ex.upstream is not None and self.hand.capture is not None:
            self.hand.capture.write(data)  # what an intermediary hands on, for tests to inspect
            self.hand.capture.flush()
        delay = self.hand.proxy.passing_delay
        if fault is not None and fault.delay_percent and happens(
                fault.delay_percent / 100, self.seed, "delay", ex.id, self.name, ex.tries):
            delay += fault.delay / self.speed
            self.emit("fault_injected", note=ex.id, hand=self.name, fault="delay",
                      delay=fault.delay, flag="DI")
        per_try = ex.retries.per_try_timeout
        limit = ex.deadline - now
        if per_try is not None:
            limit = min(limit, per_try / self.speed + delay)
        ex.timer = loop.call_later(limit, self._per_try_timeout, ex, key)
        if delay > 0:
            loop.call_later(delay, self._transmit, link, key, data)
        else:
            self._transmit(link, key, data)

    def _transmit(self, link: Link, key: tuple[str, int], data: bytes) -> None:
        ex = self.pending.get(key)
        if ex is None:
            return  # settled meanwhile
        if link.conn is None or not link.conn.write(data):
            self._end_try(ex, CONNECT_FAILURE, "UF")
            self._failed_try(ex, classify(CONNECT_FAILURE), "UF", f"{self.name} could not reach {link.peer}",
                             hop=link.peer)

    def _end_try(self, ex: Exchange, outcome: str, flag: str | None = None) -> None:
        key = ex.key
        if key is None:
            return
        ex.key = None
        self.emit("span", note=ex.id, trace=ex.trace, span=ex.span, parent=ex.parent_span,
                  hand=self.name, peer=ex.hop.peer if ex.hop else None, attempt=ex.tries,
                  start=ex.span_start, end=time.time(), outcome=outcome, flag=flag)
        self.pending.pop(key, None)
        if ex.hop is not None:
            ex.hop.inflight.discard(key)
        if ex.timer is not None:
            ex.timer.cancel()
            ex.timer = None
        budget = self.budgets.get(ex.host)
        if budget is not None:
            budget.ended()

    def _per_try_timeout(self, ex: Exchange, key: tuple[str, int]) -> None:
        if ex.key != key:
            return
        hop = ex.hop.peer if ex.hop else None
        self._end_try(ex, TIMEOUT, "UT")
        self._failed_try(ex, classify(TIMEOUT), "UT", f"{hop} did not answer in time", hop=hop)

    def link_reset(self, link: Link) -> None:
        for key in list(link.inflight):
            ex = self.pending.get(key)
            if ex is not None:
                self._end_try(ex, RESET, "UC")
                self._failed_try(ex, classify(RESET), "UC", f"link {self.name}->{link.peer} was reset",
                                 hop=link.peer)
        link.inflight.clear()

    def on_ack(self, link: Link, header: dict[str, Any], body: bytes) -> None:
        key = (str(header["id"]), int(header["attempt"]))
        ex = self.pending.get(key)
        if ex is None:
            return  # the outcome of a try that already timed out
        delivered = header.get("status") == DELIVERED
        self._end_try(ex, DELIVERED if delivered else str(header.get("kind", REFUSED)),
                      None if delivered else header.get("flag"))
        if header.get("status") == DELIVERED:
            detector = self.outliers.get(ex.host)
            if detector is not None:
                detector.success(link.peer)
            self._settle(ex, DELIVERED, None, None, None, path=header.get("path"), reply=body,
                         reply_sealed=bool(header.get("sealed", True)))
            return
        failure = classify(str(header.get("kind", REFUSED)), header.get("code"))
        self._failed_try(ex, failure, header.get("flag"), header.get("reason"), hop=link.peer,
                         cause=header.get("cause"))

    def _failed_try(self, ex: Exchange, failure: Failure, flag: str | None, reason: str | None,
                    hop: str | None = None, cause: str | None = None) -> None:
        if ex.settled:
            return
        if hop is not None and failure.is_5xx:
            detector = self._outlier(ex.host)
            if detector is not None:
                duration = detector.failure(hop, max(len(self.hand.neighbours), 1))
                if duration is not None:
                    self.emit("ejected", hand=self.name, peer=hop, seconds=duration, host=ex.host)
        can_retry = (ex.tries < ex.retries.attempts
                     and retryable(frozenset(ex.retries.retry_on), failure)
                     and time.time() < ex.deadline)
        self._release_retry(ex)  # the retry that just failed, if it held the budget
        if can_retry:
            budget = self._budget(ex.host)
            if budget is not None and not budget.reserve():
                self.emit("retry_budget_exhausted", note=ex.id, hand=self.name, host=ex.host)
                can_retry = False
            ex.budgeted = budget is not None and can_retry
        if can_retry:
            ex.tries += 1
            self.emit("retried", note=ex.id, hand=self.name, attempt=ex.tries, reason=reason,
                      failure=failure.kind, trace=ex.trace)
            wait = backoff(ex.tries, self.seed, ex.id, self.name, speed=self.speed)
            asyncio.get_running_loop().call_later(wait, self._try, ex)
            return
        if ex.tries > 0 and retryable(frozenset(ex.retries.retry_on), failure):
            flag = "URX"  # retries were made and ran out
        self._settle(ex, FAILED, flag, reason, failure, cause=cause)

    def _release_retry(self, ex: Exchange) -> None:
        """The retry an exchange decided has an outcome: it no longer counts against the budget."""
        if ex.budgeted:
            ex.budgeted = False
            budget = self.budgets.get(ex.host)
            if budget is not None:
                budget.release()

    def _settle(self, ex: Exchange, state: str, flag: str | None, reason: str | None,
                failure: Failure | None, path: list[str] | None = None, reply: bytes = b"",
                cause: str | None = None, reply_sealed: bool = True) -> None:
        if ex.settled:
            return
        ex.settled = True
        self._release_retry(ex)
        if ex.deadline_timer is not None:
            ex.deadline_timer.cancel()
        if ex.upstream is None:
            self._finish(ex, state, flag, reason, failure, path, reply, cause, reply_sealed)
            return
        answer: dict[str, Any] = {"id": ex.id, "attempt": ex.upstream_attempt, "status": state,
                                  "by": self.name}
        if state == DELIVERED:
            answer["path"] = path
            answer["sealed"] = reply_sealed
            if self.hand.behaviour.get("drops") and happens(
                    float(self.hand.behaviour["drops"]), self.seed, "drop-reply", ex.id, self.name,
                    ex.arrival):
                self.emit("dropped", note=ex.id, hand=self.name, what="reply")
                return
        else:
            assert failure is not None
            answer.update(flag=flag, reason=reason, kind=failure.kind, code=failure.status,
                          cause=cause or CAUSES.get(failure.kind, "refused"))
        ex.upstream.send(ACK, answer, reply)

    def _finish(self, ex: Exchange, state: str, flag: str | None, reason: str | None,
                failure: Failure | None, path: list[str] | None, reply: bytes,
                cause: str | None, reply_sealed: bool = True) -> None:
        """The one place a note gets its terminal state."""
        ex.settled = True
        latency = time.time() - ex.started
        reply_text = b""
        if reply:
            try:
                reply_text = self._open(ex.to, ex.id + "/reply", reply, reply_sealed)
            except SealError as exc:
                self.emit("seal_broken", note=ex.id, hand=self.name, reason=str(exc))
        if failure is not None and cause is None:
            cause = CAUSES.get(failure.kind, "refused")
        self.emit("result", note=ex.id, **{"from": self.name}, to=ex.to, host=ex.host, subset=ex.subset,
                  state=state, flag=flag,
                  reason=reason, cause=cause if state == FAILED else None, latency=latency,
                  attempts=ex.tries + 1, path=path, trace=ex.trace, replied=bool(reply_text))
        self.ledger[ex.id] = None
        app = self.hand.app
        if app is not None:
            app.send(wire.FrameType.RESULT, {"id": ex.id, "status": state, "reason": reason},
                     reply_text)

    # --- notes for others, and notes for us ---------------------------------------------
    def on_note(self, conn: FrameConnection, header: dict[str, Any], body: bytes) -> None:
        note_id, attempt = str(header["id"]), int(header["attempt"])
        sender, to, path = str(header["from"]), str(header["to"]), list(header["path"])
        arrival = ".".join(map(str, header.get("tries") or ()))
        policies = self.hand.policy.authz
        if policies:
            principal = pki.principal(conn.peer) if conn.peer else None
            decision = authz.decide(policies, self.name, principal, to, self.hand.labels.get(self.name))
            if not decision.allowed:
                self._deny(conn, note_id, attempt, decision, conn.peer)
                return
        if to == self.name:
            self._receive(conn, note_id, attempt, sender, path, header, body, arrival)
            return
        behaviour = self.hand.behaviour
        answer = {"id": note_id, "attempt": attempt, "status": FAILED, "by": self.name}
        if not self.hand.present:
            self.emit("absent_refused", note=note_id, hand=self.name, attempt=attempt)
            conn.send(ACK, {**answer, "kind": REFUSED, "code": 503, "flag": "UH", "cause": "absent",
                            "reason": f"{self.name} is not at the desk to pass it on"})
            return
        if behaviour.get("refuses"):
            self.emit("refused", note=note_id, hand=self.name, attempt=attempt)
            conn.send(ACK, {**answer, "kind": REFUSED, "code": 503, "flag": None, "cause": "refused",
                            "reason": f"{self.name} refuses to pass notes"})
            return
        if behaviour.get("drops") and happens(float(behaviour["drops"]), self.seed, "drop", note_id,
                                              self.name, arrival):
            self.emit("dropped", note=note_id, hand=self.name, attempt=attempt, what="note")
            return  # silently: the one who handed it over finds out by its timeout
        if behaviour.get("nosy"):
            self._peek(note_id, body)
        host = str(header.get("host") or to)
        retries = self.hand.policy.retries(host)
        ex = Exchange(note_id, sender, to, str(header.get("trace", "")),
                      float(header.get("deadline", time.time() + 60)),
                      {**header, "path": [*path, self.name]}, body, retries, upstream=conn,
                      upstream_attempt=attempt, arrival=arrival, host=host)
        ex.header.pop("attempt", None)
        ex.header.pop("traceparent", None)
        ex.parent_span = _parent_span(header.get("traceparent"))
        self.emit("forwarded", note=note_id, hand=self.name, attempt=attempt, trace=ex.trace)
        slow = float(behaviour.get("slow") or 0.0)
        if slow > 0:
            asyncio.get_running_loop().call_later(slow / self.speed, self._try, ex)
        else:
            self._try(ex)

    def _deny(self, conn: FrameConnection, note_id: str, attempt: int, decision: authz.Decision,
              peer: str | None) -> None:
        """A class rule says no: a 403 that no one retries, logged with both identities."""
        src = peer or "(plaintext: no identity)"
        self.emit("policy_denied", note=note_id, hand=self.name, policy=decision.policy,
                  src_identity=src, dst_identity=self.hand.identity, reason=decision.reason)
        net.log(f"proxy {self.name}",
                f'error access note={note_id} src.identity="{src}" dst.identity="{self.hand.identity}" '
                f'direction="inbound" error="note refused due to policy rejection: {decision.reason}"')
        conn.send(ACK, {"id": note_id, "attempt": attempt, "status": FAILED, "by": self.name,
                        "kind": DENIED, "code": 403, "flag": None, "cause": "denied",
                        "reason": f"RBAC: access denied at {self.name} ({decision.reason})"})

    def _peek(self, note_id: str, body: bytes) -> None:
        """A nosy student unfolds the note: all it gets is what the envelope shows."""
        try:
            text = body.decode("utf-8")
            readable = text.isprintable()
        except UnicodeDecodeError:
            text, readable = "", False
        self.emit("peeked", note=note_id, hand=self.name, readable=readable,
                  saw=text[:40] if readable else body[:16].hex())

    def _receive(self, conn: FrameConnection, note_id: str, attempt: int, sender: str,
                 path: list[str], header: dict[str, Any], body: bytes, arrival: str) -> None:
        answer: dict[str, Any] = {"id": note_id, "attempt": attempt, "by": self.name}
        receipt = self.receipts.get(note_id)
        if receipt is None and note_id in self.forgotten:
            self.emit("duplicate_suppressed", note=note_id, hand=self.name, attempt=attempt)
            conn.send(ACK, {**answer, "status": DELIVERED, "path": [*path, self.name]})
            return
        if receipt is not None:
            self.emit("duplicate_suppressed", note=note_id, hand=self.name, attempt=attempt)
            if receipt.answer is not None:
                conn.send(ACK, {**receipt.answer, "attempt": attempt}, receipt.reply)
            else:
                receipt.waiting.append((conn, attempt))
            return
        try:
            text = self._open(sender, note_id, body, bool(header.get("sealed", True)))
        except SealError as exc:
            self.emit("seal_broken", note=note_id, hand=self.name, reason=str(exc))
            conn.send(ACK, {**answer, "status": FAILED, "kind": "tampered", "code": 400, "flag": None,
                            "reason": str(exc), "cause": "denied"})
            return
        fails = float(self.hand.behaviour.get("fails") or 0.0)
        if fails and happens(fails, self.seed, "fails", note_id, self.name, arrival):
            self.emit("refused", note=note_id, hand=self.name, attempt=attempt, what="own note")
            conn.send(ACK, {**answer, "status": FAILED, "kind": REFUSED, "code": 503, "flag": None,
                            "reason": f"{self.name} could not take the note", "cause": "refused"})
            return
        app = self.hand.app
        if app is None:
            self.emit("absent_refused", note=note_id, hand=self.name, attempt=attempt)
            conn.send(ACK, {**answer, "status": FAILED, "kind": REFUSED, "code": 503, "flag": "UH",
                            "reason": f"{self.name} is not at the desk", "cause": "absent"})
            return
        expires = float(header.get("deadline") or time.time() + 60) + RECEIPT_MARGIN / self.speed
        receipt = self.receipts[note_id] = Receipt(expires, waiting=[(conn, attempt)])
        full_path = [*path, self.name]
        reply = bool(header.get("reply"))
        app.send(wire.FrameType.DELIVER, {"id": note_id, "from": sender, "reply": reply}, text)
        self.emit("delivered", note=note_id, hand=self.name, **{"from": sender}, path=full_path,
                  parent=_parent_span(header.get("traceparent")),
                  trace=header.get("trace"))
        if reply:
            self.reply_paths[note_id] = (sender, full_path)  # answered when the student replies
        else:
            self._answer(note_id, {"status": DELIVERED, "path": full_path}, b"")

    def on_reply(self, header: dict[str, Any], text: bytes) -> None:
        """Our student answered a note: seal the reply to its sender and answer every try."""
        note_id = str(header.get("id"))
        sender, path = self.reply_paths.pop(note_id, (None, []))
        if sender is None:
            return
        body, sealed = self._seal(sender, note_id + "/reply", text)
        self.emit("replied", note=note_id, hand=self.name, to=sender)
        self._answer(note_id, {"status": DELIVERED, "path": path, "sealed": sealed}, body)

    def _seal(self, to: str, note_id: str, text: bytes) -> tuple[bytes, bool]:
        """The body to send, and whether it is sealed.

        The seal uses the keys the mesh's identity system hands out; with the mesh's
        security switched off (mTLS mode DISABLE) nothing is sealed, and the text
        travels as it is: readable by every hand and anyone on the wire.
        """
        keys = self.hand.roll.get(to)
        if self.hand.mode == DISABLE or keys is None:
            return text, False
        return self.hand.keys.seal(to, keys, note_id, text), True

    def _open(self, sender: str, note_id: str, body: bytes, sealed: bool) -> bytes:
        if not sealed:
            return body
        keys = self.hand.roll.get(sender)
        if keys is None:
            raise SealError(f"note {note_id}: sender {sender} is not on the roll")
        return self.hand.keys.open(sender, keys, note_id, body)

    def _answer(self, note_id: str, answer: dict[str, Any], reply: bytes) -> None:
        receipt = self.receipts[note_id]
        receipt.answer = {"id": note_id, "by": self.name, **answer}
        receipt.reply = reply
        waiting, receipt.waiting = receipt.waiting, []
        for conn, attempt in waiting:
            conn.send(ACK, {**receipt.answer, "attempt": attempt}, reply)

    def sweep(self, now: float) -> None:
        """Forget relays whose note is past its deadline (their sender has given up)."""
        for ex in list(self.pending.values()):
            if ex.upstream is not None and ex.deadline < now:
                self._end_try(ex, TIMEOUT, "UT")
                self._release_retry(ex)
                ex.settled = True
        for note_id in [n for n, r in self.receipts.items() if r.expires < now and not r.waiting]:
            del self.receipts[note_id]
            self.forgotten.add(note_id)


def _parent_span(traceparent: Any) -> str | None:
    """The parent span id of a W3C ``traceparent`` (``00-<trace>-<span>-<flags>``)."""
    if isinstance(traceparent, str):
        parts = traceparent.split("-")
        if len(parts) == 4 and len(parts[2]) == 16:
            return parts[2]
    return None
