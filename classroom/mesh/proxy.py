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

from cryptography import x509

from classroom.mesh import net, pki, wire
from classroom.mesh.config import DISABLE, STRICT, MeshPolicy
from classroom.mesh.courier import Courier
from classroom.mesh.dice import chance
from classroom.mesh.events import EventBatch
from classroom.mesh.net import FrameConnection
from classroom.mesh.seal import PublicKeys, StudentKeys

NOTE, ACK, CONTROL = wire.FrameType.NOTE, wire.FrameType.ACK, wire.FrameType.CONTROL
DELIVERED, FAILED = "delivered", "failed"
REDIAL_MIN, REDIAL_MAX = 0.05, 1.0
HANDSHAKE_TIMEOUT = 10.0


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
    meshed: bool = True  # has a sidecar of the mesh: speaks mTLS (auto-mTLS dials it so)


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
        self.meshed = bool(behaviour.get("meshed", True))
        self.identity = pki.spiffe_id(proxy.namespace, name)
        self.tls_key = pki.new_key()
        self.keys = StudentKeys(name)
        self.peer_listener = peer_listener
        self.app_listener = app_listener
        self.server_ctx: ssl.SSLContext | None = None
        self.cert_pem = ""
        self.bundle = ""
        self.renewal: asyncio.TimerHandle | None = None
        self.client_ctx: ssl.SSLContext | None = None
        self.policy = MeshPolicy()
        self.neighbours: dict[str, Link] = {}
        self.neighbour_ids: frozenset[str] = frozenset()
        self.routes: dict[str, list[str]] = {}
        self.roll: dict[str, PublicKeys] = {}
        self.app: FrameConnection | None = None
        self.inbound: set[FrameConnection] = set()
        self.started = False
        self.present = True  # our student is at the desk (her hand passes notes only then)
        self.in_class: frozenset[str] = frozenset()  # who the roll says is present
        self.labels: dict[str, dict[str, str]] = {}  # every student's labels (app, version ...)
        self.configured = asyncio.Event()
        self.emit = proxy.events.emit
        self.capture = None
        if proxy.capture_dir:
            self.capture = open(os.path.join(proxy.capture_dir, f"{name}.forwarded"), "ab")  # noqa: SIM115
        self.courier = Courier(self, proxy.seed, proxy.speed)

    @property
    def mode(self) -> str:
        """The mTLS mode this hand lives by: the class rule, or DISABLE if it is not meshed."""
        return self.policy.mtls_mode if self.meshed else DISABLE

    # --- identity ---------------------------------------------------------------------
    def hello(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "csr": pki.make_csr(self.tls_key, self.identity).decode(),
            "keys": self.keys.public.to_json(),
        }

    def install_certificate(self, cert_pem: str, bundle: str) -> None:
        """A new ID card (or trust bundle): new handshakes use it, open links go on as they are.

        Envoy swaps an SDS secret the same way; a card is only checked at a handshake.
        """
        self.cert_pem, self.bundle = cert_pem, bundle
        self._build_contexts()
        cert = x509.load_pem_x509_certificate(cert_pem.encode())
        not_after = cert.not_valid_after_utc.timestamp()
        self.emit("cert_installed", hand=self.name, identity=self.identity, not_after=not_after,
                  serial=format(cert.serial_number, "x"), issuer=cert.issuer.rfc4514_string())
        self._schedule_renewal(not_after)

    def install_bundle(self, bundle: str) -> None:
        self.bundle = bundle
        if self.cert_pem:
            self._build_contexts()
        self.emit("bundle_installed", hand=self.name, roots=bundle.count("BEGIN CERTIFICATE"))

    def _build_contexts(self) -> None:
        key = pki.key_pem(self.tls_key)
        chain, trust = self.cert_pem.encode(), self.bundle.encode()
        self.server_ctx = pki.mtls_context(True, chain, key, trust)
        self.client_ctx = pki.mtls_context(False, chain, key, trust)

    def _schedule_renewal(self, not_after: float) -> None:
        """Ask for a new card at ``renewAt`` of this one's life, with 1% jitter (istio-agent's)."""
        if self.renewal is not None:
            self.renewal.cancel()
        ratio = self.policy.identity.renew_at if self.configured.is_set() else self.proxy.renew_at
        if ratio >= 1.0:
            return  # renewing after expiry is no renewal at all: the card will lapse
        life = max(not_after - time.time(), 0.0)
        jitter = 1.0 + (chance(self.proxy.seed, "renew", self.name, not_after) - 0.5) * 0.02
        self.renewal = asyncio.get_running_loop().call_later(life * ratio * jitter, self._renew)

    def _renew(self) -> None:
        if self.proxy.stopping:
            return
        self.tls_key = pki.new_key()  # a new key with every card, made here and kept here
        self.proxy.tell_office({"type": "renew", "proxy": self.proxy.id, "hand": self.name,
                                "csr": pki.make_csr(self.tls_key, self.identity).decode()})

    # --- configuration -----------------------------------------------------------------
    async def apply(
        self, config: dict[str, Any], roll: dict[str, PublicKeys], policy: MeshPolicy,
        present: frozenset[str],
    ) -> list[dict[str, Any]]:
        first = not self.configured.is_set()
        self.policy = policy
        self.roll = roll
        self.routes = config["routes"]
        self.in_class = present
        for n in config["neighbours"]:
            if n["name"] not in self.neighbours:
                self.neighbours[n["name"]] = Link(n["name"], n["identity"], tuple(n["address"]),
                                                  meshed=bool(n.get("meshed", True)))
        self.neighbour_ids = frozenset(link.identity for link in self.neighbours.values())
        self.configured.set()
        for link in self.neighbours.values():
            self._dial(link)
        links = list(self.neighbours.values())
        if first:  # later versions change routes; they need not wait for absent neighbours
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.gather(*(lk.up.wait() for lk in links)), HANDSHAKE_TIMEOUT)
        self.courier.roll_changed()
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
        net.spawn(self._connect(link, delay))

    async def _connect(self, link: Link, delay: float) -> None:
        loop = asyncio.get_running_loop()
        backoff = max(delay, 0.0)
        while not self.proxy.stopping:
            if backoff:
                await asyncio.sleep(backoff)
            # Auto-mTLS: TLS to a meshed neighbour unless the mesh is off; plaintext to the others.
            tls = self.mode != DISABLE and link.meshed
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
        self.courier.link_reset(link)
        self._dial(link, REDIAL_MIN)

    def _on_link_frame(self, conn: FrameConnection, frame: wire.Frame) -> None:
        if frame.type is ACK:
            self.courier.on_ack(conn.context, frame.header, frame.body)
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
        net.spawn(self._serve_app())
        while True:
            sock, _ = await loop.sock_accept(self.peer_listener)
            net.spawn(self._admit(sock))

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
        mode = self.mode
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
            if isinstance(exc, ssl.SSLError):  # a reset mid-handshake is the wire's doing, not TLS's
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
            self.courier.on_note(conn, frame.header, frame.body)
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
                if not self.present:
                    self._presence(True)

    def _on_app_closed(self, conn: FrameConnection, exc: Exception | None) -> None:
        if self.app is conn:
            self.app = None
            if self.started and not self.proxy.stopping:
                self._presence(False)

    def _presence(self, present: bool) -> None:
        """Our student left the desk or came back: the office updates the roll and the routes."""
        self.present = present
        self.emit("student_back" if present else "student_left", hand=self.name)
        self.proxy.tell_office({"type": "presence", "hand": self.name, "present": present})

    def _on_app_frame(self, conn: FrameConnection, frame: wire.Frame) -> None:
        if frame.type is wire.FrameType.SEND:
            self.courier.originate(frame.header, frame.body)
        elif frame.type is wire.FrameType.REPLY:
            self.courier.on_reply(frame.header, frame.body)
        elif frame.type is CONTROL and frame.header.get("type") == "done":
            self.emit("student_done", hand=self.name, sent=frame.header.get("sent"))
        else:
            self._protocol_error(f"unexpected {frame.type.name} frame from student {self.name}")

    def sweep(self, now: float) -> None:
        self.courier.sweep(now)


