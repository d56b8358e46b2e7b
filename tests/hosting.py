"""Helpers for tests that run `classroom host` and `classroom join` as real processes."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from classroom.mesh.runtime import wire

CLASSROOM = [sys.executable, "-m", "classroom.cli"]
LIMIT = 120.0  # generous: a loaded two-core machine


class Proc:
    """A command in its own process group; its stderr lines gathered as they come."""

    def __init__(self, argv: list[str], prefix: list[str] | None = None, cwd: Path | None = None) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.argv = argv
        self.popen = subprocess.Popen([*(prefix or []), *CLASSROOM, *argv], stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True, env=env, cwd=cwd,
                                      start_new_session=True)  # its own group: we can stop all it started
        self.lines: list[str] = []
        self.out: list[str] = []
        self._changed = threading.Condition()
        self._readers = [threading.Thread(target=self._read, args=(self.popen.stderr, self.lines), daemon=True),
                         threading.Thread(target=self._read, args=(self.popen.stdout, self.out), daemon=True)]
        for reader in self._readers:
            reader.start()

    def _read(self, stream: Any, into: list[str]) -> None:
        for line in stream:
            with self._changed:
                into.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def wait_for(self, pattern: str, limit: float = LIMIT, count: int = 1) -> re.Match[str]:
        """The ``count``-th stderr line matching ``pattern`` (waits for it, up to ``limit`` seconds)."""
        deadline = time.monotonic() + limit
        with self._changed:
            while True:
                found = [m for line in self.lines if (m := re.search(pattern, line))]
                if len(found) >= count:
                    return found[count - 1]
                left = deadline - time.monotonic()
                if left <= 0 or (self.popen.poll() is not None and not any(r.is_alive() for r in self._readers)):
                    raise AssertionError(f"no line {pattern!r} from {self.argv[:2]}; stderr so far:\n"
                                         + "\n".join(self.lines))
                self._changed.wait(min(left, 0.5))

    def finish(self, limit: float = LIMIT) -> int:
        code = self.popen.wait(limit)
        for reader in self._readers:
            reader.join(10)
        return code

    def matching(self, pattern: str) -> list[str]:
        with self._changed:
            return [line for line in self.lines if re.search(pattern, line)]

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signal.SIGKILL)  # the group of the command we started, nothing else
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(10)


def join_address(host: Proc) -> tuple[str, int]:
    """Where the host says laptops join (it printed `students: classroom join ADDR:PORT ...`)."""
    match = host.wait_for(r"students: classroom join (\S+):(\d+) ")
    return match.group(1), int(match.group(2))


def raw_join(address: tuple[str, int], payload: bytes, tls: bool = True, limit: float = 30.0) -> list[wire.Frame]:
    """Send ``payload`` to the join port as a hostile laptop would; the frames the host answered."""
    sock = socket.create_connection(address, timeout=limit)
    frames: list[wire.Frame] = []
    try:
        if tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            sock = ctx.wrap_socket(sock)
        sock.sendall(payload)
        decoder = wire.FrameDecoder()
        while True:
            try:
                data = sock.recv(65536)
            except (ConnectionResetError, ssl.SSLError):
                break
            if not data:
                break
            decoder.receive_data(data)
            frames += decoder.frames()
    finally:
        sock.close()
    return frames


def control(header: dict[str, Any]) -> bytes:
    return wire.encode_parts(wire.FrameType.CONTROL, header)


class RawLaptop:
    """A laptop speaking the join protocol by hand (to misbehave once it has joined)."""

    def __init__(self, address: tuple[str, int]) -> None:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        self.sock = ctx.wrap_socket(socket.create_connection(address, timeout=30))
        self.sock.settimeout(0.5)
        self.decoder = wire.FrameDecoder()
        self.pings = 0

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def until(self, kind: str, limit: float = LIMIT) -> wire.Frame | None:
        """The next frame of type ``kind`` from the host (pinging meanwhile, as a laptop does); None if it
        closed the connection first."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            for frame in self.decoder.frames():
                if frame.header.get("type") == kind:
                    return frame
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                self.pings += 1
                self.send(control({"type": "ping", "id": self.pings}))
                continue
            except (ConnectionResetError, ssl.SSLError):
                return None
            if not data:
                return None
            self.decoder.receive_data(data)
        raise AssertionError(f"no {kind!r} from the host within {limit:.0f} s")

    def close(self) -> None:
        self.sock.close()
