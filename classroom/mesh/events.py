"""Telemetry events as they leave a process: small dicts, batched per loop turn.

Every component reports what it did as events (note sent, forwarded,
delivered, failed; link up; TLS rejected; ...).  Sending one frame per event
would cost a write per note per hop, so :class:`EventBatch` collects the
events of one turn of the event loop and sends them as a single EVENT frame.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from classroom.mesh import wire


class EventBatch:
    """Collects events and flushes them once per loop iteration."""

    def __init__(self, source: str, write: Callable[[bytes], object]) -> None:
        self.source = source
        self._write = write
        self._pending: list[dict[str, Any]] = []
        self._scheduled = False

    def emit(self, kind: str, **fields: Any) -> None:
        fields["kind"] = kind
        fields["t"] = time.time()
        fields["src"] = self.source
        self._pending.append(fields)
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)

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
