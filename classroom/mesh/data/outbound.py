"""The outbound layers: what a hand does to pass a note on and bring its outcome back.

Theory of operation
-------------------
Each layer is a small class with an ``inner`` layer and one verb,
``handle(ex: Exchange) -> Awaitable[Outcome]``: it does its one job around the
call to ``inner.handle(ex)``.  A layer with work on the way back up (a retry,
a detector, the ledger) is a coroutine that awaits its inner layer; a layer
whose work is all on the way down (the balancer, faults, the per-try timeout)
returns its inner layer's awaitable as it is, a tail call, so a note that
waits holds a frame only for the layers that will act on its outcome: a busy
hand carries hundreds of waiting notes, and each frame held is memory the
next note's work has to share the cache with.  :mod:`classroom.mesh.data.stack` assembles them,
top to bottom, and says why each sits where it does.  From the top:

* :class:`Ledger` (our own student's notes only): the note's one terminal
  state, its ``result`` event and the RESULT to the student;
* :class:`Deadline`: the note's own timeout; once it has passed nothing below
  waits any longer, and the failure says so (504, ``UT``);
* :class:`Retry`: the route's ``retries`` (attempts, ``retryOn``) with
  jittered backoff, within the DestinationRule's retry budget; ``URX`` when
  retries were made and ran out;
* :class:`OutlierDetection`: each try's outcome feeds the detector of the
  note's host, which ejects a next hop after consecutive 5xx failures;
* :class:`Balance`: picks the next hop (the route's nearest neighbour whose
  link is up and who is not ejected, preferring one not tried yet), waits
  once for a link being dialed again, holds a note for an absent recipient;
* :class:`FaultInjection` (our own student's notes only): the
  VirtualService's ``fault``: an abort (``FI``) or a delay (``DI``);
* :class:`PerTryTimeout`: when the try in flight gives up;
* :class:`Transport`: the NOTE frame onto the link and the ACK back, a span
  per try; a reset link or a write that fails ends the try at once.

Every wait below :class:`Deadline` is bounded by the note's deadline on the
round's clock, so no layer needs to be cancelled: each returns an outcome in
time.  Layers never raise for a note that fails: failing is an
:class:`~classroom.mesh.outcomes.Outcome`.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Protocol

from classroom.mesh import outcomes
from classroom.mesh.data.exchange import Exchange, HandView
from classroom.mesh.data.resilience import backoff
from classroom.mesh.outcomes import Flag, Outcome
from classroom.mesh.runtime import messages

if TYPE_CHECKING:
    from classroom.mesh.data.links import Link

CONNECT_WAIT = 1.0  # room seconds a try may wait for a cut link to come back (Envoy's connect timeout)


class Layer(Protocol):
    def handle(self, ex: Exchange) -> Awaitable[Outcome]: ...


async def settled(outcome: Outcome) -> Outcome:
    """An outcome known at once, as an awaitable (a layer that decides without its inner one)."""
    return outcome


class Ledger:
    """Our student's note: exactly one terminal state, its ``result`` event, the RESULT to her."""

    def __init__(self, hand: HandView, inner: Layer) -> None:
        self.hand, self.inner = hand, inner

    async def handle(self, ex: Exchange) -> Outcome:
        outcome = await self.inner.handle(ex)
        self.hand.settle(ex, outcome)
        return outcome


class Deadline:
    """The note's timeout (VirtualService ``timeout``): the outer limit of every try and retry."""

    def __init__(self, hand: HandView, inner: Layer) -> None:
        self.hand, self.inner = hand, inner

    async def handle(self, ex: Exchange) -> Outcome:
        if self.hand.clock.now() < ex.deadline:
            ex.try_deadline = ex.deadline  # unless a per-try timeout gives up sooner
            outcome = await self.inner.handle(ex)
            if outcome.ok or self.hand.clock.now() < ex.deadline:
                return outcome
        return Outcome.failure(outcomes.TRY_TIMEOUT, "no answer within the note's timeout", self.hand.name)


