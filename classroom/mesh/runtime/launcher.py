"""The launcher: starts a round's processes quickly and makes sure they all stop.

Theory of operation
-------------------
A round has one process per student, one per proxy, the office and, later,
the aisles and the teacher: 60 or more processes for a 30-student room.
Starting each as a new interpreter would import ``cryptography`` and ``ssl``
sixty times (about 150 ms of CPU each), so the runner starts one launcher
(a "zygote") as a fresh interpreter; it imports what every role needs once
and then forks a child per request.  The children share its imported pages.

The runner talks to the launcher over a Unix socket pair: each request is one
JSON line (role and spec) with the file descriptors the child needs attached
(``SCM_RIGHTS``): listening sockets the runner bound, so every port is known
before any process starts.  The launcher answers with the child's pid.

Nothing survives a round:

* each child asks the kernel to kill it if the launcher dies
  (``PR_SET_PDEATHSIG``);
* the launcher stops every child when the runner says ``stop`` or when the
  runner's end of the socket closes (the runner exited or crashed):
  SIGTERM, a grace period, then SIGKILL, and it reaps them all;
* children ignore SIGINT: a Ctrl-C in the terminal reaches the whole process
  group, and the runner, not each child, decides how the round ends.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import importlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
from typing import Any

from classroom.mesh.runtime import process
from classroom.mesh.runtime.specs import SPECS, Spec

ROLES = {
    "aisles": "classroom.mesh.room.aisles",
    "teacher": "classroom.mesh.room.teacher",
    "office": "classroom.mesh.control.office",
    "proxy": "classroom.mesh.data.proxy",
    "student": "classroom.mesh.room.student",
}
_PR_SET_PDEATHSIG = 1
GRACE = 1.5  # seconds the launcher gives its children between SIGTERM and SIGKILL
# Linux passes at most 253 descriptors in one message (SCM_MAX_FD): a big room's aisles need more.
FDS_PER_MESSAGE = 250
WINDOW = 32  # requests sent ahead of their answers (each answer is a packet the runner must read)
CHUNK = 32768  # bytes of a request per packet (the launcher reads packets of up to 64 KiB)


class LaunchError(Exception):
    """The launcher could not start a process."""


class Launcher:
    """The runner's handle on the launcher process."""

    def __init__(self) -> None:
        # Packets, not a stream: each message arrives whole with its own descriptors, so requests
        # sent back to back never lend one another theirs (a stream may glue the tail of one
        # request to the next one's descriptors in a single read).
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._sock = ours
        env = dict(os.environ)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "classroom.mesh.runtime.launcher", str(theirs.fileno())],
            pass_fds=[theirs.fileno()],
            env=env,
        )
        theirs.close()
        self._reader = ours.makefile("rb")
        self.pids: list[int] = []
        hello = self._reply()
        if hello.get("ready") is not True:
            raise LaunchError(f"launcher did not start: {hello}")

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _reply(self) -> dict[str, Any]:
        line = self._reader.readline()
        if not line:
            raise LaunchError("launcher exited")
        reply: dict[str, Any] = json.loads(line)
        return reply

    def spawn(self, spec: Spec, fds: list[int] | None = None) -> int:
        """Fork a child running ``spec.role`` with ``spec``; the child gets dup'd ``fds``."""
        return self.spawn_many([(spec, fds or [])])[0]

    def spawn_many(self, requests: list[tuple[Spec, list[int]]]) -> list[int]:
        """Fork a child per (spec, fds), in order; their pids.

        Every request goes out before the first answer is read, so the launcher forks one
        child after another while the earlier ones start up (a 200-student room is 400
        forks).  Descriptors go ahead of their request in batches (each with one space of
        data, which the launcher skips), so a room may pass any number of them.
        """
        pids: list[int] = []

        def answer() -> None:
            reply = self._reply()
            if "pid" not in reply:
                raise LaunchError(reply.get("error", "launcher refused"))
            pids.append(int(reply["pid"]))
            self.pids.append(pids[-1])

        for sent, (spec, fds) in enumerate(requests):
            if sent - len(pids) >= WINDOW:  # the answers would fill the launcher's socket: read some
                answer()
            message = (json.dumps({"role": spec.role, "spec": spec.to_json()}) + "\n").encode()
            chunks = [message[i:i + CHUNK] for i in range(0, len(message), CHUNK)]
            batches = [fds[i:i + FDS_PER_MESSAGE] for i in range(0, len(fds), FDS_PER_MESSAGE)]
            # Descriptors ride on leading one-space packets (which the launcher skips), the request
            # in packets of at most CHUNK bytes, the last ending with the newline.
            for batch in batches:
                socket.send_fds(self._sock, [b" "], batch)
            for chunk in chunks:
                self._sock.sendall(chunk)
        while len(pids) < len(requests):
            answer()
        return pids

    def stop(self, timeout: float = GRACE + 3.0) -> None:
        """Stop every child and the launcher; idempotent."""
        if self.proc.poll() is None:
            with contextlib.suppress(OSError):
                self._sock.sendall(b'{"stop": true}\n')
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        with contextlib.suppress(OSError):
            self._sock.close()
        # The children die with the launcher (PDEATHSIG); make sure of it.
        for pid in self.pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)

    def __enter__(self) -> Launcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --- the launcher process -------------------------------------------------------------


