"""Retries, backoff, retry budgets and outlier detection: the pure rules.

Theory of operation
-------------------
These are the decisions a proxy makes when a try fails, written as small
classes with no I/O and an injected clock, so tests can drive them exactly
(as linkerd2-proxy tests its breakers on a controlled clock):

* whether a failed try may be retried at all is :func:`classroom.mesh.outcomes.retryable`
  (Envoy's ``retryOn``); the rules here say how often and how soon;
* :func:`backoff` is Envoy's fully jittered exponential backoff: retry N waits
  a uniform time in [0, (2^N - 1) x base), the base 25 ms unless the route's
  ``retries.backoff`` says another, capped at 10 x base,
  in room time; the uniform draw is keyed (:mod:`classroom.mesh.runtime.dice`).
* :class:`RetryBudget` is Istio's DestinationRule ``retryBudget``: active
  retries may not exceed ``max(minRetryConcurrency, percent x active
  requests)``.  As in Envoy (``RetryStateImpl::shouldRetry``), a retry counts
  from the moment it is decided, through its backoff and its flight, until
  its outcome is known: were it counted only once launched, a burst of
  failures decided within one backoff would all see room and overshoot.
  Without a budget, retries are unbounded, and in a chain of proxies that
  each retry, load multiplies hop by hop: a retry storm.
* :class:`OutlierDetector` is Envoy's consecutive-errors ejection:
  ``consecutive5xxErrors`` failures in a row eject a neighbour for
  ``baseEjectionTime x (times ejected)``, never more than
  ``maxEjectionPercent`` of the pool at once (but always at least one).
* :func:`peak_ewma` is Linkerd's balancer's latency estimate: a neighbour's
  answer time, jumping up at once to a slower answer (the peak) and decaying
  towards faster ones; the balancer sends a note to the cheaper of two
  neighbours picked at random, cost = estimate x (notes in flight + 1).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from classroom.mesh.runtime.dice import Dice

BACKOFF_BASE = 0.025  # Envoy's default base interval (VirtualService retries.backoff sets another)
# linkerd2-proxy's balancer: EWMA_DEFAULT_RTT = 30 ms, EWMA_DECAY = 10 s (linkerd/app/outbound/src/lib.rs),
# through tower's PeakEwma (tower/src/load/peak_ewma.rs).
EWMA_DEFAULT_RTT = 0.030
EWMA_DECAY = 10.0


def peak_ewma(estimate: float | None, since: float, rtt: float, decay: float = EWMA_DECAY) -> float:
    """The estimate after an answer that took ``rtt``, ``since`` seconds after the last update.

    A slower answer than the estimate replaces it (the peak); a faster one is averaged in with the
    weight of the time passed: w = exp(-since / decay), estimate = estimate x w + rtt x (1 - w).
    """
    if estimate is None:
        return rtt
    if rtt > estimate:
        return rtt
    weight = math.exp(-max(since, 0.0) / decay)
    return estimate * weight + rtt * (1.0 - weight)


def ewma_cost(estimate: float | None, in_flight: int) -> float:
    """What a note costs on a neighbour, for the balancer: its estimate times its load."""
    return (EWMA_DEFAULT_RTT if estimate is None else estimate) * (in_flight + 1)


def backoff(retry: int, dice: Dice, *key: object, base: float = BACKOFF_BASE) -> float:
    """Seconds (room time) to wait before retry number ``retry`` (1 = the first retry): a uniform draw
    in [0, (2^N - 1) x base), the ceiling capped at 10 x base, as Envoy's."""
    ceiling = min((2**retry - 1) * base, 10 * base)
    return dice.chance("backoff", retry, *key) * ceiling


