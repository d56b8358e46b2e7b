"""The inbound layers: what a hand does with a note a neighbour hands it.

Theory of operation
-------------------
Before any note, a neighbour's *connection* is admitted
(:class:`Admission`): the hand peeks at its first byte to tell TLS from
plaintext, as a PERMISSIVE sidecar does, refuses what its mTLS mode forbids
(plaintext under STRICT, TLS under DISABLE) with the reason, finishes the
handshake and checks that the certificate carries the SPIFFE ID of one of
its neighbours.  The connection then remembers that identity, so every note
it carries arrives with a proven principal, or none (plaintext).

Each note is then ``await layer.handle(note, principal) -> Outcome | None``
down the stack :mod:`classroom.mesh.data.stack` assembles:

* :class:`Authorize`: the AuthorizationPolicies that select this student,
  on the neighbour's principal and the note's recipient: a denial is a 403
  nobody retries, logged with both identities;
* :class:`ForMe`: a note for this hand's own student goes to the recipient
  layers, any other to the relay layers;
* :class:`Recipient`: opens the seal, hands the note to the student once
  (receipts are kept by note id), waits for her reply if one was asked for,
  and answers every try of the note, first or retried, with the same answer:
  a lost reply is survived by the sender retrying, never by the student
  reading the note twice;
* :class:`Behaviour`: the student's hand as the level plays it: absent (503,
  ``UH``), refusing (503), dropping (no answer at all: the hand before finds
  out by its timeout), nosy (she unfolds the envelope: ciphertext, unless
  nothing was sealed), slow; and it may drop the reply on the way back;
* :class:`Relay`: the note goes on, through this hand's relay stack
  (:func:`classroom.mesh.data.stack.relay_stack`), with its path and tries.

``None`` means the hand stays silent: no ACK goes back.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from classroom.mesh import outcomes
from classroom.mesh.control import authz, pki
from classroom.mesh.data.exchange import Exchange, HandView
from classroom.mesh.data.links import _TRANSPORT_LIMIT, HANDSHAKE_TIMEOUT
from classroom.mesh.data.seal import SealError
from classroom.mesh.outcomes import Outcome
from classroom.mesh.runtime import messages, net, wire
from classroom.mesh.runtime.messages import Note
from classroom.mesh.runtime.net import FrameConnection

if TYPE_CHECKING:
    from classroom.mesh.data.cluster import Cluster
    from classroom.mesh.data.outbound import Layer
    from classroom.mesh.runtime import specs


class Hand(HandView, Protocol):
    """What the inbound layers ask of the hand they work for (:class:`~classroom.mesh.data.hand.Hand`):
    the outbound layers' view and the receiving side's."""

    identity: str
    behaviour: specs.Behaviour
    present: bool
    configured: asyncio.Event
    labels: dict[str, dict[str, str]]
    neighbour_ids: frozenset[str]
    inbound: set[FrameConnection]
    app: FrameConnection | None
    server_ctx: ssl.SSLContext | None

    @property
    def mode(self) -> str: ...

    def cluster(self, host: str, subset: str | None) -> Cluster: ...

    def seal(self, to: str, note_id: str, text: bytes) -> tuple[bytes, bool]: ...

    def open(self, sender: str, note_id: str, body: bytes, sealed: bool) -> bytes: ...

    def on_inbound_frame(self, conn: FrameConnection, frame: wire.Frame) -> None: ...

    def on_inbound_closed(self, conn: FrameConnection, exc: Exception | None) -> None: ...

    def protocol_error(self, message: str) -> None: ...

RECEIPT_MARGIN = 10.0  # room seconds a receipt outlives its note's deadline


class InboundLayer(Protocol):
    def handle(self, note: Note, principal: str | None) -> Awaitable[Outcome | None]: ...


async def answered(outcome: Outcome | None) -> Outcome | None:
    """An answer known at once, as an awaitable (a layer that decides without its inner one)."""
    return outcome


class Admission:
    """Whose connection this is, and whether the mTLS mode lets it in (before any note)."""

    def __init__(self, hand: Hand) -> None:
        self.hand = hand

    async def admit(self, sock: socket.socket) -> None:
        hand = self.hand
        clock = hand.clock
        loop = asyncio.get_running_loop()
        try:
            first = await net.sniff_first_byte(sock, clock, HANDSHAKE_TIMEOUT * max(1.0, clock.rate))
            # A neighbour may dial before our own configuration has arrived.
            await clock.wait(hand.configured.wait(), clock.now() + HANDSHAKE_TIMEOUT * max(1.0, clock.rate))
        except (TimeoutError, OSError):
            sock.close()
            return
        if first is None:
            sock.close()
            return
        is_tls = first == net.TLS_HANDSHAKE_RECORD
        mode = hand.mode
        refusal = None
        if not is_tls and mode == "STRICT":
            refusal = "plaintext connection refused: mTLS mode is STRICT"
        elif is_tls and mode == "DISABLE":
            refusal = "TLS connection refused: mTLS mode is DISABLE"
        elif is_tls and hand.server_ctx is None:
            refusal = "no certificate yet"
        if refusal:
            hand.emit("tls_rejected", hand=hand.name, peer=None, direction="inbound", reason=refusal)
            sock.close()
            return
        # Held: nothing it sends is read until it is admitted and welcomed.
        conn = FrameConnection(hand.on_inbound_frame, hand.on_inbound_closed, label=f"a neighbour of {hand.name}",
                               on_protocol_error=hand.protocol_error, held=True)
        try:
            await clock.wait(loop.connect_accepted_socket(
                lambda: conn, sock, ssl=hand.server_ctx if is_tls else None,
                ssl_handshake_timeout=_TRANSPORT_LIMIT if is_tls else None),
                clock.now() + HANDSHAKE_TIMEOUT * max(1.0, clock.rate))
            if is_tls:
                conn.peer = pki.check_peer(conn.ssl_object, hand.neighbour_ids)
        except pki.IdentityError as exc:
            conn.abort()
            hand.emit("tls_rejected", hand=hand.name, peer=pki.peer_identity(conn.ssl_object), direction="inbound",
                      reason=f"{exc}: not a neighbour of {hand.name}")
            return
        except (TimeoutError, OSError, ssl.SSLError) as exc:
            conn.abort()
            sock.close()
            if isinstance(exc, ssl.SSLError):  # a reset mid-handshake is the wire's doing, not TLS's
                hand.emit("tls_rejected", hand=hand.name, peer=None, direction="inbound",
                          reason=net.ssl_failure_reason(exc))
            return
        hand.inbound.add(conn)
        conn.send_message(messages.LinkHello("welcome", hand.name))
        mutual = bool(conn.ssl_object and conn.ssl_object.getpeercert())
        hand.emit("link_accepted", hand=hand.name, peer=pki.student_of(conn.peer) if conn.peer else None,
                  identity=conn.peer, tls=conn.tls_version, mutual=mutual)
        conn.release()


def frame_note(frame: wire.Frame) -> Note | None:
    """The note an inbound frame carries; None for the dialer's greeting; RemoteProtocolError else."""
    if frame.type is wire.FrameType.NOTE:
        return Note.decode(frame)
    if frame.type is wire.FrameType.CONTROL and messages.LinkHello.decode(frame).type == "hello":
        return None  # the dialer's greeting; its identity, if any, came with its certificate
    raise wire.RemoteProtocolError(f"unexpected {frame.type.name} frame from a neighbour")


