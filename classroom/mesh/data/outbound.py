"""The outbound layers: what a hand does to pass a note on and bring its outcome back.

Theory of operation
-------------------
Each layer is a small class with an ``inner`` layer and one verb,
``handle(ex: Exchange) -> Awaitable[Outcome]``: it does its one job around the
call to ``inner.handle(ex)``.  A layer with work on the way back up (a retry,
a detector, the ledger) is a coroutine that awaits its inner layer; a layer
whose work is all on the way down (the balancer, the per-try timeout) returns
its inner layer's awaitable as it is, a tail call, so a note that waits holds
a frame only for the layers that will act on its outcome: a busy hand carries
hundreds of waiting notes, and each frame held is memory the next note's work
has to share the cache with.  :mod:`classroom.mesh.data.stack` assembles them,
top to bottom, and says why each sits where it does.  From the top:

* :class:`Ledger` (our own student's notes only): the note's one terminal
  state, its ``result`` event and the RESULT to the student;
* :class:`Deadline`: the note's own timeout; once it has passed nothing below
  waits any longer, and the failure says so (504, ``UT``);
* :class:`FaultInjection` (our own student's notes only): the rule's
  ``fault``, once per note, before any try: an abort (``FI``) or a delay
  (``DI``).  A rule with a fault has no retries and no timeout of its own
  (Istio: "timeouts or retries will not be enabled when faults are enabled");
* :class:`Retry`: the rule's ``retries`` (attempts, ``retryOn``, ``backoff``)
  within the DestinationRule's retry budget and ``connectionPool.http.maxRetries``;
  ``URX`` when retries were made and ran out;
* :class:`OutlierDetection`: each try's outcome feeds the cluster's detector,
  which ejects a next hop after consecutive 5xx (or gateway) errors;
* :class:`Balance`: picks the next hop among the route's nearest healthy
  neighbours by the DestinationRule's ``loadBalancer`` (a retry prefers a hop
  not tried yet, as ``retryIgnorePreviousHosts``), waits once for a link being
  dialed again (``connectionPool.tcp.connectTimeout``), holds a note for an
  absent recipient;
* :class:`CircuitBreaker`: the DestinationRule's ``connectionPool``: room for
  the note now, a place in the pending queue, or 503 ``UO`` at once;
* :class:`PerTryTimeout`: when the try in flight gives up;
* :class:`Transport`: the NOTE frame onto the link and the ACK back, a span
  per try; a reset link or a write that fails ends the try at once.

Every wait below :class:`Deadline` is bounded by the note's deadline on the
round's clock, so no layer needs to be cancelled: each returns an outcome in
time.  Layers never raise for a note that fails: failing is an
:class:`~classroom.mesh.outcomes.Outcome`.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Protocol

from classroom.mesh import outcomes
from classroom.mesh.control.policy import PEAK_EWMA, RANDOM, ROUND_ROBIN
from classroom.mesh.data.exchange import Exchange, HandView
from classroom.mesh.data.resilience import backoff, ewma_cost, peak_ewma
from classroom.mesh.outcomes import Flag, Outcome
from classroom.mesh.runtime import messages

if TYPE_CHECKING:
    from classroom.mesh.data.links import Link

CONNECT_WAIT = 1.0  # room seconds a try waits for a cut link to come back, unless connectTimeout says


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


class FaultInjection:
    """The rule's ``fault``, once per note before any try: abort it (FI) or delay it (DI)."""

    def __init__(self, hand: HandView, inner: Layer) -> None:
        self.hand, self.inner = hand, inner

    def handle(self, ex: Exchange) -> Awaitable[Outcome]:
        hand = self.hand
        fault = ex.rule.fault if ex.rule is not None else None
        if fault is None:
            return self.inner.handle(ex)
        if fault.abort_percent and hand.dice.happens(fault.abort_percent / 100, "abort", ex.id, hand.name):
            hand.emit("fault_injected", note=ex.id, hand=hand.name, fault="abort", status=fault.abort_status,
                      flag="FI")
            return settled(Outcome.failure(outcomes.FAULT_ABORT, f"fault injected: abort with {fault.abort_status}",
                                           hand.name, status=fault.abort_status))
        if fault.delay_percent and hand.dice.happens(fault.delay_percent / 100, "delay", ex.id, hand.name):
            hand.emit("fault_injected", note=ex.id, hand=hand.name, fault="delay", delay=fault.delay, flag="DI")
            return self._later(ex, fault.delay)
        return self.inner.handle(ex)

    async def _later(self, ex: Exchange, delay: float) -> Outcome:
        clock = self.hand.clock
        await clock.sleep_until(min(clock.now() + delay, ex.deadline))
        return await self.inner.handle(ex)