@dataclass
class RetryBudget:
    """Istio's retryBudget: concurrent retries bounded by a share of active requests.

    With a ``budgetInterval`` (``interval`` > 0), the requests that count are those active now or
    started within the last interval, whichever are more (Istio: "0ms: only requests currently
    active count").
    """

    percent: float = 20.0
    min_retry_concurrency: int = 3
    active: int = 0  # tries in flight, first tries and retries alike
    active_retries: int = 0  # retries decided whose outcome is not known yet
    interval: float = 0.0
    clock: Callable[[], float] | None = None
    _starts: deque[float] = field(default_factory=deque)

    def requests(self) -> int:
        if self.interval <= 0 or self.clock is None:
            return self.active
        since = self.clock() - self.interval
        starts = self._starts
        while starts and starts[0] < since:
            starts.popleft()
        return max(self.active, len(starts))

    def reserve(self) -> bool:
        """Decide a retry: count it now if there is room (then :meth:`release` it once)."""
        limit = max(self.min_retry_concurrency, math.floor(self.percent / 100.0 * self.requests()))
        if self.active_retries >= limit:
            return False
        self.active_retries += 1
        return True

    def release(self) -> None:
        """A reserved retry's outcome is known (or it was never launched)."""
        self.active_retries = max(self.active_retries - 1, 0)

    def started(self) -> None:
        self.active += 1
        if self.interval > 0 and self.clock is not None:
            self._starts.append(self.clock())

    def ended(self) -> None:
        self.active = max(self.active - 1, 0)


@dataclass
class _Host:
    consecutive: int = 0  # 5xx in a row
    gateway: int = 0  # 502, 503 or 504 in a row
    ejections: int = 0
    until: float = 0.0


@dataclass
class OutlierDetector:
    """Consecutive-error ejection of neighbours, on an injected clock (room time).

    A host is ejected on its ``consecutive5xxErrors``-th 5xx in a row (or its
    ``consecutiveGatewayErrors``-th 502/503/504), for ``baseEjectionTime`` times
    the number of times it was ejected, and comes back at the first sweep of
    the detector (every ``interval``) after that; never more than
    ``maxEjectionPercent`` of the pool is out at once (but always one may be).
    While fewer than ``minHealthPercent`` of the pool are healthy, the pool is
    in *panic* and ejections are ignored (:meth:`panic`).
    """

    clock: Callable[[], float]  # room time: there is no default, an ejection must be able to end
    consecutive_errors: int = 5
    base_ejection_time: float = 30.0  # room seconds
    max_ejection_percent: float = 10.0
    gateway_errors: int = 0
    interval: float = 10.0
    min_health_percent: float = 0.0
    hosts: dict[str, _Host] = field(default_factory=dict)
    started: float | None = None  # the detector's first sweep counts from here

    def configure(self, consecutive_errors: int, base_ejection_time: float, max_ejection_percent: float,
                  gateway_errors: int, interval: float, min_health_percent: float) -> None:
        self.consecutive_errors, self.base_ejection_time = consecutive_errors, base_ejection_time
        self.max_ejection_percent, self.gateway_errors = max_ejection_percent, gateway_errors
        self.interval, self.min_health_percent = interval, min_health_percent

    def ejected(self, host: str) -> bool:
        state = self.hosts.get(host)
        return state is not None and state.until > self.clock()

    def ejected_hosts(self) -> list[str]:
        now = self.clock()
        return [h for h, s in self.hosts.items() if s.until > now]

    def panic(self, pool: list[str]) -> bool:
        """Too few healthy hosts in ``pool``: ignore the ejections (Envoy's panic threshold)."""
        if self.min_health_percent <= 0 or not pool:
            return False
        healthy = sum(1 for host in pool if not self.ejected(host))
        return healthy * 100.0 / len(pool) < self.min_health_percent

    def success(self, host: str) -> None:
        state = self.hosts.get(host)
        if state is not None:
            state.consecutive = state.gateway = 0

    def failure(self, host: str, pool_size: int, status: int = 503) -> float | None:
        """Record a failed try; the ejection's duration if this one ejects the host."""
        if self.consecutive_errors <= 0 and self.gateway_errors <= 0:
            return None
        now = self.clock()
        if self.started is None:
            self.started = now
        state = self.hosts.setdefault(host, _Host())
        if state.until > now:
            return None  # already out
        state.consecutive += 1
        state.gateway = state.gateway + 1 if status in (502, 503, 504) else 0
        tripped = (0 < self.consecutive_errors <= state.consecutive) or (0 < self.gateway_errors <= state.gateway)
        if not tripped:
            return None
        allowed = max(1, math.floor(self.max_ejection_percent / 100.0 * pool_size))
        if len(self.ejected_hosts()) >= allowed:
            return None
        state.ejections += 1
        state.consecutive = state.gateway = 0
        until = now + self.base_ejection_time * state.ejections
        if self.interval > 0:  # it comes back at the first sweep after its time
            sweeps = math.ceil((until - self.started) / self.interval - 1e-9)
            until = self.started + sweeps * self.interval
        state.until = until
        return until - now