class Retry:
    """The route's retries, Envoy's way: ``retryOn``, ``attempts``, backoff, and the retry budget."""

    def __init__(self, hand: HandView, inner: Layer) -> None:
        self.hand, self.inner = hand, inner

    async def handle(self, ex: Exchange) -> Outcome:
        hand = self.hand
        budget = hand.budget(ex.host)
        reserved = False  # a retry of the budget, held from its decision until its outcome
        try:
            while True:
                ex.waited = False
                outcome = await self.inner.handle(ex)
                if reserved:
                    budget.release()  # type: ignore[union-attr]
                    reserved = False
                if outcome.ok:
                    return outcome
                retry_on = frozenset(ex.retries.retry_on)
                covered = outcomes.retryable(retry_on, outcome)
                can_retry = covered and ex.tries < ex.retries.attempts and hand.clock.now() < ex.deadline
                if can_retry and budget is not None:
                    if budget.reserve():
                        reserved = True
                    else:
                        hand.emit("retry_budget_exhausted", note=ex.id, hand=hand.name, host=ex.host)
                        can_retry = False
                if not can_retry:
                    return outcome.with_flag(Flag.URX) if ex.tries > 0 and covered else outcome
                ex.tries += 1
                hand.emit("retried", note=ex.id, hand=hand.name, attempt=ex.tries, reason=outcome.reason,
                          failure=outcome.kind, trace=ex.trace)
                wait = backoff(ex.tries, hand.dice, ex.id, hand.name)
                await hand.clock.sleep_until(min(hand.clock.now() + wait, ex.deadline))
        finally:
            if reserved:
                budget.release()  # type: ignore[union-attr]


class OutlierDetection:
    """Each try's outcome at a next hop feeds the host's detector (DestinationRule ``outlierDetection``)."""

    def __init__(self, hand: HandView, inner: Layer) -> None:
        self.hand, self.inner = hand, inner

    async def handle(self, ex: Exchange) -> Outcome:
        outcome = await self.inner.handle(ex)
        hop = outcome.hop
        if hop is None:
            return outcome
        detector = self.hand.outlier(ex.host)
        if detector is None:
            return outcome
        if outcome.ok:
            detector.success(hop)
        elif outcome.is_5xx:
            duration = detector.failure(hop, max(len(self.hand.neighbours), 1))
            if duration is not None:
                self.hand.emit("ejected", hand=self.hand.name, peer=hop, seconds=duration, host=ex.host)
        return outcome


class Balance:
    """Which neighbour takes the note next: the route's nearest healthy one, another one on a retry."""

    def __init__(self, hand: HandView, inner: Layer) -> None:
        self.hand, self.inner = hand, inner

    def handle(self, ex: Exchange) -> Awaitable[Outcome]:
        link = self._choose(ex)
        if link is not None:
            ex.tried.append(link.peer)
            ex.hop = link
            return self.inner.handle(ex)
        return self._wait_for_a_hop(ex)

    async def _wait_for_a_hop(self, ex: Exchange) -> Outcome:
        """No next hop now: hold the note for an absent recipient, or wait once for a link."""
        hand = self.hand
        while True:
            link = self._choose(ex)
            if link is not None:
                ex.tried.append(link.peer)
                ex.hop = link
                return await self.inner.handle(ex)
            if ex.hold and ex.to not in hand.in_class:
                # She left while the note was on its way (or never came): wait for her.
                hand.emit("held", note=ex.id, hand=hand.name, to=ex.to)
                if not await hand.wait_present(ex.to, ex.deadline):
                    return Outcome.failure(outcomes.TRY_TIMEOUT, "no answer within the note's timeout",
                                           hand.name)
                hand.emit("released", note=ex.id, hand=hand.name, to=ex.to)
                continue
            redialing = self._redialing(ex)
            if redialing and not ex.waited:
                # Like a connection pool's pending queue: a link that was cut is being dialed
                # again; wait for it (once per try, within the per-try time) before giving up.
                ex.waited = True
                per_try = ex.retries.per_try_timeout
                until = min(ex.deadline, hand.clock.now() + min(per_try or CONNECT_WAIT, CONNECT_WAIT))
                await hand.wait_link_up(redialing, until)
                continue
            return Outcome.failure(outcomes.NO_HEALTHY_UPSTREAM, f"{hand.name} has no healthy next hop to {ex.to}",
                                   hand.name)

    def _candidates(self, ex: Exchange) -> list[Link]:
        hand = self.hand
        outlier = hand.outliers.get(ex.host)
        visited = ex.path
        out = []
        for name in hand.routes.get(ex.to, ()):
            link = hand.neighbours.get(name)
            if link is None or name in visited or (outlier is not None and outlier.ejected(name)):
                continue
            out.append(link)
        return out

    def _choose(self, ex: Exchange) -> Link | None:
        fallback = None
        for link in self._candidates(ex):
            if link.conn is None:
                continue
            if link.peer not in ex.tried:
                return link
            fallback = fallback or link
        return fallback

    def _redialing(self, ex: Exchange) -> list[Link]:
        return [link for link in self._candidates(ex) if link.conn is None and link.dialing]