class Retry:
    """The rule's retries, Envoy's way: ``retryOn``, ``attempts``, backoff, the budget, ``maxRetries``."""

    def __init__(self, hand: HandView, inner: Layer) -> None:
        self.hand, self.inner = hand, inner

    async def handle(self, ex: Exchange) -> Outcome:
        hand = self.hand
        cluster = ex.cluster
        budget = cluster.budget
        pool = cluster.pool
        reserved = False  # a retry of the budget, held from its decision until its outcome
        counted = False  # a retry of connectionPool.http.maxRetries, likewise
        try:
            while True:
                ex.waited = False
                outcome = await self.inner.handle(ex)
                if reserved:
                    budget.release()  # type: ignore[union-attr]
                    reserved = False
                if counted:
                    cluster.retries -= 1
                    counted = False
                if outcome.ok:
                    return outcome
                covered = outcomes.retryable(frozenset(ex.retries.retry_on), outcome)
                can_retry = covered and ex.tries < ex.retries.attempts and hand.clock.now() < ex.deadline
                if can_retry and pool is not None and pool.max_retries is not None \
                        and cluster.retries >= pool.max_retries:
                    hand.emit("retry_overflow", note=ex.id, hand=hand.name, host=ex.host)
                    can_retry = False
                if can_retry and budget is not None:
                    if budget.reserve():
                        reserved = True
                    else:
                        hand.emit("retry_budget_exhausted", note=ex.id, hand=hand.name, host=ex.host)
                        can_retry = False
                if not can_retry:
                    return outcome.with_flag(Flag.URX) if ex.tries > 0 and covered else outcome
                cluster.retries += 1
                counted = True
                ex.tries += 1
                hand.emit("retried", note=ex.id, hand=hand.name, attempt=ex.tries, reason=outcome.reason,
                          failure=outcome.kind, trace=ex.trace)
                wait = backoff(ex.tries, hand.dice, ex.id, hand.name, base=ex.retries.backoff)
                await hand.clock.sleep_until(min(hand.clock.now() + wait, ex.deadline))
        finally:
            if reserved:
                budget.release()  # type: ignore[union-attr]
            if counted:
                cluster.retries -= 1


class OutlierDetection:
    """Each try's outcome at a next hop feeds the cluster's detector (DestinationRule ``outlierDetection``)."""

    def __init__(self, hand: HandView, inner: Layer) -> None:
        self.hand, self.inner = hand, inner

    def handle(self, ex: Exchange) -> Awaitable[Outcome]:
        if ex.cluster.outlier is None:
            return self.inner.handle(ex)
        return self._observed(ex)

    async def _observed(self, ex: Exchange) -> Outcome:
        outcome = await self.inner.handle(ex)
        hop = outcome.hop
        detector = ex.cluster.outlier
        if hop is None or detector is None:
            return outcome
        if outcome.ok:
            detector.success(hop)
        elif outcome.is_5xx and outcome.flag != Flag.UO:  # an overflow never reached the host
            duration = detector.failure(hop, max(len(self.hand.neighbours), 1), outcome.status)
            if duration is not None:
                self.hand.emit("ejected", hand=self.hand.name, peer=hop, seconds=duration, host=ex.host)
        return outcome


class Balance:
    """Which neighbour takes the note next: the route's nearest healthy ones, by the load balancer."""

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
                pool = ex.cluster.pool
                wait = pool.connect_timeout if pool is not None and pool.connect_timeout else CONNECT_WAIT
                per_try = ex.retries.per_try_timeout
                until = min(ex.deadline, hand.clock.now() + min(per_try or wait, wait))
                await hand.wait_link_up(redialing, until)
                continue
            return Outcome.failure(outcomes.NO_HEALTHY_UPSTREAM, f"{hand.name} has no healthy next hop to {ex.to}",
                                   hand.name)

    def _candidates(self, ex: Exchange) -> list[Link]:
        """The route's next hops to the note's student, nearest first, leaving out the hands it crossed and,
        unless too few are healthy (panic), the ejected ones."""
        hand = self.hand
        visited = ex.path
        links = [link for name in hand.routes.get(ex.to, ()) if name not in visited
                 and (link := hand.neighbours.get(name)) is not None]
        detector = ex.cluster.outlier
        if detector is not None and not detector.panic([link.peer for link in links]):
            links = [link for link in links if not detector.ejected(link.peer)]
        return links

    def _choose(self, ex: Exchange) -> Link | None:
        candidates = [link for link in self._candidates(ex) if link.usable]
        if not candidates:
            return None
        if ex.retries.ignore_previous_hosts and ex.tried:
            fresh = [link for link in candidates if link.peer not in ex.tried]
            candidates = fresh or candidates
        # The load balancer chooses among the nearest: the route's first `ties` hops are equally near.
        nearest_names = set(self.hand.routes.get(ex.to, ())[:self.hand.ties.get(ex.to, 1)])
        nearest = [link for link in candidates if link.peer in nearest_names] or candidates[:1]
        if len(nearest) == 1:
            return nearest[0]
        return self._balance(ex, nearest)

    def _balance(self, ex: Exchange, links: list[Link]) -> Link:
        policy = ex.cluster.traffic.load_balancer or self.hand.policy.default_balancer  # the mesh's default
        dice = self.hand.dice
        if policy == ROUND_ROBIN:
            ex.cluster.turn += 1
            return links[ex.cluster.turn % len(links)]
        if policy == RANDOM:
            return links[int(dice.chance("lb", ex.id, self.hand.name, ex.tries) * len(links))]
        # LEAST_REQUEST: Envoy's power of two choices: two at random, the one with fewer notes in flight.
        first = int(dice.chance("lb", ex.id, self.hand.name, ex.tries) * len(links))
        second = int(dice.chance("lb2", ex.id, self.hand.name, ex.tries) * (len(links) - 1))
        second += second >= first
        a, b = links[first], links[second]
        if policy == PEAK_EWMA:  # Linkerd's: the same two choices, by latency times load
            return a if ewma_cost(a.rtt_estimate, a.in_flight) <= ewma_cost(b.rtt_estimate, b.in_flight) else b
        return a if a.in_flight <= b.in_flight else b

    def _redialing(self, ex: Exchange) -> list[Link]:
        return [link for link in self._candidates(ex) if not link.usable and (link.dialing or link.draining)]


