"""Typed messages: what each frame of the mesh carries, checked when it arrives.

Theory of operation
-------------------
:mod:`classroom.mesh.runtime.wire` cuts a byte stream into frames (a type, a
JSON header, an opaque body).  This module says what a frame *means*: each
message is a small immutable record made by ``decode(frame)``, which checks
every field's type and raises :class:`~classroom.mesh.runtime.wire.RemoteProtocolError`
on the first that is wrong or missing, naming it.  A bad header is therefore
the peer's protocol error and closes only that connection
(:class:`~classroom.mesh.runtime.net.FrameConnection`), while an exception
raised later, in our own handling of a well-formed message, is a bug of ours
and is never blamed on the peer.

``encode()`` gives the frame's bytes.  The records on a note's path (NOTE,
ACK, SEND, DELIVER, RESULT, REPLY) are NamedTuples: a note crosses four of
them at every hand, and a NamedTuple is made in a third of the time of a
frozen dataclass.  The JSON shapes are the ones the mesh has always sent, so
recordings, captures and the benches read them as before.

Hand to hand::

    NOTE  {id, from, to, host, subset, uri, method, headers, path, deadline, trace, reply, sealed, attempt,
           tries, traceparent} + envelope
    ACK   {id, attempt, status, by, path?, sealed?, kind?, code?, flag?, cause?, reason?} + sealed reply
    CONTROL {type: hello | welcome, hand}

Student and her proxy::

    SEND {id, to, reply, hold, uri, method, headers} + text     REPLY {id} + text
    DELIVER {id, from, reply} + text      RESULT {id, status, reason} + reply text
    CONTROL {type: ready} (proxy)         CONTROL {type: done, sent} (student)
"""

from __future__ import annotations

from typing import Any, NamedTuple, NoReturn

from classroom.mesh.control.request import Operation
from classroom.mesh.runtime import wire
from classroom.mesh.runtime.wire import Frame, FrameType, RemoteProtocolError

NOTE, ACK, SEND, DELIVER = FrameType.NOTE, FrameType.ACK, FrameType.SEND, FrameType.DELIVER
RESULT, REPLY, CONTROL = FrameType.RESULT, FrameType.REPLY, FrameType.CONTROL


def _bad(what: str, key: str, value: Any, wanted: str) -> NoReturn:
    shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
    if value is _MISSING:
        raise RemoteProtocolError(f"{what} has no {key!r} (it needs {wanted})")
    raise RemoteProtocolError(f"{what} field {key!r} must be {wanted}, got {shown}")


_MISSING: Any = object()


def text(header: dict[str, Any], key: str, what: str) -> str:
    value = header.get(key, _MISSING)
    if type(value) is not str:
        _bad(what, key, value, "text")
    return value


def integer(header: dict[str, Any], key: str, what: str) -> int:
    value = header.get(key, _MISSING)
    if type(value) is not int:
        _bad(what, key, value, "a whole number")
    return value


def number(header: dict[str, Any], key: str, what: str) -> float:
    value = header.get(key, _MISSING)
    if type(value) is not float and type(value) is not int:
        _bad(what, key, value, "a number")
    return float(value)


def flag(header: dict[str, Any], key: str, what: str, default: bool = False) -> bool:
    value = header.get(key, default)
    if type(value) is not bool:
        _bad(what, key, value, "true or false")
    return value


def optional_text(header: dict[str, Any], key: str, what: str) -> str | None:
    value = header.get(key)
    if value is not None and type(value) is not str:
        _bad(what, key, value, "text")
    return value


def texts(header: dict[str, Any], key: str, what: str) -> list[str]:
    value = header.get(key, _MISSING)
    if type(value) is not list or any(type(v) is not str for v in value):
        _bad(what, key, value, "a list of names")
    return value


def string_map(header: dict[str, Any], key: str, what: str) -> dict[str, str]:
    value = header.get(key, {})
    if type(value) is not dict or any(type(k) is not str or type(v) is not str for k, v in value.items()):
        _bad(what, key, value, "a mapping of text to text")
    return value