def _service(hand: Hand, student: str) -> str:
    """A student's Consul service: her ``app`` label (her name unless the level gives another)."""
    return (hand.labels.get(student) or {}).get("app", student)


class Authorize:
    """AuthorizationPolicy (Istio's) or intentions (Consul's): may this neighbour hand this student a note
    for that recipient?"""

    def __init__(self, hand: Hand, inner: InboundLayer) -> None:
        self.hand, self.inner = hand, inner

    def handle(self, note: Note, principal: str | None) -> Awaitable[Outcome | None]:
        hand = self.hand
        policies, intentions = hand.policy.authz, hand.policy.intentions
        if policies or intentions is not None:
            if intentions is not None:  # Consul: the services of the two hands, as their cards say
                source = pki.student_of(principal) if principal else None
                decision = intentions.decide(None if source is None else _service(hand, source),
                                             _service(hand, hand.name), note.op)
            else:
                decision = authz.decide(policies, hand.name, principal, note.to, hand.labels.get(hand.name), note.op)
            if not decision.allowed:
                src = f"spiffe://{principal}" if principal else "(plaintext: no identity)"
                hand.emit("policy_denied", note=note.id, hand=hand.name, policy=decision.policy,
                          src_identity=src, dst_identity=hand.identity, reason=decision.reason)
                net.log(f"proxy {hand.name}",
                        f'error access note={note.id} src.identity="{src}" dst.identity="{hand.identity}" '
                        f'direction="inbound" error="note refused due to policy rejection: {decision.reason}"')
                return answered(Outcome.failure(outcomes.RBAC_DENIED,
                                                f"RBAC: access denied at {hand.name} ({decision.reason})", hand.name))
        return self.inner.handle(note, principal)


