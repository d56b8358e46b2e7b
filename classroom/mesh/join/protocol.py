"""The join protocol: what a laptop and the lecturer's host say to each other, checked on arrival.

Pure rules, no I/O (the sockets are :mod:`classroom.mesh.join.host` and
:mod:`classroom.mesh.join.laptop`).  Every message is a CONTROL frame of
:mod:`classroom.mesh.runtime.wire` (so the 64 KiB frame limit holds before
any JSON is read); its header has a ``type`` and the fields below, each
checked for its type and size as :mod:`classroom.mesh.runtime.messages`
checks a peer's frames.  Anything else is the laptop's protocol error: one
line on both sides, and the connection closes.

Laptop to host::

    join   {code, as?}          the join code on the lecturer's screen, the seat wanted (or any free one)
    ready  {peer_port}          her proxy's peer listener is bound (on the address the host reached her at)
    ping   {id}                 a round trip, for the clock's offset and to say she is still there
    relay  {ch} + bytes         her proxy's control channel ("ctl"), her proxy's or student's event line

Host to laptop::

    refused {reason}            one line, then the host closes
    welcome {seat, level, ca, room, rate}    the class CA (its fingerprint is what the student checks)
    pong    {id, room, rate}    room time when the host answered
    clock   {room, rate}        the lecturer paused, stepped or changed the speed
    start   {proxy, student}    the specs of her two processes
    relay   {ch} + bytes        the office to her proxy, the runner to either process
    stop    {}                  the round is over: flush and leave
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Any

from classroom.mesh.runtime.wire import Frame, FrameType, RemoteProtocolError

CONTROL = FrameType.CONTROL
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L: read off a projector
CODE_LENGTH = 8
CODE_PATTERN = re.compile(r"^[A-Za-z0-9-]{4,32}$")
NAME_PATTERN = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")  # a level's student names (DNS labels)
CHANNELS = ("ctl", "proxy", "student")  # what a laptop relays: her proxy's control line, the two event lines
RELAY_CHUNK = 60 * 1024  # bytes of a relayed stream per frame (the frame limit is 64 KiB)
OWN_NOTES = frozenset({"sent", "result", "abandoned"})  # events that only a note's sender's side makes
JOIN_IDENTITY = "spiffe://classroom.local/join"  # the host's join-port certificate: no student's identity


def new_code() -> str:
    """A fresh join code, as ``XXXX-XXXX`` (40 bits: guessing it in a lecture's minutes is hopeless)."""
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    return f"{raw[:4]}-{raw[4:]}"


def normal_code(code: str) -> str:
    """A code as compared: upper case, without the dash (students type ``k7qp-mx2a`` or ``K7QPMX2A``)."""
    return code.replace("-", "").upper()


def valid_code(code: str) -> str | None:
    """Why ``code`` cannot be a join code (for ``--code``), or None."""
    if not CODE_PATTERN.match(code) or len(normal_code(code)) < 4:
        return "a join code is 4 to 32 letters, digits and dashes"
    return None


@dataclass
class JoinCode:
    """The round's one join code, good until ``expires`` (real seconds, time.monotonic) or the start."""

    code: str
    expires: float
    closed: str | None = None  # why no laptop may join any more ("the round has started")

    def check(self, offered: str, now: float) -> str | None:
        """Why ``offered`` does not let a laptop in, or None (compared in constant time)."""
        good = hmac.compare_digest(normal_code(offered).encode(), normal_code(self.code).encode())
        if not good:
            return "wrong join code"
        if self.closed:
            return self.closed
        if now >= self.expires:
            return "the join code has expired (ask the lecturer for the new one)"
        return None


def fingerprint(der: bytes) -> str:
    """A certificate's SHA-256 fingerprint as browsers and ``openssl x509 -fingerprint -sha256`` show it."""
    digest = hashlib.sha256(der).hexdigest().upper()
    return ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))