def mapping(header: dict[str, Any], key: str, what: str) -> dict[str, Any]:
    value = header.get(key, _MISSING)
    if type(value) is not dict:
        _bad(what, key, value, "a mapping")
    return value


# --- hand to hand ------------------------------------------------------------------------------


class Note(NamedTuple):
    """A note on its way, as one hand hands it to the next (the text sealed in ``body``)."""

    id: str
    sender: str
    to: str
    host: str  # the service it was written to (a VirtualService host); ``to`` is its student
    subset: str | None  # the DestinationRule subset its route picked (its own traffic policy)
    op: Operation  # what it asks for: uri, method, headers (routing and policy read it)
    path: list[str]  # the hands it has crossed, its sender first
    deadline: float  # room time after which nobody tries it any more
    trace: str
    reply: bool  # its sender wants an answer
    sealed: bool
    attempt: int  # which try of the hand that sent it: keys the answer
    tries: list[int]  # each hand's try number along the path: keys its dice
    traceparent: str | None
    body: bytes

    @classmethod
    def decode(cls, frame: Frame) -> Note:
        h = frame.header
        tries = h.get("tries", [])
        if type(tries) is not list or any(type(t) is not int for t in tries):
            _bad("NOTE", "tries", tries, "a list of try numbers")
        to = text(h, "to", "NOTE")
        op = Operation.from_headers(optional_text(h, "uri", "NOTE") or "/note",
                                    optional_text(h, "method", "NOTE") or "POST", string_map(h, "headers", "NOTE"))
        return cls(text(h, "id", "NOTE"), text(h, "from", "NOTE"), to,
                   optional_text(h, "host", "NOTE") or to, optional_text(h, "subset", "NOTE"), op,
                   texts(h, "path", "NOTE"), number(h, "deadline", "NOTE"),
                   text(h, "trace", "NOTE"), flag(h, "reply", "NOTE"), flag(h, "sealed", "NOTE", True),
                   integer(h, "attempt", "NOTE"), tries, optional_text(h, "traceparent", "NOTE"), frame.body)

    @property
    def arrival(self) -> str:
        """Which arrival of the note this is: the tries along its path ("0.1")."""
        return ".".join(map(str, self.tries))

    def encode(self) -> bytes:
        op = self.op
        return wire.encode_parts(NOTE, {
            "id": self.id, "from": self.sender, "to": self.to, "host": self.host, "subset": self.subset,
            "uri": op.uri, "method": op.method, "headers": dict(op.headers), "path": self.path,
            "deadline": self.deadline, "trace": self.trace, "reply": self.reply, "sealed": self.sealed,
            "attempt": self.attempt, "tries": self.tries, "traceparent": self.traceparent}, self.body)


class Ack(NamedTuple):
    """The outcome of one try of a note, travelling back to the hand that made it."""

    id: str
    attempt: int
    delivered: bool
    by: str
    path: list[str] | None = None
    sealed: bool = True
    kind: str | None = None
    code: int | None = None
    flag: str | None = None
    cause: str | None = None
    reason: str | None = None
    body: bytes = b""

    @classmethod
    def decode(cls, frame: Frame) -> Ack:
        h = frame.header
        status = h.get("status")
        if status not in ("delivered", "failed"):
            _bad("ACK", "status", status if "status" in h else _MISSING, '"delivered" or "failed"')
        by = h.get("by", "")
        if type(by) is not str:
            _bad("ACK", "by", by, "text")
        if status == "delivered":
            path = h.get("path")
            if path is not None and (type(path) is not list or any(type(p) is not str for p in path)):
                _bad("ACK", "path", path, "a list of names")
            return cls(text(h, "id", "ACK"), integer(h, "attempt", "ACK"), True, by, path,
                       flag(h, "sealed", "ACK") if "sealed" in h else True, body=frame.body)
        code = h.get("code")
        if code is not None and type(code) is not int:
            _bad("ACK", "code", code, "an HTTP status")
        return cls(text(h, "id", "ACK"), integer(h, "attempt", "ACK"), False, by,
                   kind=optional_text(h, "kind", "ACK"), code=code, flag=optional_text(h, "flag", "ACK"),
                   cause=optional_text(h, "cause", "ACK"), reason=optional_text(h, "reason", "ACK"),
                   body=frame.body)

    def encode(self) -> bytes:
        header: dict[str, Any] = {"id": self.id, "attempt": self.attempt,
                                  "status": "delivered" if self.delivered else "failed", "by": self.by}
        if self.delivered:
            header["path"] = self.path
            header["sealed"] = self.sealed
        else:
            header.update(kind=self.kind, code=self.code, flag=self.flag, cause=self.cause, reason=self.reason)
        return wire.encode_parts(ACK, header, self.body)


