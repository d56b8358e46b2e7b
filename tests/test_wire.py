"""The sans-I/O frame codec: round trips, arbitrary chunking, and garbage."""

from __future__ import annotations

import json
import struct
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from classroom.mesh.runtime import wire
from classroom.mesh.runtime.wire import (
    MAX_FRAME,
    Frame,
    FrameDecoder,
    FrameType,
    LocalProtocolError,
    RemoteProtocolError,
    encode,
    encode_parts,
)

PREFIX = struct.Struct(">BBI")
U16 = struct.Struct(">H")


def raw_frame(
    payload: bytes, *, version: int = wire.VERSION, ftype: int = FrameType.NOTE, length: int | None = None
) -> bytes:
    """A frame built by hand, so that it can be wrong in any way we like."""
    return PREFIX.pack(version, ftype, len(payload) if length is None else length) + payload


def payload_with_header(head: bytes, body: bytes = b"") -> bytes:
    return U16.pack(len(head)) + head + body


def decode_all(data: bytes, max_frame: int = MAX_FRAME) -> list[Frame]:
    decoder = FrameDecoder(max_frame)
    decoder.receive_data(data)
    return decoder.frames()


# --- strategies -------------------------------------------------------------------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=10,
)
headers = st.dictionaries(st.text(max_size=10), json_values, max_size=5)
frames_st = st.builds(
    Frame,
    type=st.sampled_from(FrameType),
    header=headers,
    body=st.binary(max_size=300),
)


@st.composite
def chunkings(draw: st.DrawFn, data: bytes) -> list[bytes]:
    """``data`` cut at a random sorted set of split points (possibly empty pieces)."""
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=30)))
    bounds = [0, *cuts, len(data)]
    return [data[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]


# --- round trips ------------------------------------------------------------------------


@pytest.mark.parametrize("ftype", list(FrameType))
def test_round_trip_every_frame_type(ftype: FrameType) -> None:
    header = {
        "id": "n-1",
        "from": "ada",
        "to": "bob",
        "path": ["ada", "cy"],
        "attempt": 2,
        "trace": {"id": "ab" * 8},
        "ünï": "cødé ✉",
    }
    body = bytes(range(256))
    frame = Frame(ftype, header, body)
    [back] = decode_all(encode(frame))
    assert back == frame
    assert back.type is ftype


def test_prefix_layout_is_version_type_length() -> None:
    data = encode(Frame(FrameType.ACK, {"a": 1}, b"xyz"))
    version, ftype, length = PREFIX.unpack_from(data)
    assert (version, ftype) == (wire.VERSION, FrameType.ACK)
    assert length == len(data) - PREFIX.size
    (head_len,) = U16.unpack_from(data, PREFIX.size)
    assert json.loads(data[PREFIX.size + 2 : PREFIX.size + 2 + head_len]) == {"a": 1}
    assert data.endswith(b"xyz")


def test_empty_header_and_body_round_trip() -> None:
    assert decode_all(encode(Frame(FrameType.EVENT))) == [Frame(FrameType.EVENT, {}, b"")]


def test_encode_parts_is_shorthand_for_encode() -> None:
    assert encode_parts(FrameType.SEND, {"to": "bob"}, b"hi") == encode(
        Frame(FrameType.SEND, {"to": "bob"}, b"hi")
    )


@settings(max_examples=150, deadline=None)
@given(frame=frames_st)
def test_round_trip_property(frame: Frame) -> None:
    assert decode_all(encode(frame)) == [frame]


# --- chunking ---------------------------------------------------------------------------


def test_one_byte_at_a_time() -> None:
    frames = [
        Frame(FrameType.NOTE, {"id": "1"}, b"sealed"),
        Frame(FrameType.ACK, {"id": "1", "status": "delivered"}),
        Frame(FrameType.EVENT, {"events": [{"kind": "sent"}]}, b"\x00" * 40),
    ]
    data = b"".join(encode(f) for f in frames)
    decoder = FrameDecoder()
    got: list[Frame] = []
    for i in range(len(data)):
        decoder.receive_data(data[i : i + 1])
        got.extend(decoder.frames())
    assert got == frames
    assert decoder.buffered == 0


def test_next_frame_is_none_until_frame_complete() -> None:
    frame = Frame(FrameType.DELIVER, {"id": "n"}, b"text")
    data = encode(frame)
    decoder = FrameDecoder()
    assert decoder.next_frame() is None
    for i, byte in enumerate(data[:-1]):
        decoder.receive_data(bytes([byte]))
        assert decoder.next_frame() is None, f"frame returned after only {i + 1} bytes"
        assert decoder.buffered == i + 1
    decoder.receive_data(data[-1:])
    assert decoder.next_frame() == frame
    assert decoder.next_frame() is None
    assert decoder.buffered == 0


def test_frames_returns_only_complete_frames_and_keeps_the_rest() -> None:
    a = encode(Frame(FrameType.NOTE, {"n": 1}, b"a"))
    b = encode(Frame(FrameType.NOTE, {"n": 2}, b"b"))
    decoder = FrameDecoder()
    decoder.receive_data(a + b[:5])
    assert decoder.frames() == [Frame(FrameType.NOTE, {"n": 1}, b"a")]
    assert decoder.buffered == 5
    decoder.receive_data(b[5:])
    assert decoder.frames() == [Frame(FrameType.NOTE, {"n": 2}, b"b")]


def test_many_frames_past_the_compaction_point() -> None:
    """More than 64 KiB of frames in one buffer, so the decoder compacts midway."""
    frames = [Frame(FrameType.NOTE, {"i": i}, bytes([i % 256]) * 1000) for i in range(150)]
    data = b"".join(encode(f) for f in frames)
    assert len(data) > 2 * 65536
    decoder = FrameDecoder()
    decoder.receive_data(data[:100_000])
    got = decoder.frames()
    decoder.receive_data(data[100_000:])
    got += decoder.frames()
    assert got == frames
    assert decoder.buffered == 0


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames=st.lists(frames_st, min_size=1, max_size=5), data=st.data())
def test_any_chunking_gives_the_same_frames(frames: list[Frame], data: st.DataObject) -> None:
    stream = b"".join(encode(f) for f in frames)
    pieces = data.draw(chunkings(stream))
    assert b"".join(pieces) == stream
    decoder = FrameDecoder()
    got: list[Frame] = []
    for piece in pieces:
        decoder.receive_data(piece)
        got.extend(decoder.frames())
    assert got == frames
    assert decoder.buffered == 0
    # and whole, in one go
    assert decode_all(stream) == frames


