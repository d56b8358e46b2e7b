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
    FaultInjection    the rule's abort / delay, once per note, at the client only
    Retry             retryOn / attempts / backoff, within the retry budget and maxRetries
    OutlierDetection  every try's outcome at a next hop; ejects after consecutive 5xx
    Balance           the next hop: the load balancer among the nearest healthy neighbours
    CircuitBreaker    connectionPool: room now, a place in the queue, or 503 UO
    PerTryTimeout     when the try in flight gives up
    Transport         NOTE onto the link, ACK back; one span per try

**A note a classmate hands us** (the server sidecar's side, then a client's)::

    Admission         (per connection) TLS or plaintext as the mTLS mode allows; the peer's identity
    Authorize         AuthorizationPolicy on the neighbour's principal
    ForMe             for our student -> Recipient; for someone else -> Behaviour
      Recipient       open the seal, hand it over once, answer every try alike
      Behaviour       absent / refuses / drops / nosy / slow (and may drop the reply)
      Relay           the relay stack below, with the note's path and tries
        Deadline, Retry, OutlierDetection, Balance, CircuitBreaker, PerTryTimeout, Transport

Why this order:

* *Deadline above Retry*: Istio's route ``timeout`` is the outer limit of a
  request *including* its retries ("to avoid an exponential retry/timeout
  explosion", Envoy's router docs).
* *Retry above OutlierDetection and Balance*: each retry is a new try that
  may go to another next hop, and the detector sees every try, not only the
  note's last.
* *OutlierDetection above Balance*: the detector learns from the hop the
  balancer chose; the balancer skips the hops it has ejected.
* *FaultInjection above Retry*: Envoy's fault filter acts on the request
  before the router, once, and a rule that injects faults has no retries and
  no timeout of its own ("timeouts or retries will not be enabled when faults
  are enabled on the client side", Istio's API).  Only our own student's
  notes meet it: a VirtualService's faults act at the client sidecar, never
  at a hand that relays.
* *CircuitBreaker below Balance*: the pool's limits count the notes of the
  cluster in flight, whichever next hop they go to; an overflow never
  reaches a hand, so the detector above does not count it against one.
* *Relays have no Ledger*: the note's one terminal state is kept where it
  was written; a relay's outcome goes back as an ACK.
* *Authorize before ForMe*: a policy guards a student's hand for notes to her
  and through her alike.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from classroom.mesh.control.policy import MeshPolicy
from classroom.mesh.data import inbound, l7, outbound

if TYPE_CHECKING:
    from classroom.mesh.data.inbound import Hand


def _tries(hand: Hand, transport: outbound.Transport, policy: MeshPolicy) -> outbound.Layer:
    """From the retries down: what every try of a note meets, at its sender's hand and at a relay."""
    layer: outbound.Layer = transport
    if policy.has_per_try_timeouts or hand.passing_delay:
        layer = outbound.PerTryTimeout(hand, layer)
    if policy.has_pools:
        layer = outbound.CircuitBreaker(hand, layer)
    layer = outbound.Balance(hand, layer)
    if policy.has_outlier_detection:
        layer = outbound.OutlierDetection(hand, layer)
    return outbound.Retry(hand, layer)


def origin_stack(hand: Hand, transport: outbound.Transport, policy: MeshPolicy) -> outbound.Layer:
    """What a note meets when this hand's own student writes it."""
    layer = _tries(hand, transport, policy)
    if policy.has_faults:
        layer = outbound.FaultInjection(hand, layer)
    layer = outbound.Deadline(hand, layer)
    return outbound.Ledger(hand, layer)


def relay_stack(hand: Hand, transport: outbound.Transport, policy: MeshPolicy) -> outbound.Layer:
    """What a note meets when this hand passes it on for a classmate."""
    return outbound.Deadline(hand, _tries(hand, transport, policy))


def inbound_stack(hand: Hand, recipient: inbound.Recipient, relay: outbound.Layer,
                  policy: MeshPolicy) -> inbound.InboundLayer:
    """What a note meets when a neighbour hands it to this hand (after its connection was admitted)."""
    passing_on = inbound.Behaviour(hand, inbound.Relay(hand, relay))
    layer: inbound.InboundLayer = inbound.ForMe(hand, recipient, passing_on)
    if any(p.enforces_ingress for p in policy.network):
        layer = l7.NetworkL7(hand, layer)  # Cilium's rules.http, at the row's proxy
    if policy.authz or policy.intentions is not None:
        layer = inbound.Authorize(hand, layer)
    return layer
