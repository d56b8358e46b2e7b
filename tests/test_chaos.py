"""Whatever process dies, every note settles: seeded SIGKILLs in real rounds, Jepsen-style.

Each run picks, from its seed, which processes to kill and when (students, a sender's own
sidecar, intermediaries' proxies, the aisles, the teacher, the office, the launcher), kills
them with SIGKILL while notes are flowing, and checks the history afterwards: every note sent
ended in exactly one recorded state (``ledger_ok``), none was delivered twice, the round ended
within its notes' timeouts and a few seconds, and no process of the round is left.  A failing
run names its seed, so it can be replayed.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, descendants

from classroom.level import load_level
from classroom.mesh.runtime.round import Round, alive, wait_gone
from classroom.report import build_report

pytestmark = pytest.mark.timeout(240)
ROLES = ("student", "sender_proxy", "relay_proxy", "aisles", "teacher", "office", "launcher")
SENDERS = ("alice", "cara", "gus")

CHAOS_LEVEL = """\
apiVersion: classroom.mesh/v1
kind: Level
metadata: {name: chaos, title: Chaos}
seed: 1
room: {rows: 2, cols: 4, passing_time: 20ms, links: neighbours}
students:
  - {name: alice, seat: [0, 0]}
  - {name: ben, seat: [0, 1]}
  - {name: cara, seat: [0, 2]}
  - {name: dev, seat: [0, 3]}
  - {name: eli, seat: [1, 0]}
  - {name: fay, seat: [1, 1]}
  - {name: gus, seat: [1, 2]}
  - {name: hal, seat: [1, 3]}
teacher: {patrol: [[0, 1], [1, 2]], speed: 1.0, eavesdrops: true}
traffic:
  - {from: alice, to: hal, count: 30, every: 40ms, text: pass it on}
  - {from: cara, to: eli, count: 30, every: 40ms, text: and this one}
  - {from: gus, to: dev, count: 30, every: 40ms, text: quick}
mesh:
  resources:
    - apiVersion: security.istio.io/v1
      kind: PeerAuthentication
      metadata: {name: default}
      spec: {mtls: {mode: STRICT}}
    - apiVersion: networking.istio.io/v1
      kind: VirtualService
      metadata: {name: hal}
      spec:
        hosts: [hal]
        http: [{route: [{destination: {host: hal}}], timeout: 3s,
                retries: {attempts: 3, perTryTimeout: 500ms, retryOn: "5xx,reset,connect-failure"}}]
    - apiVersion: networking.istio.io/v1
      kind: VirtualService
      metadata: {name: eli}
      spec:
        hosts: [eli]
        http: [{route: [{destination: {host: eli}}], timeout: 3s,
                retries: {attempts: 3, perTryTimeout: 500ms, retryOn: "5xx,reset,connect-failure"}}]
    - apiVersion: networking.istio.io/v1
      kind: VirtualService
      metadata: {name: dev}
      spec:
        hosts: [dev]
        http: [{route: [{destination: {host: dev}}], timeout: 3s,
                retries: {attempts: 3, perTryTimeout: 500ms, retryOn: "5xx,reset,connect-failure"}}]
objectives:
  - {metric: ledger_ok, op: "==", value: 1}
