"""A round: start every process of a level, watch the notes, stop everything.

Theory of operation
-------------------
The runner (this module, inside ``classroom run`` or the window) owns a
round from start to end:

1. it binds every listening socket on 127.0.0.1 itself (each hand's peer
   port and app port, the aisles' listeners, the events port) and makes one
   socket pair per proxy for its control channel, so every address is known
   before any process starts and no port can be raced;
2. it starts the launcher, which forks the office, then the proxies (one per
   student, or one per row in the per-row profiles), then the students,
   passing each the sockets it needs, and first of them its line to the
   runner's event hub (:mod:`classroom.mesh.runtime.hub`): every event of
   the round comes straight here, and subscribers watch it here;
3. it watches every process it started through a pidfd, so it learns from
   the kernel when one dies, and settles what that death leaves unsettled
   (:mod:`classroom.mesh.runtime.watch`);
4. it owns the round's clock (:class:`~classroom.mesh.runtime.clock.SharedClock`,
   running at the round's speed): every process reads room time from it,
   and only the runner changes it (a pause, a step, another rate);
5. it ends when every note the level's traffic sends has a terminal state,
   when the launcher (and with it every process) went away, or at a time
   limit derived from the level (the notes still open then are ``in_flight``
   and the ledger is not sound);
6. it stops every process, on success, on error and on Ctrl-C (see
   :mod:`classroom.mesh.runtime.launcher` for why none can survive).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from classroom.level import AisleFault, Level
from classroom.level.script import Step
from classroom.mesh.control.cilium import room_drops, teacher_drops
from classroom.mesh.control.compile import mesh_policy
from classroom.mesh.control.profiles import PER_ROW, PROFILES
from classroom.mesh.control.request import Operation
from classroom.mesh.runtime import lecture, net, specs
from classroom.mesh.runtime.clock import SharedClock
from classroom.mesh.runtime.hub import Hub
from classroom.mesh.runtime.launcher import GRACE, Launcher
from classroom.mesh.runtime.lecture import Controls
from classroom.mesh.runtime.watch import Watch

PER_ROW_PROFILES = {name for name, p in PROFILES.items() if p.architecture == PER_ROW}  # cilium, traefik
READY_LIMIT = 30.0
EventCallback = Callable[[dict[str, Any]], None]


class RemoteDesks(Protocol):
    """Desks whose proxy and student run on a laptop (``classroom host``: classroom.mesh.join.host).

    The runner treats such a desk as any other, but forks nothing for it: her proxy's peer listener
    is on the laptop (``seats``), the aisles' listeners for her links are bound on ``host`` (her
    laptop dials them), and the host's ends of her processes' three lines (``ctl``: the office's
    channel to her proxy; ``proxy``, ``student``: their lines to the hub) go to :meth:`start`.
    """

    host: str

    def seats(self) -> dict[str, tuple[str, int]]: ...

    def begin(self, clock: SharedClock, emit: Callable[..., Any], gone: Callable[[str, str], None]) -> None: ...

    async def start(self, seat: str, proxy: dict[str, Any], student: dict[str, Any],
                    socks: dict[str, socket.socket]) -> None: ...

    async def stop(self) -> None: ...

    def close(self) -> None: ...


class RoundError(Exception):
    """The round could not run (a process failed to start, the room never got ready)."""


@dataclass
class RoundResult:
    events: list[dict[str, Any]]
    processes: list[dict[str, Any]]
    expected: int
    timed_out: bool
    room_ready_s: float | None
    dismissed: str | None = None  # why the round ended early (the launcher went away ...), in words


def faults_spec(faults: Iterable[AisleFault]) -> tuple[specs.AisleFaultSpec, ...]:
    """The aisles' faults from a level's ``aisles.faults``."""
    return tuple(specs.AisleFaultSpec(f.kind, tuple((a, b) for a, b in f.links), f.at, f.until, f.latency,
                                      f.probability) for f in faults)


def class_labels(level: Level) -> dict[str, dict[str, str]]:
    """Every student's labels as the mesh sees them: ``app`` (her name unless given) and her own."""
    return {s.name: {"app": s.name, **dict(s.labels)} for s in level.students}


def proxy_groups(level: Level) -> list[list[str]]:
    """Which students each proxy process serves: one each, or a row each."""
    if level.profile in PER_ROW_PROFILES:
        rows: dict[int, list[str]] = {}
        for s in level.students:
            rows.setdefault(s.seat[0], []).append(s.name)
        return [rows[r] for r in sorted(rows)]
    return [[s.name] for s in level.students]


