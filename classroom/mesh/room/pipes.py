"""The aisles' plumbing: one directed link's listener and faults, and each connection's pipe.

:class:`Pipe` carries one connection a→b through the aisles (:mod:`classroom.mesh.room.aisles`
explains the whole: passing time, faults, the teacher), a chunk at a time, each chunk
waiting out its passing time in the pipe's queue; :class:`Link` is one directed link
(its listener, its open pipes, the faults on it now); :class:`Fault` one entry of the
schedule.  A pipe asks of the aisles only what :class:`Room` names.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections import deque
from typing import Any, Protocol

from classroom.mesh.runtime import net, wire
from classroom.mesh.runtime.clock import Clock, Timer
from classroom.mesh.runtime.dice import Dice
from classroom.mesh.runtime.events import EventBatch
from classroom.mesh.runtime.specs import AisleFaultSpec, AisleLink


class Room(Protocol):
    """What a pipe asks of the aisles process it runs in (:class:`~classroom.mesh.room.aisles.Aisles`)."""

    loop: asyncio.AbstractEventLoop
    passing: float  # the room's passing time

    @property
    def clock(self) -> Clock: ...

    @property
    def dice(self) -> Dice: ...

    @property
    def events(self) -> EventBatch: ...

    @property
    def teacher(self) -> net.FrameConnection | None: ...

    @property
    def teacher_address(self) -> Any: ...

    def overseen(self, pipe: Pipe, data: bytes) -> bool: ...

    def spawn(self, coro: Any) -> None: ...


LATENCY, RESET, BLACKHOLE, PARTITION = "latency", "reset", "blackhole", "partition"
KINDS = (LATENCY, RESET, BLACKHOLE, PARTITION)
CUTS = (RESET, PARTITION)
QUEUE_HIGH = 1024 * 1024  # bytes waiting out their passing time before we stop reading a
QUEUE_LOW = 256 * 1024
DIAL_TIMEOUT = 5.0
HANDSHAKE_CHUNKS = 3  # a→b chunks of a new connection that carry no note (TLS handshake, hello)
SLACK = 0.002  # real seconds: a chunk due this soon goes now (uvloop's timers round to the millisecond)
_LINGER_ZERO = struct.pack("ii", 1, 0)
# What Hubble shows for a connection the policy turned away (`hubble observe --verdict DROPPED`).
DROPPED, POLICY_DENIED = "DROPPED", "Policy denied"


def _abort(transport: asyncio.Transport | None) -> None:
    """Abort with a TCP RST (SO_LINGER 0), not a FIN."""
    if transport is None or transport.is_closing():
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_ZERO)
    transport.abort()


class Fault:
    """One entry of the schedule (room seconds from the start of the round)."""

    def __init__(self, index: int, entry: AisleFaultSpec) -> None:
        self.index = index
        self.kind = entry.kind
        if self.kind not in KINDS:
            raise ValueError(f"aisles fault {index}: unknown kind {self.kind!r} (known: {', '.join(KINDS)})")
        self.pairs: list[list[str]] = [[str(a), str(b)] for a, b in entry.links]
        self.at = float(entry.at or 0.0)
        self.until = entry.until
        self.latency = float(entry.latency or 0.0)
        self.probability = 1.0 if entry.probability is None else float(entry.probability)
        self.links: list[Link] = []

    def hits(self, dice: Dice, link: Link, conn: int) -> bool:
        """Does this (cutting) fault take this connection?"""
        if self.probability >= 1.0:
            return True
        return dice.happens(self.probability, "aisle-fault", self.index, link.pair, conn)


class Link:
    """One directed link a→b: its listener, its open pipes and the faults on it now."""

    def __init__(self, index: int, entry: AisleLink, listener: socket.socket) -> None:
        self.index = index
        self.a = entry.a
        self.b = entry.b
        self.pair = (self.a, self.b)
        self.label = [self.a, self.b]
        self.target = entry.target
        self.listener = listener
        self.pipes: set[Pipe] = set()
        self.count = 0
        self.active: list[Fault] = []
        # Derived from ``active`` whenever it changes, so that per-chunk work is two reads.
        self.latency = 0.0
        self.blackholed = False
        self.cuts: list[Fault] = []
        self.watched = False  # the teacher stands next to it
        self.redirect = False  # its next dial goes to the teacher
        # The room network's policy turns its connections away: (the deciding policy, why); None: it lets them by.
        self.drop: tuple[str, str] | None = None

    def recompute(self) -> None:
        self.latency = sum(f.latency for f in self.active if f.kind == LATENCY)
        self.blackholed = any(f.kind == BLACKHOLE for f in self.active)
        self.cuts = [f for f in self.active if f.kind in CUTS]


class _Side(asyncio.Protocol):
    """One end of a pipe: ``down`` is a's connection (accepted), ``up`` the dial to b."""

    __slots__ = ("pipe", "down", "transport")

    def __init__(self, pipe: Pipe, down: bool) -> None:
        self.pipe = pipe
        self.down = down
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = stream = transport  # type: ignore[assignment]  # uvloop's are not subclasses
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.down:
            self.pipe.accepted(stream)  # type: ignore[arg-type]
        else:
            self.pipe.dialed(stream)  # type: ignore[arg-type]

    def data_received(self, data: bytes) -> None:
        if self.down:
            self.pipe.forward(data)
        else:
            self.pipe.backward(data)

    def eof_received(self) -> bool:
        self.pipe.eof(self.down)
        return True  # keep the other half open: the pipe decides when to close

    def connection_lost(self, exc: Exception | None) -> None:
        self.pipe.lost(self.down, exc)

    def pause_writing(self) -> None:
        self.pipe.write_paused(self.down, True)

    def resume_writing(self) -> None:
        self.pipe.write_paused(self.down, False)