class Proxy:
    """A proxy process: its control channel to the office and its hands."""

    def __init__(self, spec: dict[str, Any], fds: list[int]) -> None:
        self.id: str = spec["id"]
        self.namespace: str = spec["namespace"]
        self.speed: float = float(spec.get("speed", 1.0))
        self.seed: int = int(spec.get("seed", 1))
        self.renew_at: float = float(spec.get("renew_at", 0.5))
        self.passing_delay: float = float(spec.get("passing_time", 0.0)) / self.speed
        self.capture_dir: str | None = spec.get("capture_dir")
        self.stopping = False
        self._control_sock = socket.socket(fileno=fds[0])
        self.control: FrameConnection | None = None
        self.events = EventBatch(self.id, self._send_events, verbose=bool(spec.get("telemetry", True)))
        self.hands: dict[str, Hand] = {}
        self._hand_specs = spec["hands"]
        self._fds = fds[1:]
        self.config_version = 0

    def tell_office(self, message: dict[str, Any]) -> None:
        if self.control is not None:
            self.control.send(CONTROL, message)

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
            net.spawn(hand.serve())
        net.spawn(self._sweeper())
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
        elif kind == "bundle":
            for hand in self.hands.values():
                hand.install_bundle(message["bundle"])
        elif kind == "config":
            net.spawn(self._apply(message))
        elif kind == "start":
            for hand in self.hands.values():
                hand.start()

    async def _apply(self, message: dict[str, Any]) -> None:
        policy = MeshPolicy.from_json(message["policy"])
        roll = {name: PublicKeys.from_json(keys) for name, keys in message["roll"].items()}
        present = frozenset(message.get("present", roll))
        for hand in self.hands.values():
            hand.labels = message.get("labels", {})
        links: list[dict[str, Any]] = []
        results = await asyncio.gather(
            *(hand.apply(message["hands"][name], roll, policy, present) for name, hand in self.hands.items())
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