@dataclass
class Round:
    level: Level
    resources: tuple[dict[str, Any], ...]
    seed: int
    speed: float = 1.0
    capture_dir: str | None = None
    ca_dir: str | None = None
    aisles: bool = True  # carry every link through the aisles process (passing time, faults)
    on_event: EventCallback | None = None
    metrics_port: int | None = None  # the runner serves Prometheus metrics on 127.0.0.1:metrics_port
    subscriber_buffer: int | None = None  # bytes the hub buffers per slow subscriber (None: its default)
    events_address: tuple[str, int] | None = None  # the hub's events port, once bound
    events: list[dict[str, Any]] = field(default_factory=list)
    processes: list[dict[str, Any]] = field(default_factory=list)
    addresses: dict[str, dict[str, tuple[str, int]]] = field(default_factory=dict)
    launcher: Launcher | None = None  # given before run(): a launcher rounds share, which its owner stops
    clock: SharedClock | None = None
    hub: Hub | None = None
    watch: Watch | None = None
    _pidfds: list[int] = field(default_factory=list)
    # The runner's line to each process ("office", "aisles", "student ben", "proxy ben"): its
    # events come in on it, and a lecture's live actions go out (classroom.mesh.runtime.lecture).
    lines: dict[str, Any] = field(default_factory=dict)
    script: tuple[Step, ...] = ()  # a lecture script, played from the class's start
    before_stop: Callable[[], None] | None = None  # called once every note settled, before any process stops
    on_say: Callable[[Step], None] | None = None  # a step that says something, or asks
    wait_key: Callable[[], Awaitable[None]] | None = None  # the lecturer's key (None: headless, skip)
    controls: Controls | None = None  # live actions, once the room is ready
    remote: RemoteDesks | None = None  # desks played from laptops (classroom host)
    _pidfd_of: dict[int, int] = field(default_factory=dict)
    _planned: list[tuple[specs.Spec, list[socket.socket], socket.socket, dict[str, Any], str]] = field(
        default_factory=list)

    def present(self) -> list[str]:
        return [s.name for s in self.level.students if not s.behaviour.absent]

    def expected_notes(self) -> int:
        present = set(self.present())
        return sum(t.count for t in self.level.traffic if t.sender in present)

    def time_limit(self) -> float:
        """Room seconds after the room is ready by which every note must have settled."""
        policy = mesh_policy(self.resources, self.level.profile)
        longest = max((t.every * (t.count - 1) for t in self.level.traffic), default=0.0)
        longest += max((s.behaviour.back_after or 0.0 for s in self.level.students), default=0.0)
        timeout = max([policy.note_timeout(policy.rule(t.to, Operation(t.path, t.method, tuple(t.headers))))
                       for t in self.level.traffic] or [0.0])
        return longest + timeout + 5.0 * self.speed

    async def run(self) -> RoundResult:
        """Run the round to its end; every process is stopped when this returns or raises."""
        try:
            return await self._run()
        finally:
            self.stop()

    def now(self) -> float:
        """Room time (the events' clock); before the round, the wall clock."""
        return self.clock.now() if self.clock is not None else time.time()

    async def _run(self) -> RoundResult:
        level = self.level
        present = set(self.present())
        self.clock = clock = SharedClock(rate=self.speed)
        self.hub = hub = Hub(clock, self._on_event, self.metrics_port, self.subscriber_buffer)
        self.watch = watch = Watch({t.sender for t in level.traffic if t.sender in present}, hub.emit)
        self.events_address = await hub.serve()
        self._owns_launcher = self.launcher is None
        self.launcher = launcher = self.launcher or Launcher()
        self.processes.append({"role": "launcher", "pid": launcher.pid})
        self._watch_process(launcher.pid, "launcher", "launcher")
        base: dict[str, Any] = {"clock": clock.path, "seed": self.seed, "namespace": level.name,
                                 "profile": level.profile}
        remote = self.remote.seats() if self.remote is not None else {}
        if self.remote is not None:
            self.remote.begin(clock, hub.emit, self._desk_left)
        remote_specs: dict[str, tuple[specs.ProxySpec, socket.socket]] = {}

        policy = mesh_policy(self.resources, level.profile, level.name)
        groups = [[n for n in g if n in present] for g in proxy_groups(level)]
        groups = [g for g in groups if g]
        owned: list[socket.socket] = []
        hands: dict[str, dict[str, Any]] = {}
        proxy_specs: list[tuple[specs.ProxySpec, list[socket.socket]]] = []
        office_ends: list[socket.socket] = []
        for group in groups:
            proxy_id = "proxy-" + "+".join(group)
            office_end, proxy_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            office_ends.append(office_end)
            socks = [proxy_end]
            hand_specs = []
            for name in group:
                if name in remote:  # her proxy listens on her laptop (a group of one: a sidecar each)
                    self.addresses[name] = {"peer": remote[name]}
                    hands[name] = {"proxy": proxy_id, "address": list(remote[name])}
                else:
                    peer, app = net.bound_listener(), net.bound_listener()
                    socks += [peer, app]
                    self.addresses[name] = {"peer": peer.getsockname(), "app": app.getsockname()}
                    hands[name] = {"proxy": proxy_id, "address": list(peer.getsockname())}
                student = level.student(name)
                does = student.behaviour
                hand_specs.append(specs.HandSpec(name, specs.Behaviour(
                    nosy=does.nosy, drops=does.drops, refuses=does.refuses, slow=does.slow, fails=does.fails,
                    meshed=student.meshed)))
            proxy_specs.append((specs.ProxySpec(
                **base, id=proxy_id, hands=tuple(hand_specs), renew_at=policy.identity.renew_at,
                # The aisles apply the passing time when they carry the links.
                passing_time=0.0 if self.aisles else level.room.passing_time, capture_dir=self.capture_dir),
                socks))
            owned += socks
        # The aisles: one listener per directed link; a dials a>b's listener to reach b.
        via: dict[str, list[Any]] = {}
        aisle_links: list[specs.AisleLink] = []
        aisle_socks: list[socket.socket] = []
        if self.aisles:
            for a, b in level.room.links:
                if a not in present or b not in present:
                    continue
                for x, y in ((a, b), (b, a)):
                    # A laptop dials the aisles across the network: her links' listeners are on --listen.
                    listener = net.bound_listener(self.remote.host if self.remote and x in remote else "127.0.0.1")
                    aisle_socks.append(listener)
                    via[f"{x}>{y}"] = list(listener.getsockname())
                    host, port = hands[y]["address"]
                    aisle_links.append(specs.AisleLink(x, y, (host, port)))
            office_end, aisles_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            office_ends.append(office_end)
            aisle_socks.insert(0, aisles_end)
        # The teacher: a channel to the office (her card, the bell), one to the aisles (what she
        # watches, what she overhears), and a listener to pose as a student.
        teacher_socks: list[socket.socket] = []
        teacher_address = None
        if level.teacher is not None and self.aisles:
            office_end, teacher_office = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            aisles_teacher, teacher_aisles = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            impostor = net.bound_listener()
            teacher_address = impostor.getsockname()[:2]
            office_ends.append(office_end)
            aisle_socks.append(aisles_teacher)
            teacher_socks = [teacher_office, teacher_aisles, impostor]
        owned += [*office_ends, *aisle_socks, *teacher_socks]
        try:
            office_spec = specs.OfficeSpec(
                **base,
                students=tuple(s.name for s in level.students),
                links=tuple(level.room.links),
                hands=hands,
                labels=class_labels(level),
                unmeshed=tuple(s.name for s in level.students if not s.meshed),
                proxies=tuple(spec.id for spec, _ in proxy_specs),
                policy=policy.to_json(),
                ca_dir=self.ca_dir,
                aisles=self.aisles,
                teacher=bool(teacher_socks),
                via=via,
            )
            self._plan(office_spec, office_ends, {"role": "office"}, "office")
            if self.aisles:
                self._plan(specs.AislesSpec(
                    **base, passing_time=level.room.passing_time, links=tuple(aisle_links),
                    faults=faults_spec(level.aisles), teacher=bool(teacher_socks),
                    teacher_address=teacher_address,
                    drops=room_drops(policy.network, class_labels(level), [(k.a, k.b) for k in aisle_links])
                    + teacher_drops(policy.network, class_labels(level))),
                    aisle_socks, {"role": "aisles"}, "aisles")
            if teacher_socks:
                teacher = level.teacher
                assert teacher is not None
                self._plan(specs.TeacherSpec(
                    **base, patrol=tuple((float(r), float(c)) for r, c in teacher.patrol), walk=teacher.speed,
                    eavesdrops=teacher.eavesdrops, catches=teacher.catches, impersonates=teacher.impersonates,
                    forges=teacher.forges,
                    seats={s.name: s.seat for s in level.students if s.name in present},
                    links=tuple(link for link in level.room.links if set(link) <= present)),
                    teacher_socks, {"role": "teacher"}, "teacher")
            for spec, socks in proxy_specs:
                if spec.hands[0].name in remote:
                    remote_specs[spec.hands[0].name] = (spec, socks[0])
                    continue
                self._plan(spec, socks, {"role": "proxy", "serves": [h.name for h in spec.hands]},
                                  spec.id.removeprefix("proxy-"))
            for student in level.students:
                if student.name not in present:
                    continue
                traffic = tuple(specs.TrafficLine(t.to, t.count, t.every, t.text, t.reply, t.hold,
                                                  t.path, t.method, tuple(t.headers))
                                for t in level.traffic if t.sender == student.name)
                host, port = self.addresses[student.name].get("app", ("127.0.0.1", 0))[:2]
                student_spec = specs.StudentSpec(
                    **base, name=student.name, proxy=(host, port), traffic=traffic,
                    absent_after=student.behaviour.absent_after, back_after=student.behaviour.back_after)
                if student.name in remote:
                    await self._start_remote(student.name, remote_specs.pop(student.name), student_spec)
                    continue
                self._plan(student_spec, [], {"role": "student", "name": student.name}, student.name)
            await self._spawn_planned()
        finally:
            for sock in owned:  # the children hold their own copies now
                sock.close()

        expected = self.expected_notes()
        if not await self._until_real(watch.ready, READY_LIMIT) or (watch.dismissed and watch.ready_at is None):
            raise RoundError(watch.dismissed or
                             f"the room did not get ready within {READY_LIMIT:.0f} s: {self._not_ready()}")
        self.controls = Controls(self)
        if self.script:
            self._script_task = asyncio.ensure_future(
                lecture.play(self.controls, self.script, clock.now(), self.on_say, self.wait_key))
        if level.office_goes_home is not None:
            self._office_leaves = asyncio.ensure_future(self._office_goes_home(level.office_goes_home))
        timed_out = False
        if watch.senders:
            timed_out = not await self._until(watch.finished, self.time_limit())
        # A recipient's "delivered" event and the sender's result travel by different
        # paths; wait (briefly) until the history holds both for every delivered note.
        if watch.finished.is_set() and not watch.dismissed:
            await self._until(watch.both_sides, 2.0 * self.speed)
        if watch.dismissed:
            net.log("runner", watch.dismissed)
        if self.before_stop is not None:  # e.g. `compare` reading each process's CPU time while it lives
            self.before_stop()
        await self._drain(clock.now())
        return RoundResult(list(self.events), list(self.processes), expected, timed_out, watch.ready_at,
                           watch.dismissed)

    async def _start_remote(self, seat: str, proxy: tuple[specs.ProxySpec, socket.socket],
                            student: specs.StudentSpec) -> None:
        """A desk played from a laptop: the hub's lines to her two processes, and her proxy's channel."""
        assert self.remote is not None and self.hub is not None
        socks = {"ctl": proxy[1].dup()}
        for role in ("proxy", "student"):
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            self.lines[f"{role} {seat}"] = await self.hub.attach(ours, f"{role} {seat} (remote)")
            socks[role] = theirs
        await self.remote.start(seat, proxy[0].to_json(), student.to_json(), socks)

    def _desk_left(self, seat: str, reason: str) -> None:
        """A remote desk's laptop went away mid-round: as if her proxy and her student had died."""
        if self.hub is None or self.watch is None or self._stopping:
            return
        self.hub.emit("desk_left", seat=seat, reason=reason)
        self.watch.process_gone("student", seat, self._proxy_of)
        self.watch.process_gone("proxy", seat, self._proxy_of)

    async def _office_goes_home(self, after: float) -> None:
        """The level's control plane dies ``after`` room seconds: the runner kills the office for real
        (SIGKILL, as a node taking istiod with it); the proxies go on with what they hold."""
        assert self.clock is not None and self.hub is not None
        at = self.clock.now() + after
        while (left := at - self.clock.now()) > 0:
            await asyncio.sleep(min(left / self.clock.rate, 0.25) if self.clock.rate > 0 else 0.25)
        office = next((p["pid"] for p in self.processes if p.get("role") == "office"), None)
        if office is None or self._stopping:
            return
        self.hub.emit("office_went_home", pid=office)
        with contextlib.suppress(ProcessLookupError):
            os.kill(office, signal.SIGKILL)

    _office_leaves: asyncio.Future[None] | None = None
    _script_task: asyncio.Future[None] | None = None

    def _not_ready(self) -> str:
        """What the room was still waiting for, in words (from the events so far)."""
        proxies = {p["serves"][0] if len(p["serves"]) == 1 else "+".join(p["serves"])
                   for p in self.processes if p.get("role") == "proxy"}
        kinds: dict[str, list[dict[str, Any]]] = {}
        for event in self.events:
            kinds.setdefault(str(event.get("kind")), []).append(event)
        carded = {str(e.get("hand")) for e in kinds.get("cert_installed", [])}
        acked = {str(e.get("proxy", "")).removeprefix("proxy-") for e in kinds.get("config_acked", [])}
        students = {s for p in self.processes if p.get("role") == "proxy" for s in p["serves"]}
        if not kinds.get("config_pushed"):
            waiting = sorted(students - carded)
            return (f"no configuration was pushed; no ID card installed for {', '.join(waiting[:8])}"
                    + (f" and {len(waiting) - 8} more" if len(waiting) > 8 else "") if waiting else
                    "no configuration was pushed, though every ID card was installed")
        missing = sorted(proxies - acked)
        down = [f"{lk.get('from')}->{lk.get('to')}" + (f" ({lk['error']})" if lk.get("error") else "")
                for e in kinds.get("config_acked", []) for lk in e.get("links", []) if not lk.get("up")]
        text = f"the proxies of {', '.join(missing[:8])}" + (f" and {len(missing) - 8} more" if len(missing) > 8
                                                              else "") + " never acknowledged their configuration"
        return text + (f"; links down: {', '.join(down[:6])}" if down else "")

    async def _drain(self, end: float, limit: float = 3.0 + GRACE) -> None:
        """Stop every process and read what each still had to say about the round.

        A process sends its events a few milliseconds after it makes them, so the last
        classmate to read the last note may not have told the hub yet when the sender's
        result is in. Every process flushes on SIGTERM and the hub reads each line to its
        end; what a process says about its own shutting down (room time past ``end``)
        is not the round's history and is left out.
        """
        assert self.hub is not None and self.launcher is not None
        self._stopping = True
        self._history_ends = end
        if self.remote is not None:
            await self.remote.stop()
        await asyncio.to_thread(self._stop_processes)
        open_lines = [conn.closed for conn in self.hub.sources if not conn.closed.done()]
        if open_lines:
            await asyncio.wait(open_lines, timeout=limit)

    _history_ends: float | None = None

    def _on_event(self, event: dict[str, Any]) -> None:
        t = event.get("t")
        if self._history_ends is not None and type(t) is float and t > self._history_ends:
            return
        self.events.append(event)
        if self.watch is not None:
            self.watch.observe(event)
        if self.on_event is not None:
            self.on_event(event)

    async def _until_real(self, event: asyncio.Event, seconds: float) -> bool:
        return await _wait_set(event, seconds)

    async def _until(self, event: asyncio.Event, room_seconds: float) -> bool:
        """Wait for ``event`` for ``room_seconds`` of room time (a paused class does not count)."""
        assert self.clock is not None
        deadline = self.clock.now() + room_seconds
        while not event.is_set():
            left = deadline - self.clock.now()
            if left <= 0:
                return False
            wait = left / self.clock.rate if self.clock.rate > 0 else 0.25
            await _wait_set(event, min(wait, 0.25))
        return True

    def _plan(self, spec: specs.Spec, socks: list[socket.socket], entry: dict[str, Any], name: str) -> None:
        """A process to start: its line to the hub first, then its own sockets."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self._planned.append((spec, [theirs, *socks], ours, entry, name))

    async def _spawn_planned(self) -> None:
        """Fork every planned process in one go, then watch each.

        The hub hears each line before its process exists, and the launcher's round trips run
        in a thread: the runner's loop reads the first processes' events while the last fork.
        """
        assert self.launcher is not None and self.clock is not None and self.hub is not None
        planned, self._planned = self._planned, []
        for _, _, ours, entry, name in planned:
            role = entry["role"]
            key = f"{role} {name}" if role in ("student", "proxy") else role  # "student ben", "office"
            self.lines[key] = await self.hub.attach(ours, f"{role} {name}")
        requests = [(spec, [s.fileno() for s in socks]) for spec, socks, *_ in planned]
        try:
            pids = await asyncio.to_thread(self.launcher.spawn_many, requests)
        finally:
            for _, socks, *_ in planned:
                socks[0].close()  # the child's end of its hub line (the rest the caller owns)
        for pid, (_, _, _, entry, name) in zip(pids, planned, strict=True):
            self.processes.append({**entry, "pid": pid})
            self.clock.pids.append(pid)
            self._watch_process(pid, str(entry["role"]), name)

    def _watch_process(self, pid: int, role: str, name: str) -> None:
        """Learn from the kernel when ``pid`` ends (a pidfd becomes readable)."""
        try:
            pidfd = os.pidfd_open(pid)
        except (OSError, AttributeError):  # gone already, or no pidfds on this platform
            return
        self._pidfds.append(pidfd)
        self._pidfd_of[pid] = pidfd
        loop = asyncio.get_running_loop()

        def ended() -> None:
            loop.remove_reader(pidfd)
            if self.hub is None or self.watch is None or self._stopping:
                return
            self.hub.emit("process_exited", role=role, name=name, pid=pid)
            self.watch.process_gone(role, name, self._proxy_of)

        loop.add_reader(pidfd, ended)

    def _proxy_of(self, student: str) -> str | None:
        if self.remote is not None and student in self.addresses and "app" not in self.addresses[student]:
            return student  # a remote desk: her own sidecar, on her laptop
        for process in self.processes:
            if process.get("role") == "proxy" and student in process.get("serves", ()):
                return "+".join(process["serves"])
        return None

    _stopping = False
    _owns_launcher = True
    _processes_stopped = False

    def _stop_processes(self) -> None:
        """Stop every process of the round, with the launcher when it is the round's own.

        A shared launcher stays up for the next round to fork from: this round's children are
        stopped as the launcher would stop them (SIGTERM, a grace period, SIGKILL), through their
        pidfds, so a pid the kernel has since given to another process is never signalled.
        """
        assert self.launcher is not None
        if self._owns_launcher:
            self.launcher.stop()
            return
        if self._processes_stopped:
            return
        self._processes_stopped = True
        children = [p["pid"] for p in self.processes if p.get("role") != "launcher"]
        self._signal(children, signal.SIGTERM)
        self._signal(wait_gone(children, GRACE), signal.SIGKILL)
        wait_gone(children, 3.0)
        gone = set(children)
        self.launcher.pids[:] = [pid for pid in self.launcher.pids if pid not in gone]

    def _signal(self, pids: list[int], sig: signal.Signals) -> None:
        for pid in pids:
            with contextlib.suppress(OSError, KeyError):
                signal.pidfd_send_signal(self._pidfd_of[pid], sig)

    def stop(self) -> None:
        self._stopping = True
        for task in (self._office_leaves, self._script_task):
            if task is not None:
                task.cancel()
        if self.launcher is not None:
            self._stop_processes()
        if self.remote is not None:
            self.remote.close()
        with contextlib.suppress(RuntimeError):  # the loop is gone: its readers with it
            loop = asyncio.get_running_loop()
            for pidfd in self._pidfds:
                loop.remove_reader(pidfd)
        for pidfd in self._pidfds:
            with contextlib.suppress(OSError):
                os.close(pidfd)
        self._pidfds.clear()
        if self.hub is not None:
            self.hub.close()
        if self.clock is not None:
            self.clock.close()

    def pids(self) -> list[int]:
        return [p["pid"] for p in self.processes]


async def _wait_set(event: asyncio.Event, seconds: float) -> bool:
    """Whether ``event`` is set within ``seconds``.  Not ``asyncio.wait_for``: on Python 3.11 it
    swallows a cancellation (Ctrl-C) that comes just as the event is set, and the round would go on."""
    if event.is_set():
        return True
    waiter = asyncio.ensure_future(event.wait())
    try:
        await asyncio.wait([waiter], timeout=seconds)
    finally:
        waiter.cancel()
    return event.is_set()


def alive(pid: int) -> bool:
    """True while a process with this pid exists (and is not a zombie)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state != "Z"


def wait_gone(pids: list[int], timeout: float = 10.0) -> list[int]:
    """Wait until none of ``pids`` is alive; the ones still alive at the limit."""
    deadline = time.monotonic() + timeout
    while True:
        left = [p for p in pids if alive(p)]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.02)
