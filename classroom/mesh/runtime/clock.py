"""The round's clock: the only way any process of a round learns the time.

Theory of operation
-------------------
A round has one *room time*: seconds on the same epoch as Unix time, which
start at the wall-clock time the round was made and then run at the round's
``rate`` (its ``--speed``: at 4 a level's 400 ms pass takes 100 ms of real
time), or stand still while the class is paused.  Every time a level writes
(passing times, timeouts, intervals, ejections, card lifetimes) is room time,
so nothing in the mesh divides by a speed, and a report's latencies mean the
same at any speed.

The room time is shared by every process of the round through a small file
the runner makes (:class:`SharedClock`), mapped into memory by each process
(:class:`RoomClock`)::

    +---------+-------------+-------------+------+
    | seq u64 | anchor_mono | anchor_room | rate |   (three f64)
    +---------+-------------+-------------+------+
    room = anchor_room + (CLOCK_MONOTONIC - anchor_mono) * rate

``CLOCK_MONOTONIC`` is one clock for every process of the machine, so they
all read the same room time.  Only the runner writes the file (a pause, a
step, a change of rate); it then signals each process (``SIGUSR1``), whose
clock re-reads the file and moves every timer it holds to the real moment
its room time now falls on.  A timer that fires also re-reads the file and
waits on if its room time has not come (a process the signal missed cannot
fire early).  Paused (rate 0), no timer fires at all.

Timers are the only way to wait: :meth:`Clock.call_at` and
:meth:`Clock.call_later` give a :class:`Timer` to cancel; :meth:`Clock.sleep`
and :meth:`Clock.wait` (a future, or ``TimeoutError`` at a room time) are
built on them (:meth:`Clock.due` for a future the caller owns, cheaper).
None of them needs a current asyncio task, so the proxy's
stack can wait without one (:mod:`classroom.mesh.data.drive`).

:class:`FakeClock` is the same interface on a time that tests move by hand
(:meth:`FakeClock.advance`), as linkerd2-proxy tests its breakers on a
controlled clock: no sleeping, no jitter from the machine.

``wall()`` is real Unix time, for what the machine itself checks against
real time: the validity of certificates (OpenSSL reads the system clock).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import mmap
import os
import signal
import struct
import tempfile
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")
_LAYOUT = struct.Struct("<Qddd")  # seq, anchor_mono, anchor_room, rate
SIZE = _LAYOUT.size
CHANGED = signal.SIGUSR1
# uvloop's timers have millisecond resolution: a timer that fires this early counts as due.
EARLY = 0.0015


class Timer:
    """A callback at a room time; :meth:`cancel` it if it is no longer wanted."""

    __slots__ = ("when", "_callback", "_args", "_handle", "_clock", "cancelled")

    def __init__(self, clock: Clock, when: float, callback: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self.when = when
        self._callback = callback
        self._args = args
        self._handle: asyncio.Handle | None = None
        self._clock = clock
        self.cancelled = False

    def cancel(self) -> None:
        if not self.cancelled:
            self.cancelled = True
            self._clock._forget(self)
            if self._handle is not None:
                self._handle.cancel()
                self._handle = None

    def _run(self) -> None:
        self._callback(*self._args)


class Clock:
    """What every clock offers; subclasses say what *now* is and how a timer is armed."""

    def now(self) -> float:
        raise NotImplementedError

    def wall(self) -> float:
        """Real Unix time (for certificates, which the TLS library checks against it)."""
        return time.time()

    @property
    def rate(self) -> float:
        """Room seconds per real second (0 while paused)."""
        raise NotImplementedError

    def call_at(self, when: float, callback: Callable[..., Any], *args: Any) -> Timer:
        timer = Timer(self, when, callback, args)
        self._arm(timer)
        return timer

    def call_later(self, delay: float, callback: Callable[..., Any], *args: Any) -> Timer:
        return self.call_at(self.now() + max(delay, 0.0), callback, *args)

    async def sleep(self, delay: float) -> None:
        await self.sleep_until(self.now() + max(delay, 0.0))

    async def sleep_until(self, when: float) -> None:
        if when <= self.now():
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        timer = self.call_at(when, _resolve, future)
        try:
            await future
        finally:
            timer.cancel()

    async def wait(self, awaitable: Awaitable[T], until: float) -> T:
        """The result of ``awaitable``, or TimeoutError once room time reaches ``until``.

        On a timeout, or if the waiter itself is cancelled (a process stopping), the awaitable is
        cancelled too (as ``asyncio.wait_for`` does): nothing it started is left running with an
        outcome nobody reads.  Other waiters of the same future are not disturbed until then.
        """
        future = asyncio.ensure_future(awaitable)
        if future.done():
            return future.result()
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def wake(_: Any = None) -> None:
            if not waiter.done():
                waiter.set_result(None)

        future.add_done_callback(wake)
        timer = self.call_at(until, wake)
        try:
            await waiter
        finally:
            timer.cancel()
            future.remove_done_callback(wake)
            timed_out = not future.done()
            if timed_out:  # (or our waiter was cancelled): what we waited for goes too
                future.cancel()
            future.add_done_callback(_retrieve)  # read, whichever way we leave: never "never retrieved"
        if timed_out or future.cancelled():
            raise TimeoutError
        return future.result()

    async def due(self, future: Any, until: float) -> Any:
        """The result of a future the caller owns, which fails with TimeoutError at ``until``.

        Cheaper than :meth:`wait` (one timer, no second future), for the futures a layer makes
        for itself, such as a try's answer (anything with ``done``, ``set_exception`` and
        ``__await__``: an asyncio future, or the stack's :class:`~classroom.mesh.data.drive.Slot`).
        """
        if future.done():
            return future.result()
        timer = self.expire_at(future, until)
        try:
            return await future
        finally:
            timer.cancel()

    def expire_at(self, future: Any, until: float) -> Timer:
        """Fail ``future`` with TimeoutError at ``until`` unless it is done by then (cancel the timer
        once it is): :meth:`due` without its own frame, for the proxy's hottest wait."""
        return self.call_at(until, _expire, future)

    # --- for subclasses --------------------------------------------------------------------------
    def _arm(self, timer: Timer) -> None:
        raise NotImplementedError

    def _forget(self, timer: Timer) -> None:
        pass


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _retrieve(future: asyncio.Future[Any]) -> None:
    """Read a cancelled future's outcome, so that asyncio does not report it as never retrieved."""
    if not future.cancelled():
        future.exception()


