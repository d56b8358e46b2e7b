"""The office's reading of Linkerd's resources: Servers and their authorizations, default inbound policy, HTTPRoutes.

Theory of operation
-------------------
Linkerd's policy controller turns Servers, AuthorizationPolicies and
MeshTLSAuthentications into each proxy's inbound policy; here they become
the class's :class:`~classroom.mesh.control.authz.Policy` list, which every
hand already evaluates where a note is handed to it:

* a ``Server`` becomes an ALLOW policy on the students its ``podSelector``
  picks, with one rule per ``AuthorizationPolicy`` that targets it (or the
  Namespace), so with none it allows nothing: "all traffic to the port on
  its pods will be denied unless explicitly authorized"; its
  ``accessPolicy`` other than ``deny`` adds the rule that policy means;
* an AuthorizationPolicy's rule holds when *every* one of its
  ``requiredAuthenticationRefs`` does (a ``source.principal`` condition
  each); a ref to a MeshTLSAuthentication the class does not have leaves the
  rule out, as Linkerd leaves out an authorization it cannot resolve;
* the default inbound policy (the Namespace's
  ``config.linkerd.io/default-inbound-policy``; none: ``all-unauthenticated``,
  Linkerd's install default) becomes an ALLOW policy on every student no
  Server picks (``unless``): ``all-authenticated`` lets in any meshed hand,
  ``deny`` none, the ``-unauthenticated`` ones anyone (no policy at all).
  The class is one cluster, so ``cluster-`` and ``all-`` mean the same here.

Identities: a class ID card names ``ben`` of level ``lvl`` as
``classroom.local/ns/lvl/sa/ben`` (its SPIFFE ID, which the hands check);
Linkerd's identity string for the same hand is
``ben.lvl.serviceaccount.identity.linkerd.cluster.local``, which the office
also writes into a Linkerd class's cards (:func:`linkerd_identity`), and
:func:`principal_of` maps the one onto the other (``*.lvl....`` onto every
card of ``lvl``, ``*`` onto any card at all).

``HTTPRoute`` rules become :class:`~classroom.mesh.control.policy.RouteRule`
for the service their ``parentRefs`` name: matches (Gateway API's path
prefix is by whole path segments), weighted ``backendRefs``, and the
``retry.linkerd.io/http`` / ``limit`` (default 1) / ``timeout`` and
``timeout.linkerd.io/request`` annotations.  Rules are tried in Gateway API's
precedence (an exact path first, then the longest prefix, then a method,
then more headers), not in the order written.  Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from classroom.durations import parse_duration
from classroom.mesh.control.authz import ALLOW, APP_LABEL, Condition, Policy, Rule
from classroom.mesh.control.policy import Destination, HttpMatch, Retries, RouteRule, StringMatch

Resource = Mapping[str, Any]
TRUST_DOMAIN = "classroom.local"  # the class's (pki.TRUST_DOMAIN; pki is not imported: it does TLS)
LINKERD_POLICY = "policy.linkerd.io"
# Linkerd's identity strings: <sa>.<ns>.serviceaccount.identity.<control-plane-ns>.<trust-domain>
# (features/automatic-mtls.md: books.booksapp.serviceaccount.identity.linkerd.cluster.local).
IDENTITY_SUFFIX = ".serviceaccount.identity.linkerd.cluster.local"
_DNS_LABEL = r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?"
_IDENTITY = re.compile(rf"(\*|{_DNS_LABEL})\.({_DNS_LABEL}){re.escape(IDENTITY_SUFFIX)}")
# config.linkerd.io/default-inbound-policy values (reference/authorization-policy.md); audit since 2.16.
DEFAULT_POLICY_ANNOTATION = "config.linkerd.io/default-inbound-policy"
DEFAULT_POLICIES = ("all-unauthenticated", "all-authenticated", "cluster-unauthenticated",
                    "cluster-authenticated", "deny")
RETRY_HTTP, RETRY_LIMIT, RETRY_TIMEOUT = "retry.linkerd.io/http", "retry.linkerd.io/limit", "retry.linkerd.io/timeout"
REQUEST_TIMEOUT = "timeout.linkerd.io/request"
SOURCE = "source.principal"
ANY_CARD = Condition(SOURCE, ("*",))  # any ID card at all: a meshed hand (a plaintext one has none)
DEFAULT_INBOUND = "all-unauthenticated"  # proxy.defaultInboundPolicy's default (reference/authorization-policy.md)
RETRY_LIMIT_DEFAULT = 1  # "By default, this limit is 1" (tasks/configuring-retries.md, 2.16)


def identity_parts(identity: str) -> tuple[str, str] | None:
    """(service account, namespace) of a Linkerd identity string (the account may be ``*``), or None."""
    found = _IDENTITY.fullmatch(identity)
    return (found.group(1), found.group(2)) if found else None


def status_tokens(written: str) -> tuple[str, ...]:
    """The statuses a ``retry.linkerd.io/http`` list names, as the class's retry tokens; ValueError if one is
    none: each element a code (``504``), a range (``500-504``), ``gateway-error`` (502-504) or ``5xx``
    (reference/retries.md)."""
    out: list[str] = []
    for part in written.split(","):
        token = part.strip()
        if token == "5xx":
            out.append("5xx")
        elif token == "gateway-error":
            out.extend(("502", "503", "504"))
        elif re.fullmatch(r"[1-5]\d\d(-[1-5]\d\d)?", token):
            low, _, high = token.partition("-")
            first, last = int(low), int(high or low)
            if first > last:
                raise ValueError(f"{token!r} is an empty range (write the lower status first)")
            out.extend(str(code) for code in range(first, last + 1))
        else:
            raise ValueError(f"{token!r} is not a status Linkerd retries on: write codes (503), ranges "
                             "(500-504), gateway-error or 5xx, separated by commas")
    return tuple(dict.fromkeys(out))


def principal_of(identity: str, namespace: str) -> str:
    """The class principal a Linkerd identity string names (``*`` stays ``*``: any card)."""
    if identity == "*":
        return "*"
    parts = identity_parts(identity)
    account, ns = parts if parts is not None else ("", namespace)
    return f"{TRUST_DOMAIN}/ns/{ns}/sa/{account}"


def linkerd_identity(principal: str) -> str:
    """Linkerd's identity string for a class principal (``classroom.local/ns/lvl/sa/ben``)."""
    ns = principal.split("/ns/", 1)[1].split("/", 1)[0]
    return f"{principal.rsplit('/sa/', 1)[-1]}.{ns}.serviceaccount.identity.linkerd.cluster.local"


