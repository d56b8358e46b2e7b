"""The sealed envelope: only the recipient reads a note, and nobody can alter or forge one."""

from __future__ import annotations

import pytest

from classroom.mesh.data.seal import ENVELOPE_VERSION, OVERHEAD, PublicKeys, SealError, StudentKeys

TEXT = b"meet me at the bike shed after the bell rings -- A."

# Envelope layout: version(1) | ephemeral key(32) | signature(64) | nonce(12) | ciphertext | tag(16)
EPK = slice(1, 33)
SIG = slice(33, 97)
NONCE = slice(97, 109)


@pytest.fixture
def alice() -> StudentKeys:
    return StudentKeys("alice")


@pytest.fixture
def bob() -> StudentKeys:
    return StudentKeys("bob")


@pytest.fixture
def carol() -> StudentKeys:
    return StudentKeys("carol")


def test_round_trip(alice: StudentKeys, bob: StudentKeys) -> None:
    envelope = alice.seal("bob", bob.public, "n-1", TEXT)
    assert bob.open("alice", alice.public, "n-1", envelope) == TEXT


def test_round_trip_of_many_notes_and_an_empty_one(alice: StudentKeys, bob: StudentKeys) -> None:
    texts = [b"", b"x", TEXT, bytes(range(256)) * 8]
    envelopes = [alice.seal("bob", bob.public, f"n-{i}", t) for i, t in enumerate(texts)]
    # opened out of order, with the pair key cached after the first
    for i in reversed(range(len(texts))):
        assert bob.open("alice", alice.public, f"n-{i}", envelopes[i]) == texts[i]


def test_round_trip_both_ways(alice: StudentKeys, bob: StudentKeys) -> None:
    to_bob = alice.seal("bob", bob.public, "n-1", b"hi bob")
    to_alice = bob.seal("alice", alice.public, "n-2", b"hi alice")
    assert bob.open("alice", alice.public, "n-1", to_bob) == b"hi bob"
    assert alice.open("bob", bob.public, "n-2", to_alice) == b"hi alice"


def test_envelope_layout_and_size(alice: StudentKeys, bob: StudentKeys) -> None:
    envelope = alice.seal("bob", bob.public, "n-1", TEXT)
    assert envelope[0] == ENVELOPE_VERSION
    assert len(envelope) == len(TEXT) + OVERHEAD


def test_envelope_never_contains_the_plaintext(alice: StudentKeys, bob: StudentKeys) -> None:
    envelopes = [alice.seal("bob", bob.public, f"n-{i}", TEXT) for i in range(5)]
    for envelope in envelopes:
        assert TEXT not in envelope
        # not even a recognisable fragment of it
        for i in range(len(TEXT) - 8):
            assert TEXT[i : i + 8] not in envelope


def _flip(envelope: bytes, pos: int, mask: int = 0xFF) -> bytes:
    out = bytearray(envelope)
    out[pos] ^= mask
    return bytes(out)


# name -> (position, mask); negative positions count from the end of the envelope.
FLIPS = {
    "version": (0, 0xFF),
    "version-1to2": (0, 0x03),
    "epk-first": (1, 0xFF),
    "epk-middle": (16, 0x01),
    "epk-last-top-bit": (32, 0x80),  # a bit X25519 itself ignores
    "signature-first": (33, 0xFF),
    "signature-middle": (64, 0x01),
    "signature-last": (96, 0xFF),
    "nonce-first": (97, 0xFF),
    "nonce-last": (108, 0x01),
    "ciphertext-first": (109, 0xFF),
    "ciphertext-last": (-17, 0x01),
    "tag-first": (-16, 0xFF),
    "tag-last": (-1, 0x01),
}


