"""Cilium's L7 policy at the row's proxy: a CiliumNetworkPolicy's ``rules.http``, enforced on each note.

Cilium's kernel redirects a connection its L3/L4 policy allowed, when the rule
that allowed it holds L7 rules, to the node's shared Envoy; Envoy answers a
request no rule allows with ``403 Access denied`` (docs.cilium.io, "Layer 7
Policies").  Here the row's proxy plays that Envoy: :class:`NetworkL7` asks
:func:`classroom.mesh.control.cilium.l7_verdict` about the desk that handed
the note over (the last hand on its path: the room network knows who is at
the other end of a connection by its labels, not by a certificate) and the
note's method and path.  The room network (the aisles) has already turned away
every connection L3 does not allow, so a note reaches this layer only from a
desk some rule lets in.
"""

from __future__ import annotations

from collections.abc import Awaitable

from classroom.mesh import outcomes
from classroom.mesh.control import cilium
from classroom.mesh.data.inbound import Hand, InboundLayer, answered
from classroom.mesh.outcomes import Outcome
from classroom.mesh.runtime.messages import Note


class NetworkL7:
    """The ``rules.http`` of the CiliumNetworkPolicies that select this desk."""

    def __init__(self, hand: Hand, inner: InboundLayer) -> None:
        self.hand, self.inner = hand, inner

    def handle(self, note: Note, principal: str | None) -> Awaitable[Outcome | None]:
        hand = self.hand
        src = note.path[-1] if note.path else note.sender
        labels = hand.labels
        verdict = cilium.l7_verdict(hand.policy.network, labels.get(src) or {"app": src},
                                    labels.get(hand.name) or {"app": hand.name}, note.op)
        if verdict.allowed:
            return self.inner.handle(note, principal)
        hand.emit("policy_denied", note=note.id, hand=hand.name, policy=verdict.policy,
                  src_identity=f"labels of {src}", dst_identity=f"labels of {hand.name}", reason=verdict.reason,
                  layer="L7", method=note.op.method, path=note.op.uri)
        return answered(Outcome.failure(outcomes.RBAC_DENIED, f"Access denied at {hand.name}'s row proxy "
                                        f"({verdict.reason})", hand.name))