def _is_linkerd(resource: Resource) -> bool:
    return str(resource.get("apiVersion", "")).startswith(LINKERD_POLICY + "/")


def _name(resource: Resource) -> str:
    return str((resource.get("metadata") or {}).get("name", ""))


def _authentication(spec: Mapping[str, Any], namespace: str) -> tuple[str, ...]:
    """The principals a MeshTLSAuthentication passes."""
    found = [principal_of(str(i), namespace) for i in spec.get("identities") or []]
    for ref in spec.get("identityRefs") or []:
        ns = str(ref.get("namespace", namespace))
        if ref.get("kind") == "Namespace":
            found.append(f"{TRUST_DOMAIN}/ns/{ref.get('name', ns)}/sa/*")
        else:  # a ServiceAccount; without a name, every one of its namespace
            found.append(f"{TRUST_DOMAIN}/ns/{ns}/sa/{ref.get('name', '*')}")
    return tuple(found)


def _rule(spec: Mapping[str, Any], authns: Mapping[str, tuple[str, ...]], namespace: str) -> Rule | None:
    """An AuthorizationPolicy's rule: every required authentication holds; None when a ref does not resolve."""
    conditions = []
    for ref in spec.get("requiredAuthenticationRefs") or []:
        if ref.get("kind") == "ServiceAccount":
            conditions.append(Condition(SOURCE, (f"{TRUST_DOMAIN}/ns/{ref.get('namespace', namespace)}/sa/"
                                                 f"{ref['name']}",)))
        elif str(ref.get("name")) in authns:
            conditions.append(Condition(SOURCE, authns[str(ref["name"])]))
        else:
            return None
    return Rule(conditions=tuple(conditions))


def _labels(selector: Mapping[str, Any] | None) -> tuple[str | None, tuple[tuple[str, str], ...]]:
    labels = {str(k): str(v) for k, v in ((selector or {}).get("matchLabels") or {}).items()}
    app = labels.pop(APP_LABEL, None)
    return app, tuple(sorted(labels.items()))


def _access_rule(access: str) -> Rule | None:
    if access.endswith("-unauthenticated"):
        return Rule()
    if access.endswith("-authenticated"):
        return Rule(conditions=(ANY_CARD,))
    return None  # deny


def policies(resources: Iterable[Resource], namespace: str) -> tuple[Policy, ...]:
    """The class policies Linkerd's Servers, AuthorizationPolicies and default inbound policy describe."""
    resources = list(resources)
    authns = {_name(r): _authentication(r.get("spec") or {}, namespace)
              for r in resources if r.get("kind") == "MeshTLSAuthentication"}
    grants: dict[tuple[str, str], list[tuple[str, Rule]]] = {}
    default = DEFAULT_INBOUND
    for resource in resources:
        if resource.get("kind") == "Namespace":
            default = str(((resource.get("metadata") or {}).get("annotations") or {})
                          .get(DEFAULT_POLICY_ANNOTATION, default))
        if resource.get("kind") != "AuthorizationPolicy" or not _is_linkerd(resource):
            continue
        spec = resource.get("spec") or {}
        rule = _rule(spec, authns, namespace)
        target = spec.get("targetRef") or {}
        if rule is not None:
            grants.setdefault((str(target.get("kind")), str(target.get("name"))), []).append((_name(resource), rule))
    out: list[Policy] = []
    picked: list[tuple[tuple[str, str], ...]] = []
    for resource in resources:
        if resource.get("kind") != "Server":
            continue
        spec = resource.get("spec") or {}
        name = _name(resource)
        app, others = _labels(spec.get("podSelector"))
        rules = [rule for _, rule in grants.get(("Server", name), []) + grants.get(("Namespace", namespace), [])]
        access = _access_rule(str(spec.get("accessPolicy", "deny")))
        if access is not None:
            rules.append(access)
        out.append(Policy(f"{namespace}/server:{name}", ALLOW, app, tuple(rules), others))
        picked.append(((APP_LABEL, app), *others) if app is not None else others)
    if not default.endswith("-unauthenticated"):
        allowed: tuple[Rule, ...] = () if default == "deny" else (Rule(conditions=(ANY_CARD,)),)
        out.append(Policy(f"{namespace}/default-inbound-policy:{default}", ALLOW, None, allowed, (),
                          unless=tuple(picked)))
    return tuple(out)


