"""A student: the workload.  Sends the level's notes through its own proxy.

The student knows nothing of TLS, routes or the class rules: it talks
plaintext frames to its proxy over loopback, as an application talks to its
sidecar inside a pod.  It waits for the proxy to say the class is ready, then
sends each of its traffic lines (``count`` notes, one every ``every`` seconds
at speed 1), and reads the notes delivered to it.
"""

from __future__ import annotations

import asyncio
import signal
from typing import Any

from classroom.mesh import net, wire

SEND = wire.FrameType.SEND


class Student:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.name: str = spec["name"]
        host, port = spec["proxy"]
        self.proxy_address: tuple[str, int] = (str(host), int(port))
        self.traffic: list[dict[str, Any]] = spec.get("traffic", [])
        self.speed = float(spec.get("speed", 1.0))
        self.ready = asyncio.Event()
        self.received: dict[str, bytes] = {}
        self.results: dict[str, str] = {}
        self.conn: net.FrameConnection | None = None
        self._counter = 0

    def _on_frame(self, conn: net.FrameConnection, frame: wire.Frame) -> None:
        header = frame.header
        if frame.type is wire.FrameType.CONTROL and header.get("type") == "ready":
            self.ready.set()
        elif frame.type is wire.FrameType.DELIVER:
            note_id = str(header.get("id"))
            self.received[note_id] = frame.body
            if header.get("reply"):
                answer = b"Re: " + frame.body[:200] + b" -- yes!"
                conn.send(wire.FrameType.REPLY, {"id": note_id}, answer)
        elif frame.type is wire.FrameType.RESULT:
            self.results[str(header.get("id"))] = str(header.get("status"))

    async def _send_line(self, line: dict[str, Any]) -> None:
        interval = float(line["every"]) / self.speed
        text = str(line["text"]).encode()
        for i in range(int(line["count"])):
            if i:
                await asyncio.sleep(interval)
            assert self.conn is not None
            note_id = f"{self.name}>{line['to']}#{i + 1}"
            self.conn.send(SEND, {"id": note_id, "to": line["to"], "reply": bool(line.get("reply"))}, text)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        done = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, done.set)
        closed = asyncio.Event()
        for _ in range(200):  # the proxy process may still be starting
            try:
                _, self.conn = await loop.create_connection(
                    lambda: net.FrameConnection(
                        self._on_frame, lambda c, e: closed.set(), label=f"proxy of {self.name}"
                    ),
                    *self.proxy_address,
                )
                break
            except OSError:
                await asyncio.sleep(0.025)
        else:
            net.log(f"student {self.name}", "could not reach my proxy")
            return
        waiters = [loop.create_task(done.wait()), loop.create_task(closed.wait())]
        ready = loop.create_task(self.ready.wait())
        await asyncio.wait([ready, *waiters], return_when=asyncio.FIRST_COMPLETED)
        if self.ready.is_set():
            senders = [loop.create_task(self._send_line(line)) for line in self.traffic]
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            for task in senders:
                task.cancel()


def main(spec: dict[str, Any], fds: list[int]) -> None:
    """Entry point of a student process (called by the launcher after fork)."""
    net.run(Student(spec).run())
