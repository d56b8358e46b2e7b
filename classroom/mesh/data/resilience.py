"""Retries, backoff, retry budgets and outlier detection: the pure rules.

Theory of operation
-------------------
These are the decisions a proxy makes when a try fails, written as small
classes with no I/O and an injected clock, so tests can drive them exactly
(as linkerd2-proxy tests its breakers on a controlled clock):

* whether a failed try may be retried at all is :func:`classroom.mesh.outcomes.retryable`
  (Envoy's ``retryOn``); the rules here say how often and how soon;
* :func:`backoff` is Envoy's fully jittered exponential backoff: retry N waits
  a uniform time in [0, (2^N - 1) x 25 ms), capped at 250 ms,
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
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from classroom.mesh.runtime.dice import Dice

BACKOFF_BASE, BACKOFF_CAP = 0.025, 0.250


def backoff(retry: int, dice: Dice, *key: object) -> float:
    """Seconds (room time) to wait before retry number ``retry`` (1 = the first retry)."""
    ceiling = min((2**retry - 1) * BACKOFF_BASE, BACKOFF_CAP)
    return dice.chance("backoff", retry, *key) * ceiling


@dataclass
class RetryBudget:
    """Istio's retryBudget: concurrent retries bounded by a share of active requests."""

    percent: float = 20.0
    min_retry_concurrency: int = 3
    active: int = 0  # tries in flight, first tries and retries alike
    active_retries: int = 0  # retries decided whose outcome is not known yet

    def reserve(self) -> bool:
        """Decide a retry: count it now if there is room (then :meth:`release` it once)."""
        limit = max(self.min_retry_concurrency, math.floor(self.percent / 100.0 * self.active))
        if self.active_retries >= limit:
            return False
        self.active_retries += 1
        return True

    def release(self) -> None:
        """A reserved retry's outcome is known (or it was never launched)."""
        self.active_retries = max(self.active_retries - 1, 0)

    def started(self) -> None:
        self.active += 1

    def ended(self) -> None:
        self.active = max(self.active - 1, 0)


@dataclass
class _Host:
    consecutive: int = 0
    ejections: int = 0
    until: float = 0.0


@dataclass
class OutlierDetector:
    """Consecutive-error ejection of neighbours, on an injected clock."""

    clock: Callable[[], float]  # room time: there is no default, an ejection must be able to end
    consecutive_errors: int = 5
    base_ejection_time: float = 30.0  # room seconds
    max_ejection_percent: float = 10.0
    hosts: dict[str, _Host] = field(default_factory=dict)

    def ejected(self, host: str) -> bool:
        state = self.hosts.get(host)
        return state is not None and state.until > self.clock()

    def ejected_hosts(self) -> list[str]:
        now = self.clock()
        return [h for h, s in self.hosts.items() if s.until > now]

    def success(self, host: str) -> None:
        state = self.hosts.get(host)
        if state is not None:
            state.consecutive = 0

    def failure(self, host: str, pool_size: int) -> float | None:
        """Record a failed try; the ejection's duration if this one ejects the host."""
        if self.consecutive_errors <= 0:
            return None
        state = self.hosts.setdefault(host, _Host())
        now = self.clock()
        if state.until > now:
            return None  # already out
        state.consecutive += 1
        if state.consecutive < self.consecutive_errors:
            return None
        allowed = max(1, math.floor(self.max_ejection_percent / 100.0 * pool_size))
        if len(self.ejected_hosts()) >= allowed:
            return None
        state.ejections += 1
        state.consecutive = 0
        duration = self.base_ejection_time * state.ejections
        state.until = now + duration
        return duration
