"""Round-trip latency of one note through the mesh, beside direct TCP, direct mTLS and nginx.

    python bench/hop_latency.py [--quick] [--json] [--profile] [--syscalls]

Paths measured in one run, interleaved in rounds so machine noise hits them all alike
(open loop: one ~200-byte note every 1 ms on a schedule; each note's send -> answer time):

  direct_tcp   bench client -> acker, plaintext TCP
  direct_mtls  bench client (alice) -> acker (cara), TLS 1.3 with mutual authentication
  hop          client (alice, mTLS) -> a real proxy process serving ben -> acker (cara, mTLS)
  pair         bench student -> alice's sidecar -> cara's sidecar -> bench student (sealed)
  nginx        client (mTLS) -> nginx stream proxy (mTLS both sides) -> acker

Then a saturation run through ben's proxy (closed loop, pipelined clients) and the proxy's RSS.
``--syscalls`` then counts, under ``strace -c``, the system calls ben's proxy and nginx make per
relayed note at 1,000 notes/s (counts, unlike times, do not depend on the machine's load).
The clients (and a fake office that drives the proxies over their control sockets) live in this
process on uvloop; the acker is a forked process; the proxies are forked by the Launcher.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import dataclasses
import gc
import json
import math
import multiprocessing
import os
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from classroom.mesh.control import pki
from classroom.mesh.control.policy import MeshPolicy
from classroom.mesh.runtime import net, specs, wire
from classroom.mesh.runtime.launcher import Launcher

NOTE, ACK, SEND = wire.FrameType.NOTE, wire.FrameType.ACK, wire.FrameType.SEND
DELIVER, RESULT = wire.FrameType.DELIVER, wire.FrameType.RESULT
CONTROL, EVENT = wire.FrameType.CONTROL, wire.FrameType.EVENT
NAMESPACE = "bench"
NGINX = "/usr/sbin/nginx"
STREAM_MODULE = "/usr/lib/nginx/modules/ngx_stream_module.so"
BODY = bytes(range(200))  # opaque ~200-byte body, as a sealed envelope would be
TEXT = (b"Psst. Meet at the bike racks after the bell, bring the maths homework. " * 3)[:200]
INTERVAL = 0.001  # 1,000 notes/s
PATHS = ("direct_tcp", "direct_mtls", "hop", "pair", "nginx")
_PR_SET_PDEATHSIG = 1
COUNTED_KINDS = ("forwarded", "sent", "result", "delivered", "tls_rejected", "protocol_error",
                 "link_down")


@dataclass(frozen=True)
class Settings:
    rounds: int
    warmup: int  # notes discarded per path per round
    notes: int  # notes measured per path per round
    sat_warmup: float
    sat_seconds: float
    sat_connections: int = 4
    sat_window: int = 64
    syscalls: bool = False  # also count system calls per note under strace


QUICK = Settings(rounds=5, warmup=150, notes=1000, sat_warmup=0.5, sat_seconds=2.0)
FULL = Settings(rounds=10, warmup=300, notes=2500, sat_warmup=1.0, sat_seconds=6.0)


def die_with_parent(sig: int = signal.SIGKILL) -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)


def nodelay(transport: asyncio.BaseTransport) -> None:
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def cpu_split(pid: int) -> tuple[int, int]:
    """(utime, stime) of a process, in clock ticks ((0, 0) if it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0, 0
    fields = stat.rsplit(")", 1)[1].split()
    return int(fields[11]), int(fields[12])


def cpu_ticks(pid: int) -> int:
    return sum(cpu_split(pid))


def machine_busy_ticks() -> int:
    """Ticks all CPUs spent busy (not idle, not iowait), from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(fields) - fields[3] - fields[4]


def own_tree_ticks() -> int:
    """CPU ticks of this process and all its descendants that are alive now."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                stat = Path(f"/proc/{entry}/stat").read_text()
                ppid = int(stat.rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry))
    total, todo = 0, [os.getpid()]
    while todo:
        pid = todo.pop()
        total += cpu_ticks(pid)
        todo.extend(children.get(pid, ()))
    return total


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return math.nan


# --- identities ---------------------------------------------------------------------------

@dataclass
class Identity:
    name: str
    cert: bytes
    key: bytes

    def context(self, ca: pki.CertificateAuthority, server_side: bool) -> ssl.SSLContext:
        return pki.mtls_context(server_side, self.cert, self.key, ca.pem)


def identity(ca: pki.CertificateAuthority, name: str) -> Identity:
    key, cert = pki.issue_self(pki.spiffe_id(NAMESPACE, name), ca)
    return Identity(name, pki.cert_pem(cert), pki.key_pem(key))


# --- the acker: its own process -------------------------------------------------------------

def welcome(transport: asyncio.BaseTransport, hand: str) -> None:
    """A proxy that dials a neighbour counts the link up only when the accepting side, having
    checked the dialer's certificate, sends this CONTROL frame (as proxy.Hand._admit does)."""
    transport.write(wire.encode_parts(CONTROL, {"type": "welcome", "hand": hand}))  # type: ignore[attr-defined]


class AckerProtocol(asyncio.Protocol):
    """Answers each NOTE frame with an end-to-end ACK, as a recipient's hand would."""

    def __init__(self) -> None:
        self.decoder = wire.FrameDecoder()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        nodelay(transport)
        welcome(transport, "cara")

    def data_received(self, data: bytes) -> None:
        decoder = self.decoder
        decoder.receive_data(data)
        out = []
        try:
            while (frame := decoder.next_frame()) is not None:
                if frame.type is NOTE:
                    h = frame.header
                    out.append(wire.encode_parts(ACK, {
                        "id": h.get("id"), "attempt": h.get("attempt", 0), "status": "delivered",
                        "by": "cara", "path": [*h.get("path", ()), "cara"]}))
        except wire.RemoteProtocolError:
            assert self.transport is not None
            self.transport.close()
            return
        if out and self.transport is not None:
            self.transport.write(b"".join(out))