class FaultInjection:
    """The VirtualService's ``fault``: abort some notes at once (FI), delay some (DI)."""

    def __init__(self, hand: HandView, inner: Layer) -> None:
        self.hand, self.inner = hand, inner

    def handle(self, ex: Exchange) -> Awaitable[Outcome]:
        hand = self.hand
        ex.try_delay = 0.0
        fault = hand.policy.route(ex.host).fault
        if fault is not None:
            if fault.abort_percent and hand.dice.happens(fault.abort_percent / 100, "abort", ex.id, hand.name,
                                                         ex.tries):
                hand.emit("fault_injected", note=ex.id, hand=hand.name, fault="abort", status=fault.abort_status,
                          flag="FI")
                return settled(Outcome.failure(outcomes.FAULT_ABORT, f"fault injected: abort with {fault.abort_status}",
                                               hand.name, status=fault.abort_status))
            if fault.delay_percent and hand.dice.happens(fault.delay_percent / 100, "delay", ex.id, hand.name,
                                                         ex.tries):
                hand.emit("fault_injected", note=ex.id, hand=hand.name, fault="delay", delay=fault.delay,
                          flag="DI")
                ex.try_delay = fault.delay
        return self.inner.handle(ex)


class PerTryTimeout:
    """When the try in flight gives up: ``perTryTimeout`` after it starts, or the note's deadline."""

    def __init__(self, hand: HandView, inner: Layer) -> None:
        self.hand, self.inner = hand, inner

    def handle(self, ex: Exchange) -> Awaitable[Outcome]:
        per_try = ex.retries.per_try_timeout
        limit = ex.deadline
        if per_try is not None:
            # An injected delay and the proxy's own passing time are part of the try.
            limit = min(limit, self.hand.clock.now() + per_try + ex.try_delay + self.hand.passing_delay)
        ex.try_deadline = limit
        return self.inner.handle(ex)


class Transport:
    """The try itself: the NOTE onto the link, the ACK back (or a reset, or the try's timeout)."""

    def __init__(self, hand: HandView) -> None:
        self.hand = hand
        self._attempts = 0  # numbers this hand's tries: an ACK names the try it answers

    async def handle(self, ex: Exchange) -> Outcome:
        hand = self.hand
        clock = hand.clock
        link = ex.hop
        assert link is not None, "the transport needs the next hop the balancer chose"
        self._attempts += 1
        attempt = self._attempts
        span, start = os.urandom(8).hex(), clock.now()
        budget = hand.budget(ex.host)
        if budget is not None:
            budget.started()
        answer = link.expect(ex.id, attempt)
        try:
            delay = ex.try_delay + hand.passing_delay
            if delay > 0:
                await clock.sleep_until(min(clock.now() + delay, ex.try_deadline))
            outcome = self._send(ex, link, attempt, span)
            if outcome is None:
                timer = clock.expire_at(answer, ex.try_deadline)
                try:
                    outcome = await answer
                except TimeoutError:
                    outcome = Outcome.failure(outcomes.TRY_TIMEOUT, f"{link.peer} did not answer in time",
                                              hand.name, hop=link.peer)
                finally:
                    timer.cancel()
        finally:
            link.forget(ex.id, attempt)
            if budget is not None:
                budget.ended()
        hand.emit("span", note=ex.id, trace=ex.trace, span=span, parent=ex.parent_span, hand=hand.name,
                  peer=link.peer, attempt=ex.tries, start=start, end=clock.now(),
                  outcome=outcomes.DELIVERED if outcome.ok else outcome.kind, flag=outcome.flag)
        return outcome

    def _send(self, ex: Exchange, link: Link, attempt: int, span: str) -> Outcome | None:
        """Hand the note to the link; an outcome at once if it cannot go."""
        hand = self.hand
        if hand.clock.now() >= ex.try_deadline:
            return Outcome.failure(outcomes.TRY_TIMEOUT, f"{link.peer} did not answer in time", hand.name,
                                   hop=link.peer)
        note = messages.Note(ex.id, ex.sender, ex.to, ex.host, ex.path, ex.deadline, ex.trace, ex.reply,
                             ex.sealed, attempt, [*ex.arrival_tries, ex.tries], f"00-{ex.trace}-{span}-01",
                             ex.body)
        data = note.encode()
        if not ex.origin and hand.capture is not None:
            hand.capture(data)  # what an intermediary hands on, for tests to inspect
        conn = link.conn
        if conn is None or not conn.write(data):
            return Outcome.failure(outcomes.CONNECT_FAILURE, f"{hand.name} could not reach {link.peer}", hand.name,
                                   hop=link.peer)
        return None