# --- garbage ----------------------------------------------------------------------------

GOOD_PAYLOAD = payload_with_header(b'{"a":1}', b"body")
NOT_OBJECT = "not a JSON object"


def headed(head: bytes) -> bytes:
    """A frame with a correct prefix around ``head`` as its header."""
    return raw_frame(payload_with_header(head))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param(raw_frame(GOOD_PAYLOAD, version=2), "version", id="wrong-version"),
        pytest.param(raw_frame(GOOD_PAYLOAD, version=0), "version", id="version-zero"),
        pytest.param(raw_frame(GOOD_PAYLOAD, ftype=0), "unknown frame type", id="type-zero"),
        pytest.param(raw_frame(GOOD_PAYLOAD, ftype=9), "unknown frame type", id="type-nine"),
        pytest.param(raw_frame(GOOD_PAYLOAD, ftype=255), "unknown frame type", id="type-255"),
        pytest.param(raw_frame(b"", length=0), "too short", id="length-zero"),
        pytest.param(raw_frame(b"\x00", length=1), "too short", id="length-one"),
        pytest.param(raw_frame(U16.pack(10) + b"{}"), "overruns", id="header-overruns"),
        pytest.param(headed(b"not json"), "not JSON", id="header-not-json"),
        pytest.param(headed(b""), "not JSON", id="header-empty"),
        pytest.param(headed(b'{"a":'), "not JSON", id="header-truncated"),
        pytest.param(headed(b"\xff\xfe{}"), "not JSON", id="header-not-utf8"),
        pytest.param(headed(b"[1,2]"), NOT_OBJECT, id="header-list"),
        pytest.param(headed(b'"x"'), NOT_OBJECT, id="header-string"),
        pytest.param(headed(b"null"), NOT_OBJECT, id="header-null"),
        pytest.param(headed(b"3"), NOT_OBJECT, id="header-number"),
    ],
)
def test_garbage_is_a_remote_protocol_error(data: bytes, message: str) -> None:
    decoder = FrameDecoder()
    decoder.receive_data(data)
    with pytest.raises(RemoteProtocolError, match=message):
        decoder.next_frame()
    with pytest.raises(RemoteProtocolError, match=message):
        decoder.next_frame()


