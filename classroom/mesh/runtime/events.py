"""Telemetry events as they leave a process: small dicts, batched per loop turn.

Every component reports what it did as events (note sent, forwarded,
delivered, failed; link up; TLS rejected; ...).  Sending one frame per event
would cost a write per note per hop, and wake the office as often, so
:class:`EventBatch` collects events for a few milliseconds (or until a batch
is full) and sends them as one EVENT frame: telemetry a few ms late, and the
note's own path left alone.

Each event's ``t`` is room time (:mod:`classroom.mesh.runtime.clock`), the
clock every process of the round shares.  The few milliseconds of batching
are real time on purpose: they are the telemetry's transport, not the
class's time, so a paused class still reports everything up to its pause.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from classroom.mesh.runtime import wire
from classroom.mesh.runtime.clock import Clock

FLUSH_AFTER = 0.005
# Per-hop detail (spans, forwards): what telemetry "off" leaves out. Outcomes always go out:
# the ledger and the report are built from them.
VERBOSE = frozenset({"span", "forwarded"})
BATCH = 200


class EventBatch:
    """Collects events and flushes them every few milliseconds, or when a batch is full."""

    def __init__(self, source: str, write: Callable[[bytes], object], clock: Clock, delay: float = FLUSH_AFTER,
                 verbose: bool = True, observe: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.clock = clock
        self.delay = delay
        self.verbose = verbose
        self.source = source
        self.observe = observe  # sees each event as it is emitted (the office keeps a snapshot)
        self._write = write
        self._pending: list[dict[str, Any]] = []
        self._scheduled = False

    def emit(self, kind: str, **fields: Any) -> None:
        if not self.verbose and kind in VERBOSE:
            return
        fields["kind"] = kind
        fields["t"] = self.clock.now()
        fields["src"] = self.source
        if self.observe is not None:
            self.observe(fields)
        pending = self._pending
        pending.append(fields)
        if len(pending) >= BATCH:
            self.flush()
        elif not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_later(self.delay, self.flush)

    def flush(self) -> None:
        self._scheduled = False
        if not self._pending:
            return
        events, self._pending = self._pending, []
        # Split so that no frame goes over the wire limit, whatever the burst.
        start = 0
        while start < len(events):
            chunk = events[start : start + 200]
            start += 200
            self._write(wire.encode_parts(wire.FrameType.EVENT, {"events": chunk}))
