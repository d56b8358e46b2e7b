"""The proxy: a student's hand, the data plane of the mesh.

Theory of operation
-------------------
One proxy process serves one or more students (one in the sidecar profiles,
a whole row in the per-row ones); each served student has a :class:`Hand`
with its own identity, keys, listeners and links.  A hand:

1. makes its own TLS key and sealing keys, sends the office a CSR and gets a
   short-lived certificate whose URI SAN is its SPIFFE ID;
2. takes the configuration the office pushes (neighbours, routes, the roll's
   public keys, the mTLS mode), dials a long-lived connection to each
   neighbour, checks that the neighbour's certificate carries the SPIFFE ID it
   expects, and acknowledges the configuration version;
3. accepts connections from neighbours (TLS, or plaintext where the mode
   allows it) and checks that each peer's identity is one of its neighbours';
4. for its student: seals each note to the recipient, sends it to the next
   hop and keeps the ledger: exactly one terminal state per note;
5. for others: relays a note to the next hop on its route and relays the
   outcome back (an intermediary sees the header, never the text);
6. as the recipient: opens the seal, hands the note to its student once
   (deduplicated by id) and acknowledges end to end.

A note travels forward as a NOTE frame; its end-to-end outcome travels back
along the same connections as an ACK frame, keyed by (note id, attempt), the
way a response follows its request through a chain of HTTP proxies.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import ssl
import time
from dataclasses import dataclass, field
from typing import Any

from classroom.mesh import net, pki, wire
from classroom.mesh.config import DISABLE, STRICT, MeshPolicy
from classroom.mesh.events import EventBatch
from classroom.mesh.net import FrameConnection
from classroom.mesh.seal import PublicKeys, SealError, StudentKeys

NOTE, ACK, CONTROL = wire.FrameType.NOTE, wire.FrameType.ACK, wire.FrameType.CONTROL
DELIVERED, FAILED = "delivered", "failed"
REDIAL_MIN, REDIAL_MAX = 0.05, 1.0
HANDSHAKE_TIMEOUT = 10.0


@dataclass
class Outgoing:
    """A note our student sent: the sender's ledger entry."""

    id: str
    to: str
    started: float
    deadline: float
    envelope: bytes
    trace: str
    attempt: int = 0
    state: str | None = None
    timer: asyncio.TimerHandle | None = None


@dataclass
class Relay:
    """A note we pass on for someone else: where its outcome goes back."""

    inbound: FrameConnection
    deadline: float


@dataclass
class Link:
    """Our connection to one neighbour's hand (we dial it; it carries our notes)."""

    peer: str
    identity: str
    address: tuple[str, int]
    conn: FrameConnection | None = None
    inflight: set[tuple[str, int]] = field(default_factory=set)
    up: asyncio.Event = field(default_factory=asyncio.Event)
    welcome: asyncio.Future[None] | None = None
    dialing: bool = False
    error: str | None = None


