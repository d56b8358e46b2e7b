"""PeerAuthentication and AuthorizationPolicy (security.istio.io): what the class acts on, what it refuses, why.

Theory of operation
-------------------
As :mod:`classroom.level.networking` does for routing, each shape here is
Istio's (``security/v1beta1/peer_authentication.proto``,
``authorization_policy.proto``, the ``v1`` CRD schemas).  A field is either in
``fields`` (acted on as Istio acts on it) or in ``refused`` with the sentence
that says why the classroom has no use for it: the class has no JWTs, no IP
addresses, no ports, no waypoints and no external authorizer, so the fields
about those are refused at their line.

``when`` conditions name Istio's attributes; the class acts on three of them
(:data:`WHEN_KEYS`), a note's headers, its sender's principal and namespace,
and refuses the others Istio knows with a reason and the list of the three.

The ``check`` functions are the rules of Istio's validating webhook for
AuthorizationPolicy: a DENY policy needs rules, ``from``/``to`` may not be
empty lists, a source or an operation may not be empty, a condition needs
values or notValues.
"""

from __future__ import annotations

import re
from typing import Any

import classroom.level.istiovalues as v
from classroom.level.checks import _At, _Check, _choices, _ListOf, _Map, _MapOf, _walk

MTLS_MODES = ("STRICT", "PERMISSIVE", "DISABLE", "UNSET")
ACTIONS = ("ALLOW", "DENY")
ACTIONS_REFUSED = {
    "AUDIT": "the class keeps no audit log: Istio's AUDIT only marks notes for a logging plugin",
    "CUSTOM": "there is no external authorizer in class: CUSTOM hands the decision to an ext-authz provider",
}
NO_JWTS = "there are no JWTs in class: a note carries no token, only its sender's ID card on each pass"
NO_IPS = "there are no IP addresses in class: a hand knows who handed her a note by her ID card"
NO_PORTS = "notes have no ports: a student is reached by her name"
ONE_TRUST_DOMAIN = "the class has one trust domain, classroom.local, so it tells no one apart"
SERVICE_ACCOUNTS = (
    "the class matches ID cards by principal: write principals: [classroom.local/ns/<level>/sa/<name>], "
    "which names the same student"
)
NO_WAYPOINTS = "the class has no waypoints: a policy here is enforced by the hands its selector picks"

# The `when` keys the class acts on: a note's headers, and who handed it over.
WHEN_KEYS = ("request.headers[<name>]", "source.principal", "source.namespace")
_HEADER_KEY = re.compile(r"request\.headers\[(.*)\]")
_WHEN_REFUSED = {
    "source.ip": NO_IPS,
    "remote.ip": NO_IPS,
    "destination.ip": NO_IPS,
    "source.serviceAccount": "the class matches ID cards by principal: use key source.principal, with values "
    "like classroom.local/ns/<level>/sa/<name>",
    "source.trustDomain": ONE_TRUST_DOMAIN,
    "request.auth.principal": NO_JWTS,
    "request.auth.audiences": NO_JWTS,
    "request.auth.presenter": NO_JWTS,
    "destination.port": NO_PORTS,
    "connection.sni": "hands meet over the class's own links, so there is no server name (SNI) to read",
    "destination.namespace": "Istio replaced it with the policy's own metadata.namespace",
    "destination.name": "Istio dropped it after v1alpha1: pick the students with the selector",
    "destination.user": "Istio dropped it after v1alpha1: pick the students with the selector",
}
_WHEN_PREFIXES_REFUSED = {
    "request.auth.claims[": NO_JWTS,
    "destination.labels[": "Istio replaced it with the policy's selector",
    "experimental.": "the class has no experimental Envoy attributes",
}


def _selector() -> _Map:
    return _Map({"matchLabels": _MapOf(v.label_key, v.label_value)})


# --------------------------------------------------------------------------- PeerAuthentication

PEER_AUTHENTICATION = _Map(
    {"selector": _selector(), "mtls": _Map({"mode": v.enum(*MTLS_MODES)})},
    refused={"portLevelMtls": NO_PORTS},
)

# --------------------------------------------------------------------------- AuthorizationPolicy

_VALUES = _ListOf(v.nonempty_text)


def _not_empty(what: str, example: str) -> Any:
    def check(ck: _Check, body: dict[Any, Any], at: _At) -> None:
        if not body:
            ck.fail(at.line, f"{at.name} is empty: Istio refuses an empty {what} (write at least one field, like "
                    f"{example})")

    return check