def acker_main(tcp_sock: socket.socket, tls_sock: socket.socket, cara: Identity,
               ca_pem: bytes) -> None:
    die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the bench decides when we stop
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    ctx = pki.mtls_context(True, cara.cert, cara.key, ca_pem)
    gc.collect()
    gc.freeze()

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        await loop.create_server(AckerProtocol, sock=tcp_sock)
        await loop.create_server(AckerProtocol, sock=tls_sock, ssl=ctx)
        await asyncio.Event().wait()

    net.run(serve())


# --- clients -------------------------------------------------------------------------------

class RttClient(asyncio.Protocol):
    """Sends frames and times each one until the frame that answers its id."""

    def __init__(self, answer: wire.FrameType, label: str) -> None:
        self.answer = answer
        self.label = label
        self.decoder = wire.FrameDecoder()
        self.transport: asyncio.Transport | None = None
        self.sent: dict[str, int] = {}
        self.samples: list[int] = []
        self.record = False
        self.outstanding = 0
        self.failed = 0
        self.failures: list[str] = []
        self.ready = asyncio.Event()
        self.drained: asyncio.Future[None] | None = None
        self.lost_connection = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        nodelay(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.lost_connection = True
        if self.drained is not None and not self.drained.done():
            self.drained.set_exception(ConnectionError(f"{self.label}: connection lost ({exc})"))

    def send(self, note_id: str, data: bytes) -> None:
        if self.transport is None:
            raise ConnectionError(f"{self.label}: connection lost")
        self.outstanding += 1
        self.sent[note_id] = time.perf_counter_ns()
        self.transport.write(data)

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter_ns()
        decoder = self.decoder
        decoder.receive_data(data)
        while (frame := decoder.next_frame()) is not None:
            if frame.type is self.answer:
                t0 = self.sent.pop(frame.header.get("id"), None)  # type: ignore[arg-type]
                if t0 is None:
                    continue
                self.outstanding -= 1
                if frame.header.get("status") != "delivered":
                    self.failed += 1
                    if len(self.failures) < 3:
                        self.failures.append(str(frame.header))
                elif self.record:
                    self.samples.append(now - t0)
            elif frame.type is CONTROL and frame.header.get("type") == "ready":
                self.ready.set()
        if self.outstanding == 0 and self.drained is not None and not self.drained.done():
            self.drained.set_result(None)

    async def drain(self, timeout: float) -> int:
        """Wait for every outstanding answer; the number still missing after ``timeout``."""
        if self.outstanding:
            self.drained = asyncio.get_running_loop().create_future()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.drained, timeout)
            self.drained = None
        lost, self.outstanding = self.outstanding, 0
        self.sent.clear()
        return lost


class DeliverSink(asyncio.Protocol):
    """Cara's student in the sidecar pair: receives DELIVER frames, times the one-way trip."""

    def __init__(self, sender: RttClient) -> None:
        self.sender = sender
        self.decoder = wire.FrameDecoder()
        self.ready = asyncio.Event()
        self.delivered = 0
        self.samples: list[int] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        nodelay(transport)

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter_ns()
        self.decoder.receive_data(data)
        while (frame := self.decoder.next_frame()) is not None:
            if frame.type is DELIVER:
                self.delivered += 1
                t0 = self.sender.sent.get(frame.header.get("id"))  # type: ignore[arg-type]
                if t0 is not None and self.sender.record:
                    self.samples.append(now - t0)
            elif frame.type is CONTROL and frame.header.get("type") == "ready":
                self.ready.set()


class IdleProtocol(asyncio.Protocol):
    """Alice's end of the link ben dials to her: accepted, welcomed and left idle."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        welcome(transport, "alice")

    def data_received(self, data: bytes) -> None:
        pass


class SatClient(asyncio.Protocol):
    """Closed loop with ``window`` notes outstanding; every answer sends the next note."""

    def __init__(self, tag: str, window: int) -> None:
        self.tag = tag
        self.window = window
        self.decoder = wire.FrameDecoder()
        self.transport: asyncio.Transport | None = None
        self.sent: dict[str, int] = {}
        self.seq = 0
        self.running = False
        self.record = False
        self.completed = 0
        self.failed = 0
        self.samples: list[int] = []
        self.drained: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        nodelay(transport)

    def _next(self) -> bytes:
        self.seq += 1
        note_id = f"{self.tag}{self.seq}"
        self.sent[note_id] = time.perf_counter_ns()
        return note_frame(note_id)

    def start(self) -> None:
        self.running = True
        assert self.transport is not None
        self.transport.write(b"".join(self._next() for _ in range(self.window)))

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter_ns()
        decoder = self.decoder
        decoder.receive_data(data)
        out = []
        while (frame := decoder.next_frame()) is not None:
            if frame.type is not ACK:
                continue
            t0 = self.sent.pop(frame.header.get("id"), None)  # type: ignore[arg-type]
            if t0 is None:
                continue
            self.completed += 1
            if frame.header.get("status") != "delivered":
                self.failed += 1
            elif self.record:
                self.samples.append(now - t0)
            if self.running:
                out.append(self._next())
        if out and self.transport is not None:
            self.transport.write(b"".join(out))
        if not self.sent and self.drained is not None and not self.drained.done():
            self.drained.set_result(None)


TRACE = os.urandom(16).hex()


def note_frame(note_id: str) -> bytes:
    return wire.encode_parts(NOTE, {
        "id": note_id, "from": "alice", "to": "cara", "attempt": 0, "path": ["alice"],
        "deadline": time.time() + 60, "trace": TRACE}, BODY)


def send_frame(note_id: str) -> bytes:
    return wire.encode_parts(SEND, {"id": note_id, "to": "cara"}, TEXT)


# --- the fake office -------------------------------------------------------------------------

class ControlChannel(asyncio.Protocol):
    """The office's end of one proxy's control socket: CONTROL in a queue, EVENT counted."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.buf = bytearray()
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.transport: asyncio.Transport | None = None
        self.event_frames = 0
        self.events = 0
        self.kinds = dict.fromkeys(COUNTED_KINDS, 0)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        pos, size = 0, len(buf)
        prefix, head_len = wire.PREFIX.size, wire.HEADER_LEN.size
        while size - pos >= prefix:
            _, ftype, length = wire.PREFIX.unpack_from(buf, pos)
            end = pos + prefix + length
            if end > size:
                break
            start = pos + prefix
            if ftype == EVENT:  # count without decoding: the office passes batches through too
                self.event_frames += 1
                self.events += buf.count(b'"kind":"', start, end)
                for kind in COUNTED_KINDS:
                    self.kinds[kind] += buf.count(b'"kind":"%s"' % kind.encode(), start, end)
            else:
                (hlen,) = wire.HEADER_LEN.unpack_from(buf, start)
                self.queue.put_nowait(json.loads(buf[start + head_len:start + head_len + hlen]))
            pos = end
        del buf[:pos]

    def connection_lost(self, exc: Exception | None) -> None:
        self.queue.put_nowait({"type": "closed", "reason": str(exc)})

    def send(self, header: dict[str, Any]) -> None:
        assert self.transport is not None
        self.transport.write(wire.encode_parts(CONTROL, header))

    async def expect(self, kind: str, timeout: float = 20.0) -> dict[str, Any]:
        async with asyncio.timeout(timeout):
            while True:
                message = await self.queue.get()
                if message.get("type") == kind:
                    return message
                if message.get("type") == "closed":
                    raise RuntimeError(f"proxy {self.label} closed its control channel")

    def snapshot(self) -> dict[str, int]:
        return {"frames": self.event_frames, "events": self.events, **self.kinds}


