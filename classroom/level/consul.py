"""Consul's own kinds: ServiceIntentions (consul.hashicorp.com/v1alpha1), and the class's ACL setting.

Theory of operation
-------------------
``ServiceIntentions`` is the Kubernetes form of Consul's
``service-intentions`` config entry (consul-k8s
``control-plane/api/v1alpha1/serviceintentions_types.go``): one destination
(``spec.destination.name``, a service or ``*``) and the sources allowed or
denied to reach it (``spec.sources[]``: ``name``, a service or ``*``, and
either ``action`` — an L4 intention — or ``permissions`` — an L7 one, whose
``http`` matches ``pathExact | pathPrefix | pathRegex``, ``methods`` and
``header``).  The shapes and the rules between fields are the CRD's webhook's:
at least one source; ``action`` and ``permissions`` mutually exclusive, one
of them required; at most one path match, exact and prefix paths beginning
with ``/``; methods among the HTTP methods; a source named once per entry
(and, checked across the list, one ServiceIntentions per destination:
:data:`classroom.level.kinds.KINDS`' ``one_per``).

The class is one Consul datacenter with one namespace and no peers, so the
Enterprise and peering fields (``namespace``, ``partition``, ``peer``,
``samenessGroup``) are refused at their line, as is ``jwt`` (no note carries a
token).  How the office evaluates them (precedence, the default) is
:mod:`classroom.mesh.control.intentions`.

``ConsulACL`` (``classroom.mesh/v1``) is the class's stand-in for the ACL
stanza of the Consul agents' configuration (``acl { enabled, default_policy }``),
which real Consul keeps in agent configuration, not in a config entry: it is
where the default of every pair without an intention comes from.  It is the
classroom's kind, accepted only under the consul profile.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Any

import classroom.level.istiovalues as v
from classroom.level.checks import _At, _Check, _choices, _ListOf, _Map
from classroom.level.model import LevelError

ACTIONS = ("allow", "deny")
# net/http's method names, the ones the consul-k8s webhook accepts in permissions[].http.methods.
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "CONNECT", "OPTIONS", "TRACE")
ONE_NAMESPACE = ("the class is one Consul namespace, default (namespaces are Consul Enterprise's): "
                 "name the service alone")
ONE_PARTITION = "the class is one admin partition, default (partitions are Consul Enterprise's)"
NO_PEERS = "the class is one Consul cluster with no peers: a source is a service of this class"
NO_SAMENESS = "the class is one Consul cluster, so there is no sameness group to name"
NO_JWTS = "there are no JWTs in class: a note carries no token, only its sender's ID card on each pass"


def _nonempty(ck: _Check, value: Any, at: _At) -> str:
    written = v.text(ck, value, at)
    if not written:
        ck.fail(at.line, f"{at.name} is empty: Consul refuses an empty value here")
    return written


def _regex(ck: _Check, value: Any, at: _At) -> str:
    """An RE2 expression: Consul hands it to Envoy, whose regular expressions are Istio's too."""
    try:
        return v.regex(ck, value, at)
    except LevelError as exc:
        ck.fail(exc.line, exc.message.replace("Istio refuses", "Consul refuses").replace(
            "Istio allows", "Envoy allows").replace("Istio's regular expressions", "Envoy's regular expressions"))


def _action(ck: _Check, value: Any, at: _At) -> str:
    if isinstance(value, str) and value.lower() in ACTIONS and value not in ACTIONS:
        ck.fail(at.line, f"{at.name}: Consul writes actions in lowercase: write {value.lower()!r}")
    return v.enum(*ACTIONS)(ck, value, at)


def _slash_path(ck: _Check, value: Any, at: _At) -> str:
    written = _nonempty(ck, value, at)
    if not written.startswith("/"):
        ck.fail(at.line, f"{at.name} {written!r} must begin with a '/' (Consul refuses it otherwise)")
    return written


def _method(ck: _Check, value: Any, at: _At) -> str:
    written = _nonempty(ck, value, at)
    if written not in METHODS:
        ck.fail(at.line, f"{at.name} {written!r} is not an HTTP method Consul knows ({_choices(METHODS)})")
    return written


_HEADER_MATCHES = ("present", "exact", "prefix", "suffix", "regex")
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # an HTTP field name (RFC 9110 token)


def _header_name(ck: _Check, value: Any, at: _At) -> str:
    """A header name; Envoy matches it whatever its case, as the class does."""
    written = _nonempty(ck, value, at)
    if not _TOKEN.fullmatch(written):
        ck.fail(at.line, f"{at.name}: {written!r} is not a header name (letters, digits and '-', like x-class)")
    return written