SOURCE = _Map(
    {"principals": _VALUES, "notPrincipals": _VALUES, "namespaces": _VALUES, "notNamespaces": _VALUES},
    refused={
        "requestPrincipals": NO_JWTS,
        "notRequestPrincipals": NO_JWTS,
        "ipBlocks": NO_IPS,
        "notIpBlocks": NO_IPS,
        "remoteIpBlocks": NO_IPS,
        "notRemoteIpBlocks": NO_IPS,
        "serviceAccounts": SERVICE_ACCOUNTS,
        "notServiceAccounts": SERVICE_ACCOUNTS,
        "trustDomains": ONE_TRUST_DOMAIN,
        "notTrustDomains": ONE_TRUST_DOMAIN,
    },
    check=_not_empty("source", "principals: [classroom.local/ns/<level>/sa/ben]"),
)


def _path(ck: _Check, value: Any, at: _At) -> str:
    written = v.nonempty_text(ck, value, at)
    if "{" in written or "}" in written:
        ck.fail(at.line, f"{at.name}: {written!r} is a path template, which the class does not match: write the "
                "path exactly, or a prefix ending in * (/notes/*)")
    return written


_PATHS = _ListOf(_path)
OPERATION = _Map(
    {
        "hosts": _VALUES,
        "notHosts": _VALUES,
        "paths": _PATHS,
        "notPaths": _PATHS,
        "methods": _VALUES,
        "notMethods": _VALUES,
    },
    refused={"ports": NO_PORTS, "notPorts": NO_PORTS},
    check=_not_empty("operation", "hosts: [penny]"),
)


def when_key(ck: _Check, value: Any, at: _At) -> str:
    """One of :data:`WHEN_KEYS`; another attribute Istio knows is refused with its reason."""
    key = v.nonempty_text(ck, value, at)
    header = _HEADER_KEY.fullmatch(key)
    if header:
        v.header_name(ck, header.group(1), at)
        return key
    if key in WHEN_KEYS:
        return key
    why = _WHEN_REFUSED.get(key) or next(
        (reason for prefix, reason in _WHEN_PREFIXES_REFUSED.items() if key.startswith(prefix)), None
    )
    if why is not None:
        ck.fail(at.line, f"{at.name} {key!r} is not supported here: {why} (the class knows {_choices(WHEN_KEYS)})")
    ck.fail(at.line, f"{at.name} {key!r} is not an attribute Istio knows; the class knows {_choices(WHEN_KEYS)}")


def _condition_check(ck: _Check, body: dict[Any, Any], at: _At) -> None:
    if "key" not in body:
        ck.fail(at.line, f"{at.name} is missing 'key' (like key: request.headers[x-class])")
    if not body.get("values") and not body.get("notValues"):
        ck.fail(at.line, f"{at.name} needs values or notValues: Istio refuses a condition with neither")


CONDITION = _Map({"key": when_key, "values": _VALUES, "notValues": _VALUES}, check=_condition_check)


def _nonempty_list(spec: Any, what: str) -> Any:
    """A list Istio refuses when it is written empty (``from: []``), unlike one left out."""

    def read(ck: _Check, value: Any, at: _At) -> None:
        if isinstance(value, list) and not value:
            ck.fail(at.line, f"{at.name} is an empty list: Istio refuses it (leave {what} out to match any)")
        _walk(ck, value, at, spec)

    return read


RULE = _Map(
    {
        "from": _nonempty_list(_ListOf(_Map({"source": SOURCE}, required=("source",))), "from"),
        "to": _nonempty_list(_ListOf(_Map({"operation": OPERATION}, required=("operation",))), "to"),
        "when": _ListOf(CONDITION),
    },
)


def _authorization_check(ck: _Check, spec: dict[Any, Any], at: _At) -> None:
    if spec.get("action") == "DENY" and not spec.get("rules"):
        ck.fail(
            at.line,
            f"{at.name}: a DENY policy without rules never matches, so it denies nothing (Istio refuses it): add "
            "rules, or rules: [{}] to deny every note",
        )


AUTHORIZATION_POLICY = _Map(
    {"selector": _selector(), "action": v.enum(*ACTIONS, refused=ACTIONS_REFUSED), "rules": _ListOf(RULE)},
    refused={"targetRef": NO_WAYPOINTS, "targetRefs": NO_WAYPOINTS, "provider": ACTIONS_REFUSED["CUSTOM"]},
    check=_authorization_check,
)