def _expire(future: Any) -> None:
    if not future.done():
        future.set_exception(TimeoutError())


class RoomClock(Clock):
    """A process's view of the round's shared clock (see the module docstring)."""

    def __init__(self, path: str | None = None, *, rate: float = 1.0) -> None:
        self._map: mmap.mmap | None = None
        if path is not None:
            fd = os.open(path, os.O_RDONLY)
            try:
                self._map = mmap.mmap(fd, SIZE, prot=mmap.PROT_READ)
            finally:
                os.close(fd)
            self._seq, self._anchor_mono, self._anchor_room, self._rate = _LAYOUT.unpack_from(self._map)
        else:  # a private clock: this process alone, at a fixed rate from now
            self._seq, self._anchor_mono, self._anchor_room, self._rate = 0, time.monotonic(), time.time(), rate
        self._timers: set[Timer] = set()
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def rate(self) -> float:
        return self._rate

    def now(self) -> float:
        return self._anchor_room + (time.monotonic() - self._anchor_mono) * self._rate

    def listen(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """Re-read the shared clock whenever the runner signals a change (call once, in the loop)."""
        self._loop = loop or asyncio.get_running_loop()
        if self._map is not None:
            self._loop.add_signal_handler(CHANGED, self.refresh)
            self.refresh()  # a change made before the handler was in place

    def refresh(self) -> None:
        """Read the shared clock again; if it changed, move every timer to its new real moment."""
        if self._map is None:
            return
        for _ in range(100):  # a seqlock: an odd or moving seq means the runner is writing
            seq, mono, room, rate = _LAYOUT.unpack_from(self._map)
            if seq % 2 == 0 and _LAYOUT.unpack_from(self._map)[0] == seq:
                break
        if seq == self._seq:
            return
        self._seq, self._anchor_mono, self._anchor_room, self._rate = seq, mono, room, rate
        for timer in list(self._timers):
            self._schedule(timer)

    def _loop_now(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    def _arm(self, timer: Timer) -> None:
        self._timers.add(timer)
        self._schedule(timer)

    def _forget(self, timer: Timer) -> None:
        self._timers.discard(timer)

    def _schedule(self, timer: Timer) -> None:
        if timer._handle is not None:
            timer._handle.cancel()
            timer._handle = None
        left = timer.when - self.now()
        if left <= 0:  # due (a step may make timers due while the class stays paused)
            timer._handle = self._loop_now().call_soon(self._fire, timer)
        elif self._rate > 0:
            timer._handle = self._loop_now().call_later(left / self._rate, self._fire, timer)
        # else paused: armed again when the clock moves

    def _fire(self, timer: Timer) -> None:
        timer._handle = None
        if timer.cancelled:
            return
        self.refresh()
        if timer._handle is not None:
            return  # the refresh moved it
        if self.now() + EARLY * self._rate < timer.when:
            self._schedule(timer)  # not yet in room time (the clock slowed or paused)
            return
        self._timers.discard(timer)
        timer.cancelled = True
        timer._run()


class SharedClock:
    """The runner's handle on the round's clock file: it alone writes it.

    The file lives in ``/dev/shm`` where there is one (memory, not disk); each
    process of the round opens it by :attr:`path` (see :class:`RoomClock`).
    """

    def __init__(self, rate: float = 1.0, start: float | None = None) -> None:
        folder = "/dev/shm" if os.path.isdir("/dev/shm") else None
        fd, self.path = tempfile.mkstemp(prefix="classroom-clock-", dir=folder)
        try:
            os.ftruncate(fd, SIZE)
            self._map = mmap.mmap(fd, SIZE)
        finally:
            os.close(fd)
        self._seq = 0
        self._mono = time.monotonic()
        self._room = time.time() if start is None else start
        self._rate = rate
        self._write()
        self.pids: list[int] = []  # who to tell when the clock changes
        # Told of every change too: a host's joined laptops follow the clock over the network.
        self.listeners: list[Callable[[], None]] = []

    @property
    def rate(self) -> float:
        return self._rate

    @property
    def paused(self) -> bool:
        return self._rate == 0

    def now(self) -> float:
        return self._room + (time.monotonic() - self._mono) * self._rate

    def set_rate(self, rate: float) -> None:
        """Room seconds per real second from now on; 0 pauses the class."""
        mono = time.monotonic()
        self._room = self._room + (mono - self._mono) * self._rate
        self._mono = mono
        self._rate = max(rate, 0.0)
        self._write()
        self._tell()

    def advance(self, seconds: float) -> None:
        """Move room time on by ``seconds`` at once (a step while paused)."""
        self.set_rate(self._rate)  # re-anchor at now
        self._room += max(seconds, 0.0)
        self._write()
        self._tell()

    def follow(self, room: float, rate: float) -> None:
        """Room time is ``room`` now, running at ``rate``: a laptop's copy of the host's clock."""
        self._mono = time.monotonic()
        self._room = room
        self._rate = max(rate, 0.0)
        self._write()
        self._tell()

    def _write(self) -> None:
        self._seq += 1  # odd: writing
        self._map[:8] = struct.pack("<Q", self._seq)
        self._seq += 1
        _LAYOUT.pack_into(self._map, 0, self._seq, self._mono, self._room, self._rate)

    def _tell(self) -> None:
        for pid in self.pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, CHANGED)
        for listener in self.listeners:
            listener()

    def close(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self._map.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)


class FakeClock(Clock):
    """A clock for tests: time moves only when :meth:`advance` says so."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self._now = start
        self._heap: list[tuple[float, int, Timer]] = []
        self._order = itertools.count()

    @property
    def rate(self) -> float:
        return 1.0

    def now(self) -> float:
        return self._now

    def wall(self) -> float:
        return self._now

    def _arm(self, timer: Timer) -> None:
        heapq.heappush(self._heap, (timer.when, next(self._order), timer))

    async def settle(self) -> None:
        """Let every coroutine that can run, run (a few turns of the loop)."""
        for _ in range(20):
            await asyncio.sleep(0)

    async def advance(self, seconds: float) -> None:
        """Move time on by ``seconds``, firing every timer due on the way, in order."""
        end = self._now + seconds
        await self.settle()
        while self._heap and self._heap[0][0] <= end:
            when, _, timer = heapq.heappop(self._heap)
            if timer.cancelled:
                continue
            self._now = max(self._now, when)
            timer.cancelled = True
            timer._run()
            await self.settle()
        self._now = end
        await self.settle()
