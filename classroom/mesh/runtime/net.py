"""Sockets for the mesh: a framed connection, the accept-and-sniff loop, the event loop.

Theory of operation
-------------------
Every connection in a round carries frames of :mod:`classroom.mesh.runtime.wire`.
:class:`FrameConnection` is an asyncio protocol that only moves bytes: it
feeds the sans-I/O decoder and hands each frame to a callback.  Errors say
whose fault they are:

* a garbled or oversized frame, or one whose header a typed message refuses
  (:mod:`classroom.mesh.runtime.messages` raises ``RemoteProtocolError``), is
  the *peer's* protocol error: that one connection closes with a logged
  reason, the process goes on;
* any other exception raised while handling a frame is a bug of *ours*: it is
  handed to the loop's exception handler (the process skeleton reports it as
  an ``internal_error`` event, with its traceback on stderr), never blamed on
  the peer, and the connection closes since its state can no longer be
  trusted.

Inbound mesh connections are accepted by :func:`sniff_accept`, which peeks at
the first byte before choosing TLS or plaintext, as a PERMISSIVE sidecar does:
``0x16`` starts a TLS handshake, anything else is a plaintext frame.  The mTLS
mode then decides whether that kind of connection is allowed, so a refusal
says exactly why ("plaintext refused: mTLS mode is STRICT").
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import sys
from collections.abc import Callable, Coroutine
from typing import Any

from classroom.mesh.runtime import wire
from classroom.mesh.runtime.clock import Clock

TLS_HANDSHAKE_RECORD = 0x16


def new_event_loop() -> asyncio.AbstractEventLoop:
    """A fresh event loop: uvloop where the platform has it."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - platforms without uvloop
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def run(main: Any) -> Any:
    """Run a coroutine on a fresh loop (uvloop where available)."""
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        return runner.run(main)


_background: set[asyncio.Task[Any]] = set()


