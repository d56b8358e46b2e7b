"""The proxy's stacks, assembled top to bottom: what a note meets at a hand, in order.

Read this file to know what a hand does.  Each stack is a plain function of
the hand and of the mesh policy the office pushed, assembled again with each
new configuration: a layer the policy gives nothing to do (no
AuthorizationPolicy, no fault, no per-try timeout, no outlier detection) is
left out, as a proxy has no filter for what is not configured.  A mesh
*profile* is another assembly of these layers and their defaults.  The layers
themselves live in :mod:`classroom.mesh.data.outbound` and
:mod:`classroom.mesh.data.inbound`.

**A note our own student writes** (the client sidecar's side)::

    Ledger            exactly one terminal state, the `result` event, the RESULT to her
    Deadline          the note's own timeout bounds everything below, retries included
    Retry             retryOn / attempts / backoff, within the retry budget
    OutlierDetection  every try's outcome at a next hop; ejects after consecutive 5xx
    Balance           the next hop: nearest healthy neighbour, another one on a retry
    FaultInjection    the VirtualService's abort / delay, once per try, at the client only
    PerTryTimeout     when the try in flight gives up
    Transport         NOTE onto the link, ACK back; one span per try

**A note a classmate hands us** (the server sidecar's side, then a client's)::

    Admission         (per connection) TLS or plaintext as the mTLS mode allows; the peer's identity
    Authorize         AuthorizationPolicy on the neighbour's principal
    ForMe             for our student -> Recipient; for someone else -> Behaviour
      Recipient       open the seal, hand it over once, answer every try alike
      Behaviour       absent / refuses / drops / nosy / slow (and may drop the reply)
      Relay           the relay stack below, with the note's path and tries
        Deadline, Retry, OutlierDetection, Balance, PerTryTimeout, Transport

Why this order:

* *Deadline above Retry*: Istio's route ``timeout`` is the outer limit of a
  request *including* its retries ("to avoid an exponential retry/timeout
  explosion", Envoy's router docs).
* *Retry above OutlierDetection and Balance*: each retry is a new try that
  may go to another next hop, and the detector sees every try, not only the
  note's last.
* *OutlierDetection above Balance*: the detector learns from the hop the
  balancer chose; the balancer skips the hops it has ejected.
* *FaultInjection below Balance, above PerTryTimeout*: faults act on each
  try, and an injected delay counts inside the try's timeout.  Only our own
  student's notes meet it: a VirtualService's faults act at the client
  sidecar, never at a hand that relays.
* *Relays have no Ledger*: the note's one terminal state is kept where it
  was written; a relay's outcome goes back as an ACK.
* *Authorize before ForMe*: a policy guards a student's hand for notes to her
  and through her alike.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from classroom.mesh.control.policy import MeshPolicy
from classroom.mesh.data import inbound, outbound

if TYPE_CHECKING:
    from classroom.mesh.data.hand import Hand


def origin_stack(hand: Hand, transport: outbound.Transport, policy: MeshPolicy) -> outbound.Layer:
    """What a note meets when this hand's own student writes it."""
    layer: outbound.Layer = transport
    if policy.has_per_try_timeouts or hand.passing_delay:
        layer = outbound.PerTryTimeout(hand, layer)
    if policy.has_faults:
        layer = outbound.FaultInjection(hand, layer)
    layer = outbound.Balance(hand, layer)
    if policy.has_outlier_detection:
        layer = outbound.OutlierDetection(hand, layer)
    layer = outbound.Retry(hand, layer)
    layer = outbound.Deadline(hand, layer)
    return outbound.Ledger(hand, layer)


def relay_stack(hand: Hand, transport: outbound.Transport, policy: MeshPolicy) -> outbound.Layer:
    """What a note meets when this hand passes it on for a classmate."""
    layer: outbound.Layer = transport
    if policy.has_per_try_timeouts or hand.passing_delay:
        layer = outbound.PerTryTimeout(hand, layer)
    layer = outbound.Balance(hand, layer)
    if policy.has_outlier_detection:
        layer = outbound.OutlierDetection(hand, layer)
    layer = outbound.Retry(hand, layer)
    return outbound.Deadline(hand, layer)


def inbound_stack(hand: Hand, recipient: inbound.Recipient, relay: outbound.Layer,
                  policy: MeshPolicy) -> inbound.InboundLayer:
    """What a note meets when a neighbour hands it to this hand (after its connection was admitted)."""
    passing_on = inbound.Behaviour(hand, inbound.Relay(hand, relay))
    layer: inbound.InboundLayer = inbound.ForMe(hand, recipient, passing_on)
    if policy.authz:
        layer = inbound.Authorize(hand, layer)
    return layer
