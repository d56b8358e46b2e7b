"""Deterministic chance: every random choice of a round is keyed, not drawn in order.

A seed must tell the same story although process timing varies, so a choice
such as "does ben drop this note?" is a pure function of (seed, what is being
decided, note id, hop, try), never the next number of a shared generator.  The
try is the note's own try number at that hand (the first time it reached ben,
the second ...), never a counter shared by all of a hand's notes, whose values
depend on how notes interleave.
"""

from __future__ import annotations

import hashlib

_SCALE = float(1 << 64)


def chance(seed: int, *key: object) -> float:
    """A number in [0, 1), the same for the same seed and key in every process."""
    digest = hashlib.blake2b(repr((seed, *key)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / _SCALE


def happens(probability: float, seed: int, *key: object) -> bool:
    """True with the given probability (0..1), deterministically for the key."""
    return probability > 0 and chance(seed, *key) < probability
