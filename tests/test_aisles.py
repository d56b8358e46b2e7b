"""The aisles as a real process: bytes, TLS, passing time and every fault, over 127.0.0.1.

Each test forks an aisles process with the launcher, runs a small echo server
as "b" in the test's own event loop, and dials the aisle listener as "a".  The
test holds the office's end of the control socket pair: it sends CONTROL start
and decodes the EVENT frames that come back.  Waits are on data or events,
each with a time limit; only an expected *silence* (a blackhole) is a timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import ssl
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from classroom.mesh.control import pki
from classroom.mesh.runtime import net, specs, wire
from classroom.mesh.runtime.clock import SharedClock
from classroom.mesh.runtime.dice import Dice
from classroom.mesh.runtime.launcher import Launcher
from classroom.mesh.runtime.round import faults_spec, wait_gone

pytestmark = pytest.mark.timeout(60)
LIMIT = 5.0  # the most any expected data or event may take


# --------------------------------------------------------------------------- helpers


class Control(asyncio.Protocol):
    """The office's end of the aisles' control socket: EVENT frames in, CONTROL out."""

    def __init__(self) -> None:
        self.decoder = wire.FrameDecoder()
        self.events: list[dict[str, Any]] = []
        self.transport: asyncio.Transport | None = None
        self._changed = asyncio.Event()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.decoder.receive_data(data)
        for frame in self.decoder.frames():
            assert frame.type is wire.FrameType.EVENT
            self.events.extend(frame.header["events"])
        self._changed.set()

    def events_protocol(self) -> asyncio.Protocol:
        """A protocol for the aisles' events socket: what it reads comes here."""
        control = self

        class Events(asyncio.Protocol):
            def data_received(self, data: bytes) -> None:
                control.data_received(data)

        return Events()

    def start(self) -> None:
        assert self.transport is not None
        self.transport.write(wire.encode_parts(wire.FrameType.CONTROL, {"type": "start"}))

    def matching(self, kind: str, **fields: Any) -> list[dict[str, Any]]:
        return [e for e in self.events if e["kind"] == kind and all(e.get(k) == v for k, v in fields.items())]

    async def wait(self, kind: str, count: int = 1, **fields: Any) -> list[dict[str, Any]]:
        """The first ``count`` events of ``kind`` with these fields (waits up to LIMIT)."""
        async with asyncio.timeout(LIMIT):
            while len(found := self.matching(kind, **fields)) < count:
                self._changed.clear()
                await self._changed.wait()
        return found[:count]


@dataclass
class Peer:
    """A tiny server standing for b's proxy: records what arrives (and when), echoes it back."""

    echo: bool = True
    arrivals: asyncio.Queue[tuple[float, bytes]] = field(default_factory=asyncio.Queue)
    server: asyncio.Server | None = None

    @property
    def address(self) -> list[Any]:
        assert self.server is not None
        host, port = self.server.sockets[0].getsockname()[:2]
        return [host, port]

    async def start(self, context: ssl.SSLContext | None = None) -> Peer:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=context)
        return self

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        with contextlib.suppress(OSError, ssl.SSLError):
            while data := await reader.read(65536):
                self.arrivals.put_nowait((loop.time(), data))
                if self.echo:
                    writer.write(data)
                    await writer.drain()
        writer.close()

    async def receive(self, size: int) -> tuple[float, bytes]:
        """``size`` bytes (from one or more chunks) and the time the last of them came."""
        got = b""
        when = 0.0
        async with asyncio.timeout(LIMIT):
            while len(got) < size:
                when, data = await self.arrivals.get()
                got += data
        return when, got

    def close(self) -> None:
        if self.server is not None:
            self.server.close()


@dataclass
class Aisles:
    pid: int
    control: Control
    addresses: list[tuple[str, int]]
    sock: socket.socket
    clock: SharedClock
    events: asyncio.BaseTransport

    async def dial(
        self, index: int = 0, context: ssl.SSLContext | None = None
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        host, port = self.addresses[index]
        return await asyncio.wait_for(asyncio.open_connection(host, port, ssl=context), LIMIT)

    def stop(self) -> list[int]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGTERM)
        left = wait_gone([self.pid], timeout=LIMIT)
        if self.control.transport is not None:
            self.control.transport.close()
        self.events.close()
        self.clock.close()
        return left


