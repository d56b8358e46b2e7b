"""The teacher: the adversary on the wire, patrolling the aisles.

Theory of operation
-------------------
The teacher is her own process and acts only through the aisles, on the links
next to where she stands.  She walks her patrol (waypoints, in seats, at
``speed`` seats per second, back and forth) and tells the aisles, whenever it
changes, which links she is watching and what she does there:

* **eavesdrop**: the aisles copy her the bytes that cross those links.  On a
  plaintext link she decodes the frames and reads the notes' text (unless a
  note is sealed); under mTLS all she has is TLS records: ciphertext, and
  each application-data record she sees is reported with its first bytes
  (``teacher_saw_ciphertext``).  She tells TLS from plaintext by the record
  layer (:class:`RecordTap`): a content type, version 3.x and a length that
  chain from record to record, found even when she starts listening in the
  middle of a record of a TLS 1.3 link whose handshake went by before she
  came.
* **confiscate** (``catches``): the aisles, drawing from the round's seed,
  cut the connection under a note she takes in passing; its sender sees a
  reset and may retry another way.
* **forge** (``forges``): when she starts watching a link a–b, she hands b a
  plaintext note that claims to come from a.  Under PERMISSIVE b's hand takes
  it (it shows no principal: only an AuthorizationPolicy that asks for one
  stops it); under STRICT plaintext is refused.  That is PERMISSIVE's danger.
* **impersonate**: when she starts watching a link, the aisles cut it (at a
  quiet moment) and send the redial to her instead.  A note still on its way
  through the cut link is reset (``UC``): Istio's default retries do not retry
  a reset, so a route that must survive her adds ``reset`` to ``retryOn``.  She answers with a certificate she made
  herself (her own CA, claiming the neighbour's SPIFFE ID) or a genuine class
  certificate for the wrong student (her own, issued by the office): which
  one, the round's dice say, keyed by whom she poses as and on which link.
  A proxy that checks its peer refuses both; under DISABLE nothing is
  checked, she is accepted and reads what she is handed.

She reports what she did as events (``teacher_*``); the report counts them
(``teacher.read``, ``teacher.caught``, ``impersonations``,
``impersonations_accepted``, ``forged``, ``forged_accepted``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import ssl
from typing import Any

from classroom.level.seating import links_near, patrol_position
from classroom.mesh.control import pki
from classroom.mesh.control.request import Operation
from classroom.mesh.runtime import messages, net, process, wire
from classroom.mesh.runtime.net import FrameConnection
from classroom.mesh.runtime.specs import TeacherSpec

CONTROL = wire.FrameType.CONTROL
FORGED_TEXT = b"No homework tonight! -- signed, your classmate (not really: the teacher)"
STEP = 0.05  # real seconds between two looks around, at any speed


def looks_like_tls(data: bytes) -> bool:
    """Whether bytes off the wire start a TLS record: a content type (change cipher spec, alert,
    handshake, application data) then the record version 3.x.  She may start listening mid-stream,
    after the handshake: a TLS 1.3 link's records are then application data (0x17)."""
    return len(data) >= 3 and data[0] in TLS_CONTENT_TYPES and data[1] == 3


TLS_CONTENT_TYPES = (0x14, 0x15, 0x16, 0x17)
APPLICATION_DATA = 0x17
TLS_RECORD_MAX = 2**14 + 256  # a TLS 1.3 record's ciphertext is at most this long
SHOWN_BYTES = 24  # how much of a record she reports: its header and the start of its ciphertext
UNDECIDED_CHUNKS = 8  # chunks she listens to before giving up on telling what a connection carries


def _chain(data: bytes, start: int) -> bool:
    """Whether TLS records laid end to end from ``start`` account for every byte of ``data`` (the
    last one may go on past its end)."""
    at = start
    while at + 5 <= len(data):
        if data[at] not in TLS_CONTENT_TYPES or data[at + 1] != 3:
            return False
        length = int.from_bytes(data[at + 3:at + 5], "big")
        if not 0 < length <= TLS_RECORD_MAX:
            return False
        at += 5 + length
    return at >= len(data) or (at < len(data) and data[at] in TLS_CONTENT_TYPES)


