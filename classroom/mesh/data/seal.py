"""The sealed envelope: a note's text, readable by its recipient alone.

Theory of operation
-------------------
mTLS protects each hop, but every proxy on the path terminates TLS and so
sees what it forwards.  The text is therefore sealed end to end as well:

* each student has a static X25519 key (for opening) and an Ed25519 key (for
  signing), whose public halves the office publishes in the roll;
* for each recipient, a sender makes one ephemeral X25519 key per round and
  signs ``(sender, recipient, ephemeral public key)`` with Ed25519.  The
  X25519 agreement, through HKDF-SHA256, gives a ChaCha20-Poly1305 key for
  that pair;
* each note is encrypted under the pair key with a random nonce, the note id
  and both names as associated data, so a note cannot be moved to another id
  or pair.

Keying per pair per round rather than per note keeps public-key work (about
75 µs to seal, 110 µs to verify here) off the per-note path: a note costs one
AEAD operation (about 1.5 µs).  The recipient verifies each sender's signature
once per pair key and caches the result; a forged, tampered or replayed-to-
another-id envelope fails to open with :class:`SealError`.

Envelope: ``version(1) | ephemeral public key(32) | signature(64) | nonce(12) | ciphertext+tag``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

ENVELOPE_VERSION = 1
_INFO = b"classroom-seal-v1"
_HEAD = 1 + 32 + 64 + 12
OVERHEAD = _HEAD + 16


class SealError(Exception):
    """An envelope that cannot be opened: tampered, forged, or not for us."""


def _raw(public: X25519PublicKey | Ed25519PublicKey) -> bytes:
    return public.public_bytes(Encoding.Raw, PublicFormat.Raw)


def _signed_part(sender: str, recipient: str, epk: bytes) -> bytes:
    return b"|".join((_INFO, sender.encode(), recipient.encode(), epk))


def _pair_key(shared: bytes, sender: str, recipient: str, epk: bytes, rpk: bytes) -> ChaCha20Poly1305:
    key = HKDF(hashes.SHA256(), 32, salt=None, info=_signed_part(sender, recipient, epk) + rpk).derive(shared)
    return ChaCha20Poly1305(key)


def _aad(note_id: str, sender: str, recipient: str) -> bytes:
    return f"{note_id}|{sender}|{recipient}".encode()


@dataclass(frozen=True)
class PublicKeys:
    """What the roll publishes of a student: to seal to them and to check their signature."""

    seal: bytes  # X25519, raw 32 bytes
    sign: bytes  # Ed25519, raw 32 bytes

    def to_json(self) -> dict[str, str]:
        return {"seal": self.seal.hex(), "sign": self.sign.hex()}

    @classmethod
    def from_json(cls, data: dict[str, str]) -> PublicKeys:
        return cls(bytes.fromhex(data["seal"]), bytes.fromhex(data["sign"]))


class StudentKeys:
    """A student's own sealing keys; both private halves stay in its proxy."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._seal = X25519PrivateKey.generate()
        self._sign = Ed25519PrivateKey.generate()
        self.public = PublicKeys(_raw(self._seal.public_key()), _raw(self._sign.public_key()))
        # recipient -> (pair cipher, envelope head without nonce)
        self._outgoing: dict[str, tuple[ChaCha20Poly1305, bytes]] = {}
        # (sender, ephemeral key and its signature) -> pair cipher, once the signature checked out
        self._incoming: dict[tuple[str, bytes], ChaCha20Poly1305] = {}

    def seal(self, recipient: str, recipient_keys: PublicKeys, note_id: str, text: bytes) -> bytes:
        """The envelope of ``text`` for ``recipient``."""
        pair = self._outgoing.get(recipient)
        if pair is None:
            eph = X25519PrivateKey.generate()
            epk = _raw(eph.public_key())
            shared = eph.exchange(X25519PublicKey.from_public_bytes(recipient_keys.seal))
            cipher = _pair_key(shared, self.name, recipient, epk, recipient_keys.seal)
            signature = self._sign.sign(_signed_part(self.name, recipient, epk))
            pair = (cipher, bytes([ENVELOPE_VERSION]) + epk + signature)
            self._outgoing[recipient] = pair
        cipher, head = pair
        nonce = os.urandom(12)
        return head + nonce + cipher.encrypt(nonce, text, _aad(note_id, self.name, recipient))

    def open(self, sender: str, sender_keys: PublicKeys, note_id: str, envelope: bytes) -> bytes:
        """The text of an envelope from ``sender``; SealError if it is not genuine."""
        if len(envelope) < OVERHEAD or envelope[0] != ENVELOPE_VERSION:
            raise SealError(f"note {note_id}: not a sealed envelope")
        epk = envelope[1:33]
        signed = envelope[1:97]
        cipher = self._incoming.get((sender, signed))
        if cipher is None:
            try:
                Ed25519PublicKey.from_public_bytes(sender_keys.sign).verify(
                    envelope[33:97], _signed_part(sender, self.name, epk)
                )
            except InvalidSignature:
                raise SealError(f"note {note_id}: not signed by {sender}") from None
            shared = self._seal.exchange(X25519PublicKey.from_public_bytes(epk))
            cipher = _pair_key(shared, sender, self.name, epk, self.public.seal)
            self._incoming[(sender, signed)] = cipher
        nonce = envelope[97:109]
        try:
            return cipher.decrypt(nonce, envelope[109:], _aad(note_id, sender, self.name))
        except InvalidTag:
            raise SealError(f"note {note_id}: envelope from {sender} was tampered with") from None
