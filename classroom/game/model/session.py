"""A round played behind the window: its own thread and event loop, events on a queue.

Theory of operation
-------------------
The window must never wait for the mesh, and the mesh must never wait for the
window.  A :class:`Session` runs one :class:`~classroom.mesh.runtime.round.Round` in a
background thread with its own asyncio loop (uvloop where there is one, as
the mesh's processes use); the round's processes are started and stopped by
the round's launcher as in ``classroom run``.  Every event the office fans
out is

* written to a recording (:class:`~classroom.telemetry.recorder.Recorder`,
  JSON Lines in a temporary file) that the replay scene reads afterwards, and
* put on a thread-safe queue that the window drains once a frame
  (:meth:`Session.drain`); the window applies what it finds and never blocks.

When the round ends, :func:`classroom.report.build_report` judges it, and the
session puts one last event on the queue, ``round_end`` (the same event that
closes the recording), after :attr:`Session.report` is set.

:meth:`Session.stop` ends a round early (reset, closing the window, Ctrl-C,
an exception in the window): it wakes the session's loop, which cancels the
round; ``Round.run`` stops every process on its way out.  Should the thread
not finish in time, the launcher is stopped directly.  A stopped round has no
report.  This module imports no pygame.

Of the mesh, a session uses the round runner only (:mod:`classroom.mesh.runtime.round`),
which forks the round's processes by name and imports none of them
(``tests/test_game_model.py`` checks that the model loads none).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from classroom.level import Level
from classroom.level.script import Step
from classroom.mesh.runtime import net
from classroom.mesh.runtime.round import Round, RoundError, RoundResult
from classroom.report import build_report
from classroom.telemetry.recorder import END, Recorder, header

STOP_WAIT = 10.0  # seconds stop() waits for the round's processes to be gone
KEY_LATCH = 3.0  # seconds a lecturer's key pressed before a script's wait still counts for it


class Session:
    """One round of ``level`` with ``resources``, run in the background."""

    def __init__(
        self,
        level: Level,
        resources: tuple[dict[str, Any], ...],
        seed: int,
        speed: float = 1.0,
        record_dir: str | Path | None = None,
        script: tuple[Step, ...] = (),
        keys: bool = False,
        record_path: str | None = None,
    ) -> None:
        self.level = level
        self.resources = resources
        self.seed = seed
        self.speed = speed
        self.header = header(level, seed, speed)
        if record_path is not None:  # where the lecturer asked for it (teach --record)
            path = record_path
        else:
            fd, path = tempfile.mkstemp(prefix=f"classroom-{level.name}-", suffix=".jsonl",
                                        dir=None if record_dir is None else str(record_dir))
            os.close(fd)
        self.recording_path = path
        self._keep_recording = record_path is not None
        self.report: dict[str, Any] | None = None
        self.error: str | None = None  # why the round could not run
        self.stopped = False  # ended early by stop()
        # A lecture script plays on the round; with ``keys`` its waits (a pause without ``for``,
        # ask, wait_key) last until the lecturer presses a key (press_key), else they are skipped.
        self.said: queue.SimpleQueue[Step] = queue.SimpleQueue()  # what the script says, for the screen
        self._key: asyncio.Event | None = None  # made on the round's loop; latched by press_key
        self._key_pressed_at = 0.0
        self._history: list[dict[str, Any]] = []  # every event so far, for wait_for
        self._seen = threading.Condition()
        self.round = Round(level, resources, seed, speed, script=script, on_say=self.said.put,
                           wait_key=self._wait_key if keys else None)
        self.expected = self.round.expected_notes()
        self._events: queue.SimpleQueue[dict[str, Any]] = queue.SimpleQueue()
        self._recorder = Recorder(path, self.header)
        self._lock = threading.Lock()
        self._stop_requested = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._thread_main, name=f"round-{level.name}", daemon=True)
        self._ended = threading.Event()

    # --- the window's side ----------------------------------------------------------------

    def start(self) -> Session:
        self._thread.start()
        return self

    def drain(self, limit: int | None = None) -> list[dict[str, Any]]:
        """The events that arrived since the last call (at most ``limit``); never blocks."""
        out: list[dict[str, Any]] = []
        while limit is None or len(out) < limit:
            try:
                out.append(self._events.get_nowait())
            except queue.Empty:
                break
        return out

    @property
    def done(self) -> bool:
        """The round is over (finished, failed or stopped) and its processes are gone."""
        return self._ended.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the round is over (for tests and the command line, never the window)."""
        return self._ended.wait(timeout)

    def stop(self, wait: float = STOP_WAIT) -> None:
        """End the round now and stop its processes; idempotent, safe before start()."""
        with self._lock:
            self._stop_requested = True
            loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            with contextlib.suppress(RuntimeError):  # the loop already closed: the round is over
                loop.call_soon_threadsafe(wake.set)
        if self._thread.is_alive():
            self._thread.join(wait)
        if self._thread.is_alive():  # the loop is stuck: stop the processes from here
            self.round.stop()
        elif not self._thread.ident:  # never started
            self._finish({"stopped": True})

    # --- the lecturer's hands on the live round (thread-safe) -------------------------------
    def control(self, action: str, *args: Any) -> bool:
        """A live action on the round (``pause``, ``resume``, ``step``, ``leave``, ``back``, ``cut``,
        ``heal``, ``set`` ...; see :class:`~classroom.mesh.runtime.lecture.Controls`); False if
        the room is not ready yet or the round is over."""
        loop, controls = self._loop, self.round.controls
        if loop is None or controls is None or self.done:
            return False
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(lambda: getattr(controls, action)(*args))
            return True
        return False

    @property
    def paused(self) -> bool:
        """The whole class stands still (its shared clock is stopped)."""
        controls = self.round.controls
        return bool(controls is not None and controls.paused)

    def press_key(self) -> None:
        """The lecturer's key: a script waiting for it goes on.

        The press is latched (an asyncio.Event set on the round's loop, cleared by the wait that
        consumes it), so a key pressed a moment before the script reaches its wait still counts:
        a lecturer who presses Enter as the question comes up is not ignored.  A latched press
        older than :data:`KEY_LATCH` seconds is forgotten when the next wait begins, so a stray
        Enter long ago does not skip a pause the lecturer has not reached yet.
        """
        loop, key = self._loop, self._key
        if loop is not None and key is not None:
            self._key_pressed_at = time.monotonic()
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(key.set)

    async def _wait_key(self) -> None:
        key = self._key
        assert key is not None, "the round's loop made the key"
        if key.is_set() and time.monotonic() - self._key_pressed_at > KEY_LATCH:
            key.clear()  # pressed long before this wait: not meant for it
        await key.wait()
        key.clear()  # consumed: the next wait waits for the next press

    def wait_for(self, kind: str, timeout: float, **fields: Any) -> dict[str, Any] | None:
        """Block until the round has recorded an event of ``kind`` (with these ``fields``), which it
        returns; None at the limit or when the round ended without one.  For tests and scripts
        that drive a window: the window itself never waits."""
        def found() -> dict[str, Any] | None:
            return next((e for e in self._history if e.get("kind") == kind
                         and all(e.get(k) == v for k, v in fields.items())), None)

        with self._seen:
            self._seen.wait_for(lambda: found() is not None or self._ended.is_set(), timeout)
            return found()

    def now(self) -> float:
        """Room time: the clock the round's events carry."""
        return self.round.now()

    def latencies(self) -> list[float]:
        """Delivery times (ms) of the round's delivered notes, as the report counts them."""
        return [float(e["latency"]) * 1000.0 for e in self.round.events
                if e.get("kind") == "result" and e.get("state") == "delivered"
                and isinstance(e.get("latency"), int | float)]

    def discard(self) -> None:
        """Stop the round and remove its recording."""
        self.stop()
        if not self._keep_recording:
            with contextlib.suppress(OSError):
                os.unlink(self.recording_path)

    # --- the round's side ----------------------------------------------------------------

    def _thread_main(self) -> None:
        end: dict[str, Any] = {}
        try:
            result = net.run(self._main())
            if result is None:
                end["stopped"] = True
            else:
                end.update(timed_out=result.timed_out, expected=result.expected)
                self.report = build_report(self.level, self.seed, result.events, result.processes,
                                           self.speed)
        except RoundError as exc:
            end["error"] = self.error = str(exc)
        except Exception as exc:  # the window shows it: the thread must not die silently
            end["error"] = self.error = f"{type(exc).__name__}: {exc}"
        finally:
            end["processes"] = self.round.processes
            self._finish(end)

    async def _main(self) -> RoundResult | None:
        wake = asyncio.Event()
        with self._lock:
            if self._stop_requested:
                return None
            self._loop, self._wake = asyncio.get_running_loop(), wake
            self._key = asyncio.Event()
        self.round.on_event = self._on_event
        playing = asyncio.ensure_future(self.round.run())
        waking = asyncio.ensure_future(wake.wait())
        await asyncio.wait({playing, waking}, return_when=asyncio.FIRST_COMPLETED)
        if playing.done():
            waking.cancel()
            return playing.result()
        playing.cancel()  # Round.run stops every process on its way out
        with contextlib.suppress(asyncio.CancelledError):
            await playing
        return None

    def _on_event(self, event: dict[str, Any]) -> None:
        self._recorder.write(event)
        self._events.put(event)
        with self._seen:
            self._history.append(event)
            self._seen.notify_all()

    def _finish(self, end: dict[str, Any]) -> None:
        if self._ended.is_set():
            return
        self.stopped = bool(end.get("stopped"))
        closing = {"kind": END, "t": self.round.now(), "src": "runner", "events": self._recorder.count, **end}
        self._recorder.close(t=self.round.now(), **end)
        self._events.put(closing)
        self._ended.set()
        with self._seen:
            self._seen.notify_all()