@dataclass
class ProxyHandle:
    id: str
    pid: int
    control: socket.socket  # our end, until the loop adopts it
    peer_address: tuple[str, int]
    app_address: tuple[str, int]
    events: socket.socket  # our end of its events line (the runner's hub, in a round)
    channel: ControlChannel | None = None
    events_line: ControlChannel | None = None
    proc: subprocess.Popen[bytes] | None = None

    def snapshot(self) -> dict[str, int]:
        """The events it sent so far (a process sends them on its events line, not to the office)."""
        assert self.events_line is not None
        return self.events_line.snapshot()


def proxy_spec(proxy_id: str, hand: str) -> specs.ProxySpec:
    # No shared clock file: the proxy keeps a private room clock at rate 1 (room time = wall time).
    return specs.ProxySpec(clock=None, seed=1, namespace=NAMESPACE, id=proxy_id, hands=(specs.HandSpec(hand),),
                           passing_time=0.0)


def prepare_proxy(proxy_id: str) -> tuple[socket.socket, socket.socket, socket.socket, socket.socket,
                                           socket.socket, socket.socket]:
    """Our ends and the proxy's of its events line and its control channel, and its two listeners."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    ours_events, theirs_events = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    return ours, theirs, ours_events, theirs_events, net.bound_listener(), net.bound_listener()


def spawn_proxy(launcher: Launcher, proxy_id: str, hand: str) -> ProxyHandle:
    ours, theirs, ours_events, theirs_events, peer, app = prepare_proxy(proxy_id)
    try:
        pid = launcher.spawn(proxy_spec(proxy_id, hand),
                             [theirs_events.fileno(), theirs.fileno(), peer.fileno(), app.fileno()])
        return ProxyHandle(proxy_id, pid, ours, peer.getsockname(), app.getsockname(), ours_events)
    finally:  # the child has its own copies now
        for sock in (theirs, theirs_events, peer, app):
            sock.close()


# A proxy as a fresh interpreter under cProfile, profiling only between SIGUSR1 and SIGUSR2
# (the saturation run), so that start-up and idle time stay out of the numbers.
PROFILE_CODE = """
import cProfile, json, signal, sys, ctypes
ctypes.CDLL(None).prctl(1, signal.SIGKILL, 0, 0, 0)
signal.signal(signal.SIGINT, signal.SIG_IGN)
from classroom.mesh.data import proxy
from classroom.mesh.runtime import process, specs
profile = cProfile.Profile()
signal.signal(signal.SIGUSR1, lambda *_: profile.enable())
signal.signal(signal.SIGUSR2, lambda *_: profile.disable())
process.main(proxy.Proxy, specs.ProxySpec.from_json(json.loads(sys.argv[1])), [int(fd) for fd in sys.argv[3:]])
profile.disable()
profile.dump_stats(sys.argv[2])
"""


def spawn_profiled_proxy(proxy_id: str, hand: str, stats_path: str) -> ProxyHandle:
    """The same proxy code, started as a fresh interpreter under cProfile."""
    ours, theirs, ours_events, theirs_events, peer, app = prepare_proxy(proxy_id)
    fds = [theirs_events.fileno(), theirs.fileno(), peer.fileno(), app.fileno()]
    try:
        proc = subprocess.Popen(
            [sys.executable, "-c", PROFILE_CODE, json.dumps(proxy_spec(proxy_id, hand).to_json()),
             stats_path, *map(str, fds)], pass_fds=fds)
        return ProxyHandle(proxy_id, proc.pid, ours, peer.getsockname(), app.getsockname(), ours_events,
                           proc=proc)
    finally:
        for sock in (theirs, theirs_events, peer, app):
            sock.close()


def neighbour(name: str, address: tuple[str, int]) -> dict[str, Any]:
    return {"name": name, "identity": pki.spiffe_id(NAMESPACE, name), "address": list(address)}


async def bring_up(ca: pki.CertificateAuthority, proxies: list[ProxyHandle],
                   configs: dict[str, dict[str, Any]]) -> None:
    """Do what the office does: certs for each hello, one config, wait for acks, start."""
    loop = asyncio.get_running_loop()
    for handle in proxies:
        channel = ControlChannel(handle.id)
        handle.control.setblocking(False)
        await loop.create_unix_connection(lambda ch=channel: ch, sock=handle.control)  # type: ignore[misc]
        handle.channel = channel
        line = ControlChannel(f"{handle.id} events")
        handle.events.setblocking(False)
        await loop.create_unix_connection(lambda line=line: line, sock=handle.events)  # type: ignore[misc]
        handle.events_line = line
    roll: dict[str, Any] = {}
    for handle in proxies:
        assert handle.channel is not None
        hello = await handle.channel.expect("hello")
        certs = {}
        for hand in hello["hands"]:
            cert = ca.issue(hand["csr"].encode(), pki.spiffe_id(NAMESPACE, hand["name"]))
            certs[hand["name"]] = pki.cert_pem(cert).decode()
            roll[hand["name"]] = hand["keys"]
        handle.channel.send({"type": "certs", "certs": certs, "bundle": ca.pem.decode()})
    for handle in proxies:
        assert handle.channel is not None
        handle.channel.send({"type": "config", "version": 1, "hands": configs[handle.id],
                             "roll": roll, "policy": MeshPolicy().to_json()})
    for handle in proxies:
        assert handle.channel is not None
        ack = await handle.channel.expect("ack")
        down = [link for link in ack["links"] if not link["up"]]
        if down:
            raise RuntimeError(f"proxy {handle.id}: links down after config: {down}")
    for handle in proxies:
        assert handle.channel is not None
        handle.channel.send({"type": "start"})


def hop_config(acker_tls: tuple[str, int], alice_idle: tuple[str, int]) -> dict[str, Any]:
    return {"ben": {"routes": {"cara": ["cara"], "alice": ["alice"]},
                    "neighbours": [neighbour("alice", alice_idle), neighbour("cara", acker_tls)]}}


# --- nginx -----------------------------------------------------------------------------------

NGINX_CONF = """\
load_module {module};
daemon off;
master_process off;
worker_processes 1;
error_log {prefix}/error.log warn;
pid {prefix}/nginx.pid;
events {{ worker_connections 64; }}
stream {{
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {prefix}/nginx.crt;
        ssl_certificate_key {prefix}/nginx.key;
        ssl_client_certificate {prefix}/ca.crt;
        ssl_verify_client on;
        ssl_protocols TLSv1.3;
        proxy_pass 127.0.0.1:{upstream};
        proxy_ssl on;
        proxy_ssl_certificate {prefix}/nginx.crt;
        proxy_ssl_certificate_key {prefix}/nginx.key;
        proxy_ssl_trusted_certificate {prefix}/ca.crt;
        proxy_ssl_verify on;
        proxy_ssl_name cara;
        proxy_ssl_protocols TLSv1.3;
    }}
}}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_nginx(stack: contextlib.ExitStack, ca: pki.CertificateAuthority, me: Identity,
                upstream: int) -> tuple[int | None, str, int | None]:
    """nginx on loopback in a temp prefix; its port, or None and why not."""
    if not (os.access(NGINX, os.X_OK) and os.path.exists(STREAM_MODULE)):
        return None, f"nginx or its stream module is not installed ({NGINX}, {STREAM_MODULE})", None
    prefix = stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-nginx-"))
    Path(prefix, "ca.crt").write_bytes(ca.pem)
    Path(prefix, "nginx.crt").write_bytes(me.cert)
    keyfile = Path(prefix, "nginx.key")
    keyfile.write_bytes(me.key)
    keyfile.chmod(0o600)
    port = free_port()
    conf = Path(prefix, "nginx.conf")
    conf.write_text(NGINX_CONF.format(module=STREAM_MODULE, prefix=prefix, port=port,
                                      upstream=upstream))
    proc = subprocess.Popen(
        [NGINX, "-c", str(conf), "-p", prefix + "/", "-e", f"{prefix}/error.log"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        preexec_fn=lambda: die_with_parent(signal.SIGTERM),
    )

    def stop() -> None:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(3)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()

    stack.callback(stop)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            log = Path(prefix, "error.log")
            tail = log.read_text(errors="replace")[-800:] if log.exists() else ""
            return (None, f"nginx exited with {proc.returncode}: {err.strip()} {tail.strip()}",
                    None)
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return port, f"nginx pid {proc.pid} on 127.0.0.1:{port}", proc.pid
        time.sleep(0.02)
    return None, "nginx did not open its port within 5 s", None


# --- measuring -------------------------------------------------------------------------------

@dataclass
class PathResult:
    samples: list[int] = field(default_factory=list)  # ns
    round_p50: list[float] = field(default_factory=list)  # µs
    rates: list[float] = field(default_factory=list)
    lost: int = 0
    failed: int = 0
    cpu_user: int = 0  # ticks of the process(es) in the middle, during the measured notes
    cpu_sys: int = 0
    cpu_notes: int = 0

    def cpu_per_note(self) -> tuple[float, float]:
        """(user, system) CPU µs per note of the middle process(es)."""
        if not self.cpu_notes:
            return math.nan, math.nan
        scale = 1e6 / os.sysconf("SC_CLK_TCK") / self.cpu_notes
        return self.cpu_user * scale, self.cpu_sys * scale


async def paced(client: RttClient, make: Callable[[str], bytes], tag: str, count: int,
                record: bool) -> tuple[float, int]:
    """Send ``count`` frames on a 1 ms schedule; the achieved rate and the answers lost."""
    client.record = record
    gc.disable()  # the load generator's own pauses must not show up as latency
    start = time.perf_counter()
    first = last = start
    i = 0
    while i < count:
        due = min(count, int((time.perf_counter() - start) / INTERVAL) + 1)
        while i < due:
            data = make(f"{tag}.{i}")
            client.send(f"{tag}.{i}", data)
            last = time.perf_counter()
            if i == 0:
                first = last
            i += 1
        if i < count:
            delay = start + i * INTERVAL - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
    lost = await client.drain(3.0)
    client.record = False
    gc.enable()
    gc.collect(1)
    rate = (count - 1) / (last - first) if count > 1 and last > first else math.nan
    return rate, lost


async def prime(client: RttClient, make: Callable[[str], bytes], tag: str) -> None:
    """One round trip, so that handshakes and first-use costs happen before any timing."""
    for i in range(3):
        client.send(f"{tag}.prime{i}", make(f"{tag}.prime{i}"))
        if await client.drain(10.0):
            raise RuntimeError(f"{client.label}: no answer to the priming note")
        if client.failed:
            raise RuntimeError(f"{client.label}: priming note failed: {client.failures}")


def summary(samples_ns: list[int]) -> dict[str, float]:
    values = sorted(s / 1000 for s in samples_ns)
    return {q: percentile(values, p) for q, p in (("p50", 0.50), ("p90", 0.90), ("p99", 0.99))}


async def saturate(ca_ctx: ssl.SSLContext, address: tuple[str, int], settings: Settings,
                   proxy_pid: int, acker_pid: int, profile_signals: bool = False
                   ) -> dict[str, float]:
    loop = asyncio.get_running_loop()
    clients: list[SatClient] = []
    for c in range(settings.sat_connections):
        client = SatClient(f"sat{c}.", settings.sat_window)
        await loop.create_connection(lambda client=client: client, *address,  # type: ignore[misc]
                                     ssl=ca_ctx)
        clients.append(client)
    for client in clients:
        client.start()
    await asyncio.sleep(settings.sat_warmup)
    done0 = sum(c.completed for c in clients)
    ticks0 = (cpu_ticks(proxy_pid), cpu_ticks(acker_pid), cpu_ticks(os.getpid()),
              machine_busy_ticks(), own_tree_ticks())
    t0 = time.perf_counter()
    for client in clients:
        client.record = True
    if profile_signals:
        os.kill(proxy_pid, signal.SIGUSR1)
    await asyncio.sleep(settings.sat_seconds)
    if profile_signals:
        os.kill(proxy_pid, signal.SIGUSR2)
    elapsed = time.perf_counter() - t0
    done1 = sum(c.completed for c in clients)
    ticks1 = (cpu_ticks(proxy_pid), cpu_ticks(acker_pid), cpu_ticks(os.getpid()),
              machine_busy_ticks(), own_tree_ticks())
    for client in clients:
        client.record = False
        client.running = False
    for client in clients:
        if client.sent:
            client.drained = loop.create_future()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(client.drained, 5.0)
        assert client.transport is not None
        client.transport.close()
    hz = os.sysconf("SC_CLK_TCK")
    shares = [(b - a) / hz / elapsed for a, b in zip(ticks0, ticks1, strict=True)]
    background = max(0.0, shares[3] - shares[4])
    notes = done1 - done0
    lat = summary([s for c in clients for s in c.samples])
    return {
        "notes_per_s": notes / elapsed,
        "p50_us": lat["p50"], "p99_us": lat["p99"],
        "proxy_cpu_share": shares[0], "acker_cpu_share": shares[1], "client_cpu_share": shares[2],
        "background_cores": background,
        "proxy_cpu_us_per_note": shares[0] * elapsed / notes * 1e6 if notes else math.nan,
        "failed": sum(c.failed for c in clients),
        "lost": sum(len(c.sent) for c in clients),
    }


@dataclass
class World:
    ca: pki.CertificateAuthority
    alice: Identity
    cara: Identity
    acker_pid: int
    acker_tcp: tuple[str, int]
    acker_tls: tuple[str, int]
    hop: ProxyHandle
    pair_alice: ProxyHandle
    pair_cara: ProxyHandle
    alice_idle: socket.socket
    nginx_port: int | None
    nginx_note: str
    nginx_pid: int | None
    spawn_profiled: Callable[[], ProxyHandle] | None = None


async def measure(world: World, settings: Settings, log: Callable[[str], None]) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    ca = world.ca
    alice_client = world.alice.context(ca, server_side=False)
    idle = await loop.create_server(IdleProtocol, sock=world.alice_idle,
                                    ssl=world.alice.context(ca, server_side=True))
    idle_address = world.alice_idle.getsockname()
    t0 = time.perf_counter()
    proxies = [world.hop, world.pair_alice, world.pair_cara]
    configs = {
        world.hop.id: hop_config(world.acker_tls, idle_address),
        world.pair_alice.id: {"alice": {"routes": {"cara": ["cara"]}, "neighbours": [
            neighbour("cara", world.pair_cara.peer_address)]}},
        world.pair_cara.id: {"cara": {"routes": {"alice": ["alice"]}, "neighbours": [
            neighbour("alice", world.pair_alice.peer_address)]}},
    }
    await bring_up(ca, proxies, configs)
    log(f"proxies up in {time.perf_counter() - t0:.2f} s (hop pid {world.hop.pid}, pair pids "
        f"{world.pair_alice.pid}/{world.pair_cara.pid}); {world.nginx_note}")

    async def connect(label: str, answer: wire.FrameType, address: tuple[str, int],
                      tls: bool) -> RttClient:
        client = RttClient(answer, label)
        await loop.create_connection(lambda: client, *address, ssl=alice_client if tls else None)
        return client

    clients: dict[str, RttClient] = {
        "direct_tcp": await connect("direct_tcp", ACK, world.acker_tcp, False),
        "direct_mtls": await connect("direct_mtls", ACK, world.acker_tls, True),
        "hop": await connect("hop", ACK, world.hop.peer_address, True),
        "pair": await connect("pair", RESULT, world.pair_alice.app_address, False),
    }
    _, sink = await loop.create_connection(lambda: DeliverSink(clients["pair"]),
                                           *world.pair_cara.app_address)
    assert isinstance(sink, DeliverSink)
    async with asyncio.timeout(10):
        await clients["pair"].ready.wait()
        await sink.ready.wait()
    if world.nginx_port is not None:
        clients["nginx"] = await connect("nginx", ACK, ("127.0.0.1", world.nginx_port), True)
    makers = {name: (send_frame if name == "pair" else note_frame) for name in clients}
    for name, client in clients.items():
        await prime(client, makers[name], f"{name}")
    assert world.hop.channel is not None
    events_before = world.hop.snapshot()
    gc.collect()
    gc.freeze()  # set-up objects need no more scanning

    paths = [p for p in PATHS if p in clients]
    results = {p: PathResult() for p in paths}
    load0 = (machine_busy_ticks(), own_tree_ticks(), time.perf_counter())
    # Whose CPU each note costs, besides the client's: the acker for the direct paths,
    # the process(es) in between for the others.
    middle = {"direct_tcp": [world.acker_pid], "direct_mtls": [world.acker_pid],
              "hop": [world.hop.pid], "pair": [world.pair_alice.pid, world.pair_cara.pid],
              "nginx": [world.nginx_pid or 0]}
    for r in range(settings.rounds):
        order = paths[r % len(paths):] + paths[:r % len(paths)]
        line = []
        for name in order:
            client, res = clients[name], results[name]
            await paced(client, makers[name], f"{name}.r{r}.w", settings.warmup, record=False)
            client.samples = []
            failed0 = client.failed
            before = [cpu_split(pid) for pid in middle[name]]
            rate, lost = await paced(client, makers[name], f"{name}.r{r}.m", settings.notes,
                                     record=True)
            after = [cpu_split(pid) for pid in middle[name]]
            res.cpu_user += sum(a[0] - b[0] for a, b in zip(after, before, strict=True))
            res.cpu_sys += sum(a[1] - b[1] for a, b in zip(after, before, strict=True))
            res.cpu_notes += settings.notes
            res.samples.extend(client.samples)
            res.rates.append(rate)
            res.lost += lost
            res.failed += client.failed - failed0
            p50 = summary(client.samples)["p50"]
            res.round_p50.append(p50)
            line.append(f"{name} {p50:.0f}")
        log(f"round {r + 1}/{settings.rounds}: p50 µs: " + ", ".join(line))

    events_after = world.hop.snapshot()
    load1 = (machine_busy_ticks(), own_tree_ticks(), time.perf_counter())
    # CPU the rest of the machine used meanwhile, in cores: the noise all paths shared.
    background = max(0, (load1[0] - load0[0]) - (load1[1] - load0[1])) / os.sysconf(
        "SC_CLK_TCK") / (load1[2] - load0[2])
    log(f"saturating ben's proxy: {settings.sat_connections} connections x "
        f"{settings.sat_window} outstanding, {settings.sat_seconds:.0f} s")
    sat = await saturate(alice_client, world.hop.peer_address, settings, world.hop.pid,
                         world.acker_pid)
    rss = rss_mb(world.hop.pid)
    profiled = None
    if world.spawn_profiled is not None:
        log("profiling: the same saturation through a proxy running under cProfile")
        profiled = world.spawn_profiled()
        await bring_up(ca, [profiled], {profiled.id: hop_config(world.acker_tls, idle_address)})
        profiled_sat = await saturate(alice_client, profiled.peer_address, settings, profiled.pid,
                                      world.acker_pid, profile_signals=True)
        log(f"profiled proxy: {profiled_sat['notes_per_s']:,.0f} notes/s under cProfile")
    syscalls: dict[str, dict[str, float] | None] = {}
    if settings.syscalls:
        for name, pid in (("hop", world.hop.pid), ("nginx", world.nginx_pid)):
            if name in clients and pid:
                log(f"counting system calls of {LABELS[name]} (pid {pid}) over {settings.notes} notes")
                syscalls[name] = await count_syscalls(clients[name], makers[name], pid, f"{name}.sc",
                                                      settings.notes)
    for client in clients.values():
        if client.transport is not None:
            client.transport.close()
    idle.close()
    return {
        "syscalls": syscalls,
        "results": results, "sat": sat, "rss": rss, "deliver": sink.samples,
        "background_cores": background,
        "events": {k: events_after[k] - events_before[k] for k in events_after},
        "pair_events": {
            "alice": world.pair_alice.snapshot() if world.pair_alice.events_line else {},
            "cara": world.pair_cara.snapshot() if world.pair_cara.events_line else {}},
        "pair_rss": (rss_mb(world.pair_alice.pid), rss_mb(world.pair_cara.pid)),
        "profiled": profiled,
    }


async def count_syscalls(client: RttClient, make: Callable[[str], bytes], pid: int, tag: str,
                         count: int) -> dict[str, float] | None:
    """System calls per note of process ``pid`` (all its threads) over ``count`` paced notes.

    ``strace -c -f -p`` attaches to every thread; its summary table is read back per call name.
    None when strace is missing or may not attach (ptrace restricted).
    """
    strace = "/usr/bin/strace"
    if not os.path.exists(strace):
        return None
    with tempfile.NamedTemporaryFile(suffix=".strace", delete=False) as out:
        path = out.name
    proc = await asyncio.create_subprocess_exec(
        strace, "-c", "-f", "-o", path, "-p", str(pid),
        stdout=subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    try:
        assert proc.stderr is not None
        async with asyncio.timeout(10):  # "strace: Process N attached" once per thread
            line = await proc.stderr.readline()
        if b"attached" not in line:
            return None
        await paced(client, make, tag, count, record=False)
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGINT)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(10):
                    await proc.wait()
    calls: dict[str, float] = {}
    with open(path) as table:
        for row in table:
            cells = row.split()
            # % time, seconds, usecs/call, calls, [errors], syscall
            if len(cells) >= 5 and cells[0].replace(".", "", 1).isdigit() and cells[-1] != "total":
                calls[cells[-1]] = int(cells[3]) / count
    os.unlink(path)
    return calls


def print_syscalls(rows: dict[str, dict[str, float] | None]) -> dict[str, float | None]:
    print()
    print("System calls per relayed note at 1,000 notes/s (strace -c, every thread of the process):")
    totals: dict[str, float | None] = {}
    for name, calls in rows.items():
        if calls is None:
            print(f"  {LABELS[name]:<24} not measured (no strace, or it may not attach)")
            totals[name] = None
            continue
        totals[name] = round(sum(calls.values()), 2)
        top = sorted(calls.items(), key=lambda kv: -kv[1])[:6]
        print(f"  {LABELS[name]:<24} {sum(calls.values()):5.1f}: "
              + ", ".join(f"{call} {n:.2f}" for call, n in top))
    if totals.get("hop") and totals.get("nginx"):
        print(f"  ratio to nginx's hop: {totals['hop'] / totals['nginx']:.2f}x the system calls per note")  # type: ignore[operator]
    return totals


# --- report ----------------------------------------------------------------------------------

LABELS = {
    "direct_tcp": "direct TCP (no TLS)",
    "direct_mtls": "direct mTLS",
    "hop": "one proxy hop (ben)",
    "pair": "sidecar pair (sealed)",
    "nginx": "nginx stream hop",
}


def r1(x: float | None) -> float | None:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return None
    return round(x, 1)


def report(out: dict[str, Any], settings: Settings, nginx_note: str,
           elapsed: float) -> dict[str, Any]:
    results: dict[str, PathResult] = out["results"]
    stats = {name: summary(res.samples) for name, res in results.items()}
    base = {"hop": "direct_mtls", "nginx": "direct_mtls", "pair": "direct_tcp"}
    print()
    print(f"Round trip of a ~200-byte note, open loop at 1,000 notes/s, {settings.rounds} "
          f"interleaved rounds x {settings.notes} notes per path (after {settings.warmup} "
          "warm-up notes each)")
    head = (f"{'path':<24}{'samples':>8}{'p50 µs':>9}{'p90 µs':>9}{'p99 µs':>9}"
            f"{'+p50':>8}{'+p99':>8}  {'vs':<12}{'CPU/note':>9}  {'round p50s':>12}{'rate/s':>8}")
    print(head)
    print("-" * len(head))
    for name in PATHS:
        if name not in results:
            print(f"{LABELS[name]:<24}  skipped: {nginx_note}")
            continue
        s, res = stats[name], results[name]
        ref = base.get(name)
        added50 = f"{s['p50'] - stats[ref]['p50']:+.0f}" if ref else ""
        added99 = f"{s['p99'] - stats[ref]['p99']:+.0f}" if ref else ""
        rounds = f"{min(res.round_p50):.0f}-{max(res.round_p50):.0f}"
        rate = sum(res.rates) / len(res.rates)
        cpu = f"{sum(res.cpu_per_note()):.0f}"
        extra = f"  lost {res.lost} failed {res.failed}" if res.lost or res.failed else ""
        print(f"{LABELS[name]:<24}{len(res.samples):>8}{s['p50']:>9.0f}{s['p90']:>9.0f}"
              f"{s['p99']:>9.0f}{added50:>8}{added99:>8}  {ref or '':<12}{cpu:>9}  "
              f"{rounds:>12}{rate:>8.0f}{extra}")
    print("  +p50/+p99: difference to the path under 'vs'.  CPU/note: user+system CPU µs per note "
          "of the process(es) in the middle (the acker on direct paths; ben's proxy; both "
          "sidecars; nginx) at 1,000 notes/s.  round p50s: lowest-highest median of a round")
    deliver = summary(out["deliver"])
    if "hop" in results:
        user, system = results["hop"].cpu_per_note()
        print(f"  ben's proxy CPU per note at 1,000/s: {user:.0f} µs user + {system:.0f} µs system")
    pev = out["pair_events"]
    print(f"  pair one way (SEND -> DELIVER at cara's student): p50 {deliver['p50']:.0f} µs, "
          f"p99 {deliver['p99']:.0f} µs; sidecars' EVENT frames: alice "
          f"{pev['alice'].get('frames', 0)}, cara {pev['cara'].get('frames', 0)}")
    print(f"  other load on the machine during the rounds: {out['background_cores']:.2f} of "
          f"{os.cpu_count()} cores busy outside this bench")
    ev = out["events"]
    relayed = settings.rounds * (settings.warmup + settings.notes)
    print(f"  ben's proxy during the rounds: {ev['frames']} EVENT frames, {ev['events']} events "
          f"({ev['forwarded']} 'forwarded' for {relayed} notes relayed)"
          + (f"; tls_rejected {ev['tls_rejected']}, protocol_error {ev['protocol_error']}"
             if ev["tls_rejected"] or ev["protocol_error"] else ""))
    sat = out["sat"]
    print()
    print(f"Saturation through ben's proxy ({settings.sat_connections} mTLS connections x "
          f"{settings.sat_window} outstanding, closed loop, {settings.sat_seconds:.0f} s):")
    print(f"  {sat['notes_per_s']:,.0f} notes/s; latency p50 {sat['p50_us']:.0f} µs, "
          f"p99 {sat['p99_us']:.0f} µs; failed {sat['failed']}, lost {sat['lost']}")
    print(f"  CPU (share of one core): proxy {sat['proxy_cpu_share']:.2f}, acker "
          f"{sat['acker_cpu_share']:.2f}, bench client {sat['client_cpu_share']:.2f} "
          f"on {os.cpu_count()} cores (other load: {sat['background_cores']:.2f} cores); "
          f"proxy CPU per note {sat['proxy_cpu_us_per_note']:.1f} µs")
    print(f"  proxy RSS after saturation: {out['rss']:.1f} MB (VmRSS); sidecar pair RSS "
          f"alice {out['pair_rss'][0]:.1f} MB, cara {out['pair_rss'][1]:.1f} MB")
    syscall_totals = print_syscalls(out["syscalls"]) if out["syscalls"] else {}
    print(f"(total {elapsed:.1f} s)")

    def p(name: str, q: str) -> float | None:
        return r1(stats[name][q]) if name in stats else None

    def diff(a: str, b: str, q: str) -> float | None:
        if a not in stats or b not in stats:
            return None
        return r1(stats[a][q] - stats[b][q])

    hop_added99 = diff("hop", "direct_mtls", "p99")
    nginx_added99 = diff("nginx", "direct_mtls", "p99")
    # A difference of p99s can come out at or below zero when the machine's own tail (wake-ups
    # of idle CPUs) dominates the direct path's p99.  A hop cannot add less at p99 than at p50
    # in any meaningful sense, so nginx's added p50 (at least 1 µs) is the denominator's floor.
    ratio = ratio50 = None
    if hop_added99 is not None and nginx_added99 is not None:
        nginx_added50 = max(stats["nginx"]["p50"] - stats["direct_mtls"]["p50"], 1.0)
        ratio = round(hop_added99 / max(nginx_added99, nginx_added50), 2)
        hop_added50 = stats["hop"]["p50"] - stats["direct_mtls"]["p50"]
        ratio50 = round(hop_added50 / nginx_added50, 2)
        if nginx_added99 < nginx_added50:
            print(f"  note: nginx's added p99 ({nginx_added99:+.0f} µs) is below its added p50; "
                  "the p99 ratio uses the added p50 as its denominator")
    all_rates = [x for res in results.values() for x in res.rates]
    return {
        "direct_tcp_p50_us": p("direct_tcp", "p50"), "direct_tcp_p99_us": p("direct_tcp", "p99"),
        "direct_mtls_p50_us": p("direct_mtls", "p50"),
        "direct_mtls_p99_us": p("direct_mtls", "p99"),
        "hop_p50_us": p("hop", "p50"), "hop_p99_us": p("hop", "p99"),
        "pair_p50_us": p("pair", "p50"), "pair_p99_us": p("pair", "p99"),
        "nginx_p50_us": p("nginx", "p50"), "nginx_p99_us": p("nginx", "p99"),
        "hop_added_p50_us": diff("hop", "direct_mtls", "p50"),
        "hop_added_p99_us": hop_added99,
        "pair_added_p99_us": diff("pair", "direct_tcp", "p99"),
        "nginx_hop_added_p99_us": nginx_added99,
        "hop_vs_nginx_added_p99_ratio": ratio,
        "hop_vs_nginx_added_p50_ratio": ratio50,
        "hop_proxy_cpu_us_per_note_paced": r1(sum(results["hop"].cpu_per_note())),
        "nginx_cpu_us_per_note_paced": (r1(sum(results["nginx"].cpu_per_note()))
                                        if "nginx" in results else None),
        "proxy_notes_per_s": r1(sat["notes_per_s"]),
        "proxy_rss_mb": r1(out["rss"]),
        "rate_per_s": r1(sum(all_rates) / len(all_rates)),
        "pair_deliver_p50_us": r1(deliver["p50"]),
        "saturation_p99_us": r1(sat["p99_us"]),
        "proxy_cpu_us_per_note": r1(sat["proxy_cpu_us_per_note"]),
        "proxy_cpu_share": round(sat["proxy_cpu_share"], 2),
        "samples_per_path": settings.rounds * settings.notes,
        "hop_syscalls_per_note": syscall_totals.get("hop"),
        "nginx_syscalls_per_note": syscall_totals.get("nginx"),
        "background_cores": round(out["background_cores"], 2),
        "seconds": r1(elapsed),
    }


def print_profile(stats_path: str, proc: subprocess.Popen[bytes] | None) -> None:
    import pstats

    if proc is not None and proc.poll() is None:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(10)
    if not os.path.exists(stats_path):
        print("(no profile written)")
        return
    print()
    stats = pstats.Stats(stats_path, stream=sys.stdout)
    print(f"Profile of a proxy during a saturation run (cProfile; {stats.total_tt:.2f} s in "  # type: ignore[attr-defined]
          "Python-visible calls; uvloop's own C work, epoll and idle time are not listed; "
          "transport.write's TLS record and send() are inside net.py write):")
    stats.sort_stats(os.environ.get("PROFILE_SORT", "tottime")).print_stats(int(os.environ.get("PROFILE_LINES", "25")))


# --- main -------------------------------------------------------------------------------------

def start_clock() -> Callable[[str], None]:
    """A progress logger stamped with seconds since now; SIGTERM then ends the run like Ctrl-C
    (through SystemExit, so every `finally` and ExitStack stops what the bench started)."""
    started = time.perf_counter()

    def log(message: str) -> None:
        print(f"[{time.perf_counter() - started:6.1f}s] {message}", flush=True)

    def on_sigterm(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_sigterm)
    return log


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short run (< 45 s)")
    parser.add_argument("--json", action="store_true", help="end with one JSON line")
    parser.add_argument("--profile", action="store_true",
                        help="also saturate a proxy running under cProfile and print its top costs")
    parser.add_argument("--syscalls", action="store_true",
                        help="also count system calls per note of the proxy and nginx (strace -c)")
    args = parser.parse_args()
    settings = QUICK if args.quick else FULL
    if args.syscalls:
        settings = dataclasses.replace(settings, syscalls=True)
    started = time.perf_counter()
    log = start_clock()
    with contextlib.ExitStack() as stack:
        ca = pki.CertificateAuthority.create("bench class CA")
        alice, cara, ben = identity(ca, "alice"), identity(ca, "cara"), identity(ca, "ben")

        # The acker first, so that it inherits none of the sockets made below.
        acker_tcp, acker_tls = net.bound_listener(), net.bound_listener()
        acker = multiprocessing.get_context("fork").Process(
            target=acker_main, args=(acker_tcp, acker_tls, cara, ca.pem), daemon=True)
        acker.start()

        def stop_acker() -> None:
            if acker.is_alive():
                acker.terminate()
                acker.join(3)
                if acker.is_alive():
                    acker.kill()
                    acker.join()

        stack.callback(stop_acker)
        addresses = acker_tcp.getsockname(), acker_tls.getsockname()
        acker_tcp.close()
        acker_tls.close()

        launcher = Launcher()
        stack.callback(launcher.stop)
        hop = spawn_proxy(launcher, "hop-ben", "ben")
        pair_alice = spawn_proxy(launcher, "pair-alice", "alice")
        pair_cara = spawn_proxy(launcher, "pair-cara", "cara")
        for handle in (hop, pair_alice, pair_cara):
            stack.callback(handle.control.close)
            stack.callback(handle.events.close)
        stats_path = None
        spawn_profiled = None
        if args.profile:
            stats_path = os.path.join(stack.enter_context(tempfile.TemporaryDirectory()),
                                      "proxy.prof")

            def spawn_profiled() -> ProxyHandle:
                """Started only after the latency rounds: its start-up would disturb them."""
                assert stats_path is not None
                handle = spawn_profiled_proxy("profiled-ben", "ben", stats_path)
                proc = handle.proc
                assert proc is not None

                def stop() -> None:
                    if proc.poll() is None:
                        proc.kill()
                        proc.wait()

                stack.callback(stop)
                stack.callback(handle.control.close)
                return handle
        nginx_port, nginx_note, nginx_pid = start_nginx(stack, ca, ben, addresses[1][1])
        if nginx_port is None:
            log(f"nginx row skipped: {nginx_note}")
        world = World(ca, alice, cara, acker.pid or 0, addresses[0], addresses[1], hop,
                      pair_alice, pair_cara, net.bound_listener(), nginx_port, nginx_note,
                      nginx_pid, spawn_profiled)
        stack.callback(world.alice_idle.close)
        log(f"acker pid {acker.pid}, launcher pid {launcher.pid}; measuring "
            f"({'quick' if args.quick else 'full'} run)")
        out = net.run(measure(world, settings, log))
        summary_json = report(out, settings, nginx_note, time.perf_counter() - started)
        if out["profiled"] is not None and stats_path is not None:
            print_profile(stats_path, out["profiled"].proc)
    if args.json:
        print(json.dumps(summary_json))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted; everything the bench started has been stopped", file=sys.stderr)
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(1)