class ForMe:
    """Deliver or relay: a note for our own student, or one to pass on."""

    def __init__(self, hand: Hand, recipient: InboundLayer, relay: InboundLayer) -> None:
        self.hand, self.recipient, self.relay = hand, recipient, relay

    def handle(self, note: Note, principal: str | None) -> Awaitable[Outcome | None]:
        if note.to == self.hand.name:
            return self.recipient.handle(note, principal)
        return self.relay.handle(note, principal)


@dataclass
class Receipt:
    """The recipient's memory of a note: handed over once, answered as often as asked."""

    expires: float  # after the note's deadline no sender still tries it
    answer: asyncio.Future[Outcome] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class Recipient:
    """The note is for us: open it, hand it to the student once, answer every try alike."""

    def __init__(self, hand: Hand) -> None:
        self.hand = hand
        self.receipts: dict[str, Receipt] = {}
        self.forgotten: set[str] = set()  # receipts past their note's deadline: ids only
        self.reply_paths: dict[str, tuple[str, list[str]]] = {}

    async def handle(self, note: Note, principal: str | None) -> Outcome | None:
        hand = self.hand
        full_path = [*note.path, hand.name]
        receipt = self.receipts.get(note.id)
        if receipt is None and note.id in self.forgotten:
            hand.emit("duplicate_suppressed", note=note.id, hand=hand.name, attempt=note.attempt)
            return Outcome.delivered(full_path, by=hand.name)
        if receipt is not None:
            hand.emit("duplicate_suppressed", note=note.id, hand=hand.name, attempt=note.attempt)
            return await self._answer_of(receipt, note)
        try:
            text = hand.open(note.sender, note.id, note.body, note.sealed)
        except SealError as exc:
            hand.emit("seal_broken", note=note.id, hand=hand.name, reason=str(exc))
            return Outcome.failure(outcomes.SEAL_BROKEN, str(exc), hand.name)
        fails = hand.behaviour.fails
        if fails and hand.dice.happens(fails, "fails", note.id, hand.name, note.arrival):
            hand.emit("refused", note=note.id, hand=hand.name, attempt=note.attempt, what="own note")
            return Outcome.failure(outcomes.CANNOT_TAKE, f"{hand.name} could not take the note", hand.name)
        app = hand.app
        if app is None:
            hand.emit("absent_refused", note=note.id, hand=hand.name, attempt=note.attempt)
            return Outcome.failure(outcomes.HAND_ABSENT, f"{hand.name} is not at the desk", hand.name)
        receipt = self.receipts[note.id] = Receipt(note.deadline + RECEIPT_MARGIN)
        app.send_message(messages.Deliver(note.id, note.sender, note.reply, text))
        parent = _parent_span(note.traceparent)
        hand.emit("delivered", note=note.id, hand=hand.name, **{"from": note.sender}, path=full_path,
                  parent=parent, trace=note.trace)
        if note.reply:
            self.reply_paths[note.id] = (note.sender, full_path)  # answered when the student replies
        else:
            receipt.answer.set_result(Outcome.delivered(full_path, by=hand.name))
        return await self._answer_of(receipt, note)

    async def _answer_of(self, receipt: Receipt, note: Note) -> Outcome | None:
        try:
            return await self.hand.clock.due(asyncio.shield(receipt.answer), receipt.expires)
        except TimeoutError:
            return None  # no reply came while anyone still waited for it

    def replied(self, reply: messages.Reply) -> None:
        """Our student answered a note: seal the reply to its sender and answer every try."""
        hand = self.hand
        sender, path = self.reply_paths.pop(reply.id, (None, []))
        receipt = self.receipts.get(reply.id)
        if sender is None or receipt is None or receipt.answer.done():
            return
        body, sealed = hand.seal(sender, reply.id + "/reply", reply.text)
        hand.emit("replied", note=reply.id, hand=hand.name, to=sender)
        receipt.answer.set_result(Outcome.delivered(path, body, sealed, by=hand.name))

    def sweep(self, now: float) -> None:
        """Forget receipts past their note's deadline (their sender has given up)."""
        for note_id in [n for n, r in self.receipts.items() if r.expires < now]:
            del self.receipts[note_id]  # its waiters gave up at its expiry
            self.reply_paths.pop(note_id, None)
            self.forgotten.add(note_id)