def short_fingerprint(der: bytes) -> str:
    """The first 8 bytes of the fingerprint: what a student compares with the lecturer's screen."""
    return fingerprint(der)[:23]


def _field(header: dict[str, Any], key: str, kind: type, what: str, limit: int = 256) -> Any:
    value = header.get(key)
    if type(value) is not kind:
        raise RemoteProtocolError(f"{what}: {key!r} must be {kind.__name__}, got {type(value).__name__}")
    if isinstance(value, str) and len(value) > limit:
        raise RemoteProtocolError(f"{what}: {key!r} is longer than {limit} characters")
    return value


def message_type(frame: Frame) -> str:
    if frame.type is not CONTROL:
        raise RemoteProtocolError(f"a {frame.type.name} frame where a join message was expected")
    kind = frame.header.get("type")
    if type(kind) is not str or len(kind) > 16:
        raise RemoteProtocolError("a join message without a type")
    return kind


@dataclass(frozen=True)
class Join:
    code: str
    seat: str | None


def decode_join(frame: Frame) -> Join:
    """The first message a laptop sends; RemoteProtocolError names what is wrong with it."""
    kind = message_type(frame)
    if kind != "join":
        raise RemoteProtocolError(f"expected a join message first, got {kind[:16]!r}")
    extra = set(frame.header) - {"type", "code", "as"}
    if extra:
        raise RemoteProtocolError(f"join message has unknown fields: {', '.join(sorted(map(str, extra)))[:80]}")
    if "code" not in frame.header:
        raise RemoteProtocolError("no join code (ask the lecturer for the code on the screen)")
    code = _field(frame.header, "code", str, "join message", 32)
    seat = frame.header.get("as")
    if seat is not None:
        seat = _field(frame.header, "as", str, "join message", 63)
        if not NAME_PATTERN.match(seat):
            raise RemoteProtocolError(f"join message: 'as' is not a student's name: {seat[:30]!r}")
    if frame.body:
        raise RemoteProtocolError("join message has a body")
    return Join(code, seat)


def decode_port(frame: Frame) -> int:
    """The ``ready`` message's peer port."""
    port = _field(frame.header, "peer_port", int, "ready message")
    if not 1 <= port <= 65535:
        raise RemoteProtocolError(f"ready message: peer_port {port} is not a TCP port")
    return int(port)


def decode_ping(frame: Frame) -> int:
    ping = _field(frame.header, "id", int, "ping message")
    if not 0 <= ping < 2**53:
        raise RemoteProtocolError("ping message: id out of range")
    return int(ping)


def decode_channel(frame: Frame) -> str:
    channel = _field(frame.header, "ch", str, "relay message", 16)
    if channel not in CHANNELS:
        raise RemoteProtocolError(f"relay message: unknown channel {channel!r}")
    return str(channel)


def check_events(header: dict[str, Any], source: str, seat: str) -> None:
    """A laptop's batch of events: each a small record from her own process, none in anyone else's name."""
    events = header.get("events")
    if type(events) is not list:
        raise RemoteProtocolError("an EVENT frame without a list of events")
    for event in events:
        if type(event) is not dict or type(event.get("kind")) is not str:
            raise RemoteProtocolError("an event that is not a record with a kind")
        if event.get("src") != source:
            raise RemoteProtocolError(f"an event in the name of {str(event.get('src'))[:40]!r}, not {source}")
        if source == "student" and "hand" in event and event["hand"] != seat:
            raise RemoteProtocolError(f"a student event for {str(event['hand'])[:40]!r}, not {seat}")
        # A note's own outcome settles the ledger: only hers may come from her laptop.
        if event["kind"] in OWN_NOTES and event.get("from") != seat:
            raise RemoteProtocolError(f"a {event['kind']} event for a note of {str(event.get('from'))[:40]!r}")
        if type(event.get("t")) not in (float, int):
            raise RemoteProtocolError("an event without its room time")
