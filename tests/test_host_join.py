"""`classroom host` and `classroom join`: desks played from laptops, as real processes over real mTLS.

On 127.0.0.1 a host and two laptops run a round; bad joins each get one line on both sides and leave
nothing behind. The join protocol's checks are unit-tested without sockets. Across network
namespaces: see tests/test_host_netns.py.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import level_doc
from hosting import Proc, RawLaptop, control, join_address, raw_join

from classroom.mesh.control import pki
from classroom.mesh.join import protocol
from classroom.mesh.join.relay import host_context
from classroom.mesh.runtime import wire

CODE = "TEST-CODE"


@pytest.fixture
def procs() -> Iterator[list[Proc]]:
    started: list[Proc] = []
    yield started
    for proc in started:  # even on failure: no process of ours is left behind
        proc.kill()
    for proc in started:  # and none of them had a bug to report
        assert not proc.matching("Traceback|internal error"), "\n".join(proc.lines)


def two_way_level(write_level: Any, **extra: Any) -> Path:
    """alice and fay at the two ends of a row, passing notes both ways through four local hands."""
    doc = level_doc(name="test-hosted", traffic=[
        {"from": "alice", "to": "fay", "count": 6, "every": "50ms", "text": "From my laptop"},
        {"from": "fay", "to": "alice", "count": 6, "every": "50ms", "text": "From mine"},
        {"from": "gus", "to": "ben", "count": 3, "every": "50ms", "text": "From the host"},
    ], **extra)
    doc["room"]["passing_time"] = "20ms"
    return write_level(doc)


def host(level: Path, tmp_path: Path, *options: str) -> Proc:
    return Proc(["host", str(level), "--listen", "127.0.0.1:0", "--code", CODE, "--headless", "--quiet",
                 "--report", str(tmp_path / "report.json"), "--record", str(tmp_path / "events.jsonl"),
                 *options])


def join(address: tuple[str, int], *options: str) -> Proc:
    return Proc(["join", f"{address[0]}:{address[1]}", *options])


def events(tmp_path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]


def test_two_laptops_pass_every_note_over_mutual_tls(write_level: Any, tmp_path: Path, procs: list[Proc]) -> None:
    the_host = host(two_way_level(write_level), tmp_path, "--expect", "2", "--wait", "90")
    procs.append(the_host)
    address = join_address(the_host)
    laptops = [join(address, "--code", CODE.lower(), "--as", seat) for seat in ("alice", "fay")]
    procs += laptops
    assert the_host.finish() == 0, "\n".join(the_host.lines)
    for laptop in laptops:
        assert laptop.finish() == 0, "\n".join(laptop.lines)
        laptop.wait_for("the round is over")
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["ledger_ok"] and report["passed"]
    assert report["notes"]["delivered"] == report["notes"]["sent"] == 15
    assert report["remote_desks"] == {"alice": "127.0.0.1", "fay": "127.0.0.1"}
    # Each laptop's desk is linked to the room only by mutual TLS 1.3.
    theirs = [lk for lk in report["links"] if {lk["a"], lk["b"]} & {"alice", "fay"}]
    assert theirs and all(lk["tls"] == "TLSv1.3" and lk["mutual"] for lk in theirs)
    # The student sees the fingerprint the lecturer's screen shows.
    shown = the_host.wait_for(r"class CA fingerprint (\S+)").group(1)
    for laptop in laptops:
        assert laptop.wait_for(r"class CA fingerprint (\S+)").group(1) == shown
    # Her card was made from the key on her laptop: her own proxy installed it, reporting through the host.
    installed = {e["hand"]: e["src"] for e in events(tmp_path) if e["kind"] == "cert_installed"}
    assert installed["alice"] == "proxy-alice" and installed["fay"] == "proxy-fay"
    assert {e["seat"] for e in events(tmp_path) if e["kind"] == "desk_remote"} == {"alice", "fay"}


def test_bad_joins_get_one_line_each_and_nothing_else(write_level: Any, tmp_path: Path,
                                                      procs: list[Proc]) -> None:
    the_host = host(two_way_level(write_level), tmp_path, "--expect", "2", "--wait", "90")
    procs.append(the_host)
    address = join_address(the_host)
    # A laptop that joins and leaves before the round frees her seat: nothing of her is kept.
    leaver = RawLaptop(address)
    leaver.send(control({"type": "join", "code": CODE, "as": "gus"}))
    assert leaver.until("welcome") is not None
    leaver.send(control({"type": "ready", "peer_port": 9}))
    the_host.wait_for("gus joined from 127.0.0.1")
    leaver.close()
    the_host.wait_for("gus's laptop left before the round: a local process takes her desk")
    alice = join(address, "--code", CODE, "--as", "alice")
    procs.append(alice)
    the_host.wait_for("alice joined from 127.0.0.1")

    def refused(frames: list[wire.Frame]) -> str:
        assert [f.header.get("type") for f in frames] == ["refused"], frames
        return str(frames[0].header["reason"])

    # Laptops that are not really laptops: each one refusal, naming what was wrong.
    hostile = {
        "no join code": control({"type": "join"}),
        "'code' must be str": control({"type": "join", "code": 12345}),
        "'code' is longer than 32": control({"type": "join", "code": "A" * 5000}),
        "unknown fields": control({"type": "join", "code": CODE, "seat": "alice", "admin": True}),
        "not a student's name": control({"type": "join", "code": CODE, "as": "../etc"}),
        "expected a join message first": control({"type": "ready", "peer_port": 1}),
        "not JSON": struct.pack(">BBI", 1, 6, 12) + struct.pack(">H", 10) + b"{not json}",
        "exceeds the 65536-byte limit": struct.pack(">BBI", 1, 6, 10_000_000),
        "EVENT frame where a join": wire.encode_parts(wire.FrameType.EVENT, {"events": []}),
        "wrong join code": control({"type": "join", "code": "NOPE-NOPE"}),
        "seat alice is taken": control({"type": "join", "code": CODE, "as": "alice"}),
        "no seat 'zed'": control({"type": "join", "code": CODE, "as": "zed"}),
    }
    for reason, payload in hostile.items():
        assert reason in refused(raw_join(address, payload))
        the_host.wait_for(f"classroom: host: refused a laptop at 127.0.0.1: .*{reason}")
    # Not even TLS: the handshake fails, one line.
    assert raw_join(address, b"GET / HTTP/1.0\r\n\r\n", tls=False) == []
    the_host.wait_for("refused a connection from 127.0.0.1: its TLS handshake failed")
    # The real command, with the wrong code: one line and exit 2.
    stranger = join(address, "--code", "WXYZ-WXYZ", "--as", "fay")
    procs.append(stranger)
    assert stranger.finish() == 2
    assert stranger.lines == ["classroom: join: the class refused this laptop: wrong join code"]

    # A student pinning another class's CA goes no further than the welcome.
    elsewhere = join(address, "--code", CODE, "--as", "fay", "--fingerprint", "00:11:22")
    procs.append(elsewhere)
    assert elsewhere.finish() == 1
    assert elsewhere.lines[-1].endswith("not 00:11:22: this is not your class; not joining")
    fay = join(address, "--code", CODE, "--as", "fay")
    procs.append(fay)
    the_host.wait_for("starting the round: 2 desk")
    late = join(address, "--code", CODE)
    procs.append(late)
    assert late.finish() == 2
    assert "the round has started" in late.lines[-1] and len(late.lines) == 1
    assert the_host.finish() == 0, "\n".join(the_host.lines)
    assert alice.finish() == 0 and fay.finish() == 0
    refusals = the_host.matching("refused")
    assert len(refusals) == len(hostile) + 3, refusals  # one each: the hostile, not-TLS, stranger, late
    # The host kept serving everyone else, and nothing of the refused laptops is in the round.
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["ledger_ok"] and report["notes"]["delivered"] == report["notes"]["sent"] == 15
    assert report["remote_desks"] == {"alice": "127.0.0.1", "fay": "127.0.0.1"}
    issued = [e["hand"] for e in events(tmp_path) if e["kind"] == "cert_issued"]
    assert sorted(issued) == sorted(["alice", "ben", "cara", "dev", "eli", "fay", "gus"])


def test_a_joined_laptop_that_speaks_for_another_is_dropped_and_the_round_goes_on(
        write_level: Any, tmp_path: Path, procs: list[Proc]) -> None:
    the_host = host(two_way_level(write_level), tmp_path, "--expect", "2", "--wait", "90")
    procs.append(the_host)
    address = join_address(the_host)
    rogue = RawLaptop(address)
    try:
        rogue.send(control({"type": "join", "code": CODE, "as": "gus"}))
        welcome = rogue.until("welcome")
        assert welcome is not None and welcome.header["seat"] == "gus"
        rogue.send(control({"type": "ready", "peer_port": 9}))
        alice = join(address, "--code", CODE, "--as", "alice")
        procs.append(alice)
        start = rogue.until("start")
        assert start is not None and start.header["student"]["name"] == "gus"
        # Her student's line claims a classmate's note is settled: the host reads it before the hub does.
        forged = wire.encode_parts(wire.FrameType.EVENT, {"events": [
            {"kind": "result", "note": "alice>fay#1", "from": "alice", "state": "delivered", "src": "student",
             "t": start.header["room"]}]})
        rogue.send(wire.encode_parts(wire.FrameType.CONTROL, {"type": "relay", "ch": "student"}, forged))
        refusal = rogue.until("refused")
        assert refusal is not None and "a result event for a note of 'alice'" in refusal.header["reason"]
    finally:
        rogue.close()
    the_host.wait_for("refused gus's laptop at 127.0.0.1: a result event for a note of 'alice'")
    assert the_host.finish() in (0, 1), "\n".join(the_host.lines)
    assert alice.finish() == 0
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["ledger_ok"] and report["notes"]["in_flight"] == 0
    recorded = events(tmp_path)
    assert not [e for e in recorded if e["kind"] == "result" and e.get("src") == "student"]
    assert [e["seat"] for e in recorded if e["kind"] == "desk_left"] == ["gus"]
    # alice's notes are hers to settle, each once, by her own proxy on her laptop.
    mine = [e for e in recorded if e["kind"] == "result" and e["from"] == "alice"]
    assert len(mine) == 6 and {e["src"] for e in mine} == {"proxy-alice"}


def test_the_aisles_faults_act_on_a_laptops_links(write_level: Any, tmp_path: Path, procs: list[Proc]) -> None:
    """Her links go through the host's aisles: a latency fault on alice-ben holds back her notes to ben,
    in both directions, though her desk is on a laptop and ben's here."""
    doc = level_doc(name="test-hosted-faults", traffic=[
        {"from": "alice", "to": "ben", "count": 4, "every": "50ms", "text": "Slowly"},
        {"from": "ben", "to": "alice", "count": 4, "every": "50ms", "text": "Slowly back"}],
        aisles={"faults": [{"kind": "latency", "links": [["alice", "ben"]], "latency": "400ms"}]})
    the_host = host(write_level(doc), tmp_path, "--expect", "1", "--wait", "90")
    procs.append(the_host)
    laptop = join(join_address(the_host), "--code", CODE, "--as", "alice")
    procs.append(laptop)
    assert the_host.finish() == 0, "\n".join(the_host.lines)
    assert laptop.finish() == 0
    results = [e for e in events(tmp_path) if e["kind"] == "result"]
    assert len(results) == 8 and all(e["state"] == "delivered" for e in results)
    # Room time: each note crosses the slow aisle (the room's passing time is 0), so 400 ms at the least;
    # alice's are timed by her laptop's copy of the clock, within a few ms of the host's (half a round trip).
    assert all(e["latency"] >= 0.39 for e in results), [(e["from"], e["to"], round(e["latency"], 3)) for e in results]