class LinkHello(NamedTuple):
    """The first frame on a link, either way: ``hello`` from the dialer, ``welcome`` back; later,
    ``goaway`` from the accepting end whose mTLS mode no longer admits this connection (HTTP/2's
    GOAWAY, as Envoy drains a listener whose filter chain changed): no new note on it."""

    type: str
    hand: str

    @classmethod
    def decode(cls, frame: Frame) -> LinkHello:
        kind = text(frame.header, "type", "CONTROL")
        if kind not in ("hello", "welcome", "goaway"):
            raise RemoteProtocolError(f"unexpected CONTROL {kind!r} on a link (only hello, welcome and goaway)")
        return cls(kind, text(frame.header, "hand", "CONTROL"))

    def encode(self) -> bytes:
        return wire.encode_parts(CONTROL, {"type": self.type, "hand": self.hand})


# --- a student and her proxy -------------------------------------------------------------------


class Send(NamedTuple):
    """A student asks her proxy to send a note."""

    id: str
    to: str
    reply: bool
    hold: bool
    op: Operation
    text: bytes

    @classmethod
    def decode(cls, frame: Frame) -> Send:
        h = frame.header
        op = Operation.from_headers(optional_text(h, "uri", "SEND") or "/note",
                                    optional_text(h, "method", "SEND") or "POST", string_map(h, "headers", "SEND"))
        return cls(text(h, "id", "SEND"), text(h, "to", "SEND"), flag(h, "reply", "SEND"),
                   flag(h, "hold", "SEND"), op, frame.body)

    def encode(self) -> bytes:
        return wire.encode_parts(SEND, {"id": self.id, "to": self.to, "reply": self.reply, "hold": self.hold,
                                        "uri": self.op.uri, "method": self.op.method,
                                        "headers": dict(self.op.headers)}, self.text)


class Reply(NamedTuple):
    """A student's answer to a note she was handed."""

    id: str
    text: bytes

    @classmethod
    def decode(cls, frame: Frame) -> Reply:
        return cls(text(frame.header, "id", "REPLY"), frame.body)

    def encode(self) -> bytes:
        return wire.encode_parts(REPLY, {"id": self.id}, self.text)


class Deliver(NamedTuple):
    """A proxy hands its student a note, opened."""

    id: str
    sender: str
    reply: bool
    text: bytes

    @classmethod
    def decode(cls, frame: Frame) -> Deliver:
        h = frame.header
        return cls(text(h, "id", "DELIVER"), text(h, "from", "DELIVER"), flag(h, "reply", "DELIVER"), frame.body)

    def encode(self) -> bytes:
        return wire.encode_parts(DELIVER, {"id": self.id, "from": self.sender, "reply": self.reply}, self.text)


class Result(NamedTuple):
    """A proxy tells its student what became of her note."""

    id: str
    status: str
    reason: str | None
    reply: bytes

    @classmethod
    def decode(cls, frame: Frame) -> Result:
        h = frame.header
        return cls(text(h, "id", "RESULT"), text(h, "status", "RESULT"), optional_text(h, "reason", "RESULT"),
                   frame.body)

    def encode(self) -> bytes:
        return wire.encode_parts(RESULT, {"id": self.id, "status": self.status, "reason": self.reason},
                                 self.reply)


def control(type_: str, **fields: Any) -> bytes:
    """A CONTROL frame's bytes: ``{"type": type_, **fields}``."""
    return wire.encode_parts(CONTROL, {"type": type_, **fields})


def control_type(frame: Frame) -> str:
    """The ``type`` of a CONTROL frame (RemoteProtocolError if it has none)."""
    return text(frame.header, "type", "CONTROL")
