"""The wire: framing of everything that crosses a socket in the mesh.

Theory of operation
-------------------
This module is sans-I/O, in the manner of h11: it never touches a socket.
The caller feeds received bytes to :meth:`FrameDecoder.receive_data` and pulls
complete frames with :meth:`FrameDecoder.next_frame`; to send, it calls
:func:`encode` and writes the bytes itself.  A test can therefore feed the
decoder one byte at a time, or garbage, without any network.

A frame is a 6-byte prefix and a payload::

    +---------+------+----------------+------------------------------+
    | version | type | length (u32 BE)| payload (length bytes)       |
    +---------+------+----------------+------------------------------+
    payload = header length (u16 BE) | header (JSON object) | body (bytes)

The header carries routing and bookkeeping (note id, sender, recipient,
attempt, path, trace context); the body is opaque bytes: for a note, the
sealed envelope, so an intermediary can route on the header without being
able to read the body.

Errors say whose fault they are.  :class:`RemoteProtocolError` means the peer
sent something illegal (wrong version, unknown type, oversized or garbled
frame): the connection that carried it is closed, the process goes on.
:class:`LocalProtocolError` means we tried to send something illegal.  The
size limit is part of the protocol: a length above ``max_frame`` is rejected
from the prefix alone, before any payload is buffered.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass, field
from typing import Any, NoReturn

import orjson

VERSION = 1
MAX_FRAME = 64 * 1024
PREFIX = struct.Struct(">BBI")
HEADER_LEN = struct.Struct(">H")

# orjson: every header of every frame is encoded once and decoded once per hand, and telemetry
# batches are headers too; the standard library's json costs ~15x more per event to encode.
_OPTIONS = orjson.OPT_NON_STR_KEYS
_loads = orjson.loads


class FrameType(enum.IntEnum):
    """What a frame is for; the numbers are on the wire."""

    NOTE = 1  # hand to hand: a sealed note on its way
    ACK = 2  # hand to hand, travelling back: the end-to-end outcome of a note attempt
    SEND = 3  # student to its proxy: please send this note
    DELIVER = 4  # proxy to its student: a note for you
    RESULT = 5  # proxy to its student: what became of your note
    CONTROL = 6  # office <-> proxy: certificates, configuration, acknowledgements
    EVENT = 7  # anyone -> office -> subscribers: telemetry events
    REPLY = 8  # student to its proxy: my reply to a note I was handed


class ProtocolError(Exception):
    """A frame that breaks the protocol."""


class RemoteProtocolError(ProtocolError):
    """The peer sent bytes that are not a valid frame."""


class LocalProtocolError(ProtocolError):
    """We tried to send something the protocol does not allow."""


@dataclass(frozen=True, slots=True)
class Frame:
    """One frame: a type, a JSON header and an opaque body."""

    type: FrameType
    header: dict[str, Any] = field(default_factory=dict)
    body: bytes = b""


def encode(frame: Frame, max_frame: int = MAX_FRAME) -> bytes:
    """The bytes of ``frame``; raises LocalProtocolError if it cannot be sent."""
    try:
        head = orjson.dumps(frame.header, option=_OPTIONS)
    except TypeError as exc:
        raise LocalProtocolError(f"frame header cannot be encoded as JSON: {exc}") from None
    if len(head) > 0xFFFF:
        raise LocalProtocolError(f"frame header is {len(head)} bytes, more than 65535")
    length = HEADER_LEN.size + len(head) + len(frame.body)
    if length > max_frame:
        raise LocalProtocolError(f"frame of {length} bytes exceeds the {max_frame}-byte limit")
    return b"".join((PREFIX.pack(VERSION, frame.type, length), HEADER_LEN.pack(len(head)), head, frame.body))


def encode_parts(ftype: FrameType, header: dict[str, Any], body: bytes = b"") -> bytes:
    """Shorthand for ``encode(Frame(ftype, header, body))``."""
    return encode(Frame(ftype, header, body))


_TYPES = {t.value: t for t in FrameType}


class FrameDecoder:
    """Turns a byte stream into frames; never blocks, never does I/O."""

    __slots__ = ("_buf", "_pos", "_max", "_error")

    def __init__(self, max_frame: int = MAX_FRAME) -> None:
        self._buf = bytearray()
        self._pos = 0
        self._max = max_frame
        self._error: RemoteProtocolError | None = None

    @property
    def buffered(self) -> int:
        """Bytes received and not yet consumed as frames."""
        return len(self._buf) - self._pos

    def receive_data(self, data: bytes) -> None:
        """Append bytes received from the peer."""
        if self._error is None:
            self._buf += data

    def next_frame(self) -> Frame | None:
        """The next complete frame, or None if more data is needed.

        Raises RemoteProtocolError for a bad frame, and again on every later
        call: a stream that went wrong once cannot be resynchronised.
        """
        if self._error is not None:
            raise self._error
        buf, pos = self._buf, self._pos
        if len(buf) - pos < PREFIX.size:
            return None
        version, ftype, length = PREFIX.unpack_from(buf, pos)
        if version != VERSION:
            return self._fail(f"unsupported frame version {version} (expected {VERSION})")
        kind = _TYPES.get(ftype)
        if kind is None:
            return self._fail(f"unknown frame type {ftype}")
        if length > self._max:
            return self._fail(f"frame of {length} bytes exceeds the {self._max}-byte limit")
        if length < HEADER_LEN.size:
            return self._fail(f"frame of {length} bytes is too short for its header")
        end = pos + PREFIX.size + length
        if len(buf) < end:
            return None
        start = pos + PREFIX.size
        (head_len,) = HEADER_LEN.unpack_from(buf, start)
        head_end = start + HEADER_LEN.size + head_len
        if head_end > end:
            return self._fail(f"header of {head_len} bytes overruns a {length}-byte frame")
        try:
            header = _loads(buf[start + HEADER_LEN.size : head_end])
        except ValueError as exc:  # orjson.JSONDecodeError, also for bad UTF-8 and deep nesting
            return self._fail(f"frame header is not JSON: {exc}")
        if not isinstance(header, dict):
            return self._fail("frame header is not a JSON object")
        body = bytes(buf[head_end:end])
        # Compact lazily so a burst of small frames does not copy the buffer each time.
        if end == len(buf):
            buf.clear()
            self._pos = 0
        elif end > 65536:
            del buf[:end]
            self._pos = 0
        else:
            self._pos = end
        return Frame(kind, header, body)

    def frames(self) -> list[Frame]:
        """Every complete frame buffered now (raises like next_frame)."""
        out = []
        while (frame := self.next_frame()) is not None:
            out.append(frame)
        return out

    def _fail(self, message: str) -> NoReturn:
        self._error = RemoteProtocolError(message)
        self._buf = bytearray()
        self._pos = 0
        raise self._error