class Pipe:
    """One connection through the aisles: a's side, b's side, and the bytes in between."""

    def __init__(self, aisles: Room, link: Link) -> None:
        link.count += 1
        self.aisles = aisles
        self.link = link
        self.number = link.count
        self.loop = aisles.loop
        self.down: asyncio.Transport | None = None
        self.up: asyncio.Transport | None = None
        self.queue: deque[tuple[float, bytes | None]] = deque()  # (due in room time, chunk); None is a's EOF
        self.queued = 0
        self.last_due = 0.0
        self.timer: Timer | None = None
        self.queue_full = False
        self.up_write_paused = False
        self.down_write_paused = False
        self.down_reading = True
        self.up_reading = True
        self.down_eof = False  # a has finished sending
        self.up_eof = False  # b has finished sending
        self.forward_done = False  # a's EOF has reached b
        self.opened = False
        self.closed = False
        self.bytes_forward = 0
        self.bytes_back = 0
        self.swallowed = 0
        self.chunks = 0
        self.unanswered = False  # bytes went a→b since b last answered: a note may be on its way
        self.cut_when_quiet = False  # the teacher waits to cut in until nothing is on its way

    @property
    def quiet(self) -> bool:
        """Nothing on its way a→b: no byte waiting out its passing time, none unanswered by b."""
        return not self.queue and not self.unanswered

    # --- setting up -----------------------------------------------------------------
    def accepted(self, transport: asyncio.Transport) -> None:
        self.down = transport
        link = self.link
        if link.drop is not None:
            # Cilium's L3 policy in the kernel: the connection never reaches b's proxy.  Cilium drops the
            # packets and the dialer's connect times out; the aisles turn it away at once (a reset).
            policy, why = link.drop
            self.aisles.events.emit("aisle_policy_drop", link=link.label, conn=self.number, policy=policy or None,
                                    reason=why, verdict=DROPPED, drop_reason=POLICY_DENIED)
            self.closed = True
            _abort(transport)
            return
        for fault in link.cuts:
            if fault.hits(self.aisles.dice, link, self.number):
                self.aisles.events.emit(
                    "aisle_reset", link=link.label, conn=self.number, fault=fault.kind, refused=True
                )
                self.closed = True
                _abort(transport)
                return
        link.pipes.add(self)
        # Bytes a sends before b answers wait in the queue (uvloop starts reading after
        # connection_made whatever it did, so pausing here would not hold them back).
        self.aisles.spawn(self._dial())

    async def _dial(self) -> None:
        link = self.link
        target = link.target
        teacher = self.aisles.teacher
        if link.redirect and teacher is not None and self.aisles.teacher_address is not None:
            link.redirect = False  # once: she poses as b for this one dial
            target = self.aisles.teacher_address
            teacher.send(wire.FrameType.CONTROL, {"type": "pose", "as": link.b, "link": link.label})
            self.aisles.events.emit("aisle_redirected", link=link.label, conn=self.number, to="teacher")
        try:
            clock = self.aisles.clock
            await clock.wait(self.loop.create_connection(lambda: _Side(self, False), *target),
                             clock.now() + DIAL_TIMEOUT * max(clock.rate, 1.0))
        except (OSError, TimeoutError) as exc:
            if not self.closed:
                error = str(exc) or type(exc).__name__
                self.aisles.events.emit("aisle_dial_failed", link=link.label, conn=self.number, error=error)
                self.abort(None)
            return

    def dialed(self, transport: asyncio.Transport) -> None:
        if self.closed:  # a left, or a fault cut the link, while we were dialing
            _abort(transport)
            return
        self.up = transport
        self.opened = True
        self.aisles.events.emit("aisle_connection", link=self.link.label, conn=self.number, direction="open")
        if self.queue and self.timer is None:
            self._schedule(self.queue[0][0])

    # --- bytes ------------------------------------------------------------------------
    def forward(self, data: bytes) -> None:
        """a → b: after the passing time (and any latency), in order."""
        link = self.link
        if link.blackholed:
            self.swallowed += len(data)
            return
        if link.watched and self.aisles.overseen(self, data):
            return  # the teacher took it
        self.bytes_forward += len(data)
        self.unanswered = True
        delay = self.aisles.passing + link.latency
        up = self.up
        if delay <= 0.0 and not self.queue and up is not None:
            if not up.is_closing():
                up.write(data)
            return
        self._enqueue(delay, data)
        self.queued += len(data)
        if self.queued > QUEUE_HIGH and not self.queue_full:
            self.queue_full = True
            self._update_down_reading()

    def backward(self, data: bytes) -> None:
        """b → a: the acknowledgements, at once."""
        if self.link.blackholed:
            self.swallowed += len(data)
            return
        self.bytes_back += len(data)
        self.unanswered = False
        if self.cut_when_quiet and self.quiet:
            self.aisles.loop.call_soon(self.abort, "the teacher cut in")  # after this answer is on its way
        down = self.down
        if down is not None and not down.is_closing():
            down.write(data)

    def _enqueue(self, delay: float, chunk: bytes | None) -> None:
        due = self.aisles.clock.now() + delay
        if due < self.last_due:
            due = self.last_due  # never overtake an earlier chunk (latency may have just ended)
        self.last_due = due
        self.queue.append((due, chunk))
        if self.timer is None:
            self._schedule(due)

    def _schedule(self, due: float) -> None:
        self.timer = self.aisles.clock.call_at(due, self._drain)

    def _drain(self) -> None:
        self.timer = None
        up = self.up
        if up is None:
            return  # still dialing b: dialed() starts the queue
        queue = self.queue
        clock = self.aisles.clock
        now = clock.now() + SLACK * clock.rate
        blackholed = self.link.blackholed
        while queue and queue[0][0] <= now:
            _, chunk = queue.popleft()
            if chunk is None:
                self._finish_forward()
                continue
            self.queued -= len(chunk)
            if blackholed:
                self.swallowed += len(chunk)
            elif up is not None and not up.is_closing():
                up.write(chunk)
        if queue:
            self._schedule(queue[0][0])
        if self.queue_full and self.queued < QUEUE_LOW:
            self.queue_full = False
            self._update_down_reading()

    # --- flow control -----------------------------------------------------------------
    def write_paused(self, down: bool, paused: bool) -> None:
        if down:  # a's buffer is full: stop reading b
            self.down_write_paused = paused
            self._update_up_reading()
        else:
            self.up_write_paused = paused
            self._update_down_reading()

    def _update_down_reading(self) -> None:
        want = not self.up_write_paused and not self.queue_full
        down = self.down
        if want == self.down_reading or down is None or down.is_closing():
            return
        self.down_reading = want
        with contextlib.suppress(RuntimeError, AttributeError):
            if want:
                down.resume_reading()
            else:
                down.pause_reading()

    def _update_up_reading(self) -> None:
        want = not self.down_write_paused
        up = self.up
        if want == self.up_reading or up is None or up.is_closing():
            return
        self.up_reading = want
        with contextlib.suppress(RuntimeError, AttributeError):
            if want:
                up.resume_reading()
            else:
                up.pause_reading()

    # --- ending -------------------------------------------------------------------------
    def eof(self, down: bool) -> None:
        if down:
            self.down_eof = True
            delay = self.aisles.passing + self.link.latency
            if self.queue or delay > 0.0 or self.up is None:
                self._enqueue(delay, None)
            else:
                self._finish_forward()
        else:
            self.up_eof = True
            _write_eof(self.down)
            self._close_if_done()

    def _finish_forward(self) -> None:
        self.forward_done = True
        _write_eof(self.up)
        self._close_if_done()

    def _close_if_done(self) -> None:
        if self.forward_done and self.up_eof:
            self.close("closed")

    def lost(self, down: bool, exc: Exception | None) -> None:
        if self.closed:
            return
        if exc is not None:  # a reset on one side is a reset on the other
            self.abort("reset by " + (self.link.a if down else self.link.b))
            return
        if down and self.queue:
            # a closed cleanly with notes still on the wire: b gets them, then the close.
            self.down_eof = True
            self._enqueue(0.0, None)
            return
        self.close("closed by " + (self.link.a if down else self.link.b))

    def close(self, reason: str) -> None:
        if self._end(reason):
            for transport in (self.down, self.up):
                if transport is not None and not transport.is_closing():
                    transport.close()

    def abort(self, reason: str | None) -> None:
        """Tear both sides down with a reset (a fault, a failed dial, a reset on the other side)."""
        if self._end(reason):
            _abort(self.down)
            _abort(self.up)

    def _end(self, reason: str | None) -> bool:
        if self.closed:
            return False
        self.closed = True
        self.link.pipes.discard(self)
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.queue.clear()
        if self.opened and reason is not None:
            self.aisles.events.emit(
                "aisle_connection",
                link=self.link.label,
                conn=self.number,
                direction="closed",
                reason=reason,
                bytes_forward=self.bytes_forward,
                bytes_back=self.bytes_back,
                swallowed=self.swallowed,
            )
        return True


def _write_eof(transport: asyncio.Transport | None) -> None:
    if transport is None or transport.is_closing():
        return
    try:
        if transport.can_write_eof():
            transport.write_eof()
        else:
            transport.close()
    except (OSError, RuntimeError):
        transport.close()