class RecordTap:
    """The TLS record layer of one tapped connection, as she hears it chunk by chunk.

    ``feed`` returns the records that start in the chunk, as (content type, the record's first
    bytes); ``tls`` is None until she can tell, then True (TLS records) or False (something else).
    She may join mid-record: the first chunk is searched for a record header from which whole
    records chain to its end, so the tail of a record she missed does not make her think it is
    plaintext.
    """

    def __init__(self) -> None:
        self.tls: bool | None = None
        self._skip = 0  # bytes of the current record still to come
        self._head = b""  # a record header split across two chunks
        self._chunks = 0

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        if self.tls is None:
            self._chunks += 1
            # From the chunk's start any record type; inside it only what a record of an established
            # TLS 1.2/1.3 connection starts with (application data, version 3.3), so that stray bytes
            # of a plaintext stream are not taken for a record.
            start = 0 if looks_like_tls(data) and _chain(data, 0) else next(
                (i for i in range(1, min(len(data) - 4, TLS_RECORD_MAX + 5))
                 if data[i] == APPLICATION_DATA and data[i + 1:i + 3] == b"\x03\x03" and _chain(data, i)), None)
            if start is None:
                if self._chunks >= UNDECIDED_CHUNKS:
                    self.tls = False
                return []
            self.tls = True
            data = data[start:]
        elif not self.tls:
            return []
        records: list[tuple[int, bytes]] = []
        data = self._head + data
        self._head = b""
        at = min(self._skip, len(data))
        self._skip -= at
        while at < len(data):
            if len(data) - at < 5:
                self._head = data[at:]
                break
            length = int.from_bytes(data[at + 3:at + 5], "big")
            records.append((data[at], data[at:at + min(5 + length, SHOWN_BYTES)]))
            end = at + 5 + length
            self._skip = max(end - len(data), 0)
            at = end
        return records