def test_oversized_length_rejected_from_the_prefix_alone() -> None:
    decoder = FrameDecoder()
    decoder.receive_data(PREFIX.pack(wire.VERSION, FrameType.NOTE, MAX_FRAME + 1))
    with pytest.raises(RemoteProtocolError, match="exceeds"):
        decoder.next_frame()


def test_huge_length_rejected_without_buffering() -> None:
    decoder = FrameDecoder()
    decoder.receive_data(PREFIX.pack(wire.VERSION, FrameType.NOTE, 0xFFFFFFFF))
    with pytest.raises(RemoteProtocolError):
        decoder.frames()
    # The error state drops what was buffered and ignores what comes next.
    decoder.receive_data(b"\x00" * 1000)
    assert decoder.buffered == 0


def test_length_at_the_limit_is_accepted() -> None:
    body_len = MAX_FRAME - 2 - len(b"{}")
    frame = Frame(FrameType.NOTE, {}, b"x" * body_len)
    data = encode(frame)
    assert len(data) == PREFIX.size + MAX_FRAME
    assert decode_all(data) == [frame]


def test_incomplete_prefix_is_not_judged_yet() -> None:
    decoder = FrameDecoder()
    decoder.receive_data(b"\x09\x09\x09\x09\x09")  # 5 bytes: wrong version, but not a prefix yet
    assert decoder.next_frame() is None
    decoder.receive_data(b"\x09")
    with pytest.raises(RemoteProtocolError):
        decoder.next_frame()


def test_good_frame_before_garbage_is_delivered_first() -> None:
    good = Frame(FrameType.NOTE, {"id": "ok"}, b"fine")
    decoder = FrameDecoder()
    decoder.receive_data(encode(good) + raw_frame(GOOD_PAYLOAD, version=7))
    assert decoder.next_frame() == good
    with pytest.raises(RemoteProtocolError):
        decoder.next_frame()


def test_decoder_keeps_raising_after_the_first_error() -> None:
    decoder = FrameDecoder()
    decoder.receive_data(raw_frame(GOOD_PAYLOAD, ftype=99))
    with pytest.raises(RemoteProtocolError) as first:
        decoder.next_frame()
    # Even a perfectly good frame afterwards does not resynchronise the stream.
    decoder.receive_data(encode(Frame(FrameType.NOTE, {"id": "later"})))
    for _ in range(3):
        with pytest.raises(RemoteProtocolError) as again:
            decoder.next_frame()
        assert again.value is first.value
    with pytest.raises(RemoteProtocolError):
        decoder.frames()


def test_remote_and_local_errors_are_protocol_errors() -> None:
    assert issubclass(RemoteProtocolError, wire.ProtocolError)
    assert issubclass(LocalProtocolError, wire.ProtocolError)
    assert not issubclass(RemoteProtocolError, LocalProtocolError)


def test_deeply_nested_header_is_a_remote_protocol_error() -> None:
    decoder = FrameDecoder()
    decoder.receive_data(headed(b"[" * 5000))
    with pytest.raises(RemoteProtocolError):
        decoder.next_frame()


def _feed_garbage(pieces: list[bytes], max_frame: int) -> None:
    decoder = FrameDecoder(max_frame)
    for piece in pieces:
        decoder.receive_data(piece)
        try:
            frames = decoder.frames()
        except RemoteProtocolError:
            with pytest.raises(RemoteProtocolError):
                decoder.next_frame()
            return
        for frame in frames:
            assert isinstance(frame.type, FrameType)
            assert isinstance(frame.header, dict)
            assert isinstance(frame.body, bytes)
            assert len(frame.body) <= max_frame