def _header_check(ck: _Check, body: dict[Any, Any], at: _At) -> None:
    written = [key for key in _HEADER_MATCHES if key in body and body[key] not in (None, False, "")]
    if len(written) != 1:
        ck.fail(at.line, f"{at.name} needs exactly one of {_choices(_HEADER_MATCHES)} "
                f"(Consul refuses {'none' if not written else ' and '.join(written)})")


HEADER = _Map(
    {"name": _header_name, "present": v.boolean, "exact": v.text, "prefix": _nonempty,
     "suffix": _nonempty, "regex": _regex, "invert": v.boolean},
    required=("name",),
    check=_header_check,
)


def _http_check(ck: _Check, body: dict[Any, Any], at: _At) -> None:
    paths = [key for key in ("pathExact", "pathPrefix", "pathRegex") if key in body]
    if len(paths) > 1:
        ck.fail(at.line, f"{at.name}: at most one of pathExact, pathPrefix or pathRegex may be given "
                f"(got {' and '.join(paths)})")
    if not body:
        ck.fail(at.line, f"{at.name} is empty: Consul refuses a permission that matches on nothing "
                "(write a path, methods or a header)")


HTTP = _Map(
    {"pathExact": _slash_path, "pathPrefix": _slash_path, "pathRegex": _regex,
     "methods": _ListOf(_method, nonempty=True), "header": _ListOf(HEADER, nonempty=True)},
    check=_http_check,
)
PERMISSION = _Map({"action": _action, "http": HTTP}, required=("action", "http"), refused={"jwt": NO_JWTS})


def _source_check(ck: _Check, body: dict[Any, Any], at: _At) -> None:
    if "action" in body and "permissions" in body:
        ck.fail(at.line, f"{at.name}: action and permissions are mutually exclusive: an L4 intention has "
                "an action, an L7 one permissions (the first that matches decides)")
    if "action" not in body and "permissions" not in body:
        ck.fail(at.line, f"{at.name} needs an action (allow or deny) or permissions")


SOURCE = _Map(
    {"name": _nonempty, "action": _action, "permissions": _ListOf(PERMISSION, nonempty=True),
     "description": v.text},
    required=("name",),
    refused={"namespace": ONE_NAMESPACE, "partition": ONE_PARTITION, "peer": NO_PEERS,
             "samenessGroup": NO_SAMENESS},
    check=_source_check,
)


def _intentions_check(ck: _Check, spec: dict[Any, Any], at: _At) -> None:
    seen: dict[str, int] = {}
    sources = spec.get("sources") or []
    for index, source in enumerate(sources):
        name = source.get("name")
        if name in seen:
            item = at.key(spec, "sources").item(sources, index)
            ck.fail(item.line, f"{item.name} names {name!r} a second time (the first is sources[{seen[name]}]): "
                    "only one intention controls a source and destination pair")
        seen[name] = index


SERVICE_INTENTIONS = _Map(
    {
        "destination": _Map({"name": _nonempty}, required=("name",),
                            refused={"namespace": ONE_NAMESPACE, "partition": ONE_PARTITION}),
        "sources": _ListOf(SOURCE, nonempty=True),
    },
    required=("destination", "sources"),
    refused={"jwt": NO_JWTS},
    check=_intentions_check,
)
INTENTIONS_VERSIONS = ("consul.hashicorp.com/v1alpha1",)

# acl.default_policy: "Either "allow" or "deny"; defaults to "allow"" (Consul agent configuration reference,
# developer.hashicorp.com/consul/docs/agent/config/config-files#acl_default_policy).
CONSUL_ACL = _Map(
    {"enabled": v.boolean, "defaultPolicy": _action},
    required=("enabled",),
    refused={
        "downPolicy": "the class's Consul servers never go away, so there is no down policy to fall back on",
        "tokens": "the class has no ACL tokens: a hand is known by its ID card, and intentions decide",
    },
)


def check_names(ck: _Check, spec: dict[str, Any], at: _At, roll: Any) -> None:
    """The destination and every source must be a student or service of the level, or ``*``."""
    hosts: Collection[str] = roll.hosts
    destination = spec.get("destination") or {}
    places = [(destination.get("name"), at.key(spec, "destination").key(destination, "name"), "destination")]
    sources = spec.get("sources") or []
    places += [(s.get("name"), at.key(spec, "sources").item(sources, i).key(s, "name"), "source")
               for i, s in enumerate(sources)]
    for name, place, what in places:
        if name != "*" and name not in hosts:
            ck.fail(place.line, f"{place.name} {name!r} is not a service of this level, so this intention's "
                    f"{what} matches nobody (services: {_choices(sorted(hosts))}, or * for any)")
