"""The lecturer's side of a class with laptops: the join port, and each joined desk's far end.

Theory of operation
-------------------
``classroom host`` runs a round as ``classroom run`` does (office, aisles,
teacher, runner and hub on the lecturer's machine) with a :class:`JoinServer`
given to the runner as its remote desks
(:class:`~classroom.mesh.runtime.round.RemoteDesks`).  Before the round:

1. the server listens for TLS 1.3 on ``--listen`` only (127.0.0.1 unless the
   lecturer says otherwise), presenting a certificate from the class CA;
2. a laptop sends ``join {code, as?}``: a wrong, expired or closed code, a
   seat that is not in the level or is taken, a full room, anything that is
   not a well-formed join (:mod:`classroom.mesh.join.protocol` checks it as
   a frame from a peer) gets one ``refused`` line and the connection closes,
   with one line on the lecturer's terminal; nothing of it is kept;
3. a good join reserves her seat and gets ``welcome`` with the class CA; her
   laptop binds her proxy's peer listener and says ``ready`` with its port:
   from then on her desk is remote (a laptop that leaves before the round
   frees it again);
4. the round starts when ``--expect`` laptops are ready or ``--wait`` seconds
   passed; the code closes with it ("the round has started").

During the round, every link of a remote desk goes through the host's aisles,
so the level's faults, passing time and the teacher act on it as on any
other: the aisles' listener for each link *from* a laptop's seat is bound on
the ``--listen`` address (her proxy dials it), and the aisles dial her proxy's
peer listener on her laptop (the address her join came from).  TLS stays end
to end between the two proxies: the aisles only carry its bytes.  Her proxy
makes its key on her laptop and sends its CSR on its control channel, which
the server carries to the office (:mod:`classroom.mesh.join.relay`): the
office signs only the seat that channel belongs to, as for any proxy.  What
her laptop sends on her processes' event lines is checked before the hub
sees it: events in her own processes' names, outcomes of her own notes only.

The round's clock follows the lecturer: each pause, step or change of speed
goes to every laptop (``clock``), which keeps its own clock file in step
(:mod:`classroom.mesh.join.laptop`).  A laptop that says nothing for
``LOST_AFTER`` seconds (its pings stop: the network went, the lid closed) is
dropped: her proxy is lost to the office, and the runner settles her notes
as it does for a proxy and student that died.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from classroom.mesh.control import pki
from classroom.mesh.control import protocol as control_protocol
from classroom.mesh.join import protocol
from classroom.mesh.join.protocol import CONTROL, JoinCode
from classroom.mesh.join.relay import Pipe, close_all, host_context
from classroom.mesh.runtime import net, wire
from classroom.mesh.runtime.clock import SharedClock
from classroom.mesh.runtime.net import FrameConnection

HANDSHAKE_LIMIT = 10.0  # real seconds for a laptop's TLS handshake and its join message
LOST_AFTER = 5.0  # real seconds of silence after which a joined laptop is gone (it pings twice a second)
MAX_PENDING = 64  # connections not yet joined at once: a flood of them is refused at the door


@dataclass
class Laptop:
    conn: FrameConnection
    address: str
    seat: str | None = None
    peer_port: int | None = None
    started: bool = False
    heard: float = field(default_factory=time.monotonic)
    pipes: dict[str, Pipe] = field(default_factory=dict)
    decoders: dict[str, wire.FrameDecoder] = field(default_factory=dict)
    refused: bool = False


class JoinServer:
    """The join port of a hosted round and the far ends of its laptops' desks."""

    def __init__(self, namespace: str, seats: list[str], code: JoinCode, ca: pki.CertificateAuthority,
                 listen: tuple[str, int], say: Callable[[str], None]) -> None:
        self.namespace = namespace
        self.seats_open = list(seats)  # the seats a laptop may take, in the level's order
        self.code = code
        self.ca = ca
        self.host, self.port = listen
        self.say = say
        self.laptops: list[Laptop] = []
        self.changed = asyncio.Event()  # a laptop became ready, or left
        self.clock: SharedClock | None = None
        self.emit: Callable[..., Any] | None = None
        self.gone: Callable[[str, str], None] | None = None
        self.stopping = False
        self._server: asyncio.AbstractServer | None = None
        self._listener: socket.socket | None = None
        self._watchdog: asyncio.Task[None] | None = None

    # --- before the round --------------------------------------------------------------------
    async def serve(self) -> tuple[str, int]:
        """Listen on the ``--listen`` address only; the address bound (its port, when 0 was asked)."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        sock.listen(64)
        sock.setblocking(False)
        self._listener = sock
        self.port = sock.getsockname()[1]
        self._context = host_context(self.ca)
        net.spawn(self._accept(sock))
        self._watchdog = net.spawn(self._watch())
        return self.host, self.port

    async def _accept(self, listener: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                sock, address = await loop.sock_accept(listener)
            except OSError:
                return
            net.spawn(self._handshake(sock, str(address[0])))

    async def _handshake(self, sock: socket.socket, address: str) -> None:
        loop = asyncio.get_running_loop()
        if sum(1 for lp in self.laptops if lp.seat is None) >= MAX_PENDING:
            self.say(f"refused a connection from {address}: too many laptops joining at once")
            sock.close()
            return
        laptop: Laptop | None = None

        def protocol_error(message: str) -> None:
            if laptop is not None:
                self._refuse(laptop, message.split(": ", 1)[-1].removesuffix("; closing the connection"))

        conn = FrameConnection(lambda c, f: self._on_frame(laptop, f) if laptop else None,
                               lambda c, e: self._on_close(laptop) if laptop else None,
                               label=f"the laptop at {address}", on_protocol_error=protocol_error)
        laptop = Laptop(conn, address)
        try:
            await asyncio.wait_for(loop.connect_accepted_socket(lambda: conn, sock, ssl=self._context,
                                                                ssl_handshake_timeout=HANDSHAKE_LIMIT),
                                   HANDSHAKE_LIMIT + 1)
        except (OSError, TimeoutError) as exc:  # ssl.SSLError is an OSError
            self.say(f"refused a connection from {address}: its TLS handshake failed "
                     f"({net.ssl_failure_reason(exc)})")
            sock.close()
            return
        self.laptops.append(laptop)
        await asyncio.sleep(HANDSHAKE_LIMIT)
        if laptop.seat is None and not laptop.refused and laptop.conn.is_open:
            self._refuse(laptop, f"no join message within {HANDSHAKE_LIMIT:.0f} s")

    def _refuse(self, laptop: Laptop, reason: str) -> None:
        """One line to her, one line here, and nothing of her kept."""
        if laptop.refused:
            return
        laptop.refused = True
        who = f"{laptop.seat}'s laptop at {laptop.address}" if laptop.seat else f"a laptop at {laptop.address}"
        self.say(f"refused {who}: {reason}")
        laptop.conn.send(CONTROL, {"type": "refused", "reason": reason[:300]})
        laptop.conn.close()

    def _on_frame(self, laptop: Laptop, frame: wire.Frame) -> None:
        if laptop.refused:
            return
        laptop.heard = time.monotonic()
        if laptop.seat is None:
            self._on_join(laptop, protocol.decode_join(frame))
            return
        kind = protocol.message_type(frame)
        if kind == "ping":
            self._pong(laptop, protocol.decode_ping(frame))
        elif kind == "ready" and laptop.peer_port is None:
            if self.code.closed:
                self._refuse(laptop, "the round started before her laptop was ready")
                return
            laptop.peer_port = protocol.decode_port(frame)
            self.say(f"{laptop.seat} joined from {laptop.address}")
            self.changed.set()
        elif kind == "relay" and laptop.started:
            self._relay(laptop, protocol.decode_channel(frame), frame.body)
        else:
            raise wire.RemoteProtocolError(f"an unexpected {kind[:16]!r} message")

    def _on_join(self, laptop: Laptop, join: protocol.Join) -> None:
        why = self.code.check(join.code, time.monotonic())
        if why:
            self._refuse(laptop, why)
            return
        taken = {lp.seat: lp for lp in self.laptops if lp.seat and not lp.refused and lp is not laptop}
        if join.seat is not None:
            if join.seat in taken:
                self._refuse(laptop, f"seat {join.seat} is taken (by the laptop at {taken[join.seat].address})")
                return
            if join.seat not in self.seats_open:
                self._refuse(laptop, f"there is no seat {join.seat!r} to take in this level")
                return
            seat = join.seat
        else:
            free = [s for s in self.seats_open if s not in taken]
            if not free:
                self._refuse(laptop, "the room is full: every seat has a laptop")
                return
            seat = free[0]
        laptop.seat = seat
        room, rate = (self.clock.now(), self.clock.rate) if self.clock else (None, None)
        laptop.conn.send(CONTROL, {"type": "welcome", "seat": seat, "level": self.namespace,
                                   "ca": self.ca.pem.decode(), "room": room, "rate": rate})

    def _pong(self, laptop: Laptop, ping: int) -> None:
        clock = self.clock
        laptop.conn.send(CONTROL, {"type": "pong", "id": ping, "room": clock.now() if clock else None,
                                   "rate": clock.rate if clock else None})

    def _relay(self, laptop: Laptop, channel: str, data: bytes) -> None:
        """Bytes from her laptop for the office or the hub: only whole, well-formed frames of hers pass."""
        decoder = laptop.decoders[channel]
        decoder.receive_data(data)
        if decoder.buffered > 4 * wire.MAX_FRAME:
            raise wire.RemoteProtocolError(f"{channel}: more than {4 * wire.MAX_FRAME} bytes without a frame")
        pipe = laptop.pipes[channel]
        source = "student" if channel == "student" else f"proxy-{laptop.seat}"
        for inner in decoder.frames():
            if channel == "ctl":
                self._check_control(inner, str(laptop.seat))
            elif inner.type is not wire.FrameType.EVENT:
                raise wire.RemoteProtocolError(f"a {inner.type.name} frame on her {channel}'s event line")
            else:
                protocol.check_events(inner.header, source, str(laptop.seat))
            pipe.write(wire.encode(inner))

    @staticmethod
    def _check_control(frame: wire.Frame, seat: str) -> None:
        """Her proxy's word to the office: a message of the proxies' protocol, about her seat alone."""
        message = control_protocol.decode_proxy_message(frame)  # RemoteProtocolError if it is none
        names = [h.name for h in message.hands] if isinstance(message, control_protocol.ProxyHello) else (
            [message.hand] if isinstance(message, control_protocol.Renew | control_protocol.Presence) else [])
        speaks_as = getattr(message, "proxy", f"proxy-{seat}")
        if speaks_as != f"proxy-{seat}":
            raise wire.RemoteProtocolError(f"her proxy speaks as {str(speaks_as)[:40]!r}")
        if any(name != seat for name in names):
            raise wire.RemoteProtocolError(f"her proxy speaks for {', '.join(n[:20] for n in names if n != seat)}")

    def _on_close(self, laptop: Laptop) -> None:
        with contextlib.suppress(ValueError):
            self.laptops.remove(laptop)
        for pipe in laptop.pipes.values():
            pipe.close()
        if laptop.seat is None:
            return
        if laptop.started:
            if not self.stopping and self.gone is not None:
                self.gone(laptop.seat, f"her laptop at {laptop.address} went away")
            return
        if not laptop.refused:
            if laptop.peer_port is not None and not self.code.closed:
                self.say(f"{laptop.seat}'s laptop left before the round: a local process takes her desk")
            self.changed.set()

    async def _watch(self) -> None:
        """Drop a joined laptop that has gone silent (its network cut, its lid closed)."""
        while True:
            await asyncio.sleep(0.5)
            now = time.monotonic()
            for laptop in list(self.laptops):
                if laptop.peer_port is not None and not self.stopping and now - laptop.heard > LOST_AFTER:
                    self.say(f"{laptop.seat}'s laptop at {laptop.address} has been silent for "
                             f"{LOST_AFTER:.0f} s: dropped")
                    laptop.conn.abort()

    def ready(self) -> list[Laptop]:
        return [lp for lp in self.laptops if lp.peer_port is not None and not lp.refused and lp.conn.is_open]

    async def wait_for_class(self, expect: int | None, wait: float | None) -> None:
        """Until ``expect`` laptops are ready, or ``wait`` seconds passed (whichever first)."""
        deadline = None if wait is None else time.monotonic() + wait
        want = len(self.seats_open) if expect is None else expect
        while len(self.ready()) < want:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                break
            self.changed.clear()
            # asyncio.wait, not wait_for: on Python 3.11 wait_for can swallow a Ctrl-C that comes as it fires.
            waiter = asyncio.ensure_future(self.changed.wait())
            try:
                await asyncio.wait([waiter], timeout=left)
            finally:
                waiter.cancel()
        self.code.closed = "the round has started: no laptop may join it any more"
        for laptop in list(self.laptops):
            if laptop.seat is not None and laptop.peer_port is None:
                self._refuse(laptop, "the round started before her laptop was ready")

    # --- the runner's remote desks (classroom.mesh.runtime.round.RemoteDesks) -----------------------
    def seats(self) -> dict[str, tuple[str, int]]:
        """Each remote desk's proxy peer listener, on her laptop."""
        return {str(lp.seat): (lp.address, int(lp.peer_port or 0)) for lp in self.ready()}

    def begin(self, clock: SharedClock, emit: Callable[..., Any], gone: Callable[[str, str], None]) -> None:
        self.clock, self.emit, self.gone = clock, emit, gone
        clock.listeners.append(self._clock_changed)
        for laptop in self.ready():
            emit("desk_remote", seat=laptop.seat, address=laptop.address)

    def _clock_changed(self) -> None:
        assert self.clock is not None
        for laptop in self.laptops:
            if laptop.started:
                laptop.conn.send(CONTROL, {"type": "clock", "room": self.clock.now(), "rate": self.clock.rate})

    async def start(self, seat: str, proxy: dict[str, Any], student: dict[str, Any],
                    socks: dict[str, socket.socket]) -> None:
        """Her two processes start on her laptop; ``socks`` are the host's ends of their three lines."""
        laptop = next((lp for lp in self.ready() if lp.seat == seat), None)
        if laptop is None:
            close_all(*socks.values())
            if self.gone is not None:
                self.gone(seat, "her laptop went away before the round began")
            return
        for channel, sock in socks.items():
            def forward(data: bytes, channel: str = channel) -> None:
                laptop.conn.send(CONTROL, {"type": "relay", "ch": channel}, data)
            laptop.pipes[channel] = await Pipe.open(sock, forward)
            laptop.decoders[channel] = wire.FrameDecoder()
        laptop.started = True
        assert self.clock is not None
        laptop.conn.send(CONTROL, {"type": "start", "proxy": proxy, "student": student,
                                   "room": self.clock.now(), "rate": self.clock.rate})

    async def stop(self) -> None:
        """The round is over: every laptop stops her processes, which flush their last events."""
        self.stopping = True
        for laptop in self.laptops:
            if laptop.started:
                laptop.conn.send(CONTROL, {"type": "stop"})

    def close(self) -> None:
        self.stopping = True
        if self._watchdog is not None:
            self._watchdog.cancel()
        if self._listener is not None:
            self._listener.close()
        for laptop in list(self.laptops):
            laptop.conn.abort()

