"""A student's laptop in a hosted class: her proxy and her student, with the host far away.

Theory of operation
-------------------
``classroom join HOST:PORT --code CODE [--as NAME]`` (:class:`Joiner`):

1. dials the host's join port over TLS 1.3 and sends ``join``; the host
   answers ``refused`` (one line, exit 2) or ``welcome`` with her seat and
   the class CA.  The laptop checks that the host's certificate was signed
   by that CA and prints the CA's fingerprint, which the student compares
   with the lecturer's screen (``--fingerprint`` pins it, as ``kubeadm join
   --discovery-token-ca-cert-hash`` pins a cluster's CA);
2. starts a launcher (:mod:`classroom.mesh.runtime.launcher`), binds her
   proxy's peer listener on the address the host was reached from and her
   app port on 127.0.0.1, and says ``ready``;
3. on ``start``, forks her proxy and her student from the specs the host's
   runner made (checked: one hand, hers), with three local socket pairs
   whose far ends the host holds (:mod:`classroom.mesh.join.relay`): the
   proxy makes its private key here and its CSR goes to the office over the
   relayed control channel; the certificate that comes back is for her seat
   only.  Her proxy dials the host's aisles for every link, and the aisles
   dial its peer listener: mutual TLS 1.3 from proxy to proxy, across
   machines;
4. keeps her own clock file (:class:`~classroom.mesh.runtime.clock.SharedClock`,
   which her processes read as on any machine) in step with the host's:
   she pings twice a second, takes half the shortest round trip as the
   delay, and sets room time from each ``start``, ``clock`` and ``pong``
   (when it has drifted by more than a millisecond);
5. on ``stop`` stops her processes (they flush their last events, which go
   to the host) and leaves.  If the host goes silent for ``LOST_AFTER``
   seconds, or its connection drops, she stops everything and says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import socket
import time
from collections.abc import Callable
from typing import Any

from cryptography import x509

from classroom.mesh.join import protocol
from classroom.mesh.join.protocol import CONTROL
from classroom.mesh.join.relay import Pipe, close_all, laptop_context
from classroom.mesh.runtime import net, wire
from classroom.mesh.runtime.clock import SharedClock
from classroom.mesh.runtime.launcher import Launcher
from classroom.mesh.runtime.net import FrameConnection
from classroom.mesh.runtime.specs import ProxySpec, StudentSpec

PING_EVERY = 0.5  # real seconds
LOST_AFTER = 10.0  # real seconds without a word from the host
SYNC_LIMIT = 2.0  # seconds a laptop waits for a good round trip before her processes start anyway
DIAL_LIMIT = 10.0
EXIT_OK, EXIT_FAILED, EXIT_REFUSED = 0, 1, 2


class Joiner:
    def __init__(self, host: str, port: int, code: str, seat: str | None, say: Callable[[str], None],
                 pin: str | None = None) -> None:
        self.host, self.port, self.code, self.wanted = host, port, code, seat
        self.say = say
        self.pin = pin
        self.conn: FrameConnection | None = None
        self.seat: str | None = None
        self.clock: SharedClock | None = None
        self.launcher: Launcher | None = None
        self.pipes: dict[str, Pipe] = {}
        self.listeners: list[socket.socket] = []
        self.done: asyncio.Future[int] | None = None
        self.rtt: float | None = None
        self.pings: dict[int, float] = {}
        self.heard = time.monotonic()
        self.started = False
        self.fingerprint: str | None = None
        self.synced = asyncio.Event()  # a good round trip has set her clock since the start

    def _end(self, code: int, line: str | None = None) -> None:
        if self.done is not None and not self.done.done():
            if line:
                self.say(line)
            self.done.set_result(code)

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        self.done = loop.create_future()
        launching = asyncio.ensure_future(asyncio.to_thread(Launcher))  # while the host answers
        try:
            conn = FrameConnection(self._on_frame, self._on_lost, label=f"the host at {self.host}:{self.port}",
                                   on_protocol_error=lambda m: self._end(EXIT_FAILED, f"classroom: join: {m}"))
            try:
                await asyncio.wait_for(loop.create_connection(
                    lambda: conn, self.host, self.port, ssl=laptop_context(), ssl_handshake_timeout=DIAL_LIMIT),
                    DIAL_LIMIT + 1)
            except (OSError, TimeoutError) as exc:
                reason = net.ssl_failure_reason(exc) if str(exc) else "no answer"
                self.say(f"classroom: join: cannot reach the class at {self.host}:{self.port}: {reason}")
                return EXIT_FAILED
            self.conn = conn
            join: dict[str, Any] = {"type": "join", "code": self.code}
            if self.wanted:
                join["as"] = self.wanted
            conn.send(CONTROL, join)
            self.launcher = await launching
            watch = net.spawn(self._keep_in_touch())
            try:
                return await self.done
            finally:
                watch.cancel()
        finally:
            if not launching.done():
                launching.cancel()
            with contextlib.suppress(BaseException):
                launcher = self.launcher or await launching
                await asyncio.to_thread(launcher.stop)
            close_all(*self.pipes.values(), *self.listeners)
            if self.conn is not None:
                self.conn.close()
            if self.clock is not None:
                self.clock.close()

    # --- the host's messages -------------------------------------------------------------------
    def _on_frame(self, conn: FrameConnection, frame: wire.Frame) -> None:
        self.heard = time.monotonic()
        kind = protocol.message_type(frame)
        header = frame.header
        if kind == "refused":
            reason = str(header.get("reason"))[:300]
            self._end(EXIT_REFUSED, f"classroom: join: the class refused this laptop: {reason}")
        elif kind == "welcome" and self.seat is None:
            self._welcome(conn, header)
        elif kind == "pong":
            self._pong(header)
        elif kind == "clock" and self.started:
            self._follow(header)
        elif kind == "start" and not self.started and self.seat is not None:
            net.spawn(self._start(header))
        elif kind == "relay" and self.started:
            self.pipes[protocol.decode_channel(frame)].write(frame.body)
        elif kind == "stop":
            net.spawn(self._stop())
        else:
            raise wire.RemoteProtocolError(f"an unexpected {kind!r} message from the host")

    def _welcome(self, conn: FrameConnection, header: dict[str, Any]) -> None:
        seat, level, ca_pem = header.get("seat"), header.get("level"), header.get("ca")
        if type(seat) is not str or type(level) is not str or type(ca_pem) is not str:
            raise wire.RemoteProtocolError("a welcome without a seat, a level and a class CA")
        ssl_object = conn.ssl_object
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        try:
            ca = x509.load_pem_x509_certificate(ca_pem.encode())
            x509.load_der_x509_certificate(der or b"").verify_directly_issued_by(ca)
        except Exception as exc:  # a CA that does not load, a signature that does not verify (InvalidSignature)
            self._end(EXIT_FAILED, f"classroom: join: the host's certificate is not from the class CA it sent "
                                   f"({type(exc).__name__}): not joining")
            conn.close()
            return
        from cryptography.hazmat.primitives import serialization

        ca_der = ca.public_bytes(serialization.Encoding.DER)
        self.fingerprint = protocol.fingerprint(ca_der)
        if self.pin and not self.fingerprint.replace(":", "").lower().startswith(
                self.pin.replace(":", "").lower()):
            self._end(EXIT_FAILED, f"classroom: join: the class CA is {protocol.short_fingerprint(ca_der)}, not "
                                   f"{self.pin}: this is not your class; not joining")
            return
        self.seat = seat
        self.say(f"joined class {level} as {seat}")
        self.say(f"class CA fingerprint {self.fingerprint}")
        self.say(f"  (check it starts {protocol.short_fingerprint(ca_der)} as on the lecturer's screen)")
        self.clock = SharedClock(rate=float(header.get("rate") or 1.0))
        # Her proxy's peer listener faces the host (the aisles dial it); her app port stays local.
        local = conn.transport.get_extra_info("sockname")[0] if conn.transport else "127.0.0.1"
        peer, app = net.bound_listener(local), net.bound_listener("127.0.0.1")
        self.listeners = [peer, app]
        conn.send(CONTROL, {"type": "ready", "peer_port": peer.getsockname()[1]})
        self._ping()

    def _ping(self) -> None:
        if self.conn is None:
            return
        ping = next(_pings)
        self.pings[ping] = time.monotonic()
        self.conn.send(CONTROL, {"type": "ping", "id": ping})

    def _pong(self, header: dict[str, Any]) -> None:
        ping = header.get("id")
        sent = self.pings.pop(ping, None) if type(ping) is int else None
        if sent is None:
            return
        rtt = time.monotonic() - sent
        self.rtt = rtt if self.rtt is None else min(self.rtt, rtt)
        if self.started and rtt <= 2 * self.rtt + 0.002:  # a round trip near the shortest: a good sample
            self._follow(header, only_if_off=0.001)
            self.synced.set()

    def _follow(self, header: dict[str, Any], only_if_off: float = 0.0) -> None:
        room, given = header.get("room"), header.get("rate")
        if type(room) is not float or type(given) not in (float, int) or self.clock is None:
            return
        rate = float(given)  # type: ignore[arg-type]
        estimate = room + (self.rtt or 0.0) / 2 * rate
        if only_if_off and abs(estimate - self.clock.now()) <= only_if_off * max(rate, 1.0) \
                and rate == self.clock.rate:
            return
        self.clock.follow(estimate, rate)

    async def _start(self, header: dict[str, Any]) -> None:
        assert self.clock is not None and self.conn is not None
        try:
            proxy, student = self._specs(header)
        except (KeyError, TypeError, ValueError) as exc:
            self._end(EXIT_FAILED, f"classroom: join: the host's start cannot run on this laptop: {exc}")
            return
        self.started = True
        self._follow(header)
        await self._sync()
        while self.launcher is None:
            await asyncio.sleep(0.05)
        conn = self.conn
        ends: dict[str, socket.socket] = {}
        theirs: dict[str, socket.socket] = {}
        for channel in protocol.CHANNELS:
            ends[channel], theirs[channel] = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)

            def forward(data: bytes, channel: str = channel) -> None:
                conn.send(CONTROL, {"type": "relay", "ch": channel}, data)
            self.pipes[channel] = await Pipe.open(ends[channel], forward)
        peer, app = self.listeners
        requests = [(proxy, [theirs["proxy"].fileno(), theirs["ctl"].fileno(), peer.fileno(), app.fileno()]),
                    (student, [theirs["student"].fileno()])]
        try:
            await asyncio.to_thread(self.launcher.spawn_many, requests)
        finally:
            close_all(*theirs.values())
        self.clock.pids = self.launcher.pids
        self.say(f"the round has started: {self.seat}'s proxy and student run on this laptop")

    async def _sync(self, limit: float = SYNC_LIMIT) -> None:
        """Wait for one good round trip before her processes start: the ``start`` message may have
        waited in a busy host (it is forking a room), so the room time it carries can be behind by as
        long; a pong near the shortest round trip sets her clock within half of one.  Without it the
        first good pong would move her clock on mid-flight, and a note then in the air would seem to
        have taken less time than it did."""
        self.synced.clear()
        deadline = time.monotonic() + limit
        while not self.synced.is_set() and time.monotonic() < deadline:
            self._ping()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.synced.wait(), 0.2)

    def _specs(self, header: dict[str, Any]) -> tuple[ProxySpec, StudentSpec]:
        """Her two processes' specs, as the host's runner made them, checked and made local."""
        assert self.clock is not None
        proxy = ProxySpec.from_json({**header["proxy"], "clock": self.clock.path, "capture_dir": None})
        app = self.listeners[1].getsockname()
        student = StudentSpec.from_json({**header["student"], "clock": self.clock.path, "proxy": list(app[:2])})
        if [h.name for h in proxy.hands] != [self.seat] or proxy.id != f"proxy-{self.seat}":
            raise ValueError(f"its proxy is not {self.seat}'s alone")
        if student.name != self.seat:
            raise ValueError(f"its student is {student.name}, not {self.seat}")
        return proxy, student

    async def _stop(self) -> None:
        """The round is over: her processes flush their last events to the host, then she leaves."""
        if self.launcher is not None:
            await asyncio.to_thread(self.launcher.stop)
        pending = [p.closed for p in self.pipes.values() if not p.closed.done()]
        if pending:
            await asyncio.wait(pending, timeout=3.0)
        if self.conn is not None:
            self.conn.close()
        self._end(EXIT_OK, "the round is over")

    def _on_lost(self, conn: FrameConnection, exc: Exception | None) -> None:
        why = f": {exc}" if exc else ""
        self._end(EXIT_FAILED, f"classroom: join: lost the class at {self.host}:{self.port}{why}")

    async def _keep_in_touch(self) -> None:
        while True:
            await asyncio.sleep(PING_EVERY)
            if time.monotonic() - self.heard > LOST_AFTER and self.conn is not None:
                self._end(EXIT_FAILED, f"classroom: join: the host at {self.host}:{self.port} has been silent "
                                       f"for {LOST_AFTER:.0f} s: leaving")
                self.conn.abort()
                return
            if self.seat is not None:
                self._ping()


_pings = itertools.count(1)
