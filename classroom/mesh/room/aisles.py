"""The aisles: the room network that carries every desk-to-desk link.

Theory of operation
-------------------
The aisles is one process, a TCP relay in the manner of Toxiproxy.  For each
*directed* link a→b (a's proxy dials b's proxy) the runner binds a listener on
127.0.0.1 and hands it to the aisles; a's proxy dials that listener instead of
b's port.  For every connection accepted there, the aisles dials b's real
address and pipes bytes both ways.  TLS passes through untouched: the aisles
never sees inside, it is the wire.

Each accepted connection is a :class:`Pipe` with two :class:`_Side`
protocols: ``down`` (a's connection, accepted) and ``up`` (the one we dialed
to b).  Bytes a→b are *notes* and take the passing time; bytes b→a are the
acknowledgements and pass at once.  A delayed chunk waits in the pipe's queue
with the time it is due; one timer per pipe (the round's clock) delivers every
chunk that is due, in order, so a chunk never overtakes an earlier one.

Faults come from the level's schedule (room seconds), counted from CONTROL
``{"type": "start"}`` on the control socket;
without a start there are no faults.  Each fault covers unordered pairs of
students, i.e. both directed links of each pair:

* ``latency``: extra delay on a→b bytes on top of the passing time;
* ``reset``: at ``at`` every connection on the links is aborted with a TCP
  RST (``SO_LINGER`` 0), and new connections are accepted then aborted at once
  until ``until``; an optional ``probability`` makes each connection's fate a
  draw of the round's dice keyed by (fault, link, connection number);
* ``blackhole``: bytes both ways are swallowed; connections stay open;
* ``partition``: the links are cut: connections aborted, new ones refused.

``until`` missing means to the end of the round.  A fault's start and end are
one timeline processed in order, so a zero-length window still starts before
it ends.

The teacher (:mod:`classroom.mesh.room.teacher`) acts only through the aisles, on
the links she watches (she says which, over her own socket pair): the aisles
copy her the a→b bytes of those links (eavesdrop), cut a connection under a
chunk she takes in passing (confiscate, a keyed draw per chunk), and send the
next dial of a link she starts watching to her instead of to b (impersonate:
she cuts the link at a quiet moment, when no byte waits out its passing time and
b has answered the last chunk a sent; a note that b is still passing on down
the path is reset with the link, as Envoy resets the requests of a cut
connection), and open a plaintext connection to b for her to hand in a forged
note (forge).

Flow control: the reading side is paused while the far side's transport is
over its high-water mark (``pause_writing``) and while a pipe's queue holds
more than :data:`QUEUE_HIGH` bytes (bytes a sends before the dial to b
succeeds wait in that queue too).  Nothing here raises into the event loop on a peer that closes
early, a refused dial (the accepted side is then aborted, so the dialer sees a
reset) or a write to a closed transport.

Events (``src`` ``"aisles"``, batched on the control socket):

* ``aisle_fault`` {fault, index, links, phase: start|end, latency?}
* ``aisle_reset`` {link: [a, b], conn, fault, refused: bool}
* ``aisle_connection`` {link, conn, direction: open|closed, reason?, bytes_forward?, bytes_back?,
  swallowed?}
* ``aisle_dial_failed`` {link, conn, error}
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections import deque
from collections.abc import Callable
from typing import Any

from classroom.mesh.runtime import net, process, wire
from classroom.mesh.runtime.clock import Timer
from classroom.mesh.runtime.dice import Dice
from classroom.mesh.runtime.specs import AisleFaultSpec, AisleLink, AislesSpec

LATENCY, RESET, BLACKHOLE, PARTITION = "latency", "reset", "blackhole", "partition"
KINDS = (LATENCY, RESET, BLACKHOLE, PARTITION)
CUTS = (RESET, PARTITION)
QUEUE_HIGH = 1024 * 1024  # bytes waiting out their passing time before we stop reading a
QUEUE_LOW = 256 * 1024
DIAL_TIMEOUT = 5.0
HANDSHAKE_CHUNKS = 3  # a→b chunks of a new connection that carry no note (TLS handshake, hello)
SLACK = 0.002  # real seconds: a chunk due this soon goes now (uvloop's timers round to the millisecond)
_LINGER_ZERO = struct.pack("ii", 1, 0)


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

    def __init__(self, aisles: Aisles, link: Link) -> None:
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


class Aisles(process.Role):
    """The aisles process: its links, its schedule of faults, its control channel."""

    title = "classroom: aisles"
    spec: AislesSpec

    def __init__(self, spec: AislesSpec, fds: list[int]) -> None:
        super().__init__(spec, fds)
        fds = list(self.fds)
        teacher_fd = fds.pop() if spec.teacher else None
        if len(fds) != 1 + len(spec.links):
            raise ValueError(
                f"the aisles need a control socket and one listener per link: "
                f"{len(spec.links)} links, {len(fds)} file descriptors"
            )
        self.passing = spec.passing_time
        self._control_fd = fds[0]
        listeners = [socket.socket(fileno=fd) for fd in fds[1:]]
        self.links = [Link(i, entry, sock) for i, (entry, sock) in enumerate(zip(spec.links, listeners, strict=True))]
        self.faults = [Fault(i, entry) for i, entry in enumerate(spec.faults)]
        for fault in self.faults:
            pairs = {frozenset(pair) for pair in fault.pairs}
            fault.links = [link for link in self.links if frozenset(link.pair) in pairs]
        # The teacher's channel, when the level has one, comes after the links' listeners.
        self._teacher_fd = teacher_fd
        self.teacher_address = spec.teacher_address
        self.teacher: net.FrameConnection | None = None
        self.eavesdrop = False
        self.catch = 0.0
        self.started_at: float | None = None
        self._timeline: list[tuple[float, int, Fault, str]] = []
        self.live: list[Fault] = []  # faults a lecture started, until it heals them
        self._tasks: set[asyncio.Task[Any]] = set()
        self.servers: list[asyncio.AbstractServer] = []
        self.loop: asyncio.AbstractEventLoop = None  # type: ignore[assignment]  # set in main()

    def spawn(self, coro: Any) -> None:
        task = self.loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- the clock of faults ----------------------------------------------------------------
    def _on_control(self, conn: net.FrameConnection, frame: wire.Frame) -> None:
        if frame.type is wire.FrameType.CONTROL and frame.header.get("type") == "start":
            self.start()

    def start(self) -> None:
        if self.started_at is not None:
            return
        self.started_at = now = self.clock.now()
        # A fault's start and end are one timeline, in order: a zero-length window starts before it ends.
        timeline: list[tuple[float, int, Fault, str]] = []
        for fault in self.faults:
            timeline.append((now + fault.at, len(timeline), fault, "start"))
            if fault.until is not None:
                timeline.append((now + max(fault.until, fault.at), len(timeline), fault, "end"))
        timeline.sort(key=lambda item: (item[0], item[1]))
        self._timeline = timeline
        self._tick()

    def _tick(self) -> None:
        now = self.clock.now() + SLACK * self.clock.rate
        timeline = self._timeline
        while timeline and timeline[0][0] <= now:
            _, _, fault, phase = timeline.pop(0)
            if phase == "start":
                self._fault_starts(fault)
            else:
                self._fault_ends(fault)
        if timeline:
            self.clock.call_at(timeline[0][0], self._tick)

    def _fault_starts(self, fault: Fault) -> None:
        fields: dict[str, Any] = {}
        if fault.kind == LATENCY:
            fields["latency"] = fault.latency
        self.events.emit(
            "aisle_fault", fault=fault.kind, index=fault.index, links=fault.pairs, phase="start", **fields
        )
        for link in fault.links:
            link.active.append(fault)
            link.recompute()
            if fault.kind in CUTS:
                for pipe in sorted(link.pipes, key=lambda p: p.number):
                    if fault.hits(self.dice, link, pipe.number):
                        self.events.emit(
                            "aisle_reset", link=link.label, conn=pipe.number, fault=fault.kind, refused=False
                        )
                        pipe.abort(f"{fault.kind} by the aisles")

    def on_runner(self, message: dict[str, Any]) -> None:
        """A lecture cuts, slows or heals links live: a fault that starts now, until healed."""
        kind, pairs = message.get("type"), message.get("links")
        if kind not in ("fault", "heal") or type(pairs) is not list:
            super().on_runner(message)
            return
        wanted = {frozenset(map(str, pair)) for pair in pairs if type(pair) is list and len(pair) == 2}
        if kind == "heal":
            for fault in [f for f in self.live if {frozenset(lk.pair) for lk in f.links} & wanted]:
                self.live.remove(fault)
                self._fault_ends(fault)
            return
        latency = message.get("latency")
        fault = Fault(len(self.faults), AisleFaultSpec(
            str(message.get("kind")), tuple((str(a), str(b)) for a, b in pairs),
            latency=float(latency) if isinstance(latency, int | float) else None))
        fault.links = [link for link in self.links if frozenset(link.pair) in wanted]
        self.faults.append(fault)
        self.live.append(fault)
        self._fault_starts(fault)

    def _fault_ends(self, fault: Fault) -> None:
        for link in fault.links:
            with contextlib.suppress(ValueError):
                link.active.remove(fault)
            link.recompute()
        self.events.emit("aisle_fault", fault=fault.kind, index=fault.index, links=fault.pairs, phase="end")

    # --- the teacher -------------------------------------------------------------------------
    def _on_teacher(self, conn: net.FrameConnection, frame: wire.Frame) -> None:
        message = frame.header
        if frame.type is not wire.FrameType.CONTROL:
            return
        if message.get("type") == "forge":
            self.spawn(self._forge([str(x) for x in message.get("link", ())], frame.body))
            return
        if message.get("type") != "watch":
            return
        near = {frozenset(pair) for pair in message.get("links", [])}
        fresh = {frozenset(pair) for pair in message.get("impersonate", [])}
        self.eavesdrop = bool(message.get("eavesdrop"))
        self.catch = float(message.get("catch", 0.0))
        for link in self.links:
            pair = frozenset(link.pair)
            link.watched = pair in near
            if pair in fresh:
                # She cuts in: the link's connection drops and its redial reaches her.  She waits for a
                # quiet moment (see the module docstring): fewer notes are reset with the link.
                link.redirect = True
                for pipe in list(link.pipes):
                    if pipe.quiet:
                        pipe.abort("the teacher cut in")
                    else:
                        pipe.cut_when_quiet = True

    def overseen(self, pipe: Pipe, data: bytes) -> bool:
        """The teacher by a link a chunk crosses: she may copy it, or take it (True)."""
        teacher = self.teacher
        if teacher is None:
            return False
        link = pipe.link
        pipe.chunks += 1
        if self.eavesdrop:
            teacher.send(wire.FrameType.CONTROL, {"type": "tap", "link": link.label, "conn": pipe.number},
                         data)
        # She takes notes in passing, not the greetings: the first chunks of a connection are its
        # TLS handshake and hello, which she lets by.
        if self.catch and pipe.opened and pipe.chunks > HANDSHAKE_CHUNKS and self.dice.happens(
                self.catch, "catch", link.label, pipe.number, pipe.chunks):
            teacher.send(wire.FrameType.CONTROL, {"type": "caught", "link": link.label, "conn": pipe.number})
            self.events.emit("aisle_reset", link=link.label, conn=pipe.number, fault="teacher", refused=False)
            pipe.abort("the teacher confiscated a note")
            return True
        return False

    async def _forge(self, pair: list[str], frames: bytes) -> None:
        """The teacher's forgery on link a→b: a plaintext connection to b, her frames, and what b answered."""
        link = next((lk for lk in self.links if lk.pair == tuple(pair)), None)
        teacher = self.teacher
        if link is None or teacher is None:
            return
        answer = {"type": "forged", "link": link.label, "accepted": False, "why": "no answer"}
        try:
            reader, writer = await self.clock.wait(asyncio.open_connection(*link.target),
                                                   self.clock.now() + DIAL_TIMEOUT * max(self.clock.rate, 1.0))
        except (OSError, TimeoutError) as exc:
            answer["why"] = f"could not reach {link.b}: {exc}"
            teacher.send(wire.FrameType.CONTROL, answer)
            return
        decoder = wire.FrameDecoder()
        try:
            writer.write(frames)
            until = self.clock.now() + DIAL_TIMEOUT * max(self.clock.rate, 1.0)
            while answer["why"] == "no answer":
                data = await self.clock.wait(reader.read(65536), until)
                if not data:
                    answer["why"] = f"{link.b} closed the connection (plaintext refused)"
                    break
                decoder.receive_data(data)
                for reply in decoder.frames():
                    if reply.type is wire.FrameType.ACK:
                        answer["accepted"] = reply.header.get("status") == "delivered"
                        answer["why"] = str(reply.header.get("reason") or "delivered")
        except (OSError, TimeoutError, wire.RemoteProtocolError) as exc:
            answer["why"] = str(exc) or type(exc).__name__
        finally:
            writer.close()
        teacher.send(wire.FrameType.CONTROL, answer)

    def _acceptor(self, link: Link) -> Callable[[], _Side]:
        return lambda: _Side(Pipe(self, link), True)

    # --- the process ---------------------------------------------------------------------------
    async def main(self) -> None:
        self.loop = loop = asyncio.get_running_loop()
        # Without the office the room goes on (its faults were scheduled at the start).
        self.control = await self.connect_unix(self._control_fd, self._on_control, None, "the office")
        if self._teacher_fd is not None:
            self.teacher = await self.connect_unix(self._teacher_fd, self._on_teacher, None, "the teacher")
        for link in self.links:
            link.listener.setblocking(False)
            self.servers.append(await loop.create_server(self._acceptor(link), sock=link.listener))

    def stopped(self) -> None:
        for server in self.servers:
            server.close()
        for link in self.links:
            for pipe in list(link.pipes):
                pipe.close("the aisles stopped")


ROLE = Aisles
