"""A student: the workload.  Sends the level's notes through its own proxy.

The student knows nothing of TLS, routes or the class rules: it talks
plaintext frames to its proxy over loopback, as an application talks to its
sidecar inside a pod.  It waits for the proxy to say the class is ready, then
sends each of its traffic lines (``count`` notes, one every ``every`` seconds
of room time), replies when a note asks for it, and reads the notes delivered
to it.  A student whose behaviour says ``absent_after`` leaves her desk then
(she drops the connection to her proxy) and, with ``back_after``, comes back;
the notes she would have written meanwhile wait until she is back.

She remembers which of her notes have no outcome yet.  Should her own proxy
die, she records each of them as ``abandoned`` (an event to the runner's hub,
which she has a line to of her own): every note still ends in one recorded
state, though the ledger her proxy kept died with it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from classroom.mesh.control.request import Operation
from classroom.mesh.runtime import messages, net, process, wire
from classroom.mesh.runtime.specs import StudentSpec, TrafficLine


class Student(process.Role):
    spec: StudentSpec

    def __init__(self, spec: StudentSpec, fds: list[int]) -> None:
        super().__init__(spec, fds)
        self.title = f"classroom: student {spec.name}"
        self.name = spec.name
        self.proxy_address = spec.proxy
        self.traffic = spec.traffic
        self.ready = asyncio.Event()
        self.received: dict[str, bytes] = {}
        self.results: dict[str, str] = {}
        self.conn: net.FrameConnection | None = None
        self.absent_after = spec.absent_after
        self.back_after = spec.back_after
        self.at_desk = asyncio.Event()
        self.lost = asyncio.Event()
        self.finished = asyncio.Event()
        self.leaving = False
        self.gone_for_good = False
        self.sent = 0
        self.unsettled: dict[str, str] = {}  # note id -> to: handed to her proxy, no RESULT yet
        self.numbered: dict[str, int] = {}  # recipient -> notes written to her so far (over all her lines)

    def _on_frame(self, conn: net.FrameConnection, frame: wire.Frame) -> None:
        if frame.type is wire.FrameType.CONTROL and messages.control_type(frame) == "ready":
            self.ready.set()
        elif frame.type is wire.FrameType.DELIVER:
            note = messages.Deliver.decode(frame)
            self.received[note.id] = note.text
            if note.reply:
                conn.send_message(messages.Reply(note.id, b"Re: " + note.text[:200] + b" -- yes!"))
        elif frame.type is wire.FrameType.RESULT:
            result = messages.Result.decode(frame)
            self.results[result.id] = result.status
            self.unsettled.pop(result.id, None)

    async def _send_line(self, line: TrafficLine) -> None:
        text = line.text.encode()
        op = Operation(line.path, line.method, line.headers)
        for i in range(line.count):
            if i:
                await self.clock.sleep(line.every)
            await self.at_desk.wait()  # an absent student sends nothing until she is back
            assert self.conn is not None
            # Numbered per recipient, not per line: two lines to one classmate (a path each) need distinct ids.
            self.numbered[line.to] = number = self.numbered.get(line.to, 0) + 1
            note_id = f"{self.name}>{line.to}#{number}"
            self.conn.send_message(messages.Send(note_id, line.to, line.reply, line.hold, op, text))
            self.unsettled[note_id] = line.to
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
                await self.clock.sleep(0.025 * max(self.clock.rate, 1.0))
        net.log(f"student {self.name}", "could not reach my proxy")
        return False

    def _on_closed(self, conn: net.FrameConnection, exc: Exception | None) -> None:
        if conn is self.conn and not self.leaving:
            self.lost.set()  # the proxy went away: nothing more to do in class

    async def _attendance(self) -> None:
        """absent_after / back_after: leave the desk (drop the proxy connection), come back."""
        if self.absent_after is None:
            return
        await self.clock.sleep(self.absent_after)
        self.leave(for_good=self.back_after is None)
        if self.back_after is None:
            return
        await self.clock.sleep(max(self.back_after - self.absent_after, 0.0))
        await self.come_back()

    def leave(self, for_good: bool = False) -> None:
        """She leaves her desk: she drops the connection to her proxy (whose hand then tells the office)."""
        if self.leaving:
            return
        self.at_desk.clear()
        self.leaving = True
        if self.conn is not None:
            if for_good:  # nothing more will come from her
                self.conn.send(wire.FrameType.CONTROL, {"type": "done", "sent": self.sent})
            self.conn.close()
        if for_good:
            self.gone_for_good = True
            self.finished.set()

    async def come_back(self) -> None:
        if not self.leaving or self.gone_for_good:
            return
        self.leaving = False
        if await self._connect():
            await self.ready.wait()
            self.at_desk.set()

    def on_runner(self, message: dict[str, Any]) -> None:
        """The lecturer sends her out of the room, or back in."""
        if message.get("type") == "leave":
            self.leave()
        elif message.get("type") == "back":
            net.spawn(self.come_back())
        else:
            super().on_runner(message)

    async def _lesson(self) -> None:
        net.spawn(self._attendance())
        await asyncio.gather(*(self._send_line(line) for line in self.traffic))
        await self.at_desk.wait()
        assert self.conn is not None
        # Tell the proxy there is nothing more to come, so the round knows when it is over.
        self.conn.send(wire.FrameType.CONTROL, {"type": "done", "sent": self.sent})
        self.finished.set()

    async def main(self) -> None:
        if not await self._connect():
            self.finish()
            return
        net.spawn(self._class())

    async def _class(self) -> None:
        loop = asyncio.get_running_loop()
        waiters = [loop.create_task(self.done.wait()), loop.create_task(self.lost.wait())]
        ready = loop.create_task(self.ready.wait())
        await asyncio.wait([ready, *waiters], return_when=asyncio.FIRST_COMPLETED)
        if self.ready.is_set():
            self.at_desk.set()
            lesson = net.spawn(self._lesson())
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            lesson.cancel()
        ready.cancel()
        if self.lost.is_set():
            self._hand_gone()
        self.finish()

    def _hand_gone(self) -> None:
        """Her own hand (her proxy) went away: each note she handed it that has no outcome ends here,
        failed, recorded by her (the ledger lived in the process that died)."""
        for note_id, to in self.unsettled.items():
            self.events.emit("abandoned", note=note_id, **{"from": self.name}, to=to,
                             reason=f"{self.name}'s own hand went away (her proxy stopped)")
        self.unsettled.clear()
        self.events.emit("student_done", hand=self.name, sent=self.sent, by="student")


ROLE = Student