def test_ctrl_c_on_the_host_stops_every_process_on_both_machines(write_level: Any, tmp_path: Path,
                                                                 procs: list[Proc]) -> None:
    doc = level_doc(name="test-hosted-ctrl-c", traffic=[
        {"from": "alice", "to": "fay", "count": 400, "every": "50ms", "text": "A long lecture"}])
    the_host = host(write_level(doc), tmp_path, "--expect", "1", "--wait", "90")
    procs.append(the_host)
    laptop = join(join_address(the_host), "--code", CODE, "--as", "alice")
    procs.append(laptop)
    the_host.wait_for("the room is ready: 1 desk")
    os.killpg(the_host.popen.pid, signal.SIGINT)  # Ctrl-C in the lecturer's terminal: her whole group
    assert the_host.finish() == 130, "\n".join(the_host.lines)
    assert laptop.finish() == 1, "\n".join(laptop.lines)
    assert laptop.lines[-1].startswith("classroom: join: lost the class at 127.0.0.1:")
    for proc in (the_host, laptop):  # every process either started (launchers, proxies, students) is gone
        deadline = time.monotonic() + 30
        while group_alive(proc.popen.pid):
            assert time.monotonic() < deadline, f"processes of {proc.argv[0]} outlived it"
            time.sleep(0.05)


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_host_whose_certificate_is_not_from_the_ca_it_sends_is_left_at_once(procs: list[Proc]) -> None:
    """An impostor host: its TLS certificate is from one CA, its welcome names another."""
    real, claimed = pki.CertificateAuthority.create(), pki.CertificateAuthority.create()
    context = host_context(real)
    listener = socket.create_server(("127.0.0.1", 0))
    said: list[bytes] = []

    def serve() -> None:
        with context.wrap_socket(listener.accept()[0], server_side=True) as conn:
            said.append(conn.recv(65536))
            conn.sendall(control({"type": "welcome", "seat": "alice", "level": "x", "ca": claimed.pem.decode(),
                                  "room": None, "rate": None}))
            conn.recv(65536)  # until the laptop hangs up

    server = threading.Thread(target=serve, daemon=True)
    server.start()
    try:
        laptop = join(listener.getsockname()[:2], "--code", CODE)
        procs.append(laptop)
        assert laptop.finish() == 1
        assert laptop.lines == ["classroom: join: the host's certificate is not from the class CA it sent "
                                "(InvalidSignature): not joining"]
        server.join(30)
        assert said and b'"type":"join"' in said[0]
    finally:
        listener.close()


