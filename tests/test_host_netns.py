"""A hosted class across machines for real: the host and two laptops in network namespaces of their own.

As root, the test makes three namespaces (the lecturer's and two students') joined by veth pairs,
with 10.x addresses that exist only inside them; the host listens on its own veth address, each
laptop joins from hers, and every note between them crosses namespaces through the host's aisles
over mutual TLS. One test then takes a student's link down mid-round: the host drops her laptop and
the ledger still holds (every note in exactly one recorded state). The namespaces (and with them
the veths) are removed in a finalizer, whatever happened.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import level_doc
from hosting import Proc, join_address

CODE = "NETS-PACE"


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True, timeout=30)


def why_no_namespaces() -> str | None:
    if os.geteuid() != 0:
        return "network namespaces need root (ip netns add)"
    if shutil.which("ip") is None:
        return "no `ip` command (iproute2) on this machine"
    probe = f"cmprobe{os.getpid() % 100000}"
    try:
        ip("netns", "add", probe)
    except (subprocess.CalledProcessError, OSError) as exc:
        return f"`ip netns add` does not work here: {getattr(exc, 'stderr', '') or exc}".strip()
    ip("netns", "del", probe)
    return None


REASON = why_no_namespaces()
pytestmark = pytest.mark.skipif(REASON is not None, reason=REASON or "")


class Room:
    """The lecturer's namespace and two students', each student on her own veth to the host."""

    def __init__(self) -> None:
        tag = os.getpid() % 100000
        self.host, self.a, self.b = f"cmh{tag}", f"cma{tag}", f"cmb{tag}"
        self.made: list[str] = []
        self.procs: list[Proc] = []
        self.host_ip = "10.231.1.1"
        self.addresses = {self.a: "10.231.1.2", self.b: "10.231.2.2"}
        self.links = {self.a: f"va{tag}", self.b: f"vb{tag}"}  # the student's end of her veth

    def build(self) -> None:
        for ns in (self.host, self.a, self.b):
            ip("netns", "add", ns)
            self.made.append(ns)
            ip("-n", ns, "link", "set", "lo", "up")
        for index, student in enumerate((self.a, self.b), start=1):
            theirs, ours = self.links[student], f"h{self.links[student]}"
            ip("link", "add", ours, "netns", self.host, "type", "veth", "peer", "name", theirs, "netns", student)
            ip("-n", self.host, "addr", "add", f"10.231.{index}.1/24", "dev", ours)
            ip("-n", student, "addr", "add", f"{self.addresses[student]}/24", "dev", theirs)
            ip("-n", self.host, "link", "set", ours, "up")
            ip("-n", student, "link", "set", theirs, "up")
            # The host's join port is on the first veth: the second student reaches it through the host.
            ip("-n", student, "route", "add", "default", "via", f"10.231.{index}.1")

    def run(self, ns: str, argv: list[str]) -> Proc:
        proc = Proc(argv, prefix=["ip", "netns", "exec", ns])
        self.procs.append(proc)
        return proc

    def tear_down(self) -> None:
        for proc in self.procs:
            proc.kill()
        for ns in self.made:
            listed = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True, timeout=30)
            for pid in listed.stdout.split():  # only processes inside the namespaces this test made
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=30)


@pytest.fixture
def room() -> Iterator[Room]:
    the_room = Room()
    try:
        the_room.build()
        yield the_room
    finally:
        the_room.tear_down()
    for proc in the_room.procs:
        assert not proc.matching("Traceback|internal error"), "\n".join(proc.lines)


def hosted(room: Room, write_level: Any, tmp_path: Path, count: int, every: str) -> tuple[Proc, list[Proc]]:
    doc = level_doc(name="test-netns", traffic=[
        {"from": "alice", "to": "fay", "count": count, "every": every, "text": "Across the hall"},
        {"from": "fay", "to": "alice", "count": count, "every": every, "text": "And back"},
        {"from": "gus", "to": "ben", "count": 3, "every": every, "text": "Here at the host"},
    ])
    doc["room"]["passing_time"] = "20ms"
    level = write_level(doc)
    host = room.run(room.host, ["host", str(level), "--listen", f"{room.host_ip}:0", "--code", CODE,
                                "--expect", "2", "--wait", "90", "--headless", "--quiet",
                                "--report", str(tmp_path / "report.json"),
                                "--record", str(tmp_path / "events.jsonl")])
    where, port = join_address(host)
    assert where == room.host_ip
    laptops = [room.run(ns, ["join", f"{where}:{port}", "--code", CODE, "--as", seat])
               for ns, seat in ((room.a, "alice"), (room.b, "fay"))]
    return host, laptops


def test_notes_cross_namespaces_over_mutual_tls(room: Room, write_level: Any, tmp_path: Path) -> None:
    host, laptops = hosted(room, write_level, tmp_path, 6, "50ms")
    assert host.finish() == 0, "\n".join(host.lines)
    for laptop in laptops:
        assert laptop.finish() == 0, "\n".join(laptop.lines)
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["ledger_ok"] and report["notes"]["delivered"] == report["notes"]["sent"] == 15
    assert report["remote_desks"] == {"alice": "10.231.1.2", "fay": "10.231.2.2"}
    theirs = [lk for lk in report["links"] if {lk["a"], lk["b"]} & {"alice", "fay"}]
    assert theirs and all(lk["tls"] == "TLSv1.3" and lk["mutual"] for lk in theirs)
    events = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    # Each note was handed over by the recipient's own proxy, in her namespace, and reported through the host.
    handed = {e["note"]: e["src"] for e in events if e["kind"] == "delivered"}
    for sender, recipient in (("alice", "fay"), ("fay", "alice")):
        notes = [e["note"] for e in events if e["kind"] == "sent" and e["from"] == sender]
        assert len(notes) == 6 and all(handed[n] == f"proxy-{recipient}" for n in notes)


def test_a_student_whose_link_goes_down_mid_round_leaves_the_ledger_whole(
        room: Room, write_level: Any, tmp_path: Path) -> None:
    host, (alice, fay) = hosted(room, write_level, tmp_path, 40, "100ms")
    host.wait_for("the room is ready: 2 desk")
    ip("-n", room.b, "link", "set", room.links[room.b], "down")  # fay's laptop loses the network
    host.wait_for("fay's laptop at 10.231.2.2 has been silent")
    assert host.finish() in (0, 1), "\n".join(host.lines)  # her notes may fail: the objective is not the point
    assert alice.finish() == 0, "\n".join(alice.lines)
    assert fay.finish() == 1
    assert "silent" in fay.lines[-1] or "lost the class" in fay.lines[-1]
    report = json.loads((tmp_path / "report.json").read_text())
    notes = report["notes"]
    assert report["ledger_ok"], notes
    assert notes["in_flight"] == 0 and notes["delivered"] + notes["failed"] == notes["sent"] > 0
    events = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    assert [e["seat"] for e in events if e["kind"] == "desk_left"] == ["fay"]


def test_a_laptop_finds_the_class_by_its_announcement(room: Room, write_level: Any, tmp_path: Path) -> None:
    """On the host's link, `join --code` alone finds it (mDNS/DNS-SD); across a router, the address."""
    doc = level_doc(name="test-netns-lan", traffic=[
        {"from": "alice", "to": "fay", "count": 3, "every": "50ms", "text": "Found you"}])
    level = write_level(doc)
    host = room.run(room.host, ["host", str(level), "--listen", f"{room.host_ip}:0", "--code", CODE,
                                "--expect", "2", "--wait", "90", "--headless", "--quiet",
                                "--report", str(tmp_path / "report.json")])
    where, port = join_address(host)
    host.wait_for("announced on the network as _classroom._tcp.local.")
    alice = room.run(room.a, ["join", "--code", CODE, "--as", "alice"])
    alice.wait_for(f"found class test-netns-lan at {where}:{port} on the network")
    fay = room.run(room.b, ["join", f"{where}:{port}", "--code", CODE, "--as", "fay"])
    assert host.finish() == 0, "\n".join(host.lines)
    assert alice.finish() == 0 and fay.finish() == 0
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["ledger_ok"] and report["remote_desks"] == {"alice": "10.231.1.2", "fay": "10.231.2.2"}
    # A code no class announced finds nothing, and says what to do instead.
    stranger = room.run(room.a, ["join", "--code", "ZZZZ-ZZZZ"])
    assert stranger.finish() == 1
    assert stranger.lines[-1].startswith("classroom: join: no class with this code announced itself")
