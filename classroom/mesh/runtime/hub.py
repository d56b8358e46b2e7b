"""The runner's event hub: every process of a round reports to it, and watchers subscribe to it.

Theory of operation
-------------------
Each process of a round gets, when it is forked, one end of a socket pair
whose other end the runner keeps (:meth:`Hub.attach`); its events go there
as EVENT frames (:mod:`classroom.mesh.runtime.events` batches them).  So the
round's history is gathered where it is judged, in the runner, and no
process that may die stands between a proxy and the report: with the office
killed, the proxies' events still arrive; with a sender's sidecar killed, its
student still reports what became of her notes.

The hub fans the events out to subscribers on its events port (``classroom
tap|stat|top --connect``, the window): a subscriber that falls behind never
slows the round, its events are dropped and it is told how many it missed
(``missed``).  One who joins mid-round first gets a snapshot of what it needs
to make sense of what follows (who holds which card, which links are up and
whether they are TLS).  With ``--metrics-port``, the hub also feeds
Prometheus metrics (:mod:`classroom.telemetry.metrics`) and serves them.

A frame a process sends that is not a batch of events is a protocol error of
that process: the hub drops it, counts it, and goes on.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from classroom.mesh.runtime import net, wire
from classroom.mesh.runtime.net import FrameConnection

if TYPE_CHECKING:
    from classroom.mesh.runtime.clock import SharedClock
    from classroom.telemetry.metrics import MeshMetrics

EVENT = wire.FrameType.EVENT
SUBSCRIBER_BUFFER_LIMIT = 4 * 1024 * 1024
# What a subscriber joining mid-round needs to make sense of what follows: who holds which card,
# and which links are up and whether they are TLS. The latest of each rides in its `subscribed`.
SNAPSHOT_KINDS = frozenset({"cert_issued", "cert_installed", "cert_rotated", "link_up", "link_accepted",
                            "link_down", "config_acked"})


class Subscriber:
    """One listener to the event stream, with its own drop counter."""

    def __init__(self, conn: FrameConnection, clock: SharedClock, limit: int = SUBSCRIBER_BUFFER_LIMIT) -> None:
        self.conn = conn
        self.clock = clock
        self.limit = limit
        self.missed = 0

    def offer(self, data: bytes, count: int) -> None:
        transport = self.conn.transport
        if transport is None:
            return
        if transport.get_write_buffer_size() > self.limit:
            self.missed += count
            return
        if self.missed:
            missed, self.missed = self.missed, 0
            self.conn.send(EVENT, {"events": [{"kind": "missed", "count": missed, "t": self.clock.now(),
                                               "src": "runner"}]})
        transport.write(data)


class Hub:
    """Every event of the round, from every process, to the runner and its subscribers."""

    def __init__(self, clock: SharedClock, on_event: Callable[[dict[str, Any]], None],
                 metrics_port: int | None = None, subscriber_buffer: int | None = None) -> None:
        self.clock = clock
        self.on_event = on_event
        self.subscriber_buffer = subscriber_buffer
        self.subscribers: list[Subscriber] = []
        self.snapshot: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.version = 0  # the configuration version the office last pushed
        self.protocol_errors = 0
        self.listener: socket.socket | None = None
        self.sources: list[FrameConnection] = []
        self.metrics: MeshMetrics | None = None
        self.metrics_port = metrics_port
        if metrics_port:
            from classroom.telemetry.metrics import MeshMetrics

            self.metrics = MeshMetrics()

    # --- the round's processes ---------------------------------------------------------------------
    async def attach(self, sock: socket.socket, label: str) -> FrameConnection:
        """Read the events a process sends on its end of ``sock`` (the runner's line to it, too)."""
        sock.setblocking(False)
        conn = FrameConnection(self._on_frame, None, label=label, on_protocol_error=self._protocol_error)
        await asyncio.get_running_loop().connect_accepted_socket(lambda: conn, sock)
        self.sources.append(conn)
        return conn

    def _protocol_error(self, message: str) -> None:
        self.protocol_errors += 1
        net.log("runner", message)

    def _on_frame(self, conn: FrameConnection, frame: wire.Frame) -> None:
        events = frame.header.get("events")
        if frame.type is not EVENT or type(events) is not list:
            raise wire.RemoteProtocolError(f"a {frame.type.name} frame where events were expected")
        good = [e for e in events if type(e) is dict and type(e.get("kind")) is str]
        if len(good) != len(events):
            self.protocol_errors += 1
        for event in good:
            self._take(event)
        data = wire.encode(frame) if len(good) == len(events) else wire.encode_parts(EVENT, {"events": good})
        self._fan_out(data, len(good))

    def emit(self, kind: str, **fields: Any) -> dict[str, Any]:
        """An event of the runner's own (a process that went away, the round's end ...)."""
        event = {"kind": kind, **fields, "t": self.clock.now(), "src": "runner"}
        self._take(event)
        self._fan_out(wire.encode_parts(EVENT, {"events": [event]}), 1)
        return event

    def _take(self, event: dict[str, Any]) -> None:
        kind = event["kind"]
        if kind in SNAPSHOT_KINDS:
            self._remember(event)
        elif kind == "config_pushed" and type(event.get("version")) is int:
            self.version = event["version"]
        if self.metrics is not None:
            self.metrics.observe(event)
        self.on_event(event)

    def _remember(self, event: dict[str, Any]) -> None:
        kind = event["kind"]
        if kind == "config_acked":
            self.snapshot[("config", str(event.get("proxy")), "")] = event
        elif kind in ("cert_issued", "cert_installed", "cert_rotated"):
            self.snapshot[("cert", str(event.get("hand")), "")] = event
        elif kind == "link_down":
            self.snapshot.pop(("link_up", str(event.get("hand")), str(event.get("peer"))), None)
        else:
            self.snapshot[(str(kind), str(event.get("hand")), str(event.get("peer")))] = event

    # --- subscribers ---------------------------------------------------------------------------------
    def _fan_out(self, data: bytes, count: int) -> None:
        for sub in self.subscribers:
            sub.offer(data, count)

    async def serve(self) -> tuple[str, int]:
        """Listen for subscribers on 127.0.0.1 (and serve metrics if asked); the events port."""
        self.listener = net.bound_listener()
        net.spawn(self._serve_subscribers(self.listener))
        if self.metrics is not None and self.metrics_port:
            problem = self.metrics.serve(self.metrics_port)
            if problem:
                net.log("runner", problem)
                self.emit("metrics_unavailable", port=self.metrics_port, reason=problem)
        host, port = self.listener.getsockname()[:2]
        return host, port

    async def _serve_subscribers(self, listener: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                sock, _ = await loop.sock_accept(listener)
            except OSError:
                return  # the listener closed: the round is over
            limit = int(self.subscriber_buffer or SUBSCRIBER_BUFFER_LIMIT)
            if self.subscriber_buffer:  # a small buffer, small in the kernel too (no autotuning)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, limit)
            conn = FrameConnection(lambda c, f: None, self._drop_subscriber, label="a subscriber")
            await loop.connect_accepted_socket(lambda conn=conn: conn, sock)  # type: ignore[misc]
            self.subscribers.append(Subscriber(conn, self.clock, limit))
            conn.send(EVENT, {"events": [{"kind": "subscribed", "t": self.clock.now(), "src": "runner",
                                          "version": self.version, "snapshot": list(self.snapshot.values())}]})

    def _drop_subscriber(self, conn: FrameConnection, exc: Exception | None) -> None:
        self.subscribers = [s for s in self.subscribers if s.conn is not conn]

    def close(self) -> None:
        """The round is over: subscribers see their stream end; metrics stop being served."""
        for sub in self.subscribers:
            sub.conn.close()
        for conn in self.sources:
            conn.close()
        if self.listener is not None:
            self.listener.close()
        if self.metrics is not None:
            self.metrics.stop()