def test_a_full_room_refuses_one_more_and_a_seat_given_up_is_free_again(write_level: Any, tmp_path: Path,
                                                                       procs: list[Proc]) -> None:
    doc = level_doc(name="test-hosted-pair", traffic=[
        {"from": "alice", "to": "ben", "count": 3, "every": "50ms", "text": "Just us"}])
    doc["students"] = [{"name": "alice", "seat": [0, 0]}, {"name": "ben", "seat": [0, 1]}]
    the_host = host(write_level(doc), tmp_path, "--expect", "1", "--wait", "90")
    procs.append(the_host)
    address = join_address(the_host)
    first, second, third = RawLaptop(address), RawLaptop(address), RawLaptop(address)
    try:
        seats = []
        for laptop in (first, second):
            laptop.send(control({"type": "join", "code": CODE}))
            welcome = laptop.until("welcome")
            assert welcome is not None
            seats.append(welcome.header["seat"])
        assert seats == ["alice", "ben"]  # the first free seats, in the level's order
        third.send(control({"type": "join", "code": CODE}))
        refusal = third.until("refused")
        assert refusal is not None and refusal.header["reason"] == "the room is full: every seat has a laptop"
        the_host.wait_for("refused a laptop at 127.0.0.1: the room is full")
        first.close()  # alice's laptop gives up before it is ready: her seat is free again
        mine = join(address, "--code", CODE)
        procs.append(mine)
        mine.wait_for("joined class test-hosted-pair as alice")
        # The round starts with her: ben's laptop, joined but never ready, is told so and left out.
        late = second.until("refused")
        assert late is not None and late.header["reason"] == "the round started before her laptop was ready"
    finally:
        for laptop in (first, second, third):
            laptop.close()
    assert mine.finish() == 0
    assert the_host.finish() == 0, "\n".join(the_host.lines)  # ben's desk is played here
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["ledger_ok"] and report["remote_desks"] == {"alice": "127.0.0.1"}


