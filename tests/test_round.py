"""Real rounds: office, proxies and students as OS processes on 127.0.0.1, real mTLS."""

from __future__ import annotations

import asyncio
import ssl
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import LEVELS

from classroom.level import load_level
from classroom.mesh.control import pki
from classroom.mesh.runtime import wire
from classroom.mesh.runtime.round import Round, RoundResult, alive, wait_gone
from classroom.report import build_report

pytestmark = pytest.mark.timeout(120)
EVENT_LIMIT = 30.0  # generous: these wait on events, never on a fixed sleep


class Watcher:
    """Runs a round as a task and lets a test wait for the events it needs."""

    def __init__(self, round_: Round) -> None:
        self.round = round_
        self.ready = asyncio.Event()
        self.seen: list[dict[str, Any]] = []
        self.changed = asyncio.Event()
        round_.on_event = self._on_event
        self.task: asyncio.Task[RoundResult] | None = None

    def _on_event(self, event: dict[str, Any]) -> None:
        self.seen.append(event)
        self.changed.set()
        if event.get("kind") == "room_ready":
            self.ready.set()

    async def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self.round.run())
        ready = asyncio.get_running_loop().create_task(self.ready.wait())
        done, _ = await asyncio.wait(
            {ready, self.task}, timeout=EVENT_LIMIT, return_when=asyncio.FIRST_COMPLETED
        )
        if self.task in done:
            self.task.result()
        assert self.ready.is_set(), "the room never got ready"

    async def wait_for(self, predicate: Any) -> dict[str, Any]:
        deadline = time.monotonic() + EVENT_LIMIT
        while True:
            for event in self.seen:
                if predicate(event):
                    return event
            self.changed.clear()
            left = deadline - time.monotonic()
            assert left > 0, "the expected event never came"
            try:
                await asyncio.wait_for(self.changed.wait(), left)
            except TimeoutError:
                pass

    async def finish(self) -> RoundResult:
        assert self.task is not None
        return await asyncio.wait_for(self.task, 90)


def slow_traffic() -> list[dict[str, Any]]:
    """Enough notes over enough time for a test to act in the middle of the round."""
    return [{"from": "alice", "to": "fay", "count": 30, "every": "100ms", "text": "Lunch at the fountain?"}]


async def test_every_note_arrives_through_three_or_more_hands(write_level) -> None:
    level = load_level(str(write_level()))
    round_ = Round(level, level.resources, seed=7)
    result = await round_.run()
    report = build_report(level, 7, result.events, result.processes)
    failures = [
        (e["note"], e["flag"], e["reason"])
        for e in result.events
        if e["kind"] == "result" and e["state"] == "failed"
    ]
    assert report["notes"] == {"sent": 30, "delivered": 30, "failed": 0, "duplicates": 0, "in_flight": 0}, (
        failures
    )
    assert report["ledger_ok"] is True
    paths = [e["path"] for e in result.events if e["kind"] == "result" and e["from"] == "alice"]
    assert len(paths) == 20 and all(p == ["alice", "ben", "cara", "dev", "eli", "fay"] for p in paths)
    assert min(len(p) for p in paths) >= 3
    # Every link of the room is up, mutual TLS 1.3, and named in the report.
    assert {(lk["a"], lk["b"]) for lk in report["links"]} >= {("alice", "ben"), ("eli", "fay")}
    assert all(lk["tls"] == "TLSv1.3" and lk["mutual"] for lk in report["links"])
    roles = [p["role"] for p in report["processes"]]
    assert roles.count("student") == 7 and roles.count("proxy") == 7 and "office" in roles
    assert wait_gone(round_.pids()) == []


async def test_no_process_survives_the_round(write_level) -> None:
    level = load_level(str(write_level()))
    round_ = Round(level, level.resources, seed=7)
    watcher = Watcher(round_)
    await watcher.start()
    pids = round_.pids()
    assert len(pids) == 17 and all(alive(p) for p in pids)  # launcher, office, aisles, 7 + 7
    await watcher.finish()
    assert wait_gone(pids) == []


async def test_a_failing_test_body_still_stops_the_round(write_level) -> None:
    level = load_level(str(write_level(traffic=slow_traffic())))
    round_ = Round(level, level.resources, seed=7)
    watcher = Watcher(round_)
    await watcher.start()
    pids = round_.pids()
    assert watcher.task is not None
    watcher.task.cancel()  # what pytest-timeout or Ctrl-C does to a running round
    with pytest.raises(asyncio.CancelledError):
        await watcher.task
    assert wait_gone(pids) == []


def _client_context(key: Any, cert: Any, trust: bytes) -> ssl.SSLContext:
    return pki.mtls_context(False, pki.cert_pem(cert), pki.key_pem(key), trust)


