"""A student's hand: one student's share of a proxy, and everything it holds for her.

Theory of operation
-------------------
One proxy process serves one student (a sidecar) or several (a row's proxy);
each served student has a :class:`Hand`.  A hand

1. makes its own TLS key and sealing keys (the private halves never leave
   the process), sends the office a CSR and installs the short-lived
   certificate it gets back, whose URI SAN is the student's SPIFFE ID; it
   asks for a new one at ``renewAt`` of each card's life (with 1% jitter, as
   istio-agent does);
2. takes the configuration the office pushes (neighbours, routes, the roll's
   public keys, who is present, the mesh policy), dials its links
   (:mod:`classroom.mesh.data.links`) and acknowledges the version;
3. admits its neighbours' connections and runs each note they hand it down
   its inbound stack, answering with an ACK (:mod:`classroom.mesh.data.inbound`);
4. runs each note its own student writes down the origin stack, and keeps the
   ledger: exactly one terminal state per note (:meth:`Hand.settle`).

The stacks are assembled in :mod:`classroom.mesh.data.stack`; this module
only wires frames to them.  Every note's journey is driven by
:func:`classroom.mesh.data.drive.start`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import socket
import ssl
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from cryptography import x509

from classroom.mesh import outcomes
from classroom.mesh.control import pki
from classroom.mesh.control.policy import DISABLE, MeshPolicy
from classroom.mesh.control.protocol import HandConfig
from classroom.mesh.data import drive, routing, stack
from classroom.mesh.data.cluster import Cluster
from classroom.mesh.data.exchange import Exchange
from classroom.mesh.data.inbound import Admission, Recipient, frame_note
from classroom.mesh.data.links import Dialer, Link
from classroom.mesh.data.outbound import Transport
from classroom.mesh.data.seal import PublicKeys, SealError, StudentKeys
from classroom.mesh.outcomes import Outcome
from classroom.mesh.runtime import messages, net, wire
from classroom.mesh.runtime.clock import Clock
from classroom.mesh.runtime.net import FrameConnection
from classroom.mesh.runtime.specs import HandSpec, ProxySpec

if TYPE_CHECKING:
    from classroom.mesh.runtime.dice import Dice
    from classroom.mesh.runtime.events import EventBatch


class Proxy(Protocol):
    """What a hand asks of the proxy process it lives in (:class:`~classroom.mesh.data.proxy.Proxy`)."""

    @property
    def spec(self) -> ProxySpec: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def dice(self) -> Dice: ...

    @property
    def events(self) -> EventBatch: ...

    @property
    def stopping(self) -> bool: ...

    def tell_office(self, message: dict[str, Any]) -> bool: ...

HANDSHAKE_TIMEOUT = 10.0


class Hand:
    """Everything one proxy does for one student."""

    def __init__(self, proxy: Proxy, spec: HandSpec, peer_listener: socket.socket,
                 app_listener: socket.socket) -> None:
        self.proxy = proxy
        self.name = spec.name
        self.behaviour = spec.behaviour
        self.meshed = spec.behaviour.meshed
        self.clock: Clock = proxy.clock
        self.dice = proxy.dice
        self.emit = proxy.events.emit
        self.identity = pki.spiffe_id(proxy.spec.namespace, self.name)
        self.tls_key = pki.new_key()
        self.keys = StudentKeys(self.name)
        self.peer_listener = peer_listener
        self.app_listener = app_listener
        self.server_ctx: ssl.SSLContext | None = None
        self.client_ctx: ssl.SSLContext | None = None
        self.cert_pem = ""
        self.bundle = ""
        self.renewal: Any = None
        self.policy = MeshPolicy()
        self.neighbours: dict[str, Link] = {}
        self.neighbour_ids: frozenset[str] = frozenset()
        self.routes: dict[str, list[str]] = {}
        self.roll: dict[str, PublicKeys] = {}
        self.labels: dict[str, dict[str, str]] = {}  # every student's labels (app, version ...)
        self.in_class: frozenset[str] = frozenset()  # who the roll says is present
        self.app: FrameConnection | None = None
        self.inbound: set[FrameConnection] = set()
        self.started = False
        self.present = True  # our student is at the desk (her hand passes notes only then)
        self.configured = asyncio.Event()
        self.passing_delay = proxy.spec.passing_time
        self.capture: Callable[[bytes], None] | None = None
        if proxy.spec.capture_dir:
            path = os.path.join(proxy.spec.capture_dir, f"{self.name}.forwarded")
            capture_file = open(path, "ab")  # noqa: SIM115  # kept open for the round

            def capture(data: bytes) -> None:
                capture_file.write(data)
                capture_file.flush()

            self.capture = capture
        self.clusters: dict[tuple[str, str | None], Cluster] = {}  # per host and subset: budgets, detectors ...
        self.ties: dict[str, int] = {}
        self.ledger: dict[str, Exchange | None] = {}  # our student's note ids; None once settled
        self._present_waiters: list[asyncio.Future[None]] = []
        self.dialer = Dialer(self, self.clock, self.emit, self._on_ack, self._on_link_down)
        self.admission = Admission(self)
        self.recipient = Recipient(self)
        self.transport = Transport(self)
        self._assemble()

    def _assemble(self) -> None:
        """The stacks for the policy in force (:mod:`classroom.mesh.data.stack`), and fresh lookups."""
        policy = self.policy
        self.origin_stack = stack.origin_stack(self, self.transport, policy)
        self.inbound_stack = stack.inbound_stack(self, self.recipient,
                                                 stack.relay_stack(self, self.transport, policy), policy)
        for (host, subset), cluster in self.clusters.items():  # the counts go on; the limits are the new policy's
            cluster.update(policy.traffic(host, subset))

    @property
    def stopping(self) -> bool:
        return self.proxy.stopping

    @property
    def mode(self) -> str:
        """The mTLS mode this hand lives by: its PeerAuthentication (its own, else the class's), or
        DISABLE if it has no sidecar of the mesh."""
        return self.mode_of(self.name) if self.meshed else DISABLE

    def mode_of(self, student: str) -> str:
        """A student's mTLS mode by the policy in force (auto-mTLS dials a DISABLE neighbour in plaintext)."""
        return self.policy.mode_for(self.labels.get(student) or {"app": student})

    # --- what the layers ask of the hand -------------------------------------------------------------
    def cluster(self, host: str, subset: str | None) -> Cluster:
        """This hand's state for notes to ``host`` (and ``subset``), made on first use."""
        key = (host, subset)
        cluster = self.clusters.get(key)
        if cluster is None:
            cluster = self.clusters[key] = Cluster(host, subset, self.policy.traffic(host, subset), self.clock)
        return cluster

    async def wait_present(self, student: str, until: float) -> bool:
        """Wait until the roll says ``student`` is in class (False at ``until``)."""
        while student not in self.in_class:
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._present_waiters.append(waiter)
            try:
                await self.clock.due(waiter, until)
            except TimeoutError:
                return False
        return True

    async def wait_link_up(self, links: list[Link], until: float) -> None:
        """Wait until one of ``links`` is up again, or ``until``."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        for link in links:
            link.wait_up(waiter)
        with contextlib.suppress(TimeoutError):
            await self.clock.due(waiter, until)

    def settle(self, ex: Exchange, outcome: Outcome) -> None:
        """The one place a note of our student's gets its terminal state."""
        if self.ledger.get(ex.id) is None:
            return  # settled already (never twice)
        self.ledger[ex.id] = None
        reply_text = b""
        if outcome.ok and outcome.reply:
            try:
                reply_text = self.open(ex.to, ex.id + "/reply", outcome.reply, outcome.sealed)
            except SealError as exc:
                self.emit("seal_broken", note=ex.id, hand=self.name, reason=str(exc))
        self.emit("result", note=ex.id, **{"from": self.name}, to=ex.to, host=ex.host, subset=ex.subset,
                  state=outcome.state, flag=outcome.flag, reason=outcome.reason,
                  cause=None if outcome.ok else outcome.cause, at=None if outcome.ok else outcome.by,
                  latency=self.clock.now() - ex.started,
                  attempts=ex.tries + 1, path=outcome.path, trace=ex.trace, replied=bool(reply_text))
        if self.app is not None:
            self.app.send_message(messages.Result(ex.id, outcome.state, outcome.reason, reply_text))

    # --- sealing -------------------------------------------------------------------------------------
    def seal(self, to: str, note_id: str, text: bytes) -> tuple[bytes, bool]:
        """The body to send, and whether it is sealed.

        Sealing is the EnvelopePolicy's (the class's own kind: no mesh seals a request past
        its proxies), apart from mTLS: without it the text travels as it is, readable by
        every hand that carries it, and by anyone on the wire where a pass is not locked.
        """
        keys = self.roll.get(to)
        if keys is None or not self.policy.seals(self.labels.get(self.name) or {"app": self.name}):
            return text, False
        return self.keys.seal(to, keys, note_id, text), True

    def open(self, sender: str, note_id: str, body: bytes, sealed: bool) -> bytes:
        """The text of a note (or a reply) from ``sender``; SealError if it does not open.

        Where the EnvelopePolicy says the sender seals, an unsealed note is refused: it cannot
        have come from her (a forgery in plaintext, or a hand that took the envelope out).
        """
        if not sealed:
            if sender in self.roll and self.policy.seals(self.labels.get(sender) or {"app": sender}):
                raise SealError(f"note {note_id} is not sealed, but the EnvelopePolicy says {sender}'s notes are")
            return body
        keys = self.roll.get(sender)
        if keys is None:
            raise SealError(f"note {note_id}: sender {sender} is not on the roll")
        return self.keys.open(sender, keys, note_id, body)

    # --- our own student's notes -----------------------------------------------------------------------
    def originate(self, send: messages.Send) -> None:
        if send.id in self.ledger:
            return  # the student said it twice; the ledger keeps one entry
        policy = self.policy
        now = self.clock.now()
        trace = f"{random.getrandbits(128):032x}"  # unique, not secret (see Transport.handle's span)
        host = send.to
        rule = policy.rule(host, send.op)
        chosen = routing.pick(policy, rule, host, send.id, self.roll, self.labels, self.in_class, self.dice)
        to = chosen.student or host
        ex = Exchange(send.id, self.name, to, host, trace, now + policy.note_timeout(rule), [self.name], b"",
                      True, send.reply, policy.retries(rule), origin=True, cluster=self.cluster(host, chosen.subset),
                      rule=rule, op=send.op, subset=chosen.subset, hold=send.hold, started=now)
        self.ledger[send.id] = ex
        self.emit("sent", note=send.id, **{"from": self.name}, to=to, host=host, subset=chosen.subset,
                  trace=trace)
        if rule is None:
            self.settle(ex, Outcome.failure(
                outcomes.NO_MATCHING_RULE, f"no route: no http rule of the VirtualService for {host} takes "
                                           f"{send.op.method} {send.op.uri}", self.name))
            return
        if chosen.student is None:
            never = host not in self.roll and not chosen.why.startswith("subset")
            why = outcomes.NO_HEALTHY_UPSTREAM if never else outcomes.NO_ROUTE
            reason = f"no healthy upstream: {host} never came to class" if never else f"no route: {chosen.why}"
            self.settle(ex, Outcome.failure(why, reason, self.name))
            return
        ex.body, ex.sealed = self.seal(to, send.id, send.text)
        if to not in self.in_class and not ex.hold:
            self.settle(ex, Outcome.failure(outcomes.NO_HEALTHY_UPSTREAM, f"no healthy upstream: {to} is absent",
                                            self.name))
            return
        drive.start(self.origin_stack.handle(ex))

    # --- frames ------------------------------------------------------------------------------------
    def _on_ack(self, link: Link, frame: wire.Frame) -> None:
        link.answer(messages.Ack.decode(frame), self.name)

    def _on_link_down(self, link: Link) -> None:
        link.reset(self.name)

    def on_inbound_frame(self, conn: FrameConnection, frame: wire.Frame) -> None:
        note = frame_note(frame)
        if note is None:
            return
        principal = pki.principal(conn.peer) if conn.peer else None

        def answer(outcome: Outcome | None) -> None:
            self._answer(conn, note, outcome)

        drive.start(self.inbound_stack.handle(note, principal), answer)

    def _answer(self, conn: FrameConnection, note: messages.Note, outcome: Outcome | None) -> None:
        if outcome is None:
            return  # silence: the hand that handed it over finds out by its timeout
        if outcome.ok:
            ack = messages.Ack(note.id, note.attempt, True, outcome.by or self.name, outcome.path, outcome.sealed,
                               body=outcome.reply)
        else:
            ack = messages.Ack(note.id, note.attempt, False, outcome.by or self.name, kind=outcome.kind,
                               code=outcome.status, flag=outcome.flag, cause=outcome.cause, reason=outcome.reason)
        conn.send_message(ack)

    def on_inbound_closed(self, conn: FrameConnection, exc: Exception | None) -> None:
        self.inbound.discard(conn)

    def protocol_error(self, message: str) -> None:
        self.emit("protocol_error", hand=self.name, reason=message)
        net.log(f"proxy {self.name}", message)

    # --- identity ------------------------------------------------------------------------------------
    def hello(self) -> dict[str, Any]:
        return {"name": self.name, "csr": pki.make_csr(self.tls_key, self.identity).decode(),
                "keys": self.keys.public.to_json()}

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
        self._schedule_renewal(cert)

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

    def _schedule_renewal(self, cert: x509.Certificate) -> None:
        """Ask for a new card at ``renewAt`` of this one's life, with 1% jitter (istio-agent's).

        A card's life is real time (the TLS library checks it against the system clock); the
        office issued it for its lifetime in room time at the round's rate, so its real life
        times the rate is its life in room time.
        """
        if self.renewal is not None:
            self.renewal.cancel()
            self.renewal = None
        ratio = self.policy.identity.renew_at if self.configured.is_set() else self.proxy.spec.renew_at
        if ratio >= 1.0:
            return  # renewing after expiry is no renewal at all: the card will lapse
        not_after = cert.not_valid_after_utc.timestamp()
        real_life = max(not_after - self.clock.wall(), 0.0)
        jitter = 1.0 + (self.dice.chance("renew", self.name, not_after) - 0.5) * 0.02
        self.renewal = self.clock.call_later(real_life * max(self.clock.rate, 1e-9) * ratio * jitter, self._renew)

    def _renew(self) -> None:
        if self.stopping:
            return
        key = pki.new_key()  # a new key with every card, made here and kept here
        if self.proxy.tell_office({"type": "renew", "proxy": self.proxy.spec.id, "hand": self.name,
                                   "csr": pki.make_csr(key, self.identity).decode()}):
            self.tls_key = key
        else:  # the control plane is gone: the card in hand is the last one, until it lapses
            self.emit("renewal_failed", hand=self.name, identity=self.identity,
                      reason="the office is away: no one to sign a new ID card")

    # --- configuration -------------------------------------------------------------------------------
    async def apply(self, config: HandConfig, roll: dict[str, PublicKeys], policy: MeshPolicy,
                    present: frozenset[str], labels: dict[str, dict[str, str]]) -> list[dict[str, Any]]:
        first = not self.configured.is_set()
        if policy != self.policy or first:
            mode = None if first else self.mode
            self.policy = policy
            self._assemble()
            if mode is not None and self.mode != mode:
                self._drain_refused()
        self.roll = roll
        self.labels = labels
        self.routes = config.routes
        self.ties = config.ties
        self.in_class = present
        for n in config.neighbours:
            if n.name not in self.neighbours:
                self.neighbours[n.name] = Link(n.name, n.identity, n.address, meshed=n.meshed)
        self.neighbour_ids = frozenset(link.identity for link in self.neighbours.values())
        self.configured.set()
        links = list(self.neighbours.values())
        waiters = []
        if first:  # later versions change routes; they need not wait for absent neighbours
            for link in links:
                waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
                link.wait_up(waiter)
                waiters.append(waiter)
        for link in links:
            self.dialer.dial(link)
        if waiters:
            with contextlib.suppress(TimeoutError):
                await self.clock.wait(asyncio.gather(*waiters),
                                      self.clock.now() + HANDSHAKE_TIMEOUT * max(1.0, self.clock.rate))
        self._roll_changed()
        return [{"from": self.name, "to": lk.peer, "up": lk.up, "error": lk.error,
                 "tls": lk.conn.tls_version if lk.conn else None} for lk in links]

    def _drain_refused(self) -> None:
        """A new mTLS mode: each open connection it would refuse now is told to go away (its tries
        finish; the dialer's next connection meets the new mode at the handshake)."""
        mode = self.mode
        for conn in list(self.inbound):
            tls = conn.ssl_object is not None
            if (mode == "STRICT" and not tls) or (mode == DISABLE and tls):
                conn.send_message(messages.LinkHello("goaway", self.name))
                self.emit("link_drained", hand=self.name, peer=pki.student_of(conn.peer) if conn.peer else None,
                          reason=f"mTLS mode is now {mode}")

    def _roll_changed(self) -> None:
        waiters, self._present_waiters = self._present_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def start(self) -> None:
        self.started = True
        if self.app is not None:
            self.app.send(wire.FrameType.CONTROL, {"type": "ready"})

    # --- connections ---------------------------------------------------------------------------------
    async def serve(self) -> None:
        loop = asyncio.get_running_loop()
        net.spawn(self._serve_app())
        while True:
            sock, _ = await loop.sock_accept(self.peer_listener)
            net.spawn(self.admission.admit(sock))

    async def _serve_app(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            sock, _ = await loop.sock_accept(self.app_listener)
            if self.app is not None and self.app.is_open:
                sock.close()  # one student per hand
                continue
            conn = FrameConnection(self._on_app_frame, self._on_app_closed, label=f"student {self.name}",
                                   on_protocol_error=self.protocol_error)
            await loop.connect_accepted_socket(lambda conn=conn: conn, sock)  # type: ignore[misc]
            self.app = conn
            if self.started:
                conn.send(wire.FrameType.CONTROL, {"type": "ready"})
                if not self.present:
                    self._presence(True)

    def _on_app_closed(self, conn: FrameConnection, exc: Exception | None) -> None:
        if self.app is conn:
            self.app = None
            if self.started and not self.stopping:
                self._presence(False)

    def _presence(self, present: bool) -> None:
        """Our student left the desk or came back: the office updates the roll and the routes."""
        self.present = present
        self.emit("student_back" if present else "student_left", hand=self.name)
        self.proxy.tell_office({"type": "presence", "hand": self.name, "present": present})

    def _on_app_frame(self, conn: FrameConnection, frame: wire.Frame) -> None:
        if frame.type is wire.FrameType.SEND:
            self.originate(messages.Send.decode(frame))
        elif frame.type is wire.FrameType.REPLY:
            self.recipient.replied(messages.Reply.decode(frame))
        elif frame.type is wire.FrameType.CONTROL and messages.control_type(frame) == "done":
            self.emit("student_done", hand=self.name, sent=frame.header.get("sent"))
        else:
            raise wire.RemoteProtocolError(f"unexpected {frame.type.name} frame from student {self.name}")

    def sweep(self, now: float) -> None:
        self.recipient.sweep(now)