# --------------------------------------------------------------------------- HTTPRoute


def _path(spec: Mapping[str, Any]) -> StringMatch:
    kind, value = str(spec.get("type", "PathPrefix")), str(spec.get("value", "/"))
    if kind == "Exact":
        return StringMatch("exact", value)
    if kind == "RegularExpression":
        return StringMatch("regex", value)
    trimmed = value.rstrip("/")
    # Gateway API: a PathPrefix matches whole path elements ("/abc" matches /abc and /abc/def, not /abcdef).
    return StringMatch("prefix", "/") if not trimmed else StringMatch("regex", re.escape(trimmed) + "(/.*)?")


def _match(spec: Mapping[str, Any]) -> HttpMatch:
    headers = tuple(sorted(
        (str(h["name"]).lower(), StringMatch("regex" if h.get("type") == "RegularExpression" else "exact",
                                             str(h["value"])))
        for h in spec.get("headers") or []))
    method = StringMatch("exact", str(spec["method"])) if spec.get("method") else None
    return HttpMatch(uri=_path(spec.get("path") or {}), method=method, headers=headers)


def _precedence(spec: Mapping[str, Any]) -> tuple[int, int, int, int]:
    """Gateway API's order among matches: exact path, longest prefix, a method, the most headers."""
    path = spec.get("path") or {}
    return (0 if path.get("type") == "Exact" else 1, -len(str(path.get("value", "/"))),
            0 if spec.get("method") else 1, -len(spec.get("headers") or []))


def _retries(notes: Mapping[str, Any]) -> Retries | None:
    if RETRY_HTTP not in notes:
        return None
    timeout = notes.get(RETRY_TIMEOUT)
    # "requests that timeout are eligible for being retried" (2.16, features/retries-and-timeouts.md): a try
    # that runs out of retry.linkerd.io/timeout is retried whatever statuses are listed; in class its answer is
    # the per-try timeout's 504 (a 504 handed back by a relay counts too: the class cannot tell them apart).
    timed_out = {"504"} if timeout else set()
    # Counted retries: no budget, and Linkerd documents no backoff between them (reference/retries.md); each
    # retry may go to another backend through the balancer, not away from the one that failed.
    return Retries(attempts=int(notes.get(RETRY_LIMIT, RETRY_LIMIT_DEFAULT)),
                   per_try_timeout=parse_duration(timeout) if timeout else None,
                   retry_on=tuple(sorted(set(status_tokens(str(notes[RETRY_HTTP]))) | timed_out)),
                   backoff=0.0, ignore_previous_hosts=False)


def routes(resources: Iterable[Resource]) -> dict[str, tuple[RouteRule, ...]]:
    """Each service's rules, from the HTTPRoutes whose parentRefs name it."""
    found: dict[str, list[tuple[tuple[int, int, int, int], int, RouteRule]]] = {}
    for resource in resources:
        if resource.get("kind") != "HTTPRoute":
            continue
        notes = (resource.get("metadata") or {}).get("annotations") or {}
        spec = resource.get("spec") or {}
        name = _name(resource)
        retries = _retries(notes)
        for rule in spec.get("rules") or []:
            # The annotation beats the rule's own timeouts.request (reference/timeouts.md).
            timeout = notes.get(REQUEST_TIMEOUT) or (rule.get("timeouts") or {}).get("request")
            backends = rule.get("backendRefs") or []
            route = tuple(Destination(host=str(b["name"]),
                                      weight=int(b.get("weight", 1)) if len(backends) > 1 else 100)
                          for b in backends)
            for match in rule.get("matches") or [{}]:
                made = RouteRule(name=name, matches=(_match(match),),
                                 timeout=parse_duration(timeout) if timeout else None,
                                 retries=retries,
                                 route=route, service=name)
                for parent in spec.get("parentRefs") or []:
                    rules = found.setdefault(str(parent["name"]), [])
                    rules.append((_precedence(match), len(rules), made))
    return {host: tuple(rule for _, _, rule in sorted(rules, key=lambda r: (r[0], r[1])))
            for host, rules in found.items()}
