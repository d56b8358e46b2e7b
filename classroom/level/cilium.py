"""CiliumNetworkPolicy (cilium.io/v2): what the class acts on, what it refuses, and why.

Theory of operation
-------------------
The shape is Cilium's (``pkg/policy/api/rule.go``, ``ingress.go``,
``egress.go``, ``l4.go``, ``http.go`` and the CRD in
``pkg/k8s/apis/cilium.io/client/crds/v2/ciliumnetworkpolicies.yaml``).  A
field is either in ``fields`` (acted on as Cilium acts on it) or in
``refused`` with the sentence that says why the class has no use for it:

* acted on: ``endpointSelector.matchLabels`` (the desks a policy is about),
  ``ingress[].fromEndpoints[].matchLabels`` (who may hand them notes: the room
  network, the aisles, enforces it on the connection),
  ``ingress[].toPorts[].rules.http[]`` ``{method, path}`` (Cilium's regular
  expressions, matched whole, enforced by the row's proxy, Cilium's per-node
  Envoy), ``ingressDeny[].fromEndpoints``, ``egress[].toEndpoints``,
  ``egressDeny[].toEndpoints``, ``enableDefaultDeny`` and ``description``;
* refused: addresses (CIDRs, FQDNs, entities, nodes, services: a desk is
  known by its labels), ports (notes have none), L7 protocols other than
  HTTP, mutual authentication (deprecated in Cilium 1.20), egress L7 rules
  and the selectors' ``matchExpressions``.

The names a policy uses are checked against the level (:func:`names`): a
``matchLabels`` that fits no student selects nobody, which in Cilium is
silently a policy that does nothing; here it is one line at its place.
"""

from __future__ import annotations

import re
from typing import Any

import classroom.level.istiovalues as v
from classroom.level.checks import _At, _Check, _ListOf, _Map, _MapOf, _show, _text

NO_ADDRESSES = ("there are no IP addresses, CIDRs or DNS names in class: a desk is known by its labels, so "
                "select it with fromEndpoints/toEndpoints matchLabels")
NO_ENTITIES = ("the class has no hosts, nodes or world outside the room: every peer is a desk, selected with "
               "fromEndpoints/toEndpoints matchLabels (an empty matchLabels {} is every desk)")
NO_PORTS = "notes have no ports: a desk is reached by its name, so a toPorts entry holds only its rules"
NO_EXPRESSIONS = "the class matches labels exactly: write matchLabels"
NO_AUTHENTICATION = ("Cilium's mutual authentication is deprecated since v1.20 (cilium/cilium#47132) and is "
                     "not modelled; Cilium's identity is the labels the room network sees")
ONE_PROTOCOL = "notes are HTTP-like requests: only rules.http applies to them"
INGRESS_L7_ONLY = ("the class enforces L7 rules on ingress, at the receiving row's proxy: put rules.http in "
                   "the receiving desk's ingress")
NO_NODES = "policies here select desks, not the machines they run on"
ONE_RULE = "write one rule per resource in spec (a second policy adds to the first, as Cilium's do)"


def _match_labels() -> _Map:
    return _Map({"matchLabels": _MapOf(v.label_key, v.label_value)},
                refused={"matchExpressions": NO_EXPRESSIONS})


def _regex(ck: _Check, value: Any, at: _At) -> str:
    """Cilium's method and path are extended POSIX regular expressions, matched against the whole value."""
    written = _text(ck, value, at)
    if not written:
        ck.fail(at.line, f"{at.name} is empty: leave it out to match every note")
    if re.search(r"\(\?[=!<]|\\[1-9]", written):
        ck.fail(at.line, f"{at.name}: {written!r} uses lookaround or a backreference, which Cilium's Envoy "
                "regular expressions (RE2) do not have")
    try:
        re.compile(written)
    except re.error as exc:
        ck.fail(at.line, f"{at.name}: {written!r} is not a regular expression ({exc})")
    return written


