"""What both ends of a join share: a local socket carried over the join connection, the TLS contexts.

A laptop's proxy and student are ordinary processes of the round: each has its
line to the runner's hub and the proxy its control channel to the office, as
Unix sockets (:mod:`classroom.mesh.runtime.process`).  Between machines, each
such socket is cut in two: on the laptop, the process holds one end of a local
socket pair and :class:`Pipe` holds the other; on the host, the runner's hub
and the office hold theirs and a :class:`Pipe` holds the peer end.  The bytes
between the two pipes ride in ``relay`` frames over the one TLS connection of
the join, tagged with their channel.  The roles themselves do not know they
are far apart.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import socket
import ssl
from collections.abc import Callable

from classroom.mesh.control import pki
from classroom.mesh.join.protocol import JOIN_IDENTITY, RELAY_CHUNK


class Pipe(asyncio.Protocol):
    """One end of a local socket whose bytes go elsewhere (``forward``) and come from elsewhere (``write``)."""

    def __init__(self, forward: Callable[[bytes], None], on_close: Callable[[], None] | None = None) -> None:
        self.forward = forward
        self.on_close = on_close
        self.transport: asyncio.Transport | None = None
        self.closed = asyncio.get_running_loop().create_future()

    @classmethod
    async def open(cls, sock: socket.socket, forward: Callable[[bytes], None],
                   on_close: Callable[[], None] | None = None) -> Pipe:
        sock.setblocking(False)
        pipe = cls(forward, on_close)
        await asyncio.get_running_loop().connect_accepted_socket(lambda: pipe, sock)
        return pipe

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        for start in range(0, len(data), RELAY_CHUNK):
            self.forward(data[start:start + RELAY_CHUNK])

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if not self.closed.done():
            self.closed.set_result(None)
        if self.on_close is not None:
            self.on_close()

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


def host_context(ca: pki.CertificateAuthority) -> ssl.SSLContext:
    """The join port's TLS 1.3 server side: a certificate from the class CA, for no student's identity."""
    key = pki.new_key()
    now = dt.datetime.now(dt.UTC)
    cert = ca.sign_leaf(key.public_key(), JOIN_IDENTITY, now - pki.CLOCK_SKEW, now + dt.timedelta(days=1))
    return pki.server_context(pki.cert_pem(cert) + ca.pem, pki.key_pem(key))


def laptop_context() -> ssl.SSLContext:
    """The laptop's side of the join: TLS 1.3; the host's certificate is checked against the class CA
    the host then sends, whose fingerprint the student compares with the lecturer's screen (as
    ``kubeadm join`` pins the cluster CA with ``--discovery-token-ca-cert-hash``)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def close_all(*things: object) -> None:
    for thing in things:
        with contextlib.suppress(Exception):
            thing.close()  # type: ignore[attr-defined]
