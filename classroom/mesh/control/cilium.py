"""CiliumNetworkPolicy, evaluated: who may hand a desk notes (the room network) and what (the row's proxy).

Theory of operation
-------------------
Cilium enforces a policy in two places (docs.cilium.io, "Network Policy",
"Layer 7 Policies"): L3/L4 in eBPF in the kernel, on every packet of a
connection, before any proxy sees it; L7 (``rules.http``) in the per-node
Envoy the kernel redirects the allowed connection to.  The classroom does the
same: the aisles (the room network) turn away a connection between desks the
policies do not allow (:func:`link_verdict`, compiled into the aisles' spec by
:func:`room_drops`), and the row's proxy refuses a note whose method and path
no rule for its sender allows (:func:`l7_verdict`).

Cilium's semantics, kept here:

* a policy applies to the desks whose labels fit its ``endpointSelector``
  (``{}``: every desk); once any policy with an ``ingress`` or
  ``ingressDeny`` section selects a desk, that desk is default-deny for
  ingress, and only what some policy's ingress rule allows comes in
  (policies add up; ``enableDefaultDeny.ingress: false`` keeps a policy from
  turning default-deny on).  Egress is the same with ``egress`` and
  ``egressDeny`` on the desk that dials;
* a deny rule wins over any allow ("Deny policies take precedence over allow
  policies", docs.cilium.io security/policy/deny);
* an ingress rule allows the desks its ``fromEndpoints`` fit (``[{}]``: every
  desk); a rule with ``toPorts`` and no ``fromEndpoints`` allows every desk; a
  rule with neither (``ingress: [{}]``) allows nothing;
* a rule with ``rules.http`` allows its sources only the notes some http rule
  matches; a source also allowed by a rule without L7 rules may send anything
  (Cilium's per-port merge: an L3-only allow is a wildcard L7 rule).
  ``method`` and ``path`` are regular expressions matched against the whole
  method and path (Cilium's ``PortRuleHTTP``).

A connection between desks is the hand-off from one desk to its neighbour:
the room network knows both ends by their labels (Cilium's identity is
label-based, not a certificate).  Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from classroom.mesh.control.request import Operation

Labels = Mapping[str, str]
HUBBLE_DROP = "Policy denied"  # the drop reason Hubble and `cilium monitor` show for a policy drop


@dataclass(frozen=True)
class Selector:
    """A ``matchLabels``: every label written must be the desk's (none written: every desk)."""

    labels: tuple[tuple[str, str], ...] = ()

    def fits(self, labels: Labels) -> bool:
        return all(labels.get(k) == value for k, value in self.labels)


@dataclass(frozen=True)
class HttpRule:
    """One ``rules.http`` entry: a method and a path, each a regular expression (None: any)."""

    method: str | None = None
    path: str | None = None

    def matches(self, op: Operation) -> bool:
        return ((self.method is None or re.fullmatch(self.method, op.method) is not None)
                and (self.path is None or re.fullmatch(self.path, op.uri) is not None))


@dataclass(frozen=True)
class PeerRule:
    """One ingress (or egress) rule: the peers it allows, and the L7 rules it holds them to."""

    peers: tuple[Selector, ...] = ()  # any of them; none: see `anyone`
    anyone: bool = False  # a rule with toPorts and no fromEndpoints: every desk
    http: tuple[HttpRule, ...] | None = None  # None: no L7 rules (every note)

    def allows(self, labels: Labels) -> bool:
        return self.anyone or any(s.fits(labels) for s in self.peers)


@dataclass(frozen=True)
class NetworkPolicy:
    name: str
    selector: Selector = Selector()
    ingress: tuple[PeerRule, ...] = ()
    ingress_deny: tuple[Selector, ...] = ()
    egress: tuple[PeerRule, ...] = ()
    egress_deny: tuple[Selector, ...] = ()
    enforces_ingress: bool = False  # has an ingress or ingressDeny section and turns default-deny on
    enforces_egress: bool = False


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    policy: str | None  # the policy that decided, if one did
    reason: str


def _one_way(policies: Iterable[NetworkPolicy], own: Labels, peer: Labels, ingress: bool) -> Verdict:
    """May ``peer`` reach ``own`` (ingress) / may ``own`` reach ``peer`` (egress), at L3?"""
    mine = [p for p in policies if p.selector.fits(own)]
    word = "ingress" if ingress else "egress"
    for policy in mine:
        for deny in (policy.ingress_deny if ingress else policy.egress_deny):
            if deny.fits(peer):
                return Verdict(False, policy.name, f"denied by {policy.name}'s {word}Deny")
    enforcing = [p for p in mine if (p.enforces_ingress if ingress else p.enforces_egress)]
    if not enforcing:
        return Verdict(True, None, f"no policy selects it for {word}")
    for policy in mine:
        if any(rule.allows(peer) for rule in (policy.ingress if ingress else policy.egress)):
            return Verdict(True, policy.name, f"allowed by {policy.name}")
    names = ", ".join(p.name for p in enforcing)
    return Verdict(False, None, f"default deny for {word}: no rule of {names} allows it")


def link_verdict(policies: Iterable[NetworkPolicy], src: Labels, dst: Labels) -> Verdict:
    """May the desk with labels ``src`` open a connection to the desk with ``dst`` (L3, both ends)?"""
    policies = tuple(policies)
    out = _one_way(policies, src, dst, ingress=False)
    if not out.allowed:
        return out
    return _one_way(policies, dst, src, ingress=True)


