"""A hand's links to its neighbours: long-lived connections it dials, and the tries on each.

Theory of operation
-------------------
A hand dials one connection to each neighbour the office names and keeps it:
TLS 1.3 with mutual authentication to a meshed neighbour (auto-mTLS) unless
the mesh is off, plaintext otherwise.  A link is *up* once the neighbour's
``welcome`` arrives: in TLS 1.3 the dialer finishes its handshake before the
other side has checked its certificate, so only the welcome says we were
accepted.  A link that closes is dialed again with backoff (50 ms doubling to
1 s, room time), for as long as the round lasts.

Each try the transport makes on a link is *expected* there
(:meth:`Link.expect`): a future for its answer keyed by (note id, attempt).
The neighbour's ACK resolves it (:meth:`Link.answer`); a link that goes down
resolves every try still on it with a reset (503, ``UC``) at once
(:meth:`Link.reset`), so a cut aisle costs a retry, not a timeout.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from typing import Any

from classroom.mesh import outcomes
from classroom.mesh.control import pki
from classroom.mesh.data.drive import Slot
from classroom.mesh.outcomes import Outcome
from classroom.mesh.runtime import messages, net, wire
from classroom.mesh.runtime.clock import Clock
from classroom.mesh.runtime.net import FrameConnection

REDIAL_MIN, REDIAL_MAX = 0.05, 1.0
HANDSHAKE_TIMEOUT = 10.0
# The TLS library's own handshake limit is real time; ours is room time, so a paused class keeps its links.
_TRANSPORT_LIMIT = 3600.0


class Link:
    """Our connection to one neighbour's hand (we dial it; it carries our notes)."""

    def __init__(self, peer: str, identity: str, address: tuple[str, int], meshed: bool = True) -> None:
        self.peer = peer
        self.identity = identity
        self.address = address
        self.meshed = meshed  # has a sidecar of the mesh: speaks mTLS (auto-mTLS dials it so)
        self.conn: FrameConnection | None = None
        self.dialing = False
        self.error: str | None = None
        self.welcome: asyncio.Future[None] | None = None
        self._pending: dict[tuple[str, int], Slot[Outcome]] = {}
        self._up_waiters: list[asyncio.Future[None]] = []
        self.carried = 0  # notes this connection has carried (connectionPool maxRequestsPerConnection)
        self.draining = False  # carries no new note: it closes once the tries on it have their answers
        # Peak EWMA of this neighbour's answer time (room seconds), for Linkerd's balancer: None until
        # the first answer (the balancer then assumes ewma.DEFAULT_RTT).
        self.rtt_estimate: float | None = None
        self.rtt_at = 0.0  # room time of the estimate's last update

    @property
    def in_flight(self) -> int:
        """Tries on this link waiting for their answer (the least-request balancer counts them)."""
        return len(self._pending)

    @property
    def usable(self) -> bool:
        """Up, and taking new notes."""
        return self.conn is not None and not self.draining

    def recycle(self, hand: str) -> None:
        """This connection has carried its share: no new note on it, and it closes (to be dialed again)
        as soon as the tries on it have their answers."""
        self.draining = True
        if not self._pending and self.conn is not None:
            self.conn.close()

    @property
    def up(self) -> bool:
        return self.conn is not None

    # --- the tries on this link ------------------------------------------------------------------
    def expect(self, note_id: str, attempt: int) -> Slot[Outcome]:
        slot: Slot[Outcome] = Slot()
        self._pending[(note_id, attempt)] = slot
        return slot

    def forget(self, note_id: str, attempt: int) -> None:
        self._pending.pop((note_id, attempt), None)
        if self.draining and not self._pending and self.conn is not None:
            self.conn.close()

    def answer(self, ack: messages.Ack, by: str) -> None:
        """The neighbour's answer to one of our tries (a late answer to a forgotten try is dropped)."""
        future = self._pending.pop((ack.id, ack.attempt), None)
        if future is None or future.done():
            return
        if ack.delivered:
            future.set_result(Outcome.delivered(ack.path, ack.body, ack.sealed, ack.by, hop=self.peer))
        else:
            future.set_result(Outcome.answered(ack.kind or outcomes.Kind.REFUSED, ack.code, ack.flag, ack.cause,
                                               ack.reason, ack.by, hop=self.peer))

    def reset(self, hand: str) -> None:
        """The link went down: every try still on it fails now, as a reset."""
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_result(Outcome.failure(outcomes.LINK_RESET, f"link {hand}->{self.peer} was reset", hand,
                                                  hop=self.peer))

    # --- up and down ------------------------------------------------------------------------------
    def came_up(self, conn: FrameConnection) -> None:
        self.conn, self.error, self.dialing = conn, None, False
        self.carried, self.draining = 0, False
        waiters, self._up_waiters = self._up_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def wait_up(self, future: asyncio.Future[None]) -> None:
        """Resolve ``future`` when this link next comes up."""
        self._up_waiters.append(future)