def spawn(coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
    """Start ``coro`` as a task the loop keeps a strong reference to until it ends.

    The loop itself holds tasks only weakly: a fire-and-forget task waiting on something can be
    garbage-collected mid-flight ("Task was destroyed but it is pending").
    """
    task = asyncio.get_running_loop().create_task(coro)
    _background.add(task)
    task.add_done_callback(_background.discard)
    return task


def log(who: str, message: str) -> None:
    print(f"classroom: {who}: {message}", file=sys.stderr, flush=True)


FrameHandler = Callable[["FrameConnection", wire.Frame], None]
CloseHandler = Callable[["FrameConnection", "Exception | None"], None]


class FrameConnection(asyncio.Protocol):
    """One framed connection, TLS or plaintext."""

    def __init__(
        self,
        on_frame: FrameHandler,
        on_close: CloseHandler | None = None,
        label: str = "peer",
        on_protocol_error: Callable[[str], None] | None = None,
        held: bool = False,
    ) -> None:
        self.on_frame = on_frame
        self.on_close = on_close
        self.label = label
        self.on_protocol_error = on_protocol_error
        self.decoder = wire.FrameDecoder()
        self.transport: asyncio.Transport | None = None
        # The loop, kept: on Python 3.11 each asyncio.get_running_loop() is a getpid() system call.
        self._loop = asyncio.get_event_loop()
        self.closed = self._loop.create_future()
        self.peer: str | None = None  # verified SPIFFE ID, when TLS
        self.context: Any = None  # whatever the owner wants to remember
        self._out: list[bytes] = []
        self.held = held  # frames wait in the decoder until release(): a connection not yet admitted

    # asyncio.Protocol -------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's are not subclasses
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        self.decoder.receive_data(data)
        if not self.held:
            self._frames()

    def release(self) -> None:
        """Start handling frames (those that arrived while held first)."""
        if self.held:
            self.held = False
            if self.transport is not None:
                self._frames()

    def _frames(self) -> None:
        decoder = self.decoder
        try:
            while (frame := decoder.next_frame()) is not None:
                self.on_frame(self, frame)
        except wire.RemoteProtocolError as exc:
            message = f"protocol error from {self.label}: {exc}; closing the connection"
            if self.on_protocol_error is not None:
                self.on_protocol_error(message)
            else:
                log("net", message)
            self.close()
        except Exception as exc:  # our own bug, not the peer's: say so, loudly
            asyncio.get_running_loop().call_exception_handler({
                "message": f"internal error handling a frame from {self.label}", "exception": exc})
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if not self.closed.done():
            self.closed.set_result(None)
        if self.on_close is not None:
            self.on_close(self, exc)

    # ours ---------------------------------------------------------------------------
    @property
    def is_open(self) -> bool:
        return self.transport is not None and not self.transport.is_closing()

    def write(self, data: bytes) -> bool:
        """Queue encoded frame bytes; False if the connection is gone.

        Frames written in one turn of the event loop leave in one write (one TLS
        record, one syscall): under load that halves a proxy's cost per note.
        """
        transport = self.transport
        if transport is None or transport.is_closing():
            return False
        out = self._out
        out.append(data)
        if len(out) == 1:
            self._loop.call_soon(self._flush)
        return True

    def _flush(self) -> None:
        out = self._out
        if not out:
            return
        data = out[0] if len(out) == 1 else b"".join(out)
        out.clear()
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(data)

    def send(self, ftype: wire.FrameType, header: dict[str, Any], body: bytes = b"") -> bool:
        return self.write(wire.encode_parts(ftype, header, body))

    def send_message(self, message: Any) -> bool:
        """Send a typed message (anything with ``encode() -> bytes``)."""
        return self.write(message.encode())

    def close(self) -> None:
        if self.transport is not None:
            self._flush()
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    @property
    def ssl_object(self) -> ssl.SSLObject | None:
        if self.transport is None:
            return None
        obj = self.transport.get_extra_info("ssl_object")
        return obj if isinstance(obj, ssl.SSLObject) else None

    @property
    def tls_version(self) -> str | None:
        obj = self.ssl_object
        return obj.version() if obj is not None else None


async def wait_readable(sock: socket.socket, clock: Clock, timeout: float) -> None:
    """Wait until ``sock`` has bytes to read; TimeoutError after ``timeout`` room seconds."""
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()

    def on_readable() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_reader(sock.fileno(), on_readable)
    try:
        await clock.wait(ready, clock.now() + timeout)
    finally:
        loop.remove_reader(sock.fileno())


async def sniff_first_byte(sock: socket.socket, clock: Clock, timeout: float = 5.0) -> int | None:
    """The first byte the peer sent, left unread in the socket; None if it closed."""
    await wait_readable(sock, clock, timeout)
    try:
        first = sock.recv(1, socket.MSG_PEEK)
    except OSError:
        return None
    return first[0] if first else None


def bound_listener(host: str = "127.0.0.1") -> socket.socket:
    """A listening TCP socket on a free loopback port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    sock.listen(512)
    sock.setblocking(False)
    return sock


def ssl_failure_reason(exc: BaseException) -> str:
    """A plain-words reason for a failed TLS handshake."""
    text = str(exc)
    if isinstance(exc, ssl.SSLCertVerificationError):
        text = exc.verify_message or text
        if "unable to get local issuer" in text or "self-signed" in text or "self signed" in text:
            return f"certificate is not from a trusted class CA ({text})"
        if "expired" in text:
            return "certificate has expired" + ("" if text == "certificate has expired" else f" ({text})")
        return f"certificate rejected ({text})"
    lowered = text.lower()
    if "certificate required" in lowered or "peer did not return a certificate" in lowered:
        return "peer presented no certificate (mutual TLS required)"
    if "unknown ca" in lowered:
        return "peer's certificate is not from a trusted class CA (unknown ca)"
    if "certificate expired" in lowered:
        return "certificate has expired"
    if "wrong version number" in lowered or "http request" in lowered:
        return "peer did not speak TLS"
    return text or type(exc).__name__
