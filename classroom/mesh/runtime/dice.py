"""Deterministic chance: every random choice of a round is keyed, not drawn in order.

A seed must tell the same story although process timing varies, so a choice
such as "does ben drop this note?" is a pure function of (seed, what is being
decided, note id, hop, try), never the next number of a shared generator.  A
note's arrival at a hand is told apart by the tries along its path (each hand
that passed it on puts its own try number in the header's ``tries``: "0.1" is
the sender's first try, passed on by the next hand at its second), never by a
counter shared by all of a hand's notes, whose values depend on how notes
interleave; and it costs the hand no memory per note.

Every process of a round holds one :class:`Dice` made from the round's seed:
the proxies (drops, refusals, route picks, backoff jitter, renewal jitter,
injected faults), the aisles (which connections a fault cuts), the teacher
(which card she shows, which note she takes).  Ids that only tell things
apart (trace and span ids) are not choices and stay random.
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


class Dice:
    """The round's seed with the two questions every choice asks of it."""

    __slots__ = ("seed",)

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def chance(self, *key: object) -> float:
        """A number in [0, 1) for ``key``."""
        return chance(self.seed, *key)

    def happens(self, probability: float, *key: object) -> bool:
        """True with ``probability`` for ``key``."""
        return happens(probability, self.seed, *key)

    def pick(self, options: list[str] | tuple[str, ...], *key: object) -> str:
        """One of ``options`` (not empty), chosen for ``key``."""
        return options[int(chance(self.seed, *key) * len(options))]
