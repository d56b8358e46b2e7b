"""Running the rounds of a grading run: one launcher per worker, workers on the machine's cores.

Theory of operation
-------------------
A grading run is many rounds (submissions × levels × seeds), each a real
round of real processes (:class:`~classroom.mesh.runtime.round.Round`).  Two
costs are paid once rather than per round:

* **the launcher**: starting it is a fresh interpreter importing
  ``cryptography``, ``ssl`` and every role (about 0.6 s of CPU).  Each worker
  starts one and hands it to every round it runs (``Round(launcher=...)``);
  a round then stops only its own processes, and the worker stops the
  launcher when it is done.  A launcher that died (a round reports why) is
  replaced before the next round;
* **the interpreter**: a worker loads the levels once and keeps them.

``workers`` run rounds side by side, each a process of its own (``python
-m classroom.grade.runner``, a job a JSON line in and its outcome a line out
over a socket pair): the runner's own work (reading every event of its
round, building the report) is Python and would share one core behind the
GIL as threads, and what the rounds' processes print (access logs) goes to
the worker's output, which the grader sends to a log or nowhere.  Jobs go
out longest first, so the last round to finish is a short one.  A worker
dies with the grader (``PR_SET_PDEATHSIG``) and its launcher with it, so no
round outlives a grading run.

:func:`run_confirmed` also runs again at speed 1 every round that missed
something at the grading speed (why: :mod:`.speed`), beside the fast ones.

A job is plain data (:class:`RoundJob`) and so is its outcome
(:class:`RoundOutcome`): the run report, or why the round could not run.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import select
import signal
import socket
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, replace
from typing import IO, Any

from classroom.level import Level, LevelError, load_config, load_level

START, SOLUTION = "start", "solution"  # a job's `config` may name the level's own configurations
CONFIRM_SPEED = 1.0  # where a round that missed something at the grading speed is run again
_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class RoundJob:
    """One round to run: a level file, a configuration (a file, or START / SOLUTION), a seed, a speed."""

    key: tuple[Any, ...]  # the caller's name for the job (submission, level, seed ...), given back
    level: str  # the level's file
    config: str  # a configuration file, START (the level's mesh.resources) or SOLUTION
    seed: int
    speed: float
    weight: float = 1.0  # how long the round is expected to take, to start the longest first


@dataclass(frozen=True)
class RoundOutcome:
    key: tuple[Any, ...]
    report: dict[str, Any] | None  # the run report (its processes and links left out), or None
    error: str | None  # why there is no report: the config did not load, the round could not run
    seconds: float  # real time the round took, start-up included
    confirmed: bool = False  # it missed at its job's speed and this is the round run again at speed 1

    @property
    def missed(self) -> bool:
        """Something the round did not meet (an objective, the ledger), or no round at all."""
        report = self.report
        return report is None or not report["ledger_ok"] or any(not o["passed"] for o in report["objectives"])


def expected_length(level: Level) -> float:
    """Room seconds a level's traffic lasts, plus its longest way: what a job's ``weight`` says."""
    span = max((t.every * (t.count - 1) for t in level.traffic), default=0.0)
    away = max((s.behaviour.back_after or 0.0 for s in level.students), default=0.0)
    return span + away + level.room.passing_time * len(level.students)


class Worker:
    """Runs rounds one after another in this process, every one forked from one launcher."""

    def __init__(self) -> None:
        self._levels: dict[str, Level] = {}
        self._launcher: Any = None

    def close(self) -> None:
        """Stop the launcher (and so anything it still has)."""
        if self._launcher is not None:
            self._launcher.stop()
            self._launcher = None

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def level(self, path: str) -> Level:
        if path not in self._levels:
            self._levels[path] = load_level(path)
        return self._levels[path]

    def launcher(self) -> Any:
        from classroom.mesh.runtime.launcher import Launcher

        if self._launcher is not None and self._launcher.proc.poll() is not None:
            self._launcher.stop()  # it died with a round: the next round gets a new one
            self._launcher = None
        if self._launcher is None:
            self._launcher = Launcher()
        return self._launcher

    def run(self, job: RoundJob) -> RoundOutcome:
        started = time.monotonic()
        try:
            level = self.level(job.level)
            if job.config == START:
                resources = level.resources
            elif job.config == SOLUTION:
                if level.solution is None:
                    raise LevelError(level.path, 0, f"level {level.name} has no solution")
                resources = level.solution
            else:
                resources = load_config(job.config, level)
        except LevelError as exc:
            return RoundOutcome(job.key, None, str(exc), time.monotonic() - started)
        except OSError as exc:
            return RoundOutcome(job.key, None, f"{exc.filename}: {exc.strerror}", time.monotonic() - started)
        report, error = self._round(level, resources, job)
        return RoundOutcome(job.key, report, error, time.monotonic() - started)

    def _round(self, level: Level, resources: tuple[dict[str, Any], ...],
               job: RoundJob) -> tuple[dict[str, Any] | None, str | None]:
        from classroom.mesh.runtime import net
        from classroom.mesh.runtime.launcher import LaunchError
        from classroom.mesh.runtime.round import Round, RoundError
        from classroom.report import build_report

        try:
            round_ = Round(level, resources, job.seed, job.speed, launcher=self.launcher())
            result = net.run(round_.run())
        except (RoundError, LaunchError, OSError) as exc:
            return None, f"the round could not run: {exc}"
        report = build_report(level, job.seed, result.events, result.processes, job.speed)
        report.pop("processes", None)  # pids and links: nothing a grade reads, and the bulk of a report
        report.pop("links", None)
        if result.timed_out:
            report["timed_out"] = True
        return report, None


def run_jobs(jobs: Iterable[RoundJob], workers: int = 1, on_done: Callable[[RoundOutcome], None] | None = None,
             log: IO[Any] | int | None = subprocess.DEVNULL) -> list[RoundOutcome]:
    """Run every job, ``workers`` at a time; the outcomes in the jobs' order.

    ``log`` gets what the rounds' processes write (access logs, errors): by default nothing does,
    so a grading run prints only its own lines; None leaves them on this process's stderr.
    """
    return _run(list(jobs), workers, on_done, None, log)


def run_confirmed(jobs: Iterable[RoundJob], workers: int = 1,
                  on_done: Callable[[RoundOutcome], None] | None = None,
                  on_confirm: Callable[[int], None] | None = None,
                  log: IO[Any] | int | None = subprocess.DEVNULL) -> list[RoundOutcome]:
    """Run every job as :func:`run_jobs` does, and every job whose round missed something at a speed
    above :data:`CONFIRM_SPEED` once more at that speed: the second round's outcome stands.

    A faster room pays more room time for the machine's own delays, so a configuration that passes
    fast passes at speed 1 too, while a miss may be the machine's: it is confirmed (or not) where
    the machine's delays are smallest.  A confirming round starts as soon as its miss is known,
    beside the fast ones (at most ``workers`` of each at once): it mostly waits, so it takes little
    from them.  ``on_confirm`` hears of each round that goes again, before it starts.
    """
    return _run(list(jobs), workers, on_done, on_confirm or (lambda count: None), log)


def _run(ordered: list[RoundJob], workers: int, on_done: Callable[[RoundOutcome], None] | None,
         on_confirm: Callable[[int], None] | None, log: IO[Any] | int | None) -> list[RoundOutcome]:
    """The scheduler: fast jobs longest first, ``workers`` at a time; with ``on_confirm``, confirming
    rounds first whenever one waits, ``workers`` more at a time."""
    limit = max(1, workers)
    fast = deque(sorted(range(len(ordered)), key=lambda i: -ordered[i].weight))
    again: deque[int] = deque()
    outcomes: dict[int, RoundOutcome] = {}
    pool: list[_Remote] = []
    idle: list[_Remote] = []
    busy: dict[_Remote, tuple[int, bool]] = {}  # worker -> (job, whether it is a confirming round)
    try:
        while fast or again or busy:
            while True:
                confirming = sum(1 for _, second in busy.values() if second)
                if again and confirming < limit:
                    i, second = again.popleft(), True
                    job = replace(ordered[i], speed=CONFIRM_SPEED, weight=ordered[i].weight * ordered[i].speed)
                elif fast and len(busy) - confirming < limit:
                    i, second = fast.popleft(), False
                    job = ordered[i]
                else:
                    break
                if not idle:
                    pool.append(_Remote(log))
                    idle.append(pool[-1])
                remote = idle.pop()
                remote.send(job)
                busy[remote] = (i, second)
            ready, _, _ = select.select(list(busy), [], [])
            for remote in ready:
                i, second = busy.pop(remote)
                outcome = remote.receive()
                idle.append(remote)
                if second:
                    outcome = replace(outcome, seconds=outcomes[i].seconds + outcome.seconds, confirmed=True)
                elif (on_confirm is not None and ordered[i].speed > CONFIRM_SPEED and outcome.missed
                      and not _not_loaded(outcome)):
                    again.append(i)
                    on_confirm(1)
                outcomes[i] = outcome
                if on_done is not None:
                    on_done(outcome)
    finally:
        for remote in pool:
            remote.close()
    return [outcomes[i] for i in range(len(ordered))]


def _not_loaded(outcome: RoundOutcome) -> bool:
    """No round ran because the configuration did not load: another speed would not change that."""
    return outcome.report is None and not (outcome.error or "").startswith("the round could not run")


class WorkerError(Exception):
    """A worker process went away in the middle of a round."""


class _Remote:
    """A worker process (``python -m classroom.grade.runner FD``): a job a line in, its outcome a line out.

    The line is a socket pair of its own, not the worker's stdout, which the rounds' processes share.
    """

    def __init__(self, log: IO[Any] | int | None) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self.proc = subprocess.Popen([sys.executable, "-m", "classroom.grade.runner", str(theirs.fileno())],
                                     pass_fds=[theirs.fileno()], stdout=log, stderr=log)
        theirs.close()
        self._sock = ours
        self._reader = ours.makefile("rb")

    def fileno(self) -> int:
        return self._sock.fileno()

    def send(self, job: RoundJob) -> None:
        self._sock.sendall(json.dumps(asdict(job)).encode() + b"\n")

    def receive(self) -> RoundOutcome:
        line = self._reader.readline()
        if not line:
            raise WorkerError(f"a grading worker (pid {self.proc.pid}) ended in the middle of a round")
        data = json.loads(line)
        return RoundOutcome(tuple(data["key"]), data["report"], data["error"], data["seconds"])

    def close(self) -> None:
        """End the worker: its line closes, it stops its launcher and exits."""
        with contextlib.suppress(OSError):
            self._reader.close()  # the file holds the socket open: both must close for the worker to see EOF
            self._sock.close()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()  # its launcher sees its line close and stops every process it forked
            self.proc.wait()


def _serve(fd: int) -> None:
    """A worker process: run the jobs that arrive on ``fd``, one at a time, until it closes."""
    with contextlib.suppress(OSError, AttributeError):  # end with the grader, whatever it died of
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    sock = socket.socket(fileno=fd)
    with Worker() as worker, sock.makefile("rb") as lines:
        for line in lines:
            data = json.loads(line)
            job = RoundJob(**{**data, "key": tuple(data["key"])})
            sock.sendall(json.dumps(asdict(worker.run(job))).encode() + b"\n")


if __name__ == "__main__":
    try:
        _serve(int(sys.argv[1]))
    except KeyboardInterrupt:  # Ctrl-C reaches the whole group: the grader says so, once
        sys.exit(130)
