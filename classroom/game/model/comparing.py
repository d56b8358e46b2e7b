"""A comparison run behind the window: one ``classroom compare`` per mesh, one after another.

Theory of operation
-------------------
The window's compare screen shows what ``classroom compare LEVEL`` prints:
the same class under each mesh's defaults, every round real.  Rather than
run the rounds in the window's own process, :class:`Comparison` starts the
command itself once per profile (``--profiles NAME --json``), in a process
group of its own, so a row appears as soon as its mesh's round is done and
Esc can stop everything at once (:meth:`Comparison.stop` ends the group: the
round's launcher and every student and proxy go with it, as on Ctrl-C).

:meth:`Comparison.poll` is called once a frame and never blocks: it reads
the finished command's last line (one JSON object, the command line's
contract) and starts the next.  A command that fails leaves its row as the
one line it printed on stderr, and the others go on.

No pygame here; the scene (:mod:`classroom.game.ui.scenes.compare`) draws it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import IO, Any

# What the screen shows of each row, in order: (title, how a row's value reads).
ROWS: list[tuple[str, Any]] = [
    ("proxies", lambda r: f"{r['proxy_processes']} ({r['architecture']})"),
    ("delivered", lambda r: f"{r['delivered']}/{r['sent']}"),
    ("teacher read", lambda r: str(r["teacher_read"])),
    ("forgeries believed", lambda r: str(r["forged_accepted"])),
    ("retries", lambda r: str(r["retries"])),
    ("p50 / p99 ms", lambda r: f"{r['p50_ms']:.0f} / {r['p99_ms']:.0f}"),
    ("memory (PSS)", lambda r: "?" if r["pss_mb"] is None else f"{r['pss_mb']:.0f} MB"),
    ("proxy CPU / 1k notes", lambda r: "?" if r["cpu_s_per_1000_notes"] is None
     else f"{r['cpu_s_per_1000_notes']:.1f} s"),
    ("status", lambda r: "retired" if r["retired"] else "maintained"),  # the scene says dormant or retired
]


@dataclass
class Entry:
    profile: str
    row: dict[str, Any] | None = None
    error: str | None = None
    started: float | None = None
    finished: float | None = None

    @property
    def done(self) -> bool:
        return self.row is not None or self.error is not None


@dataclass
class Comparison:
    level: str  # a level's name or file, as the command line takes it
    profiles: Sequence[str]
    speed: float = 1.0
    entries: list[Entry] = field(default_factory=list)
    _proc: subprocess.Popen[str] | None = None
    _out: IO[str] | None = None
    _err: IO[str] | None = None

    def __post_init__(self) -> None:
        self.entries = [Entry(name) for name in self.profiles]

    @property
    def done(self) -> bool:
        return all(entry.done for entry in self.entries)

    @property
    def running(self) -> Entry | None:
        return next((e for e in self.entries if e.started is not None and not e.done), None)

    def poll(self) -> None:
        """Collect a finished round and start the next; never waits."""
        if self._proc is not None:
            if self._proc.poll() is None:
                return
            self._collect()
        waiting = next((e for e in self.entries if e.started is None), None)
        if waiting is not None:
            self._start(waiting)

    def _start(self, entry: Entry) -> None:
        self._out = tempfile.TemporaryFile("w+")  # noqa: SIM115 - kept open across frames, closed in _close
        self._err = tempfile.TemporaryFile("w+")  # noqa: SIM115 - as _out
        command = [sys.executable, "-m", "classroom.cli", "compare", self.level, "--profiles", entry.profile,
                   "--json", "--speed", f"{self.speed:g}"]
        entry.started = time.monotonic()
        self._proc = subprocess.Popen(command, stdout=self._out, stderr=self._err, stdin=subprocess.DEVNULL,
                                      text=True, start_new_session=True,
                                      env={**os.environ, "COLUMNS": "200"})

    def _collect(self) -> None:
        proc, entry = self._proc, self.running
        assert proc is not None and entry is not None and self._out is not None and self._err is not None
        self._out.seek(0)
        self._err.seek(0)
        lines = self._out.read().strip().splitlines()
        err = [line for line in self._err.read().splitlines() if line.strip()]
        entry.finished = time.monotonic()
        try:
            entry.row = json.loads(lines[-1])["profiles"][entry.profile]
        except (IndexError, ValueError, KeyError, TypeError):
            entry.error = err[-1] if err else f"classroom compare ended with exit {proc.returncode} and no table"
        self._close()

    def _close(self) -> None:
        for stream in (self._out, self._err):
            if stream is not None:
                stream.close()
        self._proc = self._out = self._err = None

    def stop(self) -> None:
        """End the round under way and everything it started; rounds not begun never start."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)  # the command stops its round and its processes
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        for entry in self.entries:
            if not entry.done:
                entry.error = "stopped"
        self._close()
