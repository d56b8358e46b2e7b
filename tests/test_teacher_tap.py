"""The teacher's tap on the record layer: TLS told from plaintext however she joins a connection."""

from __future__ import annotations

import os

import pytest

from classroom.mesh.room.teacher import RecordTap


def record(content: int, length: int) -> bytes:
    return bytes([content, 3, 3]) + length.to_bytes(2, "big") + os.urandom(length)


# A TLS 1.3 connection as it crosses the aisle: the handshake, then application data (notes).
STREAM = record(0x16, 200) + record(0x14, 1) + record(0x17, 300) + record(0x17, 120) + record(0x17, 500)
STARTS = {0: (0x16, 200), 205: (0x14, 1), 211: (0x17, 300), 516: (0x17, 120), 641: (0x17, 500)}  # at: type, length


@pytest.mark.parametrize("joined", [0, 3, 50, 208, 300, 520, 700])
@pytest.mark.parametrize("chunk", [97, 1000])
def test_she_finds_the_records_wherever_she_starts_listening(joined: int, chunk: int) -> None:
    tap = RecordTap()
    heard = []
    data = STREAM[joined:]
    for i in range(0, len(data), chunk):
        heard += tap.feed(data[i:i + chunk])
    # Joined at a record's start she hears it and every one after; joined in the middle of one, she
    # finds her feet at the next application-data record (stray bytes are never taken for a header).
    first = joined if joined in STARTS else next(
        (at for at, (kind, _) in STARTS.items() if at > joined and kind == 0x17), None)
    wanted = [(kind, STREAM[at:at + min(24, 5 + length)]) for at, (kind, length) in STARTS.items()
              if first is not None and at >= first]
    assert [kind for kind, _ in heard] == [kind for kind, _ in wanted]
    # Its first bytes as they crossed: the whole header at least (a chunk may end soon after it).
    assert all(len(head) >= 5 and whole.startswith(head) for (_, head), (_, whole) in zip(heard, wanted, strict=True))
    assert tap.tls is (True if wanted else None)  # the tail of a last record alone tells nothing yet


def test_the_frames_of_a_plaintext_stream_are_not_taken_for_tls() -> None:
    tap = RecordTap()
    frame = b"\x01\x02\x00\x00\x00\x40" + b'{"id": "alice>fay#1", "from": "alice", "sealed": false}' + bytes(range(64))
    for _ in range(10):
        assert tap.feed(frame) == []
    assert tap.tls is False  # after a few chunks with no record in them, she knows it is not TLS