HTTP_RULE = _Map(
    {"method": _regex, "path": _regex},
    refused={"host": "a note has no host header: it is addressed to a student by name",
             "headers": "the class matches notes by method and path only here",
             "headerMatches": "the class matches notes by method and path only here"},
)
L7_RULES = _Map(
    {"http": _ListOf(HTTP_RULE)},
    refused={"kafka": ONE_PROTOCOL, "dns": ONE_PROTOCOL, "l7proto": ONE_PROTOCOL, "l7": ONE_PROTOCOL},
)
PORT_RULE = _Map(
    {"rules": L7_RULES},
    refused={"ports": NO_PORTS, "listener": "the class has no Envoy listener resources (CiliumEnvoyConfig)",
             "originatingTLS": "TLS to and from desks is the class's own (PeerAuthentication)",
             "terminatingTLS": "TLS to and from desks is the class's own (PeerAuthentication)",
             "serverNames": "hands meet over the class's own links, so there is no server name (SNI) to read"},
)
_FROM_REFUSED = {
    "fromCIDR": NO_ADDRESSES, "fromCIDRSet": NO_ADDRESSES, "fromEntities": NO_ENTITIES,
    "fromNodes": NO_NODES, "fromGroups": NO_ADDRESSES,
    "fromRequires": "Cilium deprecated fromRequires: write every label in one fromEndpoints matchLabels",
    "icmps": "notes are not ICMP packets", "authentication": NO_AUTHENTICATION,
}
_TO_REFUSED = {
    "toCIDR": NO_ADDRESSES, "toCIDRSet": NO_ADDRESSES, "toEntities": NO_ENTITIES, "toFQDNs": NO_ADDRESSES,
    "toServices": NO_ADDRESSES, "toGroups": NO_ADDRESSES, "toNodes": NO_NODES,
    "toRequires": "Cilium deprecated toRequires: write every label in one toEndpoints matchLabels",
    "icmps": "notes are not ICMP packets", "authentication": NO_AUTHENTICATION,
}
_SELECTORS = _ListOf(_match_labels())
INGRESS_RULE = _Map({"fromEndpoints": _SELECTORS, "toPorts": _ListOf(PORT_RULE)}, refused=_FROM_REFUSED)
INGRESS_DENY_RULE = _Map({"fromEndpoints": _SELECTORS},
                         refused={**_FROM_REFUSED, "toPorts": NO_PORTS + " (a deny rule has no L7 rules)"})
EGRESS_RULE = _Map({"toEndpoints": _SELECTORS}, refused={**_TO_REFUSED, "toPorts": INGRESS_L7_ONLY})
EGRESS_DENY_RULE = _Map({"toEndpoints": _SELECTORS}, refused={**_TO_REFUSED, "toPorts": NO_PORTS})


def _spec_check(ck: _Check, spec: dict[Any, Any], at: _At) -> None:
    if "endpointSelector" not in spec:
        ck.fail(at.line, f"{at.name} is missing 'endpointSelector': a CiliumNetworkPolicy says which desks it is "
                "about (endpointSelector: {matchLabels: {app: penny}}; {} is every desk)")
    if not any(key in spec for key in ("ingress", "ingressDeny", "egress", "egressDeny")):
        ck.fail(at.line, f"{at.name} has no ingress, ingressDeny, egress or egressDeny: the policy would do "
                "nothing")


CILIUM_NETWORK_POLICY = _Map(
    {
        "endpointSelector": _match_labels(),
        "ingress": _ListOf(INGRESS_RULE),
        "ingressDeny": _ListOf(INGRESS_DENY_RULE),
        "egress": _ListOf(EGRESS_RULE),
        "egressDeny": _ListOf(EGRESS_DENY_RULE),
        "enableDefaultDeny": _Map({"ingress": v.boolean, "egress": v.boolean}),
        "description": v.text,
    },
    refused={"nodeSelector": NO_NODES, "specs": ONE_RULE, "labels": "name the policy in metadata.name"},
    check=_spec_check,
)


def _selectors(spec: dict[str, Any], at: _At) -> list[tuple[dict[str, Any], _At]]:
    """Every matchLabels of a policy, with its place."""
    found: list[tuple[dict[str, Any], _At]] = []

    def add(selector: Any, where: _At) -> None:
        if isinstance(selector, dict) and isinstance(selector.get("matchLabels"), dict):
            found.append((selector["matchLabels"], where.key(selector, "matchLabels")))

    if "endpointSelector" in spec:
        add(spec["endpointSelector"], at.key(spec, "endpointSelector"))
    for section, peers in (("ingress", "fromEndpoints"), ("ingressDeny", "fromEndpoints"),
                           ("egress", "toEndpoints"), ("egressDeny", "toEndpoints")):
        rules = spec.get(section) or []
        for index, rule in enumerate(rules):
            rule_at = at.key(spec, section).item(rules, index)
            selectors = (rule or {}).get(peers) or []
            for s_index, selector in enumerate(selectors):
                add(selector, rule_at.key(rule, peers).item(selectors, s_index))
    return found


def names(ck: _Check, spec: dict[str, Any], at: _At, roll: Any) -> None:
    """Each matchLabels must fit at least one student (an empty one fits every desk)."""
    workloads = getattr(roll, "workloads", None)
    if workloads is None:
        return
    for labels, where in _selectors(spec, at):
        if labels and not any(all(w.get(k) == val for k, val in labels.items()) for w in workloads):
            ck.fail(where.line, f"{where.name} {_show(dict(labels))} fits no desk of this level, so it selects "
                    "nobody (a desk's labels: app, her name unless given, and her labels)")