def l7_verdict(policies: Iterable[NetworkPolicy], src: Labels, dst: Labels, op: Operation) -> Verdict:
    """May the desk ``src`` hand the desk ``dst`` this note (method and path), at the row's proxy?

    Only the L7 part is asked here: the room network let the connection through already.
    """
    mine = [p for p in policies if p.selector.fits(dst) and p.enforces_ingress]
    if not mine:
        return Verdict(True, None, "no policy selects it for ingress")
    l7: list[tuple[NetworkPolicy, PeerRule]] = []
    for policy in mine:
        for rule in policy.ingress:
            if rule.allows(src):
                if rule.http is None:
                    return Verdict(True, policy.name, f"allowed by {policy.name} (no L7 rules)")
                l7.append((policy, rule))
    for policy, rule in l7:
        if any(h.matches(op) for h in rule.http or ()):
            return Verdict(True, policy.name, f"allowed by {policy.name}'s rules.http")
    if not l7:  # not allowed at L3 at all: the room network would have dropped it
        return Verdict(False, None, "no rule allows this desk")
    return Verdict(False, l7[0][0].name, f"no rules.http of {', '.join(dict.fromkeys(p.name for p, _ in l7))} "
                   f"matches {op.method} {op.uri}")


def room_drops(policies: Iterable[NetworkPolicy], labels: Mapping[str, Labels],
               links: Iterable[tuple[str, str]]) -> tuple[tuple[str, str, str, str], ...]:
    """The directed links ``a→b`` the room network turns away: (a, b, the deciding policy or "", why)."""
    policies = tuple(policies)
    if not policies:
        return ()
    drops = []
    for a, b in links:
        verdict = link_verdict(policies, labels.get(a, {"app": a}), labels.get(b, {"app": b}))
        if not verdict.allowed:
            drops.append((a, b, verdict.policy or "", verdict.reason))
    return tuple(drops)


TEACHER = "teacher"  # the teacher is no desk: to the room network she is from outside (Cilium's "world")


Drop = tuple[str, str, str, str]  # a link a→b the room network turns away: (a, b, the deciding policy or "", why)


def teacher_drops(policies: Iterable[NetworkPolicy], labels: Mapping[str, Labels]) -> tuple[Drop, ...]:
    """The desks a connection from the teacher is turned away at: every desk a policy makes default-deny for
    ingress (no rule here can allow her: fromEntities is refused, and fromEndpoints selects desks only)."""
    policies = tuple(policies)
    drops = []
    for name, own in labels.items():
        guarding = [p.name for p in policies if p.enforces_ingress and p.selector.fits(own)]
        if guarding:
            drops.append((TEACHER, name, guarding[0], "default deny for ingress: the teacher is no desk of this class"))
    return tuple(drops)


def dropped(policies: Iterable[NetworkPolicy], labels: Mapping[str, Labels], a: str, b: str) -> bool:
    """Whether the room network turns away the link ``a→b`` (a proxy asks only so as not to wait for it)."""
    policies = tuple(policies)
    return bool(policies) and not link_verdict(policies, labels.get(a) or {"app": a},
                                               labels.get(b) or {"app": b}).allowed


# --------------------------------------------------------------------------- from the resources

def _selector(spec: Any) -> Selector:
    labels = (spec or {}).get("matchLabels") or {}
    return Selector(tuple(sorted((str(k), str(val)) for k, val in labels.items())))


def _http(rule: Mapping[str, Any]) -> tuple[HttpRule, ...] | None:
    rules = [h for port in rule.get("toPorts") or [] for h in ((port or {}).get("rules") or {}).get("http") or []]
    has_l7 = any(((port or {}).get("rules") or {}).get("http") is not None for port in rule.get("toPorts") or [])
    if not has_l7:
        return None
    return tuple(HttpRule(h.get("method"), h.get("path")) for h in rules if h is not None) or (HttpRule(),)


def _peer_rule(rule: Mapping[str, Any], peers_key: str) -> PeerRule:
    rule = rule or {}
    peers = tuple(_selector(s) for s in rule.get(peers_key) or [])
    anyone = peers_key not in rule and bool(rule.get("toPorts"))
    return PeerRule(peers, anyone, _http(rule))


def policies_from(resources: Iterable[Mapping[str, Any]], namespace: str) -> tuple[NetworkPolicy, ...]:
    """The CiliumNetworkPolicies among (validated) resources."""
    out = []
    for resource in resources:
        if resource.get("kind") != "CiliumNetworkPolicy":
            continue
        spec = resource.get("spec") or {}
        default_deny = spec.get("enableDefaultDeny") or {}
        name = f"{namespace}/{(resource.get('metadata') or {}).get('name', 'unnamed')}"
        out.append(NetworkPolicy(
            name=name, selector=_selector(spec.get("endpointSelector")),
            ingress=tuple(_peer_rule(r, "fromEndpoints") for r in spec.get("ingress") or []),
            ingress_deny=tuple(s for r in spec.get("ingressDeny") or []
                               for s in (_selector(x) for x in (r or {}).get("fromEndpoints") or [])),
            egress=tuple(_peer_rule(r, "toEndpoints") for r in spec.get("egress") or []),
            egress_deny=tuple(s for r in spec.get("egressDeny") or []
                              for s in (_selector(x) for x in (r or {}).get("toEndpoints") or [])),
            # Cilium turns default-deny on for a direction whose section holds a rule (an empty list holds none).
            enforces_ingress=bool(spec.get("ingress") or spec.get("ingressDeny")) and default_deny.get("ingress", True),
            enforces_egress=bool(spec.get("egress") or spec.get("egressDeny")) and default_deny.get("egress", True),
        ))
    return tuple(out)