async def start_aisles(
    launcher: Launcher,
    links: list[tuple[str, str, list[Any]]],
    faults: list[dict[str, Any]] | None = None,
    passing_time: float = 0.0,
    speed: float = 1.0,
    seed: int = 7,
) -> Aisles:
    loop = asyncio.get_running_loop()
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    events_ours, events_theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    listeners = [net.bound_listener() for _ in links]
    clock = SharedClock(rate=speed)  # the round's clock: room time at the round's speed
    spec = specs.AislesSpec.from_json({
        "clock": clock.path,
        "seed": seed,
        "namespace": "test",
        "passing_time": passing_time,
        "links": [{"a": a, "b": b, "target": target} for a, b, target in links],
        "faults": faults or [],
    })
    try:
        # Its events socket (to the runner's hub, played here by Control), then its control socket.
        pid = launcher.spawn(spec, [events_theirs.fileno(), theirs.fileno(), *(s.fileno() for s in listeners)])
        addresses = [s.getsockname() for s in listeners]
    finally:
        theirs.close()
        events_theirs.close()
        for sock in listeners:  # the aisles holds its own copies
            sock.close()
    ours.setblocking(False)
    _, control = await loop.create_unix_connection(Control, sock=ours)
    events_ours.setblocking(False)
    events, _ = await loop.create_unix_connection(control.events_protocol, sock=events_ours)
    return Aisles(pid, control, addresses, ours, clock, events)


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, data: bytes) -> bytes:
    """Send ``data`` and read its echo (at the same time: flow control holds a big one back)."""

    async def send() -> None:
        writer.write(data)
        await writer.drain()

    async with asyncio.timeout(LIMIT):
        _, back = await asyncio.gather(send(), reader.readexactly(len(data)))
    return back


async def assert_cut(reader: asyncio.StreamReader) -> None:
    """The connection ends: a reset, or an end of file, within LIMIT."""
    try:
        data = await asyncio.wait_for(reader.read(100), LIMIT)
    except (ConnectionResetError, BrokenPipeError):
        return
    assert data == b"", f"expected a cut connection, got {data!r}"


async def dial_refused(aisles: Aisles, index: int = 0) -> None:
    """A new connection is accepted and then cut at once."""
    try:
        reader, writer = await aisles.dial(index)
    except (ConnectionResetError, ConnectionRefusedError):
        return
    await assert_cut(reader)
    writer.close()


