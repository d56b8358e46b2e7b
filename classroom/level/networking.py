"""VirtualService and DestinationRule (networking.istio.io): what the class acts on, and what it refuses, and why.

Theory of operation
-------------------
Each shape below is Istio's own (``networking/v1alpha3/virtual_service.proto``
and ``destination_rule.proto``, the ``v1`` CRD schemas), field by field and
type by type (:mod:`classroom.level.istiovalues`).  Every field Istio has is
in one of two places:

* in ``fields``: the class acts on it as Istio does (the mesh's
  :mod:`classroom.mesh.control.policy` reads it);
* in ``refused``, with the one sentence that says why the classroom has no
  use for it (it has no gateways, ports, localities, query strings ...).
  A level or a config that writes it is refused at its line with that
  sentence: a field is never accepted and then ignored.

The ``check`` functions are the rules of Istio's validating webhook that tie
fields together (``pkg/config/validation``): a rule needs a route, a retry
policy with ``attempts: 0`` may set nothing else, two weighted routes may not
both weigh 0, a fault needs a delay or an abort.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import classroom.level.istiovalues as v
from classroom.level.checks import _At, _Check, _ListOf, _Map, _MapOf

NO_PORTS = "notes have no ports: a student is reached by her name"
NO_GATEWAYS = (
    "the class has no gateways: a VirtualService here routes notes between students, as one bound to Istio's "
    "mesh gateway does"
)
ONE_NAMESPACE = "the class is one namespace, so a rule has nobody to be exported to or hidden from"
NO_LOCALITIES = "the room has no localities: every student sits in the same room"
NO_COPIES = "nobody copies a note: each note goes to one recipient, and the ledger counts it once"
NO_HEADER_EDITS = "hands never add or remove a note's headers: only its sender writes them (traffic[].headers)"
LINKS_STAY_UP = "a link between two desks stays up for the whole lesson, so it never idles out or is recycled"
EVERY_HAND = "acts at every hand a note crosses, so it cannot be narrowed to some students' sidecars"
OWN_FRAMES = "notes travel in the class's own frames over its TLS links: there is no HTTP version to choose"

LOAD_BALANCERS = ("UNSPECIFIED", "RANDOM", "ROUND_ROBIN", "LEAST_REQUEST", "LEAST_CONN")
LOAD_BALANCERS_REFUSED = {
    "PASSTHROUGH": "there is no original destination to pass a note through to: every note is routed by the "
    "office's roll",
}


def _needs_one(what: str, keys: tuple[str, ...], why: str) -> Any:
    def check(ck: _Check, body: dict[Any, Any], at: _At) -> None:
        if not any(k in body for k in keys):
            ck.fail(at.line, f"{at.name} is empty: {what} needs {' or '.join(keys)} ({why})")

    return check


# --------------------------------------------------------------------------- VirtualService

_MATCH_VALUE = v.string_match()
_HEADER_MATCHES = _MapOf(v.header_name, v.string_match(presence_hint=True))

HTTP_MATCH = _Map(
    {
        "uri": v.string_match(empty_prefix=True),
        "method": _MATCH_VALUE,
        "headers": _HEADER_MATCHES,
        "withoutHeaders": _HEADER_MATCHES,
        "ignoreUriCase": v.boolean,
    },
    refused={
        "queryParams": "notes have no query string: a note's path is only a path",
        "port": NO_PORTS,
        "authority": "a note's authority is its recipient: choose the recipients with the VirtualService's hosts",
        "scheme": "every note travels the class's own links, so there is no http or https to tell apart",
        "sourceLabels": f"a VirtualService here {EVERY_HAND}",
        "gateways": NO_GATEWAYS,
        "sourceNamespace": "the class is one namespace, so every note comes from it",
        "statPrefix": "the class keeps no per-route statistics: the report counts notes per student and per cause",
        "name": "the class keeps no access log, where Istio writes a match's name: name the rule (http[].name)",
    },
)


def _destination_host(ck: _Check, value: Any, at: _At) -> str:
    return v.no_wildcard_host(ck, value, at, "a route's destination")


DESTINATION = _Map(
    {"host": _destination_host, "subset": v.dns_label},
    required=("host",),
    refused={"port": NO_PORTS},
)
ROUTE_DESTINATION = _Map(
    {"destination": DESTINATION, "weight": v.COUNT},
    required=("destination",),
    refused={"headers": NO_HEADER_EDITS},
)


def _retry_check(ck: _Check, body: dict[Any, Any], at: _At) -> None:
    if body.get("attempts", 0) == 0:
        extra = [k for k in ("perTryTimeout", "retryOn") if k in body]
        if extra:
            ck.fail(
                at.line,
                f"{at.name} sets {' and '.join(extra)} with attempts {'0' if 'attempts' in body else 'unset (0)'}: "
                "with no retries there is nothing to set (Istio refuses a retry policy whose attempts are 0)",
            )


RETRIES = _Map(
    {
        "attempts": v.COUNT,
        "perTryTimeout": v.DURATION,
        "retryOn": v.retry_on,
        "backoff": v.DURATION,
        "retryIgnorePreviousHosts": v.boolean,
    },
    refused={"retryRemoteLocalities": NO_LOCALITIES},
    check=_retry_check,
)
FAULT = _Map(
    {
        "delay": _Map(
            {"percentage": v.percent_message, "fixedDelay": v.DURATION},
            required=("fixedDelay",),
            refused={
                "percent": "Istio deprecated the whole-number percent: write percentage: {value: 10}",
                "exponentialDelay": "Istio does not support it yet and refuses it: write fixedDelay",
            },
        ),
        "abort": _Map(
            {"percentage": v.percent_message, "httpStatus": v.http_status},
            required=("httpStatus",),
            refused={
                "grpcStatus": "notes are not gRPC calls: abort with an httpStatus",
                "http2Error": "Istio does not support HTTP/2 aborts yet and refuses them: abort with an httpStatus",
            },
        ),
    },
    check=_needs_one("a fault", ("delay", "abort"), "Istio refuses an empty fault"),
)


def _http_rule_check(ck: _Check, rule: dict[Any, Any], at: _At) -> None:
    routes = rule.get("route")
    if not routes:
        ck.fail(
            at.line,
            f"{at.name} has no route: Istio needs every http rule to say where its notes go, like "
            "`route: [{destination: {host: dana}}]`",
        )
    if len(routes) > 1 and sum(r.get("weight", 0) for r in routes) == 0:
        route_at = at.key(rule, "route")
        ck.fail(
            route_at.line,
            f"{route_at.name}: the weights of its {len(routes)} destinations add up to 0: give at least one a weight "
            "(a destination gets its weight's share of the total; Istio refuses a total of 0)",
        )


HTTP_ROUTE = _Map(
    {
        "name": v.text,
        "match": _ListOf(HTTP_MATCH),
        "route": _ListOf(ROUTE_DESTINATION),
        "timeout": v.DURATION,
        "retries": RETRIES,
        "fault": FAULT,
    },
    refused={
        "redirect": "a hand never answers a note with 'ask someone else': the class has no HTTP redirects",
        "rewrite": "a note's path and recipient are its sender's, and no hand rewrites them on the way",
        "directResponse": "a hand never answers a note in its recipient's place",
        "delegate": "the class has no delegate VirtualServices: write the rules in the VirtualService of the host",
        "mirror": NO_COPIES,
        "mirrors": NO_COPIES,
        "mirrorPercentage": NO_COPIES,
        "mirrorPercent": NO_COPIES,
        "mirror_percent": NO_COPIES,
        "corsPolicy": "there are no browsers in class: CORS is a rule between web pages and the servers they call",
        "headers": NO_HEADER_EDITS,
    },
    check=_http_rule_check,
)


def _virtual_service_host(ck: _Check, value: Any, at: _At) -> str:
    return v.no_wildcard_host(ck, value, at, "a host of a VirtualService of the mesh (one without gateways)")


def _virtual_service_check(ck: _Check, spec: dict[Any, Any], at: _At) -> None:
    if "hosts" not in spec:
        ck.fail(at.line, f"{at.name} is missing 'hosts': the students or services whose notes it routes")
    if not spec.get("http"):
        ck.fail(at.line, f"{at.name} has no http rules: a VirtualService needs at least one (Istio refuses one "
                "with no http, tcp or tls routes)")
    hosts_at = at.key(spec, "hosts")
    seen: dict[str, int] = {}
    for index, host in enumerate(spec["hosts"]):
        if host in seen:
            host_at = hosts_at.item(spec["hosts"], index)
            ck.fail(host_at.line, f"{host_at.name}: {host!r} is already hosts[{seen[host]}] (Istio refuses a host "
                    "given twice)")
        seen[host] = index


VIRTUAL_SERVICE = _Map(
    {"hosts": _ListOf(_virtual_service_host, nonempty=True), "http": _ListOf(HTTP_ROUTE)},
    refused={
        "gateways": NO_GATEWAYS,
        "exportTo": ONE_NAMESPACE,
        "tcp": "every note is an HTTP-style request, so its routes are http rules: the class has no plain TCP "
        "traffic",
        "tls": "the class has no TLS passthrough traffic: the links between hands are the mesh's own mTLS "
        "(PeerAuthentication), not a route",
    },
    check=_virtual_service_check,
)

# --------------------------------------------------------------------------- DestinationRule

LOAD_BALANCER = _Map(
    {"simple": v.enum(*LOAD_BALANCERS, refused=LOAD_BALANCERS_REFUSED)},
    refused={
        "consistentHash": "a note needs no sticky student: there are no sessions, cookies or client addresses to "
        "hash in class",
        "localityLbSetting": NO_LOCALITIES,
        "zoneAwareLbSetting": "the room has no zones: every student sits in the same room",
        "warmup": "a student is ready as soon as she sits down: there is no slow start to ramp up",
        "warmupDurationSecs": "a student is ready as soon as she sits down: there is no slow start to ramp up",
    },
)
CONNECTION_POOL = _Map(
    {
        "tcp": _Map(
            {"maxConnections": v.COUNT, "connectTimeout": v.DURATION},
            refused={
                "tcpKeepalive": LINKS_STAY_UP,
                "maxConnectionDuration": LINKS_STAY_UP,
                "idleTimeout": LINKS_STAY_UP,
            },
        ),
        "http": _Map(
            {
                "http1MaxPendingRequests": v.COUNT,
                "http2MaxRequests": v.COUNT,
                "maxRequestsPerConnection": v.COUNT,
                "maxRetries": v.COUNT,
            },
            refused={
                "idleTimeout": LINKS_STAY_UP,
                "h2UpgradePolicy": OWN_FRAMES,
                "useClientProtocol": OWN_FRAMES,
                "maxConcurrentStreams": "notes are not HTTP/2 streams: limit the notes at once with "
                "http2MaxRequests",
                "http2KeepAlive": LINKS_STAY_UP,
            },
        ),
    },
    check=_needs_one("a connection pool", ("tcp", "http"), "Istio refuses an empty one"),
)
LOCAL_ORIGIN = (
    "the class counts every failure of the next hand alike, whether that hand saw it or one further on"
)
OUTLIER_DETECTION = _Map(
    {
        "consecutive5xxErrors": v.UINT32,
        "consecutiveGatewayErrors": v.UINT32,
        "interval": v.DURATION,
        "baseEjectionTime": v.DURATION,
        "maxEjectionPercent": v.WHOLE_PERCENT,
        "minHealthPercent": v.WHOLE_PERCENT,
    },
    refused={
        "splitExternalLocalOriginErrors": LOCAL_ORIGIN,
        "consecutiveLocalOriginFailures": LOCAL_ORIGIN,
        "consecutiveErrors": "Istio deprecated it: write consecutive5xxErrors or consecutiveGatewayErrors",
        "outlierDetectionHttpErrorCodes": "it is not in a released Istio yet: count 5xx answers with "
        "consecutive5xxErrors",
    },
)
RETRY_BUDGET = _Map(
    {"percent": v.plain_percent, "minRetryConcurrency": v.UINT32, "budgetInterval": v.DURATION_OR_ZERO}
)
_POLICY_FIELDS: Mapping[str, Any] = {
    "loadBalancer": LOAD_BALANCER,
    "connectionPool": CONNECTION_POOL,
    "outlierDetection": OUTLIER_DETECTION,
    "retryBudget": RETRY_BUDGET,
}
TRAFFIC_POLICY = _Map(
    _POLICY_FIELDS,
    refused={
        "tls": "the classroom's mTLS is PeerAuthentication plus auto-mTLS: each hand already knows whether the "
        "next one has an ID card, so there is no client TLS to set",
        "portLevelSettings": NO_PORTS,
        "tunnel": "notes go hand to hand over the class's own links: there is no proxy to tunnel through",
        "proxyProtocol": "hands meet directly, with no load balancer in front to pass the sender's address on",
    },
    check=_needs_one("a traffic policy", tuple(_POLICY_FIELDS), "Istio refuses an empty one"),
)


def _labels() -> _MapOf:
    return _MapOf(v.label_key, v.label_value)


SUBSET = _Map(
    {"name": v.dns_label, "labels": _labels(), "trafficPolicy": TRAFFIC_POLICY},
    required=("name",),
)


def _destination_rule_check(ck: _Check, spec: dict[Any, Any], at: _At) -> None:
    if "host" not in spec:
        ck.fail(at.line, f"{at.name} is missing 'host': the student or service whose notes it governs")
    subsets = spec.get("subsets") or []
    seen: dict[str, int] = {}
    for index, subset in enumerate(subsets):
        if subset["name"] in seen:
            name_at = at.key(spec, "subsets").item(subsets, index).key(subset, "name")
            ck.fail(name_at.line, f"{name_at.name}: there is already a subset named {subset['name']!r} "
                    f"(subsets[{seen[subset['name']]}]; Istio refuses duplicate subset names)")
        seen[subset["name"]] = index


DESTINATION_RULE = _Map(
    {"host": v.nonempty_text, "trafficPolicy": TRAFFIC_POLICY, "subsets": _ListOf(SUBSET)},
    refused={"exportTo": ONE_NAMESPACE, "workloadSelector": f"a DestinationRule here {EVERY_HAND}"},
    check=_destination_rule_check,
)