class Dialer:
    """Dials and redials a hand's links; reports each link's ups and downs as events."""

    def __init__(self, hand: Any, clock: Clock, emit: Callable[..., None],
                 on_frame: Callable[[Link, wire.Frame], None], on_down: Callable[[Link], None]) -> None:
        self.hand = hand
        self.clock = clock
        self.emit = emit
        self.on_frame = on_frame
        self.on_down = on_down

    def dial(self, link: Link, delay: float = 0.0) -> None:
        if link.dialing or self.hand.stopping:
            return
        link.dialing = True
        net.spawn(self._connect(link, delay))

    async def _connect(self, link: Link, delay: float) -> None:
        hand = self.hand
        backoff = max(delay, 0.0)
        while not hand.stopping:
            if backoff:
                await self.clock.sleep(backoff)
            if await self._try_once(link):
                return
            backoff = min(max(backoff * 2, REDIAL_MIN), REDIAL_MAX)
        link.dialing = False

    async def _try_once(self, link: Link) -> bool:
        hand = self.hand
        loop = asyncio.get_running_loop()
        # Auto-mTLS: TLS to a meshed neighbour unless the mesh is off; plaintext to the others.
        # ... and plaintext to a neighbour whose own PeerAuthentication says DISABLE.
        tls = hand.mode != "DISABLE" and link.meshed and hand.mode_of(link.peer) != "DISABLE"
        conn = FrameConnection(self._frame, self._closed, label=f"{link.peer} (dialed by {hand.name})",
                               on_protocol_error=hand.protocol_error)
        conn.context = link
        welcome: asyncio.Future[None] = loop.create_future()
        link.welcome = welcome
        until = self.clock.now() + HANDSHAKE_TIMEOUT * max(1.0, self.clock.rate)
        try:
            await self.clock.wait(loop.create_connection(
                lambda: conn, *link.address, ssl=hand.client_ctx if tls else None,
                ssl_handshake_timeout=_TRANSPORT_LIMIT if tls else None), until)
            if tls:
                conn.peer = pki.check_peer(conn.ssl_object, {link.identity})
            # Speak first: a neighbour sniffs the first byte to tell TLS from plaintext.
            conn.send_message(messages.LinkHello("hello", hand.name))
            closed = asyncio.ensure_future(conn.closed)
            try:
                await self.clock.wait(asyncio.wait([welcome, closed], return_when=asyncio.FIRST_COMPLETED), until)
            except TimeoutError:
                pass
            finally:
                closed.cancel()
            if not welcome.done():
                conn.abort()
                raise ConnectionError(f"{link.peer} did not accept {hand.name} as a neighbour")
        except pki.IdentityError as exc:
            conn.abort()
            link.error = str(exc)
            self.emit("tls_rejected", hand=hand.name, peer=link.peer, direction="outbound", reason=str(exc))
            return False
        except (TimeoutError, OSError, ssl.SSLError) as exc:
            conn.abort()
            link.error = net.ssl_failure_reason(exc) if isinstance(exc, ssl.SSLError) else (str(exc) or "timed out")
            if isinstance(exc, ssl.SSLError):
                self.emit("tls_rejected", hand=hand.name, peer=link.peer, direction="outbound", reason=link.error)
            return False
        link.came_up(conn)
        self.emit("link_up", hand=hand.name, peer=link.peer, direction="outbound", tls=conn.tls_version,
                  identity=conn.peer)
        return True

    def _frame(self, conn: FrameConnection, frame: wire.Frame) -> None:
        link: Link = conn.context
        if frame.type is wire.FrameType.ACK:
            self.on_frame(link, frame)
        elif frame.type is wire.FrameType.CONTROL:
            kind = messages.LinkHello.decode(frame).type
            welcome = link.welcome
            if kind == "welcome" and welcome is not None and not welcome.done():
                welcome.set_result(None)
            elif kind == "goaway" and link.conn is conn:
                # The neighbour's new mode does not admit this connection: the tries on it finish,
                # then it closes and is dialed again, under the mode in force now.
                self.emit("link_drained", hand=self.hand.name, peer=link.peer, reason="the neighbour said goaway")
                link.recycle(self.hand.name)
            elif kind == "hello":
                raise wire.RemoteProtocolError("a hello from the neighbour we dialed")
        else:
            raise wire.RemoteProtocolError(f"unexpected {frame.type.name} frame from a neighbour")

    def _closed(self, conn: FrameConnection, exc: Exception | None) -> None:
        link: Link = conn.context
        if link.conn is not conn:
            return
        link.conn = None
        if self.hand.stopping:
            return
        self.emit("link_down", hand=self.hand.name, peer=link.peer, reason=str(exc or "closed"))
        self.on_down(link)
        self.dial(link, REDIAL_MIN)