@settings(max_examples=300, deadline=None)
@given(
    pieces=st.lists(st.binary(max_size=64), max_size=8),
    max_frame=st.sampled_from([16, 64, 1024]),
)
def test_arbitrary_bytes_give_frames_or_remote_protocol_error(pieces: list[bytes], max_frame: int) -> None:
    _feed_garbage(pieces, max_frame)


@st.composite
def plausible_garbage(draw: st.DrawFn) -> list[bytes]:
    """Mostly-valid prefixes with random payloads, so the header checks get exercised too."""
    out = []
    for _ in range(draw(st.integers(1, 4))):
        payload = draw(
            st.one_of(
                st.binary(max_size=40),
                st.builds(payload_with_header, st.binary(max_size=30), st.binary(max_size=10)),
                st.builds(
                    lambda h, b: payload_with_header(json.dumps(h).encode(), b),
                    json_values,
                    st.binary(max_size=10),
                ),
            )
        )
        version = draw(st.sampled_from([wire.VERSION, wire.VERSION, 0, 2]))
        ftype = draw(st.integers(0, 9))
        length = draw(st.one_of(st.just(len(payload)), st.integers(0, 80)))
        out.append(raw_frame(payload, version=version, ftype=ftype, length=length))
    return out


@settings(max_examples=300, deadline=None)
@given(pieces=plausible_garbage())
def test_plausible_garbage_gives_frames_or_remote_protocol_error(pieces: list[bytes]) -> None:
    _feed_garbage([b"".join(pieces)], 1024)


# --- encoding limits --------------------------------------------------------------------


def test_encode_oversized_frame_is_a_local_protocol_error() -> None:
    with pytest.raises(LocalProtocolError, match="exceeds"):
        encode(Frame(FrameType.NOTE, {}, b"x" * MAX_FRAME))


def test_encode_oversized_header_is_a_local_protocol_error() -> None:
    with pytest.raises(LocalProtocolError, match="header"):
        encode(Frame(FrameType.EVENT, {"x": "y" * 70_000}, b""), max_frame=1 << 20)


def test_custom_max_frame_on_both_sides() -> None:
    small = Frame(FrameType.NOTE, {"id": "1"}, b"x" * 10)
    data = encode(small, max_frame=64)
    assert decode_all(data, max_frame=64) == [small]

    big = Frame(FrameType.NOTE, {"id": "1"}, b"x" * 100)
    with pytest.raises(LocalProtocolError):
        encode(big, max_frame=64)
    encoded_big = encode(big)  # fine under the default limit ...
    decoder = FrameDecoder(max_frame=64)
    decoder.receive_data(encoded_big[: PREFIX.size])  # ... but a 64-byte decoder refuses the prefix
    with pytest.raises(RemoteProtocolError, match="64-byte limit"):
        decoder.next_frame()


def test_larger_custom_max_frame_accepts_what_the_default_refuses() -> None:
    frame = Frame(FrameType.EVENT, {"events": []}, b"e" * (MAX_FRAME + 10))
    with pytest.raises(LocalProtocolError):
        encode(frame)
    data = encode(frame, max_frame=2 * MAX_FRAME)
    assert decode_all(data, max_frame=2 * MAX_FRAME) == [frame]
    with pytest.raises(RemoteProtocolError):
        decode_all(data)


def _header_for(n: int) -> dict[str, Any]:
    return {"pad": "p" * n}


@pytest.mark.parametrize("max_frame", [32, 100, 1000])
def test_encode_limit_is_exact(max_frame: int) -> None:
    overhead = 2 + len(b'{"pad":""}')
    fits = Frame(FrameType.CONTROL, _header_for(max_frame - overhead))
    assert len(encode(fits, max_frame=max_frame)) == PREFIX.size + max_frame
    with pytest.raises(LocalProtocolError):
        encode(Frame(FrameType.CONTROL, _header_for(max_frame - overhead + 1)), max_frame=max_frame)