"""


def plan(seed: int, kills: int) -> list[tuple[float, str]]:
    """(room seconds after the room is ready, role) for each kill of this run."""
    rng = random.Random(seed)
    roles = [ROLES[(seed + i) % len(ROLES)] for i in range(kills)]  # every role, across the runs
    rng.shuffle(roles)
    return sorted((round(rng.uniform(0.1, 1.1), 3), role) for role in roles)


def victim(round_: Round, role: str, rng: random.Random) -> dict[str, Any] | None:
    processes = round_.processes
    if role == "student":
        return rng.choice([p for p in processes if p["role"] == "student"])
    if role == "sender_proxy":
        sender = rng.choice(SENDERS)
        return next(p for p in processes if p["role"] == "proxy" and sender in p["serves"])
    if role == "relay_proxy":
        return rng.choice([p for p in processes if p["role"] == "proxy" and not set(p["serves"]) & set(SENDERS)])
    return next((p for p in processes if p["role"] == role), None)


async def chaos_run(tmp_path: Path, seed: int, kills: int = 4) -> dict[str, Any]:
    path = tmp_path / f"chaos-{seed}.yaml"
    path.write_text(CHAOS_LEVEL)
    level = load_level(str(path))
    ready = asyncio.Event()

    def on_event(event: dict[str, Any]) -> None:
        if event.get("kind") == "room_ready":
            ready.set()

    round_ = Round(level, level.resources, seed=seed, on_event=on_event)
    task = asyncio.ensure_future(round_.run())
    rng = random.Random(seed * 7919)
    killed: list[str] = []
    started = time.monotonic()
    try:
        await asyncio.wait_for(ready.wait(), 60)
        assert round_.clock is not None
        t0 = round_.clock.now()
        for at, role in plan(seed, kills):
            while round_.clock.now() < t0 + at and not task.done():
                await asyncio.sleep(0.01)
            chosen = victim(round_, role, rng)
            if chosen is None or not alive(chosen["pid"]):
                continue
            os.kill(chosen["pid"], signal.SIGKILL)
            killed.append(f"{role}:{chosen.get('name') or '+'.join(chosen.get('serves', ())) or chosen['role']}")
        result = await asyncio.wait_for(task, round_.time_limit() / round_.speed + 30)
    finally:
        if not task.done():
            task.cancel()
    took = time.monotonic() - started
    report = build_report(level, seed, result.events, result.processes)
    left = wait_gone(round_.pids(), timeout=10)
    return {"seed": seed, "killed": killed, "report": report, "left": left, "took": took,
            "limit": round_.time_limit() / round_.speed + 10, "dismissed": result.dismissed}


@pytest.mark.parametrize("seed", range(1, 9))
async def test_whatever_dies_every_note_settles_and_nothing_is_left(tmp_path: Path, seed: int) -> None:
    run = await chaos_run(tmp_path, seed)
    report = run["report"]
    what = f"seed {seed}, killed {run['killed']}"
    assert run["killed"], what
    assert report["ledger_ok"], f"{what}: {report['notes']}"
    assert report["notes"]["duplicates"] == 0, what
    assert run["left"] == [], f"{what}: processes left {run['left']}"
    assert run["took"] < run["limit"] + 30, f"{what}: the round took {run['took']:.1f} s"


@pytest.mark.parametrize("when", ["cert_issued", "config_pushed"])
async def test_a_proxy_dead_before_the_room_is_ready_does_not_hold_the_class_up(tmp_path: Path, when: str) -> None:
    # ben's proxy dies after its hello (its card issued) or once the first configuration is on
    # its way: the office must not wait for a hello or an acknowledgement that cannot come.
    path = tmp_path / "early.yaml"
    path.write_text(CHAOS_LEVEL)
    level = load_level(str(path))
    seen = asyncio.Event()

    def on_event(event: dict[str, Any]) -> None:
        if event.get("kind") == when and (when != "cert_issued" or event.get("hand") == "ben"):
            seen.set()

    round_ = Round(level, level.resources, seed=5, on_event=on_event)
    task = asyncio.ensure_future(round_.run())
    await asyncio.wait_for(seen.wait(), 60)
    async with asyncio.timeout(30):  # the runner may still be writing down the pids it forked
        while (proxy := next((p for p in round_.processes
                              if p["role"] == "proxy" and p["serves"] == ["ben"]), None)) is None:
            await asyncio.sleep(0.005)
    os.kill(proxy["pid"], signal.SIGKILL)
    result = await asyncio.wait_for(task, 120)
    report = build_report(level, 5, result.events, result.processes)
    assert result.room_ready_s is not None, result.dismissed
    assert any(e.get("kind") == "proxy_lost" for e in result.events)
    assert report["ledger_ok"] and report["notes"]["duplicates"] == 0, report["notes"]
    assert report["notes"]["delivered"] >= 60, report["notes"]  # the senders' own proxies are fine
    assert wait_gone(round_.pids()) == []


async def test_with_the_office_gone_the_class_keeps_passing_notes(tmp_path: Path) -> None:
    path = tmp_path / "office.yaml"
    path.write_text(CHAOS_LEVEL)
    level = load_level(str(path))
    ready = asyncio.Event()
    round_ = Round(level, level.resources, seed=3,
                   on_event=lambda e: ready.set() if e.get("kind") == "room_ready" else None)
    task = asyncio.ensure_future(round_.run())
    await asyncio.wait_for(ready.wait(), 60)
    office = next(p for p in round_.processes if p["role"] == "office")
    os.kill(office["pid"], signal.SIGKILL)
    result = await asyncio.wait_for(task, 60)
    report = build_report(level, 3, result.events, result.processes)
    assert any(e.get("kind") == "office_lost" for e in result.events)
    assert report["ledger_ok"] and report["notes"]["delivered"] == report["notes"]["sent"] == 90
    assert wait_gone(round_.pids()) == []


async def test_a_dead_launcher_ends_the_round_at_once_and_says_why(tmp_path: Path) -> None:
    path = tmp_path / "launcher.yaml"
    path.write_text(CHAOS_LEVEL)
    level = load_level(str(path))
    ready = asyncio.Event()
    round_ = Round(level, level.resources, seed=5,
                   on_event=lambda e: ready.set() if e.get("kind") == "room_ready" else None)
    task = asyncio.ensure_future(round_.run())
    await asyncio.wait_for(ready.wait(), 60)
    await asyncio.sleep(0.3)  # let some notes be on their way
    assert round_.launcher is not None
    killed_at = time.monotonic()
    os.kill(round_.launcher.pid, signal.SIGKILL)
    result = await asyncio.wait_for(task, 60)
    assert time.monotonic() - killed_at < 5, "the round must end at once, not at its time limit"
    assert result.dismissed and "launcher" in result.dismissed
    report = build_report(level, 5, result.events, result.processes)
    assert report["ledger_ok"] and report["notes"]["in_flight"] == 0
    assert wait_gone(round_.pids()) == []


def test_a_killed_runner_takes_every_process_with_it_within_two_seconds(tmp_path: Path) -> None:
    path = tmp_path / "runner.yaml"
    path.write_text(CHAOS_LEVEL.replace("count: 30", "count: 300"))
    runner = subprocess.Popen([sys.executable, "-m", "classroom.cli", "run", str(path), "--headless", "--quiet"],
                              cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        pids: list[int] = []
        deadline = time.monotonic() + 60
        while len(pids) < 20 and time.monotonic() < deadline:  # launcher, office, aisles, teacher, 8 + 8
            pids = sorted(descendants(runner.pid))
            time.sleep(0.1)
        assert len(pids) >= 20, pids
        runner.kill()
        runner.wait()
        assert wait_gone(pids, timeout=2.5) == []
    finally:
        runner.kill()


async def test_ps_names_every_process_of_a_round(tmp_path: Path) -> None:
    path = tmp_path / "titles.yaml"
    path.write_text(CHAOS_LEVEL)
    level = load_level(str(path))
    ready = asyncio.Event()
    round_ = Round(level, level.resources, seed=1,
                   on_event=lambda e: ready.set() if e.get("kind") == "room_ready" else None)
    task = asyncio.ensure_future(round_.run())
    try:
        await asyncio.wait_for(ready.wait(), 60)
        titles = {}
        for process in round_.processes:
            if process["role"] != "launcher":
                with open(f"/proc/{process['pid']}/cmdline", "rb") as f:
                    titles[process["pid"]] = f.read().split(b"\0")[0].decode()
        assert "classroom: office" in titles.values() and "classroom: aisles" in titles.values()
        assert "classroom: proxy ben" in titles.values() and "classroom: student ben" in titles.values()
        assert "classroom: teacher" in titles.values()
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert wait_gone(round_.pids()) == []