async def _try_peer(address: tuple[str, int], context: ssl.SSLContext | None) -> str:
    """Connect as a would-be neighbour and send a note; what happened, in a word."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(*address, ssl=context), EVENT_LIMIT)
    except (ssl.SSLError, ConnectionError) as exc:
        return f"refused during handshake: {exc}"
    note = wire.encode_parts(
        wire.FrameType.NOTE,
        {"id": "rogue#1", "from": "alice", "to": "fay", "attempt": 0, "path": ["alice"]},
        b"x" * 40,
    )
    try:
        writer.write(note)
        await writer.drain()
        data = await asyncio.wait_for(reader.read(4096), EVENT_LIMIT)
    except (ssl.SSLError, ConnectionError) as exc:
        return f"refused: {exc}"
    finally:
        writer.close()
    return "closed" if not data else "answered"


async def test_a_peer_with_a_certificate_from_another_ca_is_refused(write_level) -> None:
    level = load_level(str(write_level(traffic=slow_traffic())))
    round_ = Round(level, level.resources, seed=7)
    watcher = Watcher(round_)
    await watcher.start()
    try:
        stranger = pki.CertificateAuthority.create("Not the class CA")
        key, cert = pki.issue_self(pki.spiffe_id(level.name, "alice"), stranger)
        context = _client_context(key, cert, stranger.pem)
        context.verify_mode = ssl.CERT_NONE  # the rogue does not care who ben is; ben cares
        outcome = await _try_peer(round_.addresses["ben"]["peer"], context)
        assert outcome != "answered"
        event = await watcher.wait_for(lambda e: e.get("kind") == "tls_rejected" and e["hand"] == "ben")
        assert "trusted class CA" in event["reason"]
    finally:
        result = await watcher.finish()
    assert sum(1 for e in result.events if e.get("kind") == "result" and e["state"] == "delivered") == 30


async def test_a_peer_that_is_not_the_expected_neighbour_is_refused(write_level, tmp_path: Path) -> None:
    ca = pki.CertificateAuthority.create()
    ca.save(tmp_path / "ca")
    level = load_level(str(write_level(traffic=slow_traffic())))
    round_ = Round(level, level.resources, seed=7, ca_dir=str(tmp_path / "ca"))
    watcher = Watcher(round_)
    await watcher.start()
    try:
        # A genuine class certificate, but for fay, who does not sit next to ben.
        key, cert = pki.issue_self(pki.spiffe_id(level.name, "fay"), ca)
        outcome = await _try_peer(round_.addresses["ben"]["peer"], _client_context(key, cert, ca.pem))
        assert outcome != "answered"
        event = await watcher.wait_for(lambda e: e.get("kind") == "tls_rejected" and e["hand"] == "ben")
        assert "sa/fay" in event["reason"] and "not a neighbour" in event["reason"]
        # A plaintext frame is refused too: the mode is STRICT.
        assert await _try_peer(round_.addresses["ben"]["peer"], None) != "answered"
        event = await watcher.wait_for(
            lambda e: e.get("kind") == "tls_rejected" and "plaintext" in e["reason"]
        )
        assert "STRICT" in event["reason"]
    finally:
        result = await watcher.finish()
    report = build_report(level, 7, result.events, result.processes)
    assert report["notes"]["delivered"] == 30 and report["ledger_ok"]


async def test_sealed_the_text_never_appears_in_what_intermediaries_forward(write_level, tmp_path: Path) -> None:
    capture = tmp_path / "capture"
    capture.mkdir()
    nosy = {name: {"nosy": True} for name in ("ben", "cara", "dev", "eli")}
    level = load_level(str(write_level(behaviours=nosy, seal=True)))
    round_ = Round(level, level.resources, seed=7, capture_dir=str(capture))
    result = await round_.run()
    report = build_report(level, 7, result.events, result.processes)
    assert report["notes"]["delivered"] == 30
    forwarded = {p.name: p.read_bytes() for p in capture.iterdir()}
    assert set(forwarded) >= {"ben.forwarded", "cara.forwarded", "dev.forwarded", "eli.forwarded"}
    for name in ("ben.forwarded", "cara.forwarded", "dev.forwarded", "eli.forwarded"):
        data = forwarded[name]
        assert len(data) > 20 * 100, name  # they did forward the notes...
        assert b"Lunch" not in data and b"Homework" not in data, name  # ...and never the text
        assert b'"to":"fay"' in data or b'"to":"dev"' in data  # the routing header is readable
    assert report["intermediaries_read"] == 0
    peeks = [e for e in result.events if e.get("kind") == "peeked"]
    assert len(peeks) >= 20 * 4 and not any(e["readable"] for e in peeks)


async def test_mtls_alone_locks_the_wire_not_the_hands_that_carry_the_note(write_level, tmp_path: Path) -> None:
    capture = tmp_path / "capture"
    capture.mkdir()
    nosy = {name: {"nosy": True} for name in ("ben", "cara")}
    level = load_level(str(write_level(behaviours=nosy, traffic=[
        {"from": "alice", "to": "dev", "count": 5, "every": "10ms", "text": "Lunch at the fountain?"}])))
    round_ = Round(level, level.resources, seed=7, capture_dir=str(capture))
    result = await round_.run()
    report = build_report(level, 7, result.events, result.processes)
    assert report["notes"]["delivered"] == 5
    assert all(lk["tls"] == "TLSv1.3" for lk in report["links"])  # every pass locked (STRICT)...
    assert b"Lunch" in (capture / "ben.forwarded").read_bytes()  # ...and still the hands read it
    assert report["intermediaries_read"] == 10  # ben and cara each read all five


async def test_two_traffic_lines_to_one_classmate_send_every_note_once(write_level) -> None:
    level = load_level(str(write_level(traffic=[
        {"from": "alice", "to": "dev", "count": 4, "every": "20ms", "text": "GET the homework"},
        {"from": "alice", "to": "dev", "count": 3, "every": "30ms", "text": "POST my answers", "method": "POST"}])))
    result = await Round(level, level.resources, seed=7).run()
    report = build_report(level, 7, result.events, result.processes)
    sent = sorted(e["note"] for e in result.events if e.get("kind") == "sent")
    assert sent == sorted(f"alice>dev#{n}" for n in range(1, 8))  # the second line numbers on from the first
    assert report["notes"]["sent"] == report["notes"]["delivered"] == 7 and report["ledger_ok"]


def test_the_ledger_is_not_ok_when_a_student_sent_more_notes_than_it_holds() -> None:
    level = load_level(str(LEVELS / "01-first-note.yaml"))
    events = [{"kind": "sent", "note": "alice>fay#1", "from": "alice", "to": "fay", "t": 1.0},
              {"kind": "result", "note": "alice>fay#1", "state": "delivered", "latency": 1.0, "t": 2.0},
              {"kind": "student_done", "hand": "alice", "sent": 2, "t": 3.0}]  # she handed over two
    assert not build_report(level, 1, events, [])["ledger_ok"]
    events[-1]["sent"] = 1
    assert build_report(level, 1, events, [])["ledger_ok"]


async def test_plaintext_mode_links_are_not_tls(write_level) -> None:
    level = load_level(
        str(
            write_level(
                mode="DISABLE",
                traffic=[{"from": "alice", "to": "cara", "count": 5, "every": "10ms", "text": "psst"}],
            )
        )
    )
    result = await Round(level, level.resources, seed=7).run()
    report = build_report(level, 7, result.events, result.processes)
    assert report["notes"]["delivered"] == 5
    assert report["links"] and all(lk["tls"] == "none" for lk in report["links"])


async def test_per_row_profile_serves_a_row_from_one_proxy(write_level) -> None:
    from conftest import level_doc

    doc = level_doc()
    doc["mesh"]["profile"] = "cilium"
    level = load_level(str(write_level(doc)))
    round_ = Round(level, level.resources, seed=7)
    result = await round_.run()
    report = build_report(level, 7, result.events, result.processes)
    proxies = [p for p in report["processes"] if p["role"] == "proxy"]
    assert sorted(len(p["serves"]) for p in proxies) == [1, 6]
    assert report["notes"]["delivered"] == 30 and report["ledger_ok"]


async def test_a_garbled_frame_closes_that_connection_and_the_proxy_goes_on(
    write_level, tmp_path: Path
) -> None:
    ca = pki.CertificateAuthority.create()
    ca.save(tmp_path / "ca")
    level = load_level(str(write_level(traffic=slow_traffic())))
    round_ = Round(level, level.resources, seed=7, ca_dir=str(tmp_path / "ca"))
    watcher = Watcher(round_)
    await watcher.start()
    try:
        # A genuine neighbour of ben's (alice's identity) that sends garbage after the handshake.
        key, cert = pki.issue_self(pki.spiffe_id(level.name, "alice"), ca)
        for garbage in (b"\x09\x01\x00\x00\x00\x10" + b"?" * 16,  # a frame version nobody speaks
                        b"\x01\x01\xff\xff\xff\xff"):  # a 4 GiB frame, refused from its prefix
            reader, writer = await asyncio.open_connection(
                *round_.addresses["ben"]["peer"], ssl=_client_context(key, cert, ca.pem))
            writer.write(garbage)
            await writer.drain()
            # ben closes this connection (after its welcome frame): EOF, not an answer.
            data = await asyncio.wait_for(reader.read(), EVENT_LIMIT)
            decoder = wire.FrameDecoder()
            decoder.receive_data(data)
            assert [f.header.get("type") for f in decoder.frames()] == ["welcome"]
            writer.close()
        errors = []
        for needle in ("version", "limit"):
            errors.append(await watcher.wait_for(
                lambda e, n=needle: e.get("kind") == "protocol_error" and n in e["reason"]))
        assert all(e["hand"] == "ben" for e in errors)
    finally:
        result = await watcher.finish()
    report = build_report(level, 7, result.events, result.processes)
    assert report["notes"]["delivered"] == 30 and report["ledger_ok"]
    assert report["protocol_errors"] == 2
