"""Class rules on who may hand a note to whom: Istio's AuthorizationPolicy, evaluated.

Theory of operation
-------------------
A hand that receives a note (to pass on, or for its own student) asks
:func:`decide` whether the neighbour who handed it over may.  The neighbour
is known by the SPIFFE ID its certificate proved; policies name it the way
Istio writes principals, without the scheme
(``classroom.local/ns/<level>/sa/<student>``).  Istio's evaluation order:

1. a matching DENY policy denies;
2. if no ALLOW policy applies to this workload, allow;
3. if any ALLOW policy matches, allow;
4. otherwise deny ("allow policies exist, but none allowed").

A policy applies to the students whose labels its ``selector.matchLabels``
all match (``app``, ``version`` ...; a student's ``app`` label is her name
unless the level gives her another, so a canary pair dana-v1 and dana-v2 with
``app: dana`` are both selected by ``app: dana``), or to everyone when it has
no selector.  A rule matches when every part of it
that is written matches: ``from`` sources (principals, notPrincipals,
namespaces, notNamespaces), ``to`` operations (hosts and notHosts: the note's
final recipient; paths, notPaths, methods, notMethods: the note's request,
:mod:`classroom.mesh.control.request`) and ``when`` conditions (on
``request.headers[<name>]``, ``source.principal``, ``source.namespace``).
Strings match as Istio's do: exact, ``*``, ``prefix*`` or ``*suffix``.  An
ALLOW policy with no rules at all (``spec: {}``) is allow-nothing.  A
plaintext peer has no principal, so a principals rule never matches it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from classroom.mesh.control.request import DEFAULT_OPERATION, Operation

ALLOW, DENY = "ALLOW", "DENY"
APP_LABEL = "app"


@dataclass(frozen=True)
class Source:
    principals: tuple[str, ...] | None = None
    not_principals: tuple[str, ...] | None = None
    namespaces: tuple[str, ...] | None = None
    not_namespaces: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Target:
    """A rule's ``to.operation``: the note's recipient (host) and its request."""

    hosts: tuple[str, ...] | None = None
    not_hosts: tuple[str, ...] | None = None
    paths: tuple[str, ...] | None = None
    not_paths: tuple[str, ...] | None = None
    methods: tuple[str, ...] | None = None
    not_methods: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Condition:
    """A rule's ``when``: a key, the values it must have (any), and those it must not."""

    key: str
    values: tuple[str, ...] | None = None
    not_values: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Rule:
    sources: tuple[Source, ...] = ()  # any of them (empty: any source)
    operations: tuple[Target, ...] = ()  # any of them (empty: any operation)
    conditions: tuple[Condition, ...] = ()  # all of them


@dataclass(frozen=True)
class Policy:
    name: str
    action: str = ALLOW
    selector: str | None = None  # matchLabels.app: the service it applies to; None: any
    rules: tuple[Rule, ...] = ()
    match_labels: tuple[tuple[str, str], ...] = ()  # the selector's other labels (version ...)
    # Label sets whose students it leaves alone (Linkerd's default inbound policy: not those a Server picks).
    unless: tuple[tuple[tuple[str, str], ...], ...] = ()

    def applies_to(self, labels: Mapping[str, str]) -> bool:
        """Whether the selector picks a student with these labels (no selector: everyone)."""
        return (self.selector is None or labels.get(APP_LABEL) == self.selector) and all(
            labels.get(key) == value for key, value in self.match_labels
        ) and not any(all(labels.get(key) == value for key, value in other) for other in self.unless)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    policy: str | None
    reason: str


def _match(patterns: Iterable[str], value: str | None) -> bool:
    """Istio's string match: exact, ``*``, ``prefix*`` or ``*suffix``."""
    if value is None:
        return False
    for pattern in patterns:
        if pattern == "*" or pattern == value:
            return True
        if pattern.endswith("*") and value.startswith(pattern[:-1]):
            return True
        if pattern.startswith("*") and value.endswith(pattern[1:]):
            return True
    return False


def _namespace(principal: str | None) -> str | None:
    if principal is None or "/ns/" not in principal:
        return None
    return principal.split("/ns/", 1)[1].split("/", 1)[0]


def _only(patterns: tuple[str, ...] | None, value: str | None) -> bool:
    return patterns is None or _match(patterns, value)


def _not(patterns: tuple[str, ...] | None, value: str | None) -> bool:
    return patterns is None or not _match(patterns, value)