class Teacher(process.Role):
    title = "classroom: teacher"
    spec: TeacherSpec

    def __init__(self, spec: TeacherSpec, fds: list[int]) -> None:
        super().__init__(spec, fds)
        self.namespace = spec.namespace
        self.profile = spec.profile
        self.walk = spec.walk
        self.patrol = list(spec.patrol)
        self.seats = dict(spec.seats)
        self.links = list(spec.links)
        self.eavesdrops = spec.eavesdrops
        self.catches = spec.catches
        self.impersonates = spec.impersonates
        self.forges = spec.forges
        self.forged = 0
        self.listener = socket.socket(fileno=self.fds[2])
        self.office: FrameConnection | None = None
        self.aisles: FrameConnection | None = None
        self.watching: list[tuple[str, str]] = []
        self.decoders: dict[tuple[str, str, int], wire.FrameDecoder | None] = {}
        self.taps: dict[tuple[str, str, int], RecordTap] = {}
        self.heard: set[tuple[str, str, int]] = set()  # connections she has reported hearing
        self.read: set[str] = set()
        self.attempts = 0
        # Her two ways to pose as a student: a CA of her own, and a genuine card for herself.
        self.own_ca = pki.CertificateAuthority.create("The teacher's own CA")
        self.key = pki.new_key()
        self.stolen_ctx: ssl.SSLContext | None = None
        self.class_bundle: bytes | None = None
        self.started = asyncio.Event()
        self.victims: list[tuple[str, list[str]]] = []

    # --- the office: her class certificate, and the bell ---------------------------------
    def _on_office(self, conn: FrameConnection, frame: wire.Frame) -> None:
        message = frame.header
        if message.get("type") == "certs" and "teacher" in message.get("certs", {}):
            self.class_bundle = message["bundle"].encode()
            self.stolen_ctx = pki.server_context(message["certs"]["teacher"].encode(), pki.key_pem(self.key))
        elif message.get("type") == "start":
            self.started.set()

    # --- the aisles: what she sees ----------------------------------------------------------
    def _on_aisles(self, conn: FrameConnection, frame: wire.Frame) -> None:
        message = frame.header
        if message.get("type") == "tap":
            self._overheard(tuple(message["link"]), int(message["conn"]), frame.body)
        elif message.get("type") == "caught":
            self.events.emit("teacher_caught", link=message["link"], conn=message["conn"])
        elif message.get("type") == "forged":
            if message.get("accepted"):
                a, b = message["link"]
                self.events.emit("teacher_forged_accepted", victim=b, claimed=a, link=message["link"])
        elif message.get("type") == "pose":
            self.victims.append((str(message["as"]), [str(x) for x in message.get("link", ())]))

    def _overheard(self, link: tuple[str, ...], conn: int, data: bytes) -> None:
        """A chunk she heard on ``link``: frames she can read, or TLS records she cannot."""
        key = (link[0], link[1], conn)
        tap = self.taps.get(key)
        if tap is None:
            tap = self.taps[key] = RecordTap()
            if not looks_like_tls(data):  # frames in the clear may start here
                self.decoders[key] = wire.FrameDecoder()
        decoder = self.decoders.get(key)
        if decoder is not None:
            decoder.receive_data(data)
            try:
                for frame in decoder.frames():
                    self._heard(key, False, b"")
                    self._read(frame, list(link))
                return
            except wire.RemoteProtocolError:
                # Not frames from their start: the middle of a TLS record, or a plaintext stream
                # she joined mid-frame.  The record layer will tell, or nothing will.
                self.decoders[key] = None
                if key in self.heard:
                    return
        for content, head in tap.feed(data):
            self._heard(key, True, head)
            if content == APPLICATION_DATA:  # a note or a hello, locked by TLS: all she gets
                self.events.emit("teacher_saw_ciphertext", link=list(link), conn=conn, record=head.hex(),
                                 bytes=int.from_bytes(head[3:5], "big") + 5)

    def _heard(self, key: tuple[str, str, int], tls: bool, record: bytes) -> None:
        """Report once per connection what she hears on it: TLS records, or frames in the clear."""
        if key not in self.heard:
            self.heard.add(key)
            self.events.emit("teacher_eavesdropped", link=[key[0], key[1]], conn=key[2], tls=tls,
                             **({"record": record.hex()} if tls else {}))

    def _read(self, frame: wire.Frame, link: list[str]) -> None:
        if frame.type is not wire.FrameType.NOTE:
            return
        note = str(frame.header.get("id"))
        if frame.header.get("sealed", True):
            self.events.emit("teacher_saw_sealed", note=note, link=link)
            return
        if note not in self.read:
            self.read.add(note)
            self.events.emit("teacher_read", note=note, link=link,
                             text=frame.body[:80].decode("utf-8", "replace"))

    # --- posing as a student ---------------------------------------------------------------------
    async def _impostor(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            sock, _ = await loop.sock_accept(self.listener)
            net.spawn(self._pose(sock))

    async def _pose(self, sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        self.attempts += 1
        attempt = self.attempts
        try:
            first = await net.sniff_first_byte(sock, self.clock, 10.0 * max(self.clock.rate, 1.0))
        except (TimeoutError, OSError):
            sock.close()
            return
        tls = first == net.TLS_HANDSHAKE_RECORD
        # Whom she poses as: the aisles said so just before they sent her the dial.
        victim, link = self.victims.pop(0) if self.victims else ("?", [])
        # Which card she shows: the dice say, for this victim on this link, this time she cut in.
        stolen = self.stolen_ctx is not None and self.dice.happens(0.5, "card", victim, link, attempt)
        ctx = None
        card = "none: plaintext"
        if tls:
            if stolen:
                ctx, card = self.stolen_ctx, "a genuine class card, but her own (sa/teacher)"
            else:
                ident = pki.spiffe_id(self.namespace, victim, self.profile)
                key, cert = pki.issue_self(ident, self.own_ca)
                ctx = pki.server_context(pki.cert_pem(cert), pki.key_pem(key))
                card = f"a card from her own CA claiming {ident}"
        self.events.emit("teacher_impersonation", victim=victim, tls=tls, card=card)
        accepted = asyncio.Event()

        def on_frame(conn: FrameConnection, frame: wire.Frame) -> None:
            # The dialer speaks only once it has checked who she is: she has been taken for real.
            if not accepted.is_set():
                accepted.set()
                self.events.emit("teacher_impersonation_accepted", victim=victim, tls=tls, card=card)
                # She knows the protocol: welcomed, the dialer will hand her its notes.
                conn.send(CONTROL, {"type": "welcome", "hand": victim})
            self._read(frame, [victim, "teacher"])

        conn = FrameConnection(on_frame, None, label="a student who took her for a classmate")
        try:
            await loop.connect_accepted_socket(lambda: conn, sock, ssl=ctx,
                                               ssl_handshake_timeout=10.0 if ctx else None)
        except (OSError, ssl.SSLError, TimeoutError):
            sock.close()
            return
        with contextlib.suppress(TimeoutError):
            await self.clock.wait(asyncio.shield(conn.closed), self.clock.now() + 30.0)

    def on_runner(self, message: dict[str, Any]) -> None:
        """A lecture changes what the teacher does, live (``{"type": "teacher", "eavesdrops": b, "catches":
        b, "forges": b}``): the aisles hear it at once for the links she watches, a forgery waits for
        the next link she comes to."""
        if message.get("type") != "teacher":
            super().on_runner(message)
            return
        changes = {key: message[key] for key in ("eavesdrops", "catches", "forges")
                   if isinstance(message.get(key), bool)}
        for key, value in changes.items():
            setattr(self, key, value)
        if changes:
            self.events.emit("teacher_changed", **changes)
            if self.aisles is not None:
                self.aisles.send(CONTROL, {"type": "watch", "links": [list(link) for link in self.watching],
                                           "eavesdrop": self.eavesdrops, "catch": self.catches, "impersonate": []})

    # --- walking ----------------------------------------------------------------------------------
    async def _patrol(self) -> None:
        await self.started.wait()
        start = self.clock.now()
        while True:
            walked = (self.clock.now() - start) * self.walk
            where = patrol_position(self.patrol, walked)
            near = links_near(where, self.seats, self.links)
            if near != self.watching:
                fresh = [link for link in near if link not in self.watching]
                self.watching = near
                assert self.aisles is not None
                self.aisles.send(CONTROL, {
                    "type": "watch", "links": [list(link) for link in near],
                    "eavesdrop": self.eavesdrops, "catch": self.catches,
                    "impersonate": [list(link) for link in fresh] if self.impersonates else [],
                })
                self.events.emit("teacher_moved", at=[round(where[0], 2), round(where[1], 2)],
                                 watching=[list(link) for link in near])
                if self.forges:
                    for a, b in fresh:
                        self._forge(a, b)
            await self.clock.sleep(STEP * max(self.clock.rate, 1.0))

    def _forge(self, claimed: str, victim: str) -> None:
        """Hand ``victim`` a plaintext note that claims to come from ``claimed`` (through the aisles).

        Under STRICT the victim's hand refuses any plaintext connection; under PERMISSIVE it takes
        the note, which shows no principal: only an AuthorizationPolicy that asks for one stops it.
        """
        assert self.aisles is not None
        self.forged += 1
        note = messages.Note(f"forged:{claimed}>{victim}#{self.forged}", claimed, victim, victim, None,
                             Operation(), [claimed], self.clock.now() + 5.0, os.urandom(16).hex(), False, False, 1,
                             [0], None, FORGED_TEXT)
        frames = messages.LinkHello("hello", claimed).encode() + note.encode()
        self.events.emit("teacher_forged", victim=victim, claimed=claimed, note=None)
        self.aisles.send(CONTROL, {"type": "forge", "link": [claimed, victim]}, frames)

    async def main(self) -> None:
        self.listener.setblocking(False)
        # Without the office she patrols on with the card she has; without the aisles she can do nothing.
        self.office = await self.connect_unix(self.fds[0], self._on_office, None, "the office")
        self.aisles = await self.connect_unix(self.fds[1], self._on_aisles, lambda c, e: self.finish(), "the aisles")
        identity = pki.spiffe_id(self.namespace, "teacher", self.profile)
        self.office.send(CONTROL, {"type": "hello", "teacher": True,
                                   "csr": pki.make_csr(self.key, identity).decode()})
        net.spawn(self._patrol())
        net.spawn(self._impostor())


ROLE = Teacher
