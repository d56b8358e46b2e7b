"""The teacher: the adversary on the wire, patrolling the aisles.

Theory of operation
-------------------
The teacher is her own process and acts only through the aisles, on the links
next to where she stands.  She walks her patrol (waypoints, in seats, at
``speed`` seats per second, back and forth) and tells the aisles, whenever it
changes, which links she is watching and what she does there:

* **eavesdrop**: the aisles copy her the bytes that cross those links.  On a
  plaintext link she decodes the frames and reads the notes' text (unless a
  note is sealed); under mTLS all she has is TLS records: ciphertext.
* **confiscate** (``catches``): the aisles, drawing from the round's seed,
  cut the connection under a note she takes in passing; its sender sees a
  reset and may retry another way.
* **impersonate**: when she starts watching a link, the aisles cut it once and
  send the redial to her instead.  She answers with a certificate she made
  herself (her own CA, claiming the neighbour's SPIFFE ID) or, every other
  time, a genuine class certificate for the wrong student (her own, issued by
  the office).  A proxy that checks its peer refuses both; under DISABLE
  nothing is checked, she is accepted and reads what she is handed.

She reports what she did as events (``teacher_*``); the report counts them
(``teacher.read``, ``teacher.caught``, ``impersonations``,
``impersonations_accepted``).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import ssl
from typing import Any

# Her patrol's geometry is pure and lives with the seating graph; position, links_near and REACH
# stay importable from here for the mesh's own modules.
from classroom.level.seating import REACH, links_near  # noqa: F401
from classroom.level.seating import patrol_position as position
from classroom.mesh import net, pki, wire
from classroom.mesh.events import EventBatch
from classroom.mesh.net import FrameConnection

CONTROL = wire.FrameType.CONTROL
STEP = 0.05  # seconds between two looks around, at any speed


class Teacher:
    def __init__(self, spec: dict[str, Any], fds: list[int]) -> None:
        self.spec = spec
        self.namespace: str = spec["namespace"]
        self.seed = int(spec.get("seed", 1))
        self.speed = float(spec.get("round_speed", 1.0))
        self.walk = float(spec.get("speed", 1.0))
        self.patrol = [(float(p[0]), float(p[1])) for p in spec["patrol"]]
        self.seats = {name: (int(seat[0]), int(seat[1])) for name, seat in spec["seats"].items()}
        self.links = [(str(a), str(b)) for a, b in spec["links"]]
        self.eavesdrops = bool(spec.get("eavesdrops"))
        self.catches = float(spec.get("catches", 0.0))
        self.impersonates = bool(spec.get("impersonates"))
        self._office_sock = socket.socket(fileno=fds[0])
        self._aisles_sock = socket.socket(fileno=fds[1])
        self.listener = socket.socket(fileno=fds[2])
        self.office: FrameConnection | None = None
        self.aisles: FrameConnection | None = None
        self.events = EventBatch("teacher", self._send_events)
        self.watching: list[tuple[str, str]] = []
        self.decoders: dict[tuple[str, str, int], wire.FrameDecoder | None] = {}
        self.read: set[str] = set()
        self.attempts = 0
        # Her two ways to pose as a student: a CA of her own, and a genuine card for herself.
        self.own_ca = pki.CertificateAuthority.create("The teacher's own CA")
        self.key = pki.new_key()
        self.stolen_ctx: ssl.SSLContext | None = None
        self.class_bundle: bytes | None = None
        self.started = asyncio.Event()
        self.victims: list[str] = []

    def _send_events(self, data: bytes) -> None:
        if self.office is not None:
            self.office.write(data)

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
        elif message.get("type") == "pose":
            self.victims.append(str(message["as"]))

    def _overheard(self, link: tuple[str, ...], conn: int, data: bytes) -> None:
        key = (link[0], link[1], conn)
        if key not in self.decoders:
            tls = data[:1] == bytes([net.TLS_HANDSHAKE_RECORD])
            self.decoders[key] = None if tls else wire.FrameDecoder()
            self.events.emit("teacher_eavesdropped", link=list(link), conn=conn, tls=tls)
        decoder = self.decoders[key]
        if decoder is None:
            return  # TLS records: ciphertext, nothing to read
        decoder.receive_data(data)
        try:
            for frame in decoder.frames():
                self._read(frame, list(link))
        except wire.RemoteProtocolError:
            self.decoders[key] = None  # she joined mid-stream; give up on this one

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
            first = await net.sniff_first_byte(sock, 10.0)
        except (TimeoutError, OSError):
            sock.close()
            return
        tls = first == net.TLS_HANDSHAKE_RECORD
        # Whom she poses as: the aisles said so just before they sent her the dial.
        victim = self.victims.pop(0) if self.victims else "?"
        stolen = attempt % 2 == 0 and self.stolen_ctx is not None  # she alternates her two cards
        ctx = None
        card = "none: plaintext"
        if tls:
            if stolen:
                ctx, card = self.stolen_ctx, "a genuine class card, but her own (sa/teacher)"
            else:
                ident = pki.spiffe_id(self.namespace, victim)
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
            await asyncio.wait_for(conn.closed, 30.0)

    # --- walking ----------------------------------------------------------------------------------
    async def _patrol(self) -> None:
        await self.started.wait()
        loop = asyncio.get_running_loop()
        start = loop.time()
        while True:
            walked = (loop.time() - start) * self.walk * self.speed
            where = position(self.patrol, walked)
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
            await asyncio.sleep(STEP)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        done = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, done.set)
        self._office_sock.setblocking(False)
        self._aisles_sock.setblocking(False)
        self.listener.setblocking(False)
        office = FrameConnection(self._on_office, lambda c, e: done.set(), label="the office")
        aisles = FrameConnection(self._on_aisles, lambda c, e: done.set(), label="the aisles")
        self.office, self.aisles = office, aisles
        await loop.create_unix_connection(lambda: office, sock=self._office_sock)
        await loop.create_unix_connection(lambda: aisles, sock=self._aisles_sock)
        identity = pki.spiffe_id(self.namespace, "teacher")
        office.send(CONTROL, {"type": "hello", "teacher": True,
                              "csr": pki.make_csr(self.key, identity).decode()})
        net.spawn(self._patrol())
        net.spawn(self._impostor())
        await done.wait()
        self.events.flush()


def main(spec: dict[str, Any], fds: list[int]) -> None:
    """Entry point of the teacher's process (called by the launcher after fork)."""
    net.run(Teacher(spec, fds).run())
