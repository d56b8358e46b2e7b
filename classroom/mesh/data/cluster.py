"""A hand's state for the notes to one host (and subset): Envoy's cluster, as the hand sees it.

Theory of operation
-------------------
Envoy keeps one *cluster* per destination service (one per subset: each is
its own cluster), and on it the state its traffic policy needs: the retry
budget's counts, the outlier detector, the circuit breaker's counts of
requests active and pending, where round robin stands.  A hand keeps the same
in a :class:`Cluster` per (host, subset) (:meth:`Hand.cluster`), made the
first time a note to it is passed on and kept across configuration versions:
a new DestinationRule changes the limits, not the counts.

The circuit breaker is the DestinationRule's ``connectionPool``: at most
``limit`` notes of this cluster in flight at once (``tcp.maxConnections``, one
note per connection as in HTTP/1.1, and ``http.http2MaxRequests``), at most
``max_pending`` waiting for room (``http.http1MaxPendingRequests``); a note
beyond both is turned away at once with 503 ``UO`` (overflow), never
retried: nothing upstream ever saw it.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import TYPE_CHECKING

from classroom.mesh.control.policy import Pool, TrafficPolicy
from classroom.mesh.data.resilience import OutlierDetector, RetryBudget

if TYPE_CHECKING:
    from classroom.mesh.runtime.clock import Clock


class Cluster:
    """One host (and subset) as seen from one hand: its policy and the counts behind it."""

    def __init__(self, host: str, subset: str | None, traffic: TrafficPolicy, clock: Clock) -> None:
        self.host = host
        self.subset = subset
        self.clock = clock
        self.traffic = traffic
        self.budget: RetryBudget | None = None
        self.outlier: OutlierDetector | None = None
        self.active = 0  # notes of this cluster in flight from this hand
        self.pending: deque[asyncio.Future[None]] = deque()  # notes waiting for room (circuit breaker)
        self.retries = 0  # retries decided and not yet answered (connectionPool.http.maxRetries)
        self.turn = 0  # round robin's position
        self.update(traffic)

    @property
    def name(self) -> str:
        return self.host if self.subset is None else f"{self.host}/{self.subset}"

    @property
    def pool(self) -> Pool | None:
        return self.traffic.pool

    def update(self, traffic: TrafficPolicy) -> None:
        """A new configuration: new limits, the same counts."""
        self.traffic = traffic
        if traffic.budget is None:
            self.budget = None
        elif self.budget is None:
            self.budget = RetryBudget(traffic.budget.percent, traffic.budget.min_retry_concurrency,
                                      interval=traffic.budget.budget_interval, clock=self.clock.now)
        else:
            self.budget.percent = traffic.budget.percent
            self.budget.min_retry_concurrency = traffic.budget.min_retry_concurrency
            self.budget.interval = traffic.budget.budget_interval
        od = traffic.outlier
        if od is None:
            self.outlier = None
        elif self.outlier is None:
            self.outlier = OutlierDetector(self.clock.now, od.consecutive_errors, od.base_ejection_time,
                                           od.max_ejection_percent, gateway_errors=od.gateway_errors,
                                           interval=od.interval, min_health_percent=od.min_health_percent,
                                           started=self.clock.now())  # its sweeps count from now
        else:
            self.outlier.configure(od.consecutive_errors, od.base_ejection_time, od.max_ejection_percent,
                                   od.gateway_errors, od.interval, od.min_health_percent)

    # --- the circuit breaker -----------------------------------------------------------------------
    def room(self) -> bool | None:
        """True: a note may go now; None: it may wait for room; False: overflow (UO)."""
        pool = self.pool
        limit = pool.limit if pool is not None else None
        if limit is None or self.active < limit:
            return True
        max_pending = pool.max_pending if pool is not None else None
        if max_pending is None or len(self.pending) < max_pending:
            return None
        return False

    def wait_for_room(self) -> asyncio.Future[None]:
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.pending.append(waiter)
        return waiter

    def leave(self) -> None:
        """A note of this cluster is no longer in flight: let the first that waits go."""
        self.active = max(self.active - 1, 0)
        while self.pending:
            waiter = self.pending.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