def _source_matches(source: Source, principal: str | None) -> bool:
    namespace = _namespace(principal)
    return (_only(source.principals, principal) and _not(source.not_principals, principal)
            and _only(source.namespaces, namespace) and _not(source.not_namespaces, namespace))


def _target_matches(target: Target, host: str, op: Operation) -> bool:
    return (_only(target.hosts, host) and _not(target.not_hosts, host)
            and _only(target.paths, op.uri) and _not(target.not_paths, op.uri)
            and _only(target.methods, op.method) and _not(target.not_methods, op.method))


_HEADER_KEY = re.compile(r"request\.headers\[(.+)\]")


def condition_value(key: str, principal: str | None, op: Operation) -> str | None:
    """The value a ``when`` key names for this note (None when it has none)."""
    header = _HEADER_KEY.fullmatch(key)
    if header is not None:
        return op.header(header.group(1))
    if key == "source.principal":
        return principal
    if key == "source.namespace":
        return _namespace(principal)
    return None


def _condition_holds(condition: Condition, principal: str | None, op: Operation) -> bool:
    value = condition_value(condition.key, principal, op)
    return _only(condition.values, value) and _not(condition.not_values, value)


def _rule_matches(rule: Rule, principal: str | None, host: str, op: Operation) -> bool:
    return ((not rule.sources or any(_source_matches(s, principal) for s in rule.sources))
            and (not rule.operations or any(_target_matches(o, host, op) for o in rule.operations))
            and all(_condition_holds(c, principal, op) for c in rule.conditions))


def decide(
    policies: Sequence[Policy],
    workload: str,
    principal: str | None,
    host: str,
    labels: Mapping[str, str] | None = None,
    op: Operation = DEFAULT_OPERATION,
) -> Decision:
    """May ``principal`` hand ``workload`` (a student with ``labels``) a note for ``host`` asking ``op``?"""
    labels = {APP_LABEL: workload, **(labels or {})}
    applicable = [p for p in policies if p.applies_to(labels)]
    for policy in applicable:
        if policy.action == DENY and any(_rule_matches(r, principal, host, op) for r in policy.rules):
            return Decision(False, policy.name, f"explicitly denied by: {policy.name}")
    allows = [p for p in applicable if p.action == ALLOW]
    if not allows:
        return Decision(True, None, "no allow policies")
    for policy in allows:
        if any(_rule_matches(r, principal, host, op) for r in policy.rules):
            return Decision(True, policy.name, f"allowed by: {policy.name}")
    return Decision(False, None, "allow policies exist, but none allowed")


def _strings(value: Any) -> tuple[str, ...] | None:
    return tuple(str(v) for v in value) if value is not None else None


def _target(op: Mapping[str, Any]) -> Target:
    return Target(_strings(op.get("hosts")), _strings(op.get("notHosts")), _strings(op.get("paths")),
                  _strings(op.get("notPaths")), _strings(op.get("methods")), _strings(op.get("notMethods")))


def policies_from(resources: Iterable[dict[str, Any]], namespace: str) -> tuple[Policy, ...]:
    """The AuthorizationPolicies among (validated) resources."""
    out = []
    for resource in resources:
        if resource.get("kind") != "AuthorizationPolicy" or str(resource.get("apiVersion", "")).startswith(
                "policy.linkerd.io/"):  # Linkerd's are read by classroom.mesh.control.linkerd
            continue
        spec = resource.get("spec") or {}
        labels = (spec.get("selector") or {}).get("matchLabels") or {}
        rules = tuple(
            Rule(
                sources=tuple(
                    Source(_strings(src.get("principals")), _strings(src.get("notPrincipals")),
                           _strings(src.get("namespaces")), _strings(src.get("notNamespaces")))
                    for src in ((f or {}).get("source") or {} for f in rule.get("from") or [])
                ),
                operations=tuple(_target((t or {}).get("operation") or {}) for t in rule.get("to") or []),
                conditions=tuple(Condition(str(c["key"]), _strings(c.get("values")), _strings(c.get("notValues")))
                                 for c in rule.get("when") or []),
            )
            for rule in (spec.get("rules") or [])
        )
        name = f"{namespace}/{(resource.get('metadata') or {}).get('name', 'unnamed')}"
        app = labels.get(APP_LABEL)
        others = tuple(sorted((str(k), str(v)) for k, v in labels.items() if k != APP_LABEL))
        out.append(Policy(name, str(spec.get("action", ALLOW)), None if app is None else str(app), rules,
                          others))
    return tuple(out)
