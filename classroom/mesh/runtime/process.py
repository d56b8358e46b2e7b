"""What every process of a round shares: its loop, clock, dice, events, title and end.

Theory of operation
-------------------
Each role (office, proxy, student, aisles, teacher) is a :class:`Role`: the
launcher forks a child, hands it the role's spec and file descriptors, and
calls :func:`main`, which

1. names the process for ``ps`` (``classroom: proxy ben``, as nginx and
   PostgreSQL name theirs), so a person or a chaos test finds the right one;
2. runs a fresh event loop (uvloop where there is one);
3. attaches the round's clock (:class:`~classroom.mesh.runtime.clock.RoomClock`)
   and listens for its changes, and makes the round's :class:`Dice`;
4. installs the loop's exception handler: an exception in our own code is an
   ``internal_error`` event and a traceback on stderr, never a silent
   protocol error blamed on a peer;
5. runs :meth:`Role.main` until SIGTERM (or :meth:`Role.finish`), then
   :meth:`Role.stopped` and a last flush of the events.

Every process gets, as its first file descriptor, its end of a socket pair
to the runner's event hub (:mod:`classroom.mesh.runtime.hub`): its events go
there, straight to where the round is judged, whatever else dies.  The
runner speaks on it only for a lecture's live actions (:meth:`Role.on_runner`:
a new policy to the office, a student leaving, an aisle cut).  A role's
control channel, when it has one, is another Unix socket the runner made
before the process started; :meth:`Role.connect_unix` wraps one as a
:class:`~classroom.mesh.runtime.net.FrameConnection`.  The role's own
descriptors (``self.fds``) are the ones after the events socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import signal
import socket
import ssl
import sys
import traceback
from typing import Any

from classroom.mesh.runtime import net, wire
from classroom.mesh.runtime.clock import RoomClock
from classroom.mesh.runtime.dice import Dice
from classroom.mesh.runtime.events import EventBatch
from classroom.mesh.runtime.net import CloseHandler, FrameConnection, FrameHandler
from classroom.mesh.runtime.specs import Spec


def set_title(title: str) -> None:
    """Name this process for ``ps`` and ``top``: ``classroom: proxy ben``."""
    with contextlib.suppress(ImportError):  # the package is a dependency; the kernel's short name anyway
        from setproctitle import setproctitle

        setproctitle(title)
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(15, title.encode()[:15], 0, 0, 0)  # PR_SET_NAME


class Role:
    """One process of a round; subclasses fill in :meth:`main`."""

    title = "classroom"

    def __init__(self, spec: Spec, fds: list[int]) -> None:
        self.spec = spec
        self.events_fd, self.fds = fds[0], fds[1:]
        self.hub: FrameConnection | None = None  # the runner's event hub
        self.clock = RoomClock(spec.clock)
        self.dice = Dice(spec.seed)
        self.stopping = False
        self.done = asyncio.Event()
        self.control: FrameConnection | None = None
        self.events = EventBatch(self.source(), self._send_events, self.clock,
                                 verbose=bool(getattr(spec, "telemetry", True)))

    def source(self) -> str:
        """The ``src`` of this process's events."""
        return self.spec.role

    def _send_events(self, data: bytes) -> None:
        if self.hub is not None:
            self.hub.write(data)

    async def connect_unix(self, fd: int, on_frame: FrameHandler, on_close: CloseHandler | None,
                           label: str, **kwargs: Any) -> FrameConnection:
        """A frame connection over a Unix socket the runner made for this process."""
        sock = socket.socket(fileno=fd)
        sock.setblocking(False)
        conn = FrameConnection(on_frame, on_close, label=label, **kwargs)
        await asyncio.get_running_loop().create_unix_connection(lambda: conn, sock=sock)
        return conn

    async def main(self) -> None:
        raise NotImplementedError

    def stopped(self) -> None:
        """The round is over for this process (SIGTERM): last words before the flush."""

    def finish(self) -> None:
        self.done.set()

    def _from_runner(self, conn: FrameConnection, frame: Any) -> None:
        if frame.type is not wire.FrameType.CONTROL:
            raise wire.RemoteProtocolError(f"unexpected {frame.type.name} frame from the runner")
        self.on_runner(frame.header)

    def on_runner(self, message: dict[str, Any]) -> None:
        """A live action the runner asks of this process (a lecture's step); most roles take none."""
        net.log(self.title, f"ignored a live action it does not take: {message.get('type')!r}")

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self.done.set)
        loop.set_exception_handler(self._internal_error)
        self.clock.listen(loop)
        # The runner went away: the round is over for this process too (the launcher stops it anyway).
        self.hub = await self.connect_unix(self.events_fd, self._from_runner, lambda c, e: self.finish(), "the runner")
        await self.main()
        # What the process has made so far (modules, keys, contexts, its hands) lives as long as
        # the process: keep it out of the garbage collector's sweeps, which a busy proxy runs
        # every few hundred notes; the collector then looks only at what the notes themselves make.
        gc.freeze()
        await self.done.wait()
        self.stopping = True
        self.stopped()
        self.events.flush()

    def _internal_error(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        message = context.get("message", "unhandled error")
        if (isinstance(exc, ConnectionError | ssl.SSLError) and "never retrieved" in str(message)
                and "Task" not in str(message)):
            # uvloop fails a TLS handshake's inner waiter even after the dial that made it was
            # cancelled (a timeout, the process stopping): the peer's reset, which nobody waits
            # for any more, is not a bug of ours.
            return
        detail = "".join(traceback.format_exception(exc)).rstrip() if isinstance(exc, BaseException) else message
        print(f"classroom: {self.title}: internal error (a bug in classroom, not the peer's fault): "
              f"{message}\n{detail}", file=sys.stderr, flush=True)
        with contextlib.suppress(Exception):
            self.events.emit("internal_error", process=self.title, message=str(message),
                             error=repr(exc) if exc is not None else None)
            self.events.flush()



def main(role: type[Role], spec: Spec, fds: list[int]) -> None:
    """Run ``role`` in this (freshly forked) process until the round ends for it.

    With ``CLASSROOM_PROFILE=DIR`` in the environment, each process writes its
    :mod:`cProfile` statistics to ``DIR/<title>.prof`` when it stops (for
    ``python -m pstats``; a developer's tool, see docs/design.md).
    """
    instance = role(spec, fds)
    set_title(instance.title)
    directory = os.environ.get("CLASSROOM_PROFILE")
    if not directory:
        net.run(instance.run())
        return
    import cProfile

    profile = cProfile.Profile()
    try:
        profile.runcall(net.run, instance.run())
    finally:
        name = instance.title.removeprefix("classroom: ").replace(" ", "-").replace("/", "_")[:100]
        profile.dump_stats(os.path.join(directory, f"{name}-{os.getpid()}.prof"))