@pytest.mark.parametrize(("pos", "mask"), list(FLIPS.values()), ids=list(FLIPS))
def test_flipping_any_byte_breaks_the_seal(alice: StudentKeys, bob: StudentKeys, pos: int, mask: int) -> None:
    envelope = alice.seal("bob", bob.public, "n-1", TEXT)
    with pytest.raises(SealError):
        bob.open("alice", alice.public, "n-1", _flip(envelope, pos, mask))
    # the genuine envelope still opens afterwards
    assert bob.open("alice", alice.public, "n-1", envelope) == TEXT


@pytest.mark.parametrize(
    ("pos", "mask"),
    list(FLIPS.values()),
    ids=list(FLIPS),
)
def test_flipping_a_byte_breaks_the_seal_after_the_pair_key_is_cached(
    alice: StudentKeys, bob: StudentKeys, pos: int, mask: int
) -> None:
    first = alice.seal("bob", bob.public, "n-0", b"first note")
    assert bob.open("alice", alice.public, "n-0", first) == b"first note"
    envelope = alice.seal("bob", bob.public, "n-1", TEXT)
    with pytest.raises(SealError):
        bob.open("alice", alice.public, "n-1", _flip(envelope, pos, mask))


@pytest.mark.parametrize("cut", [0, 1, OVERHEAD - 1])
def test_truncated_envelope_is_refused(alice: StudentKeys, bob: StudentKeys, cut: int) -> None:
    envelope = alice.seal("bob", bob.public, "n-1", b"")
    with pytest.raises(SealError, match="not a sealed envelope"):
        bob.open("alice", alice.public, "n-1", envelope[:cut])


def test_envelope_cut_short_by_one_byte_is_refused(alice: StudentKeys, bob: StudentKeys) -> None:
    envelope = alice.seal("bob", bob.public, "n-1", TEXT)
    with pytest.raises(SealError):
        bob.open("alice", alice.public, "n-1", envelope[:-1])


def test_wrong_note_id_fails(alice: StudentKeys, bob: StudentKeys) -> None:
    envelope = alice.seal("bob", bob.public, "n-1", TEXT)
    with pytest.raises(SealError):
        bob.open("alice", alice.public, "n-2", envelope)
    # also once the pair key is cached by a good open
    assert bob.open("alice", alice.public, "n-1", envelope) == TEXT
    with pytest.raises(SealError):
        bob.open("alice", alice.public, "n-2", envelope)


def test_wrong_sender_name_fails(alice: StudentKeys, bob: StudentKeys, carol: StudentKeys) -> None:
    envelope = alice.seal("bob", bob.public, "n-1", TEXT)
    with pytest.raises(SealError):
        bob.open("carol", alice.public, "n-1", envelope)
    with pytest.raises(SealError):
        bob.open("carol", carol.public, "n-1", envelope)
    assert bob.open("alice", alice.public, "n-1", envelope) == TEXT
    # a cached pair key for alice does not make the envelope carol's
    with pytest.raises(SealError):
        bob.open("carol", carol.public, "n-1", envelope)


def test_wrong_sender_keys_fail(alice: StudentKeys, bob: StudentKeys, carol: StudentKeys) -> None:
    envelope = alice.seal("bob", bob.public, "n-1", TEXT)
    with pytest.raises(SealError):
        bob.open("alice", carol.public, "n-1", envelope)


def test_wrong_recipient_cannot_open(alice: StudentKeys, bob: StudentKeys, carol: StudentKeys) -> None:
    envelope = alice.seal("bob", bob.public, "n-1", TEXT)
    with pytest.raises(SealError):
        carol.open("alice", alice.public, "n-1", envelope)


def test_impostor_with_the_right_name_but_wrong_keys(alice: StudentKeys, bob: StudentKeys) -> None:
    """Someone else calling itself bob, sealed to with bob's public keys, cannot read bob's note."""
    envelope = alice.seal("bob", bob.public, "n-1", TEXT)
    impostor = StudentKeys("bob")
    with pytest.raises(SealError):
        impostor.open("alice", alice.public, "n-1", envelope)


