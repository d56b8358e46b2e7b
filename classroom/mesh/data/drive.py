"""Running a note's journey through a stack: a coroutine, stepped without an asyncio Task.

Theory of operation
-------------------
A note's way through a hand is one coroutine: the outermost layer's
``handle()``, which awaits the next layer's, down to the transport, which
awaits the answer from the next hand.  A busy hand carries thousands of them
at once.  An asyncio Task per note would cost more than the rest of the
hand's work on it (a weak registry entry, a copy of the context, a loop turn
before it even starts: about twice the cost of the layers themselves, as
measured here on uvloop).  The stack never needs what a Task adds: it never
asks for the current task, never gets cancelled, and waits only on futures
(the clock's timers, the link's answers, a student's reply).

So :func:`start` steps the coroutine itself, as a Task's ``__step`` does: run
it until it yields the future it waits on, and resume it when that future is
done.  It starts at once, in the caller's turn of the loop.  When the
coroutine returns, ``on_done`` gets its value; when it raises, the exception
is a bug of ours and goes to the loop's exception handler (the process
reports it as an ``internal_error``), never into the mesh as an outcome.

The answer a try waits for is a :class:`Slot`, not an asyncio future: filled
by the neighbour's ACK (or a reset, or the try's timer), it resumes the note
at once, in that same turn of the loop, as the callbacks of a hand-written
proxy would; an asyncio future would wait for another turn first.  Any other
wait (a backoff, a student's reply) is an ordinary asyncio future.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Generator
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Slot(Generic[T]):
    """A result to come, for one waiter: a minimal future that wakes its waiter at once."""

    __slots__ = ("_done", "_result", "_exception", "_callback", "_asyncio_future_blocking")

    def __init__(self) -> None:
        self._done = False
        self._result: T | None = None
        self._exception: BaseException | None = None
        self._callback: Callable[[Slot[T]], None] | None = None
        self._asyncio_future_blocking = False

    def done(self) -> bool:
        return self._done

    def result(self) -> T:
        if self._exception is not None:
            raise self._exception
        return self._result  # type: ignore[return-value]

    def set_result(self, value: T) -> None:
        if not self._done:
            self._done, self._result = True, value
            self._wake()

    def set_exception(self, exc: BaseException) -> None:
        if not self._done:
            self._done, self._exception = True, exc
            self._wake()

    def add_done_callback(self, callback: Callable[[Slot[T]], None]) -> None:
        if self._done:
            callback(self)
        else:
            self._callback = callback

    def _wake(self) -> None:
        callback, self._callback = self._callback, None
        if callback is not None:
            callback(self)

    def __await__(self) -> Generator[Any, None, T]:
        if not self._done:
            self._asyncio_future_blocking = True
            yield self
        return self.result()


def start(journey: Awaitable[T], on_done: Callable[[T], None] | None = None) -> None:
    """Run ``journey`` (a layer's awaitable, in practice a coroutine) to its end, then ``on_done(result)``."""
    _step(journey.__await__(), on_done)


def _step(steps: Generator[Any, None, Any], on_done: Callable[[Any], None] | None) -> None:
    try:
        waited = steps.send(None)
    except StopIteration as stop:
        if on_done is not None:
            on_done(stop.value)
        return
    except Exception as exc:
        asyncio.get_running_loop().call_exception_handler(
            {"message": "a note's journey through the stack failed", "exception": exc})
        return
    # An awaited future yields itself with _asyncio_future_blocking set, as it does to a Task.
    if getattr(waited, "_asyncio_future_blocking", None) is None:
        steps.close()
        raise RuntimeError(f"the stack may await only futures, not {waited!r}")
    waited._asyncio_future_blocking = False
    waited.add_done_callback(lambda _future: _step(steps, on_done))