def _die_with_parent() -> None:
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _child(role: str, spec: dict[str, Any], fds: list[int]) -> None:
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    # The runner signals a clock change with SIGUSR1, to every pid it has: one that comes before
    # the role listens must not end the process (its default), and the role reads the clock anyway.
    signal.signal(signal.SIGUSR1, signal.SIG_IGN)
    code = 0
    try:
        module = importlib.import_module(ROLES[role])
        process.main(module.ROLE, SPECS[role].from_json(spec), fds)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException as exc:  # a child must never return into the launcher's loop
        name = spec.get("name") or spec.get("id") or role
        print(f"classroom: {role} {name} failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        code = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _serve(fd: int) -> None:
    sock = socket.socket(fileno=fd)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    children: set[int] = set()
    buffer = b""
    pending_fds: list[int] = []

    def reap() -> None:
        while children:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                children.clear()
                return
            if pid == 0:
                return
            children.discard(pid)

    def stop_all() -> None:
        for pid in list(children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + GRACE
        while children and time.monotonic() < deadline:
            reap()
            time.sleep(0.01)
        for pid in list(children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        while children:
            try:
                pid, _ = os.waitpid(-1, 0)
            except ChildProcessError:
                break
            children.discard(pid)

    def handle(signum: int, frame: Any) -> None:  # SIGTERM to the launcher: stop the round
        stop_all()
        os._exit(0)

    signal.signal(signal.SIGTERM, handle)
    sock.sendall(b'{"ready": true}\n')
    try:
        while True:
            readable, _, _ = select.select([sock], [], [], 0.2)
            reap()
            if not readable:
                continue
            data, fds, flags, _ = socket.recv_fds(sock, 2 * CHUNK, FDS_PER_MESSAGE + 3)
            if flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC):
                for cfd in fds:
                    os.close(cfd)
                sock.sendall(b'{"error": "a request did not fit its packet"}\n')
                continue
            if not data:
                return
            buffer += data
            pending_fds.extend(fds)
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                request = json.loads(line)  # leading spaces: the batches of descriptors before it
                if request.get("stop"):
                    return
                child_fds, pending_fds = pending_fds, []
                pid = os.fork()
                if pid == 0:
                    sock.close()
                    _child(request["role"], request["spec"], child_fds)
                children.add(pid)
                for cfd in child_fds:
                    os.close(cfd)
                sock.sendall((json.dumps({"pid": pid}) + "\n").encode())
    finally:
        stop_all()


def _preload() -> None:
    """Import what every role uses, once, before forking."""
    import asyncio  # noqa: F401
    import encodings.idna  # noqa: F401  (asyncio encodes every host name it dials)
    import ssl  # noqa: F401

    with contextlib.suppress(ImportError):
        import uvloop  # noqa: F401
    # cryptography loads its OpenSSL backend on the first key made: make one here, not in each child.
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, x25519

    x25519.X25519PrivateKey.generate()
    ed25519.Ed25519PrivateKey.generate()
    ec.generate_private_key(ec.SECP256R1())
    for module in ROLES.values():  # by name: the launcher sits below the roles it forks
        importlib.import_module(module)
    # Everything imported so far lives as long as every child: frozen, the collector never touches
    # it, so the children's shared pages stay shared (Python's docs advise this before fork()).
    gc.freeze()


if __name__ == "__main__":
    _preload()
    _serve(int(sys.argv[1]))