def test_note_sealed_to_the_wrong_public_key_cannot_be_opened(
    alice: StudentKeys, bob: StudentKeys, carol: StudentKeys
) -> None:
    """alice seals to 'bob' but with carol's key (a bad roll): bob cannot open it."""
    envelope = alice.seal("bob", carol.public, "n-1", TEXT)
    with pytest.raises(SealError):
        bob.open("alice", alice.public, "n-1", envelope)


def test_forged_envelope_signed_by_another_student_fails(alice: StudentKeys, bob: StudentKeys) -> None:
    mallory_as_alice = StudentKeys("alice")  # mallory's own keys, but claiming alice's name
    forged = mallory_as_alice.seal("bob", bob.public, "n-1", b"give mallory your lunch")
    with pytest.raises(SealError, match="not signed by alice"):
        bob.open("alice", alice.public, "n-1", forged)


def test_forged_envelope_reusing_a_genuine_head_fails(alice: StudentKeys, bob: StudentKeys) -> None:
    """Splicing a genuine header (epk + signature) onto mallory's ciphertext does not work."""
    genuine = alice.seal("bob", bob.public, "n-1", TEXT)
    assert bob.open("alice", alice.public, "n-1", genuine) == TEXT
    mallory = StudentKeys("alice")
    own = mallory.seal("bob", bob.public, "n-2", b"give mallory your lunch")
    spliced = genuine[:97] + own[97:]
    with pytest.raises(SealError):
        bob.open("alice", alice.public, "n-2", spliced)


def test_notes_to_the_same_recipient_share_the_pair_key_but_not_the_nonce(
    alice: StudentKeys, bob: StudentKeys
) -> None:
    one = alice.seal("bob", bob.public, "n-1", TEXT)
    two = alice.seal("bob", bob.public, "n-2", TEXT)
    assert one[EPK] == two[EPK]
    assert one[SIG] == two[SIG]
    assert one[NONCE] != two[NONCE]
    assert one[109:] != two[109:]


def test_same_note_sealed_twice_differs(alice: StudentKeys, bob: StudentKeys) -> None:
    one = alice.seal("bob", bob.public, "n-1", TEXT)
    two = alice.seal("bob", bob.public, "n-1", TEXT)
    assert one != two
    assert bob.open("alice", alice.public, "n-1", one) == TEXT
    assert bob.open("alice", alice.public, "n-1", two) == TEXT


def test_notes_to_different_recipients_use_different_ephemeral_keys(
    alice: StudentKeys, bob: StudentKeys, carol: StudentKeys
) -> None:
    to_bob = alice.seal("bob", bob.public, "n-1", TEXT)
    to_carol = alice.seal("carol", carol.public, "n-1", TEXT)
    assert to_bob[EPK] != to_carol[EPK]
    assert to_bob[EPK] not in (bob.public.seal, carol.public.seal, alice.public.seal)
    assert carol.open("alice", alice.public, "n-1", to_carol) == TEXT
    with pytest.raises(SealError):
        carol.open("alice", alice.public, "n-1", to_bob)


def test_different_senders_use_different_ephemeral_keys(
    alice: StudentKeys, bob: StudentKeys, carol: StudentKeys
) -> None:
    from_alice = alice.seal("carol", carol.public, "n-1", TEXT)
    from_bob = bob.seal("carol", carol.public, "n-2", TEXT)
    assert from_alice[EPK] != from_bob[EPK]
    assert carol.open("alice", alice.public, "n-1", from_alice) == TEXT
    assert carol.open("bob", bob.public, "n-2", from_bob) == TEXT


def test_public_keys_json_round_trip(alice: StudentKeys, bob: StudentKeys) -> None:
    data = alice.public.to_json()
    assert set(data) == {"seal", "sign"}
    again = PublicKeys.from_json(data)
    assert again == alice.public
    assert len(again.seal) == len(again.sign) == 32
    envelope = alice.seal("bob", bob.public, "n-1", TEXT)
    assert bob.open("alice", again, "n-1", envelope) == TEXT