class CircuitBreaker:
    """The DestinationRule's ``connectionPool``: room now, a place in the queue, or 503 ``UO``."""

    def __init__(self, hand: HandView, inner: Layer) -> None:
        self.hand, self.inner = hand, inner

    def handle(self, ex: Exchange) -> Awaitable[Outcome]:
        room = ex.cluster.room()
        if room:
            return self._through(ex)
        if room is None:
            return self._queued(ex)
        return settled(self._overflow(ex))

    def _overflow(self, ex: Exchange) -> Outcome:
        hand = self.hand
        hand.emit("overflow", note=ex.id, hand=hand.name, host=ex.host, active=ex.cluster.active,
                  pending=len(ex.cluster.pending))
        return Outcome.failure(outcomes.OVERFLOW, f"circuit breaker at {hand.name}: too many notes to "
                                                  f"{ex.cluster.name} at once (connectionPool)", hand.name)

    async def _through(self, ex: Exchange) -> Outcome:
        cluster = ex.cluster
        cluster.active += 1
        try:
            return await self.inner.handle(ex)
        finally:
            cluster.leave()

    async def _queued(self, ex: Exchange) -> Outcome:
        clock = self.hand.clock
        waiter = ex.cluster.wait_for_room()
        try:
            await clock.due(waiter, ex.deadline)
        except TimeoutError:
            return Outcome.failure(outcomes.TRY_TIMEOUT, "no answer within the note's timeout (queued at the "
                                                         "circuit breaker)", self.hand.name)
        return await self._through(ex)


class PerTryTimeout:
    """When the try in flight gives up: ``perTryTimeout`` after it starts, or the note's deadline."""

    def __init__(self, hand: HandView, inner: Layer) -> None:
        self.hand, self.inner = hand, inner

    def handle(self, ex: Exchange) -> Awaitable[Outcome]:
        per_try = ex.retries.per_try_timeout
        limit = ex.deadline
        if per_try is not None:
            # The proxy's own passing time (benches without aisles) is part of the try.
            limit = min(limit, self.hand.clock.now() + per_try + self.hand.passing_delay)
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
        # A span id needs to be unique, not secret: random bits, as OpenTelemetry's RandomIdGenerator
        # makes them (os.urandom would cost a getrandom system call per attempt).
        span, start = f"{random.getrandbits(64):016x}", clock.now()
        budget = ex.cluster.budget
        if budget is not None:
            budget.started()
        answer = link.expect(ex.id, attempt)
        try:
            if hand.passing_delay > 0:
                await clock.sleep_until(min(clock.now() + hand.passing_delay, ex.try_deadline))
            outcome = self._send(ex, link, attempt, span)
            if outcome is None:
                timer = clock.expire_at(answer, ex.try_deadline)
                try:
                    outcome = await answer
                    now = clock.now()
                    link.rtt_estimate = peak_ewma(link.rtt_estimate, now - link.rtt_at, now - start)
                    link.rtt_at = now
                except TimeoutError:
                    outcome = Outcome.failure(outcomes.TRY_TIMEOUT, f"{link.peer} did not answer in time",
                                              hand.name, hop=link.peer)
                finally:
                    timer.cancel()
        finally:
            link.forget(ex.id, attempt)
            if budget is not None:
                budget.ended()
        pool = ex.cluster.pool
        if pool is not None and pool.max_requests_per_connection and link.carried >= pool.max_requests_per_connection:
            link.recycle(hand.name)  # maxRequestsPerConnection: this connection has carried its share
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
        note = messages.Note(ex.id, ex.sender, ex.to, ex.host, ex.subset, ex.op, ex.path, ex.deadline, ex.trace,
                             ex.reply, ex.sealed, attempt, [*ex.arrival_tries, ex.tries], f"00-{ex.trace}-{span}-01",
                             ex.body)
        data = note.encode()
        if not ex.origin and hand.capture is not None:
            hand.capture(data)  # what an intermediary hands on, for tests to inspect
        conn = link.conn
        if conn is None or not conn.write(data):
            return Outcome.failure(outcomes.CONNECT_FAILURE, f"{hand.name} could not reach {link.peer}", hand.name,
                                   hop=link.peer)
        link.carried += 1
        return None
