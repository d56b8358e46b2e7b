"""Garbage collection between frames, never in the middle of one.

Theory of operation
-------------------
A round keeps every event it was told (the report judges them), tens of
thousands of small objects, and CPython's automatic collector scans all of
them whenever its oldest generation is due: 60 to 100 ms in a big room, a
dropped frame every second or so.  :class:`FrameCollector` turns automatic
collection off while the window runs and collects the young generations
itself after each frame (cheap: only objects made since), and the whole heap
only at a quiet moment the app chooses (a scene switch), then turns automatic
collection back on when the window closes.

It also shortens the interpreter's thread switch interval while the window
runs (:data:`SWITCH_SECONDS`): the objectives are judged in a thread of their
own, and a frame should not wait the default 5 ms for its turn.
"""

from __future__ import annotations

import gc
import sys

YOUNG_EVERY = 30  # frames between two collections of the middle generation
SWITCH_SECONDS = 0.001  # how long another thread may hold the interpreter before a frame gets it back


class FrameCollector:
    """Collects garbage between frames (see the module docstring); :meth:`close` undoes it."""

    def __init__(self) -> None:
        self._was_enabled = gc.isenabled()
        self._switch = sys.getswitchinterval()
        self._frames = 0
        gc.disable()
        sys.setswitchinterval(SWITCH_SECONDS)

    def after_frame(self) -> None:
        """Collect what the frame left (generation 0), and now and then generation 1."""
        self._frames += 1
        gc.collect(1 if self._frames % YOUNG_EVERY == 0 else 0)

    def quiet_moment(self) -> None:
        """Nothing is animating (a scene switch): collect everything."""
        gc.collect()

    def close(self) -> None:
        """Automatic collection and the thread switch interval as they were."""
        sys.setswitchinterval(self._switch)
        if self._was_enabled:
            gc.enable()