def test_an_expired_code_lets_nobody_in_and_local_processes_play_every_desk(
        write_level: Any, tmp_path: Path, procs: list[Proc]) -> None:
    the_host = host(two_way_level(write_level), tmp_path, "--expect", "1", "--wait", "30", "--code-expires", "0.01")
    procs.append(the_host)
    late = join(join_address(the_host), "--code", CODE)
    procs.append(late)
    assert late.finish() == 2
    assert late.lines == ["classroom: join: the class refused this laptop: the join code has expired "
                          "(ask the lecturer for the new one)"]
    assert the_host.finish() == 0, "\n".join(the_host.lines)
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["ledger_ok"] and report["remote_desks"] == {}
    assert report["notes"]["delivered"] == 15


def test_a_per_row_profile_cannot_be_hosted(write_level: Any, tmp_path: Path, procs: list[Proc]) -> None:
    doc = level_doc(name="test-row-cilium")
    doc["mesh"] = {"profile": "cilium", "resources": []}
    the_host = host(write_level(doc), tmp_path)
    procs.append(the_host)
    assert the_host.finish() == 2
    assert len(the_host.lines) == 1 and "one proxy per row" in the_host.lines[0]


# --- the join protocol's checks (no sockets) ---------------------------------------------------------


def frame(header: dict[str, Any], ftype: wire.FrameType = wire.FrameType.CONTROL) -> wire.Frame:
    return wire.Frame(ftype, header)