def free_port() -> int:
    """A loopback port with nobody listening on it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def launcher() -> Iterator[Launcher]:
    with Launcher() as launcher:
        yield launcher


@pytest.fixture
async def peer() -> AsyncIterator[Peer]:
    peer = await Peer().start()
    yield peer
    peer.close()


@pytest.fixture
async def room(launcher: Launcher) -> AsyncIterator[Callable[..., Any]]:
    """``await room(links, ...)`` starts an aisles process; all are stopped after the test."""
    started: list[Aisles] = []

    async def start(*args: Any, **kwargs: Any) -> Aisles:
        aisles = await start_aisles(launcher, *args, **kwargs)
        started.append(aisles)
        return aisles

    yield start
    for aisles in started:
        assert aisles.stop() == [], "the aisles did not stop on SIGTERM"


# --------------------------------------------------------------------------- bytes


async def test_bytes_pass_both_ways_unchanged(room: Callable[..., Any], peer: Peer) -> None:
    aisles = await room([("alice", "ben", peer.address)])
    reader, writer = await aisles.dial()
    for payload in (b"x", bytes(range(256)) * 4, os.urandom(3 * 1024 * 1024)):
        assert await echo(reader, writer, payload) == payload
    opened = (await aisles.control.wait("aisle_connection", direction="open"))[0]
    assert opened["link"] == ["alice", "ben"] and opened["src"] == "aisles" and opened["conn"] == 1
    writer.close()
    closed = (await aisles.control.wait("aisle_connection", direction="closed"))[0]
    total = 1 + 1024 + 3 * 1024 * 1024
    assert closed["bytes_forward"] == total and closed["bytes_back"] == total
    assert closed["swallowed"] == 0
    # A peer that leaves at once, before or after sending, does not bother the aisles.
    for _ in range(5):
        _, early = await aisles.dial()
        early.write(b"bye")
        early.close()
    reader, writer = await aisles.dial()
    assert await echo(reader, writer, b"still here") == b"still here"
    writer.close()


async def test_tls_passes_through_untouched(room: Callable[..., Any]) -> None:
    ca = pki.CertificateAuthority.create()
    contexts = {}
    for name, server_side in (("alice", False), ("ben", True)):
        identity = pki.spiffe_id("test", name)
        key, cert = pki.issue_self(identity, ca)
        contexts[name] = pki.mtls_context(server_side, pki.cert_pem(cert), pki.key_pem(key), ca.pem)
    peer = await Peer().start(contexts["ben"])
    try:
        aisles = await room([("alice", "ben", peer.address)], passing_time=0.05)
        reader, writer = await aisles.dial(context=contexts["alice"])
        ssl_object = writer.get_extra_info("ssl_object")
        assert ssl_object.version() == "TLSv1.3"
        assert pki.peer_identity(ssl_object) == pki.spiffe_id("test", "ben")
        note = os.urandom(3 * 1024 * 1024)  # more than the delay queue holds: flow control
        assert await echo(reader, writer, note) == note
        writer.close()
    finally:
        peer.close()


async def test_a_refused_dial_resets_the_dialer_and_the_aisles_goes_on(
    room: Callable[..., Any], peer: Peer
) -> None:
    nobody = ["127.0.0.1", free_port()]
    aisles = await room([("alice", "ben", nobody), ("alice", "cara", peer.address)])
    for _ in range(3):
        await dial_refused(aisles, 0)
    failed = (await aisles.control.wait("aisle_dial_failed"))[0]
    assert failed["link"] == ["alice", "ben"] and failed["error"]
    reader, writer = await aisles.dial(1)
    assert await echo(reader, writer, b"via cara") == b"via cara"
    writer.close()


# --------------------------------------------------------------------------- time


async def test_passing_time_delays_a_to_b_only_in_order_and_scaled_by_speed(
    room: Callable[..., Any], peer: Peer
) -> None:
    loop = asyncio.get_running_loop()
    passing = 0.5 / 2  # passing_time 500ms at speed 2
    aisles = await room([("alice", "ben", peer.address)], passing_time=0.5, speed=2.0)
    reader, writer = await aisles.dial()
    for _ in range(2):
        sent = loop.time()
        for chunk in (b"one ", b"two ", b"three"):
            writer.write(chunk)
            await writer.drain()
        arrived, data = await peer.receive(len(b"one two three"))
        assert data == b"one two three"
        assert passing <= arrived - sent < passing + 0.25, arrived - sent
        back = await asyncio.wait_for(reader.readexactly(len(data)), LIMIT)
        returned = loop.time()
        assert back == data
        assert returned - arrived < 0.1, "acknowledgements must not take the passing time"
    writer.close()


async def test_latency_adds_to_passing_time_during_its_window(room: Callable[..., Any], peer: Peer) -> None:
    loop = asyncio.get_running_loop()
    fault = {"kind": "latency", "links": [["ben", "alice"]], "at": 0.1, "until": 1.0, "latency": 0.3}
    aisles = await room([("alice", "ben", peer.address)], faults=[fault], passing_time=0.1)
    reader, writer = await aisles.dial()

    async def one_way() -> float:
        sent = loop.time()
        writer.write(b"ping")
        arrived, _ = await peer.receive(4)
        await asyncio.wait_for(reader.readexactly(4), LIMIT)
        return arrived - sent

    aisles.control.start()
    start = (await aisles.control.wait("aisle_fault", phase="start"))[0]
    assert start["fault"] == "latency" and start["links"] == [["ben", "alice"]] and start["latency"] == 0.3
    assert 0.4 <= await one_way() < 0.4 + 0.25
    await aisles.control.wait("aisle_fault", phase="end")
    assert 0.1 <= await one_way() < 0.1 + 0.25
    writer.close()


# --------------------------------------------------------------------------- faults


async def test_blackhole_swallows_bytes_during_its_window_only(room: Callable[..., Any], peer: Peer) -> None:
    fault = {"kind": "blackhole", "links": [["alice", "ben"]], "at": 0.1, "until": 1.0}
    aisles = await room([("alice", "ben", peer.address)], faults=[fault])
    reader, writer = await aisles.dial()
    assert await echo(reader, writer, b"before") == b"before"  # no start yet: no fault
    assert (await peer.receive(6))[1] == b"before"
    aisles.control.start()
    await aisles.control.wait("aisle_fault", phase="start", fault="blackhole")
    writer.write(b"lost")
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(peer.arrivals.get(), 0.3)
    await aisles.control.wait("aisle_fault", phase="end", fault="blackhole")
    assert await echo(reader, writer, b"found") == b"found"
    assert (await peer.receive(5))[1] == b"found"  # and "lost" never arrived
    assert peer.arrivals.empty()
    assert not aisles.control.matching("aisle_connection", direction="closed"), "the connection stays open"
    writer.close()
    closed = (await aisles.control.wait("aisle_connection", direction="closed"))[0]
    assert closed["swallowed"] == len(b"lost")


async def test_reset_aborts_open_connections_and_refuses_new_ones_until_the_end(
    room: Callable[..., Any], peer: Peer
) -> None:
    fault = {"kind": "reset", "links": [["alice", "ben"]], "at": 0.1, "until": 0.8}
    aisles = await room([("alice", "ben", peer.address)], faults=[fault])
    reader, writer = await aisles.dial()
    assert await echo(reader, writer, b"hello") == b"hello"
    aisles.control.start()
    reset = (await aisles.control.wait("aisle_reset", refused=False))[0]
    assert reset["link"] == ["alice", "ben"] and reset["fault"] == "reset" and reset["conn"] == 1
    await assert_cut(reader)
    writer.close()
    await dial_refused(aisles)
    assert not aisles.control.matching("aisle_fault", phase="end"), "the window is too short for this test"
    refused = (await aisles.control.wait("aisle_reset", refused=True))[0]
    assert refused["conn"] == 2
    await aisles.control.wait("aisle_fault", phase="end", fault="reset")
    reader, writer = await aisles.dial()
    assert await echo(reader, writer, b"again") == b"again"
    writer.close()
    closed = (await aisles.control.wait("aisle_connection", direction="closed"))[0]
    assert closed["conn"] == 1 and "reset" in closed["reason"]


async def test_partition_cuts_both_directions_until_it_heals(room: Callable[..., Any]) -> None:
    alice, ben = await Peer().start(), await Peer().start()
    try:
        fault = {"kind": "partition", "links": [["ben", "alice"]], "at": 0.1, "until": 0.9}
        aisles = await room([("alice", "ben", ben.address), ("ben", "alice", alice.address)], faults=[fault])
        conns = [await aisles.dial(0), await aisles.dial(1)]
        for reader, writer in conns:
            assert await echo(reader, writer, b"hi") == b"hi"
        aisles.control.start()
        resets = await aisles.control.wait("aisle_reset", count=2, refused=False)
        assert sorted(r["link"] for r in resets) == [["alice", "ben"], ["ben", "alice"]]
        assert {r["fault"] for r in resets} == {"partition"}
        for reader, writer in conns:
            await assert_cut(reader)
            writer.close()
        await dial_refused(aisles, 0)
        await dial_refused(aisles, 1)
        await aisles.control.wait("aisle_reset", count=2, refused=True)
        end = (await aisles.control.wait("aisle_fault", phase="end"))[0]
        assert end["fault"] == "partition" and end["links"] == [["ben", "alice"]]
        for index in (0, 1):
            reader, writer = await aisles.dial(index)
            assert await echo(reader, writer, b"healed") == b"healed"
            writer.close()
    finally:
        alice.close()
        ben.close()


async def test_a_reset_with_a_probability_draws_from_the_seed(room: Callable[..., Any], peer: Peer) -> None:
    seed = 11
    link = ("alice", "ben")
    dice = Dice(seed)
    expected = [n for n in range(1, 9) if dice.happens(0.5, "aisle-fault", 0, link, n)]
    assert 0 < len(expected) < 8, "pick a seed whose draw takes some connections and spares others"
    assert expected == [n for n in range(1, 9) if Dice(seed).happens(0.5, "aisle-fault", 0, link, n)]
    fault = {"kind": "reset", "links": [list(link)], "at": 0.0, "until": 0.2, "probability": 0.5}
    aisles = await room([(*link, peer.address)], faults=[fault], seed=seed)
    conns = []
    for _ in range(8):  # one after the other, so the aisles numbers them 1..8 in this order
        reader, writer = await aisles.dial()
        assert await echo(reader, writer, b"n") == b"n"
        conns.append((reader, writer))
    aisles.control.start()
    await aisles.control.wait("aisle_fault", phase="start")
    assert [e["conn"] for e in aisles.control.matching("aisle_reset")] == expected
    for number, (reader, writer) in enumerate(conns, 1):
        if number in expected:
            await assert_cut(reader)
        else:
            assert await echo(reader, writer, b"spared") == b"spared"
        writer.close()


# --------------------------------------------------------------------------- the process


async def test_sigterm_stops_the_aisles_and_stop_leaves_no_process(peer: Peer) -> None:
    launcher = Launcher()
    try:
        aisles = await start_aisles(launcher, [("alice", "ben", peer.address)])
        reader, writer = await aisles.dial()
        assert await echo(reader, writer, b"x") == b"x"
        os.kill(aisles.pid, signal.SIGTERM)
        assert wait_gone([aisles.pid], timeout=LIMIT) == []
        await assert_cut(reader)
        writer.close()
    finally:
        launcher.stop()
    assert wait_gone([launcher.pid, aisles.pid], timeout=LIMIT) == []


def test_faults_spec_is_what_the_aisles_reads() -> None:
    from classroom.level import AisleFault

    faults = (
        AisleFault("latency", (("alice", "ben"),), 1.0, 2.0, 0.2),
        AisleFault("partition", (("ben", "cara"), ("alice", "ben")), 0.0, None, None),
    )
    assert [f.__dict__ for f in faults_spec(faults)] == [
        {"kind": "latency", "links": (("alice", "ben"),), "at": 1.0, "until": 2.0, "latency": 0.2,
         "probability": None},
        {
            "kind": "partition",
            "links": (("ben", "cara"), ("alice", "ben")),
            "at": 0.0,
            "until": None,
            "latency": None,
            "probability": None,
        },
    ]
