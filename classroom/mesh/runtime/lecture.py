"""A lecture's hands on a running round: pause the whole class, step it, change it live.

Theory of operation
-------------------
:class:`Controls` acts on a :class:`~classroom.mesh.runtime.round.Round` that is
running, each action real and recorded as an event of the round (``src:
runner``):

* **time** — ``pause`` stops the round's shared clock (rate 0): no note
  moves through the aisles, no timer of any process fires, no timeout runs;
  ``resume`` sets the round's speed again, ``step`` moves room time on by an
  amount while paused, ``speed`` plays in slow motion.  Every process reads
  the one clock, so the whole class stands still, not just the view.  (The
  ID cards' validity is checked by OpenSSL against the machine's clock: a
  pause of minutes ages a card of seconds.)
* **rules** — ``set`` merges resources into the ones in force (``kubectl
  apply``), compiles the policy and sends it down the runner's line to the
  office, which pushes a new configuration version to every proxy; each
  acknowledges it (``config_acked`` with the version), so the propagation
  shows.  A hand whose mTLS mode changes tells each open connection the new
  mode refuses to go away (GOAWAY: the tries on it finish).
* **the room** — ``leave`` / ``back`` send a student out of the room and back
  (she drops her connection to her sidecar, whose hand tells the office, which
  routes around her), ``kill`` SIGKILLs a student's sidecar, ``cut`` /
  ``slow`` / ``heal`` start and end faults on a link in the aisles.

:func:`play` runs a lecture script (:mod:`classroom.level.script`) on a
round: each step at its room time since the class started.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from classroom.level import Level
from classroom.level.script import Step, merge
from classroom.mesh.control.cilium import room_drops, teacher_drops
from classroom.mesh.control.compile import mesh_policy
from classroom.mesh.runtime import net, wire
from classroom.mesh.runtime.clock import SharedClock
from classroom.mesh.runtime.hub import Hub


class Round(Protocol):
    """What the controls use of a running :class:`~classroom.mesh.runtime.round.Round`."""

    level: Level
    resources: tuple[dict[str, Any], ...]
    speed: float
    clock: SharedClock | None
    hub: Hub | None
    lines: dict[str, Any]
    processes: list[dict[str, Any]]

CONTROL = wire.FrameType.CONTROL


class Controls:
    """Live actions on a running round."""

    def __init__(self, round_: Round) -> None:
        self.round = round_
        self.resources = tuple(round_.resources)  # the rules in force, as the last push left them
        self.paused = False
        self.rate = 1.0  # slow motion: the share of the round's speed room time runs at when not paused

    @property
    def _clock(self) -> Any:
        assert self.round.clock is not None, "the round has not started"
        return self.round.clock

    def _emit(self, kind: str, **fields: Any) -> None:
        assert self.round.hub is not None
        self.round.hub.emit(kind, **fields)

    def _tell(self, line: str, message: dict[str, Any]) -> bool:
        conn = self.round.lines.get(line)
        return conn is not None and conn.send(CONTROL, message)

    # --- time ----------------------------------------------------------------------------------------
    def pause(self, say: str = "") -> None:
        if not self.paused:
            self.paused = True
            self._clock.set_rate(0.0)
            self._emit("paused", say=say)

    def resume(self) -> None:
        if self.paused:
            self.paused = False
            self._clock.set_rate(self.round.speed * self.rate)
            self._emit("resumed")

    def step(self, seconds: float) -> None:
        """Room time on by ``seconds``, the class still paused (paused first if it was not)."""
        self.pause()
        self._clock.advance(seconds)
        self._emit("stepped", seconds=seconds)

    def slow_motion(self, rate: float) -> None:
        """Play at ``rate`` of the round's speed (1: normal again); a paused class stays paused and
        takes the rate when it resumes."""
        self.rate = rate
        if not self.paused:
            self._clock.set_rate(self.round.speed * rate)
        self._emit("rate_changed", rate=rate)

    # --- rules ---------------------------------------------------------------------------------------
    def set(self, resources: tuple[dict[str, Any], ...]) -> None:
        """A live rule change: the office pushes a new version to every proxy."""
        level = self.round.level
        self.resources = merge(self.resources, resources)
        policy = mesh_policy(self.resources, level.profile, level.name)
        pushed = [f"{r.get('kind')}/{(r.get('metadata') or {}).get('name')}" for r in resources]
        self._emit("rules_set", resources=pushed)
        if not self._tell("office", {"type": "policy", "policy": policy.to_json(), "resources": pushed}):
            self._emit("live_action_failed", action="set", reason="the office is gone: no one to push the rules")
        # Cilium's agent programs the kernel as it configures the proxies: the room network's drops too.
        labels = {s.name: {"app": s.name, **dict(s.labels)} for s in level.students}
        self._tell("aisles", {"type": "network_policy",
                              "drops": [list(d) for d in room_drops(policy.network, labels, level.room.links)
                                        + room_drops(policy.network, labels, [(b, a) for a, b in level.room.links])
                                        + teacher_drops(policy.network, labels)]})

    # --- the room ------------------------------------------------------------------------------------
    def leave(self, student: str) -> None:
        self._student(student, "leave")

    def back(self, student: str) -> None:
        self._student(student, "back")

    def _student(self, student: str, action: str) -> None:
        self._emit("live_action", action=action, student=student)
        if not self._tell(f"student {student}", {"type": action}):
            self._emit("live_action_failed", action=action, student=student, reason=f"{student} is gone")

    def kill(self, student: str) -> None:
        """Her proxy dies (SIGKILL): the office takes her off the routes, and with a row's proxy (cilium,
        traffic) every desk it serves (``desks`` names them: the blast radius)."""
        for process in self.round.processes:
            if process.get("role") == "proxy" and student in process.get("serves", ()):
                self._emit("live_action", action="kill", student=student, pid=process["pid"],
                           desks=list(process.get("serves", ())))
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process["pid"], signal.SIGKILL)
                return
        self._emit("live_action_failed", action="kill", student=student,
                   reason=f"no sidecar of {student}'s own to kill (a shared per-row proxy is not killed here)")

    def behave(self, student: str, drops: float | None = None, refuses: bool | None = None) -> None:
        """A classmate starts (or stops) dropping or refusing the notes handed to her: her hand changes."""
        changes = {k: v for k, v in (("drops", drops), ("refuses", refuses)) if v is not None}
        self._emit("live_action", action="behave", student=student, **changes)
        for process in self.round.processes:
            serves = process.get("serves", ())
            # The runner names a proxy's line after the hands it serves ("proxy ben", "proxy a+b+c").
            if (process.get("role") == "proxy" and student in serves
                    and self._tell(f"proxy {'+'.join(serves)}", {"type": "behave", "hand": student, **changes})):
                return
        self._emit("live_action_failed", action="behave", student=student, reason=f"{student}'s proxy is gone")

    def teacher(self, **changes: bool) -> None:
        """The teacher starts or stops eavesdropping, catching (confiscating) or forging."""
        self._emit("live_action", action="teacher", **changes)
        if not self._tell("teacher", {"type": "teacher", **changes}):
            self._emit("live_action_failed", action="teacher", reason="this class has no teacher in the aisle")

    def teacher_does(self, switch: str, on: bool) -> None:
        """One of the teacher's switches (``eavesdrops``, ``catches``, ``forges``), for callers that pass
        arguments by position (the window's session)."""
        self.teacher(**{switch: on})

    def cut(self, link: tuple[str, str]) -> None:
        self._aisle({"type": "fault", "kind": "partition", "links": [list(link)]}, "cut", link)

    def slow(self, link: tuple[str, str], latency: float) -> None:
        self._aisle({"type": "fault", "kind": "latency", "links": [list(link)], "latency": latency}, "slow", link)

    def heal(self, link: tuple[str, str]) -> None:
        self._aisle({"type": "heal", "links": [list(link)]}, "heal", link)

    def _aisle(self, message: dict[str, Any], action: str, link: tuple[str, str]) -> None:
        self._emit("live_action", action=action, link=list(link))
        if not self._tell("aisles", message):
            self._emit("live_action_failed", action=action, link=list(link),
                       reason="this round has no aisles (or they are gone)")


async def play(controls: Controls, steps: tuple[Step, ...], started_at: float,
               say: Callable[[Step], None] | None = None,
               wait_key: Callable[[], Awaitable[None]] | None = None) -> None:
    """Run ``steps`` on the round, each at its room time since ``started_at`` (the class's start).

    ``wait_key`` is how a window waits for the lecturer's key (a pause without ``for``, a
    ``wait_key`` step); without one (headless, ``--autoplay``) those waits are skipped.
    """
    for step in steps:
        try:
            if step.at is not None:
                await _until_room_time(controls, started_at + step.at)
            controls._emit("script_step", do=step.do, line=step.line, say=step.say)
            await _act(controls, step, say, wait_key)
        except Exception as exc:  # one clear line and an event; the round goes on without the script
            reason = f"{type(exc).__name__}: {exc}"
            net.log("runner", f"lecture script: step {step.do!r} (line {step.line}) failed, "
                              f"the script stops there: {reason}")
            controls._emit("script_failed", do=step.do, line=step.line, reason=reason)
            return


async def _act(controls: Controls, step: Step, say: Callable[[Step], None] | None,
               wait_key: Callable[[], Awaitable[None]] | None) -> None:
    level = controls.round.level
    if say is not None and (step.say or step.do == "ask" or step.notes):
        say(step)
    do = step.do
    if do == "pause":
        controls.pause(step.say)
        if step.seconds is not None:
            await asyncio.sleep(step.seconds)
            controls.resume()
        elif wait_key is not None:
            await wait_key()
            controls.resume()
        else:
            controls.resume()  # headless: a pause that waits for a key is skipped
    elif do == "resume":
        controls.resume()
    elif do == "step":
        controls.step(step.seconds if step.seconds is not None else level.room.passing_time or 0.1)
    elif do == "speed":
        controls.slow_motion(step.rate or 1.0)
    elif do == "ask":
        controls._emit("asked", question=step.question, answers=list(step.answers))
        if wait_key is not None:
            await wait_key()
    elif do == "wait_key":
        if wait_key is not None:
            await wait_key()
    elif do == "set":
        controls.set(step.resources)
    elif do in ("leave", "back", "kill"):
        getattr(controls, do)(step.student)
    elif do in ("cut", "heal") and step.link is not None:
        getattr(controls, do)(step.link)
    elif do == "slow" and step.link is not None:
        controls.slow(step.link, step.seconds or 0.0)
    elif do == "behave":
        controls.behave(step.student, **dict(step.behaviour))
    elif do == "teacher":
        controls.teacher(**dict(step.behaviour))


async def _until_room_time(controls: Controls, when: float) -> None:
    clock = controls._clock
    while (left := when - clock.now()) > 0:
        await asyncio.sleep(min(left / clock.rate, 0.05) if clock.rate > 0 else 0.05)
