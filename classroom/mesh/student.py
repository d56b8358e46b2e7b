"""A student: the workload.  Sends the level's notes through its own proxy.

The student knows nothing of TLS, routes or the class rules: it talks
plaintext frames to its proxy over loopback, as an application talks to its
sidecar inside a pod.  It waits for the proxy to say the class is ready, then
sends each of its traffic lines (``count`` notes, one every ``every`` seconds
at speed 1), replies when a note asks for it, and reads the notes delivered to
it.  A student whose behaviour says ``absent_after`` leaves her desk then (she
drops the connection to her proxy) and, with ``back_after``, comes back; the
notes she would have written meanwhile wait until she is back.
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
        self.absent_after: float | None = spec.get("absent_after")
        self.back_after: float | None = spec.get("back_after")
        self.at_desk = asyncio.Event()
        self.lost = asyncio.Event()
        self.finished = asyncio.Event()
        self.leaving = False
        self.sent = 0

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
            await self.at_desk.wait()  # an absent student sends nothing until she is back
            assert self.conn is not None
            note_id = f"{self.name}>{line['to']}#{i + 1}"
            self.conn.send(SEND, {"id": note_id, "to": line["to"], "reply": bool(line.get("reply")),
                                  "hold": bool(line.get("hold"))}, text)
            self.sent += 1

    async def _connect(self) -> bool:
        loop = asyncio.get_running_loop()
        self.ready.clear()
        for _ in range(200):  # the proxy process may still be starting
            try:
                _, self.conn = await loop.create_connection(
                    lambda: net.FrameConnection(self._on_frame, self._on_closed,
                                                label=f"proxy of {self.name}"),
                    *self.proxy_address,
                )
                return True
            except OSError:
                await asyncio.sleep(0.025)
        net.log(f"student {self.name}", "could not reach my proxy")
        return False

    def _on_closed(self, conn: net.FrameConnection, exc: Exception | None) -> None:
        if conn is self.conn and not self.leaving:
            self.lost.set()  # the proxy went away: nothing more to do in class

    async def _attendance(self) -> None:
        """absent_after / back_after: leave the desk (drop the proxy connection), come back."""
        if self.absent_after is None:
            return
        await asyncio.sleep(self.absent_after / self.speed)
        self.at_desk.clear()
        self.leaving = True
        if self.conn is not None:
            if self.back_after is None:  # gone for good: nothing more will come from her
                self.conn.send(wire.FrameType.CONTROL, {"type": "done", "sent": self.sent})
            self.conn.close()
        if self.back_after is None:
            self.finished.set()
            return
        await asyncio.sleep(max(self.back_after - self.absent_after, 0.0) / self.speed)
        self.leaving = False
        if await self._connect():
            await self.ready.wait()
            self.at_desk.set()

    async def _lesson(self) -> None:
        net.spawn(self._attendance())
        await asyncio.gather(*(self._send_line(line) for line in self.traffic))
        await self.at_desk.wait()
        assert self.conn is not None
        # Tell the proxy there is nothing more to come, so the round knows when it is over.
        self.conn.send(wire.FrameType.CONTROL, {"type": "done", "sent": self.sent})
        self.finished.set()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        done = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, done.set)
        if not await self._connect():
            return
        waiters = [loop.create_task(done.wait()), loop.create_task(self.lost.wait())]
        ready = loop.create_task(self.ready.wait())
        await asyncio.wait([ready, *waiters], return_when=asyncio.FIRST_COMPLETED)
        if self.ready.is_set():
            self.at_desk.set()
            lesson = net.spawn(self._lesson())
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            lesson.cancel()


def main(spec: dict[str, Any], fds: list[int]) -> None:
    """Entry point of a student process (called by the launcher after fork)."""
    net.run(Student(spec).run())
