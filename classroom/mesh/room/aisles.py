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
* ``aisle_policy_drop`` {link, conn, policy, reason, verdict: DROPPED, drop_reason: "Policy denied",
  established?}: the room network's policy (Cilium's L3 in the kernel) turned a connection a→b away
  (``established``: a live push cut one that was open); it never reached b's proxy.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable
from typing import Any

from classroom.mesh.room.pipes import (
    CUTS,
    DIAL_TIMEOUT,
    HANDSHAKE_CHUNKS,
    LATENCY,
    SLACK,
    Fault,
    Link,
    Pipe,
    _Side,
)
from classroom.mesh.runtime import net, process, wire
from classroom.mesh.runtime.specs import AisleFaultSpec, AislesSpec


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
        self.teacher_drops: dict[str, tuple[str, str]] = {}  # desk -> (policy, why): her forgeries dropped
        self.drop_links(spec.drops)
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

    # --- the room network's policy (Cilium's L3/L4 in the kernel) ----------------------------------
    def drop_links(self, drops: Any) -> None:
        """The links whose connections the policy turns away from now on; a connection open on one is cut
        (the class's simplification: the policy holds for every connection, not only new ones)."""
        wanted = {(str(d[0]), str(d[1])): (str(d[2]), str(d[3])) for d in drops if len(d) == 4}
        # The teacher's own connections (her forgeries) come from outside the class: "teacher" as a.
        self.teacher_drops = {b: why for (a, b), why in wanted.items() if a == "teacher"}
        for link in self.links:
            link.drop = wanted.get(link.pair)
            if link.drop is not None:
                for pipe in sorted(link.pipes, key=lambda p: p.number):
                    self.events.emit("aisle_policy_drop", link=link.label, conn=pipe.number,
                                     policy=link.drop[0] or None, reason=link.drop[1], verdict="DROPPED",
                                     drop_reason="Policy denied", established=True)
                    pipe.abort("the room network's policy")

    def on_runner(self, message: dict[str, Any]) -> None:
        """A lecture cuts, slows or heals links live: a fault that starts now, until healed; or pushes a
        new network policy (the links it drops)."""
        kind, pairs = message.get("type"), message.get("links")
        if kind == "network_policy" and type(message.get("drops")) is list:
            self.drop_links(message["drops"])
            return
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
        drop = self.teacher_drops.get(link.b)
        if drop is not None:  # the room network's policy: she is no desk the policy lets in
            self.events.emit("aisle_policy_drop", link=["teacher", link.b], conn=0, policy=drop[0] or None,
                             reason=drop[1], verdict="DROPPED", drop_reason="Policy denied")
            answer["why"] = f"the room network dropped her connection to {link.b} (Policy denied)"
            teacher.send(wire.FrameType.CONTROL, answer)
            return
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