def test_a_join_message_is_checked_field_by_field() -> None:
    assert protocol.decode_join(frame({"type": "join", "code": "ab-cd", "as": "ben"})) == protocol.Join("ab-cd", "ben")
    assert protocol.decode_join(frame({"type": "join", "code": "abcd"})).seat is None
    for header, why in [({"type": "join", "code": None}, "'code' must be str"),
                        ({"type": "join", "code": "x", "as": 3}, "'as' must be str"),
                        ({"type": "join", "code": "x", "as": "Ben Smith"}, "not a student's name"),
                        ({"type": ["join"], "code": "x"}, "without a type"),
                        ({"type": "join", "code": "x", "extra": 1}, "unknown fields")]:
        with pytest.raises(wire.RemoteProtocolError, match=why):
            protocol.decode_join(frame(header))
    with pytest.raises(wire.RemoteProtocolError, match="join message was expected"):
        protocol.decode_join(frame({"type": "join", "code": "x"}, wire.FrameType.NOTE))
    for port in (0, 70000, "80", True):
        with pytest.raises(wire.RemoteProtocolError):
            protocol.decode_port(frame({"type": "ready", "peer_port": port}))


def test_the_join_code_is_compared_as_typed_and_expires() -> None:
    code = protocol.JoinCode("K7QP-MX2A", expires=100.0)
    assert code.check("k7qpmx2a", 99.0) is None
    assert code.check("K7QP-MX2B", 99.0) == "wrong join code"
    assert "expired" in str(code.check("K7QP-MX2A", 100.0))
    code.closed = "the round has started"
    assert code.check("K7QP-MX2A", 1.0) == "the round has started"
    assert code.check("NOPE", 1.0) == "wrong join code"  # a wrong code learns nothing about the round
    fresh = protocol.new_code()
    assert protocol.valid_code(fresh) is None and len(protocol.normal_code(fresh)) == 8
    assert protocol.valid_code("a b") is not None


def test_a_laptops_events_speak_only_for_her_own_processes_and_notes() -> None:
    good = {"kind": "sent", "note": "n1", "from": "ben", "src": "proxy-ben", "t": 1.0}
    protocol.check_events({"events": [good]}, "proxy-ben", "ben")
    for event, why in [({**good, "src": "proxy-cara"}, "in the name of 'proxy-cara'"),
                       ({**good, "from": "cara"}, "a sent event for a note of 'cara'"),
                       ({**good, "kind": "result", "from": "cara"}, "a result event for a note of 'cara'"),
                       ({"kind": 3, "src": "proxy-ben", "t": 1.0}, "not a record with a kind"),
                       ({**good, "t": "soon"}, "without its room time")]:
        with pytest.raises(wire.RemoteProtocolError, match=why):
            protocol.check_events({"events": [event]}, "proxy-ben", "ben")
    with pytest.raises(wire.RemoteProtocolError, match="a student event for 'cara'"):
        protocol.check_events({"events": [{"kind": "student_done", "hand": "cara", "src": "student", "t": 1.0}]},
                              "student", "ben")
    with pytest.raises(wire.RemoteProtocolError, match="list of events"):
        protocol.check_events({"events": "all"}, "student", "ben")


def test_the_lecturers_pause_and_slow_motion_reach_the_laptops_clock(write_level: Any, tmp_path: Path,
                                                                      procs: list[Proc]) -> None:
    """Room time on her laptop stands still and slows with the lecturer's: her notes' times (her
    clock) and their arrival at a desk played on the host (the host's clock) stay in order."""
    doc = level_doc(name="test-hosted-clock", traffic=[
        {"from": "alice", "to": "ben", "count": 12, "every": "100ms", "text": "Tick"}])
    doc["room"]["passing_time"] = "20ms"
    script = tmp_path / "lecture.yaml"
    script.write_text("- {at: 300ms, do: pause, for: 1s}\n- {at: 600ms, do: speed, rate: 0.5}\n"
                      "- {at: 900ms, do: speed, rate: 1}\n")
    the_host = host(write_level(doc), tmp_path, "--expect", "1", "--wait", "90", "--script", str(script))
    procs.append(the_host)
    laptop = join(join_address(the_host), "--code", CODE, "--as", "alice")
    procs.append(laptop)
    assert the_host.finish() == 0, "\n".join(the_host.lines)
    assert laptop.finish() == 0
    recorded = events(tmp_path)
    assert {e["kind"] for e in recorded} >= {"paused", "resumed", "rate_changed"}
    sent = {e["note"]: e["t"] for e in recorded if e["kind"] == "sent" and e["src"] == "proxy-alice"}
    handed = {e["note"]: e["t"] for e in recorded if e["kind"] == "delivered" and e["src"] == "proxy-ben"}
    assert len(sent) == 12 and set(handed) == set(sent)
    # A second of pause unfollowed would put her clock a second ahead of the host's: arrivals before sending.
    assert all(0.0 <= handed[n] - sent[n] < 0.5 for n in sent), {n: handed[n] - sent[n] for n in sent}
