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
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def start(coro: Coroutine[Any, Any, T], on_done: Callable[[T], None] | None = None) -> None:
    """Run ``coro`` to its end, calling ``on_done(result)`` then."""
    _step(coro, on_done)


def _step(coro: Coroutine[Any, Any, Any], on_done: Callable[[Any], None] | None) -> None:
    try:
        waited = coro.send(None)
    except StopIteration as stop:
        if on_done is not None:
            on_done(stop.value)
        return
    except Exception as exc:
        asyncio.get_running_loop().call_exception_handler(
            {"message": "a note's journey through the stack failed", "exception": exc})
        return
    # An awaited asyncio future yields itself with _asyncio_future_blocking set, as it does to a Task.
    if getattr(waited, "_asyncio_future_blocking", None) is None:
        coro.close()
        raise RuntimeError(f"the stack may await only futures, not {waited!r}")
    waited._asyncio_future_blocking = False
    waited.add_done_callback(lambda _future: _step(coro, on_done))