class Behaviour:
    """The student's hand as the level plays it: at the desk or not, refusing, dropping, nosy, slow."""

    def __init__(self, hand: Hand, inner: InboundLayer) -> None:
        self.hand, self.inner = hand, inner

    def handle(self, note: Note, principal: str | None) -> Awaitable[Outcome | None]:
        hand = self.hand
        behaviour = hand.behaviour
        if not hand.present:
            hand.emit("absent_refused", note=note.id, hand=hand.name, attempt=note.attempt)
            return answered(Outcome.failure(outcomes.HAND_ABSENT, f"{hand.name} is not at the desk to pass it on",
                                            hand.name))
        if behaviour.refuses:
            hand.emit("refused", note=note.id, hand=hand.name, attempt=note.attempt)
            return answered(Outcome.failure(outcomes.HAND_REFUSES, f"{hand.name} refuses to pass notes", hand.name))
        drops = behaviour.drops
        if drops and hand.dice.happens(drops, "drop", note.id, hand.name, note.arrival):
            hand.emit("dropped", note=note.id, hand=hand.name, attempt=note.attempt, what="note")
            return answered(None)  # silently: the one who handed it over finds out by its timeout
        if behaviour.nosy:
            _peek(hand, note)
        hand.emit("forwarded", note=note.id, hand=hand.name, attempt=note.attempt, trace=note.trace)
        if behaviour.slow > 0 or drops:
            return self._slowly_or_dropping_the_reply(note, principal)
        return self.inner.handle(note, principal)

    async def _slowly_or_dropping_the_reply(self, note: Note, principal: str | None) -> Outcome | None:
        hand = self.hand
        if hand.behaviour.slow > 0:
            await hand.clock.sleep_until(min(hand.clock.now() + hand.behaviour.slow, note.deadline))
        outcome = await self.inner.handle(note, principal)
        drops = hand.behaviour.drops
        if outcome is not None and outcome.ok and drops and hand.dice.happens(
                drops, "drop-reply", note.id, hand.name, note.arrival):
            hand.emit("dropped", note=note.id, hand=hand.name, what="reply")
            return None
        return outcome


def _peek(hand: Any, note: Note) -> None:
    """A nosy student unfolds the note: all she gets is what the envelope shows."""
    try:
        text = note.body.decode("utf-8")
        readable = text.isprintable()
    except UnicodeDecodeError:
        text, readable = "", False
    hand.emit("peeked", note=note.id, hand=hand.name, readable=readable,
              saw=text[:40] if readable else note.body[:16].hex())


class Relay:
    """Pass the note on: an exchange of our own, through the relay stack."""

    def __init__(self, hand: Hand, outbound: Layer) -> None:
        self.hand, self.outbound = hand, outbound

    def handle(self, note: Note, principal: str | None) -> Awaitable[Outcome | None]:
        hand = self.hand
        policy = hand.policy
        rule = policy.rule(note.host, note.op)
        if rule is None:
            return answered(Outcome.failure(outcomes.NO_MATCHING_RULE, f"no route at {hand.name}: no http rule of "
                                            f"the VirtualService for {note.host} takes {note.op.method} "
                                            f"{note.op.uri}", hand.name))
        ex = Exchange(note.id, note.sender, note.to, note.host, note.trace, note.deadline, [*note.path, hand.name],
                      note.body, note.sealed, note.reply, policy.retries(rule), origin=False,
                      cluster=hand.cluster(note.host, note.subset), rule=rule, op=note.op, subset=note.subset,
                      arrival_tries=note.tries, parent_span=_parent_span(note.traceparent), started=hand.clock.now())
        return self.outbound.handle(ex)


def _parent_span(traceparent: str | None) -> str | None:
    """The parent span id of a W3C ``traceparent`` (``00-<trace>-<span>-<flags>``)."""
    if traceparent:
        parts = traceparent.split("-")
        if len(parts) == 4 and len(parts[2]) == 16:
            return parts[2]
    return None
