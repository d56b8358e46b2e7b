"""A subscriber to a running round's event stream (``classroom tap|stat|top --connect HOST:PORT``).

The office accepts any number of subscribers on its events port (``classroom
run ... --serve`` prints it) and sends each one EVENT frames.  This client only
reads: it never slows the mesh, and if it falls behind the office drops events
for it and later sends one ``missed`` event with how many.  The stream ends
when the round ends (the office closes it).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from classroom.mesh.runtime import net, wire


class LiveError(Exception):
    """Could not subscribe to a round; the message is one line."""


def parse_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (or ``PORT``, meaning 127.0.0.1) -> (host, port); ValueError with a one-line reason."""
    host, sep, port_text = text.rpartition(":")
    if not sep:
        host, port_text = "127.0.0.1", text
    host = host.strip("[]") or "127.0.0.1"
    try:
        port = int(port_text)
    except ValueError:
        raise ValueError(f"--connect wants HOST:PORT (the events port `classroom run --serve` prints), "
                         f"got {text!r}") from None
    if not 0 < port < 65536:
        raise ValueError(f"--connect: port {port} is not between 1 and 65535")
    return host, port


async def follow(address: tuple[str, int], on_event: Callable[[dict[str, Any]], None],
                 seconds: float | None = None) -> bool:
    """Feed ``on_event`` every event of the round at ``address`` until it ends (True) or ``seconds`` pass."""
    loop = asyncio.get_running_loop()

    def on_frame(conn: net.FrameConnection, frame: wire.Frame) -> None:
        if frame.type is wire.FrameType.EVENT:
            for event in frame.header.get("events", ()):
                on_event(event)

    host, port = address
    try:
        _, conn = await asyncio.wait_for(
            loop.create_connection(lambda: net.FrameConnection(on_frame, label="the office's event stream"),
                                   host, port), 10.0)
    except (OSError, TimeoutError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        raise LiveError(f"cannot connect to {host}:{port}: {reason} "
                        "(is a round running with `classroom run ... --serve`?)") from None
    assert isinstance(conn, net.FrameConnection)
    try:
        await asyncio.wait_for(asyncio.shield(conn.closed), seconds)
        return True
    except TimeoutError:
        return False
    finally:
        with contextlib.suppress(Exception):
            conn.close()


def run_follow(address: tuple[str, int], on_event: Callable[[dict[str, Any]], None],
               seconds: float | None = None) -> bool:
    """:func:`follow` on a fresh event loop (for the command line)."""
    result: bool = net.run(follow(address, on_event, seconds))
    return result