class Hand:
    """Everything one proxy does for one student."""

    def __init__(
        self,
        proxy: Proxy,
        name: str,
        behaviour: dict[str, Any],
        peer_listener: socket.socket,
        app_listener: socket.socket,
    ) -> None:
        self.proxy = proxy
        self.name = name
        self.behaviour = behaviour
        self.identity = pki.spiffe_id(proxy.namespace, name)
        self.tls_key = pki.new_key()
        self.keys = StudentKeys(name)
        self.peer_listener = peer_listener
        self.app_listener = app_listener
        self.server_ctx: ssl.SSLContext | None = None
        self.client_ctx: ssl.SSLContext | None = None
        self.policy = MeshPolicy()
        self.neighbours: dict[str, Link] = {}
        self.neighbour_ids: frozenset[str] = frozenset()
        self.routes: dict[str, list[str]] = {}
        self.roll: dict[str, PublicKeys] = {}
        self.app: FrameConnection | None = None
        self.outgoing: dict[str, Outgoing] = {}
        self.relays: dict[tuple[str, int], Relay] = {}
        self.delivered: set[str] = set()
        self.inbound: set[FrameConnection] = set()
        self.started = False
        self.configured = asyncio.Event()
        self.emit = proxy.events.emit
        self.capture = None
        if proxy.capture_dir:
            self.capture = open(os.path.join(proxy.capture_dir, f"{name}.forwarded"), "ab")  # noqa: SIM115

    # --- identity ---------------------------------------------------------------------
    def hello(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "csr": pki.make_csr(self.tls_key, self.identity).decode(),
            "keys": self.keys.public.to_json(),
        }

    def install_certificate(self, cert_pem: str, bundle: str) -> None:
        key = pki.key_pem(self.tls_key)
        chain, trust = cert_pem.encode(), bundle.encode()
        self.server_ctx = pki.mtls_context(True, chain, key, trust)
        self.client_ctx = pki.mtls_context(False, chain, key, trust)
        self.emit("cert_installed", hand=self.name, identity=self.identity)

    # --- configuration -----------------------------------------------------------------
    async def apply(
        self, config: dict[str, Any], roll: dict[str, PublicKeys], policy: MeshPolicy
    ) -> list[dict[str, Any]]:
        self.policy = policy
        self.roll = roll
        self.routes = config["routes"]
        for n in config["neighbours"]:
            if n["name"] not in self.neighbours:
                self.neighbours[n["name"]] = Link(n["name"], n["identity"], tuple(n["address"]))
        self.neighbour_ids = frozenset(link.identity for link in self.neighbours.values())
        self.configured.set()
        for link in self.neighbours.values():
            self._dial(link)
        links = list(self.neighbours.values())
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.gather(*(lk.up.wait() for lk in links)), HANDSHAKE_TIMEOUT)
        return [
            {
                "from": self.name,
                "to": lk.peer,
                "up": lk.up.is_set(),
                "error": lk.error,
                "tls": lk.conn.tls_version if lk.conn else None,
            }
            for lk in links
        ]

    def start(self) -> None:
        self.started = True
        if self.app is not None:
            self.app.send(wire.FrameType.CONTROL, {"type": "ready"})

    # --- links we dial ------------------------------------------------------------------
    def _dial(self, link: Link, delay: float = 0.0) -> None:
        if link.dialing or self.proxy.stopping:
            return
        link.dialing = True
        asyncio.get_running_loop().create_task(self._connect(link, delay))

    async def _connect(self, link: Link, delay: float) -> None:
        loop = asyncio.get_running_loop()
        backoff = max(delay, 0.0)
        while not self.proxy.stopping:
            if backoff:
                await asyncio.sleep(backoff)
            tls = self.policy.mtls_mode != DISABLE
            conn = FrameConnection(
                self._on_link_frame,
                self._on_link_closed,
                label=f"{link.peer} (dialed by {self.name})",
                on_protocol_error=self._protocol_error,
            )
            conn.context = link
            welcome: asyncio.Future[None] = loop.create_future()
            link.welcome = welcome
            try:
                await loop.create_connection(
                    lambda conn=conn: conn,
                    *link.address,
                    ssl=self.client_ctx if tls else None,
                    ssl_handshake_timeout=HANDSHAKE_TIMEOUT if tls else None,
                )
                if tls:
                    conn.peer = pki.check_peer(conn.ssl_object, {link.identity})
                # Speak first: a neighbour sniffs the first byte to tell TLS from plaintext.
                conn.send(CONTROL, {"type": "hello", "hand": self.name})
                # In TLS 1.3 the dialer finishes its handshake before the other side has
                # checked our certificate: the link is up when the neighbour says welcome.
                closed = asyncio.ensure_future(conn.closed)
                await asyncio.wait(
                    [welcome, closed], timeout=HANDSHAKE_TIMEOUT, return_when=asyncio.FIRST_COMPLETED
                )
                closed.cancel()
                if not welcome.done():
                    conn.abort()
                    raise ConnectionError(f"{link.peer} did not accept {self.name} as a neighbour")
            except pki.IdentityError as exc:
                conn.abort()
                link.error = str(exc)
                self.emit(
                    "tls_rejected", hand=self.name, peer=link.peer, direction="outbound", reason=str(exc)
                )
            except (TimeoutError, OSError, ssl.SSLError) as exc:
                link.error = net.ssl_failure_reason(exc) if isinstance(exc, ssl.SSLError) else str(exc)
                if isinstance(exc, ssl.SSLError):
                    self.emit(
                        "tls_rejected",
                        hand=self.name,
                        peer=link.peer,
                        direction="outbound",
                        reason=link.error,
                    )
            else:
                link.conn, link.error, link.dialing = conn, None, False
                link.up.set()
                self.emit(
                    "link_up",
                    hand=self.name,
                    peer=link.peer,
                    direction="outbound",
                    tls=conn.tls_version,
                    identity=conn.peer,
                )
                return
            backoff = min(max(backoff * 2, REDIAL_MIN), REDIAL_MAX)
        link.dialing = False

    def _on_link_closed(self, conn: FrameConnection, exc: Exception | None) -> None:
        link: Link = conn.context
        if link.conn is not conn:
            return
        link.conn = None
        link.up.clear()
        if self.proxy.stopping:
            return
        self.emit("link_down", hand=self.name, peer=link.peer, reason=str(exc or "closed"))
        lost, link.inflight = link.inflight, set()
        for key in lost:
            self._fail_attempt(key, "UC", f"link {self.name}->{link.peer} was reset", "reset")
        self._dial(link, REDIAL_MIN)

    def _on_link_frame(self, conn: FrameConnection, frame: wire.Frame) -> None:
        if frame.type is ACK:
            self._on_ack(conn.context, frame)
        elif frame.type is CONTROL and frame.header.get("type") == "welcome":
            welcome = conn.context.welcome
            if welcome is not None and not welcome.done():
                welcome.set_result(None)
        else:
            self._protocol_error(f"unexpected {frame.type.name} frame from {conn.label}")
            conn.close()

    # --- connections neighbours dial to us ----------------------------------------------
    async def serve(self) -> None:
        loop = asyncio.get_running_loop()
        loop.create_task(self._serve_app())
        while True:
            sock, _ = await loop.sock_accept(self.peer_listener)
            loop.create_task(self._admit(sock))

    async def _admit(self, sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        try:
            first = await net.sniff_first_byte(sock, HANDSHAKE_TIMEOUT)
        except (TimeoutError, OSError):
            sock.close()
            return
        if first is None:
            sock.close()
            return
        is_tls = first == net.TLS_HANDSHAKE_RECORD
        try:  # a neighbour may dial before our own configuration has arrived
            await asyncio.wait_for(self.configured.wait(), HANDSHAKE_TIMEOUT)
        except TimeoutError:
            sock.close()
            return
        mode = self.policy.mtls_mode
        refusal = None
        if not is_tls and mode == STRICT:
            refusal = "plaintext connection refused: mTLS mode is STRICT"
        elif is_tls and mode == DISABLE:
            refusal = "TLS connection refused: mTLS mode is DISABLE"
        elif is_tls and self.server_ctx is None:
            refusal = "no certificate yet"
        if refusal:
            self.emit("tls_rejected", hand=self.name, peer=None, direction="inbound", reason=refusal)
            sock.close()
            return
        conn = FrameConnection(
            self._on_inbound_frame,
            self._on_inbound_closed,
            label=f"a neighbour of {self.name}",
            on_protocol_error=self._protocol_error,
        )
        try:
            await loop.connect_accepted_socket(
                lambda: conn,
                sock,
                ssl=self.server_ctx if is_tls else None,
                ssl_handshake_timeout=HANDSHAKE_TIMEOUT if is_tls else None,
            )
            if is_tls:
                conn.peer = pki.check_peer(conn.ssl_object, self.neighbour_ids)
        except pki.IdentityError as exc:
            conn.abort()
            self.emit(
                "tls_rejected",
                hand=self.name,
                peer=pki.peer_identity(conn.ssl_object),
                direction="inbound",
                reason=f"{exc}: not a neighbour of {self.name}",
            )
            return
        except (TimeoutError, OSError, ssl.SSLError) as exc:
            sock.close()
            self.emit(
                "tls_rejected",
                hand=self.name,
                peer=None,
                direction="inbound",
                reason=net.ssl_failure_reason(exc),
            )
            return
        self.inbound.add(conn)
        conn.send(CONTROL, {"type": "welcome", "hand": self.name})
        mutual = bool(conn.ssl_object and conn.ssl_object.getpeercert())
        self.emit(
            "link_accepted",
            hand=self.name,
            peer=pki.student_of(conn.peer) if conn.peer else None,
            identity=conn.peer,
            tls=conn.tls_version,
            mutual=mutual,
        )

    def _on_inbound_closed(self, conn: FrameConnection, exc: Exception | None) -> None:
        self.inbound.discard(conn)

    def _on_inbound_frame(self, conn: FrameConnection, frame: wire.Frame) -> None:
        if frame.type is NOTE:
            self._on_note(conn, frame.header, frame.body)
        elif frame.type is CONTROL and frame.header.get("type") == "hello":
            pass  # the dialer's greeting; its identity, if any, came with its certificate
        else:
            self._protocol_error(f"unexpected {frame.type.name} frame from {conn.label}")
            conn.close()

    def _protocol_error(self, message: str) -> None:
        self.emit("protocol_error", hand=self.name, reason=message)
        net.log(f"proxy {self.name}", message)

    # --- the student's own connection ----------------------------------------------------
    async def _serve_app(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            sock, _ = await loop.sock_accept(self.app_listener)
            if self.app is not None and self.app.is_open:
                sock.close()  # one student per hand
                continue
            conn = FrameConnection(
                self._on_app_frame,
                self._on_app_closed,
                label=f"student {self.name}",
                on_protocol_error=self._protocol_error,
            )
            await loop.connect_accepted_socket(lambda conn=conn: conn, sock)  # type: ignore[misc]
            self.app = conn
            if self.started:
                conn.send(CONTROL, {"type": "ready"})

    def _on_app_closed(self, conn: FrameConnection, exc: Exception | None) -> None:
        if self.app is conn:
            self.app = None

    def _on_app_frame(self, conn: FrameConnection, frame: wire.Frame) -> None:
        if frame.type is wire.FrameType.SEND:
            self._originate(frame.header, frame.body)
        else:
            self._protocol_error(f"unexpected {frame.type.name} frame from student {self.name}")

    # --- sending: the sender's side and its ledger ---------------------------------------
    def _originate(self, header: dict[str, Any], text: bytes) -> None:
        note_id, to = str(header.get("id")), str(header.get("to"))
        if note_id in self.outgoing:
            return  # the student said it twice; the ledger keeps one entry
        loop = asyncio.get_running_loop()
        now = time.time()
        timeout = self.policy.note_timeout(to) / self.proxy.speed
        out = Outgoing(note_id, to, now, now + timeout, b"", os.urandom(16).hex())
        self.outgoing[note_id] = out
        self.emit("sent", note=note_id, **{"from": self.name}, to=to, trace=out.trace)
        keys = self.roll.get(to)
        if keys is None:
            self._finish(out, FAILED, "NR", f"{to} is not on the roll", "absent")
            return
        out.envelope = self.keys.seal(to, keys, note_id, text)
        out.timer = loop.call_later(timeout, self._expire, note_id)
        self._try(out)

    def _try(self, out: Outgoing) -> None:
        hop = self._next_hop(out.to, (self.name,))
        if hop is None:
            self._finish(out, FAILED, "UH", f"no healthy next hop from {self.name} to {out.to}", "absent")
            return
        header = {
            "id": out.id,
            "from": self.name,
            "to": out.to,
            "attempt": out.attempt,
            "path": [self.name],
            "deadline": out.deadline,
            "trace": out.trace,
        }
        self._pass(hop, header, out.envelope)

    def _next_hop(self, to: str, visited: tuple[str, ...] | list[str]) -> Link | None:
        for name in self.routes.get(to, ()):
            link = self.neighbours.get(name)
            if link is not None and link.conn is not None and name not in visited:
                return link
        return None

    def _pass(self, link: Link, header: dict[str, Any], body: bytes) -> None:
        """Hand a note to a neighbour, after the passing time the level gives."""
        key = (header["id"], header["attempt"])
        data = wire.encode_parts(NOTE, header, body)
        link.inflight.add(key)
        delay = self.proxy.passing_delay
        if delay > 0:
            asyncio.get_running_loop().call_later(delay, self._transmit, link, key, data)
        else:
            self._transmit(link, key, data)

    def _transmit(self, link: Link, key: tuple[str, int], data: bytes) -> None:
        if key not in link.inflight:
            return  # its outcome is already known (the link reset meanwhile)
        if link.conn is None or not link.conn.write(data):
            link.inflight.discard(key)
            self._fail_attempt(key, "UF", f"{self.name} could not reach {link.peer}", "reset")

    def _on_ack(self, link: Link, frame: wire.Frame) -> None:
        header = frame.header
        key = (str(header.get("id")), int(header.get("attempt", -1)))
        link.inflight.discard(key)
        relay = self.relays.pop(key, None)
        if relay is not None:
            relay.inbound.write(wire.encode(frame))
            return
        out = self.outgoing.get(str(header.get("id")))
        if out is None or out.state is not None or out.attempt != header.get("attempt"):
            return  # late outcome of an attempt that is already settled
        if header.get("status") == DELIVERED:
            self._finish(out, DELIVERED, None, None, None, path=header.get("path"))
        else:
            self._finish(out, FAILED, header.get("flag"), header.get("reason"), header.get("cause"))

    def _fail_attempt(self, key: tuple[str, int], flag: str, reason: str, cause: str) -> None:
        """An attempt we passed on has failed here: tell whoever is waiting for it."""
        relay = self.relays.pop(key, None)
        if relay is not None:
            relay.inbound.send(
                ACK,
                {
                    "id": key[0],
                    "attempt": key[1],
                    "status": FAILED,
                    "flag": flag,
                    "reason": reason,
                    "cause": cause,
                    "by": self.name,
                },
            )
            return
        out = self.outgoing.get(key[0])
        if out is not None and out.state is None and out.attempt == key[1]:
            self._finish(out, FAILED, flag, reason, cause)

    def _expire(self, note_id: str) -> None:
        out = self.outgoing.get(note_id)
        if out is not None and out.state is None:
            self._finish(out, FAILED, "UT", "no answer within the note's timeout", "timeout")

    def _finish(
        self,
        out: Outgoing,
        state: str,
        flag: str | None,
        reason: str | None,
        cause: str | None,
        path: list[str] | None = None,
    ) -> None:
        """The one place a note gets its terminal state."""
        if out.state is not None:
            return
        out.state = state
        if out.timer is not None:
            out.timer.cancel()
        latency = time.time() - out.started
        self.emit(
            "result",
            note=out.id,
            **{"from": self.name},
            to=out.to,
            state=state,
            flag=flag,
            reason=reason,
            cause=cause,
            latency=latency,
            attempts=out.attempt + 1,
            path=path,
            trace=out.trace,
        )
        if self.app is not None:
            self.app.send(wire.FrameType.RESULT, {"id": out.id, "status": state, "reason": reason})

    # --- relaying and receiving -----------------------------------------------------------
    def _on_note(self, conn: FrameConnection, header: dict[str, Any], body: bytes) -> None:
        try:
            note_id, attempt = str(header["id"]), int(header["attempt"])
            sender, to, path = str(header["from"]), str(header["to"]), list(header["path"])
        except (KeyError, TypeError, ValueError):
            self._protocol_error(f"note without a valid routing header from {conn.label}")
            conn.close()
            return
        key = (note_id, attempt)
        if to == self.name:
            self._receive(conn, key, sender, path, header, body)
            return
        if self.behaviour.get("nosy"):
            self._peek(note_id, body)
        hop = self._next_hop(to, path)
        if hop is None:
            conn.send(
                ACK,
                {
                    "id": note_id,
                    "attempt": attempt,
                    "status": FAILED,
                    "flag": "UH",
                    "reason": f"{self.name} has no healthy next hop to {to}",
                    "cause": "absent",
                    "by": self.name,
                },
            )
            return
        self.relays[key] = Relay(conn, float(header.get("deadline", 0)))
        forwarded = dict(header)
        forwarded["path"] = [*path, self.name]
        self.emit(
            "forwarded", note=note_id, hand=self.name, to=hop.peer, attempt=attempt, trace=header.get("trace")
        )
        if self.capture is not None:
            self.capture.write(wire.encode_parts(NOTE, forwarded, body))
            self.capture.flush()
        self._pass(hop, forwarded, body)

    def _peek(self, note_id: str, body: bytes) -> None:
        """A nosy student unfolds the note: all it gets is what the envelope shows."""
        try:
            text = body.decode("utf-8")
            readable = text.isprintable()
        except UnicodeDecodeError:
            text, readable = "", False
        self.emit(
            "peeked",
            note=note_id,
            hand=self.name,
            readable=readable,
            saw=text[:40] if readable else body[:16].hex(),
        )

    def _receive(
        self,
        conn: FrameConnection,
        key: tuple[str, int],
        sender: str,
        path: list[str],
        header: dict[str, Any],
        body: bytes,
    ) -> None:
        note_id = key[0]
        path = [*path, self.name]
        answer: dict[str, Any] = {"id": note_id, "attempt": key[1], "by": self.name}
        keys = self.roll.get(sender)
        try:
            if keys is None:
                raise SealError(f"note {note_id}: sender {sender} is not on the roll")
            text = self.keys.open(sender, keys, note_id, body)
        except SealError as exc:
            self.emit("seal_broken", note=note_id, hand=self.name, reason=str(exc))
            conn.send(
                ACK, {**answer, "status": FAILED, "flag": "UC", "reason": str(exc), "cause": "tampered"}
            )
            return
        if self.app is None:
            conn.send(
                ACK,
                {
                    **answer,
                    "status": FAILED,
                    "flag": "UH",
                    "reason": f"{self.name} is not at the desk",
                    "cause": "absent",
                },
            )
            return
        if note_id not in self.delivered:
            self.delivered.add(note_id)
            self.app.send(wire.FrameType.DELIVER, {"id": note_id, "from": sender}, text)
            self.emit(
                "delivered",
                note=note_id,
                hand=self.name,
                **{"from": sender},
                path=path,
                trace=header.get("trace"),
            )
        else:
            self.emit("duplicate_suppressed", note=note_id, hand=self.name)
        conn.send(ACK, {**answer, "status": DELIVERED, "path": path})

    def sweep(self, now: float) -> None:
        """Forget relays whose note is past its deadline (their sender has given up)."""
        stale = [key for key, relay in self.relays.items() if relay.deadline and relay.deadline < now]
        for key in stale:
            del self.relays[key]


class Proxy:
    """A proxy process: its control channel to the office and its hands."""

    def __init__(self, spec: dict[str, Any], fds: list[int]) -> None:
        self.id: str = spec["id"]
        self.namespace: str = spec["namespace"]
        self.speed: float = float(spec.get("speed", 1.0))
        self.passing_delay: float = float(spec.get("passing_time", 0.0)) / self.speed
        self.capture_dir: str | None = spec.get("capture_dir")
        self.stopping = False
        self._control_sock = socket.socket(fileno=fds[0])
        self.control: FrameConnection | None = None
        self.events = EventBatch(self.id, self._send_events)
        self.hands: dict[str, Hand] = {}
        self._hand_specs = spec["hands"]
        self._fds = fds[1:]
        self.config_version = 0

    def _send_events(self, data: bytes) -> None:
        if self.control is not None:
            self.control.write(data)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        done = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, done.set)
        for i, hand_spec in enumerate(self._hand_specs):
            peer_sock = socket.socket(fileno=self._fds[2 * i])
            app_sock = socket.socket(fileno=self._fds[2 * i + 1])
            peer_sock.setblocking(False)
            app_sock.setblocking(False)
            self.hands[hand_spec["name"]] = Hand(
                self, hand_spec["name"], hand_spec.get("behaviour", {}), peer_sock, app_sock
            )
        self._control_sock.setblocking(False)
        control = FrameConnection(self._on_control, lambda c, e: done.set(), label="the office")
        self.control = control
        await loop.create_unix_connection(lambda: control, sock=self._control_sock)
        self.control.send(
            CONTROL,
            {
                "type": "hello",
                "proxy": self.id,
                "pid": os.getpid(),
                "hands": [h.hello() for h in self.hands.values()],
            },
        )
        for hand in self.hands.values():
            loop.create_task(hand.serve())
        loop.create_task(self._sweeper())
        await done.wait()
        self.stopping = True
        self.events.flush()

    async def _sweeper(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            now = time.time()
            for hand in self.hands.values():
                hand.sweep(now)

    def _on_control(self, conn: FrameConnection, frame: wire.Frame) -> None:
        message = frame.header
        kind = message.get("type")
        if kind == "certs":
            for name, cert in message["certs"].items():
                self.hands[name].install_certificate(cert, message["bundle"])
        elif kind == "config":
            asyncio.get_running_loop().create_task(self._apply(message))
        elif kind == "start":
            for hand in self.hands.values():
                hand.start()

    async def _apply(self, message: dict[str, Any]) -> None:
        policy = MeshPolicy.from_json(message["policy"])
        roll = {name: PublicKeys.from_json(keys) for name, keys in message["roll"].items()}
        links: list[dict[str, Any]] = []
        results = await asyncio.gather(
            *(hand.apply(message["hands"][name], roll, policy) for name, hand in self.hands.items())
        )
        for result in results:
            links.extend(result)
        self.config_version = message["version"]
        assert self.control is not None
        self.control.send(
            CONTROL, {"type": "ack", "proxy": self.id, "version": message["version"], "links": links}
        )


def main(spec: dict[str, Any], fds: list[int]) -> None:
    """Entry point of a proxy process (called by the launcher after fork)."""
    net.run(Proxy(spec, fds).run())
